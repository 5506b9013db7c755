//! The gateway as a whole on the sandbox: webhook intake to call task to Graph, with Meta's
//! delivery quirks (duplicates, terminate before connect, stale connects), crash recovery of the
//! inbox, and the operator API.

mod common;

use common::*;

/// A WhatsApp user calls the default number through the sandbox; returns the call id.
fn user_calls(t: &TestGateway) -> String {
    t.sandbox()
        .simulate_user_call(callgate::sandbox::UserCall::new("16315553602", PNID))
        .unwrap()
}

/// Waits until the gateway's record of `id` has ended.
async fn record_ended(t: &TestGateway, id: &str) {
    eventually("record ended", || {
        t.gw.store
            .get_call(id)
            .unwrap()
            .is_some_and(|r| r.ended_at_ms.is_some())
    })
    .await;
}

#[tokio::test]
async fn user_call_without_pbx_route_is_rejected_with_a_reason() {
    let t = start().await;
    let id = user_calls(&t);
    eventually("reject reaches Meta", || t.graph_actions(&id) == ["reject"]).await;
    record_ended(&t, &id).await;
    let rec = t.gw.store.get_call(&id).unwrap().unwrap();
    assert_eq!(rec.outcome.as_deref(), Some("denied"));
    assert!(rec.end_reason.unwrap().contains("no PBX route"));
    assert_eq!(rec.user_wa_id.as_deref(), Some("16315553602"));
    let kinds = t.timeline_kinds(&id);
    assert!(kinds.contains(&"policy.decision".to_string()), "{kinds:?}");
    assert!(kinds.contains(&"graph.reject".to_string()), "{kinds:?}");
    t.shutdown().await;
}

#[tokio::test]
async fn duplicate_connect_deliveries_start_one_call() {
    let t = start_with(|c| c.sandbox.duplicate_deliveries = true).await;
    let id = user_calls(&t);
    eventually("duplicate seen", || {
        t.timeline_kinds(&id)
            .contains(&"webhook.duplicate".to_string())
    })
    .await;
    eventually("reject reaches Meta", || !t.graph_actions(&id).is_empty()).await;
    // Give a duplicate time to (wrongly) start a second call.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(t.graph_actions(&id), ["reject"]);
    let started = t
        .timeline_kinds(&id)
        .iter()
        .filter(|k| *k == "call.offered")
        .count();
    assert_eq!(started, 1);
    t.shutdown().await;
}

#[tokio::test]
async fn duplicate_webhook_posted_twice_is_processed_once() {
    let t = start().await;
    let body = connect_webhook("wacid.dup-1");
    assert_eq!(t.post_signed(&body).await, 200);
    assert_eq!(t.post_signed(&body).await, 200);
    eventually("one reject", || t.graph_actions("wacid.dup-1").len() == 1).await;
    eventually("duplicate recorded", || {
        t.timeline_kinds("wacid.dup-1")
            .contains(&"webhook.duplicate".to_string())
    })
    .await;
    t.shutdown().await;
}

#[tokio::test]
async fn terminate_before_connect_leaves_tombstone_and_late_connect_is_ignored() {
    let t = start().await;
    assert_eq!(t.post_signed(&terminate_webhook("wacid.late-1")).await, 200);
    eventually("tombstone", || {
        t.gw.store.is_tombstoned("wacid.late-1").unwrap()
    })
    .await;
    assert_eq!(t.post_signed(&connect_webhook("wacid.late-1")).await, 200);
    eventually("late connect recorded as ignored", || {
        t.timeline_kinds("wacid.late-1")
            .contains(&"webhook.connect_after_terminate".to_string())
    })
    .await;
    assert!(t.graph_actions("wacid.late-1").is_empty());
    assert!(t.gw.store.get_call("wacid.late-1").unwrap().is_none());
    t.shutdown().await;
}

#[tokio::test]
async fn sandbox_reordered_delivery_ends_without_answering() {
    let t = start_with(|c| c.sandbox.reorder_deliveries = true).await;
    let sb = t.sandbox();
    let id = sb
        .simulate_user_call(callgate::sandbox::UserCall::new("16315553602", PNID))
        .unwrap();
    // The connect is held back; the user gives up, so terminate goes out first.
    sb.hangup(&id).unwrap();
    eventually("late connect ignored", || {
        t.timeline_kinds(&id)
            .contains(&"webhook.connect_after_terminate".to_string())
    })
    .await;
    assert!(t.graph_actions(&id).is_empty());
    t.shutdown().await;
}

#[tokio::test]
async fn stale_connect_is_not_answered() {
    let t = start().await;
    // The fixture is a real connect from 2025: far older than the answer window.
    let body = include_bytes!("fixtures/webhook-calls-connect-uic.json");
    assert_eq!(t.post_signed(body).await, 200);
    let events = callgate::cloud::events::parse_webhook(body).unwrap();
    let id = events[0].call_id().unwrap().to_string();
    eventually("stale recorded", || {
        t.timeline_kinds(&id)
            .contains(&"webhook.connect_stale".to_string())
    })
    .await;
    assert!(t.graph_actions(&id).is_empty());
    t.shutdown().await;
}

#[tokio::test]
async fn webhook_left_unprocessed_by_a_crash_is_processed_at_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = test_config(dir.path());
    {
        // The previous run answered 200 (the row is in the inbox) and died before processing.
        let store = callgate::store::Store::open(&cfg.store.path).unwrap();
        store
            .insert_webhook(callgate::store::now_ms(), &connect_webhook("wacid.crash-1"))
            .unwrap();
    }
    let gw = callgate::gateway::Gateway::start(cfg).await.unwrap();
    let sb = gw.sandbox.as_ref().unwrap().sandbox.clone();
    eventually("recovered call rejected", || {
        sb.requests()
            .iter()
            .any(|r| r.body.get("call_id").and_then(|v| v.as_str()) == Some("wacid.crash-1"))
    })
    .await;
    assert!(gw.store.unprocessed_webhooks().unwrap().is_empty());
    gw.shutdown().await;
}

#[tokio::test]
async fn operator_api_lists_and_shows_calls_only_with_a_token() {
    let t = start().await;
    let id = user_calls(&t);
    record_ended(&t, &id).await;
    let get = |path: &str, token: Option<&str>| {
        let mut r = t.http.get(t.url(path));
        if let Some(tok) = token {
            r = r.bearer_auth(tok);
        }
        r.send()
    };
    assert_eq!(get("/v1/calls", None).await.unwrap().status(), 401);
    assert_eq!(
        get("/v1/calls", Some("not-the-token-at-all"))
            .await
            .unwrap()
            .status(),
        401
    );
    let list: serde_json::Value = get("/v1/calls", Some(API_TOKEN))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["calls"][0]["id"], id.as_str());
    let one = get(&format!("/v1/calls/{id}"), Some(API_TOKEN))
        .await
        .unwrap();
    assert_eq!(one.status(), 200);
    let one: serde_json::Value = one.json().await.unwrap();
    assert_eq!(one["call"]["outcome"], "denied");
    assert!(one["timeline"].as_array().unwrap().len() >= 4);
    let missing = get("/v1/calls/wacid.nope", Some(API_TOKEN)).await.unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(
        t.http.get(t.url("/healthz")).send().await.unwrap().status(),
        200
    );
    t.shutdown().await;
}

#[tokio::test]
async fn metrics_count_webhooks_and_graph_requests() {
    let t = start().await;
    let id = user_calls(&t);
    eventually("reject", || !t.graph_actions(&id).is_empty()).await;
    let unsigned = t
        .http
        .post(t.url("/webhook"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);
    let text = t.metrics().await;
    for needle in [
        "callgate_webhooks_total{outcome=\"accepted\"}",
        "callgate_webhooks_total{outcome=\"bad_signature\"}",
        "callgate_graph_requests_total{action=\"reject\",outcome=\"ok\"}",
        "callgate_graph_request_duration_seconds_bucket{action=\"reject\"",
    ] {
        assert!(text.contains(needle), "missing {needle} in:\n{text}");
    }
    assert!(
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .all(|l| l.starts_with("callgate_")),
        "{text}"
    );
    t.shutdown().await;
}
