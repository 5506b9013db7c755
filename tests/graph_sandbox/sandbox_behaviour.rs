//! Sandbox-side behaviour: answer window, control API, webhook signing, duplicates, reordering, retries, business-call pick-up and permission replies.

use super::*;

#[tokio::test]
async fn unanswered_user_call_ends_failed_after_the_answer_window() {
    let (env, recv) =
        start_with_receiver(0, |c| c.answer_window = Duration::from_millis(100)).await;
    let id = env.user_call();
    let hooks = recv.wait_for(2).await;
    assert_eq!(webhook_kind(&hooks[1]), "terminate");
    assert_eq!(call_item(&hooks[1])["status"], "FAILED");
    let call = env.sandbox.call_state(&id).unwrap();
    assert_eq!(call.end_reason.as_deref(), Some("answer_window_expired"));
}

#[tokio::test]
async fn control_api_simulates_a_call_and_shows_the_action_log() {
    let env = start_default().await;
    let http = reqwest::Client::new();
    let created = send_json(
        http.post(env.base.join("sandbox/calls").unwrap())
            .json(&json!({"from": USER, "to_pnid": env.pnid, "cta_payload": "order-42"})),
    )
    .await;
    let id = created["call_id"].as_str().unwrap().to_string();
    env.client.reject(&env.pnid, &id).await.unwrap();
    let call = send_json(http.get(env.base.join(&format!("sandbox/calls/{id}")).unwrap())).await;
    assert_eq!(call["state"], "ended");
    assert_eq!(call["cta_payload"], "order-42");
    assert_eq!(call["actions"][0]["action"], "reject");
    let hangup = env
        .base
        .join(&format!("sandbox/calls/{id}/hangup"))
        .unwrap();
    assert_eq!(
        send_status(http.post(hangup)).await,
        409,
        "hang-up of an ended call conflicts"
    );
    let perm = env
        .base
        .join(&format!("sandbox/permissions/{USER}"))
        .unwrap();
    let grant = http
        .put(perm)
        .json(&json!({"status": "temporary", "expires_in_s": 60}));
    assert_eq!(send_status(grant).await, 204);
    let p = env.user_permissions().await;
    assert_eq!(p.permission.status, PermissionStatus::Temporary);
}

#[tokio::test]
async fn webhooks_are_signed_with_the_app_secret_over_the_raw_body() {
    let (env, recv) = start_with_receiver(0, |_| {}).await;
    env.user_call();
    recv.wait_for(1).await;
    let (body, sig) = recv.hits.lock().unwrap()[0].clone();
    let secret = env.sandbox.config().app_secret.as_bytes();
    assert_eq!(
        signature::verify(secret, &body, sig.as_deref().map(str::as_bytes)),
        Ok(())
    );
    assert!(signature::verify(b"other", &body, sig.as_deref().map(str::as_bytes)).is_err());
}

#[tokio::test]
async fn duplicate_deliveries_send_each_webhook_twice() {
    let (env, recv) = start_with_receiver(0, |c| c.duplicate_deliveries = true).await;
    let id = env.user_call();
    env.sandbox.hangup(&id).unwrap();
    let hooks = recv.wait_for(4).await;
    assert_eq!(
        kinds_of(&hooks),
        ["connect", "connect", "terminate", "terminate"]
    );
    assert_eq!(hooks[0], hooks[1]);
}

#[tokio::test]
async fn reordered_deliveries_send_terminate_before_connect() {
    let (env, recv) = start_with_receiver(0, |c| {
        c.reorder_deliveries = true;
        c.reorder_hold = Duration::from_secs(5);
    })
    .await;
    let id = env.user_call();
    env.sandbox.hangup(&id).unwrap();
    let hooks = recv.wait_for(2).await;
    assert_eq!(kinds_of(&hooks), ["terminate", "connect"]);
}

#[tokio::test]
async fn webhook_answered_500_is_retried_until_200() {
    let (env, recv) =
        start_with_receiver(1, |c| c.webhook_retry_backoff = Duration::from_millis(20)).await;
    env.user_call();
    let hooks = recv.wait_for(2).await;
    assert_eq!(hooks[0], hooks[1]);
    // The sender records an attempt once the receiver's answer is back.
    let mut log = env.sandbox.webhook_deliveries();
    for _ in 0..100 {
        if log.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        log = env.sandbox.webhook_deliveries();
    }
    assert_eq!(log[0].http_status, Some(500));
    assert_eq!((log[1].attempt, log[1].http_status), (1, Some(200)));
}

#[tokio::test]
async fn business_call_picked_up_then_declined_calls_send_accepted_and_rejected() {
    let (env, recv) = start_with_receiver(0, |_| {}).await;
    env.grant_permanent();
    let id = env.connect_user().await.unwrap();
    env.sandbox.answer(&id).unwrap();
    assert_eq!(
        env.sandbox.call_state(&id).unwrap().state,
        CallState::Accepted
    );
    env.client.terminate(&env.pnid, &id).await.unwrap();
    let id2 = env.connect_user().await.unwrap();
    env.sandbox.decline(&id2).unwrap();
    let hooks = recv.wait_for(8).await;
    assert_eq!(
        kinds_of(&hooks),
        [
            "status:RINGING",
            "connect",
            "status:ACCEPTED",
            "terminate",
            "status:RINGING",
            "connect",
            "status:REJECTED",
            "terminate"
        ]
    );
    assert_eq!(call_item(&hooks[3])["status"], "COMPLETED");
    assert_eq!(call_item(&hooks[7])["status"], "FAILED");
}

#[tokio::test]
async fn granting_permission_replies_to_the_last_request_with_a_messages_webhook() {
    let (env, recv) = start_with_receiver(0, |_| {}).await;
    let wamid = env
        .client
        .send_call_permission_request(&env.pnid, USER, None)
        .await
        .unwrap();
    env.sandbox
        .set_permission(USER, PermissionKind::Permanent, None, true);
    let hooks = recv.wait_for(1).await;
    let change = &hooks[0]["entry"][0]["changes"][0];
    assert_eq!(change["field"], "messages");
    let msg = &change["value"]["messages"][0];
    assert_eq!(msg["context"]["id"], wamid.as_str());
    let reply = &msg["interactive"]["call_permission_reply"];
    assert_eq!(reply["response"], "accept");
    assert_eq!(reply["is_permanent"], true);
    assert_eq!(reply["response_source"], "user_action");
}
