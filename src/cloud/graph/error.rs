//! `GraphError`: everything that can go wrong talking to Meta's Graph API, with messages that say
//! what the operator should do.

use super::super::graph_error::MetaErrorCode;

/// A failed Graph API request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GraphError {
    /// Meta answered with a Graph error body (`{"error":{...}}`). The message includes Meta's text
    /// and callgate's explanation of the code.
    #[error(
        "Meta Graph API error {code} (HTTP {http_status}): {message} -- {explanation}{trace}",
        explanation = .code.explain(),
        trace = .fbtrace_id.as_deref().map(|t| format!(" (fbtrace_id {t})")).unwrap_or_default()
    )]
    Api {
        /// Meta's `error.code`.
        code: MetaErrorCode,
        /// The HTTP status of the response.
        http_status: u16,
        /// Meta's `error.message` (or `error.error_user_msg` when more specific).
        message: String,
        /// Meta's trace id; quote it when asking Meta support.
        fbtrace_id: Option<String>,
        /// Meta's `error.error_data` (SDP validation details, next allowed call time, ...).
        error_data: Option<serde_json::Value>,
    },
    /// No response within the configured timeout. For `connect`/`pre_accept`/`accept` the request
    /// may still have reached Meta.
    #[error(
        "Graph API {action} timed out: check connectivity to the Graph API base URL, or raise [meta] graph_timeout"
    )]
    Timeout {
        /// The Graph action (`connect`, `get_call_permissions`, ...).
        action: &'static str,
    },
    /// The HTTP exchange failed below the HTTP layer (DNS, TCP, TLS, connection reset).
    #[error(
        "Graph API {action} failed in transport: {source}; check DNS, outbound HTTPS and proxies"
    )]
    Transport {
        /// The Graph action.
        action: &'static str,
        /// The underlying client error (never contains the access token).
        #[source]
        source: reqwest::Error,
    },
    /// Meta (or something pretending to be it) answered a status that is not a Graph error body,
    /// e.g. an HTML 502 from a proxy.
    #[error(
        "Graph API {action} got HTTP {http_status} without a Graph error body ({body}); check any proxy between callgate and Meta"
    )]
    UnexpectedStatus {
        /// The Graph action.
        action: &'static str,
        /// The HTTP status.
        http_status: u16,
        /// The start of the response body (at most 200 characters).
        body: String,
    },
    /// A 2xx response whose body could not be understood.
    #[error("Graph API {action} answered success but the body was not understood: {reason}")]
    Decode {
        /// The Graph action.
        action: &'static str,
        /// What was wrong with the body.
        reason: String,
    },
    /// The request was refused locally before sending (e.g. `biz_opaque_callback_data` too long).
    #[error("Graph API request refused before sending: {0}")]
    InvalidRequest(String),
    /// The client configuration is unusable.
    #[error("Graph API client misconfigured: {0}; fix the [meta] section of the config")]
    Config(String),
}

impl GraphError {
    /// The Meta error code, when Meta answered with one.
    pub fn meta_code(&self) -> Option<MetaErrorCode> {
        match self {
            GraphError::Api { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// The label used for the `outcome` of `callgate_graph_requests_total`.
    pub(crate) fn outcome_label(&self) -> String {
        match self {
            GraphError::Api { code, .. } => code.code().to_string(),
            GraphError::Timeout { .. } => "timeout".into(),
            GraphError::Transport { .. } => "transport".into(),
            GraphError::UnexpectedStatus { http_status, .. } => format!("http_{http_status}"),
            GraphError::Decode { .. } => "decode".into(),
            GraphError::InvalidRequest(_) => "invalid_request".into(),
            GraphError::Config(_) => "config".into(),
        }
    }
}
