//! The serde mirror of Meta's webhook JSON, exactly as it arrives on the wire.
//!
//! Private to [`super`]: the public event model is built from these types in `call.rs`,
//! `message.rs` and `flatten.rs`. Rules kept here:
//! - unknown fields are ignored everywhere (no `deny_unknown_fields`): Meta adds fields often;
//! - a field is required only when every published sample and the reference carry it (ids, `event`,
//!   `timestamp`, `status`); everything conditional is an `Option` or a defaulted list;
//! - numbers Meta prints as strings (`timestamp`, `start_time`, `expiration_timestamp`, ...) are
//!   accepted as a string of digits or as a JSON integer ([`Uint`]);
//! - the terminate `status` is accepted as a string or an array of strings ([`OneOrMany`]).

use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, de::DeserializeOwned};

/// The top level: `{"object": "...", "entry": [...]}`.
#[derive(Debug, Deserialize)]
pub(super) struct Envelope {
    pub object: String,
    pub entry: Vec<Entry>,
}

/// One `entry[]` item: the WhatsApp Business Account id and its changes. `changes` defaults to
/// empty so that other products' envelopes (no `changes`) still reach the `object` check.
#[derive(Debug, Deserialize)]
pub(super) struct Entry {
    pub id: String,
    #[serde(default)]
    pub changes: Vec<Change>,
}

/// One `changes[]` item. `value` stays untyped until `field` is known (Meta often sends `value`
/// before `field`), so an unknown field never fails the whole payload.
#[derive(Debug, Deserialize)]
pub(super) struct Change {
    pub field: String,
    pub value: serde_json::Value,
}

/// The `value` of a `calls` or `messages` change (one type serves both: each reads what it needs).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct ChangeValue {
    pub metadata: Option<Metadata>,
    #[serde(deserialize_with = "null_as_default")]
    pub contacts: Vec<Contact>,
    #[serde(deserialize_with = "null_as_default")]
    pub calls: Vec<Call>,
    #[serde(deserialize_with = "null_as_default")]
    pub statuses: Vec<Status>,
    #[serde(deserialize_with = "null_as_default")]
    pub messages: Vec<Message>,
    #[serde(deserialize_with = "null_as_default")]
    pub errors: Vec<Error>,
}

/// `value.metadata`: which business number the change is about.
#[derive(Debug, Deserialize)]
pub(super) struct Metadata {
    #[serde(default)]
    pub display_phone_number: String,
    pub phone_number_id: String,
}

/// `value.contacts[]`: the WhatsApp user's contact card.
#[derive(Debug, Deserialize)]
pub(super) struct Contact {
    pub profile: Option<Profile>,
    pub wa_id: Option<String>,
    pub user_id: Option<String>,
    pub parent_user_id: Option<String>,
}

/// `contacts[].profile`.
#[derive(Debug, Deserialize)]
pub(super) struct Profile {
    pub name: Option<String>,
    pub username: Option<String>,
}

/// `value.calls[]`: one call event (`connect`, `terminate`, `call_recording_available`, ...).
#[derive(Debug, Deserialize)]
pub(super) struct Call {
    pub id: String,
    pub event: String,
    pub timestamp: Uint,
    pub from: Option<String>,
    pub from_user_id: Option<String>,
    pub from_parent_user_id: Option<String>,
    pub to: Option<String>,
    pub to_user_id: Option<String>,
    pub to_parent_user_id: Option<String>,
    pub direction: Option<String>,
    pub biz_opaque_callback_data: Option<String>,
    pub cta_payload: Option<String>,
    pub deeplink_payload: Option<String>,
    pub session: Option<Session>,
    pub connection: Option<Connection>,
    pub status: Option<OneOrMany>,
    pub start_time: Option<Uint>,
    pub end_time: Option<Uint>,
    pub duration: Option<Uint>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub errors: Vec<Error>,
    pub call_recording: Option<Recording>,
    pub call_transcript: Option<Transcript>,
}

/// `calls[].session`: the SDP Meta sends (offer for user-initiated, answer for business-initiated).
#[derive(Debug, Deserialize)]
pub(super) struct Session {
    pub sdp_type: Option<String>,
    pub sdp: Option<String>,
}

/// `calls[].connection`: the legacy carrier of the same SDP.
#[derive(Debug, Deserialize)]
pub(super) struct Connection {
    pub webrtc: Option<Webrtc>,
}

/// `calls[].connection.webrtc`: `sdp` is either the SDP text or a JSON string
/// `{"sdp": "...", "type": "answer"}` (see [`LegacySdp`]).
#[derive(Debug, Deserialize)]
pub(super) struct Webrtc {
    pub sdp: Option<String>,
}

/// The JSON-in-a-string form of `connection.webrtc.sdp`.
#[derive(Debug, Deserialize)]
pub(super) struct LegacySdp {
    pub sdp: String,
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

/// `calls[].call_recording` (2026): `{"type": "audio", "audio": {media}}`.
#[derive(Debug, Deserialize)]
pub(super) struct Recording {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub audio: Option<Media>,
}

/// `calls[].call_transcript` (2026): `{"document": {media}}`.
#[derive(Debug, Deserialize)]
pub(super) struct Transcript {
    pub document: Option<Media>,
}

/// A media asset reference (downloadable with the access token).
#[derive(Debug, Deserialize)]
pub(super) struct Media {
    pub id: String,
    pub sha256: Option<String>,
    pub mime_type: Option<String>,
    pub url: Option<String>,
}

/// An `errors[]` entry, inside a call, a status, or beside them at `value` level.
#[derive(Debug, Deserialize)]
pub(super) struct Error {
    pub code: Uint,
    pub title: Option<String>,
    pub message: Option<String>,
    pub href: Option<String>,
    pub error_data: Option<ErrorData>,
}

/// `errors[].error_data`.
#[derive(Debug, Deserialize)]
pub(super) struct ErrorData {
    pub details: Option<String>,
}

/// `value.statuses[]`: a call status (`type: "call"`) or a message delivery status.
#[derive(Debug, Deserialize)]
pub(super) struct Status {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub status: String,
    pub timestamp: Uint,
    pub recipient_id: Option<String>,
    pub recipient_user_id: Option<String>,
    pub recipient_parent_user_id: Option<String>,
    pub biz_opaque_callback_data: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub errors: Vec<Error>,
}

/// `value.messages[]`: a message from the user (text, interactive reply, ...).
#[derive(Debug, Deserialize)]
pub(super) struct Message {
    pub id: String,
    pub timestamp: Uint,
    pub from: Option<String>,
    pub from_user_id: Option<String>,
    pub from_parent_user_id: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub context: Option<Context>,
    pub interactive: Option<Interactive>,
}

/// `messages[].context`: the message this one answers.
#[derive(Debug, Deserialize)]
pub(super) struct Context {
    pub id: Option<String>,
}

/// `messages[].interactive`: only the call permission reply is read; other interactive kinds
/// (button or list replies) become plain user messages.
#[derive(Debug, Deserialize)]
pub(super) struct Interactive {
    pub call_permission_reply: Option<PermissionReply>,
}

/// `interactive.call_permission_reply`.
#[derive(Debug, Deserialize)]
pub(super) struct PermissionReply {
    pub response: String,
    pub is_permanent: Option<bool>,
    pub expiration_timestamp: Option<Uint>,
    pub response_source: String,
}

/// A non-negative integer Meta sends either as a JSON integer or as a string of digits
/// (`"1671644824"`): timestamps, durations, error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Uint(pub u64);

impl<'de> Deserialize<'de> for Uint {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct UintVisitor;

        impl Visitor<'_> for UintVisitor {
            type Value = Uint;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a non-negative integer or a string of digits")
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Uint, E> {
                Ok(Uint(v))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Uint, E> {
                u64::try_from(v)
                    .map(Uint)
                    .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Uint, E> {
                v.trim()
                    .parse()
                    .map(Uint)
                    .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
            }
        }

        deserializer.deserialize_any(UintVisitor)
    }
}

/// A string or an array of strings (the terminate `status`: `"FAILED"` or `["Failed", "Completed"]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct OneOrMany(pub Vec<String>);

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OneOrManyVisitor;

        impl<'de> Visitor<'de> for OneOrManyVisitor {
            type Value = OneOrMany;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or an array of strings")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<OneOrMany, E> {
                Ok(OneOrMany(vec![v.to_owned()]))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<OneOrMany, E> {
                Ok(OneOrMany(vec![v]))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OneOrMany, A::Error> {
                let mut all = Vec::with_capacity(seq.size_hint().unwrap_or(2));
                while let Some(item) = seq.next_element::<String>()? {
                    all.push(item);
                }
                Ok(OneOrMany(all))
            }
        }

        deserializer.deserialize_any(OneOrManyVisitor)
    }
}

/// Reads `null` as the type's default (an empty list), so `"errors": null` is not a shape error.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}
