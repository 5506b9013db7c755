//! Dialog scenarios with Meta's messages: route set order, in-dialog routing, CSeq, CANCEL.

use super::*;
use crate::message::tests::fixture;
use crate::message::{self, parse_message};
use rsip::SipMessage;

const VIA: &str = "SIP/2.0/TLS gw.example.com:5061;rport";
const META_RR: [&str; 2] = [
    "<sip:wa.meta.vc;transport=tls;lr>",
    "<sip:onevc-sip-proxy.fbinfra.net:8191;transport=tls;lr>",
];

fn req(m: SipMessage) -> Request {
    match m {
        SipMessage::Request(r) => r,
        _ => panic!("request expected"),
    }
}

/// Our business-initiated INVITE to Meta.
fn our_invite() -> Request {
    req(parse_message(
        b"INVITE sip:+12195550714@wa.meta.vc;transport=tls SIP/2.0\r\n\
Via: SIP/2.0/TLS gw.example.com:5061;rport;branch=z9hG4bKinv1\r\n\
Max-Forwards: 70\r\n\
From: <sip:+17125550259@gw.example.com>;tag=ourtag\r\n\
To: <sip:+12195550714@wa.meta.vc>\r\n\
Call-ID: bic-1@gw.example.com\r\n\
CSeq: 10 INVITE\r\n\
Contact: <sip:+17125550259@gw.example.com:5061;transport=tls>\r\n\
Content-Length: 0\r\n\r\n",
    )
    .unwrap())
}

/// Meta's 200 OK to it, Record-Route as Meta sends them (proxy nearest us last).
fn metas_200(invite: &Request) -> Response {
    let mut r = message::response_to(invite, 200, None, Some("metatag"));
    r.headers
        .push(message::raw_header("Record-Route", META_RR[1]));
    r.headers
        .push(message::raw_header("Record-Route", META_RR[0]));
    r.headers.push(message::raw_header(
        "Contact",
        "<sip:+12195550714@wa.meta.vc;transport=tls;ob;X-FB-Sip-Smc-Tier=collaboration.sip_gateway.sip.prod>;isfocus",
    ));
    r
}

#[test]
fn uac_route_set_is_metas_record_route_reversed_and_bye_follows_it() {
    let invite = our_invite();
    let mut d = Dialog::uac(&invite, &metas_200(&invite), VIA).unwrap();
    assert_eq!(d.state, DialogState::Confirmed);
    assert_eq!(
        d.route_set,
        META_RR.to_vec(),
        "same order as Meta's own BYE sample uses"
    );
    assert_eq!(d.next_hop(), "sip:wa.meta.vc;transport=tls;lr");
    let bye = d.new_request(Method::Bye, "z9hG4bKbye", None).unwrap();
    // rsip renders `transport=TLS` upper-case; URI parameter values compare case-insensitively.
    assert!(bye.uri.to_string().eq_ignore_ascii_case(
        "sip:+12195550714@wa.meta.vc;transport=tls;ob;X-FB-Sip-Smc-Tier=collaboration.sip_gateway.sip.prod"
    ));
    assert_eq!(message::routes(&bye), META_RR.to_vec());
    assert_eq!(message::cseq(&bye).unwrap(), (11, Method::Bye));
    assert_eq!(message::from_tag(&bye).as_deref(), Some("ourtag"));
    assert_eq!(message::to_tag(&bye).as_deref(), Some("metatag"));
    assert_eq!(d.state, DialogState::Terminated);
    // It survives the wire.
    let again = parse_message(&message::to_bytes(&bye.into())).unwrap();
    assert_eq!(message::routes(&again), META_RR.to_vec());
}

#[test]
fn ack_for_2xx_reuses_invite_cseq_with_a_new_branch() {
    let invite = our_invite();
    let d = Dialog::uac(&invite, &metas_200(&invite), VIA).unwrap();
    let ack = d.ack(10, "z9hG4bKack", None).unwrap();
    assert_eq!(ack.method, Method::Ack);
    assert_eq!(message::cseq(&ack).unwrap(), (10, Method::Ack));
    assert_eq!(message::via_branch(&ack).as_deref(), Some("z9hG4bKack"));
    assert_eq!(message::routes(&ack), META_RR.to_vec());
    assert_eq!(d.local_cseq, 10, "ACK does not consume a CSeq");
}

#[test]
fn cseq_increments_per_new_request() {
    let invite = our_invite();
    let mut d = Dialog::uac(&invite, &metas_200(&invite), VIA).unwrap();
    let opt = d.new_request(Method::Options, "z9hG4bKa", None).unwrap();
    let reinv = d
        .new_request(
            Method::Invite,
            "z9hG4bKb",
            Some(("application/sdp", b"v=0\r\n".to_vec())),
        )
        .unwrap();
    assert_eq!(message::cseq(&opt).unwrap().0, 11);
    assert_eq!(message::cseq(&reinv).unwrap(), (12, Method::Invite));
    assert!(
        message::header_value(&reinv, "Contact").is_some(),
        "re-INVITE is a target refresh"
    );
    assert_eq!(
        message::header_value(&reinv, "Content-Type").as_deref(),
        Some("application/sdp")
    );
}

#[test]
fn uas_keeps_metas_record_route_in_200_and_routes_bye_back() {
    let invite = req(fixture("meta-sip-uic-invite-sdes.sip"));
    let mut d = Dialog::uas(
        &invite,
        "gwtag",
        "<sip:gw@gw.example.com:5061;transport=tls>",
        VIA,
    )
    .unwrap();
    let ok = d.response(&invite, 200, Some(("application/sdp", b"v=0\r\n".to_vec())));
    d.confirm(None).unwrap();
    assert_eq!(
        message::record_routes(&ok),
        META_RR.to_vec(),
        "Meta's Record-Routes untouched, in order"
    );
    assert_eq!(message::to_tag(&ok).as_deref(), Some("gwtag"));
    assert_eq!(message::header_list(&ok, "Via").len(), 3);
    assert!(message::header_value(&ok, "Contact").is_some());
    let bye = d.new_request(Method::Bye, "z9hG4bKbye2", None).unwrap();
    assert!(
        bye.uri
            .to_string()
            .eq_ignore_ascii_case("sip:+12195550714@wa.meta.vc;transport=tls;ob")
    );
    assert_eq!(message::routes(&bye), META_RR.to_vec());
    assert_eq!(message::from_tag(&bye).as_deref(), Some("gwtag"));
    assert_eq!(
        message::to_tag(&bye).as_deref(),
        Some("8a0f7e65-6e9e-4801-bf92-85c3ef2485d9")
    );
    assert_eq!(
        message::call_id(&bye).unwrap(),
        message::call_id(&invite).unwrap()
    );
}

#[test]
fn uas_handles_remote_reinvite_with_target_refresh_and_rejects_old_cseq() {
    let invite = req(fixture("meta-sip-uic-invite-sdes.sip"));
    let mut d = Dialog::uas(&invite, "gwtag", "<sip:gw@gw.example.com>", VIA).unwrap();
    let base = String::from_utf8(message::to_bytes(&invite.clone().into())).unwrap();
    let reinvite_raw = base
        .replace("CSeq: 31159 INVITE", "CSeq: 31160 INVITE")
        .replace(
            "To: <sip:+12145551869@meta-voip.example.com>",
            "To: <sip:+12145551869@meta-voip.example.com>;tag=gwtag",
        )
        .replace(
            "<sip:+12195550714@wa.meta.vc;transport=tls;ob>",
            "<sip:+12195550714@wa.meta.vc;transport=tls;ob;moved>",
        );
    let reinvite = req(parse_message(reinvite_raw.as_bytes()).unwrap());
    assert_eq!(d.handle_request(&reinvite), Ok(RemoteRequest::ReInvite));
    assert_eq!(
        d.remote_target,
        "sip:+12195550714@wa.meta.vc;transport=tls;ob;moved"
    );
    let answer = d.response(
        &reinvite,
        200,
        Some(("application/sdp", b"v=0\r\n".to_vec())),
    );
    assert_eq!(answer.status_code.code(), 200);
    assert!(message::record_routes(&answer).len() == 2);
    assert_eq!(
        d.handle_request(&reinvite),
        Err(DialogError::CSeqOutOfOrder {
            got: 31160,
            last: 31160
        })
    );
    let other = reinvite_raw.replace("tag=gwtag", "tag=other");
    assert_eq!(
        d.handle_request(&req(parse_message(other.as_bytes()).unwrap())),
        Err(DialogError::NotThisDialog)
    );
}

#[test]
fn remote_bye_terminates_the_dialog() {
    let invite = our_invite();
    let mut d = Dialog::uac(&invite, &metas_200(&invite), VIA).unwrap();
    let bye = req(parse_message(
        b"BYE sip:+17125550259@gw.example.com:5061;transport=tls SIP/2.0\r\n\
Via: SIP/2.0/TLS [2803:6080::1]:5061;branch=z9hG4bKmb\r\n\
From: <sip:+12195550714@wa.meta.vc>;tag=metatag\r\n\
To: <sip:+17125550259@gw.example.com>;tag=ourtag\r\n\
Call-ID: bic-1@gw.example.com\r\n\
CSeq: 5 BYE\r\nContent-Length: 0\r\n\r\n",
    )
    .unwrap());
    assert_eq!(d.handle_request(&bye), Ok(RemoteRequest::Bye));
    assert_eq!(d.state, DialogState::Terminated);
    assert_eq!(d.response(&bye, 200, None).status_code.code(), 200);
}

#[test]
fn early_dialog_is_confirmed_with_route_set_from_the_2xx() {
    let invite = our_invite();
    let mut ringing = message::response_to(&invite, 180, None, Some("metatag"));
    ringing
        .headers
        .push(message::raw_header("Contact", "<sip:early@wa.meta.vc>"));
    let mut d = Dialog::uac(&invite, &ringing, VIA).unwrap();
    assert_eq!(d.state, DialogState::Early);
    assert!(d.route_set.is_empty());
    d.confirm(Some(&metas_200(&invite))).unwrap();
    assert_eq!(d.state, DialogState::Confirmed);
    assert_eq!(d.route_set, META_RR.to_vec());
}

#[test]
fn response_without_to_tag_or_contact_does_not_make_a_dialog() {
    let invite = our_invite();
    let no_tag = message::response_to(&invite, 200, None, None);
    assert_eq!(
        Dialog::uac(&invite, &no_tag, VIA),
        Err(DialogError::NoRemoteTag)
    );
    let no_contact = message::response_to(&invite, 200, None, Some("t"));
    assert!(matches!(
        Dialog::uac(&invite, &no_contact, VIA),
        Err(DialogError::BadContact(_))
    ));
    let busy = message::response_to(&invite, 486, None, Some("t"));
    assert_eq!(
        Dialog::uac(&invite, &busy, VIA),
        Err(DialogError::NotDialogCreating(486))
    );
}

#[test]
fn strict_route_puts_first_route_in_request_uri() {
    let invite = our_invite();
    let mut resp = metas_200(&invite);
    resp.headers
        .retain(|h| !matches!(h, Header::RecordRoute(_)));
    resp.headers.push(message::raw_header(
        "Record-Route",
        "<sip:strict.example.com>",
    ));
    let mut d = Dialog::uac(&invite, &resp, VIA).unwrap();
    let bye = d.new_request(Method::Bye, "z9hG4bKs", None).unwrap();
    assert_eq!(bye.uri.to_string(), "sip:strict.example.com");
    let routes = message::routes(&bye);
    assert!(
        routes
            .last()
            .unwrap()
            .starts_with("<sip:+12195550714@wa.meta.vc")
    );
}

#[test]
fn cancel_matches_its_invite() {
    let mut invite = our_invite();
    invite.headers.push(message::raw_header(
        "Route",
        "<sip:wa.meta.vc;transport=tls;lr>",
    ));
    let cancel = cancel_for(&invite).unwrap();
    assert_eq!(cancel.method, Method::Cancel);
    assert_eq!(cancel.uri, invite.uri);
    assert_eq!(message::via_branch(&cancel), message::via_branch(&invite));
    assert_eq!(message::call_id(&cancel), message::call_id(&invite));
    assert_eq!(
        message::header_value(&cancel, "From"),
        message::header_value(&invite, "From")
    );
    assert_eq!(
        message::header_value(&cancel, "To"),
        message::header_value(&invite, "To")
    );
    assert_eq!(message::cseq(&cancel).unwrap(), (10, Method::Cancel));
    assert_eq!(message::routes(&cancel), message::routes(&invite));
}
