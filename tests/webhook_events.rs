//! Every published webhook sample in `tests/fixtures/webhook-*.json` parses into the events it
//! describes, with concrete field values checked (ids, SDP, statuses, payloads, errors, permission
//! replies, 2026 BSUID fields). Doc fragments of the form `{"messages": [...]}` are wrapped into a
//! full envelope first, as Meta would deliver them.

use callgate::cloud::events::{
    CallConnect, CallDirection, CallPermissionReply, CallStatus, CallStatusKind, CallTerminate,
    PermissionResponse, ReplyContext, ResponseSource, SdpType, TerminateStatus, WebhookEvent,
    parse_webhook,
};

/// The bytes of `tests/fixtures/<name>`.
fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// Parses a fixture; doc fragments (a bare `value` object) are wrapped into an envelope first.
fn events(name: &str) -> Vec<WebhookEvent> {
    let body = fixture(name);
    let body = if body.windows(7).any(|w| w == b"\"entry\"") {
        body
    } else {
        let value = String::from_utf8(body).expect("fixture is UTF-8");
        let value = value.trim().trim_start_matches('{');
        format!(
            r#"{{"object":"whatsapp_business_account","entry":[{{"id":"WABA-FRAGMENT","changes":[{{"field":"messages","value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"15550001111","phone_number_id":"PNID-FRAGMENT"}},{value}}}]}}]}}"#
        )
        .into_bytes()
    };
    parse_webhook(&body).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn one(name: &str) -> WebhookEvent {
    let mut all = events(name);
    assert_eq!(all.len(), 1, "{name}: expected one event, got {all:#?}");
    all.remove(0)
}

fn connect(name: &str) -> CallConnect {
    match one(name) {
        WebhookEvent::CallConnect(c) => c,
        other => panic!("{name}: expected a connect, got {other:#?}"),
    }
}

fn terminate(name: &str) -> CallTerminate {
    match one(name) {
        WebhookEvent::CallTerminate(t) => t,
        other => panic!("{name}: expected a terminate, got {other:#?}"),
    }
}

fn status(name: &str) -> CallStatus {
    match one(name) {
        WebhookEvent::CallStatus(s) => s,
        other => panic!("{name}: expected a call status, got {other:#?}"),
    }
}

fn permission_reply(name: &str) -> CallPermissionReply {
    match one(name) {
        WebhookEvent::CallPermissionReply(r) => r,
        other => panic!("{name}: expected a permission reply, got {other:#?}"),
    }
}

const REAL_CALL_ID: &str = "wacid.HBgMOTE3MzU4NTgwMTgwFQIAEhggQUNEODk3OUQ3NzI4MjZBRTZFNEE2MzU3NDEzNDg4RUUcGAsxNTU1MTQ0MTkwNhUCABUKAA==";
const REF_BIC_CALL_ID: &str = "wacid.HBgLMTY1MDMxMzM5NzQVAgARGCAwQTJCRDYwNkEzQUNCQUVCMEFGMzYzRTYxNjMxMDdFMxwYCzE0MDg1NTUyODk5FQIAAA==";

/// Every fixture this file checks; a new `webhook-*.json` must be added here (and tested).
const COVERED: &[&str] = &[
    "webhook-account-settings-update-docs.json",
    "webhook-calls-connect-bic-bsuid-2026.json",
    "webhook-calls-connect-bic-docs-legacy.json",
    "webhook-calls-connect-bic.json",
    "webhook-calls-connect-uic-docs-part1.json",
    "webhook-calls-connect-uic-docs.json",
    "webhook-calls-connect-uic.json",
    "webhook-calls-recording-available-2026.json",
    "webhook-calls-status-accepted.json",
    "webhook-calls-status-rejected.json",
    "webhook-calls-status-ringing-pywa.json",
    "webhook-calls-status-ringing.json",
    "webhook-calls-terminate-bic-docs-status-array.json",
    "webhook-calls-terminate-bic-pywa.json",
    "webhook-calls-terminate-uic-failed-138021.json",
    "webhook-calls-transcription-available-2026.json",
    "webhook-messages-call-permission-reply-accept-pywa.json",
    "webhook-messages-call-permission-reply-automatic-callback.json",
    "webhook-messages-call-permission-reply-automatic-revoke.json",
    "webhook-messages-call-permission-reply-permanent-profile.json",
    "webhook-messages-call-permission-reply-permanent.json",
    "webhook-messages-call-permission-reply-reject-pywa.json",
    "webhook-messages-call-permission-reply-reject.json",
    "webhook-messages-call-permission-reply-temporary.json",
];

#[test]
fn every_webhook_fixture_is_covered_and_yields_known_events() {
    let dir = format!("{}/tests/fixtures", env!("CARGO_MANIFEST_DIR"));
    let mut found: Vec<String> = std::fs::read_dir(&dir)
        .expect("fixtures dir")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .into_string()
                .expect("utf-8")
        })
        .filter(|n| n.starts_with("webhook-") && n.ends_with(".json"))
        .collect();
    found.sort();
    assert_eq!(
        found, COVERED,
        "fixture list changed: update COVERED and add a test"
    );
    for name in COVERED {
        let all = events(name);
        assert!(!all.is_empty(), "{name}: no events");
        for event in &all {
            assert!(
                !matches!(event, WebhookEvent::Other { .. }),
                "{name}: {event:#?}"
            );
            assert!(event.dedupe_key().is_some(), "{name}: no dedupe key");
            assert!(
                event.timestamp().is_some_and(|t| t > 1_600_000_000),
                "{name}"
            );
        }
    }
}

#[test]
fn real_user_initiated_connect_carries_meta_offer_and_caller() {
    let c = connect("webhook-calls-connect-uic.json");
    assert_eq!(c.call_id, REAL_CALL_ID);
    assert_eq!(c.origin.waba_id, "553133154547046");
    assert_eq!(c.origin.phone_number_id, "518638374672395");
    assert_eq!(c.origin.display_phone_number, "15551441906");
    assert_eq!(c.from.number.as_deref(), Some("917358580180"));
    assert_eq!(c.to.number.as_deref(), Some("15551441906"));
    assert_eq!(c.timestamp, 1_760_681_506);
    assert_eq!(c.direction, Some(CallDirection::UserInitiated));
    assert_eq!(c.sdp_type, Some(SdpType::Offer));
    assert!(c.is_offer());
    let sdp = c.sdp.as_deref().expect("sdp");
    assert!(sdp.starts_with("v=0\r\n"));
    assert_eq!(
        sdp.as_bytes(),
        fixture("meta-uic-offer-real-2025-10-17.sdp"),
        "SDP decoded from JSON keeps its CRLF bytes"
    );
    let contact = c.contact.as_ref().expect("contact");
    assert_eq!(contact.wa_id.as_deref(), Some("917358580180"));
    assert_eq!(contact.name.as_deref(), Some("917358580180"));
    assert_eq!((c.cta_payload, c.deeplink_payload), (None, None));
    assert!(c.errors.is_empty());
}

#[test]
fn docs_user_initiated_connect_carries_cta_and_deeplink_payloads() {
    let c = connect("webhook-calls-connect-uic-docs.json");
    assert_eq!(c.call_id, "wacid.ABGGFjFVU2AfAgo6V-Hc5eCgK5Gh");
    assert_eq!(c.origin.waba_id, "<WHATSAPP_BUSINESS_ACCOUNT_ID>");
    assert_eq!(c.cta_payload.as_deref(), Some("cta_payload"));
    assert_eq!(c.deeplink_payload.as_deref(), Some("deeplink_payload"));
    assert_eq!(c.sdp.as_deref(), Some("<<RFC 8866 SDP>>"));
    assert_eq!(c.sdp_type, Some(SdpType::Offer));
    assert_eq!(c.contact.unwrap().name.as_deref(), Some("<CALLEE_NAME>"));
}

#[test]
fn connect_without_direction_or_contacts_is_an_offer_by_sdp_type() {
    let c = connect("webhook-calls-connect-uic-docs-part1.json");
    assert_eq!(c.direction, None);
    assert_eq!(c.contact, None);
    assert_eq!(c.sdp_type, Some(SdpType::Offer));
    assert_eq!(c.origin.phone_number_id, "436666719526789");
    assert_eq!(c.timestamp, 1_671_644_824);
}

#[test]
fn business_initiated_connect_carries_meta_answer() {
    let c = connect("webhook-calls-connect-bic.json");
    assert_eq!(c.call_id, REF_BIC_CALL_ID);
    assert_eq!(c.direction, Some(CallDirection::BusinessInitiated));
    assert_eq!(c.sdp_type, Some(SdpType::Answer));
    assert!(!c.is_offer());
    assert_eq!(
        c.sdp.as_deref().map(str::as_bytes),
        Some(fixture("meta-bic-answer-ref-webhook.sdp").as_slice())
    );
    assert_eq!(c.from.number.as_deref(), Some("15551112222"));
    assert_eq!(c.to.number.as_deref(), Some("16501230000"));
    assert_eq!(c.contact, None);
    assert_eq!(
        one("webhook-calls-connect-bic.json")
            .dedupe_key()
            .as_deref(),
        Some(format!("call:{REF_BIC_CALL_ID}:connect").as_str())
    );
}

#[test]
fn legacy_connection_webrtc_sdp_gives_the_same_answer_as_session() {
    // Drop `session` from the reference sample: the JSON-in-a-string legacy form must be unwrapped.
    let mut body: serde_json::Value =
        serde_json::from_slice(&fixture("webhook-calls-connect-bic.json")).unwrap();
    let call = &mut body["entry"][0]["changes"][0]["value"]["calls"][0];
    call.as_object_mut()
        .unwrap()
        .remove("session")
        .expect("sample has a session");
    call.as_object_mut().unwrap().remove("direction");
    let all = parse_webhook(&serde_json::to_vec(&body).unwrap()).unwrap();
    let [WebhookEvent::CallConnect(c)] = all.as_slice() else {
        panic!("expected one connect: {all:#?}");
    };
    assert_eq!(
        c.sdp_type,
        Some(SdpType::Answer),
        "type read from the legacy JSON"
    );
    let sdp = c.sdp.as_deref().expect("legacy sdp");
    assert!(sdp.starts_with("v=0\r\no=- 8076734947255960322"));
    assert_eq!(sdp.as_bytes(), fixture("meta-bic-answer-ref-webhook.sdp"));
}

#[test]
fn docs_business_initiated_connect_keeps_callback_data() {
    let c = connect("webhook-calls-connect-bic-docs-legacy.json");
    assert_eq!(c.call_id, "wacid.HBgLMTIxODU1NTI4MjgVAgARGCAyODRQIAFRoA");
    assert_eq!(
        c.biz_opaque_callback_data.as_deref(),
        Some("TRx334DUDFTI4Mj")
    );
    assert_eq!(c.sdp.as_deref(), Some("<RFC 8866 SDP>"));
    assert_eq!(c.sdp_type, Some(SdpType::Answer));
    assert_eq!(c.timestamp, 1_749_196_895);
    assert_eq!(c.origin.waba_id, "366634483210360");
}

#[test]
fn bsuid_2026_connect_carries_user_ids_and_username() {
    let c = connect("webhook-calls-connect-bic-bsuid-2026.json");
    assert_eq!(c.call_id, REF_BIC_CALL_ID);
    assert_eq!(c.to.number.as_deref(), Some("16501230000"));
    assert_eq!(c.to.user_id.as_deref(), Some("<BSUID>"));
    assert_eq!(c.to.parent_user_id.as_deref(), Some("<PARENT_BSUID>"));
    assert_eq!(c.from.user_id, None);
    let contact = c.contact.expect("contact");
    assert_eq!(contact.wa_id.as_deref(), Some("16501230000"));
    assert_eq!(contact.user_id.as_deref(), Some("<BSUID>"));
    assert_eq!(contact.parent_user_id.as_deref(), Some("<PARENT_BSUID>"));
    assert_eq!(contact.username.as_deref(), Some("<USERNAME>"));
    assert_eq!(contact.name.as_deref(), Some("<CALLEE_NAME>"));
    assert!(c.sdp.unwrap().starts_with("v=0"));
}

#[test]
fn real_failed_terminate_carries_138021_once() {
    let t = terminate("webhook-calls-terminate-uic-failed-138021.json");
    assert_eq!(t.call_id, REAL_CALL_ID);
    assert_eq!(t.status, Some(TerminateStatus::Failed));
    assert_eq!(t.reported_statuses, vec![TerminateStatus::Failed]);
    assert_eq!(t.direction, Some(CallDirection::UserInitiated));
    assert_eq!(t.timestamp, 1_760_681_533);
    assert_eq!(t.start_time, Some(1_760_681_513));
    assert_eq!(t.end_time, Some(1_760_681_533));
    assert_eq!(t.duration, Some(20));
    assert_eq!(t.errors.len(), 1, "same entry inside and beside the call");
    let e = &t.errors[0];
    assert_eq!(e.code, 138021);
    assert!(
        e.message
            .as_deref()
            .unwrap()
            .starts_with("WhatsApp client terminated the call")
    );
    assert_eq!(e.title, e.message);
    assert_eq!(
        e.details.as_deref(),
        Some("WhatsApp client terminated the call due to not receiving any media for a long time.")
    );
    assert_eq!(e.href, None);
    assert_eq!(t.contact.unwrap().wa_id.as_deref(), Some("917358580180"));
}

#[test]
fn docs_terminate_with_status_array_is_failed_and_keeps_both() {
    let t = terminate("webhook-calls-terminate-bic-docs-status-array.json");
    assert_eq!(t.status, Some(TerminateStatus::Failed));
    assert_eq!(
        t.reported_statuses,
        vec![TerminateStatus::Failed, TerminateStatus::Completed]
    );
    assert_eq!(t.duration, Some(480));
    assert_eq!(t.start_time, Some(1_671_644_824));
    assert_eq!(t.end_time, Some(1_671_644_944));
    assert_eq!(t.direction, Some(CallDirection::BusinessInitiated));
    assert!(t.errors.is_empty());
}

#[test]
fn pywa_terminate_gets_value_level_errors_and_callback_data() {
    let t = terminate("webhook-calls-terminate-bic-pywa.json");
    assert_eq!(t.call_id, "wacid.ABGGFjFVU2AfAgo6V-Hc5eCgK5Gh");
    assert_eq!(t.status, Some(TerminateStatus::Completed));
    assert_eq!(t.duration, Some(120));
    assert_eq!(t.biz_opaque_callback_data.as_deref(), Some("random_string"));
    assert_eq!(t.errors.len(), 1);
    assert_eq!(t.errors[0].code, 12455);
    assert_eq!(t.errors[0].href.as_deref(), Some("ERROR_HREF"));
    assert_eq!(t.errors[0].details.as_deref(), Some("ERROR_DETAILS"));
    assert_eq!(t.origin.phone_number_id, "37489742");
}

#[test]
fn call_status_fixtures_give_ringing_accepted_rejected() {
    for (name, expected, key) in [
        (
            "webhook-calls-status-ringing.json",
            CallStatusKind::Ringing,
            "RINGING",
        ),
        (
            "webhook-calls-status-ringing-pywa.json",
            CallStatusKind::Ringing,
            "RINGING",
        ),
        (
            "webhook-calls-status-accepted.json",
            CallStatusKind::Accepted,
            "ACCEPTED",
        ),
        (
            "webhook-calls-status-rejected.json",
            CallStatusKind::Rejected,
            "REJECTED",
        ),
    ] {
        let s = status(name);
        assert_eq!(s.status, expected, "{name}");
        assert_eq!(s.call_id, "wacid.ABGGFjFVU2AfAgo6V");
        assert_eq!(s.timestamp, 1_671_644_824);
        assert_eq!(s.recipient.number.as_deref(), Some("163155536021"));
        assert_eq!(s.biz_opaque_callback_data.as_deref(), Some("random_string"));
        assert_eq!(
            WebhookEvent::CallStatus(s).dedupe_key(),
            Some(format!("call:wacid.ABGGFjFVU2AfAgo6V:status:{key}"))
        );
    }
    assert_eq!(
        status("webhook-calls-status-ringing-pywa.json")
            .origin
            .waba_id,
        "487439753"
    );
}

#[test]
fn recording_available_2026_keeps_the_audio_asset() {
    let event = one("webhook-calls-recording-available-2026.json");
    assert_eq!(
        event.call_id(),
        Some("wacid.HBgLMTQxMjYxMzYyNTMVAgASGCBGO...")
    );
    let WebhookEvent::CallRecordingAvailable(r) = event else {
        panic!("expected a recording event");
    };
    assert_eq!(r.timestamp, 1_728_932_177);
    assert_eq!(r.from.number.as_deref(), Some("16315553602"));
    assert_eq!(r.from.user_id.as_deref(), Some("<BSUID>"));
    assert_eq!(r.from.parent_user_id.as_deref(), Some("<PARENT_BSUID>"));
    assert_eq!(r.media_type.as_deref(), Some("audio"));
    let audio = r.audio.expect("audio");
    assert_eq!(audio.id, "1002764438271669");
    assert_eq!(audio.mime_type.as_deref(), Some("audio/ogg; codecs=opus"));
    assert_eq!(
        audio.sha256.as_deref(),
        Some("Y9vvGyeo3n76ptkXu3CwDBsnzbRFqpjHskQdMGSVqas=")
    );
    assert!(
        audio
            .url
            .unwrap()
            .starts_with("https://lookaside.fbsbx.com/")
    );
}

#[test]
fn transcription_available_2026_keeps_the_document() {
    let event = one("webhook-calls-transcription-available-2026.json");
    assert_eq!(
        event.dedupe_key().as_deref(),
        Some("call:wacid.HBgLMTQxMjYxMzYyNTMVAgASGCBGO...:call_transcription_available")
    );
    let WebhookEvent::CallTranscriptionAvailable(t) = event else {
        panic!("expected a transcription event");
    };
    assert_eq!(t.from.user_id.as_deref(), Some("<BSUID>"));
    let doc = t.document.expect("document");
    assert_eq!(doc.id, "1002764438271669");
    assert_eq!(doc.mime_type.as_deref(), Some("application/json"));
}

#[test]
fn pywa_accept_has_integer_expiration_and_request_context() {
    let event = one("webhook-messages-call-permission-reply-accept-pywa.json");
    assert_eq!(event.dedupe_key().as_deref(), Some("msg:wamid.x"));
    assert_eq!(event.call_id(), None);
    let WebhookEvent::CallPermissionReply(r) = event else {
        panic!("expected a permission reply");
    };
    assert_eq!(r.origin.phone_number_id, "1122334455667");
    assert_eq!(r.from.number.as_deref(), Some("972987654321"));
    assert_eq!(r.timestamp, 1_752_582_182);
    assert_eq!(r.response, PermissionResponse::Accept);
    assert!(!r.is_permanent);
    assert_eq!(r.expiration_timestamp, Some(1_753_186_982));
    assert_eq!(r.response_source, ResponseSource::UserAction);
    assert_eq!(r.context, Some(ReplyContext::Request("wamid.y==".into())));
    assert_eq!(r.contact.unwrap().name.as_deref(), Some("Test Name"));
}

#[test]
fn pywa_reject_has_no_expiration() {
    let r = permission_reply("webhook-messages-call-permission-reply-reject-pywa.json");
    assert_eq!(r.response, PermissionResponse::Reject);
    assert_eq!(r.expiration_timestamp, None);
    assert!(!r.is_permanent);
}

#[test]
fn temporary_accept_has_string_expiration() {
    let r = permission_reply("webhook-messages-call-permission-reply-temporary.json");
    assert_eq!(r.message_id, "wamid.sH0kFlaCGg0xcvZbgmg90lHrg2dL");
    assert_eq!(r.from.number.as_deref(), Some("{customer_phone_number}"));
    assert_eq!(r.timestamp, 1_767_168_000);
    assert_eq!(r.response, PermissionResponse::Accept);
    assert!(!r.is_permanent);
    assert_eq!(r.expiration_timestamp, Some(1_768_550_400));
    assert_eq!(r.response_source, ResponseSource::UserAction);
    assert_eq!(
        r.context,
        Some(ReplyContext::Request("wamid.gBGGFlaCmZ9plHrf2Mh-o".into()))
    );
}

#[test]
fn permanent_accept_from_request_has_no_expiry() {
    let r = permission_reply("webhook-messages-call-permission-reply-permanent.json");
    assert!(r.is_permanent);
    assert_eq!(r.expiration_timestamp, None);
    assert_eq!(
        r.context.as_ref().map(ReplyContext::id),
        Some("wamid.gBGGFlaCmZ9plHrf2Mh-o")
    );
}

#[test]
fn permanent_grant_from_profile_has_no_context() {
    let r = permission_reply("webhook-messages-call-permission-reply-permanent-profile.json");
    assert!(r.is_permanent);
    assert_eq!(r.response, PermissionResponse::Accept);
    assert_eq!(r.context, None);
    assert_eq!(r.origin.waba_id, "WABA-FRAGMENT");
}

#[test]
fn user_reject_of_request() {
    let r = permission_reply("webhook-messages-call-permission-reply-reject.json");
    assert_eq!(r.response, PermissionResponse::Reject);
    assert_eq!(r.response_source, ResponseSource::UserAction);
    assert!(!r.is_permanent);
    assert_eq!(r.expiration_timestamp, None);
    assert!(matches!(r.context, Some(ReplyContext::Request(_))));
}

#[test]
fn automatic_callback_permission_points_at_the_call() {
    let r = permission_reply("webhook-messages-call-permission-reply-automatic-callback.json");
    assert_eq!(r.response, PermissionResponse::Accept);
    assert_eq!(r.response_source, ResponseSource::Automatic);
    assert_eq!(r.expiration_timestamp, Some(1_768_550_400));
    assert_eq!(
        r.context,
        Some(ReplyContext::Call("wacid.gBGGF4lasdnlasdHrf2Mh-o".into()))
    );
}

#[test]
fn automatic_revoke_is_a_reject_without_context() {
    let r = permission_reply("webhook-messages-call-permission-reply-automatic-revoke.json");
    assert_eq!(r.response, PermissionResponse::Reject);
    assert_eq!(r.response_source, ResponseSource::Automatic);
    assert_eq!(r.context, None);
    assert_eq!(r.expiration_timestamp, None);
}

#[test]
fn one_payload_with_several_entries_and_changes_is_flattened_in_order() {
    let uic: serde_json::Value =
        serde_json::from_slice(&fixture("webhook-calls-connect-uic.json")).unwrap();
    let term: serde_json::Value =
        serde_json::from_slice(&fixture("webhook-calls-terminate-uic-failed-138021.json")).unwrap();
    let reply: serde_json::Value = serde_json::from_slice(&fixture(
        "webhook-messages-call-permission-reply-accept-pywa.json",
    ))
    .unwrap();
    let mut batch = uic.clone();
    let entries = batch["entry"].as_array_mut().unwrap();
    entries[0]["changes"]
        .as_array_mut()
        .unwrap()
        .push(term["entry"][0]["changes"][0].clone());
    entries.push(reply["entry"][0].clone());
    let all = parse_webhook(&serde_json::to_vec(&batch).unwrap()).unwrap();
    let names: Vec<&str> = all.iter().map(WebhookEvent::name).collect();
    assert_eq!(
        names,
        ["call_connect", "call_terminate", "call_permission_reply"]
    );
    let wabas: Vec<&str> = all
        .iter()
        .map(|e| e.origin().unwrap().waba_id.as_str())
        .collect();
    assert_eq!(
        wabas,
        ["553133154547046", "553133154547046", "1234567890987654321"]
    );
}

#[test]
fn account_settings_update_carries_the_numbers_calling_settings() {
    let WebhookEvent::SettingsUpdate(u) = one("webhook-account-settings-update-docs.json") else {
        panic!("expected a settings update");
    };
    assert_eq!(u.waba_id, "whatsapp-business-account-id");
    assert_eq!(u.phone_number_id, "phone-number-id");
    assert_eq!(u.timestamp, Some(1671644824));
    let calling = u.calling.expect("calling settings");
    assert_eq!(
        calling["call_hours"]["weekly_operating_hours"][1]["open_time"],
        "0108"
    );
    assert_eq!(calling["sip"]["status"], "ENABLED");
    // A settings update about something else stays `Other`.
    let mut other: serde_json::Value =
        serde_json::from_slice(&fixture("webhook-account-settings-update-docs.json")).unwrap();
    other["entry"][0]["changes"][0]["value"]["type"] = "waba_settings".into();
    let all = parse_webhook(&serde_json::to_vec(&other).unwrap()).unwrap();
    assert!(matches!(all.as_slice(), [WebhookEvent::Other { .. }]));
}
