//! BIC: the gateway offers, a Meta-like peer answers (ICE-lite, `setup:active`); the gateway is
//! ICE-controlling and the DTLS server.

use std::time::{Duration, Instant};

use super::meta_peer::{MetaPeer, fixture_with_peer, rename_mid};
use super::net::{Sim, gw_addr, meta_addr};
use super::wire_log::*;
use crate::whatsapp_media::{WaLeg, WaLegConfig, WaMediaError};

/// Builds a BIC call; `shape` may rewrite Meta's answer text (given the gateway's mid).
fn bic(shape: impl FnOnce(&str, &str) -> String) -> Sim {
    let start = Instant::now();
    let (mut gw, offer) = WaLeg::offer(start, WaLegConfig::new(gw_addr())).unwrap();
    assert!(offer.contains("a=setup:actpass"));
    assert!(offer.contains("a=rtpmap:126 telephone-event/8000"));
    assert!(offer.contains("a=candidate:") && !offer.contains("a=ice-options:trickle"));
    let (meta, answer) = MetaPeer::answering(start, meta_addr(), &offer);
    assert!(answer.contains("a=ice-lite") && answer.contains("a=setup:active"));
    let mid = offer
        .lines()
        .find_map(|l| l.trim_end().strip_prefix("a=mid:"))
        .unwrap()
        .to_owned();
    gw.apply_answer(&shape(&answer, &mid)).unwrap();
    assert!(matches!(
        gw.apply_answer(&answer),
        Err(WaMediaError::NoPendingOffer)
    ));
    Sim::new(start, gw, meta)
}

fn assert_gateway_is_controlling_dtls_server(sim: &Sim) {
    let hs: Vec<_> = sim
        .gw_wire
        .iter()
        .filter_map(|(_, _, b)| dtls_handshake_type(b))
        .collect();
    assert!(hs.contains(&SERVER_HELLO), "{hs:?}");
    assert!(
        !hs.contains(&CLIENT_HELLO),
        "gateway is not the DTLS client"
    );
    let checks = sim.gw_wire.iter().filter(|(_, _, b)| is_stun_request(b));
    assert!(
        checks
            .map(|(_, _, b)| stun_attrs(b).unwrap())
            .all(|a| a.contains(&ICE_CONTROLLING))
    );
}

#[test]
fn bic_offer_with_meta_like_answer_connects_as_dtls_server() {
    let mut sim = bic(|answer, _| answer.to_owned());
    assert!(sim.run_until(Duration::from_secs(1), |s| s.gw.is_connected()));
    assert_gateway_is_controlling_dtls_server(&sim);
    sim.gw.start_dtmf('1', Duration::from_millis(60)).unwrap();
    sim.run_until(Duration::from_secs(2), |_| false);
    assert!(sim.gw_audio_in > 20 && sim.meta.audio_in > 20);
    assert_eq!(sim.meta.dtmf_in, [(1, false), (1, true)]);
}

#[test]
fn bic_with_meta_ref_answer_shape_connects() {
    let fixture = include_str!("../../../tests/fixtures/meta-bic-answer-ref.sdp");
    let mut sim = bic(|live, mid| rename_mid(&fixture_with_peer(fixture, live, None), "0", mid));
    assert!(sim.run_until(Duration::from_secs(2), |s| s.gw.is_connected()));
    assert_gateway_is_controlling_dtls_server(&sim);
    sim.run_until(Duration::from_secs(2), |_| false);
    assert!(sim.gw_audio_in > 20 && sim.meta.audio_in > 20);
    assert_eq!(sim.gw.opus_params().max_average_bitrate, None);
}
