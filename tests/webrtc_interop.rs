//! callgate's WhatsApp media leg against a second WebRTC implementation: aiortc
//! (`tests/peers/webrtc/wa_peer.py`, in the project's `.venv`) plays the WhatsApp user, offers
//! through the sandbox's connect webhook, receives callgate's `pre_accept` answer, and
//! exchanges tones and DTMF with baresip as the PBX. This proves our answer, ICE and DTLS
//! against a stack other than str0m.

mod common;
mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use callgate::sandbox::UserCall;
use callgate::sandbox::phone::audio::{dominant_frequency, read_wav_mono, rms};
use common::process::ChildGuard;
use serde_json::{Value, json};

const PYTHON: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/.venv/bin/python");

fn near(hz: Option<f64>, expect: f64) -> bool {
    hz.is_some_and(|h| (h - expect).abs() < 15.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aiortc_as_the_whatsapp_user_exchanges_tones_and_dtmf_with_baresip_through_callgate() {
    assert!(
        Path::new(PYTHON).exists(),
        "{PYTHON} is missing: run `bash scripts/deps.sh test` (it creates .venv with aiortc)"
    );
    let pbx = support::baresip::start("auto", "pcmu");
    let target = pbx.uri("udp");
    let t = common::start_with(move |c| {
        c.routing.default = Some(target);
        c.sip.codecs = vec!["pcmu".into()];
    })
    .await;

    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    let peer = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/webrtc/wa_peer.py");
    let log = std::fs::File::create(p("wa_peer.log")).unwrap();
    let child = Command::new(PYTHON)
        .arg(peer)
        .args(["--role", "offer", "--tone", "440", "--duration", "7"])
        .args(["--dtmf", "4", "--dtmf-at", "1.5"])
        .arg("--offer-out")
        .arg(p("offer.json"))
        .arg("--answer-in")
        .arg(p("answer.json"))
        .arg("--record")
        .arg(p("rec.wav"))
        .arg("--dtmf-log")
        .arg(p("dtmf.json"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("cannot start aiortc's wa_peer.py");
    let mut child = ChildGuard(child);
    let peer_log = || std::fs::read_to_string(p("wa_peer.log")).unwrap_or_default();

    let end = Instant::now() + Duration::from_secs(30);
    while !p("offer.json").exists() {
        assert!(
            Instant::now() < end,
            "aiortc wrote no offer:\n{}",
            peer_log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let offer: Value =
        serde_json::from_str(&std::fs::read_to_string(p("offer.json")).unwrap()).unwrap();
    let mut call = UserCall::new("16315553602", common::PNID);
    call.offer_sdp = Some(offer["sdp"].as_str().unwrap().to_string());
    let id = t.sandbox().simulate_user_call(call).unwrap();

    // Meta hands our answer to the user's phone once pre_accept succeeded.
    let answer = loop {
        if let Some(sdp) = t.sandbox().call_state(&id).and_then(|c| c.pre_accept_sdp) {
            break sdp;
        }
        assert!(
            Instant::now() < end,
            "no pre_accept; timeline {:?}",
            t.timeline_kinds(&id)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    std::fs::write(
        p("answer.json"),
        json!({"type": "answer", "sdp": answer}).to_string(),
    )
    .unwrap();

    common::eventually("the call is accepted", || {
        t.timeline_kinds(&id).iter().any(|k| k == "call.connected")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    pbx.command("sndcode", "8");

    // wa_peer.py ends after --duration and writes its recording and the digits it received.
    let status = child
        .exit_within(Duration::from_secs(30), "wa_peer.py")
        .await;
    assert!(status.success(), "wa_peer.py failed:\n{}", peer_log());

    let (samples, rate) = read_wav_mono(&p("rec.wav")).expect("aiortc's recording");
    let tail = &samples[samples.len().saturating_sub(rate as usize * 3)..];
    let (hz, level) = (dominant_frequency(tail, rate), rms(tail));
    assert!(
        near(hz, 1000.0) && level > 0.01,
        "aiortc did not hear the PBX's 1000 Hz: {hz:?} at rms {level}\n{}",
        peer_log()
    );
    let digits: Vec<String> =
        serde_json::from_str(&std::fs::read_to_string(p("dtmf.json")).unwrap()).unwrap();
    assert_eq!(digits, ["8"], "digits aiortc received from the PBX");
    assert!(
        pbx.log().contains("received event: '4' (end=1)"),
        "baresip did not receive aiortc's digit 4:\n{}",
        pbx.log()
    );

    t.sandbox().hangup(&id).unwrap();
    let closed = support::wait_until(Duration::from_secs(5), || pbx.log().contains("closed"));
    assert!(closed, "baresip never saw our BYE:\n{}", pbx.log());
    let (samples, rate) = pbx.heard().expect("baresip recorded the call");
    let tail = &samples[(rate as usize).min(samples.len())..];
    let hz = dominant_frequency(tail, rate);
    let stats = t.gw.store.find_call(&id).unwrap().and_then(|r| r.stats);
    assert!(
        near(hz, 440.0),
        "baresip did not hear aiortc's 440 Hz: {hz:?} in {} samples at {rate} Hz (rms {:.4}); \
         media stats {stats:?}\n{}",
        samples.len(),
        rms(tail),
        pbx.log()
    );
    t.shutdown().await;
}
