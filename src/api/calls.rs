//! `GET /v1/calls` (newest first, filters and paging) and `GET /v1/calls/{id}` (record + timeline;
//! the id is callgate's key or Meta's call id).

use super::{ApiState, error};
use crate::store::{CallQuery, Direction};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

/// Query string of `GET /v1/calls`.
#[derive(Debug, Deserialize)]
pub struct ListParams {
    /// At most this many records (default 50, at most 500).
    limit: Option<u32>,
    /// Only calls created before this time (Unix milliseconds), for paging.
    before: Option<i64>,
    /// With `before`: the id of the last call of the previous page.
    before_id: Option<String>,
    /// `user_initiated` or `business_initiated`.
    direction: Option<String>,
    /// Only calls on this business number.
    phone_number_id: Option<String>,
}

pub async fn list(State(st): State<ApiState>, Query(p): Query<ListParams>) -> Response {
    let direction = match p.direction.as_deref() {
        None => None,
        Some("user_initiated") => Some(Direction::UserInitiated),
        Some("business_initiated") => Some(Direction::BusinessInitiated),
        Some(other) => {
            return error(
                StatusCode::BAD_REQUEST,
                "bad_direction",
                format!("direction {other:?}: use user_initiated or business_initiated"),
            );
        }
    };
    let query = CallQuery {
        limit: p.limit.unwrap_or(50).clamp(1, 500),
        before_ms: p.before,
        before_id: p.before_id,
        direction,
        phone_number_id: p.phone_number_id,
    };
    let store = st.store.clone();
    match tokio::task::spawn_blocking(move || store.list_calls(&query)).await {
        Ok(Ok(calls)) => Json(serde_json::json!({ "calls": calls })).into_response(),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, "store", e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, "store", e.to_string()),
    }
}

pub async fn get_one(State(st): State<ApiState>, Path(id): Path<String>) -> Response {
    let store = st.store.clone();
    let lookup = tokio::task::spawn_blocking(move || {
        let rec = store.find_call(&id)?;
        let timeline = match &rec {
            Some(r) => store.timeline(&r.id)?,
            None => Vec::new(),
        };
        Ok::<_, crate::store::StoreError>((id, rec, timeline))
    })
    .await;
    match lookup {
        Ok(Ok((_, Some(rec), timeline))) => {
            Json(serde_json::json!({ "call": rec, "timeline": timeline })).into_response()
        }
        Ok(Ok((id, None, _))) => error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no call with id {id:?}"),
        ),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, "store", e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, "store", e.to_string()),
    }
}
