//! One Graph HTTP exchange with bearer auth, timeout, metrics, Meta error decoding and the retry
//! policy.
//!
//! Retry policy, and why:
//! - [`Retry::Idempotent`] (GETs, `reject`, `terminate`): repeating the request cannot change the
//!   outcome, so timeouts, transport failures, HTTP 5xx and 429 are retried with exponential
//!   backoff.
//! - [`Retry::UnsentOnly`] (`connect`, `pre_accept`, `accept`, `/messages`, settings POST): a
//!   second `connect` can ring the user twice (or hit 138003 against our own first call), a second
//!   `pre_accept`/`accept` can race the first and fail the call, a second message is billed and
//!   counts against the permission-request limit. They are retried only when the TCP/TLS
//!   connection could not be established, i.e. the request provably never reached Meta. A timeout
//!   or a 5xx is returned to the caller, which knows the call state and can decide (usually by
//!   terminating and reporting).

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::Value;
use url::Url;

use super::GraphClient;
use super::error::GraphError;
use crate::cloud::graph_error::MetaErrorCode;

/// Longest backoff between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Which failures may be retried for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Safe to repeat: retry timeouts, transport errors, 5xx and 429.
    Idempotent,
    /// Not safe to repeat: retry only when the connection was never established.
    UnsentOnly,
}

/// The outcome of one attempt, before the retry decision.
enum Attempt {
    Ok(Value),
    Failed { error: GraphError, retryable: bool },
}

impl GraphClient {
    /// Sends `body` (if any) to `url` with `method`, retrying per `retry`, and returns the 2xx body
    /// as JSON (`Value::Null` for an empty body).
    pub(crate) async fn execute(
        &self,
        action: &'static str,
        method: Method,
        url: Url,
        body: Option<&Value>,
        retry: Retry,
    ) -> Result<Value, GraphError> {
        let mut attempt: u32 = 0;
        loop {
            let started = Instant::now();
            let outcome = self
                .attempt(action, method.clone(), url.clone(), body, retry)
                .await;
            let elapsed = started.elapsed().as_secs_f64();
            metrics::histogram!("callgate_graph_request_duration_seconds", "action" => action)
                .record(elapsed);
            match outcome {
                Attempt::Ok(value) => {
                    metrics::counter!("callgate_graph_requests_total", "action" => action, "outcome" => "ok")
                        .increment(1);
                    return Ok(value);
                }
                Attempt::Failed { error, retryable } => {
                    metrics::counter!(
                        "callgate_graph_requests_total",
                        "action" => action,
                        "outcome" => error.outcome_label()
                    )
                    .increment(1);
                    if !retryable || attempt >= self.max_retries {
                        tracing::warn!(action, attempt, error = %error, "graph request failed");
                        return Err(error);
                    }
                    let delay = self.backoff(attempt);
                    tracing::info!(
                        action,
                        attempt,
                        delay_ms = delay.as_millis() as u64,
                        error = %error,
                        "graph request failed, retrying"
                    );
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
            }
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .backoff_base
            .saturating_mul(2u32.saturating_pow(attempt.min(16)));
        let exp = exp.min(MAX_BACKOFF);
        // Up to 20 % jitter so that many calls failing together do not retry in lockstep.
        let jitter = rand::random_range(0.0..0.2);
        exp.mul_f64(1.0 + jitter)
    }

    async fn attempt(
        &self,
        action: &'static str,
        method: Method,
        url: Url,
        body: Option<&Value>,
        retry: Retry,
    ) -> Attempt {
        let mut req = self
            .http
            .request(method, url)
            .bearer_auth(&self.access_token);
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = match req.send().await {
            Ok(resp) => resp,
            Err(e) => return transport_failure(action, e, retry),
        };
        let status = resp.status().as_u16();
        let bytes = match resp.bytes().await {
            Ok(b) => b,
            // The request reached the server: only idempotent requests may be repeated.
            Err(e) => {
                let retryable = retry == Retry::Idempotent;
                let error = if e.is_timeout() {
                    GraphError::Timeout { action }
                } else {
                    GraphError::Transport { action, source: e }
                };
                return Attempt::Failed { error, retryable };
            }
        };
        if (200..300).contains(&status) {
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Attempt::Ok(Value::Null);
            }
            return match serde_json::from_slice(&bytes) {
                Ok(v) => Attempt::Ok(v),
                Err(e) => Attempt::Failed {
                    error: GraphError::Decode {
                        action,
                        reason: format!("not JSON: {e}"),
                    },
                    retryable: false,
                },
            };
        }
        let retryable = retry == Retry::Idempotent && (status >= 500 || status == 429);
        Attempt::Failed {
            error: decode_error_body(action, status, &bytes),
            retryable,
        }
    }
}

fn transport_failure(action: &'static str, e: reqwest::Error, retry: Retry) -> Attempt {
    // `is_connect` means the TCP/TLS connection was never established: nothing was sent.
    let unsent = e.is_connect();
    let retryable = unsent || retry == Retry::Idempotent;
    let error = if e.is_timeout() && !unsent {
        GraphError::Timeout { action }
    } else {
        GraphError::Transport { action, source: e }
    };
    Attempt::Failed { error, retryable }
}

/// Turns a non-2xx response into [`GraphError::Api`] when it carries Meta's error shape, else
/// [`GraphError::UnexpectedStatus`].
pub(crate) fn decode_error_body(action: &'static str, status: u16, bytes: &[u8]) -> GraphError {
    let parsed: Option<Value> = serde_json::from_slice(bytes).ok();
    let err = parsed.as_ref().and_then(|v| v.get("error"));
    let code = err
        .and_then(|e| e.get("code"))
        .and_then(Value::as_u64)
        .and_then(|c| u32::try_from(c).ok());
    match (err, code) {
        (Some(err), Some(code)) => {
            let text = |k: &str| err.get(k).and_then(Value::as_str).map(str::to_string);
            let message = text("error_user_msg")
                .or_else(|| text("message"))
                .unwrap_or_default();
            GraphError::Api {
                code: MetaErrorCode::from_code(code),
                http_status: status,
                message,
                fbtrace_id: text("fbtrace_id"),
                error_data: err.get("error_data").cloned(),
            }
        }
        _ => {
            let text = String::from_utf8_lossy(bytes);
            let body: String = text.chars().take(200).collect();
            GraphError::UnexpectedStatus {
                action,
                http_status: status,
                body,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_error_body_becomes_api_error_with_explanation() {
        let body = std::fs::read(format!(
            "{}/tests/fixtures/graph-error-131055.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let e = decode_error_body("connect", 400, &body);
        assert_eq!(e.meta_code(), Some(MetaErrorCode::SipModeEnabled));
        let text = e.to_string();
        assert!(text.contains("131055"), "{text}");
        assert!(text.contains("SIP mode"), "{text}");
        assert!(text.contains("<Trace ID>"), "{text}");
    }

    #[test]
    fn non_graph_error_body_becomes_unexpected_status() {
        let e = decode_error_body("connect", 502, b"<html>Bad Gateway</html>");
        assert!(matches!(
            e,
            GraphError::UnexpectedStatus {
                http_status: 502,
                ..
            }
        ));
    }
}
