//! The operator REST API under `/v1` (bearer token from `[api] tokens`): call records and
//! timelines, placing and hanging up business-initiated calls, call permissions, business
//! numbers' status and hours; plus `GET /healthz` and `GET /metrics` (Prometheus text) without
//! auth.

mod auth;
mod calls;
mod numbers;
mod permissions;
mod place;

pub use auth::ApiTokens;

use crate::call::Registry;
use crate::policy::permission_service::PermissionService;
use crate::store::Store;
use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use metrics_exporter_prometheus::PrometheusHandle;
use std::sync::Arc;

/// What the API handlers need.
#[derive(Clone)]
pub struct ApiState {
    /// Call records and timelines.
    pub store: Store,
    /// Live calls (to place and hang up calls).
    pub registry: Registry,
    /// Call permissions.
    pub permissions: Arc<PermissionService>,
    /// The business numbers served: (phone number id, display number).
    pub numbers: Vec<(String, String)>,
    /// The policy (business hours) and the numbers' settings at Meta.
    pub settings: crate::settings::SettingsWatch,
}

impl ApiState {
    /// The business number `from` names (its display number, with or without `+`, or its phone
    /// number id); `None` picks the first one.
    pub fn number(&self, from: Option<&str>) -> Option<(String, String)> {
        match from {
            None => self.numbers.first().cloned(),
            Some(f) => {
                let f = f.trim().trim_start_matches('+');
                self.numbers
                    .iter()
                    .find(|(pnid, display)| pnid == f || display.trim_start_matches('+') == f)
                    .cloned()
            }
        }
    }
}

/// Builds the API router: `/v1/...` behind the bearer check, `/healthz` and `/metrics` open.
pub fn router(state: ApiState, tokens: ApiTokens, metrics: PrometheusHandle) -> Router {
    let v1 = Router::new()
        .route("/v1/calls", get(calls::list).post(place::place))
        .route("/v1/calls/{id}", get(calls::get_one).delete(place::hang_up))
        .route("/v1/permissions/{wa_id}", get(permissions::show))
        .route(
            "/v1/permissions/{wa_id}/request",
            post(permissions::request),
        )
        .route("/v1/numbers/{id}/status", get(numbers::status))
        .route(
            "/v1/numbers/{id}/hours",
            axum::routing::put(numbers::put_hours).delete(numbers::delete_hours),
        )
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(
            tokens,
            auth::require_bearer,
        ));
    Router::new()
        .route("/healthz", get(|| async { (StatusCode::OK, "ok") }))
        .route(
            "/metrics",
            get(move || {
                let body = metrics.render();
                async move {
                    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
                }
            }),
        )
        .merge(v1)
}

/// A JSON error body: `{"error": code, "message": text}`.
pub(crate) fn error(
    status: StatusCode,
    code: &str,
    message: impl Into<String>,
) -> axum::response::Response {
    (
        status,
        axum::Json(serde_json::json!({"error": code, "message": message.into()})),
    )
        .into_response()
}
