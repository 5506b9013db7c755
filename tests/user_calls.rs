//! User-initiated calls end to end, against real peers: the sandbox's simulated WhatsApp phone
//! (str0m in ICE-lite mode, Meta's SDP shape) calls the business, callgate answers it over
//! WebRTC, rings a real SIP peer (baresip, sipp) and bridges the audio. Audio is checked at both
//! ends by dominant frequency and level: 440 Hz from the WhatsApp side, 1000 Hz from the SIP
//! side. DTMF, hang-ups from either side and the failure paths are checked on the wire.

mod common;
mod support;

use std::time::{Duration, Instant};

use callgate::sandbox::UserCall;
use callgate::sandbox::phone::audio::{dominant_frequency, rms};
use common::calls::{ended_record, near, phone_until};
use common::{PNID, TestGateway};
use support::sipp::Sipp;

const CALLER: &str = "16315553602";

/// A gateway whose default route rings `target`, offering `codecs` to the PBX.
async fn gateway(target: &str, codecs: &[&str]) -> TestGateway {
    let target = target.to_string();
    let codecs: Vec<String> = codecs.iter().map(|c| c.to_string()).collect();
    common::start_with(move |c| {
        c.routing.default = Some(target);
        c.sip.codecs = codecs;
        c.sip.setup_timeout_s = 2;
    })
    .await
}

/// The simulated WhatsApp user calls the default number; returns the call id.
fn user_calls(t: &TestGateway) -> String {
    let mut call = UserCall::new(CALLER, PNID);
    call.contact_name = Some("Ann Example".into());
    t.sandbox().simulate_user_call(call).expect("sandbox call")
}

/// Dominant frequency and level of what baresip heard, skipping the first `skip_s` seconds.
fn pbx_heard(pbx: &support::baresip::Baresip) -> (Option<f64>, f64) {
    let (samples, rate) = pbx.heard().expect("baresip recorded the call");
    let skip = (rate as usize / 2).min(samples.len());
    let tail = &samples[skip..];
    (dominant_frequency(tail, rate), rms(tail))
}

/// The phone calls, baresip answers with `codec`, tones cross both ways, the phone hangs up.
async fn tones_cross_with(codec: &str, offer: &[&str], expect_codec: &str) {
    let pbx = support::baresip::start("auto", codec);
    let t = gateway(&pbx.uri("udp"), offer).await;
    let id = user_calls(&t);
    let r = phone_until(&t, &id, Duration::from_secs(10), |r| {
        r.recorded_ms > 1500 && near(r.dominant_hz, 1000.0)
    })
    .await;
    assert!(
        near(r.dominant_hz, 1000.0) && r.rms > 0.01,
        "the WhatsApp user did not hear the PBX's 1000 Hz: {r:?}\ntimeline: {:?}\nbaresip:\n{}",
        t.timeline_kinds(&id),
        pbx.log()
    );
    let rec = t.gw.store.get_call(&id).unwrap().unwrap();
    assert!(rec.accepted_at_ms.is_some(), "accept not recorded: {rec:?}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    t.sandbox().hangup(&id).unwrap();
    let rec = ended_record(&t, &id, Duration::from_secs(5)).await;
    assert_eq!(rec.ended_by.as_deref(), Some("user"), "{rec:?}");
    let closed = support::wait_until(Duration::from_secs(5), || pbx.log().contains("closed"));
    assert!(closed, "baresip never saw our BYE:\n{}", pbx.log());
    let (hz, level) = pbx_heard(&pbx);
    assert!(
        near(hz, 440.0) && level > 0.01,
        "the PBX did not hear the WhatsApp user's 440 Hz: {hz:?} at rms {level}"
    );
    let stats = rec.stats.expect("media stats recorded");
    assert_eq!(stats["bridge"]["pbx_codec"], expect_codec, "{stats}");
    assert!(
        stats["bridge"]["pbx_rx"]["packets"].as_u64() > Some(50),
        "{stats}"
    );
    assert_eq!(
        t.graph_actions(&id),
        ["pre_accept", "accept"],
        "the user hung up, so callgate sends no terminate"
    );
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsapp_call_rings_baresip_with_pcmu_and_tones_cross_both_ways() {
    tones_cross_with("pcmu", &["pcmu"], "PCMU").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsapp_call_rings_baresip_with_pcma_and_tones_cross_both_ways() {
    tones_cross_with("pcma", &["pcma", "pcmu"], "PCMA").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsapp_call_rings_baresip_with_opus_passthrough_and_tones_cross_both_ways() {
    tones_cross_with("opus/48000/2", &["opus", "pcmu"], "opus").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsapp_call_rings_baresip_with_g722_and_tones_cross_both_ways() {
    tones_cross_with("g722", &["g722", "pcmu"], "G722").await;
}

/// DTMF both ways over `codec`: the phone sends 1, 2, # (RFC 4733 at 8 kHz on PT 126) and
/// baresip reports them; baresip sends 5 and 9 and the phone receives them.
async fn dtmf_crosses_with(codec: &str, offer: &[&str]) {
    let pbx = support::baresip::start("auto", codec);
    let t = gateway(&pbx.uri("udp"), offer).await;
    let id = user_calls(&t);
    let r = phone_until(&t, &id, Duration::from_secs(10), |r| {
        near(r.dominant_hz, 1000.0)
    })
    .await;
    assert!(near(r.dominant_hz, 1000.0), "call not up: {r:?}");
    t.sandbox().send_dtmf(&id, "12#").unwrap();
    pbx.command("sndcode", "5");
    tokio::time::sleep(Duration::from_millis(400)).await;
    pbx.command("sndcode", "9");
    let r = phone_until(&t, &id, Duration::from_secs(5), |r| {
        r.digits_received == "59" && r.digits_sent == "12#"
    })
    .await;
    let got = support::wait_until(Duration::from_secs(5), || {
        let log = pbx.log();
        ["1", "2", "#"]
            .iter()
            .all(|d| log.contains(&format!("received event: '{d}' (end=1)")))
    });
    assert!(got, "baresip did not receive 1, 2, #:\n{}", pbx.log());
    assert_eq!(r.digits_received, "59", "{r:?}");
    t.sandbox().hangup(&id).unwrap();
    ended_record(&t, &id, Duration::from_secs(5)).await;
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dtmf_crosses_both_ways_with_pcmu() {
    dtmf_crosses_with("pcmu", &["pcmu"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dtmf_crosses_both_ways_with_opus_and_48khz_durations() {
    dtmf_crosses_with("opus/48000/2", &["opus"]).await;
}

/// A user's call answered by baresip with PCMU, up once the phone hears the PBX's 1000 Hz.
async fn pcmu_call_to_baresip_up() -> (support::baresip::Baresip, TestGateway, String) {
    let pbx = support::baresip::start("auto", "pcmu");
    let t = gateway(&pbx.uri("udp"), &["pcmu"]).await;
    let id = user_calls(&t);
    let r = phone_until(&t, &id, Duration::from_secs(10), |r| {
        near(r.dominant_hz, 1000.0)
    })
    .await;
    assert!(near(r.dominant_hz, 1000.0), "call not up: {r:?}");
    (pbx, t, id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pbx_hangup_ends_the_whatsapp_call_with_terminate() {
    let (pbx, t, id) = pcmu_call_to_baresip_up().await;
    pbx.command("hangup", "");
    let rec = ended_record(&t, &id, Duration::from_secs(5)).await;
    assert_eq!(rec.ended_by.as_deref(), Some("business"), "{rec:?}");
    assert_eq!(rec.end_reason.as_deref(), Some("hung_up"), "{rec:?}");
    assert_eq!(t.graph_actions(&id), ["pre_accept", "accept", "terminate"]);
    let meta = t.sandbox().call_state(&id).expect("sandbox call");
    assert_eq!(format!("{:?}", meta.state), "Ended", "{meta:?}");
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caller_hangs_up_while_pbx_rings_and_the_pbx_sees_cancel() {
    let mut pbx = Sipp::uas("uas_ring_cancel.xml", "udp", &[]);
    let t = gateway(&pbx.uri(), &["pcmu"]).await;
    let id = user_calls(&t);
    common::eventually("the PBX rings", || {
        t.timeline_kinds(&id).iter().any(|k| k == "sip.progress")
    })
    .await;
    t.sandbox().hangup(&id).unwrap();
    let rec = ended_record(&t, &id, Duration::from_secs(5)).await;
    assert_eq!(rec.ended_by.as_deref(), Some("user"), "{rec:?}");
    // sipp's scenario only succeeds when it received the CANCEL (and our ACK to its 487).
    tokio::task::spawn_blocking(move || pbx.assert_success(Duration::from_secs(10)))
        .await
        .unwrap();
    assert_eq!(
        t.graph_actions(&id),
        ["pre_accept"],
        "a caller who hung up needs no reject"
    );
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pbx_busy_rejects_whatsapp_call() {
    let mut pbx = Sipp::uas("uas_reject.xml", "udp", &[("STATUS", "486 Busy Here")]);
    let t = gateway(&pbx.uri(), &["pcmu"]).await;
    let id = user_calls(&t);
    let rec = ended_record(&t, &id, Duration::from_secs(10)).await;
    assert_eq!(rec.end_reason.as_deref(), Some("pbx_busy"), "{rec:?}");
    assert_eq!(t.graph_actions(&id), ["pre_accept", "reject"]);
    let meta = t.sandbox().call_state(&id).expect("sandbox call");
    assert_eq!(
        meta.end_reason.as_deref(),
        Some("business_reject"),
        "{meta:?}"
    );
    tokio::task::spawn_blocking(move || pbx.assert_success(Duration::from_secs(10)))
        .await
        .unwrap();
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_pbx_rejects_whatsapp_call_within_the_setup_timeout() {
    // A UDP port that is bound but never answers: the INVITE goes unanswered.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let target = format!("sip:agents@{}", silent.local_addr().unwrap());
    let t = gateway(&target, &["pcmu"]).await;
    let started = Instant::now();
    let id = user_calls(&t);
    let rec = ended_record(&t, &id, Duration::from_secs(10)).await;
    let took = started.elapsed();
    assert_eq!(
        rec.end_reason.as_deref(),
        Some("pbx_unreachable"),
        "{rec:?}"
    );
    assert!(
        took < Duration::from_secs(4),
        "the configured setup timeout is 2 s; the call took {took:?} to be rejected"
    );
    assert_eq!(t.graph_actions(&id), ["pre_accept", "reject"]);
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pbx_hold_reinvite_is_answered_without_touching_the_whatsapp_leg() {
    let pbx = Sipp::uas("uas_hold.xml", "udp", &[]);
    let t = gateway(&pbx.uri(), &["pcmu"]).await;
    let id = user_calls(&t);
    common::eventually("the PBX puts the call on hold", || {
        t.timeline_kinds(&id).iter().any(|k| k == "pbx.hold")
    })
    .await;
    let before = t.sandbox().media_report(&id).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let after = t.sandbox().media_report(&id).await.unwrap();
    assert!(
        after.packets_in >= before.packets_in + 40,
        "WhatsApp must keep receiving (silence) while the PBX holds: {before:?} -> {after:?}"
    );
    assert_eq!(
        t.graph_actions(&id),
        ["pre_accept", "accept"],
        "nothing about the hold goes to Meta"
    );
    // sipp's scenario checks our 200 answered its sendonly with recvonly, then our BYE.
    user_hangs_up_and_sipp_passes(t, &id, pbx).await;
}

/// A user's call to sipp's echoing UAS (PCMU only, no telephone-event), up once the phone
/// hears its own 440 Hz back.
async fn call_to_sipp_echo() -> (Sipp, TestGateway, String) {
    let pbx = Sipp::echo_uas();
    let t = gateway(&pbx.uri(), &["pcmu"]).await;
    let id = user_calls(&t);
    phone_hears_its_echo(&t, &id, &pbx).await;
    (pbx, t, id)
}

/// The WhatsApp user hangs up call `id`; its record ends and the sipp scenario must pass.
async fn user_hangs_up_and_sipp_passes(t: TestGateway, id: &str, mut pbx: Sipp) {
    t.sandbox().hangup(id).unwrap();
    ended_record(&t, id, Duration::from_secs(5)).await;
    tokio::task::spawn_blocking(move || pbx.assert_success(Duration::from_secs(10)))
        .await
        .unwrap();
    t.shutdown().await;
}

/// Waits until the phone of call `id` hears its own 440 Hz echoed by `pbx`; panics if not.
async fn phone_hears_its_echo(t: &TestGateway, id: &str, pbx: &Sipp) {
    let r = phone_until(t, id, Duration::from_secs(10), |r| {
        r.recorded_ms > 1000 && near(r.dominant_hz, 440.0)
    })
    .await;
    assert!(
        near(r.dominant_hz, 440.0) && r.rms > 0.01,
        "the WhatsApp user did not hear its own 440 Hz echoed: {r:?}\n{}",
        pbx.logs()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_rtp_echo_pbx_sends_the_callers_tone_back() {
    let (_pbx, t, id) = call_to_sipp_echo().await;
    t.sandbox().hangup(&id).unwrap();
    ended_record(&t, &id, Duration::from_secs(5)).await;
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_accept_hangs_up_the_pbx_and_rejects_the_call() {
    let pbx = support::baresip::start("auto", "pcmu");
    let t = gateway(&pbx.uri("udp"), &["pcmu"]).await;
    t.sandbox().inject_fault("accept", 138004);
    let id = user_calls(&t);
    let rec = ended_record(&t, &id, Duration::from_secs(10)).await;
    assert_eq!(rec.meta_error_code, Some(138004), "{rec:?}");
    assert_eq!(t.graph_actions(&id), ["pre_accept", "accept", "reject"]);
    let closed = support::wait_until(Duration::from_secs(5), || pbx.log().contains("closed"));
    assert!(
        closed,
        "the PBX leg was not hung up after accept failed:\n{}",
        pbx.log()
    );
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_pre_accept_cancels_the_ringing_pbx_and_rejects_the_call() {
    let mut pbx = Sipp::uas("uas_ring_cancel.xml", "udp", &[]);
    let t = gateway(&pbx.uri(), &["pcmu"]).await;
    t.sandbox().inject_fault("pre_accept", 138004);
    let id = user_calls(&t);
    let rec = ended_record(&t, &id, Duration::from_secs(10)).await;
    assert_eq!(rec.meta_error_code, Some(138004), "{rec:?}");
    assert_eq!(t.graph_actions(&id), ["pre_accept", "reject"]);
    // sipp's scenario only succeeds when it received the CANCEL.
    tokio::task::spawn_blocking(move || pbx.assert_success(Duration::from_secs(10)))
        .await
        .unwrap();
    t.shutdown().await;
}

/// Callgate sends RTCP from its RTP port + 1 and reads baresip's reports there: the record
/// carries the PBX leg's round-trip time (loopback: well under 50 ms).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pbx_rtcp_reports_give_the_call_record_a_round_trip_time() {
    let (pbx, t, id) = pcmu_call_to_baresip_up().await;
    // Our first sender report goes out at once, then every 5 s; baresip reports every ~5 s.
    tokio::time::sleep(Duration::from_secs(12)).await;
    t.sandbox().hangup(&id).unwrap();
    let rec = ended_record(&t, &id, Duration::from_secs(5)).await;
    let stats = rec.stats.expect("media stats recorded");
    let rtt = stats["bridge"]["pbx_rtt_ms"].as_f64();
    assert!(
        rtt.is_some_and(|ms| (0.0..50.0).contains(&ms)),
        "no RTT from the PBX's RTCP: {stats}\nbaresip:\n{}",
        pbx.log()
    );
    t.shutdown().await;
}

/// How many 20 ms windows of `pcm`, 10 ms apart, a DTMF detector takes for `digit`: the
/// strongest row tone and the strongest column tone are the key's, the column tone no more
/// than 13 dB below the row tone (the echo crossed Opus twice, which can weaken the high tone),
/// and the caller's 440 Hz 10 dB below the row tone.
fn windows_with_dtmf(pcm: &[i16], rate: u32, digit: char) -> usize {
    use callgate::media::analysis::goertzel_power;
    const ROWS: [f64; 4] = [697.0, 770.0, 852.0, 941.0];
    const COLS: [f64; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
    let (row, col) = callgate::media::dtmf_tones::frequencies(digit).unwrap();
    let hop = rate as usize / 100;
    pcm.windows(2 * hop)
        .step_by(hop)
        .filter(|w| {
            let p = |hz| goertzel_power(w, rate, hz);
            let strongest = |tones: [f64; 4]| {
                tones
                    .into_iter()
                    .map(|hz| (hz, p(hz)))
                    .max_by(|a, b| a.1.total_cmp(&b.1))
                    .unwrap()
            };
            let ((r, pr), (c, pc)) = (strongest(ROWS), strongest(COLS));
            r == row && c == col && pc > pr / 20.0 && p(440.0) < pr / 10.0 && pr > 1e-6
        })
        .count()
}

/// sipp's UAS answers with PCMU and no telephone-event, and echoes what it gets: the WhatsApp
/// user's digit comes back as the two tones of the key, so the PBX heard it in-band.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsapp_digit_reaches_a_pbx_without_telephone_event_as_tones() {
    let (_pbx, t, id) = call_to_sipp_echo().await;
    t.sandbox().send_dtmf(&id, "5").unwrap();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("heard.wav");
    t.sandbox().write_recording(&id, &wav).await.unwrap();
    let (pcm, rate) = callgate::sandbox::phone::audio::read_wav_mono(&wav).unwrap();
    // The phone holds the key 100 ms; callgate plays at least 80 ms of tone (the bridge's unit
    // test asserts the length); a window counts when it lies inside the tone.
    let tone_ms = 10 * windows_with_dtmf(&pcm, rate, '5');
    assert!(
        tone_ms >= 50,
        "the echo carried {tone_ms} ms of 770 + 1336 Hz (digit 5), want 50 ms or more"
    );
    assert_eq!(windows_with_dtmf(&pcm, rate, '9'), 0, "no other key");
    t.sandbox().hangup(&id).unwrap();
    let rec = ended_record(&t, &id, Duration::from_secs(5)).await;
    let stats = rec.stats.expect("media stats recorded");
    assert_eq!(stats["bridge"]["dtmf_to_pbx"], 1, "{stats}");
    let media = t.gw.store.timeline(&id).unwrap();
    let media = media
        .iter()
        .find(|e| e.kind == "pbx.media")
        .expect("pbx.media");
    assert_eq!(media.detail["dtmf_to_pbx"], "inband", "{:?}", media.detail);
    t.shutdown().await;
}

/// A PBX that signals keys as SIP INFO (dtmf-relay and bare dtmf bodies): the WhatsApp user
/// receives them as RFC 4733 digits, and hears its own voice echoed meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pbx_keys_sent_as_sip_info_reach_the_whatsapp_user() {
    let mut pbx = Sipp::uas_echo("uas_info_dtmf.xml");
    let t = gateway(&pbx.uri(), &["pcmu"]).await;
    let id = user_calls(&t);
    let r = phone_until(&t, &id, Duration::from_secs(10), |r| {
        r.digits_received == "7#"
    })
    .await;
    assert_eq!(r.digits_received, "7#", "{r:?}\n{}", pbx.logs());
    assert!(
        near(r.dominant_hz, 440.0) && r.rms > 0.01,
        "the echo of the user's 440 Hz: {r:?}"
    );
    t.sandbox().hangup(&id).unwrap();
    let rec = ended_record(&t, &id, Duration::from_secs(5)).await;
    let stats = rec.stats.expect("media stats recorded");
    assert_eq!(stats["bridge"]["dtmf_to_wa"], 2, "{stats}");
    tokio::task::spawn_blocking(move || pbx.assert_success(Duration::from_secs(10)))
        .await
        .unwrap();
    t.shutdown().await;
}

/// A gateway like [`gateway`] whose PBX legs time out after 2 s without RTP or RTCP.
async fn gateway_with_rtp_timeout(target: &str) -> TestGateway {
    let target = target.to_string();
    common::start_with(move |c| {
        c.routing.default = Some(target);
        c.sip.codecs = vec!["pcmu".into()];
        c.sip.rtp_timeout_s = 2;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_pbx_gets_bye_after_the_rtp_timeout_and_the_user_call_is_terminated() {
    let mut pbx = Sipp::silent_uas();
    let t = gateway_with_rtp_timeout(&pbx.uri()).await;
    let id = user_calls(&t);
    let rec = ended_record(&t, &id, Duration::from_secs(10)).await;
    let reason = rec.end_reason.clone().unwrap_or_default();
    assert!(reason.contains("no RTP or RTCP"), "{rec:?}");
    assert_eq!(t.graph_actions(&id), ["pre_accept", "accept", "terminate"]);
    let silent_ms = rec.ended_at_ms.unwrap() - rec.accepted_at_ms.unwrap();
    assert!(
        (1_500..4_000).contains(&silent_ms),
        "ended {silent_ms} ms after accept, want about 2 s"
    );
    assert!(
        t.timeline_kinds(&id)
            .iter()
            .any(|k| k == "pbx.media_timeout")
    );
    let metrics = t.metrics().await;
    assert!(
        metrics.contains("callgate_pbx_rtp_timeouts_total"),
        "an operator can alert on PBXes that vanish:\n{metrics}"
    );
    // sipp's built-in UAS only succeeds once it got our BYE.
    tokio::task::spawn_blocking(move || pbx.assert_success(Duration::from_secs(10)))
        .await
        .unwrap();
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pbx_sending_media_outlives_the_rtp_timeout() {
    let pbx = Sipp::echo_uas();
    let t = gateway_with_rtp_timeout(&pbx.uri()).await;
    let id = user_calls(&t);
    let r = phone_until(&t, &id, Duration::from_secs(10), |r| {
        r.recorded_ms > 5000 && near(r.dominant_hz, 440.0)
    })
    .await;
    assert!(near(r.dominant_hz, 440.0), "{r:?}");
    let rec = t.gw.store.get_call(&id).unwrap().unwrap();
    assert_eq!(
        rec.ended_at_ms, None,
        "a PBX sending media is not timed out: {rec:?}"
    );
    t.sandbox().hangup(&id).unwrap();
    ended_record(&t, &id, Duration::from_secs(5)).await;
    t.shutdown().await;
}

/// A PBX that challenges our INVITE (401, digest MD5 qop=auth, user gw / s3cret, checked by
/// sipp) gets the `[sip] username/password`, answers, and echoes the user's voice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pbx_challenging_our_invite_gets_the_configured_digest_credentials() {
    let pbx = Sipp::uas_echo("uas_auth.xml");
    let target = pbx.uri();
    let t = common::start_with(move |c| {
        c.routing.default = Some(target);
        c.sip.codecs = vec!["pcmu".into()];
        c.sip.username = Some("gw".into());
        c.sip.password = Some(callgate::config::Secret::new("s3cret"));
    })
    .await;
    let id = user_calls(&t);
    phone_hears_its_echo(&t, &id, &pbx).await;
    user_hangs_up_and_sipp_passes(t, &id, pbx).await;
}
