//! Transaction layer scenarios on virtual time: each RFC 3261 timer, UDP vs TCP.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rsip::{Method, Request, Response, SipMessage};

use super::*;
use crate::message::{self, parse_message};

const MS: Duration = Duration::from_millis(1);

fn peer(transport: Transport) -> Peer {
    Peer {
        transport,
        addr: "192.0.2.10:5060".parse::<SocketAddr>().unwrap(),
    }
}

fn request(method: &str, branch: &str) -> Request {
    let raw = format!(
        "{method} sip:bob@192.0.2.10 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch={branch}\r\nRoute: <sip:proxy.example;lr>\r\nMax-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=a1\r\nTo: <sip:bob@example.com>\r\nCall-ID: call-1\r\nCSeq: 7 {method}\r\nContent-Length: 0\r\n\r\n"
    );
    match parse_message(raw.as_bytes()).unwrap() {
        SipMessage::Request(r) => r,
        _ => unreachable!(),
    }
}

fn reply(req: &Request, code: u16) -> Response {
    message::response_to(req, code, None, Some("b2"))
}

#[derive(Default, Debug)]
struct Drained {
    sent: Vec<SipMessage>,
    events: Vec<TransactionEvent>,
}

fn drain(l: &mut TransactionLayer) -> Drained {
    let mut d = Drained::default();
    while let Some(o) = l.poll_output() {
        match o {
            Output::Transmit(t) => d.sent.push(t.message),
            Output::Event(e) => d.events.push(e),
        }
    }
    d
}

/// Runs timers until `end`, recording the offset (from t0) of every transmission.
fn run_until(
    l: &mut TransactionLayer,
    t0: Instant,
    end: Duration,
) -> (Vec<Duration>, Vec<TransactionEvent>) {
    let (mut times, mut events) = (Vec::new(), Vec::new());
    while let Some(at) = l.poll_timeout() {
        if at > t0 + end {
            break;
        }
        l.handle_timeout(at);
        let d = drain(l);
        times.extend(d.sent.iter().map(|_| at - t0));
        events.extend(d.events);
    }
    (times, events)
}

fn secs(v: &[f64]) -> Vec<Duration> {
    v.iter().map(|s| Duration::from_secs_f64(*s)).collect()
}

fn has_timeout(events: &[TransactionEvent], kind: TimeoutKind) -> bool {
    events
        .iter()
        .any(|e| matches!(e, TransactionEvent::Timeout { kind: k, .. } if *k == kind))
}

fn is_terminated(events: &[TransactionEvent]) -> bool {
    events
        .iter()
        .any(|e| matches!(e, TransactionEvent::Terminated { .. }))
}

#[test]
fn invite_client_over_udp_retransmits_doubling_until_timer_b_times_out() {
    let (mut l, t0) = (TransactionLayer::default(), Instant::now());
    l.send_request(t0, request("INVITE", "z9hG4bK1"), peer(Transport::Udp))
        .unwrap();
    assert_eq!(drain(&mut l).sent.len(), 1);
    let (times, events) = run_until(&mut l, t0, Duration::from_secs(100));
    assert_eq!(times, secs(&[0.5, 1.5, 3.5, 7.5, 15.5, 31.5]));
    assert!(has_timeout(&events, TimeoutKind::NoResponse));
    assert!(is_terminated(&events) && l.is_empty());
}

#[test]
fn invite_client_over_tcp_never_retransmits_and_times_out_at_64_t1() {
    let (mut l, t0) = (TransactionLayer::default(), Instant::now());
    l.send_request(t0, request("INVITE", "z9hG4bK1"), peer(Transport::Tcp))
        .unwrap();
    drain(&mut l);
    assert_eq!(l.poll_timeout(), Some(t0 + 64 * 500 * MS));
    let (times, events) = run_until(&mut l, t0, Duration::from_secs(100));
    assert!(times.is_empty());
    assert!(has_timeout(&events, TimeoutKind::NoResponse));
}

#[test]
fn timer_b_follows_configured_t1() {
    let cfg = TimerConfig {
        t1: 100 * MS,
        ..TimerConfig::default()
    };
    let (mut l, t0) = (TransactionLayer::new(cfg), Instant::now());
    l.send_request(t0, request("INVITE", "z9hG4bK1"), peer(Transport::Tcp))
        .unwrap();
    assert_eq!(l.poll_timeout(), Some(t0 + 6400 * MS));
}

#[test]
fn invite_client_provisional_stops_retransmission_and_timer_b() {
    let (mut l, t0) = (TransactionLayer::default(), Instant::now());
    let inv = request("INVITE", "z9hG4bK1");
    l.send_request(t0, inv.clone(), peer(Transport::Udp))
        .unwrap();
    drain(&mut l);
    l.handle_message(t0 + 100 * MS, reply(&inv, 180).into(), peer(Transport::Udp))
        .unwrap();
    let d = drain(&mut l);
    assert!(
        matches!(&d.events[..], [TransactionEvent::Response { response, .. }] if response.status_code.code() == 180)
    );
    assert_eq!(
        l.poll_timeout(),
        None,
        "Proceeding has no timer: the TU cancels"
    );
}

#[test]
fn invite_client_non_2xx_is_acked_by_the_transaction_and_retransmissions_absorbed() {
    let (mut l, t0) = (TransactionLayer::default(), Instant::now());
    let inv = request("INVITE", "z9hG4bK1");
    l.send_request(t0, inv.clone(), peer(Transport::Udp))
        .unwrap();
    drain(&mut l);
    let busy = reply(&inv, 486);
    l.handle_message(t0 + 100 * MS, busy.clone().into(), peer(Transport::Udp))
        .unwrap();
    let d = drain(&mut l);
    let [SipMessage::Request(ack)] = &d.sent[..] else {
        panic!("one ACK, got {:?}", d.sent)
    };
    assert_eq!(ack.method, Method::Ack);
    assert_eq!(ack.uri, inv.uri);
    assert_eq!(message::via_branch(ack).as_deref(), Some("z9hG4bK1"));
    assert_eq!(message::cseq(ack).unwrap(), (7, Method::Ack));
    assert_eq!(message::to_tag(ack).as_deref(), Some("b2"));
    assert_eq!(message::routes(ack), vec!["<sip:proxy.example;lr>"]);
    assert_eq!(d.events.len(), 1);
    // A retransmitted 486 gets the same ACK again and is not passed up.
    l.handle_message(t0 + 200 * MS, busy.into(), peer(Transport::Udp))
        .unwrap();
    let d = drain(&mut l);
    assert_eq!(d.sent.len(), 1);
    assert!(d.events.is_empty());
    // Timer D = 32 s.
    assert_eq!(
        l.poll_timeout(),
        Some(t0 + 100 * MS + Duration::from_secs(32))
    );
    let (_, events) = run_until(&mut l, t0, Duration::from_secs(40));
    assert!(is_terminated(&events));
}

#[test]
fn invite_client_non_2xx_over_tcp_terminates_without_timer_d() {
    let (mut l, t0) = (TransactionLayer::default(), Instant::now());
    let inv = request("INVITE", "z9hG4bK1");
    l.send_request(t0, inv.clone(), peer(Transport::Tcp))
        .unwrap();
    drain(&mut l);
    l.handle_message(t0, reply(&inv, 603).into(), peer(Transport::Tcp))
        .unwrap();
    let d = drain(&mut l);
    assert_eq!(d.sent.len(), 1, "ACK sent");
    assert!(is_terminated(&d.events) && l.is_empty());
}

#[test]
fn invite_client_2xx_and_its_retransmissions_reach_the_tu_until_timer_m() {
    let (mut l, t0) = (TransactionLayer::default(), Instant::now());
    let inv = request("INVITE", "z9hG4bK1");
    l.send_request(t0, inv.clone(), peer(Transport::Udp))
        .unwrap();
    drain(&mut l);
    let ok = reply(&inv, 200);
    l.handle_message(t0 + 100 * MS, ok.clone().into(), peer(Transport::Udp))
        .unwrap();
    let d = drain(&mut l);
    assert!(d.sent.is_empty(), "the ACK for a 2xx is the TU's job");
    assert_eq!(d.events.len(), 1);
    l.handle_message(t0 + 600 * MS, ok.into(), peer(Transport::Udp))
        .unwrap();
    assert_eq!(drain(&mut l).events.len(), 1, "retransmitted 2xx passed up");
    let (times, events) = run_until(&mut l, t0, Duration::from_secs(40));
    assert!(
        times.is_empty(),
        "no INVITE retransmission after a response"
    );
    assert!(is_terminated(&events) && !has_timeout(&events, TimeoutKind::NoResponse));
}

#[test]
fn non_invite_client_over_udp_retransmits_capped_at_t2_until_timer_f() {
    let (mut l, t0) = (TransactionLayer::default(), Instant::now());
    l.send_request(t0, request("OPTIONS", "z9hG4bK2"), peer(Transport::Udp))
        .unwrap();
    drain(&mut l);
    let (times, events) = run_until(&mut l, t0, Duration::from_secs(100));
    assert_eq!(
        times,
        secs(&[0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5])
    );
    assert!(has_timeout(&events, TimeoutKind::NoResponse));
}

#[test]
fn non_invite_client_in_proceeding_retransmits_every_t2() {
    let (mut l, t0) = (TransactionLayer::default(), Instant::now());
    let bye = request("BYE", "z9hG4bK2");
    l.send_request(t0, bye.clone(), peer(Transport::Udp))
        .unwrap();
    drain(&mut l);
    l.handle_message(t0 + 100 * MS, reply(&bye, 100).into(), peer(Transport::Udp))
        .unwrap();
    drain(&mut l);
    let (times, _) = run_until(&mut l, t0, Duration::from_secs(10));
    assert_eq!(times, secs(&[0.5, 4.5, 8.5]));
}

#[test]
fn non_invite_client_final_response_lingers_t4_over_udp_and_not_over_tcp() {
    for (transport, linger) in [(Transport::Udp, Some(5000 * MS)), (Transport::Tcp, None)] {
        let (mut l, t0) = (TransactionLayer::default(), Instant::now());
        let bye = request("BYE", "z9hG4bK2");
        l.send_request(t0, bye.clone(), peer(transport)).unwrap();
        drain(&mut l);
        l.handle_message(t0, reply(&bye, 200).into(), peer(transport))
            .unwrap();
        let d = drain(&mut l);
        assert!(matches!(d.events[0], TransactionEvent::Response { .. }));
        assert_eq!(l.poll_timeout().map(|t| t - t0), linger, "{transport:?}");
        // A retransmitted 200 during timer K is absorbed.
        l.handle_message(t0, reply(&bye, 200).into(), peer(transport))
            .unwrap();
        assert!(drain(&mut l).events.is_empty());
    }
}

#[test]
fn invite_server_sends_100_trying_and_repeats_last_provisional_on_retransmission() {
    let (mut l, t0) = (TransactionLayer::default(), Instant::now());
    let inv = request("INVITE", "z9hG4bK3");
    l.handle_message(t0, inv.clone().into(), peer(Transport::Udp))
        .unwrap();
    let d = drain(&mut l);
    let [SipMessage::Response(trying)] = &d.sent[..] else {
        panic!()
    };
    assert_eq!(trying.status_code.code(), 100);
    let [TransactionEvent::Request { key, .. }] = &d.events[..] else {
        panic!()
    };
    let key = key.clone();
    l.send_response(t0, &key, reply(&inv, 180)).unwrap();
    drain(&mut l);
    l.handle_message(t0 + MS, inv.into(), peer(Transport::Udp))
        .unwrap();
    let d = drain(&mut l);
    assert!(d.events.is_empty(), "retransmission is not a new request");
    let [SipMessage::Response(r)] = &d.sent[..] else {
        panic!()
    };
    assert_eq!(r.status_code.code(), 180);
}

fn server_invite(
    l: &mut TransactionLayer,
    t0: Instant,
    transport: Transport,
) -> (Request, TransactionKey) {
    let inv = request("INVITE", "z9hG4bK3");
    l.handle_message(t0, inv.clone().into(), peer(transport))
        .unwrap();
    let d = drain(l);
    let TransactionEvent::Request { key, .. } = d.events[0].clone() else {
        panic!()
    };
    (inv, key)
}

fn ack(branch: &str) -> SipMessage {
    request("ACK", branch).into()
}

#[test]
fn invite_server_non_2xx_retransmits_on_timer_g_until_ack_then_timer_i() {
    let (mut l, t0) = (TransactionLayer::default(), Instant::now());
    let (inv, key) = server_invite(&mut l, t0, Transport::Udp);
    l.send_response(t0, &key, reply(&inv, 486)).unwrap();
    drain(&mut l);
    let (times, _) = run_until(&mut l, t0, Duration::from_secs(12));
    assert_eq!(times, secs(&[0.5, 1.5, 3.5, 7.5, 11.5]));
    // The ACK for a non-2xx has the INVITE's branch and is absorbed.
    l.handle_message(t0 + 12000 * MS, ack("z9hG4bK3"), peer(Transport::Udp))
        .unwrap();
    assert!(drain(&mut l).events.is_empty());
    assert_eq!(l.poll_timeout(), Some(t0 + 17000 * MS), "timer I = T4");
    let (times, events) = run_until(&mut l, t0, Duration::from_secs(100));
    assert!(
        times.is_empty() && is_terminated(&events) && !has_timeout(&events, TimeoutKind::NoAck)
    );
}

#[test]
fn invite_server_non_2xx_without_ack_times_out_on_timer_h() {
    let (mut l, t0) = (TransactionLayer::default(), Instant::now());
    let (inv, key) = server_invite(&mut l, t0, Transport::Tcp);
    l.send_response(t0, &key, reply(&inv, 480)).unwrap();
    drain(&mut l);
    let (times, events) = run_until(&mut l, t0, Duration::from_secs(100));
    assert!(times.is_empty(), "no retransmission over TCP");
    assert!(has_timeout(&events, TimeoutKind::NoAck));
}

#[test]
fn invite_server_2xx_retransmitted_until_ack_with_new_branch_which_reaches_the_tu() {
    let (mut l, t0) = (TransactionLayer::default(), Instant::now());
    let (inv, key) = server_invite(&mut l, t0, Transport::Udp);
    l.send_response(t0, &key, reply(&inv, 200)).unwrap();
    drain(&mut l);
    let (times, _) = run_until(&mut l, t0, Duration::from_secs(4));
    assert_eq!(times, secs(&[0.5, 1.5, 3.5]));
    l.handle_message(t0 + 4000 * MS, ack("z9hG4bKnew"), peer(Transport::Udp))
        .unwrap();
    let d = drain(&mut l);
    assert!(
        matches!(&d.events[..], [TransactionEvent::Request { key, .. }] if key.method == Method::Ack)
    );
    // A retransmitted INVITE after the 2xx is absorbed (RFC 6026 Accepted).
    l.handle_message(t0 + 4100 * MS, inv.into(), peer(Transport::Udp))
        .unwrap();
    let d = drain(&mut l);
    assert!(d.sent.is_empty() && d.events.is_empty());
    let (times, events) = run_until(&mut l, t0, Duration::from_secs(100));
    assert!(
        times.is_empty() && !has_timeout(&events, TimeoutKind::NoAck) && is_terminated(&events)
    );
}

#[test]
fn invite_server_2xx_never_acked_reports_no_ack_at_32_seconds() {
    let (mut l, t0) = (TransactionLayer::default(), Instant::now());
    let (inv, key) = server_invite(&mut l, t0, Transport::Udp);
    l.send_response(t0, &key, reply(&inv, 200)).unwrap();
    drain(&mut l);
    let mut last = None;
    while let Some(at) = l.poll_timeout() {
        l.handle_timeout(at);
        let d = drain(&mut l);
        if has_timeout(&d.events, TimeoutKind::NoAck) {
            last = Some(at - t0);
        }
    }
    assert_eq!(last, Some(Duration::from_secs(32)));
}

#[test]
fn final_response_twice_is_refused() {
    let (mut l, t0) = (TransactionLayer::default(), Instant::now());
    let (inv, key) = server_invite(&mut l, t0, Transport::Udp);
    l.send_response(t0, &key, reply(&inv, 486)).unwrap();
    assert_eq!(
        l.send_response(t0, &key, reply(&inv, 200)),
        Err(TransactionError::InvalidState { status: 200 })
    );
}

#[test]
fn non_invite_server_absorbs_early_retransmission_resends_final_and_lingers_timer_j() {
    let (mut l, t0) = (TransactionLayer::default(), Instant::now());
    let bye = request("BYE", "z9hG4bK4");
    l.handle_message(t0, bye.clone().into(), peer(Transport::Udp))
        .unwrap();
    let d = drain(&mut l);
    assert!(d.sent.is_empty(), "no 100 for non-INVITE");
    let TransactionEvent::Request { key, .. } = d.events[0].clone() else {
        panic!()
    };
    l.handle_message(t0, bye.clone().into(), peer(Transport::Udp))
        .unwrap();
    assert!(drain(&mut l).sent.is_empty(), "nothing to resend in Trying");
    l.send_response(t0, &key, reply(&bye, 200)).unwrap();
    drain(&mut l);
    l.handle_message(t0 + MS, bye.into(), peer(Transport::Udp))
        .unwrap();
    assert_eq!(drain(&mut l).sent.len(), 1, "final resent in Completed");
    assert_eq!(
        l.poll_timeout(),
        Some(t0 + Duration::from_secs(32)),
        "timer J = 64*T1"
    );
}

#[test]
fn non_invite_server_over_tcp_terminates_at_once_after_final() {
    let (mut l, t0) = (TransactionLayer::default(), Instant::now());
    let bye = request("BYE", "z9hG4bK4");
    l.handle_message(t0, bye.clone().into(), peer(Transport::Tcp))
        .unwrap();
    let TransactionEvent::Request { key, .. } = drain(&mut l).events[0].clone() else {
        panic!()
    };
    l.send_response(t0, &key, reply(&bye, 200)).unwrap();
    assert!(is_terminated(&drain(&mut l).events) && l.is_empty());
}

#[test]
fn cancel_is_its_own_transaction_pointing_at_the_invite() {
    let (mut l, t0) = (TransactionLayer::default(), Instant::now());
    let (_, invite_key) = server_invite(&mut l, t0, Transport::Udp);
    l.handle_message(
        t0,
        request("CANCEL", "z9hG4bK3").into(),
        peer(Transport::Udp),
    )
    .unwrap();
    let d = drain(&mut l);
    let [TransactionEvent::Request { key, .. }] = &d.events[..] else {
        panic!("{:?}", d.events)
    };
    assert_eq!(key.method, Method::Cancel);
    assert_eq!(key.cancelled_invite(), Some(invite_key));
    assert_eq!(l.len(), 2);
}

#[test]
fn transport_error_ends_the_transaction() {
    let (mut l, t0) = (TransactionLayer::default(), Instant::now());
    let key = l
        .send_request(t0, request("INVITE", "z9hG4bK1"), peer(Transport::Tcp))
        .unwrap();
    drain(&mut l);
    l.handle_transport_error(&key);
    let d = drain(&mut l);
    assert!(matches!(
        d.events[0],
        TransactionEvent::TransportError { .. }
    ));
    assert!(l.is_empty() && l.poll_timeout().is_none());
}

#[test]
fn response_for_unknown_branch_is_dropped() {
    let (mut l, t0) = (TransactionLayer::default(), Instant::now());
    let inv = request("INVITE", "z9hG4bK1");
    l.send_request(t0, inv.clone(), peer(Transport::Udp))
        .unwrap();
    drain(&mut l);
    let other = request("INVITE", "z9hG4bKother");
    l.handle_message(t0, reply(&other, 200).into(), peer(Transport::Udp))
        .unwrap();
    assert!(drain(&mut l).events.is_empty());
    // Same branch, different method (CANCEL's response) does not match the INVITE either.
    l.handle_message(
        t0,
        reply(&request("CANCEL", "z9hG4bK1"), 200).into(),
        peer(Transport::Udp),
    )
    .unwrap();
    assert!(drain(&mut l).events.is_empty());
}

#[test]
fn duplicate_branch_and_ack_requests_are_refused() {
    let (mut l, t0) = (TransactionLayer::default(), Instant::now());
    l.send_request(t0, request("INVITE", "z9hG4bK1"), peer(Transport::Udp))
        .unwrap();
    assert!(matches!(
        l.send_request(t0, request("INVITE", "z9hG4bK1"), peer(Transport::Udp)),
        Err(TransactionError::Duplicate(_))
    ));
    assert_eq!(
        l.send_request(t0, request("ACK", "z9hG4bK9"), peer(Transport::Udp)),
        Err(TransactionError::AckNotTransaction)
    );
}
