//! The typed model of Meta's WhatsApp webhook payloads and [`parse_webhook`], which flattens a
//! signed POST body into [`WebhookEvent`]s: call connect/terminate/status, the 2026 recording and
//! transcription notices, call permission replies and other user messages, and settings updates.
//!
//! Files: `wire` mirrors the JSON (lenient: unknown fields ignored, numbers as strings or integers,
//! terminate `status` as a string or an array); `flatten` walks the envelope; `call`,
//! `call_status`, `artifacts`, `message` and `party` hold the public types. Delivery is
//! at-least-once and unordered, so every event has a [`WebhookEvent::dedupe_key`].

mod artifacts;
mod call;
mod call_status;
mod error;
mod flatten;
mod message;
mod party;
mod settings_update;
mod wire;

#[cfg(test)]
mod tests;

pub use artifacts::{CallRecording, CallTranscription, MediaAsset};
pub use call::{CallConnect, CallDirection, CallError, CallTerminate, SdpType, TerminateStatus};
pub use call_status::{CallStatus, CallStatusKind};
pub use error::WebhookParseError;
pub use flatten::{WHATSAPP_OBJECT, parse_webhook};
pub use message::{
    CallPermissionReply, PermissionResponse, ReplyContext, ResponseSource, UserMessage,
};
pub use party::{Contact, Origin, Party};
pub use settings_update::SettingsUpdate;

/// One thing that happened, taken from one item of a webhook payload.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WebhookEvent {
    /// `calls[]`, `event: "connect"`: Meta's SDP offer (user-initiated) or answer
    /// (business-initiated).
    CallConnect(CallConnect),
    /// `calls[]`, `event: "terminate"`: the call ended.
    CallTerminate(CallTerminate),
    /// `statuses[]`, `type: "call"`: RINGING / ACCEPTED / REJECTED of a business-initiated call.
    CallStatus(CallStatus),
    /// `calls[]`, `event: "call_recording_available"` (2026).
    CallRecordingAvailable(CallRecording),
    /// `calls[]`, `event: "call_transcription_available"` (2026).
    CallTranscriptionAvailable(CallTranscription),
    /// `messages[]` with `interactive.call_permission_reply`: the user's call permission changed.
    CallPermissionReply(CallPermissionReply),
    /// Any other `messages[]` item: the user wrote to the business (opens the service window).
    UserMessage(UserMessage),
    /// `account_settings_update` about a phone number: its settings changed at Meta.
    SettingsUpdate(SettingsUpdate),
    /// Something callgate does not act on: a change with another `field` (`account_update`,
    /// an `account_settings_update` not about a phone number, ...), an unknown call `event`, a message delivery status, or a
    /// `calls`/`messages` change with no items. Kept so it can be logged and counted.
    Other {
        /// `entry[].id`: the WhatsApp Business Account id.
        waba_id: String,
        /// `value.metadata.phone_number_id`, when present.
        phone_number_id: Option<String>,
        /// The change's `field`.
        field: String,
        /// For an item of a known field: the unknown call `event`, or the message status
        /// (`delivered`, `read`, ...). `None` for a whole unknown change.
        kind: Option<String>,
        /// The item's id (`wacid.…` or `wamid.…`), when the event is about one item.
        id: Option<String>,
    },
}

impl WebhookEvent {
    /// A stable key for idempotent processing (Meta delivers at least once):
    /// `call:{id}:connect`, `call:{id}:terminate`, `call:{id}:status:{STATUS}` (upper case),
    /// `call:{id}:call_recording_available`, `call:{id}:call_transcription_available`,
    /// `msg:{id}` for messages, `settings:{phone_number_id}:{timestamp}:{content hash}` for a
    /// settings update (two changes within one second differ by content).
    /// `None` for [`WebhookEvent::Other`], which callgate does not act on, and for a settings
    /// update without a timestamp (applying one twice is harmless).
    pub fn dedupe_key(&self) -> Option<String> {
        Some(match self {
            Self::CallConnect(c) => format!("call:{}:connect", c.call_id),
            Self::CallTerminate(t) => format!("call:{}:terminate", t.call_id),
            Self::CallStatus(s) => format!("call:{}:status:{}", s.call_id, s.status.as_upper()),
            Self::CallRecordingAvailable(r) => {
                format!("call:{}:call_recording_available", r.call_id)
            }
            Self::CallTranscriptionAvailable(t) => {
                format!("call:{}:call_transcription_available", t.call_id)
            }
            Self::CallPermissionReply(r) => format!("msg:{}", r.message_id),
            Self::UserMessage(m) => format!("msg:{}", m.id),
            Self::SettingsUpdate(u) => return u.dedupe_key(),
            Self::Other { .. } => return None,
        })
    }

    /// The call (`wacid.…`) a call event is about, for routing to that call's task. `None` for
    /// messages (a permission reply's call context is in [`CallPermissionReply::context`]) and for
    /// [`WebhookEvent::Other`].
    pub fn call_id(&self) -> Option<&str> {
        match self {
            Self::CallConnect(c) => Some(&c.call_id),
            Self::CallTerminate(t) => Some(&t.call_id),
            Self::CallStatus(s) => Some(&s.call_id),
            Self::CallRecordingAvailable(r) => Some(&r.call_id),
            Self::CallTranscriptionAvailable(t) => Some(&t.call_id),
            Self::CallPermissionReply(_)
            | Self::UserMessage(_)
            | Self::SettingsUpdate(_)
            | Self::Other { .. } => None,
        }
    }

    /// The business account and number the event came for (`None` for [`WebhookEvent::Other`],
    /// whose change may lack `metadata`).
    pub fn origin(&self) -> Option<&Origin> {
        match self {
            Self::CallConnect(c) => Some(&c.origin),
            Self::CallTerminate(t) => Some(&t.origin),
            Self::CallStatus(s) => Some(&s.origin),
            Self::CallRecordingAvailable(r) => Some(&r.origin),
            Self::CallTranscriptionAvailable(t) => Some(&t.origin),
            Self::CallPermissionReply(r) => Some(&r.origin),
            Self::UserMessage(m) => Some(&m.origin),
            Self::SettingsUpdate(_) | Self::Other { .. } => None,
        }
    }

    /// The item's `timestamp` (UNIX seconds), to drop stale retries; `None` for
    /// [`WebhookEvent::Other`].
    pub fn timestamp(&self) -> Option<u64> {
        match self {
            Self::CallConnect(c) => Some(c.timestamp),
            Self::CallTerminate(t) => Some(t.timestamp),
            Self::CallStatus(s) => Some(s.timestamp),
            Self::CallRecordingAvailable(r) => Some(r.timestamp),
            Self::CallTranscriptionAvailable(t) => Some(t.timestamp),
            Self::CallPermissionReply(r) => Some(r.timestamp),
            Self::UserMessage(m) => Some(m.timestamp),
            Self::SettingsUpdate(u) => u.timestamp,
            Self::Other { .. } => None,
        }
    }

    /// A short fixed name of the event kind, for logs and metric labels.
    pub fn name(&self) -> &'static str {
        match self {
            Self::CallConnect(_) => "call_connect",
            Self::CallTerminate(_) => "call_terminate",
            Self::CallStatus(_) => "call_status",
            Self::CallRecordingAvailable(_) => "call_recording_available",
            Self::CallTranscriptionAvailable(_) => "call_transcription_available",
            Self::CallPermissionReply(_) => "call_permission_reply",
            Self::UserMessage(_) => "user_message",
            Self::SettingsUpdate(_) => "settings_update",
            Self::Other { .. } => "other",
        }
    }
}
