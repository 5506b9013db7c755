//! Bearer-token authentication of the operator API against `[api] tokens`, in constant time.

use crate::config::Secret;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// The accepted tokens.
#[derive(Clone)]
pub struct ApiTokens(Arc<Vec<Secret>>);

impl ApiTokens {
    /// The tokens from `[api] tokens`. With none, every request is refused.
    pub fn new(tokens: Vec<Secret>) -> Self {
        Self(Arc::new(tokens))
    }

    /// Whether `offered` is one of the tokens (each compared in constant time).
    pub fn accepts(&self, offered: &str) -> bool {
        // Compare against every token so timing does not reveal which one matched.
        self.0.iter().fold(false, |ok, t| {
            ok | crate::cloud::signature::verify_token_matches(t.expose(), offered)
        })
    }
}

/// Middleware: 401 with a JSON error unless `Authorization: Bearer <token>` is accepted.
pub async fn require_bearer(
    State(tokens): State<ApiTokens>,
    request: Request,
    next: Next,
) -> Response {
    let offered = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match offered {
        Some(t) if tokens.accepts(t.trim()) => next.run(request).await,
        _ => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            axum::Json(serde_json::json!({
                "error": "unauthorized",
                "message": "send Authorization: Bearer <token> with a token from [api] tokens"
            })),
        )
            .into_response(),
    }
}
