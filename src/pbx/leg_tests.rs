//! PbxLeg on virtual time: every scenario feeds hand-built PBX messages and checks what the leg
//! sends and reports.

use super::*;
use callgate_sip::message::raw_header;
use callgate_sip::sdp_negotiation::CodecKind;
use callgate_sip::transaction::Transport;

use crate::pbx::test_driver::{Dialog, Driver, methods, request_from};

const PBX: &str = "127.0.0.1:5062";
const HOLD_SDP: &str = "v=0\r\no=pbx 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 16000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendonly\r\n";
const RESUME_SDP: &str = "v=0\r\no=pbx 1 3 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 16000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n";

fn cfg() -> LegConfig {
    let mut c = LegConfig::new(&SipConfig::default(), "127.0.0.1:5070".parse().unwrap());
    c.setup_timeout = Duration::from_secs(2);
    c
}

fn ring() -> PbxRing {
    PbxRing {
        target: None,
        call_id: "wacid.ABC".into(),
        from: Some("15551234567".into()),
        from_user_id: None,
        display_name: Some("Ann \"A\"".into()),
        to: "15550001111".into(),
        cta_payload: Some("promo\r\nX-Evil: 1".into()),
        deeplink_payload: None,
    }
}

fn offer() -> String {
    PbxMedia::new(
        "127.0.0.1".parse().unwrap(),
        40000,
        &[CodecKind::Pcmu, CodecKind::Pcma],
    )
    .offer()
}

fn peer() -> Peer {
    Peer {
        transport: Transport::Udp,
        addr: PBX.parse().unwrap(),
    }
}

type T = Driver<PbxLeg>;

impl T {
    fn start_with(cfg: &LegConfig) -> T {
        let now = Instant::now();
        let (leg, sent) =
            PbxLeg::invite(now, &format!("sip:agents@{PBX}"), &ring(), offer(), cfg).unwrap();
        T {
            leg,
            now,
            sent,
            peer: peer(),
        }
    }
    fn start() -> T {
        Self::start_with(&cfg())
    }
    fn invite(&self) -> Request {
        self.leg.invite.clone()
    }
    fn response(&self, code: u16, body: Option<&str>) -> Response {
        let mut r = message::response_to(&self.invite(), code, None, Some("pbxtag"));
        r.headers
            .push(raw_header("Contact", format!("<sip:pbx@{PBX}>")));
        if let Some(b) = body {
            message::set_body(&mut r, "application/sdp", b.as_bytes().to_vec());
        }
        r
    }
    fn answer(&mut self) {
        let sdp = RESUME_SDP.replace("o=pbx 1 3", "o=pbx 1 1");
        let r = self.response(200, Some(&sdp));
        self.feed(r);
        assert!(matches!(
            self.leg.poll_event(),
            Some(PbxEvent::Answered { .. })
        ));
    }
    /// A request from the PBX inside the dialog.
    fn pbx_request(&self, method: Method, cseq: u32, body: Option<&str>) -> Request {
        let to = message::header_value(&self.invite(), "From").unwrap();
        let dialog = Dialog {
            uri: "sip:callgate@127.0.0.1:5070",
            from: &format!("<sip:agents@{PBX}>;tag=pbxtag"),
            to: &to,
            call_id: self.leg.call_id(),
            contact: &format!("<sip:pbx@{PBX}>"),
        };
        request_from(&self.peer, method, cseq, &dialog, body)
    }
}

/// The final response among what was sent.
fn response_of(ts: &[Transmit]) -> Response {
    ts.iter()
        .find_map(|t| match &t.message {
            SipMessage::Response(r) if r.status_code.code() >= 200 => Some(r.clone()),
            _ => None,
        })
        .expect("a response was sent")
}

#[test]
fn invite_carries_caller_identity_wa_headers_and_offer() {
    let t = T::start();
    assert_eq!(methods(&t.sent), ["INVITE"]);
    let inv = t.invite();
    assert_eq!(inv.uri.to_string(), format!("sip:agents@{PBX}"));
    let from = message::header_value(&inv, "From").unwrap();
    assert!(
        from.starts_with("\"Ann \\\"A\\\"\" <sip:15551234567@127.0.0.1>;tag="),
        "{from}"
    );
    assert_eq!(
        message::header_value(&inv, "To").unwrap(),
        format!("<sip:agents@{PBX}>")
    );
    assert_eq!(
        message::header_value(&inv, "X-WA-Call-Id").as_deref(),
        Some("wacid.ABC")
    );
    assert_eq!(
        message::header_value(&inv, "X-WA-Caller").as_deref(),
        Some("15551234567")
    );
    assert_eq!(
        message::header_value(&inv, "X-WA-CTA-Payload").as_deref(),
        Some("promoX-Evil: 1"),
        "CR/LF from Meta must not start a new header"
    );
    assert_eq!(message::header_value(&inv, "X-Evil"), None);
    assert_eq!(message::header_value(&inv, "X-WA-Deeplink-Payload"), None);
    assert!(
        message::header_value(&inv, "Contact")
            .unwrap()
            .contains("127.0.0.1:5070")
    );
    let body = String::from_utf8_lossy(&inv.body);
    assert!(body.contains("m=audio 40000 RTP/AVP 0 8 101\r\n"), "{body}");
    assert_eq!(
        message::header_value(&inv, "Content-Type").as_deref(),
        Some("application/sdp")
    );
}

#[test]
fn ringing_then_ok_reports_progress_answered_and_acks() {
    let mut t = T::start();
    let r = t.response(180, None);
    t.feed(r);
    assert_eq!(
        t.events(),
        [PbxEvent::Progress {
            status: 180,
            early_sdp: None
        }]
    );
    let r = t.response(200, Some(RESUME_SDP));
    let out = t.feed(r);
    assert_eq!(methods(&out), ["ACK"]);
    assert_eq!(
        t.events(),
        [PbxEvent::Answered {
            remote_sdp: RESUME_SDP.into()
        }]
    );
    let n = t.leg.negotiated().expect("answer negotiated");
    assert_eq!(n.codec.kind, CodecKind::Pcmu);
    // A retransmitted 200 gets the same ACK again, and no second event.
    let r = t.response(200, Some(RESUME_SDP));
    assert_eq!(methods(&t.feed(r)), ["ACK"]);
    assert!(t.events().is_empty());
}

#[test]
fn error_statuses_map_to_call_failures() {
    for (code, want) in [
        (486, PbxFailure::Busy),
        (603, PbxFailure::Declined),
        (404, PbxFailure::NotFound),
        (503, PbxFailure::ServerError(503)),
        (480, PbxFailure::Timeout),
    ] {
        let mut t = T::start();
        let r = t.response(code, None);
        let out = t.feed(r);
        assert_eq!(methods(&out), ["ACK"], "{code}");
        assert_eq!(t.events(), [PbxEvent::Failed(want)], "{code}");
        assert!(t.leg.is_done());
    }
}

#[test]
fn silence_until_setup_timeout_is_unreachable_and_retransmissions_stop() {
    let mut t = T::start();
    assert_eq!(methods(&t.advance(Duration::from_millis(500))), ["INVITE"]);
    t.advance(Duration::from_millis(1500));
    assert_eq!(t.events(), [PbxEvent::Failed(PbxFailure::Unreachable)]);
    assert!(t.leg.is_done());
    assert_eq!(t.leg.poll_timeout(), None, "nothing left to retransmit");
    // A very late ringing is cancelled, a very late answer hung up, never reported.
    let r = t.response(180, None);
    assert_eq!(methods(&t.feed(r)), ["CANCEL"]);
    let r = t.response(200, Some(RESUME_SDP));
    assert_eq!(methods(&t.feed(r)), ["ACK", "BYE"]);
    assert!(t.events().is_empty());
}

#[test]
fn send_failure_before_any_response_is_unreachable() {
    let mut t = T::start();
    t.leg.handle_send_error(t.now);
    assert_eq!(t.events(), [PbxEvent::Failed(PbxFailure::Unreachable)]);
}

#[test]
fn cancel_while_ringing_sends_cancel_and_487_ends_quietly() {
    let mut t = T::start();
    let r = t.response(180, None);
    t.feed(r);
    t.events();
    let out = t.leg.cancel(t.now);
    assert_eq!(methods(&out), ["CANCEL"]);
    let SipMessage::Request(cancel) = &out[0].message else {
        unreachable!()
    };
    assert_eq!(
        message::via_branch(cancel),
        message::via_branch(&t.invite())
    );
    let r = t.response(487, None);
    assert_eq!(methods(&t.feed(r)), ["ACK"]);
    assert!(t.events().is_empty(), "a cancelled call reports no failure");
    assert!(t.leg.is_done());
}

#[test]
fn cancel_before_any_response_waits_and_cancels_a_late_ringing() {
    let mut t = T::start();
    assert!(
        t.leg.cancel(t.now).is_empty(),
        "no CANCEL before a provisional"
    );
    assert!(
        t.advance(Duration::from_millis(600)).is_empty(),
        "the INVITE is no longer retransmitted"
    );
    let r = t.response(180, None);
    assert_eq!(methods(&t.feed(r)), ["CANCEL"]);
    assert!(t.events().is_empty());
    let r = t.response(487, None);
    t.feed(r);
    assert!(t.leg.is_done());
}

#[test]
fn ok_crossing_cancel_is_acked_then_byed() {
    let mut t = T::start();
    let r = t.response(180, None);
    t.feed(r);
    t.leg.cancel(t.now);
    let r = t.response(200, Some(RESUME_SDP));
    assert_eq!(methods(&t.feed(r)), ["ACK", "BYE"]);
    assert_eq!(
        t.events(),
        [PbxEvent::Progress {
            status: 180,
            early_sdp: None
        }],
        "the crossed 200 is not reported as an answer"
    );
    let bye = t.sent.iter().find_map(|x| match &x.message {
        SipMessage::Request(r) if r.method == Method::Bye => Some(r.clone()),
        _ => None,
    });
    let ok = message::response_to(&bye.unwrap(), 200, None, None);
    t.feed(ok);
    assert!(t.leg.is_done());
}

#[test]
fn bye_from_pbx_is_answered_200_and_reported() {
    let mut t = T::start();
    t.answer();
    let bye = t.pbx_request(Method::Bye, 10, None);
    let out = t.feed(bye);
    assert_eq!(methods(&out), ["200"]);
    assert_eq!(t.events(), [PbxEvent::RemoteHangup]);
    assert!(t.leg.is_done());
}

#[test]
fn hang_up_sends_bye_in_the_dialog_and_ends_on_its_200() {
    let mut t = T::start();
    t.answer();
    let out = t.leg.hang_up(t.now);
    assert_eq!(methods(&out), ["BYE"]);
    let SipMessage::Request(bye) = &out[0].message else {
        unreachable!()
    };
    assert_eq!(bye.uri.to_string(), format!("sip:pbx@{PBX}"));
    assert_eq!(message::to_tag(bye).as_deref(), Some("pbxtag"));
    assert!(!t.leg.is_done());
    t.feed(message::response_to(bye, 200, None, None));
    assert!(t.leg.is_done());
}

#[test]
fn hold_reinvite_is_answered_recvonly_by_the_leg_then_resume() {
    let mut t = T::start();
    t.answer();
    let hold = t.pbx_request(Method::Invite, 11, Some(HOLD_SDP));
    let resp = response_of(&t.feed(hold));
    assert_eq!(resp.status_code.code(), 200);
    assert!(String::from_utf8_lossy(&resp.body).contains("a=recvonly"));
    assert_eq!(
        message::to_tag(&resp).as_deref(),
        message::from_tag(&t.invite()).as_deref()
    );
    assert_eq!(t.events(), [PbxEvent::Hold(true)]);
    let resume = t.pbx_request(Method::Invite, 12, Some(RESUME_SDP));
    let resp = response_of(&t.feed(resume));
    assert!(String::from_utf8_lossy(&resp.body).contains("a=sendrecv"));
    assert_eq!(t.events(), [PbxEvent::Hold(false)]);
}

#[test]
fn update_moving_media_reports_media_changed() {
    let mut t = T::start();
    t.answer();
    let moved = RESUME_SDP.replace("16000", "16010");
    let upd = t.pbx_request(Method::Update, 11, Some(&moved));
    assert_eq!(response_of(&t.feed(upd)).status_code.code(), 200);
    assert_eq!(t.events(), [PbxEvent::MediaChanged(moved)]);
    // A refresh with the same media says nothing.
    let same = t.pbx_request(
        Method::Update,
        12,
        Some(&RESUME_SDP.replace("16000", "16010")),
    );
    t.feed(same);
    assert!(t.events().is_empty());
}

#[test]
fn request_for_another_dialog_gets_481() {
    let mut t = T::start();
    t.answer();
    let mut bye = t.pbx_request(Method::Bye, 10, None);
    bye.headers
        .retain(|h| !matches!(h, callgate_sip::rsip::Header::From(_)));
    bye.headers
        .push(raw_header("From", format!("<sip:agents@{PBX}>;tag=other")));
    assert_eq!(methods(&t.feed(bye)), ["481"]);
    assert!(t.events().is_empty());
}

fn challenge(t: &T, inv: &Request) -> Response {
    let _ = t;
    let mut r = message::response_to(inv, 401, None, Some("pbxtag"));
    r.headers.push(raw_header(
        "WWW-Authenticate",
        "Digest realm=\"pbx\", nonce=\"abc\", qop=\"auth\", algorithm=MD5",
    ));
    r
}

#[test]
fn challenge_is_answered_with_credentials_and_a_second_one_is_auth_failed() {
    let mut c = cfg();
    c.credentials = Some(Credentials {
        username: "gw".into(),
        password: "secret".into(),
    });
    let mut t = T::start_with(&c);
    let first = t.invite();
    let r = challenge(&t, &first);
    let out = t.feed(r);
    assert_eq!(methods(&out), ["ACK", "INVITE"]);
    let retry = t.invite();
    assert!(
        message::header_value(&retry, "Authorization")
            .unwrap()
            .contains("username=\"gw\"")
    );
    assert_eq!(message::cseq(&retry).unwrap().0, 2);
    assert_eq!(
        message::call_id(&retry).unwrap(),
        message::call_id(&first).unwrap()
    );
    assert!(t.events().is_empty());
    let r = challenge(&t, &retry);
    t.feed(r);
    assert_eq!(t.events(), [PbxEvent::AuthFailed]);
}

#[test]
fn challenge_without_credentials_is_auth_failed() {
    let mut t = T::start();
    let inv = t.invite();
    let r = challenge(&t, &inv);
    t.feed(r);
    assert_eq!(t.events(), [PbxEvent::AuthFailed]);
    assert!(t.leg.is_done());
}

#[test]
fn hostname_target_needs_a_resolved_next_hop() {
    let now = Instant::now();
    let err = PbxLeg::invite(now, "sip:pbx.example.com", &ring(), offer(), &cfg()).unwrap_err();
    assert!(matches!(err, PbxError::Unresolved(h) if h == "pbx.example.com"));
    let mut c = cfg();
    c.next_hop = Some(peer());
    let (leg, out) = PbxLeg::invite(now, "sip:pbx.example.com", &ring(), offer(), &c).unwrap();
    assert_eq!(out[0].to, peer());
    assert_eq!(leg.peer(), peer());
}

#[test]
fn info_with_a_key_is_answered_200_and_reported_and_other_infos_only_answered() {
    let mut t = T::start();
    t.answer();
    let mut info = t.pbx_request(Method::Info, 11, None);
    message::set_body(
        &mut info,
        "application/dtmf-relay",
        b"Signal=4\r\nDuration=200\r\n".to_vec(),
    );
    assert_eq!(response_of(&t.feed(info)).status_code.code(), 200);
    let key = PbxEvent::Dtmf {
        digit: '4',
        duration: std::time::Duration::from_millis(200),
    };
    assert_eq!(t.events(), [key]);
    let mut other = t.pbx_request(Method::Info, 12, None);
    message::set_body(
        &mut other,
        "application/media_control+xml",
        b"<x/>".to_vec(),
    );
    assert_eq!(response_of(&t.feed(other)).status_code.code(), 200);
    assert!(t.events().is_empty());
}

#[test]
fn offerless_reinvite_gets_our_offer_and_its_acks_answer_moves_the_media() {
    let mut t = T::start();
    t.answer();
    let reinvite = t.pbx_request(Method::Invite, 11, None);
    let ok = response_of(&t.feed(reinvite));
    assert_eq!(ok.status_code.code(), 200);
    assert!(
        String::from_utf8_lossy(&ok.body).contains("m=audio"),
        "our offer"
    );
    assert!(t.events().is_empty(), "nothing known before the ACK");
    let moved = RESUME_SDP.replace("16000", "16020");
    let ack = t.pbx_request(Method::Ack, 11, Some(&moved));
    t.feed(ack);
    assert_eq!(t.events(), [PbxEvent::MediaChanged(moved.clone())]);
    // A second offerless re-INVITE whose ACK has no SDP leaves the media as it was.
    let reinvite = t.pbx_request(Method::Invite, 12, None);
    t.feed(reinvite);
    let ack = t.pbx_request(Method::Ack, 12, None);
    t.feed(ack);
    assert!(t.events().is_empty());
    let hold = moved.replace("a=sendrecv", "a=sendonly");
    let reinvite = t.pbx_request(Method::Invite, 13, None);
    t.feed(reinvite);
    let ack = t.pbx_request(Method::Ack, 13, Some(&hold));
    t.feed(ack);
    assert_eq!(
        t.events(),
        [PbxEvent::Hold(true)],
        "the answer puts us on hold"
    );
}
