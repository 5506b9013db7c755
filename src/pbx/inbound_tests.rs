//! InboundLeg on virtual time: a phone's INVITE with and without SDP (delayed offer), the ACK
//! that answers our offer or fails to, and a re-INVITE without SDP; every scenario feeds
//! hand-built phone messages and checks what the leg sends and reports.

use std::time::Duration;

use callgate_sip::message::{self, set_body};
use callgate_sip::rsip::{Method, Request, Response, SipMessage};
use callgate_sip::sdp_negotiation::CodecKind;
use callgate_sip::transaction::{Peer, Transmit, Transport};

use super::*;
use crate::config::SipConfig;
use crate::pbx::test_driver::{Dialog, Driver, methods, request_from};

const PHONE: &str = "127.0.0.1:5062";
/// The phone's answer to our offer: PCMU (and telephone-event) on 127.0.0.1:16000.
const PCMU_ANSWER: &str = "v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 16000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n";
/// An answer with a codec we never offered.
const G729_ANSWER: &str = "v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 16000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n";

fn peer() -> Peer {
    Peer {
        transport: Transport::Udp,
        addr: PHONE.parse().unwrap(),
    }
}

fn media() -> PbxMedia {
    PbxMedia::new(
        "127.0.0.1".parse().unwrap(),
        40000,
        &[CodecKind::Pcmu, CodecKind::Pcma],
    )
}

/// A request from the phone in the call's dialog (`to_tag`: ours, once we answered).
fn phone_request(method: Method, cseq: u32, to_tag: Option<&str>, sdp: Option<&str>) -> Request {
    let to = match to_tag {
        Some(t) => format!("<sip:+16315553602@127.0.0.1:5070>;tag={t}"),
        None => "<sip:+16315553602@127.0.0.1:5070>".to_string(),
    };
    let dialog = Dialog {
        uri: "sip:+16315553602@127.0.0.1:5070",
        from: &format!("<sip:agent7@{PHONE}>;tag=phonetag"),
        to: &to,
        call_id: "late-offer-1@127.0.0.1",
        contact: &format!("<sip:agent7@{PHONE}>"),
    };
    request_from(&peer(), method, cseq, &dialog, sdp)
}

type T = Driver<InboundLeg>;

impl T {
    /// The phone's INVITE, with `offer` as its SDP or none (delayed offer).
    fn start(offer: Option<&str>) -> T {
        let now = Instant::now();
        let cfg = LegConfig::new(&SipConfig::default(), "127.0.0.1:5070".parse().unwrap());
        let invite = phone_request(Method::Invite, 1, None, offer);
        let (leg, sent) = InboundLeg::from_invite(now, invite, peer(), media(), &cfg)
            .expect("the INVITE is usable");
        T {
            leg,
            now,
            sent,
            peer: peer(),
        }
    }
    /// 180, then the 200 OK (returned).
    fn answer(&mut self) -> Response {
        let mut out = self.leg.progress(self.now);
        out.extend(self.leg.answer(self.now));
        assert_eq!(methods(&out), ["180", "200"]);
        assert!(body_of(&out[0].message).is_empty(), "a 180 carries no SDP");
        self.sent.extend(out.clone());
        match &out[1].message {
            SipMessage::Response(r) => r.clone(),
            SipMessage::Request(_) => unreachable!(),
        }
    }
    fn our_tag(&self) -> String {
        let ok = self
            .sent
            .iter()
            .find_map(|t| match &t.message {
                SipMessage::Response(r) if r.status_code.code() == 200 => Some(r.clone()),
                _ => None,
            })
            .expect("a 200 OK was sent");
        message::to_tag(&ok).expect("our 200 OK has a To tag")
    }
    /// The phone's ACK for CSeq `cseq`, with `sdp` or none.
    fn ack(&mut self, cseq: u32, sdp: Option<&str>) -> Vec<Transmit> {
        let ack = phone_request(Method::Ack, cseq, Some(&self.our_tag()), sdp);
        self.feed(ack)
    }
}

fn body_of(m: &SipMessage) -> String {
    let body = match m {
        SipMessage::Request(r) => &r.body,
        SipMessage::Response(r) => &r.body,
    };
    String::from_utf8_lossy(body).into_owned()
}

/// The BYE among `ts`, if any.
fn bye_in(ts: &[Transmit]) -> Option<Request> {
    ts.iter().find_map(|t| match &t.message {
        SipMessage::Request(r) if r.method == Method::Bye => Some(r.clone()),
        _ => None,
    })
}

#[test]
fn offerless_invite_gets_our_offer_in_the_200_and_the_acks_answer_sets_codec_and_remote() {
    let mut t = T::start(None);
    assert_eq!(methods(&t.sent), ["100"]);
    assert_eq!(t.leg.negotiated(), None, "nothing is known before the ACK");
    let ok = t.answer();
    let offer = String::from_utf8_lossy(&ok.body).into_owned();
    assert!(
        offer.contains("m=audio 40000 RTP/AVP 0 8 101\r\n"),
        "our 200 OK must carry our offer: {offer}"
    );
    assert_eq!(
        message::header_value(&ok, "Content-Type").as_deref(),
        Some("application/sdp")
    );
    assert!(t.events().is_empty());
    let out = t.ack(1, Some(PCMU_ANSWER));
    assert!(out.is_empty(), "nothing to send on a good ACK: {out:?}");
    assert_eq!(t.events(), [PbxEvent::OfferAnswered]);
    let n = t.leg.negotiated().expect("the ACK's answer was applied");
    assert_eq!(n.codec.kind, CodecKind::Pcmu);
    assert_eq!(n.telephone_event.map(|e| e.payload_type), Some(101));
    assert_eq!(n.remote, Some("127.0.0.1:16000".parse().unwrap()));
    // The ACK stopped the 200's retransmissions; the call simply stays up.
    assert!(t.advance(Duration::from_secs(40)).is_empty());
    assert!(!t.leg.is_done());
}

#[test]
fn offerless_invite_whose_ack_has_no_sdp_is_hung_up_with_bye() {
    let mut t = T::start(None);
    t.answer();
    let out = t.ack(1, None);
    let bye = bye_in(&out).expect("a BYE right after the ACK without SDP");
    assert_eq!(bye.uri.to_string(), format!("sip:agent7@{PHONE}"));
    let events = t.events();
    assert!(
        matches!(&events[..], [PbxEvent::MediaFailed(why)]
            if why.contains("no SDP answer") && why.contains("delayed offer")),
        "{events:?}"
    );
    assert_eq!(t.leg.negotiated(), None);
    // The phone answers the BYE: the leg is over.
    t.feed(message::response_to(&bye, 200, None, None));
    assert!(t.leg.is_done());
}

#[test]
fn offerless_invite_whose_ack_answers_with_a_codec_we_never_offered_is_hung_up_with_bye() {
    let mut t = T::start(None);
    t.answer();
    let out = t.ack(1, Some(G729_ANSWER));
    assert!(bye_in(&out).is_some(), "{:?}", methods(&out));
    let events = t.events();
    assert!(
        matches!(&events[..], [PbxEvent::MediaFailed(why)] if why.contains("unusable")),
        "{events:?}"
    );
}

#[test]
fn invite_with_an_offer_is_answered_in_the_200_and_its_plain_ack_changes_nothing() {
    let mut t = T::start(Some(PCMU_ANSWER));
    let n = t.leg.negotiated().expect("known from the INVITE's offer");
    assert_eq!(n.codec.kind, CodecKind::Pcmu);
    let ok = t.answer();
    assert!(String::from_utf8_lossy(&ok.body).contains("m=audio 40000 RTP/AVP 0 101\r\n"));
    let out = t.ack(1, None);
    assert!(out.is_empty(), "{:?}", methods(&out));
    assert!(t.events().is_empty());
    assert!(!t.leg.is_done());
}

#[test]
fn invite_with_a_non_sdp_body_is_taken_as_a_delayed_offer() {
    let now = Instant::now();
    let cfg = LegConfig::new(&SipConfig::default(), "127.0.0.1:5070".parse().unwrap());
    let mut invite = phone_request(Method::Invite, 1, None, None);
    set_body(&mut invite, "application/isup", b"\x01\x10\x60".to_vec());
    let (leg, _) = InboundLeg::from_invite(now, invite, peer(), media(), &cfg).unwrap();
    assert_eq!(leg.negotiated(), None);
}

#[test]
fn reinvite_without_sdp_gets_our_offer_and_its_acks_answer_moves_the_media() {
    let mut t = T::start(Some(PCMU_ANSWER));
    t.answer();
    t.ack(1, None);
    let tag = t.our_tag();
    let out = t.feed(phone_request(Method::Invite, 2, Some(&tag), None));
    assert_eq!(methods(&out), ["100", "200"]);
    assert!(body_of(&out[1].message).contains("m=audio 40000 RTP/AVP 0 8 101\r\n"));
    let moved = PCMU_ANSWER.replace("16000", "17000");
    let out = t.ack(2, Some(&moved));
    assert!(out.is_empty(), "{:?}", methods(&out));
    assert!(matches!(&t.events()[..], [PbxEvent::MediaChanged(_)]));
    assert_eq!(
        t.leg.negotiated().and_then(|n| n.remote),
        Some("127.0.0.1:17000".parse().unwrap())
    );
}

#[test]
fn offerless_invite_whose_ack_answers_on_hold_starts_the_call_held() {
    let mut t = T::start(None);
    t.answer();
    let held = PCMU_ANSWER.replace("a=sendrecv", "a=sendonly");
    t.ack(1, Some(&held));
    assert_eq!(t.events(), [PbxEvent::OfferAnswered, PbxEvent::Hold(true)]);
    assert!(t.leg.negotiated().is_some_and(|n| n.remote_hold));
}
