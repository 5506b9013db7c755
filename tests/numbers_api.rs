//! The operator API for business numbers: `GET /v1/numbers/{id}/status` and
//! `PUT|DELETE /v1/numbers/{id}/hours`: hours take effect on the next call without a restart,
//! survive one (stored in SQLite), and are refused for the same reasons Meta would refuse them.

mod common;

use std::time::Duration;

use callgate::gateway::Gateway;
use callgate::sandbox::UserCall;
use common::calls::ended_record;
use common::hours::closed_now;
use common::{API_TOKEN, PNID, TestGateway};
use serde_json::{Value, json};

async fn api(
    t: &TestGateway,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = t.http.request(method, t.url(path)).bearer_auth(API_TOKEN);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn start_in(dir: tempfile::TempDir) -> TestGateway {
    let mut cfg = common::test_config(dir.path());
    cfg.routing.default = Some("sip:agents@127.0.0.1:9".into());
    let gw = Gateway::start(cfg).await.expect("gateway starts");
    TestGateway {
        gw,
        dir,
        http: reqwest::Client::new(),
    }
}

#[tokio::test]
async fn put_hours_takes_effect_without_restart_and_survives_one() {
    let t = start_in(tempfile::tempdir().unwrap()).await;
    let status = format!("/v1/numbers/{PNID}/status");
    let hours = format!("/v1/numbers/{PNID}/hours");
    let (code, s) = api(&t, reqwest::Method::GET, &status, None).await;
    assert_eq!(code, 200);
    assert_eq!(
        (s["open"].clone(), s["hours_source"].clone()),
        (json!(true), json!("none"))
    );

    let (code, s) = api(&t, reqwest::Method::PUT, &hours, Some(json!(closed_now()))).await;
    assert_eq!(code, 200, "{s}");
    assert_eq!(s["open"], false);
    assert_eq!(s["hours_source"], "api");
    assert!(
        s["next_change"]
            .as_str()
            .is_some_and(|n| n.ends_with("+00:00")),
        "{s}"
    );
    assert!(
        s["reason"]
            .as_str()
            .unwrap()
            .starts_with("closed: no opening hours on"),
        "{s}"
    );
    assert_eq!(s["restrictions"], json!([]));

    // The next call is decided by the new hours.
    let id = t
        .sandbox()
        .simulate_user_call(UserCall::new("16315553602", PNID))
        .unwrap();
    let rec = ended_record(&t, &id, Duration::from_secs(5)).await;
    assert!(
        rec.end_reason
            .as_deref()
            .unwrap_or("")
            .starts_with("denied: outside business hours"),
        "{rec:?}"
    );
    assert_eq!(t.graph_actions(&id), ["reject"]);

    // A restart keeps them; DELETE goes back to the file's (none).
    let dir = {
        let TestGateway { gw, dir, .. } = t;
        gw.shutdown().await;
        dir
    };
    let t = start_in(dir).await;
    let (_, s) = api(&t, reqwest::Method::GET, &status, None).await;
    assert_eq!(
        (s["open"].clone(), s["hours_source"].clone()),
        (json!(false), json!("api"))
    );
    let (code, s) = api(&t, reqwest::Method::DELETE, &hours, None).await;
    assert_eq!(code, 200);
    assert_eq!(
        (s["open"].clone(), s["hours_source"].clone()),
        (json!(true), json!("none"))
    );
    t.shutdown().await;
}

#[tokio::test]
async fn put_hours_refuses_what_meta_would_refuse_with_the_same_reason() {
    let t = start_in(tempfile::tempdir().unwrap()).await;
    let path = "/v1/numbers/15550000001/hours";
    let overlapping = json!({"status": "ENABLED", "timezone_id": "Europe/Berlin",
        "weekly_operating_hours": [
            {"day_of_week": "MONDAY", "open_time": "0900", "close_time": "1300"},
            {"day_of_week": "MONDAY", "open_time": "1200", "close_time": "1800"}]});
    let (code, e) = api(&t, reqwest::Method::PUT, path, Some(overlapping.clone())).await;
    assert_eq!(code, 422);
    assert_eq!(e["error"], "invalid_hours");
    let reason = e["message"].as_str().unwrap().to_string();
    assert!(
        reason.contains("weekly_operating_hours[1] (MONDAY 1200-1800): overlapping schedule"),
        "{reason}"
    );
    let (_, meta) = t
        .post_meta_settings(&json!({"calling": {"call_hours": overlapping}}))
        .await;
    assert_eq!(meta["error"]["error_data"]["details"], reason.as_str());

    let past = json!({"status": "ENABLED", "timezone_id": "UTC",
        "weekly_operating_hours": [{"day_of_week": "MONDAY", "open_time": "0900", "close_time": "1700"}],
        "holiday_schedule": [{"date": "2020-01-01", "start_time": "0000", "end_time": "2359"}]});
    let (code, e) = api(&t, reqwest::Method::PUT, path, Some(past)).await;
    assert_eq!(code, 422);
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("holiday is a past date"),
        "{e}"
    );

    let typo = json!({"status": "DISABLED", "holidays": []});
    let (code, e) = api(&t, reqwest::Method::PUT, path, Some(typo)).await;
    assert_eq!(code, 400);
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("unknown key(s) holidays"),
        "{e}"
    );

    let (code, _) = api(&t, reqwest::Method::GET, "/v1/numbers/123/status", None).await;
    assert_eq!(code, 404);
    let anonymous = t
        .http
        .get(t.url(&format!("/v1/numbers/{PNID}/status")))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
    // Nothing was stored: the number still has no hours.
    let (_, s) = api(
        &t,
        reqwest::Method::GET,
        &format!("/v1/numbers/{PNID}/status"),
        None,
    )
    .await;
    assert_eq!(s["hours_source"], "none");
    t.shutdown().await;
}
