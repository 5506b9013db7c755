//! SDP as the sandbox plays Meta: the validation Meta applies to business SDPs, the offer a
//! WhatsApp user's call carries (modelled on a real captured offer), and the ICE-lite answer Meta
//! returns to a business-initiated call when no media is wanted. Calls with media get their offer
//! or answer from the simulated phone instead ([`super::phone`], [`super::media`]).

use rand::Rng;

/// Which SRTP key exchange the number is configured for (settings `srtp_key_exchange_protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyExchange {
    /// DTLS-SRTP (default): a `sha-256` fingerprint and ICE credentials are required.
    Dtls,
    /// SDES: an `a=crypto` line is required instead.
    Sdes,
}

/// Checks a business SDP the way Meta does; returns the `error_data.details` text on failure.
pub fn validate(sdp: &str, kx: KeyExchange) -> Result<(), String> {
    let lines: Vec<&str> = sdp.lines().map(str::trim_end).collect();
    if lines.first().copied() != Some("v=0") {
        return Err("Invalid SDP: it must start with v=0".into());
    }
    if !lines.iter().any(|l| l.starts_with("m=audio ")) {
        return Err("Invalid SDP: no audio media section (m=audio) found in SDP".into());
    }
    match kx {
        KeyExchange::Dtls => {
            if !lines
                .iter()
                .any(|l| l.to_ascii_lowercase().starts_with("a=fingerprint:sha-256 "))
            {
                return Err("No fingerprint found in SDP".into());
            }
            if !lines.iter().any(|l| l.starts_with("a=ice-ufrag:")) {
                return Err("Invalid SDP: no ice-ufrag found in SDP".into());
            }
            if !lines.iter().any(|l| l.starts_with("a=ice-pwd:")) {
                return Err("Invalid SDP: no ice-pwd found in SDP".into());
            }
        }
        KeyExchange::Sdes => {
            if !lines.iter().any(|l| l.starts_with("a=crypto:")) {
                return Err(
                    "Invalid SDP: no a=crypto line found in SDP (SDES is configured)".into(),
                );
            }
        }
    }
    Ok(())
}

fn random_token(len: usize) -> String {
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

fn random_fingerprint() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// A fresh media-less offer (for tests that supply no phone) shaped like a real Meta UIC offer (ICE-lite, `actpass`, Opus 111 with Meta's
/// fmtp, telephone-event/8000 on 126, mid `audio`, `WhatsAppTrack1`), CRLF line ends.
pub fn meta_user_offer() -> String {
    let session_id: u64 = rand::random::<u64>() >> 1;
    let ssrc: u32 = rand::random();
    let msid = format!(
        "{}-{}-{}-{}-{}",
        random_token(8),
        random_token(4),
        random_token(4),
        random_token(4),
        random_token(12)
    )
    .to_ascii_lowercase();
    let lines = [
        "v=0".to_string(),
        format!("o=- {session_id} 2 IN IP4 127.0.0.1"),
        "s=-".into(),
        "t=0 0".into(),
        "a=group:BUNDLE audio".into(),
        format!("a=msid-semantic: WMS {msid}"),
        "a=ice-lite".into(),
        "m=audio 3484 UDP/TLS/RTP/SAVPF 111 126".into(),
        "c=IN IP4 127.0.0.1".into(),
        "a=rtcp:9 IN IP4 0.0.0.0".into(),
        "a=candidate:3935165743 1 udp 2122260223 127.0.0.1 3484 typ host generation 0 network-cost 50"
            .into(),
        format!("a=ice-ufrag:{}", random_token(16)),
        format!("a=ice-pwd:{}", random_token(24)),
        format!("a=fingerprint:sha-256 {}", random_fingerprint()),
        "a=setup:actpass".into(),
        "a=mid:audio".into(),
        "a=sendrecv".into(),
        format!("a=msid:{msid} WhatsAppTrack1"),
        "a=rtcp-mux".into(),
        "a=rtpmap:111 opus/48000/2".into(),
        "a=rtcp-fb:111 transport-cc".into(),
        "a=fmtp:111 maxaveragebitrate=20000;maxplaybackrate=16000;minptime=20;sprop-maxcapturerate=16000;useinbandfec=1".into(),
        "a=rtpmap:126 telephone-event/8000".into(),
        "a=maxptime:20".into(),
        "a=ptime:20".into(),
        format!("a=ssrc:{ssrc} cname:WhatsAppAudioStream1"),
    ];
    let mut out = lines.join("\r\n");
    out.push_str("\r\n");
    out
}

/// Meta's answer to a business offer: ICE-lite, `setup:active`, one host candidate, the offer's
/// `mid`, Opus and telephone-event/8000 with the offer's payload types. Media-less: used only
/// where the simulated phone cannot answer (SDES numbers, offers str0m refuses).
pub fn meta_answer_for_offer(offer: &str) -> String {
    let mid = offer
        .lines()
        .find_map(|l| l.trim_end().strip_prefix("a=mid:"))
        .unwrap_or("0")
        .to_string();
    let pt_of = |codec: &str| {
        offer.lines().find_map(|l| {
            let rest = l.trim_end().strip_prefix("a=rtpmap:")?;
            let (pt, name) = rest.split_once(' ')?;
            name.eq_ignore_ascii_case(codec).then(|| pt.to_string())
        })
    };
    let opus = pt_of("opus/48000/2").unwrap_or_else(|| "111".into());
    let dtmf = pt_of("telephone-event/8000").unwrap_or_else(|| "126".into());
    let session_id: u64 = rand::random::<u64>() >> 1;
    let ssrc: u32 = rand::random();
    let ufrag = random_token(16);
    let lines = [
        "v=0".to_string(),
        format!("o=- {session_id} 2 IN IP4 127.0.0.1"),
        "s=-".into(),
        "t=0 0".into(),
        format!("a=group:BUNDLE {mid}"),
        "a=ice-lite".into(),
        format!("m=audio 3482 UDP/TLS/RTP/SAVPF {opus} {dtmf}"),
        "c=IN IP4 127.0.0.1".into(),
        "a=rtcp:9 IN IP4 0.0.0.0".into(),
        format!(
            "a=candidate:2754936280 1 udp 2113937151 127.0.0.1 3482 typ host generation 0 network-cost 50 ufrag {ufrag}"
        ),
        format!("a=ice-ufrag:{ufrag}"),
        format!("a=ice-pwd:{}", random_token(32)),
        format!("a=fingerprint:sha-256 {}", random_fingerprint()),
        "a=setup:active".into(),
        format!("a=mid:{mid}"),
        "a=sendrecv".into(),
        "a=rtcp-mux".into(),
        format!("a=rtpmap:{opus} opus/48000/2"),
        format!("a=rtcp-fb:{opus} transport-cc"),
        format!("a=fmtp:{opus} minptime=10;useinbandfec=1"),
        format!("a=rtpmap:{dtmf} telephone-event/8000"),
        format!("a=ssrc:{ssrc} cname:{}", random_token(16)),
    ];
    let mut out = lines.join("\r\n");
    out.push_str("\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!(
            "{}/tests/fixtures/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    #[test]
    fn published_business_answers_and_offers_pass_validation() {
        for f in [
            "business-uic-answer-ref.sdp",
            "business-bic-offer-ref.sdp",
            "business-bic-offer-ref-curl.sdp",
        ] {
            assert_eq!(validate(&fixture(f), KeyExchange::Dtls), Ok(()), "{f}");
        }
    }

    #[test]
    fn sdp_without_fingerprint_is_refused_with_metas_text() {
        let sdp: String = fixture("business-uic-answer-ref.sdp")
            .lines()
            .filter(|l| !l.starts_with("a=fingerprint"))
            .map(|l| format!("{l}\r\n"))
            .collect();
        assert_eq!(
            validate(&sdp, KeyExchange::Dtls),
            Err("No fingerprint found in SDP".into())
        );
    }

    #[test]
    fn sdp_not_starting_with_version_or_without_audio_is_refused() {
        assert!(validate("o=- 1 1 IN IP4 0.0.0.0\r\n", KeyExchange::Dtls).is_err());
        assert!(
            validate(
                "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n",
                KeyExchange::Dtls
            )
            .unwrap_err()
            .contains("m=audio")
        );
    }

    #[test]
    fn sdes_numbers_need_a_crypto_line_not_a_fingerprint() {
        let sdes = fixture("business-sip-sdes-answer-uic-twilio.sdp");
        assert_eq!(validate(&sdes, KeyExchange::Sdes), Ok(()));
    }

    #[test]
    fn generated_offer_is_meta_shaped_and_valid() {
        let offer = meta_user_offer();
        assert!(offer.starts_with("v=0\r\n"));
        assert!(offer.contains("a=ice-lite\r\n"));
        assert!(offer.contains("a=setup:actpass\r\n"));
        assert!(offer.contains("a=rtpmap:126 telephone-event/8000\r\n"));
        assert!(!offer.replace("\r\n", "").contains('\n'));
        assert_eq!(validate(&offer, KeyExchange::Dtls), Ok(()));
    }

    #[test]
    fn answer_follows_the_offers_mid_and_payload_types() {
        let answer = meta_answer_for_offer(&fixture("business-bic-offer-ref.sdp"));
        assert!(answer.contains("a=mid:0\r\n"));
        assert!(answer.contains("m=audio 3482 UDP/TLS/RTP/SAVPF 111 126\r\n"));
        assert!(answer.contains("a=setup:active\r\n"));
        assert!(answer.contains("a=ice-lite\r\n"));
        assert_eq!(validate(&answer, KeyExchange::Dtls), Ok(()));
    }
}
