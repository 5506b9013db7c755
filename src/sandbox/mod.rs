//! An offline stand-in for Meta's WhatsApp Cloud API calling surface, for tests and `callgate demo`.
//!
//! It serves the Graph calling endpoints (`/calls`, `/messages`, `/call_permissions`, `/settings`)
//! with Meta's validation, error shapes and HTTP statuses ([`graph_api`]), keeps per-call and
//! per-user state ([`state`]), sends signed Meta-shaped webhooks that can be duplicated or reordered
//! ([`webhook_sender`], [`webhooks`]), simulates WhatsApp users calling, hanging up and answering
//! ([`lifecycle`]) with real media from a simulated phone ([`phone`], [`media`]), and exposes a
//! control API under `/sandbox/...` for tests ([`control`]).
//!
//! The sandbox is a test double: its state sits behind one `Arc<Mutex<_>>`, and timers use
//! `tokio::time` so tests may run on paused time.

pub mod control;
pub mod graph_api;
pub mod lifecycle;
pub mod media;
pub mod meta_error;
pub mod phone;
pub mod sdp;
pub mod settings;
pub mod state;
pub mod webhook_sender;
pub mod webhooks;

use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use url::Url;

pub use lifecycle::UserCall;
pub use phone::{AudioSpec, MediaReport, MetaPhone};
pub use state::{
    ActionLogEntry, CallRecord, CallState, Direction, PermissionKind, ReceivedRequest, SentMessage,
};
pub use webhook_sender::DeliveryRecord;

use state::SandboxState;
use webhook_sender::{WebhookSender, WebhookSenderConfig};
use webhooks::Origin;

/// How the sandbox behaves.
#[derive(Clone)]
pub struct SandboxConfig {
    /// The bearer token Graph requests must carry (else 401, code 190).
    pub access_token: String,
    /// The app secret webhooks are signed with.
    pub app_secret: String,
    /// Where webhooks go (`None`: recorded, not sent).
    pub webhook_url: Option<Url>,
    /// The WABA id in webhook envelopes.
    pub waba_id: String,
    /// Known business numbers: (phone number id, display number).
    pub numbers: Vec<(String, String)>,
    /// How long a ringing call waits for accept/reject (user calls) or pick-up (business calls)
    /// before it ends with a `FAILED` terminate webhook.
    pub answer_window: Duration,
    /// Deliver every webhook twice.
    pub duplicate_deliveries: bool,
    /// Hold each call's first webhook until the next one for that call (terminate before connect).
    pub reorder_deliveries: bool,
    /// How long a held webhook waits for a successor before it is sent anyway.
    pub reorder_hold: Duration,
    /// Retries of a webhook the receiver did not answer 200.
    pub webhook_retries: u32,
    /// First webhook retry delay (doubled each time).
    pub webhook_retry_backoff: Duration,
    /// Timeout of one webhook delivery.
    pub webhook_timeout: Duration,
    /// Business-initiated calls are picked up by the simulated user after this delay (`None`: only
    /// via the control API).
    pub bic_auto_answer_after: Option<Duration>,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            access_token: "sandbox-access-token".into(),
            app_secret: "sandbox-app-secret".into(),
            webhook_url: None,
            waba_id: "100000000000000".into(),
            numbers: vec![("100000000000001".into(), "15550000001".into())],
            answer_window: Duration::from_secs(30),
            duplicate_deliveries: false,
            reorder_deliveries: false,
            reorder_hold: Duration::from_secs(1),
            webhook_retries: 3,
            webhook_retry_backoff: Duration::from_millis(500),
            webhook_timeout: Duration::from_secs(20),
            bic_auto_answer_after: None,
        }
    }
}

impl fmt::Debug for SandboxConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SandboxConfig")
            .field("access_token", &"<redacted>")
            .field("app_secret", &"<redacted>")
            .field("webhook_url", &self.webhook_url.as_ref().map(Url::as_str))
            .field("waba_id", &self.waba_id)
            .field("numbers", &self.numbers)
            .field("answer_window", &self.answer_window)
            .field("duplicate_deliveries", &self.duplicate_deliveries)
            .field("reorder_deliveries", &self.reorder_deliveries)
            .finish_non_exhaustive()
    }
}

/// Why a sandbox control operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SandboxError {
    /// The phone number id is not one of `SandboxConfig::numbers`.
    #[error("unknown phone number id {0}: add it to the sandbox's numbers")]
    UnknownNumber(String),
    /// No call with this id.
    #[error("unknown call id {0}")]
    UnknownCall(String),
    /// The call is already over.
    #[error("call {0} has already ended")]
    AlreadyEnded(String),
    /// The operation does not apply to this call's direction.
    #[error("call {0} is not {1}: this operation does not apply")]
    WrongDirection(String, &'static str),
    /// The call is not ringing (already answered or ended).
    #[error("call {0} is not ringing")]
    NotRinging(String),
    /// The user already has a call with this number.
    #[error("user {0} already has an ongoing call with this number")]
    UserBusy(String),
    /// The number is in SIP mode: Meta sends no calling webhooks.
    #[error("number {0} is in SIP mode: the sandbox cannot deliver Graph-mode calls to it")]
    SipMode(String),
    /// Calling is disabled in the number's settings.
    #[error("calling is disabled on number {0}")]
    CallingDisabled(String),
    /// A malformed control request.
    #[error("invalid sandbox request: {0}")]
    InvalidRequest(String),
    /// The call has no simulated phone (it was created with an explicit `offer_sdp`, or its
    /// business offer could not be answered with media).
    #[error("call {0} has no simulated phone: create it without offer_sdp to get media")]
    NoMedia(String),
    /// The simulated phone failed (socket, SDP, WAV file or DTMF digits).
    #[error("{0}")]
    Media(String),
}

impl IntoResponse for SandboxError {
    fn into_response(self) -> Response {
        let status = match self {
            SandboxError::UnknownNumber(_) | SandboxError::UnknownCall(_) => StatusCode::NOT_FOUND,
            SandboxError::InvalidRequest(_) | SandboxError::Media(_) => StatusCode::BAD_REQUEST,
            _ => StatusCode::CONFLICT,
        };
        (status, axum::Json(json!({"error": self.to_string()}))).into_response()
    }
}

struct Inner {
    config: SandboxConfig,
    state: Mutex<SandboxState>,
    webhooks: WebhookSender,
}

/// The sandbox. Cheap to clone; all clones share state.
#[derive(Clone)]
pub struct Sandbox {
    inner: Arc<Inner>,
}

impl fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sandbox")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// The settings a number starts with: calling enabled, DTLS, no SIP, no callback permission.
pub fn default_settings() -> Value {
    json!({"calling": {
        "status": "ENABLED",
        "call_icon_visibility": "DEFAULT",
        "callback_permission_status": "DISABLED",
    }})
}

impl Sandbox {
    /// Creates the sandbox and starts its webhook sender (call inside a tokio runtime).
    pub fn new(config: SandboxConfig) -> Self {
        let webhooks = WebhookSender::spawn(WebhookSenderConfig {
            url: config.webhook_url.clone(),
            app_secret: config.app_secret.clone(),
            duplicate: config.duplicate_deliveries,
            reorder: config.reorder_deliveries,
            reorder_hold: config.reorder_hold,
            retries: config.webhook_retries,
            retry_backoff: config.webhook_retry_backoff,
            timeout: config.webhook_timeout,
        });
        let mut state = SandboxState::default();
        for (pnid, _) in &config.numbers {
            state.settings.insert(pnid.clone(), default_settings());
        }
        Sandbox {
            inner: Arc::new(Inner {
                config,
                state: Mutex::new(state),
                webhooks,
            }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SandboxConfig {
        &self.inner.config
    }

    /// The Graph endpoints plus the `/sandbox/...` control API.
    pub fn router(&self) -> Router {
        graph_api::routes()
            .merge(control::routes())
            .with_state(self.clone())
    }

    /// Serves [`Sandbox::router`] on `listener` until the task is dropped.
    pub async fn serve(self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        let app = self
            .router()
            .into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(listener, app).await
    }

    /// A call's state and action log.
    pub fn call_state(&self, call_id: &str) -> Option<CallRecord> {
        self.lock().calls.get(call_id).cloned()
    }

    /// All calls in creation order.
    pub fn calls(&self) -> Vec<CallRecord> {
        self.lock().calls_in_order()
    }

    /// Makes the next `/calls` request with `action` (or the next `GET call_permissions` when
    /// `action` is `call_permissions`) fail with Meta's error `code` (tests of the gateway's
    /// failure paths; `POST /sandbox/faults` on the control API).
    pub fn inject_fault(&self, action: &str, code: u32) {
        self.lock()
            .faults
            .entry(action.to_string())
            .or_default()
            .push_back(code);
    }

    /// Every Graph request received, in order.
    pub fn requests(&self) -> Vec<ReceivedRequest> {
        self.lock().requests.clone()
    }

    /// Every message sent through `/messages`, in order.
    pub fn messages(&self) -> Vec<SentMessage> {
        self.lock().messages.clone()
    }

    /// Every webhook delivery attempt so far.
    pub fn webhook_deliveries(&self) -> Vec<DeliveryRecord> {
        self.inner.webhooks.log()
    }

    /// A number's settings as GET would return them.
    pub fn settings(&self, pnid: &str) -> Option<Value> {
        self.lock().settings.get(pnid).cloned()
    }

    /// Replaces a number's settings wholesale (e.g. to put it in SIP mode for a test).
    pub fn set_settings(&self, pnid: &str, settings: Value) -> Result<(), SandboxError> {
        self.origin(pnid)
            .ok_or_else(|| SandboxError::UnknownNumber(pnid.into()))?;
        self.lock().settings.insert(pnid.into(), settings);
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, SandboxState> {
        self.inner.state.lock().expect("sandbox state lock")
    }

    fn webhooks(&self) -> &WebhookSender {
        &self.inner.webhooks
    }

    /// The envelope origin for a known number.
    fn origin(&self, pnid: &str) -> Option<Origin<'_>> {
        let cfg = &self.inner.config;
        cfg.numbers
            .iter()
            .find(|(id, _)| id == pnid)
            .map(|(id, display)| Origin {
                waba_id: &cfg.waba_id,
                pnid: id,
                display_number: display,
            })
    }
}

/// `calling.status` is ENABLED (absent counts as disabled, like Meta's default).
pub(crate) fn calling_enabled(settings: &Value) -> bool {
    settings["calling"]["status"]
        .as_str()
        .is_some_and(|s| s.eq_ignore_ascii_case("ENABLED"))
}

/// `calling.sip.status` is ENABLED.
pub(crate) fn sip_enabled(settings: &Value) -> bool {
    settings["calling"]["sip"]["status"]
        .as_str()
        .is_some_and(|s| s.eq_ignore_ascii_case("ENABLED"))
}

/// `calling.srtp_key_exchange_protocol`.
pub(crate) fn key_exchange(settings: &Value) -> sdp::KeyExchange {
    match settings["calling"]["srtp_key_exchange_protocol"].as_str() {
        Some(s) if s.eq_ignore_ascii_case("SDES") => sdp::KeyExchange::Sdes,
        _ => sdp::KeyExchange::Dtls,
    }
}

/// `calling.callback_permission_status` is ENABLED.
pub(crate) fn callback_permission_enabled(settings: &Value) -> bool {
    settings["calling"]["callback_permission_status"]
        .as_str()
        .is_some_and(|s| s.eq_ignore_ascii_case("ENABLED"))
}
