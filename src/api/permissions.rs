//! `GET /v1/permissions/{wa_id}` (the user's call permission, counters and next allowed times)
//! and `POST /v1/permissions/{wa_id}/request` (send a call permission request, refused locally
//! when a limit would be hit). `?from=` / `"from"` pick the business number (default: the first).

use super::{ApiState, error};
use crate::call::wa_number;
use crate::policy::permission_service::RequestError;
use crate::policy::permissions::at;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

/// `?from=` of `GET /v1/permissions/{wa_id}`.
#[derive(Debug, Deserialize)]
pub struct From {
    from: Option<String>,
}

/// Body of `POST /v1/permissions/{wa_id}/request` (all optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestBody {
    from: Option<String>,
    /// Body text of the interactive request.
    body: Option<String>,
}

fn pair(st: &ApiState, wa_id: &str, from: Option<&str>) -> Result<(String, String), Box<Response>> {
    let user = wa_number(wa_id).ok_or_else(|| {
        Box::new(error(
            StatusCode::BAD_REQUEST,
            "bad_wa_id",
            format!("{wa_id:?} is not a phone number in international form"),
        ))
    })?;
    let (pnid, _) = st.number(from).ok_or_else(|| {
        Box::new(error(
            StatusCode::BAD_REQUEST,
            "unknown_from",
            format!("from {from:?} is not one of the business numbers in [[numbers]]"),
        ))
    })?;
    Ok((pnid, user))
}

pub async fn show(
    State(st): State<ApiState>,
    Path(wa_id): Path<String>,
    Query(q): Query<From>,
) -> Response {
    let (pnid, user) = match pair(&st, &wa_id, q.from.as_deref()) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let v = st.permissions.view(&pnid, &user).await;
    Json(json!({
        "phone_number_id": pnid,
        "wa_id": user,
        "permission": v.state.grant,
        "source": v.state.source,
        "consecutive_unanswered": v.state.consecutive_unanswered,
        "requests_sent": v.state.requests_ms.iter().map(|t| at(*t)).collect::<Vec<_>>(),
        "connected_calls_24h": v.state.connected_calls_ms.len(),
        "service_window_open": v.service_window_open,
        "call": {"allowed": v.call.allowed, "reason": v.call.reason,
                 "next_allowed_at": v.call.next_allowed_at_ms.map(at)},
        "request": {"allowed": v.request.allowed, "reason": v.request.reason,
                    "next_allowed_at": v.request.next_allowed_at_ms.map(at)},
    }))
    .into_response()
}

pub async fn request(
    State(st): State<ApiState>,
    Path(wa_id): Path<String>,
    body: Option<Json<RequestBody>>,
) -> Response {
    let body = body.map(|Json(b)| b).unwrap_or_default();
    let (pnid, user) = match pair(&st, &wa_id, body.from.as_deref()) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    match st
        .permissions
        .request(&pnid, &user, body.body.as_deref())
        .await
    {
        Ok(sent) => (
            StatusCode::CREATED,
            Json(json!({"message_id": sent.message_id, "kind": sent.kind})),
        )
            .into_response(),
        Err(RequestError::Refused(v)) => (
            StatusCode::CONFLICT,
            Json(json!({"error": v.code, "message": v.reason,
                        "next_allowed_at": v.next_allowed_at_ms.map(at)})),
        )
            .into_response(),
        Err(e @ RequestError::Graph(_)) => error(StatusCode::BAD_GATEWAY, "meta", e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, "store", e.to_string()),
    }
}
