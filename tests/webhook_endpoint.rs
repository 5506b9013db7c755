//! The `/webhook` endpoint over real HTTP: the subscription handshake, signature checks on the raw
//! body, malformed and oversized bodies; nothing unverified reaches the store or the intake.

use callgate::cloud::signature::sign;
use callgate::cloud::webhook::{AcceptedWebhook, WebhookEndpoint};
use callgate::config::Secret;
use callgate::store::Store;
use tokio::sync::mpsc;

const SECRET: &str = "test-app-secret";
const CONNECT: &[u8] = include_bytes!("fixtures/webhook-calls-connect-uic.json");

struct Endpoint {
    url: String,
    store: Store,
    rx: mpsc::Receiver<AcceptedWebhook>,
    http: reqwest::Client,
}

async fn start(max_body_bytes: usize) -> Endpoint {
    let store = Store::open_in_memory().unwrap();
    let (tx, rx) = mpsc::channel(16);
    let ep = WebhookEndpoint {
        app_secret: Secret::new(SECRET),
        verify_token: Secret::new("my-verify-token"),
        store: store.clone(),
        intake: tx,
        max_body_bytes,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, ep.router()).await.unwrap() });
    Endpoint {
        url,
        store,
        rx,
        http: reqwest::Client::new(),
    }
}

impl Endpoint {
    async fn post(&self, body: &[u8], signature: Option<String>) -> (u16, String) {
        let mut req = self.http.post(&self.url).body(body.to_vec());
        if let Some(s) = signature {
            req = req.header("X-Hub-Signature-256", s);
        }
        let resp = req.send().await.unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    }

    fn inbox_len(&self) -> usize {
        self.store.unprocessed_webhooks().unwrap().len()
    }
}

#[tokio::test]
async fn verify_challenge_with_right_token_echoes_challenge() {
    let ep = start(3 << 20).await;
    let url = format!(
        "{}?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=my-verify-token",
        ep.url
    );
    let resp = ep.http.get(url).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.text().await.unwrap(), "1158201444");
}

#[tokio::test]
async fn verify_challenge_with_wrong_token_or_mode_is_forbidden() {
    let ep = start(3 << 20).await;
    for q in [
        "hub.mode=subscribe&hub.challenge=1&hub.verify_token=wrong",
        "hub.mode=unsubscribe&hub.challenge=1&hub.verify_token=my-verify-token",
        "hub.mode=subscribe&hub.challenge=1",
    ] {
        let resp = ep.http.get(format!("{}?{q}", ep.url)).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 403, "{q}");
    }
}

#[tokio::test]
async fn signed_connect_is_stored_then_handed_to_intake() {
    let mut ep = start(3 << 20).await;
    let (status, body) = ep
        .post(CONNECT, Some(sign(SECRET.as_bytes(), CONNECT)))
        .await;
    assert_eq!(status, 200, "{body}");
    let accepted = ep.rx.recv().await.unwrap();
    assert_eq!(accepted.events.len(), 1);
    assert_eq!(accepted.events[0].name(), "call_connect");
    let inbox = ep.store.unprocessed_webhooks().unwrap();
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].id, accepted.inbox_id);
    assert_eq!(inbox[0].body, CONNECT);
}

#[tokio::test]
async fn missing_signature_is_refused_and_nothing_processed() {
    let mut ep = start(3 << 20).await;
    let (status, body) = ep.post(CONNECT, None).await;
    assert_eq!(status, 401);
    assert!(body.contains("missing X-Hub-Signature-256"), "{body}");
    assert_eq!(ep.inbox_len(), 0);
    assert!(ep.rx.try_recv().is_err());
}

#[tokio::test]
async fn signature_with_wrong_secret_is_refused() {
    let mut ep = start(3 << 20).await;
    let (status, _) = ep
        .post(CONNECT, Some(sign(b"another-app-secret", CONNECT)))
        .await;
    assert_eq!(status, 401);
    assert_eq!(ep.inbox_len(), 0);
    assert!(ep.rx.try_recv().is_err());
}

#[tokio::test]
async fn body_changed_by_one_byte_after_signing_is_refused() {
    let mut ep = start(3 << 20).await;
    let sig = sign(SECRET.as_bytes(), CONNECT);
    let mut body = CONNECT.to_vec();
    let i = body.len() / 2;
    body[i] ^= 0x01;
    let (status, _) = ep.post(&body, Some(sig)).await;
    assert_eq!(status, 401);
    assert_eq!(ep.inbox_len(), 0);
    assert!(ep.rx.try_recv().is_err());
}

#[tokio::test]
async fn signed_but_malformed_json_is_a_400_with_the_position() {
    let mut ep = start(3 << 20).await;
    let body = br#"{"object":"whatsapp_business_account","entry":[{"id":"1",}]}"#;
    let (status, text) = ep.post(body, Some(sign(SECRET.as_bytes(), body))).await;
    assert_eq!(status, 400);
    assert!(text.contains("line 1"), "{text}");
    assert_eq!(ep.inbox_len(), 0);
    assert!(ep.rx.try_recv().is_err());
}

#[tokio::test]
async fn oversized_body_is_refused_before_anything_else() {
    let mut ep = start(4096).await;
    let body = vec![b' '; 8192];
    let (status, _) = ep.post(&body, Some(sign(SECRET.as_bytes(), &body))).await;
    assert_eq!(status, 413);
    assert_eq!(ep.inbox_len(), 0);
    assert!(ep.rx.try_recv().is_err());
}
