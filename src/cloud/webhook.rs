//! The `/webhook` endpoint Meta calls: the GET subscription handshake and signed POSTs.
//!
//! A POST is checked in this order, and nothing is processed unless every step passes:
//! body size (413), `X-Hub-Signature-256` on the raw bytes in constant time (401), JSON shape
//! (400). A POST that passes is written to the store's inbox *before* the 200 goes out, then
//! handed to the intake task; an inbox row that was never marked processed (a crash in between)
//! is re-dispatched at start-up, so an accepted event is never lost.

use super::events::{WebhookEvent, parse_webhook};
use super::signature::{self, SIGNATURE_HEADER};
use crate::config::Secret;
use crate::store::Store;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::collections::HashMap;
use tokio::sync::mpsc;

/// A webhook that passed every check and is in the inbox.
#[derive(Debug)]
pub struct AcceptedWebhook {
    /// Inbox row id, to mark processed once every event in it is handled.
    pub inbox_id: i64,
    /// The events in it.
    pub events: Vec<WebhookEvent>,
}

/// What the endpoint needs.
#[derive(Clone)]
pub struct WebhookEndpoint {
    /// Key of `X-Hub-Signature-256`.
    pub app_secret: Secret,
    /// The subscription handshake's `hub.verify_token`.
    pub verify_token: Secret,
    /// Where accepted bodies are written before answering 200.
    pub store: Store,
    /// Where accepted webhooks go for processing.
    pub intake: mpsc::Sender<AcceptedWebhook>,
    /// Largest body accepted, in bytes.
    pub max_body_bytes: usize,
}

impl WebhookEndpoint {
    /// `GET /webhook` and `POST /webhook`.
    pub fn router(self) -> Router {
        let limit = self.max_body_bytes;
        Router::new()
            .route("/webhook", get(verify_subscription).post(receive))
            .layer(DefaultBodyLimit::max(limit))
            .with_state(self)
    }
}

fn count(outcome: &'static str) {
    metrics::counter!("callgate_webhooks_total", "outcome" => outcome).increment(1);
}

/// Meta's subscription handshake: `hub.mode=subscribe`, `hub.verify_token`, `hub.challenge`.
async fn verify_subscription(
    State(ep): State<WebhookEndpoint>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mode_ok = q.get("hub.mode").map(String::as_str) == Some("subscribe");
    let token_ok = q
        .get("hub.verify_token")
        .is_some_and(|t| signature::verify_token_matches(ep.verify_token.expose(), t));
    match q.get("hub.challenge") {
        Some(challenge) if mode_ok && token_ok => {
            count("verified");
            tracing::info!("webhook subscription verified");
            (StatusCode::OK, challenge.clone()).into_response()
        }
        _ => {
            count("verify_refused");
            tracing::warn!(
                mode_ok,
                token_ok,
                "webhook subscription refused: hub.verify_token does not match [meta] verify_token"
            );
            (StatusCode::FORBIDDEN, "verification refused").into_response()
        }
    }
}

async fn receive(State(ep): State<WebhookEndpoint>, headers: HeaderMap, body: Bytes) -> Response {
    let sig = headers.get(SIGNATURE_HEADER).map(|v| v.as_bytes());
    if let Err(e) = signature::verify(ep.app_secret.expose().as_bytes(), &body, sig) {
        count("bad_signature");
        tracing::warn!(error = %e, bytes = body.len(), "webhook refused");
        return (StatusCode::UNAUTHORIZED, e.to_string()).into_response();
    }
    let events = match parse_webhook(&body) {
        Ok(events) => events,
        Err(e) => {
            count("malformed");
            tracing::warn!(error = %e, "signed webhook is malformed; nothing processed");
            return (StatusCode::BAD_REQUEST, format!("malformed webhook: {e}")).into_response();
        }
    };
    let store = ep.store.clone();
    let received_at = crate::store::now_ms();
    let raw = body.clone();
    let inserted =
        tokio::task::spawn_blocking(move || store.insert_webhook(received_at, &raw)).await;
    let inbox_id = match inserted {
        Ok(Ok(id)) => id,
        Ok(Err(e)) => {
            count("store_failed");
            tracing::error!(error = %e, "cannot store webhook; answering 500 so Meta retries");
            return (StatusCode::INTERNAL_SERVER_ERROR, "store unavailable").into_response();
        }
        Err(e) => {
            count("store_failed");
            tracing::error!(error = %e, "webhook store task failed; answering 500");
            return (StatusCode::INTERNAL_SERVER_ERROR, "store unavailable").into_response();
        }
    };
    count("accepted");
    if ep
        .intake
        .send(AcceptedWebhook { inbox_id, events })
        .await
        .is_err()
    {
        // Shutting down: the row stays unprocessed and is re-dispatched at the next start.
        tracing::warn!(
            inbox_id,
            "intake stopped; webhook kept in the inbox for the next start"
        );
    }
    (StatusCode::OK, "EVENT_RECEIVED").into_response()
}
