//! The Graph API client: the `/calls` actions (`connect`, `pre_accept`, `accept`, `reject`,
//! `terminate`), call permission requests (`/messages`) and lookups (`/call_permissions`), and the
//! number's call `/settings`. Bearer auth (the token never appears in logs or `Debug`), timeouts,
//! retries only where safe (see [`transport`]), metrics `callgate_graph_requests_total{action,outcome}`
//! and `callgate_graph_request_duration_seconds{action}`.

mod error;
mod transport;
mod types;

use std::fmt;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use tracing::Instrument;
use url::Url;

pub use error::GraphError;
pub use types::{
    ActionLimit, CallPermissions, Permission, PermissionAction, PermissionStatus, normalize_sdp,
};

use transport::Retry;

/// Meta's limit on `biz_opaque_callback_data`.
pub const BIZ_OPAQUE_MAX_CHARS: usize = 512;

/// How to reach the Graph API.
#[derive(Clone)]
pub struct GraphClientConfig {
    /// `https://graph.facebook.com` in production, the sandbox's address in tests and the demo.
    pub base_url: Url,
    /// The Graph version path segment, e.g. `v23.0`.
    pub api_version: String,
    /// The system-user access token (secret: never logged).
    pub access_token: String,
    /// Timeout of one HTTP attempt (connect + request + response).
    pub timeout: Duration,
    /// How many times a retryable failure is retried (0 = never).
    pub max_retries: u32,
    /// First backoff delay; doubled on every retry (with jitter), capped at 30 s.
    pub backoff_base: Duration,
}

impl fmt::Debug for GraphClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GraphClientConfig")
            .field("base_url", &self.base_url.as_str())
            .field("api_version", &self.api_version)
            .field("access_token", &"<redacted>")
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .field("backoff_base", &self.backoff_base)
            .finish()
    }
}

/// A Graph API client. Cheap to clone (shares the connection pool).
#[derive(Clone)]
pub struct GraphClient {
    http: reqwest::Client,
    base_url: Url,
    api_version: String,
    access_token: String,
    max_retries: u32,
    backoff_base: Duration,
}

impl fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GraphClient")
            .field("base_url", &self.base_url.as_str())
            .field("api_version", &self.api_version)
            .field("access_token", &"<redacted>")
            .field("max_retries", &self.max_retries)
            .finish_non_exhaustive()
    }
}

impl GraphClient {
    /// Builds a client. Fails on an unusable base URL, version, token or timeout.
    pub fn new(config: GraphClientConfig) -> Result<Self, GraphError> {
        let GraphClientConfig {
            base_url,
            api_version,
            access_token,
            timeout,
            max_retries,
            backoff_base,
        } = config;
        if !matches!(base_url.scheme(), "http" | "https") || base_url.cannot_be_a_base() {
            return Err(GraphError::Config(format!(
                "graph base URL {base_url} must be an http(s) URL"
            )));
        }
        if api_version.is_empty() || api_version.contains('/') {
            return Err(GraphError::Config(format!(
                "graph API version {api_version:?} must be one path segment such as v23.0"
            )));
        }
        if access_token.trim().is_empty() {
            return Err(GraphError::Config("the access token is empty".into()));
        }
        if timeout.is_zero() {
            return Err(GraphError::Config(
                "the graph timeout must be above 0".into(),
            ));
        }
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("callgate/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| GraphError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(GraphClient {
            http,
            base_url,
            api_version,
            access_token,
            max_retries,
            backoff_base,
        })
    }

    /// `{base_url}/{api_version}/{node}/{edge}`, each segment percent-encoded.
    fn url(&self, node: &str, edge: &str) -> Url {
        let mut url = self.base_url.clone();
        url.path_segments_mut()
            .expect("checked in new: base URL can be a base")
            .pop_if_empty()
            .extend([self.api_version.as_str(), node, edge]);
        url
    }

    /// Places a business-initiated call to `to` with our SDP offer; returns Meta's call id.
    /// Not retried once sent (a retry could ring the user twice).
    pub async fn connect(
        &self,
        pnid: &str,
        to: &str,
        sdp_offer: &str,
        biz_opaque: Option<&str>,
    ) -> Result<String, GraphError> {
        let span = tracing::info_span!(
            "graph",
            action = "connect",
            pnid,
            call_id = tracing::field::Empty
        );
        let mut body = json!({
            "messaging_product": "whatsapp",
            "to": to,
            "action": "connect",
            "session": {"sdp_type": "offer", "sdp": normalize_sdp(sdp_offer)},
        });
        if let Some(opaque) = biz_opaque {
            check_biz_opaque(opaque)?;
            body["biz_opaque_callback_data"] = json!(opaque);
        }
        let url = self.url(pnid, "calls");
        async {
            let resp = self
                .execute("connect", Method::POST, url, Some(&body), Retry::UnsentOnly)
                .await?;
            let id = types::call_id_from_connect(&resp).ok_or_else(|| GraphError::Decode {
                action: "connect",
                reason: "no calls[0].id in the response".into(),
            })?;
            tracing::Span::current().record("call_id", id.as_str());
            tracing::info!("business-initiated call placed");
            Ok(id)
        }
        .instrument(span)
        .await
    }

    /// Sends our SDP answer early so ICE/DTLS can start before the call is answered.
    pub async fn pre_accept(
        &self,
        pnid: &str,
        call_id: &str,
        sdp_answer: &str,
    ) -> Result<(), GraphError> {
        let body = json!({
            "messaging_product": "whatsapp",
            "call_id": call_id,
            "action": "pre_accept",
            "session": {"sdp_type": "answer", "sdp": normalize_sdp(sdp_answer)},
        });
        self.call_action("pre_accept", pnid, call_id, body, Retry::UnsentOnly)
            .await
    }

    /// Answers the call; `sdp_answer` must be the same as in `pre_accept`.
    pub async fn accept(
        &self,
        pnid: &str,
        call_id: &str,
        sdp_answer: &str,
        biz_opaque: Option<&str>,
    ) -> Result<(), GraphError> {
        let mut body = json!({
            "messaging_product": "whatsapp",
            "call_id": call_id,
            "action": "accept",
            "session": {"sdp_type": "answer", "sdp": normalize_sdp(sdp_answer)},
        });
        if let Some(opaque) = biz_opaque {
            check_biz_opaque(opaque)?;
            body["biz_opaque_callback_data"] = json!(opaque);
        }
        self.call_action("accept", pnid, call_id, body, Retry::UnsentOnly)
            .await
    }

    /// Declines a ringing user-initiated call. Idempotent, so retried.
    pub async fn reject(&self, pnid: &str, call_id: &str) -> Result<(), GraphError> {
        let body = json!({"messaging_product": "whatsapp", "call_id": call_id, "action": "reject"});
        self.call_action("reject", pnid, call_id, body, Retry::Idempotent)
            .await
    }

    /// Ends a call in either direction. Idempotent, so retried.
    pub async fn terminate(&self, pnid: &str, call_id: &str) -> Result<(), GraphError> {
        let body =
            json!({"messaging_product": "whatsapp", "call_id": call_id, "action": "terminate"});
        self.call_action("terminate", pnid, call_id, body, Retry::Idempotent)
            .await
    }

    async fn call_action(
        &self,
        action: &'static str,
        pnid: &str,
        call_id: &str,
        body: Value,
        retry: Retry,
    ) -> Result<(), GraphError> {
        let span = tracing::info_span!("graph", action, pnid, call_id);
        let url = self.url(pnid, "calls");
        async {
            let resp = self
                .execute(action, Method::POST, url, Some(&body), retry)
                .await?;
            if types::is_success(&resp) {
                tracing::debug!("graph call action succeeded");
                Ok(())
            } else {
                Err(GraphError::Decode {
                    action,
                    reason: format!("expected {{\"success\":true}}, got {}", snippet(&resp)),
                })
            }
        }
        .instrument(span)
        .await
    }

    /// Sends an interactive `call_permission_request` message; returns its `wamid`.
    pub async fn send_call_permission_request(
        &self,
        pnid: &str,
        to: &str,
        body_text: Option<&str>,
    ) -> Result<String, GraphError> {
        let mut interactive = json!({
            "type": "call_permission_request",
            "action": {"name": "call_permission_request"},
        });
        if let Some(text) = body_text {
            interactive["body"] = json!({"text": text});
        }
        let message = json!({"type": "interactive", "interactive": interactive});
        self.send_message(pnid, to, message, "send_call_permission_request")
            .await
    }

    /// Sends an approved template (one with a `call_permission_request` component, outside the
    /// customer-service window); returns its `wamid`.
    pub async fn send_template(
        &self,
        pnid: &str,
        to: &str,
        name: &str,
        language: &str,
    ) -> Result<String, GraphError> {
        let message = json!({
            "type": "template",
            "template": {"name": name, "language": {"code": language}},
        });
        self.send_message(pnid, to, message, "send_template").await
    }

    /// Posts `message` (its `type` and content) to `to` through `/{pnid}/messages`; returns the
    /// message's `wamid`. Not retried once sent (a duplicate would reach the user).
    async fn send_message(
        &self,
        pnid: &str,
        to: &str,
        message: Value,
        action: &'static str,
    ) -> Result<String, GraphError> {
        let mut body = json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to,
        });
        if let (Some(b), Value::Object(m)) = (body.as_object_mut(), message) {
            b.extend(m);
        }
        let url = self.url(pnid, "messages");
        let resp = self
            .execute(action, Method::POST, url, Some(&body), Retry::UnsentOnly)
            .instrument(tracing::info_span!("graph", action, pnid))
            .await?;
        types::message_id(&resp).ok_or_else(|| GraphError::Decode {
            action,
            reason: "no messages[0].id in the response".into(),
        })
    }

    /// Looks up the user's call permission and the limits of the next actions.
    pub async fn get_call_permissions(
        &self,
        pnid: &str,
        user_wa_id: &str,
    ) -> Result<CallPermissions, GraphError> {
        let action = "get_call_permissions";
        let mut url = self.url(pnid, "call_permissions");
        url.query_pairs_mut().append_pair("user_wa_id", user_wa_id);
        let resp = self
            .execute(action, Method::GET, url, None, Retry::Idempotent)
            .instrument(tracing::info_span!("graph", action, pnid))
            .await?;
        serde_json::from_value(resp).map_err(|e| GraphError::Decode {
            action,
            reason: e.to_string(),
        })
    }

    /// Reads the number's call settings as JSON.
    pub async fn get_settings(&self, pnid: &str) -> Result<Value, GraphError> {
        let action = "get_settings";
        let url = self.url(pnid, "settings");
        self.execute(action, Method::GET, url, None, Retry::Idempotent)
            .instrument(tracing::info_span!("graph", action, pnid))
            .await
    }

    /// Posts the number's call settings (e.g. `{"calling":{"status":"ENABLED"}}`).
    pub async fn post_settings(&self, pnid: &str, settings: &Value) -> Result<(), GraphError> {
        let action = "post_settings";
        let url = self.url(pnid, "settings");
        let resp = self
            .execute(action, Method::POST, url, Some(settings), Retry::UnsentOnly)
            .instrument(tracing::info_span!("graph", action, pnid))
            .await?;
        if types::is_success(&resp) {
            Ok(())
        } else {
            Err(GraphError::Decode {
                action,
                reason: format!("expected {{\"success\":true}}, got {}", snippet(&resp)),
            })
        }
    }
}

fn check_biz_opaque(opaque: &str) -> Result<(), GraphError> {
    let n = opaque.chars().count();
    if n > BIZ_OPAQUE_MAX_CHARS {
        return Err(GraphError::InvalidRequest(format!(
            "biz_opaque_callback_data is {n} characters, Meta allows at most {BIZ_OPAQUE_MAX_CHARS}"
        )));
    }
    Ok(())
}

fn snippet(v: &Value) -> String {
    v.to_string().chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> GraphClientConfig {
        GraphClientConfig {
            base_url: Url::parse("https://graph.example.test/prefix/").unwrap(),
            api_version: "v23.0".into(),
            access_token: "EAAG-super-secret".into(),
            timeout: Duration::from_secs(5),
            max_retries: 2,
            backoff_base: Duration::from_millis(10),
        }
    }

    #[test]
    fn debug_output_never_contains_the_token() {
        let cfg = config();
        assert!(!format!("{cfg:?}").contains("super-secret"));
        let client = GraphClient::new(cfg).unwrap();
        assert!(!format!("{client:?}").contains("super-secret"));
    }

    #[test]
    fn urls_are_base_version_node_edge() {
        let client = GraphClient::new(config()).unwrap();
        assert_eq!(
            client.url("123", "calls").as_str(),
            "https://graph.example.test/prefix/v23.0/123/calls"
        );
    }

    #[test]
    fn bad_configs_are_refused() {
        let mut c = config();
        c.access_token = " ".into();
        assert!(matches!(GraphClient::new(c), Err(GraphError::Config(_))));
        let mut c = config();
        c.api_version = "v1/x".into();
        assert!(matches!(GraphClient::new(c), Err(GraphError::Config(_))));
        let mut c = config();
        c.base_url = Url::parse("mailto:a@b").unwrap();
        assert!(matches!(GraphClient::new(c), Err(GraphError::Config(_))));
        let mut c = config();
        c.timeout = Duration::ZERO;
        assert!(matches!(GraphClient::new(c), Err(GraphError::Config(_))));
    }

    #[test]
    fn oversized_biz_opaque_is_refused_locally() {
        assert!(check_biz_opaque(&"x".repeat(512)).is_ok());
        assert!(matches!(
            check_biz_opaque(&"x".repeat(513)),
            Err(GraphError::InvalidRequest(_))
        ));
    }
}
