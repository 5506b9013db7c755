//! The Graph API client against the sandbox Cloud API over real HTTP on 127.0.0.1: every action's
//! happy path with the body the sandbox received, every error mapping, the webhook sender
//! (signature, duplicates, reordering, retries) and the client's retry policy.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use callgate::cloud::graph::{
    CallPermissions, GraphClient, GraphClientConfig, GraphError, PermissionStatus,
};
use callgate::cloud::graph_error::MetaErrorCode;
use callgate::cloud::signature;
use callgate::sandbox::{CallState, Direction, PermissionKind, Sandbox, SandboxConfig, UserCall};
use common::{send_json, send_status};
use serde_json::{Value, json};
use url::Url;

const USER: &str = "16315553602";

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// A business answer with LF line ends (as published), so CRLF normalisation is visible.
fn answer_sdp() -> String {
    let sdp = fixture("business-uic-answer-ref.sdp");
    assert!(!sdp.contains("\r\n"), "fixture is LF");
    sdp
}

fn offer_sdp() -> String {
    fixture("business-bic-offer-ref.sdp")
}

async fn bind() -> (tokio::net::TcpListener, Url) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    (listener, url)
}

fn client_for(base_url: Url, token: &str, max_retries: u32) -> GraphClient {
    GraphClient::new(GraphClientConfig {
        base_url,
        api_version: "v23.0".into(),
        access_token: token.into(),
        timeout: Duration::from_secs(5),
        max_retries,
        backoff_base: Duration::from_millis(10),
    })
    .unwrap()
}

struct Env {
    sandbox: Sandbox,
    client: GraphClient,
    base: Url,
    pnid: String,
}

async fn start(config: SandboxConfig) -> Env {
    let (listener, base) = bind().await;
    let token = config.access_token.clone();
    let pnid = config.numbers[0].0.clone();
    let sandbox = Sandbox::new(config);
    tokio::spawn(sandbox.clone().serve(listener));
    Env {
        client: client_for(base.clone(), &token, 2),
        sandbox,
        base,
        pnid,
    }
}

impl Env {
    /// A user-initiated call from [`USER`] to the test number; returns its call id.
    fn user_call(&self) -> String {
        self.sandbox
            .simulate_user_call(UserCall::new(USER, &self.pnid))
            .unwrap()
    }

    /// Gives [`USER`] a permanent call permission (no reply webhook).
    fn grant_permanent(&self) {
        self.sandbox
            .set_permission(USER, PermissionKind::Permanent, None, false);
    }

    /// Graph `pre_accept` of call `id` with the reference answer.
    async fn pre_accept(&self, id: &str) -> Result<(), GraphError> {
        self.client.pre_accept(&self.pnid, id, &answer_sdp()).await
    }

    /// What Graph `call_permissions` says of [`USER`].
    async fn user_permissions(&self) -> CallPermissions {
        self.client
            .get_call_permissions(&self.pnid, USER)
            .await
            .unwrap()
    }

    /// Graph `connect` to [`USER`] with the reference offer and no tracking data.
    async fn connect_user(&self) -> Result<String, GraphError> {
        self.client
            .connect(&self.pnid, USER, &offer_sdp(), None)
            .await
    }
}

async fn start_default() -> Env {
    start(SandboxConfig::default()).await
}

/// A webhook receiver recording each POST (body, signature); answers 500 to the first `fail_first`.
#[derive(Clone, Default)]
struct Receiver {
    hits: Arc<Mutex<Vec<Hit>>>,
}

/// One received webhook: raw body and `X-Hub-Signature-256`.
type Hit = (Bytes, Option<String>);

impl Receiver {
    async fn start(fail_first: usize) -> (Receiver, Url) {
        let recv = Receiver::default();
        let hits = recv.hits.clone();
        let app = Router::new().route(
            "/webhook",
            post(move |headers: HeaderMap, body: Bytes| {
                let hits = hits.clone();
                async move {
                    let sig = headers
                        .get(signature::SIGNATURE_HEADER)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    let mut hits = hits.lock().unwrap();
                    hits.push((body, sig));
                    if hits.len() <= fail_first {
                        StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        StatusCode::OK
                    }
                }
            }),
        );
        let (listener, base) = bind().await;
        tokio::spawn(async move { axum::serve(listener, app).await });
        (recv, base.join("webhook").unwrap())
    }

    fn bodies(&self) -> Vec<Value> {
        self.hits
            .lock()
            .unwrap()
            .iter()
            .map(|(b, _)| serde_json::from_slice(b).unwrap())
            .collect()
    }

    /// Waits until at least `n` webhooks arrived.
    async fn wait_for(&self, n: usize) -> Vec<Value> {
        for _ in 0..500 {
            if self.hits.lock().unwrap().len() >= n {
                return self.bodies();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("expected {n} webhooks, got {:?}", self.bodies());
    }
}

/// `event` of a calls webhook, or `status:<S>` for statuses, or the messages type.
fn webhook_kind(v: &Value) -> String {
    let value = &v["entry"][0]["changes"][0]["value"];
    if let Some(e) = value["calls"][0]["event"].as_str() {
        return e.to_string();
    }
    if let Some(s) = value["statuses"][0]["status"].as_str() {
        return format!("status:{s}");
    }
    value["messages"][0]["interactive"]["type"]
        .as_str()
        .unwrap_or("?")
        .to_string()
}

/// The kinds of `hooks`, in order (see [`webhook_kind`]).
fn kinds_of(hooks: &[Value]) -> Vec<String> {
    hooks.iter().map(webhook_kind).collect()
}

/// The first `calls[]` item of a calls webhook.
fn call_item(hook: &Value) -> &Value {
    &hook["entry"][0]["changes"][0]["value"]["calls"][0]
}

/// A sandbox with the default configuration changed by `tweak`, sending its webhooks to a
/// [`Receiver`] that answers 500 to the first `fail_first`.
async fn start_with_receiver(
    fail_first: usize,
    tweak: impl FnOnce(&mut SandboxConfig),
) -> (Env, Receiver) {
    let (recv, url) = Receiver::start(fail_first).await;
    let mut config = SandboxConfig {
        webhook_url: Some(url),
        ..SandboxConfig::default()
    };
    tweak(&mut config);
    (start(config).await, recv)
}

fn assert_crlf_sdp(body: &Value) {
    let sdp = body["session"]["sdp"].as_str().unwrap();
    assert!(sdp.starts_with("v=0\r\n"));
    assert!(sdp.ends_with("\r\n"));
    assert!(
        !sdp.replace("\r\n", "").contains('\n'),
        "bare LF in {sdp:?}"
    );
}

fn api_error(e: GraphError) -> (MetaErrorCode, u16, String, Option<Value>) {
    match e {
        GraphError::Api {
            code,
            http_status,
            message,
            error_data,
            ..
        } => (code, http_status, message, error_data),
        other => panic!("expected a Meta API error, got {other:?}"),
    }
}

#[path = "graph_sandbox/error_mapping.rs"]
mod error_mapping;
#[path = "graph_sandbox/happy_paths.rs"]
mod happy_paths;
#[path = "graph_sandbox/retry_policy.rs"]
mod retry_policy;
#[path = "graph_sandbox/sandbox_behaviour.rs"]
mod sandbox_behaviour;
