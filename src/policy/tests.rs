//! Policy decisions at fixed instants: hours + routing rules + after-hours actions for user calls,
//! the business-hours verdict of business-initiated calls, and hours replaced at run time.

use super::*;
use crate::config::{DEFAULT_CONFIG, load_str};
use jiff::Timestamp;

const PNID: &str = "100000000000001";

/// The default configuration with `number` appended to its number entry and `rest` at the end.
fn policy(number: &str, rest: &str) -> Policy {
    let text = DEFAULT_CONFIG.replace(
        "display_phone_number = \"15550000001\"\n",
        &format!("display_phone_number = \"15550000001\"\n{number}\n"),
    );
    let text = format!("{text}\n{rest}").replace(
        "# default = \"sip:agents@pbx.example.com:5060\"",
        "default = \"sip:agents@pbx.example.com\"",
    );
    let cfg = load_str("t.toml", &text, Vec::new()).expect("valid configuration");
    Policy::from_config(&cfg)
}

const WEEKDAYS_BERLIN: &str = r#"[numbers.hours]
status = "ENABLED"
timezone_id = "Europe/Berlin"
weekly_operating_hours = [
  { day_of_week = "MONDAY", open_time = "0900", close_time = "1700" },
  { day_of_week = "TUESDAY", open_time = "0900", close_time = "1700" },
]
holiday_schedule = [{ date = "2027-01-05", start_time = "0000", end_time = "2359" }]"#;

/// Monday 2027-01-04 10:00 and 20:00 in Berlin (CET, +01).
fn monday_open() -> Timestamp {
    "2027-01-04T09:00:00Z".parse().unwrap()
}
fn monday_closed() -> Timestamp {
    "2027-01-04T19:00:00Z".parse().unwrap()
}

fn call(cta: Option<&str>, from: &str) -> UserCallParams {
    UserCallParams {
        call_id: "wacid.T".into(),
        phone_number_id: PNID.into(),
        from: Some(from.into()),
        to: "15550000001".into(),
        cta_payload: cta.map(String::from),
        ..UserCallParams::default()
    }
}

fn targets(d: &Decision) -> Vec<String> {
    d.route
        .as_ref()
        .map(|r| r.targets.clone())
        .unwrap_or_default()
}

#[test]
fn call_outside_hours_is_rejected_with_the_reason_and_next_opening() {
    let p = policy(WEEKDAYS_BERLIN, "");
    let d = p
        .explain_user_call(&call(None, "4915112345678"), monday_closed())
        .decision;
    assert!(!d.allowed);
    assert_eq!(
        d.reason,
        "outside business hours (closed: outside 0900-1700 (MONDAY 20:00)); opens \
         2027-01-11T09:00:00+01:00; after_hours = \"reject\"",
        "Tuesday is a holiday and Wednesday has no hours, so next Monday opens"
    );
    assert!(matches!(
        d.into_input(),
        crate::call::Input::PolicyDecision { allowed: false, .. }
    ));
}

#[test]
fn call_outside_hours_goes_to_the_after_hours_target_and_inside_to_the_default() {
    let p = policy(
        &format!("after_hours = \"sip:voicemail@pbx.example.com\"\n{WEEKDAYS_BERLIN}"),
        "",
    );
    let closed = p
        .explain_user_call(&call(None, "4915112345678"), monday_closed())
        .decision;
    assert!(closed.allowed);
    assert_eq!(targets(&closed), ["sip:voicemail@pbx.example.com"]);
    assert!(
        closed.reason.starts_with("outside business hours (closed"),
        "{}",
        closed.reason
    );
    let open = p
        .explain_user_call(&call(None, "4915112345678"), monday_open())
        .decision;
    assert_eq!(targets(&open), ["sip:agents@pbx.example.com"]);
    assert!(
        open.reason.starts_with("open: MONDAY 0900-1700"),
        "{}",
        open.reason
    );
}

const RULES: &str = r#"
[[routing.rules]]
name = "brazil sales"
cta_payload_prefix = "sales-"
caller_country_codes = ["55"]
targets = ["sip:vendas@pbx.example.com", "sip:vendas@backup.example.com"]
ring_timeout_s = 12

[[routing.rules]]
name = "support line after hours"
hours = "closed"
deeplink_payload = "support"
targets = ["sip:oncall@pbx.example.com"]
"#;

#[test]
fn payload_and_country_rules_choose_targets_with_their_ring_timeout() {
    let p = policy(WEEKDAYS_BERLIN, RULES);
    let e = p.explain_user_call(&call(Some("sales-7"), "5511987650000"), monday_open());
    assert_eq!(
        targets(&e.decision),
        [
            "sip:vendas@pbx.example.com",
            "sip:vendas@backup.example.com"
        ]
    );
    assert_eq!(
        e.decision.route.unwrap().ring_timeout,
        Some(std::time::Duration::from_secs(12))
    );
    assert_eq!(
        e.lines.last().unwrap(),
        "decision: ring sip:vendas@pbx.example.com, then sip:vendas@backup.example.com (12 s each)"
    );
    // A German caller with the same payload falls through to the default.
    let e = p.explain_user_call(&call(Some("sales-7"), "4915112345678"), monday_open());
    assert_eq!(targets(&e.decision), ["sip:agents@pbx.example.com"]);
    assert!(
        e.lines
            .iter()
            .any(|l| l == "rule 1 \"brazil sales\": skipped: caller 4915112345678 has no country code in [55]"),
        "{:#?}",
        e.lines
    );
}

#[test]
fn a_closed_hours_rule_wins_over_the_after_hours_action() {
    let p = policy(WEEKDAYS_BERLIN, RULES);
    let mut c = call(None, "4915112345678");
    c.deeplink_payload = Some("support".into());
    let d = p.explain_user_call(&c, monday_closed()).decision;
    assert_eq!(targets(&d), ["sip:oncall@pbx.example.com"]);
    // Without the payload the number's after-hours action (reject) applies.
    let d = p
        .explain_user_call(&call(None, "4915112345678"), monday_closed())
        .decision;
    assert!(!d.allowed);
}

#[test]
fn unknown_number_and_missing_route_are_denied_with_reasons() {
    let p = policy("", "");
    let mut c = call(None, "1");
    c.phone_number_id = "999".into();
    assert!(p.user_call(&c).reason.contains("not in [[numbers]]"));
    let text = DEFAULT_CONFIG.to_string();
    let p = Policy::from_config(&load_str("t", &text, Vec::new()).unwrap());
    let d = p.user_call(&call(None, "1"));
    assert!(!d.allowed);
    assert!(d.reason.contains("no PBX route"), "{}", d.reason);
}

#[test]
fn hours_set_at_run_time_win_over_the_file_until_cleared() {
    let p = policy(WEEKDAYS_BERLIN, "");
    assert_eq!(p.hours(PNID).unwrap().1, HoursSource::Config);
    assert!(!p.status(PNID, monday_closed()).unwrap().open);
    let always = hours::CallHours::always_open().validate().unwrap();
    assert!(p.set_api_hours("15550000001", Some(always)));
    let st = p.status(PNID, monday_closed()).unwrap();
    assert!(st.open);
    assert_eq!(st.hours_source, HoursSource::Api);
    assert!(p.set_api_hours(PNID, None));
    assert_eq!(p.hours(PNID).unwrap().1, HoursSource::Config);
    assert!(!p.set_api_hours("123", None), "unknown number");
}

#[test]
fn business_call_outside_hours_is_refused_with_the_next_opening_for_retry_after() {
    let p = policy(WEEKDAYS_BERLIN, "");
    let d = p.business_hours(PNID, monday_closed());
    assert!(!d.allowed);
    let next: Timestamp = "2027-01-11T08:00:00Z".parse().unwrap();
    assert_eq!(d.next_open, Some(next));
    assert_eq!(
        d.retry_after_secs(monday_closed()),
        Some(next.duration_since(monday_closed()).as_secs() as u64)
    );
    assert!(
        d.reason.contains("opens 2027-01-11T09:00:00+01:00"),
        "{}",
        d.reason
    );
    assert_eq!(BusinessHoursDecision::HTTP_STATUS, 409);
    assert_eq!(BusinessHoursDecision::SIP_STATUS, 480);
    let open = p.business_hours(PNID, monday_open());
    assert!(open.allowed && open.retry_after_secs(monday_open()).is_none());
    let allow = policy(
        &format!("business_calls_after_hours = \"allow\"\n{WEEKDAYS_BERLIN}"),
        "",
    );
    let d = allow.business_hours(PNID, monday_closed());
    assert!(d.allowed, "{}", d.reason);
}
