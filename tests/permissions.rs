//! Call permissions end to end against the sandbox (Meta's rules and error codes): reply
//! webhooks move the state (accept temporary, accept permanent, reject, automatic revoke), the
//! state survives a restart, and every refusal of a call or a permission request says why, when
//! it may next be allowed, and sends nothing to Meta.

mod common;

use std::time::{Duration, Instant};

use callgate::config::Config;
use callgate::sandbox::state::{Direction, PermissionKind};
use common::{API_TOKEN, TestGateway};
use serde_json::{Value, json};

const USER: &str = "16315553602";

async fn api(t: &TestGateway, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = match method {
        "POST" => t.http.post(t.url(path)),
        _ => t.http.get(t.url(path)),
    }
    .bearer_auth(API_TOKEN);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn permission(t: &TestGateway) -> Value {
    api(t, "GET", &format!("/v1/permissions/{USER}"), None)
        .await
        .1
}

/// Polls `GET /v1/permissions/{USER}` until `cond` holds.
async fn permission_until(t: &TestGateway, what: &str, cond: impl Fn(&Value) -> bool) -> Value {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let p = permission(t).await;
        if cond(&p) {
            return p;
        }
        assert!(Instant::now() < end, "permission never became {what}: {p}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn place(t: &TestGateway) -> (u16, Value) {
    api(t, "POST", "/v1/calls", Some(json!({"to": USER}))).await
}

fn connects(t: &TestGateway) -> usize {
    t.sandbox()
        .requests()
        .iter()
        .filter(|r| r.body["action"] == "connect")
        .count()
}

/// The newest business-initiated call in the sandbox, once there are `n` of them.
async fn nth_bic(t: &TestGateway, n: usize) -> String {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let calls: Vec<_> = t
            .sandbox()
            .calls()
            .into_iter()
            .filter(|c| c.direction == Direction::BusinessInitiated)
            .collect();
        if calls.len() >= n {
            return calls[n - 1].id.clone();
        }
        assert!(
            Instant::now() < end,
            "business call {n} never reached the sandbox"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_ended(t: &TestGateway, id: &str) -> Value {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, c) = api(t, "GET", &format!("/v1/calls/{id}"), None).await;
        if !c["call"]["ended_at_ms"].is_null() {
            return c;
        }
        assert!(Instant::now() < end, "call {id} did not end: {c}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn reply_webhooks_move_the_state_and_it_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = |c: &mut Config| {
        c.store.path = dir.path().join("callgate.db");
        // Long enough that Meta is not asked again after the restart (the new sandbox has
        // forgotten the grant): what is shown comes from the store.
        c.permissions.cache_ttl_s = 3600;
    };
    let t = common::start_with(config).await;
    t.sandbox()
        .set_permission(USER, PermissionKind::Temporary, None, true);
    let p = permission_until(&t, "temporary", |p| {
        p["permission"]["status"] == "temporary"
    })
    .await;
    // Seen first through the reply webhook or Meta's call_permissions, whichever came first.
    assert!(
        p["source"] == "profile_grant" || p["source"] == "graph_query",
        "{p}"
    );
    assert_eq!(p["call"]["allowed"], true, "{p}");
    t.sandbox()
        .set_permission(USER, PermissionKind::Permanent, None, true);
    permission_until(&t, "permanent", |p| {
        p["permission"]["status"] == "permanent"
    })
    .await;
    t.sandbox()
        .set_permission(USER, PermissionKind::NoPermission, None, true);
    let p = permission_until(&t, "rejected", |p| {
        p["permission"]["status"] == "no_permission"
    })
    .await;
    assert_eq!(p["source"], "user_reply", "{p}");
    assert!(
        p["call"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("declined")),
        "{p}"
    );
    t.sandbox()
        .set_permission(USER, PermissionKind::Permanent, None, true);
    permission_until(&t, "permanent again", |p| {
        p["permission"]["status"] == "permanent"
    })
    .await;
    t.shutdown().await;

    let t = common::start_with(config).await;
    let p = permission(&t).await;
    assert_eq!(
        p["permission"]["status"], "permanent",
        "lost at restart: {p}"
    );
    t.shutdown().await;
}

#[tokio::test]
async fn expired_temporary_permission_denies_the_call_without_any_webhook() {
    let t = common::start_with(|c| c.permissions.cache_ttl_s = 1).await;
    t.sandbox().set_permission(
        USER,
        PermissionKind::Temporary,
        Some(Duration::from_secs(2)),
        true,
    );
    permission_until(&t, "temporary", |p| {
        p["permission"]["status"] == "temporary"
    })
    .await;
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let (status, body) = place(&t).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"], "expired", "{body}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("expired at"))
    );
    assert_eq!(connects(&t), 0, "nothing may be sent to Meta");
    t.shutdown().await;
}

#[tokio::test]
async fn permission_requests_are_limited_to_one_a_day_with_the_next_time_given() {
    let t = common::start_with(|c| {
        c.permissions.request_template = Some("call_permission_ask".into());
    })
    .await;
    let path = format!("/v1/permissions/{USER}/request");
    let (status, body) = api(&t, "POST", &path, Some(json!({}))).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        body["kind"], "template",
        "outside the service window: {body}"
    );
    let (status, body) = api(&t, "POST", &path, Some(json!({}))).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"], "request_limit_day", "{body}");
    assert!(body["next_allowed_at"].is_string(), "{body}");
    let sent = t.sandbox().messages().len();
    assert_eq!(sent, 1, "the refused request reached Meta");
    t.shutdown().await;
}

#[tokio::test]
async fn request_inside_the_service_window_is_interactive_and_a_permanent_user_is_not_asked() {
    let t = common::start().await;
    // The user calls (and hangs up): the 24 h customer-service window opens.
    let id = t
        .sandbox()
        .simulate_user_call(callgate::sandbox::UserCall::new(USER, common::PNID))
        .unwrap();
    common::eventually("the user call reached callgate", || {
        !t.timeline_kinds(&id).is_empty()
    })
    .await;
    // No PBX route in the default configuration: callgate declines the call, which is enough.
    let _ = t.sandbox().hangup(&id);
    let path = format!("/v1/permissions/{USER}/request");
    let (status, body) = api(&t, "POST", &path, Some(json!({"body": "May we call you?"}))).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["kind"], "interactive", "{body}");
    let msg = t.sandbox().messages().pop().unwrap();
    assert_eq!(msg.body["interactive"]["type"], "call_permission_request");
    assert_eq!(msg.body["interactive"]["body"]["text"], "May we call you?");

    t.sandbox()
        .set_permission(USER, PermissionKind::Permanent, None, true);
    permission_until(&t, "permanent", |p| {
        p["permission"]["status"] == "permanent"
    })
    .await;
    let (status, body) = api(&t, "POST", &path, Some(json!({}))).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"], "already_permanent", "{body}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("138017"))
    );
    assert_eq!(t.sandbox().messages().len(), 1, "nothing more reached Meta");
    t.shutdown().await;
}

#[tokio::test]
async fn daily_connected_call_cap_refuses_the_next_call_with_its_time() {
    let t = common::start_with(|c| c.permissions.connected_calls_per_day = 1).await;
    t.sandbox()
        .set_permission(USER, PermissionKind::Permanent, None, true);
    permission_until(&t, "permanent", |p| {
        p["permission"]["status"] == "permanent"
    })
    .await;
    let (status, body) = place(&t).await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_string();
    let meta = nth_bic(&t, 1).await;
    t.sandbox().answer(&meta).unwrap();
    common::eventually("connected", || {
        t.gw.store
            .find_call(&id)
            .unwrap()
            .is_some_and(|r| r.connected_at_ms.is_some())
    })
    .await;
    t.sandbox().hangup(&meta).unwrap();
    wait_ended(&t, &id).await;
    let (status, body) = place(&t).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"], "daily_call_limit", "{body}");
    assert!(body["next_allowed_at"].is_string(), "{body}");
    assert_eq!(connects(&t), 1, "the refused call reached Meta");
    t.shutdown().await;
}

#[tokio::test]
async fn four_unanswered_calls_revoke_the_permission_and_the_fifth_is_refused() {
    let t = common::start().await;
    t.sandbox()
        .set_permission(USER, PermissionKind::Temporary, None, true);
    permission_until(&t, "temporary", |p| {
        p["permission"]["status"] == "temporary"
    })
    .await;
    for n in 1..=4 {
        let (status, body) = place(&t).await;
        assert_eq!(status, 201, "call {n}: {body}");
        let id = body["id"].as_str().unwrap().to_string();
        let meta = nth_bic(&t, n).await;
        t.sandbox().decline(&meta).unwrap();
        wait_ended(&t, &id).await;
    }
    let p = permission_until(&t, "revoked", |p| {
        p["permission"]["status"] == "no_permission"
    })
    .await;
    assert_eq!(p["source"], "automatic_revoke", "{p}");
    let (status, body) = place(&t).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("revoked")),
        "{body}"
    );
    assert_eq!(connects(&t), 4, "the fifth call reached Meta");
    t.shutdown().await;
}

#[tokio::test]
async fn rate_limited_permission_lookup_falls_back_on_local_state_and_backs_off() {
    let t = common::start_with(|c| c.permissions.cache_ttl_s = 1).await;
    t.sandbox()
        .set_permission(USER, PermissionKind::Permanent, None, true);
    // Meta answers 613 (call_permissions rate limit) to the next lookups.
    let lookups = |t: &TestGateway| {
        t.sandbox()
            .requests()
            .iter()
            .filter(|r| r.path.contains("call_permissions"))
            .count()
    };
    common::eventually("the reply webhook is applied", || {
        t.gw.store
            .permission_state(common::PNID, USER)
            .unwrap()
            .is_some_and(|s| s["grant"]["status"] == "permanent")
    })
    .await;
    // The Graph client retries a rate limit a few times before giving up: every try gets 613.
    for _ in 0..6 {
        t.sandbox().inject_fault("call_permissions", 613);
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let p = permission(&t).await;
    assert_eq!(p["call"]["allowed"], true, "local state decides: {p}");
    let after_613 = lookups(&t);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    permission(&t).await;
    assert_eq!(
        lookups(&t),
        after_613,
        "Meta was asked again within the back-off after 613"
    );
    t.shutdown().await;
}
