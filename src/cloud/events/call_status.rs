//! `statuses[]` items with `type: "call"`: the progress of a business-initiated call as the user's
//! phone reports it (RINGING, ACCEPTED, REJECTED). Audit information: media must not wait for it.

use super::call::{CallError, ChangeContext};
use super::party::{Origin, Party};
use super::wire;

/// The `status` of a call status item, compared case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CallStatusKind {
    /// `RINGING`: the user's phone is ringing.
    Ringing,
    /// `ACCEPTED`: the user picked up (usually arrives after media is already flowing).
    Accepted,
    /// `REJECTED`: the user declined (a terminate webhook follows).
    Rejected,
    /// A value this version does not know, as sent.
    Other(String),
}

impl CallStatusKind {
    /// Parses `status` case-insensitively.
    pub fn parse(s: &str) -> Self {
        if s.eq_ignore_ascii_case("RINGING") {
            Self::Ringing
        } else if s.eq_ignore_ascii_case("ACCEPTED") {
            Self::Accepted
        } else if s.eq_ignore_ascii_case("REJECTED") {
            Self::Rejected
        } else {
            Self::Other(s.to_owned())
        }
    }

    /// The canonical upper-case name (`Other` is upper-cased too), as used in dedupe keys.
    pub fn as_upper(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Self::Ringing => "RINGING".into(),
            Self::Accepted => "ACCEPTED".into(),
            Self::Rejected => "REJECTED".into(),
            Self::Other(s) => s.to_ascii_uppercase().into(),
        }
    }
}

/// A call status item (`statuses[]`, `type: "call"`), sent for business-initiated calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallStatus {
    /// Business account and number the call belongs to.
    pub origin: Origin,
    /// `id`: the call id (`wacid.…`).
    pub call_id: String,
    /// `status`.
    pub status: CallStatusKind,
    /// `timestamp`: UNIX seconds.
    pub timestamp: u64,
    /// The called user: `recipient_id`, `recipient_user_id`, `recipient_parent_user_id`.
    pub recipient: Party,
    /// `biz_opaque_callback_data`: the tracking string given to Graph `connect`.
    pub biz_opaque_callback_data: Option<String>,
    /// Error entries of this status and of its change, deduplicated.
    pub errors: Vec<CallError>,
}

impl CallStatus {
    pub(super) fn from_wire(status: wire::Status, ctx: &ChangeContext<'_>) -> Self {
        Self {
            origin: ctx.origin.clone(),
            status: CallStatusKind::parse(&status.status),
            call_id: status.id,
            timestamp: status.timestamp.0,
            recipient: Party {
                number: status.recipient_id,
                user_id: status.recipient_user_id,
                parent_user_id: status.recipient_parent_user_id,
            },
            biz_opaque_callback_data: status.biz_opaque_callback_data,
            errors: CallError::merge(status.errors, ctx.errors),
        }
    }
}
