//! The sandbox's memory: calls (direction, parties, state, SDPs, the log of Graph actions received
//! with their results), user call permissions and request counters, per-number settings, sent
//! messages, the log of every Graph request and the calls' simulated phones.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::Rng;
use serde::Serialize;
use serde_json::Value;
use tokio::time::Instant;

use super::phone::MetaPhone;

/// Who started a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Direction {
    /// A WhatsApp user called the business (Meta sends the offer).
    UserInitiated,
    /// The business called a user via `connect` (the business sends the offer).
    BusinessInitiated,
}

impl Direction {
    /// The wire form (`USER_INITIATED` / `BUSINESS_INITIATED`).
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::UserInitiated => "USER_INITIATED",
            Direction::BusinessInitiated => "BUSINESS_INITIATED",
        }
    }
}

/// Where a call is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CallState {
    /// The user's phone (UIC: the business) is ringing.
    Ringing,
    /// UIC: the business sent `pre_accept`.
    PreAccepted,
    /// Answered (UIC: `accept`; BIC: the user picked up).
    Accepted,
    /// Over; see `end_status` and `end_reason`.
    Ended,
}

impl CallState {
    /// Whether the call still occupies the user.
    pub fn is_ongoing(self) -> bool {
        self != CallState::Ended
    }
}

/// One Graph action the sandbox received for a call, and what it answered.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionLogEntry {
    /// `connect`, `pre_accept`, `accept`, `reject` or `terminate`.
    pub action: String,
    /// The request body as received.
    pub body: Value,
    /// The HTTP status answered.
    pub http_status: u16,
    /// The Meta error code answered, if any.
    pub error_code: Option<u32>,
}

/// One call as the sandbox sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallRecord {
    /// `wacid.…`.
    pub id: String,
    /// The business phone number id.
    pub pnid: String,
    /// The business display number.
    pub business_number: String,
    /// The user's wa_id.
    pub user: String,
    /// Who started it.
    pub direction: Direction,
    /// Webhook `from` (UIC: the user; BIC: the business number).
    pub from: String,
    /// Webhook `to` (UIC: the business number; BIC: the user).
    pub to: String,
    /// Current state.
    pub state: CallState,
    /// `COMPLETED` or `FAILED` once ended.
    pub end_status: Option<String>,
    /// Why it ended (`user_hangup`, `business_terminate`, `business_reject`, `answer_window_expired`,
    /// `user_declined`).
    pub end_reason: Option<String>,
    /// The offer (UIC: Meta's; BIC: the business's).
    pub offer_sdp: Option<String>,
    /// The answer received with `pre_accept` (UIC).
    pub pre_accept_sdp: Option<String>,
    /// The answer received with `accept` (UIC).
    pub accept_sdp: Option<String>,
    /// Meta's answer sent in the BIC connect webhook.
    pub meta_answer_sdp: Option<String>,
    /// Echoed in webhooks.
    pub biz_opaque_callback_data: Option<String>,
    /// UIC from a call button.
    pub cta_payload: Option<String>,
    /// UIC from a deep link.
    pub deeplink_payload: Option<String>,
    /// UNIX seconds.
    pub created_unix: u64,
    /// UNIX seconds when answered.
    pub accepted_unix: Option<u64>,
    /// The `ACCEPTED` status webhook went out (it follows media, or precedes the terminate).
    #[serde(skip)]
    pub accepted_sent: bool,
    /// UNIX seconds when ended.
    pub ended_unix: Option<u64>,
    /// Every Graph action received for this call, in order.
    pub actions: Vec<ActionLogEntry>,
}

impl CallRecord {
    /// A call that starts ringing now: no answer, payload or Graph action yet. `from`/`to` follow
    /// `direction` (user-initiated: the user calls the business number; business-initiated: the
    /// business number calls the user).
    pub fn ringing(
        id: String,
        pnid: &str,
        business_number: &str,
        user: &str,
        direction: Direction,
        offer_sdp: Option<String>,
    ) -> CallRecord {
        let (from, to) = match direction {
            Direction::UserInitiated => (user, business_number),
            Direction::BusinessInitiated => (business_number, user),
        };
        CallRecord {
            id,
            pnid: pnid.to_string(),
            business_number: business_number.to_string(),
            user: user.to_string(),
            direction,
            from: from.to_string(),
            to: to.to_string(),
            state: CallState::Ringing,
            end_status: None,
            end_reason: None,
            offer_sdp,
            pre_accept_sdp: None,
            accept_sdp: None,
            meta_answer_sdp: None,
            biz_opaque_callback_data: None,
            cta_payload: None,
            deeplink_payload: None,
            created_unix: unix_now(),
            accepted_unix: None,
            accepted_sent: false,
            ended_unix: None,
            actions: Vec::new(),
        }
    }
}

/// A permission the user granted (or not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PermissionKind {
    /// No permission: `connect` fails with 138006.
    NoPermission,
    /// Granted until an expiry.
    Temporary,
    /// Granted without expiry.
    Permanent,
}

impl PermissionKind {
    /// Parses `no_permission|none|temporary|permanent`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "no_permission" | "none" => Some(PermissionKind::NoPermission),
            "temporary" => Some(PermissionKind::Temporary),
            "permanent" => Some(PermissionKind::Permanent),
            _ => None,
        }
    }

    /// The wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            PermissionKind::NoPermission => "no_permission",
            PermissionKind::Temporary => "temporary",
            PermissionKind::Permanent => "permanent",
        }
    }
}

/// A user's permission towards the business, with its request/call counters.
#[derive(Debug, Clone, Default)]
pub struct UserPermission {
    /// The grant, if any.
    pub grant: Option<(PermissionKind, Option<Instant>)>,
    /// When permission requests were sent (for 1/24 h and 2/7 d).
    pub requests: Vec<Instant>,
    /// When business-initiated calls connected (for the per-24 h cap).
    pub connected_calls: Vec<Instant>,
    /// Business-initiated calls in a row the user did not answer or declined (4: Meta revokes
    /// the permission and sends an automatic reject reply).
    pub unanswered_in_a_row: u32,
}

impl UserPermission {
    /// The effective permission now (a temporary one past its expiry is gone).
    pub fn effective(&self, now: Instant) -> (PermissionKind, Option<Instant>) {
        match self.grant {
            Some((PermissionKind::Temporary, Some(exp))) if now >= exp => {
                (PermissionKind::NoPermission, None)
            }
            Some(g) => g,
            None => (PermissionKind::NoPermission, None),
        }
    }

    /// How many timestamps in `list` fall in the last `window`.
    pub fn count_within(list: &[Instant], now: Instant, window: Duration) -> usize {
        list.iter()
            .filter(|&&t| now.saturating_duration_since(t) < window)
            .count()
    }
}

/// One message sent through `POST /{pnid}/messages`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SentMessage {
    /// `wamid.…`.
    pub id: String,
    /// The sending number id.
    pub pnid: String,
    /// The recipient.
    pub to: String,
    /// The body as received.
    pub body: Value,
}

/// One Graph request as received, with the answer's status and Meta code.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReceivedRequest {
    /// `GET` or `POST`.
    pub method: String,
    /// The request path.
    pub path: String,
    /// The JSON body (`null` for GETs or non-JSON bodies).
    pub body: Value,
    /// The HTTP status answered.
    pub http_status: u16,
    /// The Meta error code answered, if any.
    pub error_code: Option<u32>,
}

/// All sandbox state, behind one mutex (the sandbox is a test double).
#[derive(Debug, Default)]
pub struct SandboxState {
    /// Calls by id.
    pub calls: HashMap<String, CallRecord>,
    /// Call ids in creation order.
    pub call_order: Vec<String>,
    /// Permissions by user wa_id.
    pub permissions: HashMap<String, UserPermission>,
    /// Settings by phone number id.
    pub settings: HashMap<String, Value>,
    /// Messages sent, in order.
    pub messages: Vec<SentMessage>,
    /// Every Graph request, in order.
    pub requests: Vec<ReceivedRequest>,
    /// The simulated user's phone of each call that has media (kept after the call ends so its
    /// report stays readable).
    pub phones: HashMap<String, MetaPhone>,
    /// Injected failures: the next `/calls` request with this action fails with these Meta
    /// error codes, one per request, in order.
    pub faults: HashMap<String, std::collections::VecDeque<u32>>,
}

impl SandboxState {
    /// The injected failure for the next `/calls` request with `action`, if any.
    pub fn take_fault(&mut self, action: &str) -> Option<u32> {
        self.faults.get_mut(action)?.pop_front()
    }

    /// Inserts a new call.
    pub fn insert_call(&mut self, call: CallRecord) {
        self.call_order.push(call.id.clone());
        self.calls.insert(call.id.clone(), call);
    }

    /// Whether `user` has a call in progress with number `pnid`.
    pub fn user_busy(&self, pnid: &str, user: &str) -> bool {
        self.calls
            .values()
            .any(|c| c.pnid == pnid && c.user == user && c.state.is_ongoing())
    }

    /// Calls in creation order.
    pub fn calls_in_order(&self) -> Vec<CallRecord> {
        self.call_order
            .iter()
            .filter_map(|id| self.calls.get(id).cloned())
            .collect()
    }
}

/// UNIX seconds now.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// A random id with Meta's prefix (`wacid.`, `wamid.`).
pub fn new_id(prefix: &str) -> String {
    let tail: String = rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(32)
        .map(char::from)
        .collect();
    format!("{prefix}.{tail}")
}
