//! [`PermissionService`]: the permission engine at run time. It loads and stores each
//! (business number, user) [`PermissionState`], asks Meta's `GET call_permissions` when its last
//! answer is older than the TTL (and backs off after error 613, Meta's rate limit), decides calls
//! and permission requests, sends requests (interactive inside the customer-service window, the
//! configured template outside it), and applies what webhooks and call outcomes tell it.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::permissions::{Limits, PermissionState, Reply, Verdict, at};
use crate::cloud::events::{CallPermissionReply, PermissionResponse, ResponseSource};
use crate::cloud::graph::{GraphClient, GraphError};
use crate::cloud::graph_error::MetaErrorCode;
use crate::store::{self, Store};

/// How long Meta's `GET call_permissions` is not asked again after it answered 613.
const RATE_LIMIT_BACKOFF: Duration = Duration::from_secs(10);

/// A configured template for permission requests outside the 24 h service window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestTemplate {
    /// The approved template's name (it carries a `call_permission_request` component).
    pub name: String,
    /// Its language code (`en_US`).
    pub language: String,
}

/// How the service behaves.
#[derive(Debug, Clone)]
pub struct PermissionConfig {
    /// Meta's limits.
    pub limits: Limits,
    /// The template for requests outside the service window; none: such requests are refused.
    pub template: Option<RequestTemplate>,
    /// Default body text of free-form requests.
    pub request_text: Option<String>,
}

/// Why a permission request was not sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// A local rule refused it (limits, permanent permission, no template outside the window).
    #[error("{}", .0.reason)]
    Refused(Verdict),
    /// Meta refused it or could not be reached.
    #[error("Meta did not send the permission request: {0}")]
    Graph(#[from] GraphError),
    /// The store failed.
    #[error("the permission state could not be stored: {0}")]
    Store(#[from] store::StoreError),
}

/// What a request sent.
#[derive(Debug, Clone, Serialize)]
pub struct RequestSent {
    /// The message id Meta gave (`wamid.…`).
    pub message_id: String,
    /// `interactive` (inside the service window) or `template`.
    pub kind: &'static str,
}

/// What `GET /v1/permissions/{wa_id}` shows.
#[derive(Debug, Clone, Serialize)]
pub struct PermissionView {
    /// The stored state (grant, source, counters, Meta's last answer).
    pub state: PermissionState,
    /// Whether a call may be placed now, why, and when next.
    pub call: Verdict,
    /// Whether a permission request may be sent now, why, and when next.
    pub request: Verdict,
    /// Whether the 24 h customer-service window is open (free-form requests).
    pub service_window_open: bool,
}

/// The permission engine of a gateway. Share it behind an `Arc`.
pub struct PermissionService {
    store: Store,
    graph: Option<GraphClient>,
    config: PermissionConfig,
    /// Serialises load-modify-store of states (permission traffic is low).
    lock: tokio::sync::Mutex<()>,
    backoff_until: Mutex<Option<Instant>>,
}

impl PermissionService {
    /// A service over `store`; with `graph`, Meta's `GET call_permissions` is consulted.
    pub fn new(store: Store, graph: Option<GraphClient>, config: PermissionConfig) -> Self {
        Self {
            store,
            graph,
            config,
            lock: tokio::sync::Mutex::new(()),
            backoff_until: Mutex::new(None),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.config.limits
    }

    fn load(&self, pnid: &str, wa_id: &str) -> PermissionState {
        match self.store.permission_state(pnid, wa_id) {
            Ok(Some(v)) => serde_json::from_value(v).unwrap_or_else(|e| {
                tracing::warn!(pnid, wa_id, error = %e, "stored permission state unreadable; starting afresh");
                PermissionState::default()
            }),
            Ok(None) => PermissionState::default(),
            Err(e) => {
                tracing::error!(pnid, wa_id, error = %e, "cannot read the permission state");
                PermissionState::default()
            }
        }
    }

    fn save(&self, pnid: &str, wa_id: &str, s: &PermissionState, now_ms: i64) {
        let stored = serde_json::to_value(s)
            .map_err(store::StoreError::from)
            .and_then(|v| self.store.put_permission_state(pnid, wa_id, &v, now_ms));
        if let Err(e) = stored {
            tracing::error!(pnid, wa_id, error = %e, "cannot store the permission state");
        }
    }

    /// Applies `f` to the stored state of the pair and stores it again.
    async fn update<T>(
        &self,
        pnid: &str,
        wa_id: &str,
        f: impl FnOnce(&mut PermissionState, i64) -> T,
    ) -> T {
        let _guard = self.lock.lock().await;
        let now = store::now_ms();
        let mut s = self.load(pnid, wa_id);
        s.prune(now);
        let out = f(&mut s, now);
        self.save(pnid, wa_id, &s, now);
        out
    }

    /// Refreshes Meta's view of the pair when it is stale and Meta may be asked.
    async fn refresh(&self, pnid: &str, wa_id: &str) {
        let Some(graph) = &self.graph else { return };
        let now = store::now_ms();
        let stale = self
            .load(pnid, wa_id)
            .graph
            .is_none_or(|g| now - g.fetched_at_ms >= self.config.limits.graph_ttl_ms);
        let backing_off = self
            .backoff_until
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some_and(|t| Instant::now() < t);
        if !stale || backing_off {
            return;
        }
        match graph.get_call_permissions(pnid, wa_id).await {
            Ok(p) => {
                self.update(pnid, wa_id, |s, now| s.on_graph(&p, now)).await;
            }
            Err(e) => {
                if e.meta_code() == Some(MetaErrorCode::RateLimitHit) {
                    *self.backoff_until.lock().unwrap_or_else(|p| p.into_inner()) =
                        Some(Instant::now() + RATE_LIMIT_BACKOFF);
                }
                tracing::warn!(pnid, wa_id, error = %e, "call_permissions lookup failed; deciding on local state");
            }
        }
    }

    /// May a business-initiated call be placed from `pnid` to `wa_id` now?
    pub async fn check_call(&self, pnid: &str, wa_id: &str) -> Verdict {
        self.refresh(pnid, wa_id).await;
        let limits = self.config.limits;
        self.update(pnid, wa_id, |s, now| s.can_call(now, &limits))
            .await
    }

    /// The pair's state with both decisions, for the operator API.
    pub async fn view(&self, pnid: &str, wa_id: &str) -> PermissionView {
        self.refresh(pnid, wa_id).await;
        let limits = self.config.limits;
        self.update(pnid, wa_id, |s, now| PermissionView {
            call: s.can_call(now, &limits),
            request: s.can_request(now, &limits),
            service_window_open: s.service_window_open(now),
            state: s.clone(),
        })
        .await
    }

    /// Sends a permission request if the limits allow it: interactive inside the customer-service
    /// window, the configured template outside it.
    pub async fn request(
        &self,
        pnid: &str,
        wa_id: &str,
        body_text: Option<&str>,
    ) -> Result<RequestSent, RequestError> {
        self.refresh(pnid, wa_id).await;
        let limits = self.config.limits;
        let (verdict, window) = self
            .update(pnid, wa_id, |s, now| {
                (s.can_request(now, &limits), s.service_window_open(now))
            })
            .await;
        if !verdict.allowed {
            return Err(RequestError::Refused(verdict));
        }
        let graph = self.graph.as_ref().ok_or_else(|| {
            RequestError::Refused(refused(
                "no_graph",
                "no Graph API client is configured".into(),
            ))
        })?;
        let sent = if window {
            let text = body_text.or(self.config.request_text.as_deref());
            let id = graph
                .send_call_permission_request(pnid, wa_id, text)
                .await?;
            RequestSent {
                message_id: id,
                kind: "interactive",
            }
        } else if let Some(t) = &self.config.template {
            let id = graph
                .send_template(pnid, wa_id, &t.name, &t.language)
                .await?;
            RequestSent {
                message_id: id,
                kind: "template",
            }
        } else {
            return Err(RequestError::Refused(refused(
                "outside_service_window",
                "the user has not written or called in the last 24 h, so only a template may \
                 carry the request, and no [permissions] request_template is configured"
                    .into(),
            )));
        };
        self.update(pnid, wa_id, |s, now| s.on_request_sent(now))
            .await;
        Ok(sent)
    }

    /// A `call_permission_reply` webhook arrived.
    pub async fn on_reply(&self, r: &CallPermissionReply) {
        let Some(wa_id) = r.from.number.as_deref() else {
            tracing::warn!(message_id = %r.message_id, "permission reply without the user's number; not applied");
            return;
        };
        let reply = Reply {
            accept: r.response == PermissionResponse::Accept,
            permanent: r.is_permanent,
            expires_at_ms: r.expiration_timestamp.map(|s| s as i64 * 1000),
            automatic: r.response_source == ResponseSource::Automatic,
            has_context: r.context.is_some(),
        };
        let pnid = &r.origin.phone_number_id;
        let grant = self
            .update(pnid, wa_id, |s, now| {
                s.on_reply(reply, now);
                s.grant
            })
            .await;
        tracing::info!(
            pnid,
            wa_id,
            ?grant,
            "call permission changed by a reply webhook"
        );
    }

    /// The user wrote to the business.
    pub async fn on_user_message(&self, pnid: &str, wa_id: &str) {
        self.update(pnid, wa_id, |s, now| s.on_user_message(now))
            .await;
    }

    /// The user called the business (opens the service window; Meta's automatic callback
    /// permission arrives as its own reply webhook).
    pub async fn on_user_call(&self, pnid: &str, wa_id: &str) {
        self.update(pnid, wa_id, |s, now| s.on_user_call(now, false))
            .await;
    }

    /// A call with the user connected.
    pub async fn on_call_connected(&self, pnid: &str, wa_id: &str, business_initiated: bool) {
        self.update(pnid, wa_id, |s, now| {
            s.on_call_connected(now, business_initiated)
        })
        .await;
    }

    /// A business-initiated call was not answered or was rejected.
    pub async fn on_call_unanswered(&self, pnid: &str, wa_id: &str) {
        let limits = self.config.limits;
        let revoked = self
            .update(pnid, wa_id, |s, now| s.on_call_unanswered(now, &limits))
            .await;
        if revoked {
            tracing::warn!(
                pnid,
                wa_id,
                "unanswered business-initiated calls reached Meta's limit: the permission is revoked"
            );
        }
    }
}

fn refused(code: &'static str, reason: String) -> Verdict {
    Verdict {
        allowed: false,
        reason,
        next_allowed_at_ms: None,
        code,
    }
}

/// "at <time>" for a next-allowed time, or empty.
pub fn next_allowed_text(v: &Verdict) -> String {
    v.next_allowed_at_ms
        .map(|t| format!("; next allowed at {}", at(t)))
        .unwrap_or_default()
}
