//! Tests for `message`: every fixture parses, helpers read Meta's quirky headers, garbage never panics.

use super::*;
use std::path::PathBuf;

fn fixtures() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures");
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures dir")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "sip"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    assert!(
        out.len() >= 17,
        "expected the Meta SIP fixtures, found {}",
        out.len()
    );
    out
}

pub(crate) fn fixture(name: &str) -> SipMessage {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .join(name);
    parse_message(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn every_meta_fixture_parses_with_call_id_cseq_and_via() {
    for (name, bytes) in fixtures() {
        let msg = parse_message(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(call_id(&msg).is_ok(), "{name}: Call-ID");
        assert!(cseq(&msg).is_ok(), "{name}: CSeq");
        assert!(top_via(&msg).is_some(), "{name}: Via");
        // The re-serialised form parses again to the same message.
        let again =
            parse_message(&to_bytes(&msg)).unwrap_or_else(|e| panic!("{name} reparse: {e}"));
        assert_eq!(again, msg, "{name}: round trip");
    }
}

#[test]
fn duplicated_content_length_collapses_to_the_body_kept() {
    let msg = fixture("partner-sip-uic-200ok-sdes.sip");
    // The doc sample declares 446 (counted with CRLF) but its body uses LF: the whole body is
    // kept and the single Content-Length left describes it.
    let len = msg.body().len();
    assert_eq!(header_list(&msg, "Content-Length"), vec![len.to_string()]);
    assert_eq!(header_list(&msg, "Content-Type").len(), 1);
    assert!(msg.body().starts_with(b"v=0") && msg.body().ends_with(b"a=sendrecv\n"));
}

#[test]
fn sdp_omitted_without_blank_line_becomes_body() {
    let msg = fixture("partner-sip-bic-invite-auth.sip");
    assert_eq!(msg.body().as_slice(), b"<<SDP omitted for brevity>>\n");
    assert!(
        header_value(&msg, "Proxy-Authorization")
            .unwrap()
            .contains("qop=auth")
    );
}

#[test]
fn meta_reason_phrase_is_kept_on_403() {
    let SipMessage::Response(resp) = fixture("meta-sip-bic-403.sip") else {
        panic!("response")
    };
    assert_eq!(resp.status_code.code(), 403);
    assert!(
        resp.status_code
            .to_string()
            .contains("does not match any SIP server")
    );
}

#[test]
fn standard_reason_phrase_stays_standard_status_code() {
    let SipMessage::Response(resp) = fixture("meta-sip-bic-200ok-sdes.sip") else {
        panic!("response")
    };
    assert_eq!(resp.status_code, StatusCode::OK);
}

#[test]
fn helpers_read_branch_tags_cseq_contact_and_routes() {
    let msg = fixture("meta-sip-uic-invite-sdes.sip");
    assert_eq!(
        via_branch(&msg).as_deref(),
        Some("z9hG4bKPj3a9f2ad89e4a3df61408aa84f7d9a63e")
    );
    assert_eq!(
        from_tag(&msg).as_deref(),
        Some("8a0f7e65-6e9e-4801-bf92-85c3ef2485d9")
    );
    assert_eq!(to_tag(&msg), None);
    assert_eq!(cseq(&msg).unwrap(), (31159, Method::Invite));
    assert_eq!(
        contact_uri(&msg).as_deref(),
        Some("sip:+12195550714@wa.meta.vc;transport=tls;ob")
    );
    assert_eq!(
        record_routes(&msg),
        vec![
            "<sip:wa.meta.vc;transport=tls;lr>".to_string(),
            "<sip:onevc-sip-proxy.fbinfra.net:8191;transport=tls;lr>".to_string()
        ]
    );
    assert!(call_id(&msg).unwrap().starts_with("outgoing:wacid."));
}

#[test]
fn via_without_branch_reports_none() {
    let msg = fixture("partner-sip-bye.sip");
    assert_eq!(via_branch(&msg), None);
}

#[test]
fn compact_headers_and_folding_are_expanded() {
    let raw = b"OPTIONS sip:a@example.com SIP/2.0\nv: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKabc\nf: <sip:b@example.com>;tag=1\nt: <sip:a@example.com>\ni: cid1\nCSeq: 1\n  OPTIONS\nl: 0\n\n";
    let msg = parse_message(raw).unwrap();
    assert_eq!(via_branch(&msg).as_deref(), Some("z9hG4bKabc"));
    assert_eq!(call_id(&msg).unwrap(), "cid1");
    assert_eq!(cseq(&msg).unwrap(), (1, Method::Options));
}

#[test]
fn comma_separated_record_route_splits_into_entries() {
    let raw = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1, SIP/2.0/UDP g;branch=z9hG4bK2\r\nRecord-Route: <sip:a;lr>, <sip:b;lr>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nContent-Length: 0\r\n\r\n";
    let msg = parse_message(raw).unwrap();
    assert_eq!(record_routes(&msg), vec!["<sip:a;lr>", "<sip:b;lr>"]);
    assert_eq!(via_branch(&msg).as_deref(), Some("z9hG4bK1"));
}

#[test]
fn datagram_body_longer_than_content_length_is_truncated() {
    let raw = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nCall-ID: x\r\nCSeq: 1 BYE\r\nContent-Length: 3\r\n\r\nabcdef";
    assert_eq!(parse_message(raw).unwrap().body().as_slice(), b"abc");
}

#[test]
fn empty_and_binary_input_are_errors() {
    assert_eq!(parse_message(b"\r\n\r\n"), Err(MessageError::Empty));
    assert!(parse_message(b"\xff\xfe garbage\r\n\r\n").is_err());
    assert!(parse_message(b"HELLO").is_err());
}

#[test]
fn truncated_and_garbled_fixtures_never_panic() {
    for (_, bytes) in fixtures() {
        for cut in (0..bytes.len()).step_by(7) {
            let _ = parse_message(&bytes[..cut]);
        }
        let mut seed = 0x9e3779b97f4a7c15u64;
        for _ in 0..200 {
            let mut b = bytes.clone();
            for _ in 0..4 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let i = (seed as usize) % b.len();
                b[i] = (seed >> 32) as u8;
            }
            let _ = parse_message(&b);
        }
    }
}

#[test]
fn response_to_copies_dialog_headers_and_adds_to_tag() {
    let SipMessage::Request(req) = fixture("meta-sip-uic-invite-sdes.sip") else {
        panic!()
    };
    let resp = response_to(&req, 180, None, Some("abc"));
    assert_eq!(resp.status_code.code(), 180);
    assert_eq!(to_tag(&resp).as_deref(), Some("abc"));
    assert_eq!(header_list(&resp, "Via").len(), 3);
    assert_eq!(call_id(&resp).unwrap(), call_id(&req).unwrap());
    let again = parse_message(&to_bytes(&resp.into())).unwrap();
    assert_eq!(to_tag(&again).as_deref(), Some("abc"));
}

#[test]
fn generated_identifiers_are_unique_and_branch_has_cookie() {
    let (a, b) = (new_branch(), new_branch());
    assert!(a.starts_with("z9hG4bK") && a != b);
    assert_ne!(new_tag(), new_tag());
    assert!(new_call_id("gw.example").ends_with("@gw.example"));
}
