//! Business-initiated calls end to end: `POST /v1/calls` bridges an agent's SIP phone (baresip)
//! and the sandbox's simulated WhatsApp user (who rings until picked up), in `agent_first` and
//! `user_first` mode, with audio checked at both ends (440 Hz from the user, 1000 Hz from the
//! agent), hang-ups from each side, and every permission refusal answered with its reason and
//! nothing sent to Meta. SIP phones dial WhatsApp users too: baresip, and sipp with a delayed
//! offer (INVITE without SDP, answered in the ACK, and an ACK that owes the answer).

mod common;
mod support;

use std::time::{Duration, Instant};

use callgate::sandbox::phone::MediaReport;
use callgate::sandbox::phone::audio::{dominant_frequency, rms};
use callgate::sandbox::state::PermissionKind;
use common::{API_TOKEN, TestGateway};
use serde_json::{Value, json};

const USER: &str = "16315553602";

fn near(hz: Option<f64>, expect: f64) -> bool {
    hz.is_some_and(|h| (h - expect).abs() < 15.0)
}

/// The 20 ms frames of `samples` that are not silent (the agent waits in silence while the
/// user's phone rings).
fn loud_part(samples: &[i16], rate: u32) -> Vec<i16> {
    samples
        .chunks(rate as usize / 50)
        .filter(|f| rms(f) > 0.01)
        .flatten()
        .copied()
        .collect()
}

/// The user's phone report once it heard `hz` for a second (or the last one after 10 s).
async fn user_hears(t: &TestGateway, meta: &str, hz: f64) -> MediaReport {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let r = t.sandbox().media_report(meta).await.unwrap();
        if (r.recorded_ms > 1000 && near(r.dominant_hz, hz)) || Instant::now() > end {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// How many Graph `connect` requests the sandbox received.
fn connects_sent(t: &TestGateway) -> usize {
    t.sandbox()
        .requests()
        .iter()
        .filter(|r| r.body["action"] == "connect")
        .count()
}

/// `POST /v1/calls` with `body`; returns (status, JSON).
async fn place(t: &TestGateway, body: Value) -> (u16, Value) {
    let r = t
        .http
        .post(t.url("/v1/calls"))
        .bearer_auth(API_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn get_call(t: &TestGateway, id: &str) -> Value {
    t.api_get(&format!("/v1/calls/{id}")).await
}

/// The Meta call id of our call once callgate has learned it.
async fn meta_id(t: &TestGateway, id: &str) -> String {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let c = get_call(t, id).await;
        if let Some(m) = c["call"]["meta_call_id"].as_str() {
            return m.to_string();
        }
        assert!(Instant::now() < end, "no Meta call id for {id}: {c}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_state(t: &TestGateway, id: &str, state: &str) -> Value {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let c = get_call(t, id).await;
        // "ended" counts once the end is recorded (who, why, duration), not just the state.
        let done = state != "ended" || !c["call"]["ended_at_ms"].is_null();
        if c["call"]["state"] == state && done {
            return c;
        }
        assert!(Instant::now() < end, "call {id} never reached {state}: {c}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Places an API call to baresip in `mode`; the user picks up; tones cross; `hang_up_by`
/// (`user` or `agent`) ends it.
async fn api_call_bridges_agent_and_user(mode: &str, hang_up_by: &str) {
    let pbx = support::baresip::start("auto", "pcmu");
    let t = common::start().await;
    t.sandbox()
        .set_permission(USER, PermissionKind::Permanent, None, true);
    let (status, body) = place(
        &t,
        json!({"to": format!("+{USER}"), "agent": pbx.uri("udp"), "mode": mode}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_string();
    let meta = meta_id(&t, &id).await;
    // The user's phone rings; nothing flows until the pick-up.
    let r = t.sandbox().media_report(&meta).await.unwrap();
    assert!(!r.connected, "media before the user picked up: {r:?}");
    t.sandbox().answer(&meta).unwrap();
    wait_state(&t, &id, "connected").await;
    let r = user_hears(&t, &meta, 1000.0).await;
    assert!(
        near(r.dominant_hz, 1000.0) && r.rms > 0.01,
        "the WhatsApp user did not hear the agent: {r:?}\n{}",
        get_call(&t, &id).await
    );
    tokio::time::sleep(Duration::from_millis(1000)).await;
    match hang_up_by {
        "user" => t.sandbox().hangup(&meta).unwrap(),
        _ => {
            pbx.command("hangup", "");
        }
    }
    let c = wait_state(&t, &id, "ended").await;
    let closed = support::wait_until(Duration::from_secs(5), || {
        let log = pbx.log();
        log.contains("closed") || log.contains("terminated")
    });
    assert!(closed, "the agent's call was not closed:\n{}", pbx.log());
    let (samples, rate) = pbx.heard().expect("baresip recorded the call");
    let heard = loud_part(&samples, rate);
    assert!(
        near(dominant_frequency(&heard, rate), 440.0) && rms(&heard) > 0.01,
        "the agent did not hear the user's 440 Hz ({} of {} samples loud)",
        heard.len(),
        samples.len()
    );
    let call = &c["call"];
    let expected_by = if hang_up_by == "user" {
        "user"
    } else {
        "business"
    };
    assert_eq!(call["ended_by"], expected_by, "{c}");
    assert_eq!(call["outcome"], "completed", "{c}");
    assert!(call["billing_pulses"].as_i64() >= Some(1), "{c}");
    assert_eq!(call["decision"]["allowed"], true, "{c}");
    assert!(
        call["decision"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("permanent")),
        "{c}"
    );
    if hang_up_by == "agent" {
        assert_terminated_at_meta(&t, &meta, "when the agent hangs up");
    }
    t.shutdown().await;
}

/// The runs of loud 20 ms frames of `samples`, in order; silences shorter than 300 ms (a
/// loaded machine's hiccups) do not split a run.
fn loud_runs(samples: &[i16], rate: u32) -> Vec<Vec<i16>> {
    const MAX_GAP_FRAMES: usize = 15;
    let mut runs: Vec<Vec<i16>> = Vec::new();
    let mut quiet = usize::MAX;
    for f in samples.chunks(rate as usize / 50) {
        if rms(f) <= 0.01 {
            quiet = quiet.saturating_add(1);
            continue;
        }
        match runs.last_mut() {
            Some(run) if quiet <= MAX_GAP_FRAMES => run.extend_from_slice(f),
            _ => runs.push(f.to_vec()),
        }
        quiet = 0;
    }
    runs
}

/// Whether `hz` is within 5 Hz of `expect` (425 Hz ringback vs 440 Hz voice).
fn close(hz: Option<f64>, expect: f64) -> bool {
    hz.is_some_and(|h| (h - expect).abs() < 5.0)
}

/// Places an API call from `agent` in `mode` and returns (callgate id, Meta id).
async fn place_to_agent(t: &TestGateway, agent: &str, mode: &str) -> (String, String) {
    t.sandbox()
        .set_permission(USER, PermissionKind::Permanent, None, true);
    let (status, body) = place(
        t,
        json!({"to": format!("+{USER}"), "agent": agent, "mode": mode}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_string();
    let meta = meta_id(t, &id).await;
    (id, meta)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_first_agent_hears_ringback_while_the_user_rings() {
    let pbx = support::baresip::start("auto", "pcmu");
    let t = common::start().await;
    let (id, meta) = place_to_agent(&t, &pbx.uri("udp"), "agent_first").await;
    // The user's phone rings for 2.5 s: one 1 s burst of the 425 Hz European ringback.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    t.sandbox().answer(&meta).unwrap();
    wait_state(&t, &id, "connected").await;
    let r = user_hears(&t, &meta, 1000.0).await;
    assert!(near(r.dominant_hz, 1000.0), "call not bridged: {r:?}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    t.sandbox().hangup(&meta).unwrap();
    wait_state(&t, &id, "ended").await;
    let closed = support::wait_until(Duration::from_secs(5), || pbx.log().contains("closed"));
    assert!(closed, "the agent's call was not closed:\n{}", pbx.log());
    let (samples, rate) = pbx.heard().expect("baresip recorded the call");
    let runs = loud_runs(&samples, rate);
    let secs = |run: &Vec<i16>| run.len() as f64 / f64::from(rate);
    let summary: Vec<_> = runs
        .iter()
        .map(|r| (dominant_frequency(r, rate), secs(r)))
        .collect();
    assert!(runs.len() >= 2, "ringback then the user: {summary:?}");
    let ring = &runs[0];
    assert!(
        close(dominant_frequency(ring, rate), 425.0) && (0.8..1.3).contains(&secs(ring)),
        "the agent did not hear one 1 s burst of 425 Hz ringback first: {summary:?}"
    );
    let voice = runs.last().unwrap();
    assert!(
        close(dominant_frequency(voice, rate), 440.0) && secs(voice) > 1.0,
        "after the ringback the agent hears the user's 440 Hz: {summary:?}"
    );
    assert!(t.timeline_kinds(&id).iter().any(|k| k == "ringback"));
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_first_user_hears_ringback_while_the_agent_rings() {
    let pbx = support::baresip::start("manual", "pcmu");
    let t = common::start().await;
    let (id, meta) = place_to_agent(&t, &pbx.uri("udp"), "user_first").await;
    t.sandbox().answer(&meta).unwrap();
    // The user is on the line; the agent's phone rings (manual answer).
    let r = user_hears(&t, &meta, 425.0).await;
    assert!(
        close(r.dominant_hz, 425.0) && r.rms > 0.01,
        "the user did not hear the 425 Hz ringback while the agent rang: {r:?}\n{}",
        get_call(&t, &id).await
    );
    let ringing = support::wait_until(Duration::from_secs(5), || {
        pbx.log().to_lowercase().contains("incoming call")
    });
    assert!(ringing, "the agent's phone never rang:\n{}", pbx.log());
    pbx.command("accept", "");
    wait_state(&t, &id, "connected").await;
    let r = user_hears(&t, &meta, 1000.0).await;
    assert!(
        near(r.dominant_hz, 1000.0) && r.rms > 0.01,
        "after the agent answered the user hears the agent: {r:?}"
    );
    t.sandbox().hangup(&meta).unwrap();
    wait_state(&t, &id, "ended").await;
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_call_agent_first_bridges_baresip_and_the_user_who_hangs_up() {
    api_call_bridges_agent_and_user("agent_first", "user").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_call_user_first_bridges_the_user_and_baresip_who_hangs_up() {
    api_call_bridges_agent_and_user("user_first", "agent").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_call_without_permission_is_refused_with_reason_and_nothing_reaches_meta() {
    let t = common::start().await;
    let (status, body) = place(&t, json!({"to": USER, "agent": "sip:a@127.0.0.1:5999"})).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"], "no_permission");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("permission request")),
        "{body}"
    );
    assert_eq!(connects_sent(&t), 0, "nothing may be sent to Meta");
    t.shutdown().await;
}

/// The Meta call id of the only business-initiated call the sandbox has seen.
async fn sandbox_bic(t: &TestGateway) -> String {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(c) = t
            .sandbox()
            .calls()
            .into_iter()
            .find(|c| c.direction == callgate::sandbox::state::Direction::BusinessInitiated)
        {
            return c.id;
        }
        assert!(
            Instant::now() < end,
            "no business-initiated call reached the sandbox"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Asserts that callgate ended the WhatsApp call `meta` with a `terminate` (`why`: the scenario).
fn assert_terminated_at_meta(t: &TestGateway, meta: &str, why: &str) {
    let meta_state = t.sandbox().call_state(meta).unwrap();
    assert_eq!(
        meta_state.end_reason.as_deref(),
        Some("business_terminate"),
        "callgate must terminate at Meta {why}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baresip_dials_a_whatsapp_number_through_callgate_and_hears_ringing_then_the_user() {
    let phone = support::baresip::start("manual", "pcmu");
    let t = common::start().await;
    t.sandbox()
        .set_permission(USER, PermissionKind::Temporary, None, true);
    let sip = t.gw.sip_addr;
    phone.command("dial", &format!("sip:+{USER}@{sip}"));
    let meta = sandbox_bic(&t).await;
    let ringing = support::wait_until(Duration::from_secs(5), || {
        phone.log().contains("Call ringing") || phone.log().contains("180 Ringing")
    });
    assert!(ringing, "no 180 on RINGING:\n{}", phone.log());
    t.sandbox().answer(&meta).unwrap();
    let established = support::wait_until(Duration::from_secs(10), || {
        phone.log().contains("Call established")
    });
    assert!(
        established,
        "no 200 OK once the user answered:\n{}",
        phone.log()
    );
    let r = user_hears(&t, &meta, 1000.0).await;
    assert!(
        near(r.dominant_hz, 1000.0) && r.rms > 0.01,
        "the WhatsApp user did not hear the phone: {r:?}"
    );
    tokio::time::sleep(Duration::from_millis(1000)).await;
    // The phone hangs up: BYE -> terminate at Meta.
    phone.command("hangup", "");
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let meta_state = t.sandbox().call_state(&meta).unwrap();
        if meta_state.end_reason.is_some() {
            assert_eq!(meta_state.end_reason.as_deref(), Some("business_terminate"));
            break;
        }
        assert!(
            Instant::now() < end,
            "the phone's BYE did not terminate the WhatsApp call"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (samples, rate) = phone.heard().expect("baresip recorded the call");
    let heard = loud_part(&samples, rate);
    assert!(
        near(dominant_frequency(&heard, rate), 440.0),
        "the phone did not hear the user's 440 Hz"
    );
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phone_call_without_permission_gets_403_with_the_reason_and_nothing_reaches_meta() {
    let phone = support::baresip::start("manual", "pcmu");
    let t = common::start().await;
    phone.command("dial", &format!("sip:{USER}@{}", t.gw.sip_addr));
    let refused = support::wait_until(Duration::from_secs(5), || phone.log().contains("403"));
    assert!(
        refused,
        "no 403 for a user without permission:\n{}",
        phone.log()
    );
    assert_eq!(connects_sent(&t), 0, "nothing may be sent to Meta");
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phone_call_refusal_says_why_in_the_warning_header() {
    let t = common::start().await;
    let mut uac = support::sipp::Sipp::uac(
        "uac_refused.xml",
        t.gw.sip_addr,
        &format!("+{USER}"),
        &[
            ("STATUS", "403"),
            ("WHY", "permission"),
            ("NUMBER", "15550000001"),
        ],
    );
    tokio::task::spawn_blocking(move || uac.assert_success(Duration::from_secs(15)))
        .await
        .unwrap();
    t.shutdown().await;
}

/// A gateway whose phones must authenticate as agents / `password`.
async fn gateway_with_phone_password(password: &str) -> TestGateway {
    let password = password.to_string();
    common::start_with(move |c| {
        c.sip_phones.username = Some("agents".into());
        c.sip_phones.password = Some(callgate::config::Secret::new(&password));
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phone_with_the_right_digest_password_reaches_the_user_who_hangs_up_first() {
    let phone =
        support::baresip::start_with("manual", "pcmu", ";auth_user=agents;auth_pass=s3cret-pw");
    let t = gateway_with_phone_password("s3cret-pw").await;
    t.sandbox()
        .set_permission(USER, PermissionKind::Permanent, None, true);
    phone.command("dial", &format!("sip:{USER}@{}", t.gw.sip_addr));
    let meta = sandbox_bic(&t).await;
    t.sandbox().answer(&meta).unwrap();
    let established = support::wait_until(Duration::from_secs(10), || {
        phone.log().contains("Call established")
    });
    assert!(
        established,
        "the authenticated call did not connect:\n{}",
        phone.log()
    );
    let r = user_hears(&t, &meta, 1000.0).await;
    assert!(near(r.dominant_hz, 1000.0), "{r:?}");
    // The WhatsApp user hangs up: terminate webhook -> BYE to the phone.
    t.sandbox().hangup(&meta).unwrap();
    let closed = support::wait_until(Duration::from_secs(5), || phone.log().contains("closed"));
    assert!(closed, "the phone never got our BYE:\n{}", phone.log());
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phone_with_a_wrong_digest_password_is_refused_and_nothing_reaches_meta() {
    let phone = support::baresip::start_with("manual", "pcmu", ";auth_user=agents;auth_pass=wrong");
    let t = gateway_with_phone_password("s3cret-pw").await;
    t.sandbox()
        .set_permission(USER, PermissionKind::Permanent, None, true);
    phone.command("dial", &format!("sip:{USER}@{}", t.gw.sip_addr));
    let refused = support::wait_until(Duration::from_secs(5), || phone.log().contains("403"));
    assert!(
        refused,
        "a wrong password was not refused:\n{}",
        phone.log()
    );
    assert_eq!(connects_sent(&t), 0, "nothing may be sent to Meta");
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_hangs_up_an_api_call_and_terminates_it_at_meta() {
    let pbx = support::baresip::start("auto", "pcmu");
    let t = common::start().await;
    t.sandbox()
        .set_permission(USER, PermissionKind::Permanent, None, true);
    let (status, body) = place(&t, json!({"to": USER, "agent": pbx.uri("udp")})).await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_string();
    let meta = meta_id(&t, &id).await;
    t.sandbox().answer(&meta).unwrap();
    wait_state(&t, &id, "connected").await;
    let r = t
        .http
        .delete(t.url(&format!("/v1/calls/{id}")))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    let c = wait_state(&t, &id, "ended").await;
    assert_eq!(c["call"]["ended_by"], "operator", "{c}");
    assert_terminated_at_meta(&t, &meta, "when the operator hangs up");
    let closed = support::wait_until(Duration::from_secs(5), || pbx.log().contains("closed"));
    assert!(closed, "the agent's call was not hung up:\n{}", pbx.log());
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn business_calls_outside_hours_get_409_from_the_api_and_480_with_retry_after_over_sip() {
    let t = common::start_with(|c| c.numbers[0].hours = Some(common::hours::closed_now())).await;
    t.sandbox()
        .set_permission(USER, PermissionKind::Permanent, None, true);
    let (status, body) = place(&t, json!({"to": USER, "agent": "sip:a@127.0.0.1:5999"})).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"], "outside_business_hours", "{body}");
    assert!(body["next_allowed_at"].is_string(), "{body}");
    let mut uac = support::sipp::Sipp::uac(
        "uac_refused_retry.xml",
        t.gw.sip_addr,
        USER,
        &[("STATUS", "480"), ("WHY", "business hours")],
    );
    tokio::task::spawn_blocking(move || uac.assert_success(Duration::from_secs(15)))
        .await
        .unwrap();
    assert_eq!(connects_sent(&t), 0, "nothing may be sent to Meta");
    t.shutdown().await;
}

/// The kinds of a call's timeline (from `GET /v1/calls/{id}`), in order.
fn timeline_kinds(c: &Value) -> Vec<&str> {
    c["timeline"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["kind"].as_str())
        .collect()
}

/// A gateway whose user has call permission, dialled by sipp running `scenario`: a
/// delayed-offer call (INVITE without SDP, Cisco CUCM's trunk default) that echoes all RTP it
/// receives and hangs up 8 s after its ACK when the scenario gets that far. The user picks up;
/// returns the gateway, sipp and the Meta call id.
async fn late_offer_call(scenario: &str) -> (TestGateway, support::sipp::Sipp, String) {
    let t = common::start().await;
    t.sandbox()
        .set_permission(USER, PermissionKind::Permanent, None, true);
    let uac = support::sipp::Sipp::uac_echo(
        scenario,
        t.gw.sip_addr,
        &format!("+{USER}"),
        &[("TALK_MS", "8000")],
    );
    let meta = sandbox_bic(&t).await;
    t.sandbox().answer(&meta).unwrap();
    (t, uac, meta)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_dials_with_a_delayed_offer_answers_in_the_ack_and_the_user_hears_its_tone_echoed() {
    let (t, mut uac, meta) = late_offer_call("uac_late_offer.xml").await;
    let c = wait_state(&t, &meta, "connected").await;
    let r = user_hears(&t, &meta, 440.0).await;
    assert!(
        near(r.dominant_hz, 440.0) && r.rms > 0.01,
        "the WhatsApp user did not hear its 440 Hz echoed by sipp: {r:?}\n{c}\n{}",
        uac.logs()
    );
    // sipp hangs up after its talk time: BYE -> terminate at Meta.
    tokio::task::spawn_blocking(move || uac.assert_success(Duration::from_secs(20)))
        .await
        .unwrap();
    let c = wait_state(&t, &meta, "ended").await;
    assert_eq!(c["call"]["ended_by"], "business", "{c}");
    assert_eq!(c["call"]["outcome"], "completed", "{c}");
    // Our offer went in the 200 OK; the media became known from sipp's ACK.
    let kinds = timeline_kinds(&c);
    let offered = kinds.iter().position(|k| *k == "pbx.delayed_offer");
    let answered = kinds.iter().position(|k| *k == "pbx.media");
    assert!(
        offered.is_some() && answered > offered,
        "the timeline must show the delayed offer, then the media: {c}"
    );
    let media = c["timeline"]
        .as_array()
        .and_then(|tl| tl.iter().find(|e| e["kind"] == "pbx.media"))
        .unwrap_or_else(|| panic!("no pbx.media in the timeline: {c}"));
    assert_eq!(media["detail"]["codec"], "PCMU", "{c}");
    assert!(
        media["detail"]["remote"]
            .as_str()
            .is_some_and(|a| a.starts_with("127.0.0.1:")),
        "{c}"
    );
    assert_terminated_at_meta(&t, &meta, "when sipp hangs up");
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_dials_with_a_delayed_offer_and_acks_without_sdp_so_callgate_hangs_up_both_sides() {
    let (t, mut uac, meta) = late_offer_call("uac_late_offer_no_answer.xml").await;
    // The scenario succeeds only when callgate's BYE arrived after the ACK without SDP.
    tokio::task::spawn_blocking(move || uac.assert_success(Duration::from_secs(20)))
        .await
        .unwrap();
    let c = wait_state(&t, &meta, "ended").await;
    let why = c["call"]["end_reason"].as_str().unwrap_or_default();
    assert!(
        why.starts_with("media_failed") && why.contains("no SDP answer"),
        "the record must say why: {c}"
    );
    assert_eq!(c["call"]["ended_by"], "callgate", "{c}");
    let kinds = timeline_kinds(&c);
    assert!(
        kinds.contains(&"pbx.delayed_offer") && kinds.contains(&"pbx.media_failed"),
        "the timeline must show the delayed offer and why the media failed: {c}"
    );
    assert_terminated_at_meta(&t, &meta, "when the phone's ACK has no answer");
    t.shutdown().await;
}

/// A gateway with a second business number (`+15550000002`, id 100000000000002).
async fn gateway_with_two_numbers() -> TestGateway {
    common::start_with(|c| {
        let mut support = c.numbers[0].clone();
        support.phone_number_id = "100000000000002".into();
        support.display_phone_number = "15550000002".into();
        c.numbers.push(support);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pbx_chooses_the_business_number_a_phone_call_goes_out_from() {
    let t = gateway_with_two_numbers().await;
    t.sandbox()
        .set_permission(USER, PermissionKind::Permanent, None, true);
    let mut uac = support::sipp::Sipp::uac_echo(
        "uac_business_number.xml",
        t.gw.sip_addr,
        &format!("+{USER}"),
        &[("NUMBER", "+15550000002"), ("TALK_MS", "4000")],
    );
    let meta = sandbox_bic(&t).await;
    t.sandbox().answer(&meta).unwrap();
    let r = user_hears(&t, &meta, 440.0).await;
    assert!(
        near(r.dominant_hz, 440.0) && r.rms > 0.01,
        "the user did not hear its 440 Hz echoed by sipp: {r:?}\n{}",
        uac.logs()
    );
    let connect = t
        .sandbox()
        .requests()
        .into_iter()
        .find(|r| r.body["action"] == "connect")
        .expect("a connect request");
    assert!(
        connect.path.contains("100000000000002"),
        "connect must go out from the chosen number: {}",
        connect.path
    );
    tokio::task::spawn_blocking(move || uac.assert_success(Duration::from_secs(20)))
        .await
        .unwrap();
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phone_call_from_an_unknown_business_number_gets_404_and_nothing_reaches_meta() {
    let t = gateway_with_two_numbers().await;
    let mut uac = support::sipp::Sipp::uac(
        "uac_refused.xml",
        t.gw.sip_addr,
        &format!("+{USER}"),
        &[
            ("STATUS", "404"),
            ("WHY", "not a business number"),
            ("NUMBER", "+15559999999"),
        ],
    );
    tokio::task::spawn_blocking(move || uac.assert_success(Duration::from_secs(15)))
        .await
        .unwrap();
    assert_eq!(connects_sent(&t), 0, "nothing may be sent to Meta");
    t.shutdown().await;
}

/// `user_first` to an agent behind a queue that plays early media (183 with SDP; sipp echoes the
/// user's voice as its "announcement"): the user hears it, not our ringback, while the agent's
/// phone has not answered; then the 200 connects the call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_first_user_hears_the_queues_early_media_until_the_agent_answers() {
    let mut queue =
        support::sipp::Sipp::uas_echo_with("uas_early_media.xml", &[("RING_MS", "4000")]);
    let t = common::start().await;
    let (id, meta) = place_to_agent(&t, &queue.uri(), "user_first").await;
    t.sandbox().answer(&meta).unwrap();
    let r = user_hears(&t, &meta, 440.0).await;
    assert!(
        close(r.dominant_hz, 440.0) && r.rms > 0.01,
        "the user did not hear the queue's early media (its own voice echoed): {r:?}\n{}",
        queue.logs()
    );
    let c = get_call(&t, &id).await;
    assert_ne!(
        c["call"]["state"], "connected",
        "the agent has not answered yet: {c}"
    );
    assert!(timeline_kinds(&c).contains(&"pbx.early_media"), "{c}");
    wait_state(&t, &id, "connected").await;
    t.sandbox().hangup(&meta).unwrap();
    wait_state(&t, &id, "ended").await;
    tokio::task::spawn_blocking(move || queue.assert_success(Duration::from_secs(10)))
        .await
        .unwrap();
    t.shutdown().await;
}
