//! The sandbox's simulated WhatsApp phone with real media: its offer has Meta's exact shape, it
//! exchanges Opus tones and RFC 4733 DTMF with a str0m business endpoint and with aiortc, it
//! stays silent until the business sends first, and the sandbox wires it to pre_accept/accept,
//! business-initiated connect, hang-ups and the control API.

mod common;
mod phone_support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use callgate::cloud::graph::{GraphClient, GraphClientConfig};
use callgate::sandbox::phone::{MediaReport, MetaPhone, PhoneConfig, audio};
use callgate::sandbox::{CallState, PermissionKind, Sandbox, SandboxConfig, UserCall};
use common::process::{ChildGuard, output_ok};
use common::{send_json, send_status};
use phone_support::Business;
use serde_json::{Value, json};

/// The project venv made by `scripts/deps.sh test` (aiortc + numpy).
const PYTHON: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/.venv/bin/python");

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn peer(path: &str) -> String {
    format!("{}/tests/peers/{path}", env!("CARGO_MANIFEST_DIR"))
}

/// The kind of an SDP line, for comparing layouts: `a=candidate`, `a=fmtp:111`, `m=audio`...
fn line_kind(line: &str) -> String {
    let line = line.trim_end();
    if let Some(rest) = line.strip_prefix("a=") {
        let name = rest.split([':', ' ']).next().unwrap_or(rest);
        match name {
            "rtpmap" | "fmtp" | "rtcp-fb" => {
                let pt = rest.split([':', ' ']).nth(1).unwrap_or("");
                format!("a={name}:{pt}")
            }
            _ => format!("a={name}"),
        }
    } else {
        line.split([' ', '=']).next().unwrap_or(line).to_string() + "="
    }
}

async fn wait_report(
    phone: &MetaPhone,
    within: Duration,
    what: &str,
    check: impl Fn(&MediaReport) -> bool,
) -> MediaReport {
    let end = Instant::now() + within;
    loop {
        let r = phone.report().await.unwrap();
        if check(&r) {
            return r;
        }
        assert!(
            Instant::now() < end,
            "phone: timed out waiting for {what}: {r:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn near(hz: Option<f64>, expect: f64) -> bool {
    hz.is_some_and(|f| (f - expect).abs() <= 10.0)
}

#[tokio::test]
async fn phone_offer_has_metas_shape_line_by_line() {
    let (phone, offer) = MetaPhone::offer(PhoneConfig::default()).unwrap();
    let port = phone.local_addr().port();
    let lines: Vec<&str> = offer.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert!(offer.ends_with("\r\n") && !offer.replace("\r\n", "").contains('\n'));

    let m_at = lines.iter().position(|l| l.starts_with("m=")).unwrap();
    assert!(
        lines[..m_at].contains(&"a=ice-lite"),
        "session-level ice-lite: {offer}"
    );
    assert_eq!(
        lines[m_at],
        format!("m=audio {port} UDP/TLS/RTP/SAVPF 111 126")
    );
    let candidates: Vec<&&str> = lines
        .iter()
        .filter(|l| l.starts_with("a=candidate:"))
        .collect();
    assert_eq!(candidates.len(), 1, "{offer}");
    assert!(
        candidates[0].ends_with(&format!(
            " udp {} 127.0.0.1 {port} typ host generation 0 network-cost 50",
            candidates[0].split(' ').nth(3).unwrap()
        )),
        "{}",
        candidates[0]
    );
    for expected in [
        "a=setup:actpass",
        "a=rtpmap:111 opus/48000/2",
        "a=fmtp:111 maxaveragebitrate=20000;maxplaybackrate=16000;minptime=20;sprop-maxcapturerate=16000;useinbandfec=1",
        "a=rtpmap:126 telephone-event/8000",
        "a=ptime:20",
        "a=maxptime:20",
        "a=rtcp-mux",
        "a=sendrecv",
    ] {
        assert!(lines.contains(&expected), "missing {expected}: {offer}");
    }
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("a=fingerprint:sha-256 "))
    );
    let ssrc: Vec<&&str> = lines.iter().filter(|l| l.starts_with("a=ssrc:")).collect();
    assert_eq!(ssrc.len(), 1);
    let (n, attr) = ssrc[0]["a=ssrc:".len()..].split_once(' ').unwrap();
    assert!(
        n.parse::<u32>().is_ok() && attr == "cname:WhatsAppAudioStream1",
        "{}",
        ssrc[0]
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("a=msid:") && l.ends_with(" WhatsAppTrack1"))
    );

    // Same lines in the same order as the real captured offer (its IPv6 candidate aside).
    let real = fixture("meta-uic-offer-real-2025-10-17.sdp");
    let real_kinds: Vec<String> = real
        .lines()
        .filter(|l| !l.is_empty() && !l.contains(" 2a03:"))
        .map(line_kind)
        .collect();
    let ours: Vec<String> = lines.iter().map(|l| line_kind(l)).collect();
    assert_eq!(ours, real_kinds);
}

#[tokio::test]
async fn phone_and_business_exchange_tones_and_dtmf_both_ways() {
    let (phone, offer) = MetaPhone::offer(PhoneConfig::default()).unwrap();
    let (biz, answer) = Business::answer(&offer, 1000.0, false).await;
    assert!(answer.contains("a=setup:active"), "{answer}");
    phone.apply_answer(&answer).unwrap();

    let r = wait_report(&phone, Duration::from_secs(10), "1000 Hz", |r| {
        r.recorded_ms >= 1000 && near(r.dominant_hz, 1000.0)
    })
    .await;
    assert!(r.connected && r.rms > 0.05, "{r:?}");
    biz.wait_for(Duration::from_secs(10), "440 Hz", |s| {
        s.recording.len() >= 48_000 && near(s.heard_hz(), 440.0)
    })
    .await;

    phone.send_dtmf("123#").unwrap();
    biz.send_dtmf("9*");
    biz.wait_for(Duration::from_secs(10), "digits 123#", |s| {
        s.dtmf_in.digits() == "123#"
    })
    .await;
    let r = wait_report(&phone, Duration::from_secs(10), "digits 9*", |r| {
        r.digits_received == "9*"
    })
    .await;
    assert_eq!(r.digits_sent, "123#");
    assert!(r.packets_in > 50 && r.packets_out > 50, "{r:?}");
    assert!(
        r.first_media_in_ms.unwrap() <= r.first_media_out_ms.unwrap(),
        "{r:?}"
    );
    assert_eq!(r.error, None);

    phone.hang_up();
    let r = wait_report(&phone, Duration::from_secs(2), "hang-up", |r| r.hung_up).await;
    let out = r.packets_out;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        phone.report().await.unwrap().packets_out,
        out,
        "no media after hang-up"
    );
}

#[tokio::test]
async fn phone_sends_nothing_until_it_has_received_media() {
    let (phone, offer) = MetaPhone::offer(PhoneConfig::default()).unwrap();
    let (biz, answer) = Business::answer(&offer, 1000.0, true).await;
    phone.apply_answer(&answer).unwrap();
    wait_report(&phone, Duration::from_secs(10), "connected", |r| {
        r.connected
    })
    .await;
    biz.wait_for(Duration::from_secs(5), "connected", |s| s.connected)
        .await;

    tokio::time::sleep(Duration::from_millis(1000)).await;
    let r = phone.report().await.unwrap();
    assert_eq!(
        (r.packets_in, r.packets_out, r.first_media_out_ms),
        (0, 0, None),
        "{r:?}"
    );
    assert_eq!(biz.state.lock().unwrap().packets_in, 0);

    biz.set_muted(false);
    biz.wait_for(Duration::from_secs(5), "the phone's media", |s| {
        s.packets_in > 10
    })
    .await;
    let r = phone.report().await.unwrap();
    assert!(
        r.first_media_in_ms.unwrap() <= r.first_media_out_ms.unwrap(),
        "{r:?}"
    );
}

#[tokio::test]
async fn aiortc_answering_the_phone_hears_440_and_the_phone_hears_1000() {
    assert!(
        Path::new(PYTHON).exists(),
        "{PYTHON} is missing: run `bash scripts/deps.sh test` (it creates .venv with aiortc and numpy)"
    );
    let dir = tempfile::tempdir().unwrap();
    let (offer_in, answer_out, rec) = (
        dir.path().join("offer.json"),
        dir.path().join("answer.json"),
        dir.path().join("rec.wav"),
    );
    let (phone, offer) = MetaPhone::offer(PhoneConfig::default()).unwrap();
    std::fs::write(
        &offer_in,
        json!({"type": "offer", "sdp": offer}).to_string(),
    )
    .unwrap();
    let child = Command::new(PYTHON)
        .arg(peer("webrtc/wa_peer.py"))
        .args(["--role", "answer", "--tone", "1000", "--duration", "6"])
        .arg("--offer-in")
        .arg(&offer_in)
        .arg("--answer-out")
        .arg(&answer_out)
        .arg("--record")
        .arg(&rec)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start aiortc's wa_peer.py");
    let mut child = ChildGuard(child);

    let end = Instant::now() + Duration::from_secs(30);
    while !answer_out.exists() {
        assert!(Instant::now() < end, "aiortc wrote no answer");
        assert!(
            child.0.try_wait().unwrap().is_none(),
            "wa_peer.py exited early (aiortc missing?)"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let answer: Value =
        serde_json::from_str(&std::fs::read_to_string(&answer_out).unwrap()).unwrap();
    phone.apply_answer(answer["sdp"].as_str().unwrap()).unwrap();

    let r = wait_report(
        &phone,
        Duration::from_secs(15),
        "1000 Hz from aiortc",
        |r| r.recorded_ms >= 1000 && near(r.dominant_hz, 1000.0),
    )
    .await;
    assert!(r.connected && r.packets_out > 0, "{r:?}");

    // wa_peer.py ends after --duration and writes its recording.
    let status = child
        .exit_within(Duration::from_secs(30), "wa_peer.py")
        .await;
    assert!(status.success(), "wa_peer.py failed: {status}");
    output_ok(
        Command::new(PYTHON)
            .arg(peer("audio-tools/audiocheck.py"))
            .arg("freq")
            .arg(&rec)
            .args(["440", "15"]),
        "aiortc did not hear 440 Hz",
    );
}

// ---- through the sandbox ----

async fn sandbox() -> (Sandbox, GraphClient, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = url::Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    let config = SandboxConfig::default();
    let client = GraphClient::new(GraphClientConfig {
        base_url: base.clone(),
        api_version: "v23.0".into(),
        access_token: config.access_token.clone(),
        timeout: Duration::from_secs(5),
        max_retries: 0,
        backoff_base: Duration::from_millis(10),
    })
    .unwrap();
    let sandbox = Sandbox::new(config);
    tokio::spawn(sandbox.clone().serve(listener));
    (sandbox, client, base.to_string())
}

async fn wait_media(
    sb: &Sandbox,
    id: &str,
    what: &str,
    check: impl Fn(&MediaReport) -> bool,
) -> MediaReport {
    let phone = sb.phone(id).unwrap();
    wait_report(&phone, Duration::from_secs(10), what, check).await
}

/// POSTs `body` to the sandbox control API at `sandbox/calls/{id}/{action}`; returns the status.
async fn post_control(
    http: &reqwest::Client,
    base: &str,
    id: &str,
    action: &str,
    body: Value,
) -> reqwest::StatusCode {
    send_status(
        http.post(format!("{base}sandbox/calls/{id}/{action}"))
            .json(&body),
    )
    .await
}

#[tokio::test]
async fn user_call_media_flows_once_pre_accept_gives_the_phone_the_answer() {
    let (sb, client, base) = sandbox().await;
    let pnid = sb.config().numbers[0].0.clone();
    let http = reqwest::Client::new();
    let created = send_json(
        http.post(format!("{base}sandbox/calls"))
            .json(&json!({"from": "16315553602", "to_pnid": pnid, "tone_hz": 600})),
    )
    .await;
    let id = created["call_id"].as_str().unwrap().to_string();
    let offer = sb.call_state(&id).unwrap().offer_sdp.unwrap();
    assert!(offer.contains("a=ice-lite") && offer.contains("cname:WhatsAppAudioStream1"));

    let (biz, answer) = Business::answer(&offer, 1000.0, false).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !sb.phone(&id).unwrap().report().await.unwrap().connected,
        "no answer yet"
    );
    client.pre_accept(&pnid, &id, &answer).await.unwrap();
    wait_media(&sb, &id, "1000 Hz", |r| {
        r.recorded_ms >= 1000 && near(r.dominant_hz, 1000.0)
    })
    .await;
    client.accept(&pnid, &id, &answer, None).await.unwrap();
    biz.wait_for(Duration::from_secs(10), "600 Hz", |s| {
        s.recording.len() >= 48_000 && near(s.heard_hz(), 600.0)
    })
    .await;

    assert_eq!(
        post_control(&http, &base, &id, "dtmf", json!({"digits": "42"})).await,
        204
    );
    biz.wait_for(Duration::from_secs(10), "digits 42", |s| {
        s.dtmf_in.digits() == "42"
    })
    .await;
    assert_eq!(
        post_control(&http, &base, &id, "dtmf", json!({"digits": "4x"})).await,
        400
    );

    // Switch the user's phone to a WAV file (8 kHz, 800 Hz): the business hears it.
    let dir = tempfile::tempdir().unwrap();
    let prompt = dir.path().join("prompt800.wav");
    let tone: Vec<i16> = (0..8000)
        .map(|i| {
            ((2.0 * std::f64::consts::PI * 800.0 * f64::from(i) / 8000.0).sin() * 12000.0) as i16
        })
        .collect();
    audio::write_wav_mono(&prompt, &tone, 8000).unwrap();
    assert_eq!(
        post_control(&http, &base, &id, "play", json!({"wav": prompt})).await,
        204
    );
    biz.wait_for(Duration::from_secs(10), "800 Hz from the WAV", |s| {
        near(s.heard_hz(), 800.0)
    })
    .await;
    let missing = dir.path().join("missing.wav");
    assert_eq!(
        post_control(&http, &base, &id, "play", json!({"wav": missing})).await,
        400
    );

    let media = send_json(http.get(format!("{base}sandbox/calls/{id}/media"))).await;
    assert!(near(media["dominant_hz"].as_f64(), 1000.0), "{media}");
    assert_eq!(media["digits_sent"], "42");

    let wav = dir.path().join("heard.wav");
    assert_eq!(
        post_control(&http, &base, &id, "recording", json!({"path": wav})).await,
        204
    );
    let (pcm, rate) = callgate::sandbox::phone::audio::read_wav_mono(&wav).unwrap();
    assert_eq!(rate, 48_000);
    assert!(near(
        callgate::sandbox::phone::audio::dominant_frequency(&pcm[pcm.len() - 24_000..], rate),
        1000.0
    ));

    client.terminate(&pnid, &id).await.unwrap();
    let r = wait_media(&sb, &id, "hang-up", |r| r.hung_up).await;
    assert!(r.packets_out > 0);
    assert_eq!(sb.call_state(&id).unwrap().state, CallState::Ended);
}

#[tokio::test]
async fn user_hangup_stops_the_phone_and_explicit_offers_have_no_phone() {
    let (sb, _client, _) = sandbox().await;
    let pnid = sb.config().numbers[0].0.clone();
    let id = sb
        .simulate_user_call(UserCall::new("16315550001", &pnid))
        .unwrap();
    assert!(!sb.media_report(&id).await.unwrap().hung_up);
    sb.hangup(&id).unwrap();
    wait_media(&sb, &id, "hang-up", |r| r.hung_up).await;

    let mut call = UserCall::new("16315550002", &pnid);
    call.offer_sdp = Some(fixture("meta-uic-offer-real-2025-10-17.sdp"));
    let id = sb.simulate_user_call(call).unwrap();
    assert!(sb.media_report(&id).await.is_err());
    assert!(sb.send_dtmf(&id, "1").is_err());
}

#[tokio::test]
async fn business_call_is_answered_by_a_phone_with_real_media() {
    let (sb, client, _) = sandbox().await;
    let pnid = sb.config().numbers[0].0.clone();
    sb.set_permission("16315553602", PermissionKind::Permanent, None, false);
    let (biz, offer) = Business::offer(1000.0).await;
    let id = client
        .connect(&pnid, "16315553602", &offer, None)
        .await
        .unwrap();
    let answer = sb.call_state(&id).unwrap().meta_answer_sdp.unwrap();
    assert!(
        answer.contains("a=ice-lite\r\n") && answer.contains("a=setup:active\r\n"),
        "{answer}"
    );
    assert!(answer.contains("cname:WhatsAppAudioStream1"), "{answer}");
    biz.accept(&answer);
    // The phone rings: nothing flows until the user picks up.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let r = sb.media_report(&id).await.unwrap();
    assert!(
        !r.connected && r.packets_in == 0,
        "media before pick-up: {r:?}"
    );
    sb.answer(&id).unwrap();
    biz.wait_for(Duration::from_secs(10), "440 Hz from the user", |s| {
        s.recording.len() >= 48_000 && near(s.heard_hz(), 440.0)
    })
    .await;
    wait_media(&sb, &id, "1000 Hz", |r| {
        r.recorded_ms >= 1000 && near(r.dominant_hz, 1000.0)
    })
    .await;
    client.terminate(&pnid, &id).await.unwrap();
    wait_media(&sb, &id, "hang-up", |r| r.hung_up).await;
}
