//! Graph error responses exactly as Meta shapes them:
//! `{"error":{"message","type":"OAuthException","code","error_subcode"?,"error_data"?,"fbtrace_id"}}`
//! with the HTTP status Meta documents for the code.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::cloud::graph_error::MetaErrorCode;

/// A Graph error the sandbox answers with.
#[derive(Debug, Clone, PartialEq)]
pub struct MetaError {
    /// The Meta code.
    pub code: MetaErrorCode,
    /// `error.message`.
    pub message: String,
    /// `error_data.details`, if any.
    pub details: Option<String>,
    /// `error.error_subcode`, if any.
    pub subcode: Option<u32>,
}

impl MetaError {
    /// An error with `code` and `message`.
    pub fn new(code: u32, message: impl Into<String>) -> Self {
        MetaError {
            code: MetaErrorCode::from_code(code),
            message: message.into(),
            details: None,
            subcode: None,
        }
    }

    /// A code-100 "invalid parameter" error with `error_data.details`.
    pub fn invalid_parameter(details: impl Into<String>) -> Self {
        MetaError::new(100, "(#100) Invalid parameter").with_details(details)
    }

    /// Adds `error_data.details`.
    pub fn with_details(mut self, details: impl Into<String>) -> Self {
        self.details = Some(details.into());
        self
    }

    /// The HTTP status for the code (400 when Meta documents none).
    pub fn http_status(&self) -> u16 {
        self.code.http_status().unwrap_or(400)
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        let trace: String = super::state::new_id("A").chars().skip(2).take(11).collect();
        let mut err = json!({
            "message": self.message,
            "type": "OAuthException",
            "code": self.code.code(),
            "fbtrace_id": trace,
        });
        if let Some(sub) = self.subcode {
            err["error_subcode"] = json!(sub);
        }
        if let Some(details) = &self.details {
            err["error_data"] = json!({"messaging_product": "whatsapp", "details": details});
        }
        json!({"error": err})
    }
}

impl IntoResponse for MetaError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
        (status, axum::Json(self.body())).into_response()
    }
}
