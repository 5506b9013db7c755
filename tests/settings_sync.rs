//! `callgate settings pull|diff|push` against the sandbox, which checks `/settings` posts by
//! Meta's rules; the `account_settings_update` webhook keeping the gateway's view of Meta up to
//! date, and drift between the configuration and Meta in the status API and the metrics.

mod common;

use std::time::Duration;

use callgate::config::Config;
use callgate::policy::hours::{CallHours, Holiday, WeeklyHours};
use callgate::settings::CallingSettings;
use callgate::settings::cli::{SettingsCommand, SettingsError, run};
use common::hours::date_in;
use common::{PNID, TestGateway};
use serde_json::{Value, json};

/// Weekdays 09:00-17:00 in Manaus with one holiday on `holiday`.
fn manaus_hours(holiday: &str) -> CallHours {
    let days = ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY"];
    CallHours {
        status: "ENABLED".into(),
        timezone_id: Some("America/Manaus".into()),
        weekly_operating_hours: days
            .iter()
            .map(|d| WeeklyHours {
                day_of_week: d.to_string(),
                open_time: "0900".into(),
                close_time: "1700".into(),
            })
            .collect(),
        holiday_schedule: vec![Holiday {
            date: holiday.into(),
            start_time: "0000".into(),
            end_time: "2359".into(),
        }],
    }
}

/// A gateway with `number` applied to its number, and the configuration the CLI uses (same
/// numbers and store, Graph requests to the gateway's sandbox).
async fn setup(number: impl Fn(&mut Config) + Clone + Send + 'static) -> (TestGateway, Config) {
    let tweak = number.clone();
    let t = common::start_with(move |c| tweak(c)).await;
    let mut cli = common::test_config(t.dir.path());
    number(&mut cli);
    cli.meta.graph_base_url = t.graph_url();
    (t, cli)
}

async fn status(t: &TestGateway, pnid: &str) -> Value {
    t.api_get(&format!("/v1/numbers/{pnid}/status")).await
}

/// Polls the status API of `pnid` until `cond` holds (10 s at most).
async fn status_until(
    t: &TestGateway,
    pnid: &str,
    what: &str,
    cond: impl Fn(&Value) -> bool,
) -> Value {
    let end = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let s = status(t, pnid).await;
        if cond(&s) {
            return s;
        }
        assert!(std::time::Instant::now() < end, "{what}: {s:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn settings_posts(t: &TestGateway) -> usize {
    t.sandbox()
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/settings"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_diff_then_push_makes_meta_match_the_configuration() {
    let holiday = date_in(60);
    let h = holiday.clone();
    let (t, cli) = setup(move |c| {
        c.numbers[0].hours = Some(manaus_hours(&h));
        c.numbers[0].calling = Some(CallingSettings {
            callback_permission_status: Some("ENABLED".into()),
            ..CallingSettings::default()
        });
    })
    .await;
    let number = || "15550000001".to_string();
    let (text, exit) = run(&cli, &SettingsCommand::Diff { number: number() })
        .await
        .unwrap();
    assert_eq!(exit, 1, "{text}");
    assert!(text.contains("2 difference(s)"), "{text}");
    assert!(
        text.contains(
            "calling.callback_permission_status: Meta has \"DISABLED\", callgate wants \"ENABLED\""
        ),
        "{text}"
    );
    assert!(
        text.contains("calling.call_hours: + ENABLED in America/Manaus, 5 weekly ranges, 1 holidays (only in callgate)"),
        "{text}"
    );

    let (text, exit) = run(&cli, &SettingsCommand::Push { number: number() })
        .await
        .unwrap();
    assert_eq!(exit, 0);
    assert!(
        text.contains("pushed: Meta now has callgate's settings"),
        "{text}"
    );
    let meta = t.sandbox().settings(PNID).unwrap();
    assert_eq!(
        meta["calling"]["call_hours"]["timezone_id"],
        "America/Manaus"
    );
    assert_eq!(
        meta["calling"]["call_hours"]["holiday_schedule"][0]["date"],
        holiday.as_str()
    );
    assert_eq!(meta["calling"]["callback_permission_status"], "ENABLED");
    let (text, exit) = run(&cli, &SettingsCommand::Diff { number: number() })
        .await
        .unwrap();
    assert_eq!(
        (exit, text.contains("match callgate's")),
        (0, true),
        "{text}"
    );
    let (text, _) = run(&cli, &SettingsCommand::Push { number: number() })
        .await
        .unwrap();
    assert!(text.ends_with("nothing to push\n"), "{text}");

    // The push changed a watched key, so Meta's webhook told the gateway: no drift left.
    let s = status_until(&t, PNID, "webhook applied", |s| {
        s["meta_settings"]["source"] == "webhook"
    })
    .await;
    assert_eq!(s["drift"], json!([]), "{s:#}");
    t.shutdown().await;
}

#[tokio::test]
async fn schedule_meta_refuses_is_refused_by_callgate_first_with_the_same_reason() {
    // A past holiday is only warned about in the file, but Meta refuses it.
    let (t, cli) = setup(|c| c.numbers[0].hours = Some(manaus_hours("2020-01-01"))).await;
    let err = run(
        &cli,
        &SettingsCommand::Push {
            number: PNID.into(),
        },
    )
    .await
    .unwrap_err();
    let SettingsError::InvalidHours(reason) = &err else {
        panic!("expected refused hours, got {err}");
    };
    let reason = reason.to_string();
    assert!(
        reason.starts_with(
            "call_hours.holiday_schedule[0] (2020-01-01 0000-2359): holiday is a past date"
        ),
        "{reason}"
    );
    assert_eq!(err.to_string(), format!("not pushed: {reason}"));
    assert_eq!(settings_posts(&t), 0, "nothing was sent to Meta");

    // The same schedule posted straight to the sandbox is refused for the same reason.
    let body = json!({"calling": {"call_hours": manaus_hours("2020-01-01")}});
    let (code, e) = t.post_meta_settings(&body).await;
    assert_eq!(code, 400);
    assert_eq!(e["error"]["code"], 100);
    assert_eq!(e["error"]["error_data"]["details"], reason.as_str());
    t.shutdown().await;
}

#[tokio::test]
async fn drift_is_reported_when_meta_changes_behind_callgates_back() {
    // A number of its own, so the process-wide drift gauge is not shared with other tests.
    const OWN: &str = "100000000000009";
    let (t, _cli) = setup(|c| {
        let mut n = c.numbers[0].clone();
        n.phone_number_id = OWN.into();
        n.display_phone_number = "15550000009".into();
        n.calling = Some(CallingSettings {
            status: Some("ENABLED".into()),
            ..CallingSettings::default()
        });
        c.numbers.push(n);
    })
    .await;
    // The start-up read finds Meta in line with the configuration.
    let s = status_until(&t, OWN, "start-up read", |s| {
        s["meta_settings"]["source"] == "pull"
    })
    .await;
    assert_eq!(s["drift"], json!([]));

    // Someone turns calling off in WhatsApp Manager: Meta sends account_settings_update.
    let (code, _) = t
        .post_meta_settings_of(OWN, &json!({"calling": {"status": "DISABLED"}}))
        .await;
    assert_eq!(code, 200);
    let s = status_until(&t, OWN, "drift reported", |s| {
        s["drift"].as_array().is_some_and(|d| !d.is_empty())
    })
    .await;
    assert_eq!(
        s["drift"],
        json!(["calling.status: Meta has \"DISABLED\", callgate wants \"ENABLED\""])
    );
    assert_eq!(s["meta_settings"]["source"], "webhook");
    let metrics = t.metrics_text().await;
    assert!(
        metrics.contains(&format!(
            "callgate_settings_drift{{phone_number_id=\"{OWN}\"}} 1"
        )),
        "{metrics}"
    );
    let deliveries = t.sandbox().webhook_deliveries();
    assert!(
        deliveries
            .iter()
            .any(|d| d.kind == "account_settings_update"),
        "the sandbox sent the webhook"
    );
    t.shutdown().await;
}

#[tokio::test]
async fn settings_pull_prints_metas_settings_as_configuration() {
    let (t, cli) = setup(|_| {}).await;
    let holiday = date_in(30);
    let mut settings = callgate::sandbox::default_settings();
    settings["calling"]["call_hours"] = serde_json::to_value(manaus_hours(&holiday)).unwrap();
    settings["calling"]["call_hours"]["weekly_operating_hours"][0]["open_time"] = json!(900);
    t.sandbox().set_settings(PNID, settings).unwrap();
    let (text, _) = run(
        &cli,
        &SettingsCommand::Pull {
            number: PNID.into(),
            json: false,
        },
    )
    .await
    .unwrap();
    let parsed: toml::Value = toml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let hours: CallHours = parsed["numbers"]["hours"].clone().try_into().unwrap();
    assert_eq!(hours, manaus_hours(&holiday), "integer times read as HHMM");
    assert_eq!(
        parsed["numbers"]["calling"]["status"].as_str(),
        Some("ENABLED")
    );
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_commands_report_through_their_exit_status() {
    let (t, _cli) = setup(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("callgate.toml");
    let text = callgate::config::DEFAULT_CONFIG
        .replace("http://127.0.0.1:8089", &t.graph_url())
        .replace("enabled = true", "enabled = false")
        .replace(
            "path = \"callgate.db\"",
            &format!("path = {:?}", dir.path().join("cli.db")),
        )
        .replace(
            "display_phone_number = \"15550000001\"\n",
            "display_phone_number = \"15550000001\"\n[numbers.calling]\n\
             call_icon_visibility = \"DISABLE_ALL\"\n",
        );
    std::fs::write(&path, text).unwrap();
    let run = |action: &'static str| {
        let path = path.clone();
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_callgate"))
                .args(["settings", action, "--number", "15550000001", "--config"])
                .arg(&path)
                .output()
                .unwrap()
        })
    };
    let diff = run("diff").await.unwrap();
    let out = String::from_utf8_lossy(&diff.stdout);
    assert_eq!(
        diff.status.code(),
        Some(1),
        "{out}{}",
        String::from_utf8_lossy(&diff.stderr)
    );
    assert!(
        out.contains(
            "calling.call_icon_visibility: Meta has \"DEFAULT\", callgate wants \"DISABLE_ALL\""
        ),
        "{out}"
    );
    let push = run("push").await.unwrap();
    assert_eq!(
        push.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&push.stderr)
    );
    assert_eq!(run("diff").await.unwrap().status.code(), Some(0));
    assert!(
        !dir.path().join("cli.db").exists(),
        "the CLI never creates a store"
    );
    t.shutdown().await;
}
