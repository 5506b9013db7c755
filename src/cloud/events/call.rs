//! The two events that drive a call: `connect` ([`CallConnect`], carrying Meta's SDP offer or answer)
//! and `terminate` ([`CallTerminate`]), plus what both share: direction and error entries.

use super::party::{Contact, Origin, Party};
use super::wire;

/// Who placed the call (`calls[].direction`). Optional on the wire: the Nov 2025 part-1 sample
/// omits it, so [`CallConnect::sdp_type`] is what decides how to handle a connect.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CallDirection {
    /// `USER_INITIATED`: a WhatsApp user called the business.
    UserInitiated,
    /// `BUSINESS_INITIATED`: the business called the user through Graph `connect`.
    BusinessInitiated,
    /// A value this version does not know, as sent.
    Other(String),
}

impl CallDirection {
    /// Parses `direction` case-insensitively.
    pub fn parse(s: &str) -> Self {
        if s.eq_ignore_ascii_case("USER_INITIATED") {
            Self::UserInitiated
        } else if s.eq_ignore_ascii_case("BUSINESS_INITIATED") {
            Self::BusinessInitiated
        } else {
            Self::Other(s.to_owned())
        }
    }
}

/// Whether Meta's SDP is an offer (user-initiated call: we must answer) or an answer
/// (business-initiated call: apply it to the offer we sent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SdpType {
    /// `sdp_type: "offer"`.
    Offer,
    /// `sdp_type: "answer"`.
    Answer,
}

impl SdpType {
    fn parse(s: &str) -> Option<Self> {
        if s.eq_ignore_ascii_case("offer") {
            Some(Self::Offer)
        } else if s.eq_ignore_ascii_case("answer") {
            Some(Self::Answer)
        } else {
            None
        }
    }
}

/// One `errors[]` entry of a call event or call status. Entries found inside the call object and
/// beside it at `value` level are merged, duplicates removed (all fields compared).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CallError {
    /// `code`, e.g. 138021 (no media for a long time).
    pub code: u64,
    /// `title`.
    pub title: Option<String>,
    /// `message`.
    pub message: Option<String>,
    /// `href` (a docs link).
    pub href: Option<String>,
    /// `error_data.details`.
    pub details: Option<String>,
}

impl CallError {
    pub(super) fn from_wire(e: wire::Error) -> Self {
        Self {
            code: e.code.0,
            title: e.title,
            message: e.message,
            href: e.href,
            details: e.error_data.and_then(|d| d.details),
        }
    }

    /// The item's own errors followed by the `value`-level ones, each entry kept once.
    pub(super) fn merge(own: Vec<wire::Error>, beside: &[CallError]) -> Vec<CallError> {
        let mut all: Vec<CallError> = Vec::with_capacity(own.len() + beside.len());
        let own = own.into_iter().map(Self::from_wire);
        for error in own.chain(beside.iter().cloned()) {
            if !all.contains(&error) {
                all.push(error);
            }
        }
        all
    }
}

/// What a call item shares with the rest of its change: origin, contacts and `value.errors`.
pub(super) struct ChangeContext<'a> {
    pub origin: &'a Origin,
    pub contacts: &'a [wire::Contact],
    pub errors: &'a [CallError],
}

/// `event: "connect"`: Meta's SDP for a new call. User-initiated calls carry an offer to answer
/// (Graph `pre_accept`/`accept`); business-initiated ones carry the answer to our `connect` offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallConnect {
    /// Business account and number the call belongs to.
    pub origin: Origin,
    /// `id`: the call id (`wacid.…`).
    pub call_id: String,
    /// The caller (`from`, `from_user_id`, `from_parent_user_id`).
    pub from: Party,
    /// The callee (`to`, `to_user_id`, `to_parent_user_id`).
    pub to: Party,
    /// `timestamp`: UNIX seconds.
    pub timestamp: u64,
    /// `direction`, when sent.
    pub direction: Option<CallDirection>,
    /// Offer or answer: `session.sdp_type`, else the legacy `connection.webrtc` JSON `type`, else
    /// implied by `direction` (user-initiated: offer). `None` when nothing says which.
    pub sdp_type: Option<SdpType>,
    /// The SDP text: `session.sdp`, else the legacy `connection.webrtc.sdp` (unwrapped when it is
    /// the JSON-in-a-string form `{"sdp": …, "type": …}`).
    pub sdp: Option<String>,
    /// `biz_opaque_callback_data`: the tracking string we gave Graph `connect` (business-initiated).
    pub biz_opaque_callback_data: Option<String>,
    /// `cta_payload`: payload of the call button the user pressed.
    pub cta_payload: Option<String>,
    /// `deeplink_payload`: `biz_payload` of the `wa.me/call` link the user followed.
    pub deeplink_payload: Option<String>,
    /// The WhatsApp user's contact card, when `value.contacts` carried one.
    pub contact: Option<Contact>,
    /// Error entries of this call and of its change, deduplicated.
    pub errors: Vec<CallError>,
}

impl CallConnect {
    /// True when Meta sent an offer, i.e. a user-initiated call the gateway must answer.
    pub fn is_offer(&self) -> bool {
        self.sdp_type == Some(SdpType::Offer)
    }

    pub(super) fn from_wire(mut call: wire::Call, ctx: &ChangeContext<'_>) -> Self {
        let (from, to) = take_parties(&mut call);
        let direction = call.direction.as_deref().map(CallDirection::parse);
        let session = call.session.unwrap_or(wire::Session {
            sdp_type: None,
            sdp: None,
        });
        let mut sdp_type = session.sdp_type.as_deref().and_then(SdpType::parse);
        let mut sdp = session.sdp.filter(|s| !s.is_empty());
        if sdp.is_none() {
            let legacy = call.connection.and_then(|c| c.webrtc).and_then(|w| w.sdp);
            if let Some(legacy) = legacy {
                match serde_json::from_str::<wire::LegacySdp>(&legacy) {
                    Ok(inner) => {
                        sdp_type = sdp_type.or(inner.kind.as_deref().and_then(SdpType::parse));
                        sdp = Some(inner.sdp);
                    }
                    Err(_) => sdp = Some(legacy),
                }
            }
        }
        let sdp_type = sdp_type.or(match direction {
            Some(CallDirection::UserInitiated) => Some(SdpType::Offer),
            Some(CallDirection::BusinessInitiated) => Some(SdpType::Answer),
            _ => None,
        });
        Self {
            origin: ctx.origin.clone(),
            contact: Contact::pick(ctx.contacts, &[&from, &to]),
            errors: CallError::merge(call.errors, ctx.errors),
            call_id: call.id,
            from,
            to,
            timestamp: call.timestamp.0,
            direction,
            sdp_type,
            sdp,
            biz_opaque_callback_data: call.biz_opaque_callback_data,
            cta_payload: call.cta_payload,
            deeplink_payload: call.deeplink_payload,
        }
    }
}

/// How a call ended (`status` of a terminate), compared case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TerminateStatus {
    /// `COMPLETED`: the call was connected and ended normally.
    Completed,
    /// `FAILED`: the call failed (see the errors, e.g. 138021 no media).
    Failed,
    /// `REJECTED`: the callee declined.
    Rejected,
    /// A value this version does not know, as sent.
    Other(String),
}

impl TerminateStatus {
    /// Parses one status value case-insensitively (`"FAILED"`, `"Failed"`, `"failed"`).
    pub fn parse(s: &str) -> Self {
        if s.eq_ignore_ascii_case("COMPLETED") {
            Self::Completed
        } else if s.eq_ignore_ascii_case("FAILED") {
            Self::Failed
        } else if s.eq_ignore_ascii_case("REJECTED") {
            Self::Rejected
        } else {
            Self::Other(s.to_owned())
        }
    }

    /// The canonical upper-case name (`Other` keeps the value as sent).
    pub fn as_str(&self) -> &str {
        match self {
            Self::Completed => "COMPLETED",
            Self::Failed => "FAILED",
            Self::Rejected => "REJECTED",
            Self::Other(s) => s,
        }
    }

    /// Rank used to pick one status from an array: the most pessimistic wins, so a call is never
    /// recorded as completed while the same payload says it failed or was rejected.
    fn severity(&self) -> u8 {
        match self {
            Self::Failed => 3,
            Self::Rejected => 2,
            Self::Other(_) => 1,
            Self::Completed => 0,
        }
    }
}

/// `event: "terminate"`: the call is over (user hang-up, business terminate/reject, answer-window
/// expiry, media timeout). May arrive before the connect it ends, and more than once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallTerminate {
    /// Business account and number the call belongs to.
    pub origin: Origin,
    /// `id`: the call id (`wacid.…`).
    pub call_id: String,
    /// The caller.
    pub from: Party,
    /// The callee.
    pub to: Party,
    /// `timestamp`: UNIX seconds.
    pub timestamp: u64,
    /// `direction`, when sent.
    pub direction: Option<CallDirection>,
    /// The status to act on. When Meta sends an array (the docs show `["Failed", "Completed"]`),
    /// the most pessimistic value is picked: FAILED, then REJECTED, then unknown values, then
    /// COMPLETED. `None` when `status` is absent or an empty array.
    pub status: Option<TerminateStatus>,
    /// Every status value as sent, in wire order (one element for the usual string form).
    pub reported_statuses: Vec<TerminateStatus>,
    /// `start_time`: UNIX seconds the call was picked up (only when it was).
    pub start_time: Option<u64>,
    /// `end_time`: UNIX seconds the call ended (only when it was picked up).
    pub end_time: Option<u64>,
    /// `duration`: seconds connected (only when picked up).
    pub duration: Option<u64>,
    /// `biz_opaque_callback_data`.
    pub biz_opaque_callback_data: Option<String>,
    /// `cta_payload`.
    pub cta_payload: Option<String>,
    /// `deeplink_payload`.
    pub deeplink_payload: Option<String>,
    /// The WhatsApp user's contact card, when `value.contacts` carried one.
    pub contact: Option<Contact>,
    /// Error entries of this call and of its change, deduplicated.
    pub errors: Vec<CallError>,
}

impl CallTerminate {
    pub(super) fn from_wire(mut call: wire::Call, ctx: &ChangeContext<'_>) -> Self {
        let (from, to) = take_parties(&mut call);
        let reported_statuses: Vec<TerminateStatus> = call
            .status
            .map(|s| s.0.iter().map(|s| TerminateStatus::parse(s)).collect())
            .unwrap_or_default();
        let status = reported_statuses
            .iter()
            .enumerate()
            // Highest severity; on a tie the first in wire order.
            .max_by_key(|(i, s)| (s.severity(), std::cmp::Reverse(*i)))
            .map(|(_, s)| s.clone());
        Self {
            origin: ctx.origin.clone(),
            contact: Contact::pick(ctx.contacts, &[&from, &to]),
            errors: CallError::merge(call.errors, ctx.errors),
            call_id: call.id,
            from,
            to,
            timestamp: call.timestamp.0,
            direction: call.direction.as_deref().map(CallDirection::parse),
            status,
            reported_statuses,
            start_time: call.start_time.map(|t| t.0),
            end_time: call.end_time.map(|t| t.0),
            duration: call.duration.map(|t| t.0),
            biz_opaque_callback_data: call.biz_opaque_callback_data,
            cta_payload: call.cta_payload,
            deeplink_payload: call.deeplink_payload,
        }
    }
}

/// The caller and callee of a call item, with their 2026 business-scoped ids.
/// The fields are moved out of `call`.
pub(super) fn take_parties(call: &mut wire::Call) -> (Party, Party) {
    let from = Party {
        number: call.from.take(),
        user_id: call.from_user_id.take(),
        parent_user_id: call.from_parent_user_id.take(),
    };
    let to = Party {
        number: call.to.take(),
        user_id: call.to_user_id.take(),
        parent_user_id: call.to_parent_user_id.take(),
    };
    (from, to)
}
