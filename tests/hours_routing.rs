//! Business hours and routing rules end to end: the sandbox's WhatsApp phone calls the business,
//! callgate decides from the number's hours and `[[routing.rules]]`, and the call reaches a real
//! SIP peer (baresip) with audio both ways (440 Hz from the phone, 1000 Hz from baresip), or is
//! rejected at Meta with the reason in the call record. Failover is proven against sipp (503,
//! ringing without answer) and a target that never answers. Also `callgate route`, the dry run.

mod common;
mod support;

use std::time::Duration;

use callgate::policy::routing::RoutingRule;
use callgate::sandbox::UserCall;
use common::calls::{ended_record, near, phone_until};
use common::hours::{closed_now, open_all_week};
use common::process::output_ok;
use common::{PNID, TestGateway};
use support::baresip::Baresip;
use support::sipp::Sipp;

const CALLER: &str = "5511987650000";

/// A SIP target that is bound but never answers.
fn silent_target() -> (std::net::UdpSocket, String) {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let uri = format!("sip:agents@{}", s.local_addr().unwrap());
    (s, uri)
}

/// A gateway (PCMU toward the PBX, 2 s setup timeout) with `tweak` applied.
async fn gateway(tweak: impl FnOnce(&mut callgate::config::Config)) -> TestGateway {
    common::start_with(move |c| {
        c.sip.codecs = vec!["pcmu".into()];
        c.sip.setup_timeout_s = 2;
        tweak(c);
    })
    .await
}

fn calls(t: &TestGateway, cta: Option<&str>) -> String {
    let mut call = UserCall::new(CALLER, PNID);
    call.cta_payload = cta.map(String::from);
    t.sandbox().simulate_user_call(call).expect("sandbox call")
}

/// The phone hears baresip's 1000 Hz and baresip the phone's 440 Hz; the phone hangs up.
async fn tones_cross(t: &TestGateway, id: &str, pbx: &Baresip) {
    let r = phone_until(t, id, Duration::from_secs(15), |r| {
        r.recorded_ms > 1500 && near(r.dominant_hz, 1000.0)
    })
    .await;
    assert!(
        near(r.dominant_hz, 1000.0) && r.rms > 0.01,
        "the WhatsApp user did not hear baresip: {r:?}\ntimeline: {:?}\n{}",
        t.timeline_kinds(id),
        pbx.log()
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    t.sandbox().hangup(id).unwrap();
    ended_record(t, id, Duration::from_secs(5)).await;
    let closed = support::wait_until(Duration::from_secs(5), || pbx.log().contains("closed"));
    assert!(closed, "baresip never saw our BYE:\n{}", pbx.log());
    let (samples, rate) = pbx.heard().expect("baresip recorded the call");
    let tail = &samples[(rate as usize / 2).min(samples.len())..];
    let hz = callgate::sandbox::phone::audio::dominant_frequency(tail, rate);
    let level = callgate::sandbox::phone::audio::rms(tail);
    assert!(
        near(hz, 440.0),
        "baresip did not hear the phone's 440 Hz: {hz:?} at rms {level} over {} samples at {rate} Hz; \
         stats {:?}",
        tail.len(),
        t.gw.store.get_call(id).unwrap().and_then(|r| r.stats)
    );
}

/// The reason of the call's policy decision, from its timeline.
fn policy_reason(t: &TestGateway, id: &str) -> String {
    let timeline = t.gw.store.timeline(id).unwrap();
    let e = timeline
        .iter()
        .find(|e| e.kind == "policy.decision")
        .expect("policy decision recorded");
    e.detail["reason"].as_str().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_outside_hours_reaches_the_after_hours_target() {
    let voicemail = support::baresip::start("auto", "pcmu");
    let (_silent, agents) = silent_target();
    let after_hours = voicemail.uri("udp");
    let t = gateway(move |c| {
        c.routing.default = Some(agents);
        c.numbers[0].hours = Some(closed_now());
        c.numbers[0].after_hours = Some(after_hours);
    })
    .await;
    let id = calls(&t, None);
    tones_cross(&t, &id, &voicemail).await;
    let rec = t.gw.store.get_call(&id).unwrap().unwrap();
    assert_eq!(rec.sip_target, Some(voicemail.uri("udp")), "{rec:?}");
    let reason = policy_reason(&t, &id);
    assert!(
        reason.starts_with("outside business hours (closed: no opening hours on")
            && reason.contains("after-hours target"),
        "{reason}"
    );
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_inside_hours_reaches_the_normal_target() {
    let agents = support::baresip::start("auto", "pcmu");
    let (_silent, voicemail) = silent_target();
    let default = agents.uri("udp");
    let t = gateway(move |c| {
        c.routing.default = Some(default);
        c.numbers[0].hours = Some(open_all_week());
        c.numbers[0].after_hours = Some(voicemail);
    })
    .await;
    let id = calls(&t, None);
    tones_cross(&t, &id, &agents).await;
    let rec = t.gw.store.get_call(&id).unwrap().unwrap();
    assert_eq!(rec.sip_target, Some(agents.uri("udp")));
    assert!(policy_reason(&t, &id).starts_with("open: "));
    t.shutdown().await;
}

#[tokio::test]
async fn call_outside_hours_with_reject_is_rejected_at_meta_with_the_reason() {
    let t = gateway(|c| {
        c.routing.default = Some("sip:agents@127.0.0.1:9".into());
        c.numbers[0].hours = Some(closed_now());
    })
    .await;
    let id = calls(&t, None);
    let rec = ended_record(&t, &id, Duration::from_secs(5)).await;
    let reason = rec.end_reason.unwrap_or_default();
    assert!(
        reason.starts_with("denied: outside business hours (closed: ")
            && reason.contains("; opens ")
            && reason.ends_with("after_hours = \"reject\""),
        "{reason}"
    );
    assert_eq!(t.graph_actions(&id), ["reject"], "no pre_accept, no PBX");
    let meta = t.sandbox().call_state(&id).unwrap();
    assert_eq!(meta.end_reason.as_deref(), Some("business_reject"));
    t.shutdown().await;
}

fn rule(f: impl FnOnce(&mut RoutingRule)) -> RoutingRule {
    let mut r = RoutingRule::default();
    f(&mut r);
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payload_and_country_rule_rings_its_target_with_audio() {
    let sales = support::baresip::start("auto", "pcmu");
    let (_silent, dead) = silent_target();
    let (rule_target, d1, d2) = (sales.uri("udp"), dead.clone(), dead.clone());
    let t = gateway(move |c| {
        c.routing.default = Some(d1);
        c.routing.rules = vec![
            rule(|r| {
                r.name = Some("us sales".into());
                r.cta_payload_prefix = Some("sales-".into());
                r.caller_country_codes = vec!["1".into()];
                r.targets = vec![d2];
            }),
            rule(|r| {
                r.name = Some("brazil sales".into());
                r.cta_payload_prefix = Some("sales-".into());
                r.caller_country_codes = vec!["55".into()];
                r.targets = vec![rule_target];
            }),
        ];
    })
    .await;
    let id = calls(&t, Some("sales-42"));
    tones_cross(&t, &id, &sales).await;
    let reason = policy_reason(&t, &id);
    assert!(
        reason.contains("rule 2 \"brazil sales\" (number open; cta_payload \"sales-42\" starts with \"sales-\"; caller 5511987650000 has country code in [55])"),
        "{reason}"
    );
    t.shutdown().await;
}

/// A gateway whose only rule rings `first`, then baresip.
async fn failover_gateway(first: String, second: &Baresip, ring_s: Option<u64>) -> TestGateway {
    let second = second.uri("udp");
    gateway(move |c| {
        c.routing.rules = vec![rule(|r| {
            r.name = Some("agents".into());
            r.targets = vec![first, second];
            r.ring_timeout_s = ring_s;
        })];
    })
    .await
}

fn failover_note(t: &TestGateway, id: &str) -> serde_json::Value {
    let timeline = t.gw.store.timeline(id).unwrap();
    timeline
        .into_iter()
        .find(|e| e.kind == "pbx.failover")
        .map(|e| e.detail)
        .unwrap_or_else(|| panic!("no failover in {:?}", t.timeline_kinds(id)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_target_503_fails_over_to_the_second_with_audio() {
    let mut first = Sipp::uas(
        "uas_reject.xml",
        "udp",
        &[("STATUS", "503 Service Unavailable")],
    );
    let second = support::baresip::start("auto", "pcmu");
    let t = failover_gateway(first.uri(), &second, None).await;
    let id = calls(&t, None);
    tones_cross(&t, &id, &second).await;
    let note = failover_note(&t, &id);
    assert_eq!(note["failure"], "pbx_server_error", "{note}");
    assert_eq!(note["status"], 503);
    assert_eq!(note["to"], second.uri("udp"));
    let rec = t.gw.store.get_call(&id).unwrap().unwrap();
    assert_eq!(
        rec.sip_target,
        Some(second.uri("udp")),
        "the record names the target that answered"
    );
    assert_eq!(t.graph_actions(&id), ["pre_accept", "accept"]);
    tokio::task::spawn_blocking(move || first.assert_success(Duration::from_secs(10)))
        .await
        .unwrap();
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_target_ringing_without_answer_is_cancelled_and_the_second_answers() {
    let mut first = Sipp::uas("uas_ring_cancel.xml", "udp", &[]);
    let second = support::baresip::start("auto", "pcmu");
    let t = failover_gateway(first.uri(), &second, Some(3)).await;
    let id = calls(&t, None);
    tones_cross(&t, &id, &second).await;
    assert_eq!(failover_note(&t, &id)["failure"], "pbx_no_answer");
    // sipp succeeds only if it got our CANCEL and the ACK of its 487 (from the retired leg).
    tokio::task::spawn_blocking(move || first.assert_success(Duration::from_secs(10)))
        .await
        .unwrap();
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_first_target_fails_over_after_the_setup_timeout() {
    let (_silent, first) = silent_target();
    let second = support::baresip::start("auto", "pcmu");
    let t = failover_gateway(first, &second, None).await;
    let id = calls(&t, None);
    tones_cross(&t, &id, &second).await;
    assert_eq!(failover_note(&t, &id)["failure"], "pbx_unreachable");
    t.shutdown().await;
}

#[test]
fn route_dry_run_prints_the_matching_rule_and_why() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("callgate.toml");
    let text = callgate::config::DEFAULT_CONFIG.replace(
        "display_phone_number = \"15550000001\"\n",
        "display_phone_number = \"15550000001\"\nafter_hours = \"sip:voicemail@pbx.example.com\"\n\
         [numbers.hours]\nstatus = \"ENABLED\"\ntimezone_id = \"America/Manaus\"\n\
         weekly_operating_hours = [{ day_of_week = \"MONDAY\", open_time = \"0900\", close_time = \"1800\" }]\n",
    ) + "\n[[routing.rules]]\nname = \"sales\"\ncta_payload_prefix = \"sales-\"\n\
         targets = [\"sip:sales@pbx.example.com\", \"sip:sales@backup.example.com\"]\n";
    std::fs::write(&path, text).unwrap();
    let run = |args: &[&str]| {
        let out = output_ok(
            std::process::Command::new(env!("CARGO_BIN_EXE_callgate"))
                .arg("route")
                .arg("--config")
                .arg(&path)
                .args(args),
            "callgate route",
        );
        String::from_utf8(out.stdout).unwrap()
    };
    // Monday 2027-01-04 10:00 in Manaus (UTC-4): open, the sales rule matches.
    let open = run(&[
        "--number",
        "15550000001",
        "--from",
        CALLER,
        "--payload",
        "sales-9",
        "--at",
        "2027-01-04T10:00",
    ]);
    assert!(
        open.contains("hours ([numbers.hours]): open: MONDAY 0900-1800 (MONDAY 10:00)"),
        "{open}"
    );
    assert!(
        open.contains(
            "rule 1 \"sales\": matches: number open; cta_payload \"sales-9\" starts with \"sales-\""
        ),
        "{open}"
    );
    assert!(
        open.contains(
            "decision: ring sip:sales@pbx.example.com, then sip:sales@backup.example.com"
        ),
        "{open}"
    );
    // The same call at 20:00 UTC on Tuesday: closed, so the after-hours target.
    let closed = run(&[
        "--number",
        PNID,
        "--from",
        CALLER,
        "--payload",
        "sales-9",
        "--at",
        "2027-01-05T20:00:00Z",
    ]);
    assert!(
        closed.contains("closed: no opening hours on TUESDAY (TUESDAY 16:00)"),
        "{closed}"
    );
    assert!(
        closed.contains("opens 2027-01-11T09:00:00-04:00"),
        "{closed}"
    );
    assert!(
        closed.contains("rule 1 \"sales\": skipped: applies while open, and the number is closed"),
        "{closed}"
    );
    assert!(
        closed.contains("decision: ring sip:voicemail@pbx.example.com"),
        "{closed}"
    );
}
