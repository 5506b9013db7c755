//! Each Graph action against the sandbox succeeds, with the body the sandbox received.

use super::*;

#[tokio::test]
async fn connect_sends_an_offer_with_crlf_sdp_and_returns_the_call_id() {
    let env = start_default().await;
    env.sandbox
        .set_permission(USER, PermissionKind::Temporary, None, false);
    let id = env
        .client
        .connect(&env.pnid, USER, &offer_sdp(), Some("opaque-1"))
        .await
        .unwrap();
    assert!(id.starts_with("wacid."));
    let call = env.sandbox.call_state(&id).unwrap();
    assert_eq!(call.direction, Direction::BusinessInitiated);
    assert_eq!(call.state, CallState::Ringing);
    let body = &call.actions[0].body;
    assert_eq!(call.actions[0].action, "connect");
    assert_eq!(body["messaging_product"], "whatsapp");
    assert_eq!(body["to"], USER);
    assert_eq!(body["session"]["sdp_type"], "offer");
    assert_eq!(body["biz_opaque_callback_data"], "opaque-1");
    assert_crlf_sdp(body);
}

#[tokio::test]
async fn business_connect_is_followed_by_ringing_and_a_connect_webhook_with_metas_answer() {
    let (env, recv) = start_with_receiver(0, |_| {}).await;
    env.grant_permanent();
    let id = env.connect_user().await.unwrap();
    let hooks = recv.wait_for(2).await;
    assert_eq!(webhook_kind(&hooks[0]), "status:RINGING");
    assert_eq!(webhook_kind(&hooks[1]), "connect");
    let call = &call_item(&hooks[1]);
    assert_eq!(call["id"], id.as_str());
    assert_eq!(call["direction"], "BUSINESS_INITIATED");
    assert_eq!(call["session"]["sdp_type"], "answer");
    let sdp = call["session"]["sdp"].as_str().unwrap();
    assert!(sdp.contains("a=ice-lite\r\n") && sdp.contains("a=setup:active\r\n"));
}

#[tokio::test]
async fn pre_accept_then_accept_with_the_same_answer_connects_the_user_call() {
    let env = start_default().await;
    let id = env.user_call();
    env.pre_accept(&id).await.unwrap();
    assert_eq!(
        env.sandbox.call_state(&id).unwrap().state,
        CallState::PreAccepted
    );
    env.client
        .accept(&env.pnid, &id, &answer_sdp(), Some("ctx"))
        .await
        .unwrap();
    let call = env.sandbox.call_state(&id).unwrap();
    assert_eq!(call.state, CallState::Accepted);
    let actions: Vec<&str> = call.actions.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(actions, ["pre_accept", "accept"]);
    for a in &call.actions {
        assert_eq!(a.http_status, 200);
        assert_eq!(a.body["messaging_product"], "whatsapp");
        assert_eq!(a.body["call_id"], id.as_str());
        assert_eq!(a.body["session"]["sdp_type"], "answer");
        assert_crlf_sdp(&a.body);
    }
    assert_eq!(call.actions[1].body["biz_opaque_callback_data"], "ctx");
}

#[tokio::test]
async fn reject_ends_a_ringing_user_call_with_a_failed_terminate_webhook() {
    let (env, recv) = start_with_receiver(0, |_| {}).await;
    let id = env.user_call();
    env.client.reject(&env.pnid, &id).await.unwrap();
    let call = env.sandbox.call_state(&id).unwrap();
    assert_eq!(call.state, CallState::Ended);
    assert_eq!(call.actions[0].action, "reject");
    assert_eq!(
        call.actions[0].body,
        json!({"messaging_product":"whatsapp","call_id": id,"action":"reject"})
    );
    let hooks = recv.wait_for(2).await;
    assert_eq!(webhook_kind(&hooks[0]), "connect");
    assert_eq!(webhook_kind(&hooks[1]), "terminate");
    assert_eq!(call_item(&hooks[1])["status"], "FAILED");
}

#[tokio::test]
async fn terminate_of_an_accepted_call_completes_it_with_duration() {
    let (env, recv) = start_with_receiver(0, |_| {}).await;
    let id = env.user_call();
    env.client
        .accept(&env.pnid, &id, &answer_sdp(), None)
        .await
        .unwrap();
    env.client.terminate(&env.pnid, &id).await.unwrap();
    let call = env.sandbox.call_state(&id).unwrap();
    assert_eq!(call.end_status.as_deref(), Some("COMPLETED"));
    assert_eq!(
        call.actions.last().unwrap().body,
        json!({"messaging_product":"whatsapp","call_id": id,"action":"terminate"})
    );
    let hooks = recv.wait_for(2).await;
    let term = &call_item(&hooks[1]);
    assert_eq!(term["event"], "terminate");
    assert_eq!(term["status"], "COMPLETED");
    assert!(term["duration"].is_u64() && term["start_time"].is_string());
}

#[tokio::test]
async fn call_permission_request_is_sent_as_an_interactive_message() {
    let env = start_default().await;
    let wamid = env
        .client
        .send_call_permission_request(&env.pnid, USER, Some("May we call you?"))
        .await
        .unwrap();
    assert!(wamid.starts_with("wamid."));
    let msgs = env.sandbox.messages();
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].id, wamid);
    assert_eq!(
        msgs[0].body,
        json!({"messaging_product":"whatsapp","recipient_type":"individual","to":USER,
               "type":"interactive","interactive":{"type":"call_permission_request",
               "action":{"name":"call_permission_request"},"body":{"text":"May we call you?"}}})
    );
    // A second request within 24 h hits Meta's limit.
    let e = env
        .client
        .send_call_permission_request(&env.pnid, USER, None)
        .await
        .unwrap_err();
    assert_eq!(api_error(e).0, MetaErrorCode::PermissionRequestLimit);
}

#[tokio::test]
async fn call_permissions_report_a_temporary_grant_with_expiry_and_limits() {
    let env = start_default().await;
    let none = env.user_permissions().await;
    assert_eq!(none.permission.status, PermissionStatus::NoPermission);
    assert!(!none.can_start_call());
    env.sandbox.set_permission(
        USER,
        PermissionKind::Temporary,
        Some(Duration::from_secs(3600)),
        false,
    );
    let p = env.user_permissions().await;
    assert_eq!(p.permission.status, PermissionStatus::Temporary);
    assert!(p.permission.expiration_time.is_some());
    assert!(p.can_start_call());
    assert_eq!(p.can_request_permission(), Some(true));
    let limits = &p.action("send_call_permission_request").unwrap().limits;
    assert_eq!(limits[0].time_period, "PT24H");
    assert_eq!(limits[1].max_allowed, Some(2));
    let req = env.sandbox.requests().pop().unwrap();
    assert_eq!(req.method, "GET");
    assert!(req.path.ends_with("/call_permissions"));
}

#[tokio::test]
async fn settings_posted_are_returned_by_get() {
    let env = start_default().await;
    let hours = json!({"status":"ENABLED","timezone_id":"America/Manaus",
        "weekly_operating_hours":[{"day_of_week":"MONDAY","open_time":"0400","close_time":"1020"}]});
    env.client
        .post_settings(&env.pnid, &json!({"calling":{"call_hours": hours}}))
        .await
        .unwrap();
    let got = env.client.get_settings(&env.pnid).await.unwrap();
    assert_eq!(got["calling"]["call_hours"], hours);
    assert_eq!(got["calling"]["status"], "ENABLED");
}
