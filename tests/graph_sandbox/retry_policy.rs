//! The client's retry policy against scripted servers: idempotent requests retried, connect not.

use super::*;

/// A server answering `statuses` in turn (then the last one forever), counting requests.
async fn scripted_server(statuses: Vec<(u16, Value)>) -> (Url, Arc<Mutex<usize>>) {
    let count = Arc::new(Mutex::new(0usize));
    let c = count.clone();
    let handler = move || {
        let c = c.clone();
        let statuses = statuses.clone();
        async move {
            let n = {
                let mut n = c.lock().unwrap();
                *n += 1;
                *n
            };
            let (status, body) = statuses[(n - 1).min(statuses.len() - 1)].clone();
            (StatusCode::from_u16(status).unwrap(), axum::Json(body))
        }
    };
    let app = Router::new()
        .route("/v23.0/{pnid}/settings", get(handler.clone()))
        .route("/v23.0/{pnid}/calls", post(handler));
    let (listener, base) = bind().await;
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, count)
}

#[tokio::test]
async fn get_answered_503_once_is_retried_and_succeeds() {
    let (base, count) = scripted_server(vec![
        (
            503,
            json!({"error": {"message": "busy", "code": 2, "type": "OAuthException"}}),
        ),
        (200, json!({"calling": {"status": "ENABLED"}})),
    ])
    .await;
    let client = client_for(base, "t", 3);
    let settings = client.get_settings("1").await.unwrap();
    assert_eq!(settings["calling"]["status"], "ENABLED");
    assert_eq!(*count.lock().unwrap(), 2);
}

#[tokio::test]
async fn connect_answered_500_is_not_retried() {
    let (base, count) = scripted_server(vec![(
        500,
        json!({"error": {"message": "Connection error", "code": 138004, "type": "OAuthException"}}),
    )])
    .await;
    let client = client_for(base, "t", 3);
    let e = client
        .connect("1", USER, &offer_sdp(), None)
        .await
        .unwrap_err();
    assert_eq!(api_error(e).0, MetaErrorCode::ConnectionError);
    assert_eq!(*count.lock().unwrap(), 1);
}

#[tokio::test]
async fn terminate_answered_500_is_retried_up_to_max_retries() {
    let (base, count) = scripted_server(vec![(500, json!({"oops": true}))]).await;
    let client = client_for(base, "t", 2);
    let e = client.terminate("1", "wacid.x").await.unwrap_err();
    assert!(matches!(
        e,
        GraphError::UnexpectedStatus {
            http_status: 500,
            ..
        }
    ));
    assert_eq!(*count.lock().unwrap(), 3);
}
