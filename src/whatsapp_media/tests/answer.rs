//! UIC happy path: the gateway answers a Meta-like offer and a whole call runs.

use std::time::Duration;

use super::wire_log::*;
use super::{Workarounds, uic};
use crate::whatsapp_media::WaEvent;

#[test]
fn answering_meta_offer_connects_with_opus_and_dtmf_both_ways() {
    let (mut sim, answer) = uic(Workarounds::default(), str::to_owned);
    assert!(!answer.contains("a=ice-lite"));
    let up = sim.run_until(Duration::from_secs(1), |s| {
        s.gw.is_connected() && s.meta.connected_at.is_some()
    });
    assert!(up, "ICE+DTLS up within 1 s, events {:?}", sim.gw_events);

    // ICE: the gateway is controlling and nominates; the lite peer never checks.
    let requests: Vec<_> = sim
        .gw_wire
        .iter()
        .filter(|(_, _, b)| is_stun_request(b))
        .map(|(_, _, b)| stun_attrs(b).unwrap())
        .collect();
    assert!(!requests.is_empty());
    assert!(requests.iter().all(|a| a.contains(&ICE_CONTROLLING)));
    assert!(requests.iter().any(|a| a.contains(&USE_CANDIDATE)));

    sim.run_until(Duration::from_millis(1500), |_| false);
    assert!(sim.meta.audio_in > 20, "Meta heard {}", sim.meta.audio_in);
    assert!(sim.gw_audio_in > 20, "gateway heard {}", sim.gw_audio_in);

    sim.gw.start_dtmf('7', Duration::from_millis(100)).unwrap();
    sim.meta.dtmf_out.push(11, Duration::from_millis(100));
    sim.run_until(Duration::from_millis(2500), |_| false);
    assert_eq!(sim.meta.dtmf_in, [(7, false), (7, true)]);
    let dtmf: Vec<_> = sim
        .gw_events
        .iter()
        .filter_map(|(_, e)| match e {
            WaEvent::Dtmf { event, end, .. } => Some((*event, *end)),
            _ => None,
        })
        .collect();
    assert_eq!(dtmf, [(11, false), (11, true)]);
    assert_dtmf_shares_the_audio_stream(&sim);
    let stats = sim.gw.stats();
    assert_eq!(
        stats.dtmf_packets_out, 7,
        "5 growing reports + 2 repeated ends"
    );
}

/// On the wire, the gateway's DTMF continues the audio stream: one SSRC, consecutive sequence
/// numbers, and the event timestamp is the audio timestamp of the tick it replaced.
fn assert_dtmf_shares_the_audio_stream(sim: &super::net::Sim) {
    let rtp: Vec<_> = sim
        .gw_wire
        .iter()
        .filter_map(|(_, _, b)| rtp_header(b))
        .collect();
    assert!(rtp.windows(2).all(|w| w[0].3 == w[1].3), "one SSRC");
    assert!(
        rtp.windows(2).all(|w| w[1].1 == w[0].1.wrapping_add(1)),
        "no seq gap"
    );
    let first = rtp.iter().position(|p| p.0 == 126).expect("DTMF on PT 126");
    let dtmf_ts = rtp[first].2;
    assert_eq!(
        dtmf_ts,
        rtp[first - 1].2 + 960,
        "event ts = the replaced tick's"
    );
    let dtmf: Vec<_> = rtp.iter().filter(|p| p.0 == 126).collect();
    assert!(dtmf.iter().all(|p| p.2 == dtmf_ts));
    let after = rtp[first..].iter().find(|p| p.0 == 111).unwrap();
    assert_eq!(
        after.2,
        dtmf_ts + 960 * dtmf.len() as u32,
        "audio resumes on its clock"
    );
}

#[test]
fn meta_never_answering_dtls_fails_the_leg_after_the_handshake_timeout() {
    let (mut sim, _) = uic(Workarounds::default(), str::to_owned);
    sim.drop_to_meta = Box::new(|_, b| dtls_handshake_type(b).is_some());
    sim.gw.kick_dtls();
    let failed = sim.run_until(Duration::from_secs(60), |s| {
        s.gw_events
            .iter()
            .any(|(_, e)| matches!(e, WaEvent::Failed(_)))
    });
    assert!(failed, "events: {:?}", sim.gw_events);
    let (at, _) = sim.gw_events.last().unwrap();
    assert!(*at > Duration::from_secs(20), "failed at {at:?}");
    assert!(!sim.gw.is_connected());
    assert!(sim.gw.send_opus(sim.now, &[0xf8], 0).is_err());
}
