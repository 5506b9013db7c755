//! SDP model and offer/answer scenarios.

use super::*;
use crate::sdp::{Direction, SdpError, SessionDescription};
use std::path::PathBuf;

fn local(codecs: Vec<CodecKind>) -> LocalMedia {
    LocalMedia {
        address: "192.0.2.5".parse().unwrap(),
        port: 30000,
        codecs,
        ..LocalMedia::default()
    }
}

fn offer(body: &str) -> SessionDescription {
    SessionDescription::parse(body).unwrap()
}

const PBX_OFFER: &str = "v=0\no=- 1 1 IN IP4 10.0.0.9\ns=pbx\nc=IN IP4 10.0.0.9\nt=0 0\nm=audio 4000 RTP/AVP 8 0 9 96 101\na=rtpmap:96 opus/48000/2\na=rtpmap:101 telephone-event/8000\na=fmtp:101 0-15\na=x-unknown:kept\na=ptime:30\na=sendrecv\n";

#[test]
fn offer_lists_codecs_in_preference_with_ptime_direction_and_address() {
    let mut l = local(vec![
        CodecKind::Pcmu,
        CodecKind::Opus,
        CodecKind::Pcma,
        CodecKind::G722,
    ]);
    l.direction = Direction::SendOnly;
    let text = build_offer(&l).to_string();
    assert!(
        text.contains("m=audio 30000 RTP/AVP 0 111 8 9 101\r\n"),
        "{text}"
    );
    for needle in [
        "c=IN IP4 192.0.2.5",
        "a=rtpmap:111 opus/48000/2",
        "a=rtpmap:9 G722/8000",
        "a=rtpmap:101 telephone-event/8000",
        "a=ptime:20",
        "a=sendonly",
    ] {
        assert!(text.contains(needle), "missing {needle}");
    }
    assert_eq!(
        SessionDescription::parse(&text).unwrap(),
        build_offer(&l),
        "renders and re-parses"
    );
}

#[test]
fn answer_picks_our_first_preference_with_offerers_payload_numbers() {
    let (answer, n) = answer_offer(
        &local(vec![CodecKind::Opus, CodecKind::Pcmu]),
        &offer(PBX_OFFER),
    )
    .unwrap();
    assert_eq!(
        (n.codec.kind, n.codec.payload_type, n.codec.clock_rate),
        (CodecKind::Opus, 96, 48000)
    );
    assert_eq!(
        n.telephone_event,
        Some(TelephoneEvent {
            payload_type: 101,
            clock_rate: 8000
        })
    );
    assert_eq!(n.remote, Some("10.0.0.9:4000".parse().unwrap()));
    assert_eq!(n.direction, Direction::SendRecv);
    assert_eq!(n.remote_ptime, Some(30));
    let m = &answer.media[0];
    assert_eq!(m.formats, vec!["96", "101"]);
    assert_eq!(m.port, 30000);
}

#[test]
fn static_payload_without_rtpmap_is_recognised() {
    let (_, n) = answer_offer(
        &local(vec![CodecKind::G722, CodecKind::Pcma]),
        &offer(PBX_OFFER),
    )
    .unwrap();
    assert_eq!((n.codec.kind, n.codec.payload_type), (CodecKind::G722, 9));
}

#[test]
fn direction_is_answered_per_rfc3264_and_hold_detected() {
    let cases = [
        ("a=sendonly", Direction::RecvOnly, true),
        ("a=recvonly", Direction::SendOnly, false),
        ("a=inactive", Direction::Inactive, true),
        ("a=sendrecv", Direction::SendRecv, false),
    ];
    for (attr, expected, hold) in cases {
        let o = PBX_OFFER.replace("a=sendrecv", attr);
        let (answer, n) = answer_offer(&local(vec![CodecKind::Pcmu]), &offer(&o)).unwrap();
        assert_eq!(n.direction, expected, "{attr}");
        assert_eq!(n.remote_hold, hold, "{attr}");
        assert_eq!(answer.media[0].direction(), Some(expected));
    }
}

#[test]
fn connection_zero_is_old_style_hold() {
    let o = PBX_OFFER.replace("c=IN IP4 10.0.0.9", "c=IN IP4 0.0.0.0");
    let (_, n) = answer_offer(&local(vec![CodecKind::Pcmu]), &offer(&o)).unwrap();
    assert!(n.remote_hold);
    assert_eq!(n.remote, None);
    assert_eq!(n.direction, Direction::RecvOnly);
}

#[test]
fn no_common_codec_and_no_audio_are_errors() {
    let only_gsm = "v=0\r\nc=IN IP4 10.0.0.9\r\nm=audio 4000 RTP/AVP 3\r\n";
    assert!(matches!(
        answer_offer(&local(vec![CodecKind::Pcmu]), &offer(only_gsm)),
        Err(SdpError::NoCommonCodec { .. })
    ));
    let video = "v=0\r\nc=IN IP4 10.0.0.9\r\nm=video 4000 RTP/AVP 96\r\n";
    assert_eq!(
        answer_offer(&local(vec![CodecKind::Pcmu]), &offer(video)),
        Err(SdpError::NoAudio)
    );
    let srtp = "v=0\r\nc=IN IP4 10.0.0.9\r\nm=audio 4000 RTP/SAVP 0\r\n";
    assert_eq!(
        answer_offer(&local(vec![CodecKind::Pcmu]), &offer(srtp)),
        Err(SdpError::NoAudio)
    );
}

#[test]
fn extra_media_lines_are_rejected_with_port_zero() {
    let o = format!("{PBX_OFFER}m=video 5000 RTP/AVP 97\na=rtpmap:97 H264/90000\n");
    let (answer, _) = answer_offer(&local(vec![CodecKind::Pcmu]), &offer(&o)).unwrap();
    assert_eq!(answer.media.len(), 2);
    assert_eq!(
        (answer.media[1].media.as_str(), answer.media[1].port),
        ("video", 0)
    );
}

#[test]
fn answer_to_our_offer_is_read() {
    let l = local(vec![CodecKind::Opus, CodecKind::Pcmu]);
    let answer = "v=0\r\no=- 2 2 IN IP4 10.0.0.7\r\ns=-\r\nc=IN IP4 10.0.0.7\r\nt=0 0\r\nm=audio 5004 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=recvonly\r\n";
    let n = parse_answer(&l, &offer(answer)).unwrap();
    assert_eq!((n.codec.kind, n.codec.payload_type), (CodecKind::Pcmu, 0));
    assert_eq!(n.telephone_event.map(|t| t.payload_type), Some(101));
    assert_eq!(n.remote, Some("10.0.0.7:5004".parse().unwrap()));
    assert_eq!(n.direction, Direction::SendOnly);
    let rejected = "v=0\r\nc=IN IP4 10.0.0.7\r\nm=audio 0 RTP/AVP 0\r\n";
    assert_eq!(parse_answer(&l, &offer(rejected)), Err(SdpError::NoAudio));
}

#[test]
fn parser_keeps_unknown_lines_and_accepts_meta_and_twilio_bodies() {
    let o = offer(PBX_OFFER);
    assert!(
        o.media[0]
            .attributes()
            .any(|(n, v)| n == "x-unknown" && v == Some("kept"))
    );
    assert!(o.to_string().contains("a=x-unknown:kept\r\n"));
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures");
    for name in [
        "business-sip-sdes-offer-bic-twilio.sdp",
        "meta-sip-sdes-invite-uic.sdp",
        "meta-uic-offer-real-2025-10-17.sdp",
    ] {
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        let sd = SessionDescription::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(sd.media.len(), 1, "{name}");
        assert!(!sd.media[0].rtpmaps().is_empty(), "{name}");
    }
}

#[test]
fn non_sdp_text_is_malformed() {
    assert!(matches!(
        SessionDescription::parse("<<SDP omitted for brevity>>"),
        Err(SdpError::Malformed { .. })
    ));
    assert!(matches!(
        SessionDescription::parse(""),
        Err(SdpError::Malformed { .. })
    ));
    assert!(matches!(
        SessionDescription::parse("v=0\nm=audio x RTP/AVP 0\n"),
        Err(SdpError::Malformed { line: 2, .. })
    ));
}

#[test]
fn opus_telephone_event_at_48000_is_preferred_when_offered() {
    let o = PBX_OFFER
        .replace(
            "a=fmtp:101 0-15",
            "a=fmtp:101 0-15\na=rtpmap:102 telephone-event/48000",
        )
        .replace("96 101", "96 101 102");
    let (_, n) = answer_offer(&local(vec![CodecKind::Opus]), &offer(&o)).unwrap();
    assert_eq!(
        n.telephone_event,
        Some(TelephoneEvent {
            payload_type: 102,
            clock_rate: 48000
        })
    );
}
