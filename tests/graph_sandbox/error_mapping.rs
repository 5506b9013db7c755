//! Each Meta error the sandbox produces reaches the client as the right code and HTTP status.

use super::*;

#[tokio::test]
async fn bad_token_is_190_with_http_401() {
    let env = start_default().await;
    let bad = client_for(env.base.clone(), "not-the-token", 0);
    let (code, status, _, _) = api_error(bad.get_settings(&env.pnid).await.unwrap_err());
    assert_eq!(code, MetaErrorCode::InvalidAccessToken);
    assert_eq!(status, 401);
}

#[tokio::test]
async fn unknown_phone_number_id_is_100() {
    let env = start_default().await;
    let (code, status, message, _) =
        api_error(env.client.terminate("999", "wacid.x").await.unwrap_err());
    assert_eq!(code, MetaErrorCode::InvalidParameter);
    assert_eq!(status, 400);
    assert!(message.contains("'999'"), "{message}");
}

#[tokio::test]
async fn unknown_call_id_is_100_naming_the_call() {
    let env = start_default().await;
    let e = env
        .client
        .terminate(&env.pnid, "wacid.nope")
        .await
        .unwrap_err();
    let (code, status, _, data) = api_error(e);
    assert_eq!((code, status), (MetaErrorCode::InvalidParameter, 400));
    assert!(
        data.unwrap()["details"]
            .as_str()
            .unwrap()
            .contains("wacid.nope")
    );
}

#[tokio::test]
async fn wrong_sdp_type_for_pre_accept_is_100_with_details() {
    let env = start_default().await;
    let id = env.user_call();
    let resp = reqwest::Client::new()
        .post(env.base.join(&format!("v23.0/{}/calls", env.pnid)).unwrap())
        .bearer_auth(&env.sandbox.config().access_token)
        .json(
            &json!({"messaging_product":"whatsapp","call_id":id,"action":"pre_accept",
                      "session":{"sdp_type":"offer","sdp":answer_sdp()}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], 100);
    assert_eq!(body["error"]["type"], "OAuthException");
    assert!(body["error"]["fbtrace_id"].is_string());
    let details = body["error"]["error_data"]["details"].as_str().unwrap();
    assert!(details.contains("sdp_type"), "{details}");
    assert_eq!(
        env.sandbox.call_state(&id).unwrap().state,
        CallState::Ringing
    );
}

#[tokio::test]
async fn sdp_without_fingerprint_is_100_no_fingerprint_found() {
    let env = start_default().await;
    let id = env.user_call();
    let sdp: String = answer_sdp()
        .lines()
        .filter(|l| !l.starts_with("a=fingerprint"))
        .map(|l| format!("{l}\n"))
        .collect();
    let (code, _, _, data) = api_error(
        env.client
            .pre_accept(&env.pnid, &id, &sdp)
            .await
            .unwrap_err(),
    );
    assert_eq!(code, MetaErrorCode::InvalidParameter);
    assert_eq!(data.unwrap()["details"], "No fingerprint found in SDP");
}

#[tokio::test]
async fn accept_with_an_sdp_different_from_pre_accept_is_100() {
    let env = start_default().await;
    let id = env.user_call();
    env.pre_accept(&id).await.unwrap();
    let other = answer_sdp().replace("a=ice-ufrag:X1ho", "a=ice-ufrag:Zzzz");
    let e = env
        .client
        .accept(&env.pnid, &id, &other, None)
        .await
        .unwrap_err();
    assert_eq!(api_error(e).0, MetaErrorCode::InvalidParameter);
    let call = env.sandbox.call_state(&id).unwrap();
    assert_eq!(call.state, CallState::PreAccepted);
    assert_eq!(call.actions[1].error_code, Some(100));
}

#[tokio::test]
async fn accept_after_the_user_hung_up_is_100() {
    let env = start_default().await;
    let id = env.user_call();
    env.sandbox.hangup(&id).unwrap();
    let e = env
        .client
        .accept(&env.pnid, &id, &answer_sdp(), None)
        .await
        .unwrap_err();
    let (code, _, _, data) = api_error(e);
    assert_eq!(code, MetaErrorCode::InvalidParameter);
    assert!(data.unwrap()["details"].as_str().unwrap().contains("ended"));
}

#[tokio::test]
async fn connect_without_permission_is_138006_with_http_401() {
    let env = start_default().await;
    let e = env.connect_user().await.unwrap_err();
    let text = e.to_string();
    let (code, status, _, _) = api_error(e);
    assert_eq!((code, status), (MetaErrorCode::NoCallPermission, 401));
    assert!(text.contains("call permission request"), "{text}");
    assert!(env.sandbox.calls().is_empty());
}

#[tokio::test]
async fn graph_calls_on_a_sip_mode_number_are_131055() {
    let env = start_default().await;
    env.sandbox
        .set_settings(
            &env.pnid,
            json!({"calling":{"status":"ENABLED","sip":{"status":"ENABLED",
                   "servers":[{"hostname":"sip.example.com","port":5061}]}}}),
        )
        .unwrap();
    env.grant_permanent();
    let e = env.connect_user().await.unwrap_err();
    assert!(e.to_string().contains("SIP mode"));
    let (code, status, _, _) = api_error(e);
    assert_eq!((code, status), (MetaErrorCode::SipModeEnabled, 400));
}

#[tokio::test]
async fn connect_with_calling_disabled_is_138000() {
    let env = start_default().await;
    env.client
        .post_settings(&env.pnid, &json!({"calling":{"status":"DISABLED"}}))
        .await
        .unwrap();
    env.grant_permanent();
    let e = env.connect_user().await.unwrap_err();
    let (code, status, _, _) = api_error(e);
    assert_eq!((code, status), (MetaErrorCode::CallingNotEnabled, 401));
}

#[tokio::test]
async fn second_connect_to_a_user_in_a_call_is_138003() {
    let env = start_default().await;
    env.grant_permanent();
    env.connect_user().await.unwrap();
    let e = env.connect_user().await.unwrap_err();
    assert_eq!(api_error(e).0, MetaErrorCode::DuplicateCall);
    assert_eq!(env.sandbox.calls().len(), 1);
}
