//! [`parse_webhook`]: raw body in, flat list of [`WebhookEvent`]s out, one per `calls[]`,
//! `statuses[]` and `messages[]` item, each carrying the business account and number it came for.

use serde::de::Error as _;

use super::artifacts::{CallRecording, CallTranscription};
use super::call::{CallConnect, CallError, CallTerminate, ChangeContext};
use super::call_status::CallStatus;
use super::error::WebhookParseError;
use super::message::MessageEvent;
use super::party::Origin;
use super::settings_update::SettingsUpdate;
use super::{WebhookEvent, wire};

/// The `object` of every WhatsApp Business webhook.
pub const WHATSAPP_OBJECT: &str = "whatsapp_business_account";

/// Parses a webhook POST body (the raw bytes whose signature was checked) into events, in payload
/// order.
///
/// - `calls` changes give one event per `calls[]` item (connect, terminate, recording,
///   transcription) and per `statuses[]` item with `type: "call"`;
/// - `messages` changes give one event per `messages[]` item (call permission reply, or any other
///   user message);
/// - `account_settings_update` changes about a phone number give one
///   [`WebhookEvent::SettingsUpdate`];
/// - anything else (an unknown `field` such as `account_update`, an unknown call `event`, a message
///   delivery status, a known change with no items) gives [`WebhookEvent::Other`], never an error.
///
/// Errors: the body is not JSON or not the envelope (with line and column), the `object` is not
/// `whatsapp_business_account`, or a `calls`/`messages` change misses a field Meta always sends.
pub fn parse_webhook(body: &[u8]) -> Result<Vec<WebhookEvent>, WebhookParseError> {
    let envelope: wire::Envelope =
        serde_json::from_slice(body).map_err(|e| WebhookParseError::invalid_json(&e))?;
    if envelope.object != WHATSAPP_OBJECT {
        return Err(WebhookParseError::NotWhatsApp {
            object: envelope.object,
        });
    }
    let mut events = Vec::new();
    for (entry_index, entry) in envelope.entry.into_iter().enumerate() {
        for (change_index, change) in entry.changes.into_iter().enumerate() {
            let field = change.field.clone();
            flatten_change(&entry.id, change, &mut events).map_err(|e| {
                WebhookParseError::InvalidChange {
                    entry: entry_index,
                    change: change_index,
                    field,
                    detail: e.to_string(),
                }
            })?;
        }
    }
    Ok(events)
}

/// Appends the events of one change to `out`.
fn flatten_change(
    waba_id: &str,
    change: wire::Change,
    out: &mut Vec<WebhookEvent>,
) -> Result<(), serde_json::Error> {
    let wire::Change { field, value } = change;
    if field == "account_settings_update"
        && let Some(update) = SettingsUpdate::from_value(waba_id, &value)
    {
        out.push(WebhookEvent::SettingsUpdate(update));
        return Ok(());
    }
    if field != "calls" && field != "messages" {
        let phone_number_id = value
            .pointer("/metadata/phone_number_id")
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        out.push(WebhookEvent::Other {
            waba_id: waba_id.to_owned(),
            phone_number_id,
            field,
            kind: None,
            id: None,
        });
        return Ok(());
    }

    let wire::ChangeValue {
        metadata,
        contacts,
        calls,
        statuses,
        messages,
        errors,
    } = serde_json::from_value(value)?;
    let metadata = metadata.ok_or_else(|| serde_json::Error::missing_field("metadata"))?;
    let origin = Origin {
        waba_id: waba_id.to_owned(),
        phone_number_id: metadata.phone_number_id,
        display_phone_number: metadata.display_phone_number,
    };
    let errors: Vec<CallError> = CallError::merge(errors, &[]);
    let ctx = ChangeContext {
        origin: &origin,
        contacts: &contacts,
        errors: &errors,
    };
    let other = |kind: String, id: String| WebhookEvent::Other {
        waba_id: origin.waba_id.clone(),
        phone_number_id: Some(origin.phone_number_id.clone()),
        field: field.clone(),
        kind: Some(kind),
        id: Some(id),
    };

    let before = out.len();
    for call in calls {
        let event = match call.event.as_str() {
            "connect" => WebhookEvent::CallConnect(CallConnect::from_wire(call, &ctx)),
            "terminate" => WebhookEvent::CallTerminate(CallTerminate::from_wire(call, &ctx)),
            "call_recording_available" => {
                WebhookEvent::CallRecordingAvailable(CallRecording::from_wire(call, &ctx))
            }
            "call_transcription_available" => {
                WebhookEvent::CallTranscriptionAvailable(CallTranscription::from_wire(call, &ctx))
            }
            _ => other(call.event, call.id),
        };
        out.push(event);
    }
    for status in statuses {
        // Call statuses say `type: "call"`; under the `calls` field an untyped status is one too.
        let is_call = match &status.kind {
            Some(kind) => kind.eq_ignore_ascii_case("call"),
            None => field == "calls",
        };
        out.push(if is_call {
            WebhookEvent::CallStatus(CallStatus::from_wire(status, &ctx))
        } else {
            other(status.status, status.id)
        });
    }
    for message in messages {
        out.push(match MessageEvent::from_wire(message, &ctx) {
            MessageEvent::PermissionReply(reply) => WebhookEvent::CallPermissionReply(reply),
            MessageEvent::User(message) => WebhookEvent::UserMessage(message),
        });
    }
    if out.len() == before {
        out.push(WebhookEvent::Other {
            waba_id: origin.waba_id.clone(),
            phone_number_id: Some(origin.phone_number_id.clone()),
            field,
            kind: None,
            id: None,
        });
    }
    Ok(())
}
