//! Shared set-up for gateway-level tests: the embedded default configuration on free loopback
//! ports with a throw-away store, helpers to sign and post webhooks like Meta, and (for any test)
//! HTTP one-liners and child-process helpers ([`process`]).
#![allow(dead_code)]

pub mod calls;
pub mod hours;
pub mod process;
pub mod settings;

use callgate::cloud::signature::sign;
use callgate::config::Config;
use callgate::gateway::Gateway;
use std::time::{Duration, Instant};

/// The default configuration's secrets (see config/callgate.toml).
pub const APP_SECRET: &str = "sandbox-app-secret";
pub const API_TOKEN: &str = "sandbox-operator-token";
pub const PNID: &str = "100000000000001";

/// A running gateway with its temporary directory (removed on drop).
pub struct TestGateway {
    pub gw: Gateway,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
}

/// The embedded default with free ports and a store in a fresh temporary directory.
pub fn test_config(dir: &std::path::Path) -> Config {
    let mut cfg = Config::embedded_default().expect("embedded default is valid");
    cfg.http.listen.set_port(0);
    cfg.sandbox.listen.set_port(0);
    cfg.sip.listen.set_port(0);
    cfg.media.port_min = 0;
    cfg.media.port_max = 0;
    cfg.store.path = dir.join("callgate.db");
    cfg
}

pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> TestGateway {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = test_config(dir.path());
    tweak(&mut cfg);
    let gw = Gateway::start(cfg).await.expect("gateway starts");
    TestGateway {
        gw,
        dir,
        http: reqwest::Client::new(),
    }
}

pub async fn start() -> TestGateway {
    start_with(|_| {}).await
}

impl TestGateway {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.gw.http_addr)
    }

    pub fn sandbox(&self) -> &callgate::sandbox::Sandbox {
        &self.gw.sandbox.as_ref().expect("sandbox enabled").sandbox
    }

    /// Posts `body` to /webhook signed with the default app secret; returns the HTTP status.
    pub async fn post_signed(&self, body: &[u8]) -> u16 {
        let req = self
            .http
            .post(self.url("/webhook"))
            .header("X-Hub-Signature-256", sign(APP_SECRET.as_bytes(), body))
            .body(body.to_vec());
        send_status(req).await.as_u16()
    }

    /// Graph actions the sandbox received for `call_id`, in order.
    pub fn graph_actions(&self, call_id: &str) -> Vec<String> {
        self.sandbox()
            .requests()
            .iter()
            .filter(|r| r.body.get("call_id").and_then(|v| v.as_str()) == Some(call_id))
            .filter_map(|r| {
                r.body
                    .get("action")
                    .and_then(|v| v.as_str())
                    .map(String::from)
            })
            .collect()
    }

    /// `GET path` on the operator API (with the operator token): the JSON body.
    pub async fn api_get(&self, path: &str) -> serde_json::Value {
        send_json(self.http.get(self.url(path)).bearer_auth(API_TOKEN)).await
    }

    /// What `GET /metrics` shows now (Prometheus text).
    pub async fn metrics(&self) -> String {
        self.http
            .get(self.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Timeline kinds recorded for `call_id`.
    pub fn timeline_kinds(&self, call_id: &str) -> Vec<String> {
        self.gw
            .store
            .timeline(call_id)
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect()
    }

    pub async fn shutdown(self) {
        self.gw.shutdown().await;
    }
}

/// Sends `req` and returns the status of the response.
pub async fn send_status(req: reqwest::RequestBuilder) -> reqwest::StatusCode {
    req.send().await.unwrap().status()
}

/// Sends `req` and returns the response's JSON body.
pub async fn send_json(req: reqwest::RequestBuilder) -> serde_json::Value {
    req.send().await.unwrap().json().await.unwrap()
}

/// Polls `cond` every 10 ms until it holds; panics with `what` after 10 s.
pub async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A signed-to-be `calls` webhook for the default number carrying one call object.
fn calls_webhook(call: serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "100000000000000", "changes": [{"field": "calls", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550000001", "phone_number_id": PNID},
            "contacts": [{"profile": {"name": "Test Caller"}, "wa_id": "16315553602"}],
            "calls": [call]}}]}]
    }))
    .unwrap()
}

/// A user-initiated connect webhook for `call_id` with a current timestamp and Meta's real offer.
pub fn connect_webhook(call_id: &str) -> Vec<u8> {
    let offer = include_str!("../fixtures/meta-uic-offer-real-2025-10-17.sdp");
    calls_webhook(
        serde_json::json!({"id": call_id, "from": "16315553602", "to": "15550000001",
        "event": "connect", "timestamp": now_s().to_string(), "direction": "USER_INITIATED",
        "session": {"sdp_type": "offer", "sdp": offer}}),
    )
}

/// A terminate webhook for `call_id`.
pub fn terminate_webhook(call_id: &str) -> Vec<u8> {
    calls_webhook(
        serde_json::json!({"id": call_id, "from": "16315553602", "to": "15550000001",
        "event": "terminate", "timestamp": now_s().to_string(), "direction": "USER_INITIATED",
        "status": "FAILED"}),
    )
}
