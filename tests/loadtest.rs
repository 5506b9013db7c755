//! The load generator end to end, small: 20 concurrent calls held 10 s through a callgate
//! process started for the test (`callgate loadtest`'s own code path), passthrough and
//! transcoding. Every call must set up, carry the phone's tone through callgate's bridge both
//! ways (the far end echoes it back) and end cleanly, with nothing lost on loopback. Timing is
//! measured but never asserted here: figures belong in `docs/benchmarks.md`.

use std::path::PathBuf;
use std::time::Duration;

use callgate::loadtest::{LoadConfig, Scenario, Summary};
use callgate_sip::sdp_negotiation::CodecKind;

const CALLS: usize = 20;
const HOLD: Duration = Duration::from_secs(10);

async fn run(scenario: Scenario) -> Summary {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_callgate"));
    let mut cfg = LoadConfig::new(scenario, CALLS, HOLD, bin);
    cfg.cps = 20.0;
    callgate::loadtest::run(cfg, |_| {})
        .await
        .expect("the load run completes")
}

fn assert_every_call_carried_audio_both_ways(s: &Summary) {
    assert_eq!(s.calls_attempted, CALLS, "{s}");
    assert!(
        s.calls_ok == CALLS && s.calls_failed == 0,
        "calls failed: {:?}\n{s}",
        s.failures
    );
    assert_eq!(
        s.peak_concurrent, CALLS,
        "not all calls were up at once\n{s}"
    );
    // Every frame sent in either direction was paired with one that came out of callgate.
    let frames = (CALLS as u64) * (HOLD.as_millis() as u64 / 20) / 2;
    assert!(s.latency_to_pbx.samples as u64 > frames, "{s}");
    assert!(s.latency_to_wa.samples as u64 > frames, "{s}");
    assert_eq!(
        s.loss_to_pbx.lost, 0,
        "loss WhatsApp -> PBX on loopback\n{s}"
    );
    assert_eq!(
        s.loss_to_wa.lost, 0,
        "loss PBX -> WhatsApp on loopback\n{s}"
    );
    assert!(s.all_ok(), "{s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_passthrough_calls_carry_opus_both_ways_without_loss() {
    let s = run(Scenario::Passthrough).await;
    assert_every_call_carried_audio_both_ways(&s);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_transcoded_pcmu_calls_carry_audio_both_ways_without_loss() {
    let s = run(Scenario::Transcode(CodecKind::Pcmu)).await;
    assert_every_call_carried_audio_both_ways(&s);
}
