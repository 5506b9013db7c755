//! [`MetaStandIn`]: Meta's side of a load run, reduced to what costs callgate work and nothing
//! that costs the generator: it posts signed `connect` and `terminate` webhooks shaped by the
//! sandbox ([`crate::sandbox::webhooks`]) concurrently (the sandbox's own sender delivers one at
//! a time, which would cap the set-up rate), answers the Graph `/calls` actions with success,
//! hands `pre_accept`'s answer to the call's phone and stamps when each action arrived.
//!
//! It validates nothing: the sandbox does that in the functional tests.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::phones::{PhoneId, Phones};
use crate::cloud::signature::{SIGNATURE_HEADER, sign};
use crate::sandbox::state::{CallRecord, Direction, unix_now};
use crate::sandbox::webhooks::{self, Origin};

/// The business number the load run calls.
pub const PNID: &str = "100000000000001";
/// Its display number.
pub const DISPLAY_NUMBER: &str = "15550000001";
const WABA_ID: &str = "100000000000000";

/// When Meta's side saw each step of one call.
#[derive(Debug, Default, Clone, Copy)]
pub struct SetupTimes {
    /// The connect webhook was posted.
    pub webhook_sent: Option<Instant>,
    /// callgate answered it (HTTP 200).
    pub webhook_answered: Option<Instant>,
    /// `pre_accept` arrived.
    pub pre_accept: Option<Instant>,
    /// `accept` arrived.
    pub accept: Option<Instant>,
    /// `reject` or `terminate` arrived (callgate ended the call).
    pub ended_by_business: Option<Instant>,
}

struct Slot {
    phone: PhoneId,
    times: SetupTimes,
}

struct Inner {
    phones: Phones,
    calls: Mutex<HashMap<String, Slot>>,
    http: reqwest::Client,
    webhook_url: String,
    app_secret: String,
}

/// Meta for the load run. Cheap to clone.
#[derive(Clone)]
pub struct MetaStandIn {
    inner: Arc<Inner>,
}

impl MetaStandIn {
    /// Meta posting to `webhook_url` signed with `app_secret`, its users' phones in `phones`.
    pub fn new(phones: Phones, webhook_url: String, app_secret: String) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .pool_max_idle_per_host(1024)
            .build()
            .expect("a plain reqwest client builds");
        Self {
            inner: Arc::new(Inner {
                phones,
                calls: Mutex::new(HashMap::new()),
                http,
                webhook_url,
                app_secret,
            }),
        }
    }

    /// The Graph endpoints callgate calls (`POST /{version}/{pnid}/calls`).
    pub fn router(&self) -> Router {
        Router::new()
            .route("/{ver}/{pnid}/calls", post(calls))
            .with_state(self.clone())
    }

    /// Serves [`MetaStandIn::router`] on `listener` until the task is dropped.
    pub async fn serve(self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        axum::serve(listener, self.router()).await
    }

    fn calls(&self) -> MutexGuard<'_, HashMap<String, Slot>> {
        self.inner.calls.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The user of `phone` calls with `offer`: posts the connect webhook for `call_id`.
    pub async fn connect(
        &self,
        call_id: &str,
        user: &str,
        phone: PhoneId,
        offer: String,
    ) -> Result<(), String> {
        let record = record(call_id, user, Some(offer));
        let body = webhooks::connect_user_initiated(&origin(), &record, "Load Test", unix_now());
        self.calls().insert(
            call_id.to_string(),
            Slot {
                phone,
                times: SetupTimes {
                    webhook_sent: Some(Instant::now()),
                    ..SetupTimes::default()
                },
            },
        );
        self.post(&body).await?;
        if let Some(s) = self.calls().get_mut(call_id) {
            s.times.webhook_answered = Some(Instant::now());
        }
        Ok(())
    }

    /// The user hangs up: posts the terminate webhook (`COMPLETED`).
    pub async fn terminate(&self, call_id: &str, user: &str) -> Result<(), String> {
        let body = webhooks::terminate(
            &origin(),
            &record(call_id, user, None),
            "COMPLETED",
            unix_now(),
            None,
        );
        self.post(&body).await
    }

    /// What Meta saw of `call_id` so far.
    pub fn times(&self, call_id: &str) -> SetupTimes {
        self.calls()
            .get(call_id)
            .map(|s| s.times)
            .unwrap_or_default()
    }

    /// Forgets a finished call.
    pub fn forget(&self, call_id: &str) {
        self.calls().remove(call_id);
    }

    async fn post(&self, body: &Value) -> Result<(), String> {
        let bytes = serde_json::to_vec(body).map_err(|e| e.to_string())?;
        let resp = self
            .inner
            .http
            .post(&self.inner.webhook_url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(
                SIGNATURE_HEADER,
                sign(self.inner.app_secret.as_bytes(), &bytes),
            )
            .body(bytes)
            .send()
            .await
            .map_err(|e| format!("webhook to {}: {e}", self.inner.webhook_url))?;
        match resp.status().as_u16() {
            200 => Ok(()),
            s => Err(format!("webhook answered HTTP {s}")),
        }
    }

    fn on_action(&self, action: &str, call_id: &str, sdp: Option<String>) {
        let now = Instant::now();
        let mut calls = self.calls();
        let Some(slot) = calls.get_mut(call_id) else {
            return;
        };
        match action {
            "pre_accept" => {
                slot.times.pre_accept.get_or_insert(now);
                if let Some(sdp) = sdp {
                    let _ = self.inner.phones.answer(slot.phone, sdp);
                }
            }
            "accept" => {
                slot.times.accept.get_or_insert(now);
            }
            "reject" | "terminate" => {
                slot.times.ended_by_business.get_or_insert(now);
            }
            _ => {}
        }
    }
}

async fn calls(State(meta): State<MetaStandIn>, Json(body): Json<Value>) -> Json<Value> {
    let action = body["action"].as_str().unwrap_or_default();
    let call_id = body["call_id"].as_str().unwrap_or_default();
    let sdp = body["session"]["sdp"].as_str().map(str::to_string);
    meta.on_action(action, call_id, sdp);
    Json(json!({"messaging_product": "whatsapp", "success": true}))
}

fn origin() -> Origin<'static> {
    Origin {
        waba_id: WABA_ID,
        pnid: PNID,
        display_number: DISPLAY_NUMBER,
    }
}

/// The sandbox's record of a user call, as its webhook builders take it.
fn record(call_id: &str, user: &str, offer: Option<String>) -> CallRecord {
    CallRecord::ringing(
        call_id.to_string(),
        PNID,
        DISPLAY_NUMBER,
        user,
        Direction::UserInitiated,
        offer,
    )
}

/// The address a stand-in listens on, for configuring callgate.
pub fn graph_base_url(addr: SocketAddr) -> String {
    format!("http://{addr}")
}
