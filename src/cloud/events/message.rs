//! `messages` webhooks: the user's reply to a call permission request ([`CallPermissionReply`],
//! including Meta's automatic grants and revocations) and any other user message ([`UserMessage`],
//! which opens the 24-hour customer-service window).

use super::call::ChangeContext;
use super::party::{Contact, Origin, Party};
use super::wire;

/// `call_permission_reply.response`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PermissionResponse {
    /// `accept`: the user (or Meta, automatically) granted call permission.
    Accept,
    /// `reject`: the user declined, or Meta revoked the permission automatically.
    Reject,
    /// A value this version does not know, as sent.
    Other(String),
}

/// `call_permission_reply.response_source`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ResponseSource {
    /// `user_action`: the user tapped a button (request message or business profile).
    UserAction,
    /// `automatic`: Meta acted (callback permission after a user call; revocation after 4
    /// unanswered calls).
    Automatic,
    /// A value this version does not know, as sent.
    Other(String),
}

/// What a permission reply answers (`context.id`); absent for profile grants and auto-revokes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ReplyContext {
    /// A permission request message we sent (`wamid.…`).
    Request(String),
    /// A call the user placed (`wacid.…`): automatic callback permission.
    Call(String),
}

impl ReplyContext {
    fn from_id(id: String) -> Self {
        if id.starts_with("wacid.") {
            Self::Call(id)
        } else {
            Self::Request(id)
        }
    }

    /// The message or call id as sent.
    pub fn id(&self) -> &str {
        match self {
            Self::Request(id) | Self::Call(id) => id,
        }
    }
}

/// A `call_permission_reply` interactive message: the user's call permission changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallPermissionReply {
    /// Business account and number the permission is for.
    pub origin: Origin,
    /// `id`: the reply's message id (`wamid.…`).
    pub message_id: String,
    /// The user (`from`, `from_user_id`, `from_parent_user_id`).
    pub from: Party,
    /// `timestamp`: UNIX seconds.
    pub timestamp: u64,
    /// `response`.
    pub response: PermissionResponse,
    /// `is_permanent`; an absent field reads as `false` (temporary grant, or a rejection).
    pub is_permanent: bool,
    /// `expiration_timestamp` (UNIX seconds; string or integer on the wire): when a temporary
    /// grant ends. No webhook is sent when it expires.
    pub expiration_timestamp: Option<u64>,
    /// `response_source`.
    pub response_source: ResponseSource,
    /// `context.id`: the request or call this reply answers.
    pub context: Option<ReplyContext>,
    /// The user's contact card, when `value.contacts` carried one.
    pub contact: Option<Contact>,
}

/// Any other message from the user (text, media, button replies, ...): it opens the
/// customer-service window, inside which a free-form permission request may be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserMessage {
    /// Business account and number the message was sent to.
    pub origin: Origin,
    /// `id`: the message id (`wamid.…`).
    pub id: String,
    /// The user (`from`, `from_user_id`, `from_parent_user_id`).
    pub from: Party,
    /// `timestamp`: UNIX seconds.
    pub timestamp: u64,
    /// `type` as sent (`text`, `image`, `interactive`, ...); empty if Meta omitted it.
    pub kind: String,
    /// The user's contact card, when `value.contacts` carried one.
    pub contact: Option<Contact>,
}

/// Either kind of message event, built from one `messages[]` item.
pub(super) enum MessageEvent {
    PermissionReply(CallPermissionReply),
    User(UserMessage),
}

impl MessageEvent {
    pub(super) fn from_wire(message: wire::Message, ctx: &ChangeContext<'_>) -> Self {
        let from = Party {
            number: message.from,
            user_id: message.from_user_id,
            parent_user_id: message.from_parent_user_id,
        };
        let contact = Contact::pick(ctx.contacts, &[&from]);
        let reply = message.interactive.and_then(|i| i.call_permission_reply);
        match reply {
            Some(reply) => Self::PermissionReply(CallPermissionReply {
                origin: ctx.origin.clone(),
                message_id: message.id,
                from,
                timestamp: message.timestamp.0,
                response: parse_response(reply.response),
                is_permanent: reply.is_permanent.unwrap_or(false),
                expiration_timestamp: reply.expiration_timestamp.map(|t| t.0),
                response_source: parse_source(reply.response_source),
                context: message
                    .context
                    .and_then(|c| c.id)
                    .map(ReplyContext::from_id),
                contact,
            }),
            None => Self::User(UserMessage {
                origin: ctx.origin.clone(),
                id: message.id,
                from,
                timestamp: message.timestamp.0,
                kind: message.kind.unwrap_or_default(),
                contact,
            }),
        }
    }
}

fn parse_response(s: String) -> PermissionResponse {
    if s.eq_ignore_ascii_case("accept") {
        PermissionResponse::Accept
    } else if s.eq_ignore_ascii_case("reject") {
        PermissionResponse::Reject
    } else {
        PermissionResponse::Other(s)
    }
}

fn parse_source(s: String) -> ResponseSource {
    if s.eq_ignore_ascii_case("user_action") {
        ResponseSource::UserAction
    } else if s.eq_ignore_ascii_case("automatic") {
        ResponseSource::Automatic
    } else {
        ResponseSource::Other(s)
    }
}
