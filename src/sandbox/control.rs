//! The sandbox control API for tests and the demo (no auth; refused unless the peer is loopback):
//! simulate user calls, hang-ups, pick-ups and declines, inspect calls with their action logs,
//! set permissions, list the Graph requests and webhook deliveries seen, and drive the calls'
//! simulated phones (DTMF, play, media report, WAV recording), and inject failures of Graph
//! `/calls` actions with a chosen Meta error code (`POST /sandbox/faults`).

use std::net::SocketAddr;
use std::path::PathBuf;
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
use super::media::DEFAULT_TONE_HZ;
use super::phone::{AudioSpec, MediaReport};
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
        .route("/sandbox/calls/{id}/dtmf", post(dtmf))
        .route("/sandbox/calls/{id}/play", post(play))
        .route("/sandbox/calls/{id}/media", get(media))
        .route("/sandbox/calls/{id}/recording", post(recording))
        .route("/sandbox/permissions/{wa_id}", put(put_permission))
        .route("/sandbox/requests", get(list_requests))
        .route("/sandbox/faults", post(add_fault))
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

/// Body of `POST /sandbox/faults`.
#[derive(Debug, Deserialize)]
struct Fault {
    /// The `/calls` action to fail (`connect`, `pre_accept`, `accept`, `reject`, `terminate`).
    action: String,
    /// The Meta error code to answer with (e.g. 138004).
    code: u32,
}

async fn add_fault(State(sb): State<Sandbox>, Json(f): Json<Fault>) -> StatusCode {
    sb.inject_fault(&f.action, f.code);
    StatusCode::NO_CONTENT
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

/// Body of `POST /sandbox/calls/{id}/dtmf`.
#[derive(Debug, Deserialize)]
struct DtmfRequest {
    /// `0-9 * # A-D`.
    digits: String,
}

async fn dtmf(
    State(sb): State<Sandbox>,
    Path(id): Path<String>,
    Json(req): Json<DtmfRequest>,
) -> Result<StatusCode, SandboxError> {
    sb.send_dtmf(&id, &req.digits)
        .map(|()| StatusCode::NO_CONTENT)
}

/// Body of `POST /sandbox/calls/{id}/play`: a WAV file, else a tone (default 440 Hz).
#[derive(Debug, Deserialize)]
struct PlayRequest {
    #[serde(default)]
    tone_hz: Option<f64>,
    #[serde(default)]
    wav: Option<PathBuf>,
}

async fn play(
    State(sb): State<Sandbox>,
    Path(id): Path<String>,
    Json(req): Json<PlayRequest>,
) -> Result<StatusCode, SandboxError> {
    let audio = match (req.wav, req.tone_hz) {
        (Some(path), _) => AudioSpec::Wav(path),
        (None, hz) => AudioSpec::Tone(hz.unwrap_or(DEFAULT_TONE_HZ)),
    };
    sb.play(&id, &audio).map(|()| StatusCode::NO_CONTENT)
}

async fn media(
    State(sb): State<Sandbox>,
    Path(id): Path<String>,
) -> Result<Json<MediaReport>, SandboxError> {
    sb.media_report(&id).await.map(Json)
}

/// Body of `POST /sandbox/calls/{id}/recording`.
#[derive(Debug, Deserialize)]
struct RecordingRequest {
    /// Where to write the WAV file (48 kHz mono, 16-bit).
    path: PathBuf,
}

async fn recording(
    State(sb): State<Sandbox>,
    Path(id): Path<String>,
    Json(req): Json<RecordingRequest>,
) -> Result<StatusCode, SandboxError> {
    sb.write_recording(&id, &req.path)
        .await
        .map(|()| StatusCode::NO_CONTENT)
}
