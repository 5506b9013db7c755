//! Unit tests of the webhook model on hand-written payloads: error reporting, leniency (unknown
//! fields, number forms, status forms), error merging and dedupe keys. The published samples are
//! covered by `tests/webhook_events.rs`.

use super::*;

/// Wraps one `value` object into a full envelope under `field`.
fn envelope(field: &str, value: &str) -> Vec<u8> {
    format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"WABA1","changes":[{{"field":"{field}","value":{value}}}]}}]}}"#
    )
    .into_bytes()
}

/// A `calls` change holding `items` (the inside of `calls: [...]`) plus `extra` value members.
fn calls_body(items: &str, extra: &str) -> Vec<u8> {
    envelope(
        "calls",
        &format!(
            r#"{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"15550001111","phone_number_id":"PNID1"}},"calls":[{items}]{extra}}}"#
        ),
    )
}

fn only(events: Vec<WebhookEvent>) -> WebhookEvent {
    assert_eq!(events.len(), 1, "expected exactly one event: {events:#?}");
    events.into_iter().next().unwrap()
}

fn terminate(events: Vec<WebhookEvent>) -> CallTerminate {
    match only(events) {
        WebhookEvent::CallTerminate(t) => t,
        other => panic!("expected a terminate, got {other:#?}"),
    }
}

fn terminate_with_status(status: &str) -> CallTerminate {
    let call =
        format!(r#"{{"id":"wacid.T","event":"terminate","timestamp":"100","status":{status}}}"#);
    terminate(parse_webhook(&calls_body(&call, "")).unwrap())
}

#[test]
fn malformed_json_error_names_line_and_column() {
    let body = b"{\n  \"object\": \"whatsapp_business_account\",\n  \"entry\": [,]\n}";
    let err = parse_webhook(body).unwrap_err();
    match &err {
        WebhookParseError::InvalidJson { line, column, .. } => {
            assert_eq!(*line, 3);
            assert_eq!(*column, 13);
        }
        other => panic!("expected InvalidJson, got {other:?}"),
    }
    let text = err.to_string();
    assert!(text.contains("line 3, column 13"), "{text}");
    assert!(!text.contains("at line"), "position not repeated: {text}");
}

#[test]
fn truncated_body_is_invalid_json() {
    let err = parse_webhook(br#"{"object":"whatsapp_business_account","entry":["#).unwrap_err();
    assert!(
        matches!(err, WebhookParseError::InvalidJson { line: 1, .. }),
        "{err:?}"
    );
}

#[test]
fn entry_that_is_not_an_array_is_a_shape_error() {
    let err = parse_webhook(br#"{"object":"whatsapp_business_account","entry":{}}"#).unwrap_err();
    let WebhookParseError::InvalidJson { detail, .. } = &err else {
        panic!("expected InvalidJson, got {err:?}");
    };
    assert!(detail.contains("invalid type: map"), "{detail}");
}

#[test]
fn missing_object_is_a_shape_error() {
    let err = parse_webhook(br#"{"entry":[]}"#).unwrap_err();
    assert!(err.to_string().contains("missing field `object`"), "{err}");
}

#[test]
fn page_webhook_is_refused_as_not_whatsapp() {
    let body = br#"{"object":"page","entry":[{"id":"1","time":1,"messaging":[{"x":1}]}]}"#;
    assert_eq!(
        parse_webhook(body).unwrap_err(),
        WebhookParseError::NotWhatsApp {
            object: "page".into()
        }
    );
}

#[test]
fn empty_entry_list_yields_no_events() {
    let body = br#"{"object":"whatsapp_business_account","entry":[]}"#;
    assert!(parse_webhook(body).unwrap().is_empty());
}

#[test]
fn unknown_fields_are_tolerated_at_every_level() {
    let body = br#"{"object":"whatsapp_business_account","new_top":1,"entry":[{"id":"WABA1",
        "time":1700000000,"changes":[{"field":"calls","extra":[1,2],"value":{"messaging_product":"whatsapp",
        "future":{"a":null},"metadata":{"display_phone_number":"1555","phone_number_id":"PNID1","tier":"x"},
        "contacts":[{"wa_id":"4912","profile":{"name":"Ann","avatar":"u"},"flag":true}],
        "calls":[{"id":"wacid.A","from":"4912","to":"1555","event":"connect","timestamp":"1700000001",
          "direction":"USER_INITIATED","codec_hint":"opus","session":{"sdp_type":"offer","sdp":"v=0\r\n","ice":1}}]}}]}]}"#;
    let WebhookEvent::CallConnect(c) = only(parse_webhook(body).unwrap()) else {
        panic!("expected a connect");
    };
    assert_eq!(c.call_id, "wacid.A");
    assert_eq!(c.sdp.as_deref(), Some("v=0\r\n"));
    assert_eq!(c.contact.unwrap().name.as_deref(), Some("Ann"));
}

#[test]
fn unknown_field_yields_other_not_an_error() {
    let body = envelope(
        "account_update",
        r#"{"phone_number":"15550001111","event":"VERIFIED_ACCOUNT","calls":"not a list"}"#,
    );
    assert_eq!(
        only(parse_webhook(&body).unwrap()),
        WebhookEvent::Other {
            waba_id: "WABA1".into(),
            phone_number_id: None,
            field: "account_update".into(),
            kind: None,
            id: None,
        }
    );
}

#[test]
fn integer_timestamps_are_accepted_like_strings() {
    let call = r#"{"id":"wacid.T","event":"terminate","timestamp":1700000100,"status":"COMPLETED",
        "start_time":1700000000,"end_time":"1700000100","duration":"100"}"#;
    let t = terminate(parse_webhook(&calls_body(call, "")).unwrap());
    assert_eq!(t.timestamp, 1_700_000_100);
    assert_eq!(t.start_time, Some(1_700_000_000));
    assert_eq!(t.end_time, Some(1_700_000_100));
    assert_eq!(t.duration, Some(100));
}

#[test]
fn negative_or_non_numeric_timestamp_is_a_change_error_naming_the_change() {
    for bad in ["-5", r#""soon""#] {
        let call = format!(r#"{{"id":"wacid.T","event":"connect","timestamp":{bad}}}"#);
        let err = parse_webhook(&calls_body(&call, "")).unwrap_err();
        let WebhookParseError::InvalidChange {
            entry,
            change,
            field,
            detail,
        } = &err
        else {
            panic!("expected InvalidChange, got {err:?}");
        };
        assert_eq!((*entry, *change, field.as_str()), (0, 0, "calls"));
        assert!(detail.contains("string of digits"), "{detail}");
    }
}

#[test]
fn call_without_id_is_a_change_error() {
    let call = r#"{"event":"connect","timestamp":"1"}"#;
    let err = parse_webhook(&calls_body(call, "")).unwrap_err();
    assert!(err.to_string().contains("missing field `id`"), "{err}");
}

#[test]
fn calls_change_without_metadata_is_a_change_error() {
    let body = envelope(
        "calls",
        r#"{"calls":[{"id":"wacid.A","event":"connect","timestamp":"1"}]}"#,
    );
    let err = parse_webhook(&body).unwrap_err();
    assert!(
        err.to_string().contains("missing field `metadata`"),
        "{err}"
    );
}

#[test]
fn terminate_status_is_case_insensitive() {
    for (wire, expected) in [
        (r#""FAILED""#, TerminateStatus::Failed),
        (r#""failed""#, TerminateStatus::Failed),
        (r#""Completed""#, TerminateStatus::Completed),
        (r#""rejected""#, TerminateStatus::Rejected),
        (r#""Busy""#, TerminateStatus::Other("Busy".into())),
    ] {
        let t = terminate_with_status(wire);
        assert_eq!(t.status.as_ref(), Some(&expected), "status {wire}");
        assert_eq!(t.reported_statuses, vec![expected]);
    }
}

#[test]
fn terminate_status_array_picks_the_most_pessimistic_and_keeps_all() {
    let t = terminate_with_status(r#"["completed","Failed"]"#);
    assert_eq!(t.status, Some(TerminateStatus::Failed));
    assert_eq!(
        t.reported_statuses,
        vec![TerminateStatus::Completed, TerminateStatus::Failed]
    );
    let t = terminate_with_status(r#"["Completed","Rejected"]"#);
    assert_eq!(t.status, Some(TerminateStatus::Rejected));
    let t = terminate_with_status("[]");
    assert_eq!(t.status, None);
}

#[test]
fn errors_inside_and_beside_calls_are_merged_without_duplicates() {
    let a = r#"{"code":138021,"title":"T","message":"M","error_data":{"details":"D"}}"#;
    let b = r#"{"code":138021,"title":"T","message":"M","error_data":{"details":"other"}}"#;
    let c = r#"{"code":"131000","message":"X","href":"https://h"}"#;
    let call = format!(
        r#"{{"id":"wacid.T","event":"terminate","timestamp":"1","status":"FAILED","errors":[{a},{a},{b}]}}"#
    );
    let t =
        terminate(parse_webhook(&calls_body(&call, &format!(r#","errors":[{a},{c}]"#))).unwrap());
    let codes: Vec<(u64, Option<&str>)> = t
        .errors
        .iter()
        .map(|e| (e.code, e.details.as_deref()))
        .collect();
    assert_eq!(
        codes,
        vec![(138021, Some("D")), (138021, Some("other")), (131000, None)]
    );
    assert_eq!(t.errors[2].href.as_deref(), Some("https://h"));
}

#[test]
fn errors_beside_calls_only_are_attached_to_the_call() {
    let call = r#"{"id":"wacid.T","event":"terminate","timestamp":"1","status":"FAILED"}"#;
    let t = terminate(
        parse_webhook(&calls_body(
            call,
            r#","errors":[{"code":138021,"message":"m"}]"#,
        ))
        .unwrap(),
    );
    assert_eq!(t.errors.len(), 1);
    assert_eq!(t.errors[0].code, 138021);
}

#[test]
fn legacy_connection_sdp_is_used_when_session_is_absent() {
    let legacy = serde_json::to_string(r#"{"sdp":"v=0\r\ns=-\r\n","type":"answer"}"#).unwrap();
    let call = format!(
        r#"{{"id":"wacid.B","event":"connect","timestamp":"1","connection":{{"webrtc":{{"sdp":{legacy}}}}}}}"#
    );
    let WebhookEvent::CallConnect(c) = only(parse_webhook(&calls_body(&call, "")).unwrap()) else {
        panic!("expected a connect");
    };
    assert_eq!(c.sdp.as_deref(), Some("v=0\r\ns=-\r\n"));
    assert_eq!(c.sdp_type, Some(SdpType::Answer));
    assert!(!c.is_offer());
}

#[test]
fn plain_legacy_sdp_and_direction_decide_the_sdp_type() {
    let call = r#"{"id":"wacid.U","event":"connect","timestamp":"1","direction":"user_initiated",
        "connection":{"webrtc":{"sdp":"v=0\r\n"}}}"#;
    let WebhookEvent::CallConnect(c) = only(parse_webhook(&calls_body(call, "")).unwrap()) else {
        panic!("expected a connect");
    };
    assert_eq!(c.sdp.as_deref(), Some("v=0\r\n"));
    assert_eq!(c.direction, Some(CallDirection::UserInitiated));
    assert!(c.is_offer());
}

#[test]
fn connect_without_any_sdp_has_none() {
    let call = r#"{"id":"wacid.U","event":"connect","timestamp":"1"}"#;
    let WebhookEvent::CallConnect(c) = only(parse_webhook(&calls_body(call, "")).unwrap()) else {
        panic!("expected a connect");
    };
    assert_eq!((c.sdp, c.sdp_type, c.direction), (None, None, None));
}

#[test]
fn unknown_call_event_becomes_other_with_its_id() {
    let call = r#"{"id":"wacid.Z","event":"call_hold","timestamp":"1"}"#;
    let event = only(parse_webhook(&calls_body(call, "")).unwrap());
    assert_eq!(event.dedupe_key(), None);
    assert_eq!(
        event,
        WebhookEvent::Other {
            waba_id: "WABA1".into(),
            phone_number_id: Some("PNID1".into()),
            field: "calls".into(),
            kind: Some("call_hold".into()),
            id: Some("wacid.Z".into()),
        }
    );
}

#[test]
fn message_delivery_status_becomes_other_and_text_becomes_user_message() {
    let body = envelope(
        "messages",
        r#"{"metadata":{"display_phone_number":"1555","phone_number_id":"PNID1"},
            "statuses":[{"id":"wamid.S","status":"delivered","timestamp":"5","recipient_id":"4912",
                         "conversation":{"id":"c"},"pricing":{"billable":true}}],
            "messages":[{"from":"4912","id":"wamid.M","timestamp":"6","type":"text","text":{"body":"hi"}}]}"#,
    );
    let events = parse_webhook(&body).unwrap();
    assert_eq!(events.len(), 2);
    assert!(matches!(
        &events[0],
        WebhookEvent::Other { field, kind: Some(kind), id: Some(id), .. }
            if field == "messages" && kind == "delivered" && id == "wamid.S"
    ));
    let WebhookEvent::UserMessage(m) = &events[1] else {
        panic!("expected a user message, got {:?}", events[1]);
    };
    assert_eq!(
        (m.id.as_str(), m.from.id(), m.timestamp, m.kind.as_str()),
        ("wamid.M", Some("4912"), 6, "text")
    );
    assert_eq!(events[1].dedupe_key().as_deref(), Some("msg:wamid.M"));
    assert_eq!(events[1].call_id(), None);
}

#[test]
fn dedupe_keys_name_call_event_and_status() {
    let items = r#"{"id":"wacid.K","event":"connect","timestamp":"1","session":{"sdp_type":"offer","sdp":"v=0"}},
                   {"id":"wacid.K","event":"terminate","timestamp":"2","status":"COMPLETED"}"#;
    let statuses = r#","statuses":[{"id":"wacid.K","type":"call","status":"ringing","timestamp":"1"},
                                   {"id":"wacid.K","type":"CALL","status":"on_hold","timestamp":"1"}]"#;
    let events = parse_webhook(&calls_body(items, statuses)).unwrap();
    let keys: Vec<Option<String>> = events.iter().map(WebhookEvent::dedupe_key).collect();
    assert_eq!(
        keys,
        vec![
            Some("call:wacid.K:connect".to_owned()),
            Some("call:wacid.K:terminate".to_owned()),
            Some("call:wacid.K:status:RINGING".to_owned()),
            Some("call:wacid.K:status:ON_HOLD".to_owned()),
        ]
    );
    assert!(events.iter().all(|e| e.call_id() == Some("wacid.K")));
    let WebhookEvent::CallStatus(s) = &events[3] else {
        panic!("expected a call status");
    };
    assert_eq!(s.status, CallStatusKind::Other("on_hold".into()));
}

#[test]
fn duplicate_delivery_gives_equal_dedupe_keys() {
    let call = r#"{"id":"wacid.D","event":"terminate","timestamp":"1","status":"FAILED"}"#;
    let body = calls_body(call, "");
    let first = only(parse_webhook(&body).unwrap());
    let second = only(parse_webhook(&body).unwrap());
    assert_eq!(first.dedupe_key(), second.dedupe_key());
    assert_eq!(first, second);
}
