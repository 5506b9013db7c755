//! The operator REST API: call records and timelines, and business numbers' status and hours,
//! under `/v1` (bearer token from `[api] tokens`), plus `GET /healthz` and `GET /metrics`
//! (Prometheus text) without auth.

mod auth;
mod calls;
mod numbers;

pub use auth::ApiTokens;

use crate::store::Store;
use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;

/// What the API handlers need.
#[derive(Clone)]
pub struct ApiState {
    /// Call records and timelines.
    pub store: Store,
    /// The policy (business hours) and the numbers' settings at Meta.
    pub settings: crate::settings::SettingsWatch,
}

/// Builds the API router: `/v1/...` behind the bearer check, `/healthz` and `/metrics` open.
pub fn router(state: ApiState, tokens: ApiTokens, metrics: PrometheusHandle) -> Router {
    let v1 = Router::new()
        .route("/v1/calls", get(calls::list))
        .route("/v1/calls/{id}", get(calls::get_one))
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
