//! Meta-shaped webhook payloads the sandbox sends: `calls` connect (both directions), terminate
//! and statuses, and `messages` call permission replies.

use serde_json::{Value, json};

use super::state::{CallRecord, Direction};

/// The business account and number a webhook is about.
#[derive(Debug, Clone)]
pub struct Origin<'a> {
    /// WABA id (`entry[].id`).
    pub waba_id: &'a str,
    /// Phone number id.
    pub pnid: &'a str,
    /// Display phone number.
    pub display_number: &'a str,
}

fn envelope(origin: &Origin<'_>, field: &str, mut value: Value) -> Value {
    value["messaging_product"] = json!("whatsapp");
    value["metadata"] = json!({
        "display_phone_number": origin.display_number,
        "phone_number_id": origin.pnid,
    });
    json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": origin.waba_id, "changes": [{"field": field, "value": value}]}],
    })
}

fn put_opt(obj: &mut Value, key: &str, v: &Option<String>) {
    if let Some(v) = v {
        obj[key] = json!(v);
    }
}

/// The `calls[]` item of a `connect` webhook: the call's parties and Meta's SDP in `session`.
fn connect_item(
    call: &CallRecord,
    direction: Direction,
    sdp_type: &str,
    sdp: &str,
    timestamp: u64,
) -> Value {
    json!({
        "id": call.id,
        "from": call.from,
        "to": call.to,
        "event": "connect",
        "timestamp": timestamp.to_string(),
        "direction": direction.as_str(),
        "session": {"sdp_type": sdp_type, "sdp": sdp},
    })
}

/// `connect` for a user-initiated call: carries Meta's offer.
pub fn connect_user_initiated(
    origin: &Origin<'_>,
    call: &CallRecord,
    contact_name: &str,
    timestamp: u64,
) -> Value {
    let offer = call.offer_sdp.as_deref().unwrap_or_default();
    let mut c = connect_item(call, Direction::UserInitiated, "offer", offer, timestamp);
    put_opt(&mut c, "cta_payload", &call.cta_payload);
    put_opt(&mut c, "deeplink_payload", &call.deeplink_payload);
    envelope(
        origin,
        "calls",
        json!({
            "contacts": [{"profile": {"name": contact_name}, "wa_id": call.user}],
            "calls": [c],
        }),
    )
}

/// `connect` for a business-initiated call: carries Meta's answer (also in the legacy
/// `connection.webrtc.sdp`).
pub fn connect_business_initiated(
    origin: &Origin<'_>,
    call: &CallRecord,
    answer_sdp: &str,
    timestamp: u64,
) -> Value {
    let mut c = connect_item(
        call,
        Direction::BusinessInitiated,
        "answer",
        answer_sdp,
        timestamp,
    );
    c["connection"] = json!({"webrtc": {"sdp": answer_sdp}});
    put_opt(
        &mut c,
        "biz_opaque_callback_data",
        &call.biz_opaque_callback_data,
    );
    envelope(origin, "calls", json!({"calls": [c]}))
}

/// A `statuses[]` webhook (BIC): `RINGING`, `ACCEPTED` or `REJECTED`.
pub fn call_status(origin: &Origin<'_>, call: &CallRecord, status: &str, timestamp: u64) -> Value {
    let mut s = json!({
        "id": call.id,
        "type": "call",
        "status": status,
        "timestamp": timestamp.to_string(),
        "recipient_id": call.user,
    });
    put_opt(
        &mut s,
        "biz_opaque_callback_data",
        &call.biz_opaque_callback_data,
    );
    envelope(origin, "calls", json!({"statuses": [s]}))
}

/// `terminate` (both directions). `start_time`/`end_time`/`duration` only when the call was
/// answered; `errors` only when given.
pub fn terminate(
    origin: &Origin<'_>,
    call: &CallRecord,
    status: &str,
    timestamp: u64,
    error: Option<(u32, &str)>,
) -> Value {
    let mut c = json!({
        "id": call.id,
        "from": call.from,
        "to": call.to,
        "event": "terminate",
        "direction": call.direction.as_str(),
        "timestamp": timestamp.to_string(),
        "status": status,
    });
    if let Some(start) = call.accepted_unix {
        let end = call.ended_unix.unwrap_or(timestamp);
        c["start_time"] = json!(start.to_string());
        c["end_time"] = json!(end.to_string());
        c["duration"] = json!(end.saturating_sub(start));
    }
    put_opt(
        &mut c,
        "biz_opaque_callback_data",
        &call.biz_opaque_callback_data,
    );
    put_opt(&mut c, "cta_payload", &call.cta_payload);
    put_opt(&mut c, "deeplink_payload", &call.deeplink_payload);
    let mut value = json!({"calls": [c]});
    if let Some((code, message)) = error {
        value["errors"] =
            json!([{"code": code, "message": message, "error_data": {"details": message}}]);
    }
    envelope(origin, "calls", value)
}

/// What a `call_permission_reply` says.
#[derive(Debug, Clone)]
pub struct PermissionReply<'a> {
    /// The user.
    pub user: &'a str,
    /// `accept` or `reject`.
    pub accept: bool,
    /// Permanent grant.
    pub permanent: bool,
    /// Expiry (UNIX seconds) of a temporary grant.
    pub expiration: Option<u64>,
    /// The request's wamid, or the call id for automatic callback permission.
    pub context_id: Option<&'a str>,
    /// `user_action` or `automatic`.
    pub source: &'a str,
}

/// A `messages` webhook carrying an interactive `call_permission_reply`.
pub fn permission_reply(origin: &Origin<'_>, reply: &PermissionReply<'_>, timestamp: u64) -> Value {
    let mut r = json!({
        "response": if reply.accept { "accept" } else { "reject" },
        "response_source": reply.source,
    });
    if reply.accept {
        r["is_permanent"] = json!(reply.permanent);
    }
    if let Some(exp) = reply.expiration {
        r["expiration_timestamp"] = json!(exp.to_string());
    }
    let mut m = json!({
        "from": reply.user,
        "id": super::state::new_id("wamid"),
        "timestamp": timestamp.to_string(),
        "type": "interactive",
        "interactive": {"type": "call_permission_reply", "call_permission_reply": r},
    });
    if let Some(ctx) = reply.context_id {
        m["context"] = json!({"from": reply.user, "id": ctx});
    }
    envelope(
        origin,
        "messages",
        json!({
            "contacts": [{"profile": {"name": "Sandbox User"}, "wa_id": reply.user}],
            "messages": [m],
        }),
    )
}
