//! Placing and ending calls: `POST /v1/calls` (a business-initiated call to a WhatsApp user,
//! bridged to an agent's SIP phone) and `DELETE /v1/calls/{id}`. The business hours and the
//! user's call permission are checked first: a denied call answers 403 (no permission) or 409
//! (outside hours, a limit; with the next allowed time) and nothing is sent to Meta.

use super::{ApiState, error};
use crate::call::{AgentBridge, BicOrigin, BridgeMode, BusinessCallParams, Input, wa_number};
use crate::cloud::graph::BIZ_OPAQUE_MAX_CHARS;
use crate::policy::permissions::at;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

/// Body of `POST /v1/calls`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlaceCall {
    /// The WhatsApp user's number (E.164, with or without `+`).
    to: String,
    /// The business number to call from: its display number or phone number id (default: the
    /// first configured number).
    from: Option<String>,
    /// The agent's SIP URI to bridge the user to.
    agent: Option<String>,
    /// `agent_first` (default) or `user_first`.
    #[serde(default)]
    mode: BridgeMode,
    /// Echoed by Meta in this call's webhooks (at most 512 characters).
    biz_opaque_callback_data: Option<String>,
}

pub async fn place(State(st): State<ApiState>, Json(req): Json<PlaceCall>) -> Response {
    let Some(to) = wa_number(&req.to) else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_to",
            format!(
                "to {:?} is not a phone number in international form",
                req.to
            ),
        );
    };
    let Some((pnid, display)) = st.number(req.from.as_deref()) else {
        return error(
            StatusCode::BAD_REQUEST,
            "unknown_from",
            format!(
                "from {:?} is not one of the business numbers in [[numbers]]",
                req.from.unwrap_or_default()
            ),
        );
    };
    if let Some(agent) = &req.agent
        && let Err(e) = crate::pbx::Target::parse(agent)
    {
        return error(StatusCode::BAD_REQUEST, "bad_agent", e.to_string());
    }
    if req
        .biz_opaque_callback_data
        .as_ref()
        .is_some_and(|o| o.chars().count() > BIZ_OPAQUE_MAX_CHARS)
    {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_biz_opaque_callback_data",
            format!("biz_opaque_callback_data is longer than {BIZ_OPAQUE_MAX_CHARS} characters"),
        );
    }
    let hours = st
        .settings
        .policy()
        .business_hours(&pnid, jiff::Timestamp::now());
    if !hours.allowed {
        return (
            StatusCode::CONFLICT,
            Json(json!({
                "error": "outside_business_hours",
                "message": hours.reason,
                "next_allowed_at": hours.next_open.map(|t| t.to_string()),
            })),
        )
            .into_response();
    }
    let verdict = st.permissions.check_call(&pnid, &to).await;
    if !verdict.allowed {
        let status = if verdict.code == "no_permission" || verdict.code == "expired" {
            StatusCode::FORBIDDEN
        } else {
            StatusCode::CONFLICT
        };
        return (
            status,
            Json(json!({
                "error": verdict.code,
                "message": verdict.reason,
                "next_allowed_at": verdict.next_allowed_at_ms.map(at),
            })),
        )
            .into_response();
    }
    let params = BusinessCallParams {
        phone_number_id: pnid,
        to,
        biz_opaque: req.biz_opaque_callback_data,
        origin: BicOrigin::Api,
        agent: req.agent.map(|target| AgentBridge {
            target,
            mode: req.mode,
        }),
    };
    let id = st.registry.start_business_call(params, Some(display)).await;
    (
        StatusCode::CREATED,
        Json(json!({"id": id, "permission": verdict.reason})),
    )
        .into_response()
}

pub async fn hang_up(State(st): State<ApiState>, Path(id): Path<String>) -> Response {
    if st.registry.deliver(&id, Input::HangUp) {
        return (
            StatusCode::ACCEPTED,
            Json(json!({"id": id, "hanging_up": true})),
        )
            .into_response();
    }
    error(
        StatusCode::NOT_FOUND,
        "not_live",
        format!("no live call with id {id:?}"),
    )
}
