//! `GET /v1/numbers/{id}/status` (open now, next change, active restrictions at Meta, drift) and
//! `PUT|DELETE /v1/numbers/{id}/hours`: business hours validated like the configuration plus
//! Meta's "no past holiday" rule, stored so they survive restarts, in force at once. `{id}` is the
//! phone number id or the display number.

use super::{ApiState, error};
use crate::policy::hours::CallHours;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde_json::json;

fn unknown(id: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "unknown_number",
        format!("{id} is not a phone_number_id or display_phone_number in [[numbers]]"),
    )
}

/// The status body of number `pnid` now.
fn status_body(st: &ApiState, pnid: &str) -> Response {
    let now = Timestamp::now();
    let Some(status) = st.settings.policy().status(pnid, now) else {
        return unknown(pnid);
    };
    let mut body = serde_json::to_value(&status).unwrap_or_default();
    body["restrictions"] = json!(st.settings.restrictions(pnid, now));
    body["meta_settings"] = match st.settings.meta_view(pnid) {
        Some(v) => json!({"seen_at": v.at.to_string(), "source": v.source}),
        None => serde_json::Value::Null,
    };
    body["drift"] = match st.settings.drift(pnid) {
        Some(d) => json!(d.iter().map(ToString::to_string).collect::<Vec<_>>()),
        None => serde_json::Value::Null,
    };
    Json(body).into_response()
}

pub async fn status(State(st): State<ApiState>, Path(id): Path<String>) -> Response {
    match st.settings.policy().phone_number_id(&id).map(String::from) {
        Some(pnid) => status_body(&st, &pnid),
        None => unknown(&id),
    }
}

/// Parses `call_hours` JSON, refusing keys Meta would not know (a typo must not drop holidays).
fn parse_hours(body: &[u8]) -> Result<CallHours, String> {
    let mut unknown = Vec::new();
    let de = &mut serde_json::Deserializer::from_slice(body);
    let hours: CallHours = serde_ignored::deserialize(de, |p| unknown.push(p.to_string()))
        .map_err(|e| {
            format!("the body is not call_hours JSON ({e}); send Meta's call_hours object")
        })?;
    if !unknown.is_empty() {
        return Err(format!(
            "unknown key(s) {}: call_hours has status, timezone_id, weekly_operating_hours, holiday_schedule",
            unknown.join(", ")
        ));
    }
    Ok(hours)
}

pub async fn put_hours(
    State(st): State<ApiState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let Some(pnid) = st.settings.policy().phone_number_id(&id).map(String::from) else {
        return unknown(&id);
    };
    let hours = match parse_hours(&body) {
        Ok(h) => h,
        Err(msg) => return error(StatusCode::BAD_REQUEST, "bad_hours_json", msg),
    };
    let schedule = match hours.validate_for_meta(Timestamp::now()) {
        Ok(s) => s,
        Err(e) => {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_hours",
                e.to_string(),
            );
        }
    };
    let text = serde_json::to_string(&hours).unwrap_or_default();
    let (store, key) = (st.store.clone(), pnid.clone());
    let saved = tokio::task::spawn_blocking(move || {
        store.put_number_hours(&key, &text, crate::store::now_ms())
    })
    .await;
    if let Err(msg) = flatten(saved) {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "store", msg);
    }
    st.settings.policy().set_api_hours(&pnid, Some(schedule));
    tracing::info!(phone_number_id = %pnid, "business hours replaced through the operator API; `callgate settings push` sends them to Meta");
    st.settings.report(&pnid);
    status_body(&st, &pnid)
}

pub async fn delete_hours(State(st): State<ApiState>, Path(id): Path<String>) -> Response {
    let Some(pnid) = st.settings.policy().phone_number_id(&id).map(String::from) else {
        return unknown(&id);
    };
    let (store, key) = (st.store.clone(), pnid.clone());
    let deleted = tokio::task::spawn_blocking(move || store.delete_number_hours(&key)).await;
    if let Err(msg) = flatten(deleted) {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "store", msg);
    }
    st.settings.policy().set_api_hours(&pnid, None);
    tracing::info!(phone_number_id = %pnid, "business hours set through the operator API removed: [numbers.hours] applies again");
    st.settings.report(&pnid);
    status_body(&st, &pnid)
}

fn flatten<T>(
    r: Result<Result<T, crate::store::StoreError>, tokio::task::JoinError>,
) -> Result<T, String> {
    match r {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(e.to_string()),
    }
}
