//! Every recorded Meta offer (`tests/fixtures/meta-uic-offer-*.sdp`) is answered in the shape
//! Meta expects, and connects once its credentials point at a live Meta-like peer.

use std::time::{Duration, Instant};

use super::meta_peer::fixture_with_peer;
use super::net::gw_addr;
use super::wire_log::*;
use super::{Workarounds, uic};
use crate::whatsapp_media::{OpusParams, WaLeg, WaLegConfig};

fn meta_offers() -> Vec<(String, String)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let mut offers: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("meta-uic-offer-") && n.ends_with(".sdp"))
        .map(|n| {
            let text = std::fs::read_to_string(format!("{dir}/{n}")).unwrap();
            (n, text)
        })
        .collect();
    offers.sort();
    assert!(
        offers.iter().any(|(n, _)| n.contains("real")),
        "the real offer is among {offers:?}"
    );
    offers
}

fn assert_meta_shaped_answer(name: &str, answer: &str) {
    let has = |s: &str| answer.contains(s);
    assert!(!has("a=ice-lite"), "{name}: we are full ICE");
    assert!(has("a=setup:active"), "{name}: DTLS client");
    assert!(has("a=fingerprint:sha-256 "), "{name}");
    let m_line = answer.lines().find(|l| l.starts_with("m=audio")).unwrap();
    assert!(m_line.ends_with(" 111 126"), "{name}: {m_line}");
    assert!(has("a=rtpmap:111 opus/48000/2"), "{name}");
    assert!(has("a=rtpmap:126 telephone-event/8000"), "{name}");
    assert!(has("a=candidate:"), "{name}: candidates in the answer");
    assert!(!has("a=ice-options:trickle"), "{name}: no trickle");
    assert!(has("a=mid:audio"), "{name}: the offer's mid");
}

#[test]
fn every_recorded_meta_offer_gets_a_meta_shaped_answer() {
    for (name, offer) in meta_offers() {
        let cfg = WaLegConfig::new(gw_addr());
        let (leg, answer) =
            WaLeg::answer(Instant::now(), &offer, cfg).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_meta_shaped_answer(&name, &answer);
        assert_eq!(leg.opus_params(), OpusParams::from_sdp(&offer), "{name}");
        assert_eq!(leg.opus_params().pt, Some(111), "{name}");
    }
}

#[test]
fn every_recorded_meta_offer_connects_with_the_gateway_controlling() {
    for (name, fixture) in meta_offers() {
        let (mut sim, answer) = uic(Workarounds::default(), |live| {
            fixture_with_peer(&fixture, live, None)
        });
        assert_meta_shaped_answer(&name, &answer);
        let up = sim.run_until(Duration::from_secs(2), |s| s.gw.is_connected());
        assert!(up, "{name}: connected");
        sim.run_until(Duration::from_secs(3), |_| false);
        let checks: Vec<_> = sim
            .gw_wire
            .iter()
            .filter(|(_, _, b)| is_stun_request(b))
            .map(|(_, _, b)| stun_attrs(b).unwrap())
            .collect();
        assert!(
            checks.iter().all(|a| a.contains(&ICE_CONTROLLING)),
            "{name}"
        );
        assert!(
            checks.iter().all(|a| !a.contains(&ICE_CONTROLLED)),
            "{name}"
        );
        assert!(checks.iter().any(|a| a.contains(&USE_CANDIDATE)), "{name}");
        assert!(
            sim.gw_audio_in > 50 && sim.meta.audio_in > 50,
            "{name}: audio"
        );
    }
}
