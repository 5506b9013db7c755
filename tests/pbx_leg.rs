//! The PBX leg against real SIP peers on loopback: baresip as an auto-answering PBX (answer,
//! ACK, BYE both ways, codec negotiation, UDP and TCP) and sipp scenarios from
//! tests/peers/sipp/ (X-WA-* headers, CANCEL while ringing, error statuses, hold re-INVITE,
//! digest challenge). Each test drives one `PbxLeg` from `support::harness::Harness`.

mod support;

use std::time::Duration;

use callgate::call::PbxFailure;
use callgate::pbx::PbxEvent;
use callgate_sip::digest::Credentials;
use callgate_sip::sdp_negotiation::CodecKind;
use support::harness::Harness;
use support::sipp::Sipp;

const G711_OPUS: [CodecKind; 3] = [CodecKind::Pcmu, CodecKind::Pcma, CodecKind::Opus];
const SECS: fn(u64) -> Duration = Duration::from_secs;

fn answered(e: &PbxEvent) -> bool {
    matches!(e, PbxEvent::Answered { .. })
}

/// A sipp UAS playing `scenario` over `transport` (`fill` substituted into it), and a call to it
/// offering G.711 and Opus.
async fn call_sipp(
    scenario: &str,
    transport: &'static str,
    fill: &[(&str, &str)],
) -> (Sipp, Harness) {
    let pbx = Sipp::uas(scenario, transport, fill);
    let h = Harness::call(&pbx.uri(), &G711_OPUS, |_| {}).await;
    (pbx, h)
}

/// We hang up: our BYE is answered and sipp's scenario ends in success.
async fn hang_up_cleanly(h: &mut Harness, pbx: &mut Sipp) {
    h.hang_up().await;
    assert!(h.run_until_done(SECS(5)).await);
    pbx.assert_success(SECS(5));
}

/// The leg's first failure event within `within`.
async fn failure(h: &mut Harness, within: Duration) -> PbxEvent {
    h.expect(within, |e| matches!(e, PbxEvent::Failed(_))).await
}

// Multi-threaded runtimes: the tests block on peers (std sleeps), and the transport's TCP
// connection tasks must keep writing meanwhile.

/// INVITE to baresip, auto-answer, ACK; then we hang up and baresip sees the call closed.
async fn baresip_answers_and_we_hang_up(transport: &str) {
    let pbx = support::baresip::start("auto", "pcmu,pcma");
    let mut h = Harness::call(&pbx.uri(transport), &G711_OPUS, |_| {}).await;
    h.expect(SECS(5), answered).await;
    let n = h
        .leg
        .negotiated()
        .expect("baresip's answer negotiated")
        .clone();
    assert_eq!(n.codec.kind, CodecKind::Pcmu, "{:?}", h.events);
    assert!(n.remote.is_some_and(|a| a.ip().is_loopback()));
    // The ACK reached baresip: the call is established there.
    let est = support::wait_until(SECS(3), || pbx.log().contains("established"));
    assert!(est, "baresip never established the call:\n{}", pbx.log());
    h.hang_up().await;
    assert!(
        h.run_until_done(SECS(5)).await,
        "BYE not answered: {:?}",
        h.events
    );
    let closed = support::wait_until(SECS(3), || {
        let log = pbx.log();
        log.contains("terminated") || log.contains("closed")
    });
    assert!(closed, "baresip did not see our BYE:\n{}", pbx.log());
    assert!(!h.events.iter().any(|e| matches!(e, PbxEvent::RemoteHangup)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baresip_answers_invite_over_udp_and_our_bye_ends_it() {
    baresip_answers_and_we_hang_up("udp").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baresip_answers_invite_over_tcp_and_our_bye_ends_it() {
    baresip_answers_and_we_hang_up("tcp").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baresip_hangup_arrives_as_remote_hangup() {
    for transport in ["udp", "tcp"] {
        let pbx = support::baresip::start("auto", "pcmu");
        let mut h = Harness::call(&pbx.uri(transport), &G711_OPUS, |_| {}).await;
        h.expect(SECS(5), answered).await;
        support::wait_until(SECS(3), || pbx.log().contains("established"));
        pbx.command("hangup", "");
        h.expect(SECS(5), |e| *e == PbxEvent::RemoteHangup).await;
        assert!(h.leg.is_done(), "{transport}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codec_negotiation_with_baresip_picks_what_both_sides_have() {
    for (baresip_codecs, ours, want) in [
        (
            "opus/48000/2,pcmu",
            vec![CodecKind::Opus, CodecKind::Pcmu],
            CodecKind::Opus,
        ),
        ("pcma", G711_OPUS.to_vec(), CodecKind::Pcma),
        (
            "pcmu,opus/48000/2",
            vec![CodecKind::Pcmu, CodecKind::Opus],
            CodecKind::Pcmu,
        ),
    ] {
        let pbx = support::baresip::start("auto", baresip_codecs);
        let mut h = Harness::call(&pbx.uri("udp"), &ours, |_| {}).await;
        let PbxEvent::Answered { remote_sdp } = h.expect(SECS(5), answered).await else {
            unreachable!()
        };
        let n = h.media.parse_answer(&remote_sdp).expect("answer usable");
        assert_eq!(n.codec.kind, want, "baresip {baresip_codecs}: {remote_sdp}");
        assert_eq!(h.leg.negotiated().map(|n| n.codec.kind), Some(want));
        assert!(n.telephone_event.is_some(), "{remote_sdp}");
        h.hang_up().await;
        h.run_until_done(SECS(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invite_carries_x_wa_headers_and_caller_identity() {
    for transport in ["udp", "tcp"] {
        let (mut pbx, mut h) = call_sipp("uas_headers.xml", transport, &[]).await;
        h.expect(SECS(5), |e| {
            matches!(e, PbxEvent::Progress { status: 180, .. })
        })
        .await;
        h.expect(SECS(5), answered).await;
        hang_up_cleanly(&mut h, &mut pbx).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_while_ringing_gets_487_and_no_failure() {
    for transport in ["udp", "tcp"] {
        let (mut pbx, mut h) = call_sipp("uas_ring_cancel.xml", transport, &[]).await;
        h.expect(SECS(5), |e| matches!(e, PbxEvent::Progress { .. }))
            .await;
        h.cancel().await;
        assert!(h.run_until_done(SECS(5)).await, "{:?}", h.events);
        assert!(
            !h.events.iter().any(|e| matches!(e, PbxEvent::Failed(_))),
            "{:?}",
            h.events
        );
        pbx.assert_success(SECS(5));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_statuses_become_the_matching_failure() {
    for (transport, status, want) in [
        ("udp", "486 Busy Here", PbxFailure::Busy),
        ("udp", "603 Decline", PbxFailure::Declined),
        ("udp", "404 Not Found", PbxFailure::NotFound),
        (
            "udp",
            "503 Service Unavailable",
            PbxFailure::ServerError(503),
        ),
        ("tcp", "486 Busy Here", PbxFailure::Busy),
    ] {
        let (mut pbx, mut h) = call_sipp("uas_reject.xml", transport, &[("STATUS", status)]).await;
        let e = failure(&mut h, SECS(5)).await;
        assert_eq!(e, PbxEvent::Failed(want), "{status} over {transport}");
        pbx.assert_success(SECS(5));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_udp_target_is_unreachable_within_the_setup_timeout() {
    // A socket that never answers (and keeps the port from being reused meanwhile).
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let started = std::time::Instant::now();
    let mut h = Harness::call(&format!("sip:agents@127.0.0.1:{port}"), &G711_OPUS, |_| {}).await;
    let e = failure(&mut h, SECS(4)).await;
    assert_eq!(e, PbxEvent::Failed(PbxFailure::Unreachable));
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_millis(3000),
        "setup timeout is 2 s, took {took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_tcp_port_is_unreachable_at_once() {
    let port = support::free_port();
    let started = std::time::Instant::now();
    let mut h = Harness::call(
        &format!("sip:agents@127.0.0.1:{port};transport=tcp"),
        &G711_OPUS,
        |_| {},
    )
    .await;
    let e = failure(&mut h, SECS(4)).await;
    assert_eq!(e, PbxEvent::Failed(PbxFailure::Unreachable));
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hold_reinvite_is_answered_by_the_leg_and_reported() {
    for transport in ["udp", "tcp"] {
        let (mut pbx, mut h) = call_sipp("uas_hold.xml", transport, &[]).await;
        h.expect(SECS(5), answered).await;
        h.expect(SECS(5), |e| *e == PbxEvent::Hold(true)).await;
        // Let sipp's ACK for our 200 arrive before the BYE.
        let _ = h.next_event(Duration::from_millis(300)).await;
        hang_up_cleanly(&mut h, &mut pbx).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digest_challenge_is_answered_with_the_configured_credentials() {
    for transport in ["udp", "tcp"] {
        let mut pbx = Sipp::uas("uas_auth.xml", transport, &[]);
        let mut h = Harness::call(&pbx.uri(), &G711_OPUS, |cfg| {
            cfg.credentials = Some(Credentials {
                username: "gw".into(),
                password: "s3cret".into(),
            })
        })
        .await;
        h.expect(SECS(5), answered).await;
        hang_up_cleanly(&mut h, &mut pbx).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digest_challenge_without_credentials_is_auth_failed() {
    let (_pbx, mut h) = call_sipp("uas_auth.xml", "udp", &[]).await;
    h.expect(SECS(5), |e| *e == PbxEvent::AuthFailed).await;
    assert!(h.leg.is_done());
}
