//! Helpers for the settings tests: post to the sandbox's Graph `/settings` as another app (or
//! WhatsApp Manager) would, and read the gateway's metrics.

use serde_json::Value;

use super::{PNID, TestGateway};

impl TestGateway {
    /// The sandbox's Graph base URL.
    pub fn graph_url(&self) -> String {
        format!("http://{}", self.gw.sandbox.as_ref().expect("sandbox").addr)
    }

    /// Posts `body` to the sandbox's `/v23.0/{PNID}/settings`; returns the status and JSON body.
    pub async fn post_meta_settings(&self, body: &Value) -> (u16, Value) {
        self.post_meta_settings_of(PNID, body).await
    }

    /// [`Self::post_meta_settings`] for number `pnid`.
    pub async fn post_meta_settings_of(&self, pnid: &str, body: &Value) -> (u16, Value) {
        let resp = self
            .http
            .post(format!("{}/v23.0/{pnid}/settings", self.graph_url()))
            .bearer_auth("sandbox-access-token")
            .json(body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// The gateway's `/metrics` text.
    pub async fn metrics_text(&self) -> String {
        let resp = self.http.get(self.url("/metrics")).send().await.unwrap();
        resp.text().await.unwrap()
    }
}
