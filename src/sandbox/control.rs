//! The sandbox control API for tests and the demo (no auth; refused unless the peer is loopback):
//! simulate user calls, hang-ups, pick-ups and declines, inspect calls with their action logs,
//! set permissions, and list the Graph requests and webhook deliveries seen.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::lifecycle::UserCall;
use super::state::PermissionKind;
use super::{Sandbox, SandboxError};

/// The `/sandbox/...` routes (state: the sandbox).
pub fn routes() -> Router<Sandbox> {
    Router::new()
        .route("/sandbox/calls", post(create_call).get(list_calls))
        .route("/sandbox/calls/{id}", get(get_call))
        .route("/sandbox/calls/{id}/hangup", post(hangup))
        .route("/sandbox/calls/{id}/answer", post(answer))
        .route("/sandbox/calls/{id}/decline", post(decline))
        .route("/sandbox/permissions/{wa_id}", put(put_permission))
        .route("/sandbox/requests", get(list_requests))
        .route("/sandbox/webhooks", get(list_webhooks))
        .route_layer(middleware::from_fn(loopback_only))
}

/// Refuses peers that are not loopback (when the server records peer addresses).
async fn loopback_only(req: Request, next: Next) -> Response {
    if let Some(ConnectInfo(addr)) = req.extensions().get::<ConnectInfo<SocketAddr>>()
        && !addr.ip().is_loopback()
    {
        return (
            StatusCode::FORBIDDEN,
            Json(json!({"error": "the sandbox control API only answers loopback clients"})),
        )
            .into_response();
    }
    next.run(req).await
}

async fn create_call(
    State(sb): State<Sandbox>,
    Json(call): Json<UserCall>,
) -> Result<Json<serde_json::Value>, SandboxError> {
    let id = sb.simulate_user_call(call)?;
    Ok(Json(json!({"call_id": id})))
}

async fn list_calls(State(sb): State<Sandbox>) -> Json<serde_json::Value> {
    Json(json!({"calls": sb.calls()}))
}

async fn get_call(State(sb): State<Sandbox>, Path(id): Path<String>) -> Response {
    match sb.call_state(&id) {
        Some(call) => Json(call).into_response(),
        None => SandboxError::UnknownCall(id).into_response(),
    }
}

async fn hangup(
    State(sb): State<Sandbox>,
    Path(id): Path<String>,
) -> Result<StatusCode, SandboxError> {
    sb.hangup(&id).map(|()| StatusCode::NO_CONTENT)
}

async fn answer(
    State(sb): State<Sandbox>,
    Path(id): Path<String>,
) -> Result<StatusCode, SandboxError> {
    sb.answer(&id).map(|()| StatusCode::NO_CONTENT)
}

async fn decline(
    State(sb): State<Sandbox>,
    Path(id): Path<String>,
) -> Result<StatusCode, SandboxError> {
    sb.decline(&id).map(|()| StatusCode::NO_CONTENT)
}

/// Body of `PUT /sandbox/permissions/{wa_id}`.
#[derive(Debug, Deserialize)]
struct PermissionUpdate {
    /// `no_permission` | `temporary` | `permanent`.
    status: String,
    /// Lifetime of a temporary permission (default 7 days).
    #[serde(default)]
    expires_in_s: Option<u64>,
    /// Send the `call_permission_reply` webhook (default true).
    #[serde(default)]
    notify: Option<bool>,
}

async fn put_permission(
    State(sb): State<Sandbox>,
    Path(wa_id): Path<String>,
    Json(update): Json<PermissionUpdate>,
) -> Result<StatusCode, SandboxError> {
    let kind = PermissionKind::parse(&update.status).ok_or_else(|| {
        SandboxError::InvalidRequest(format!(
            "status must be no_permission, temporary or permanent, got {:?}",
            update.status
        ))
    })?;
    sb.set_permission(
        &wa_id,
        kind,
        update.expires_in_s.map(Duration::from_secs),
        update.notify.unwrap_or(true),
    );
    Ok(StatusCode::NO_CONTENT)
}

async fn list_requests(State(sb): State<Sandbox>) -> Json<serde_json::Value> {
    Json(json!({"requests": sb.requests()}))
}

async fn list_webhooks(State(sb): State<Sandbox>) -> Json<serde_json::Value> {
    Json(json!({"deliveries": sb.webhook_deliveries()}))
}
