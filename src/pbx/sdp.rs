//! SDP glue for the PBX leg: our RTP/AVP offer (codecs in the configured preference order
//! among PCMU, PCMA, G.722 and Opus, telephone-event/8000, ptime 20, `[media] public_ip` and
//! the RTP port the call task bound), reading the PBX's answer into the negotiated codec,
//! telephone-event PT and remote RTP address, and answering the PBX's later offers (hold,
//! session refresh) from the same media. Negotiation itself is `callgate_sip::sdp_negotiation`.

use std::net::IpAddr;

use callgate_sip::sdp::{Direction, SessionDescription};
use callgate_sip::sdp_negotiation::{self, CodecKind, LocalMedia, Negotiated};

use super::PbxError;

/// The codec preference used when the configuration names none: Opus first (passthrough to
/// WhatsApp), then G.722, then G.711.
pub const DEFAULT_CODECS: [CodecKind; 4] = [
    CodecKind::Opus,
    CodecKind::G722,
    CodecKind::Pcmu,
    CodecKind::Pcma,
];

/// Dynamic PT we use for Opus in offers.
const OPUS_PT: u8 = 111;
/// Dynamic PT we use for telephone-event/8000 in offers.
const TELEPHONE_EVENT_PT: u8 = 101;

/// Parses a comma-separated codec list (`"pcmu, pcma, g722, opus"`, case-insensitive) into
/// a preference order.
pub fn parse_codecs(list: &str) -> Result<Vec<CodecKind>, PbxError> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| match s.to_ascii_lowercase().as_str() {
            "pcmu" => Ok(CodecKind::Pcmu),
            "pcma" => Ok(CodecKind::Pcma),
            "g722" => Ok(CodecKind::G722),
            "opus" => Ok(CodecKind::Opus),
            _ => Err(PbxError::UnknownCodec(s.to_string())),
        })
        .collect()
}

/// Our side of the RTP/AVP leg toward the PBX: what we offer and how we answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PbxMedia {
    local: LocalMedia,
}

impl PbxMedia {
    /// Media on `public_ip:rtp_port` with `codecs` in preference order (empty means
    /// [`DEFAULT_CODECS`]).
    pub fn new(public_ip: IpAddr, rtp_port: u16, codecs: &[CodecKind]) -> Self {
        let codecs = if codecs.is_empty() {
            DEFAULT_CODECS.to_vec()
        } else {
            codecs.to_vec()
        };
        Self {
            local: LocalMedia {
                address: public_ip,
                port: rtp_port,
                codecs,
                telephone_event: true,
                ptime: 20,
                direction: Direction::SendRecv,
                opus_payload_type: OPUS_PT,
                telephone_event_payload_type: TELEPHONE_EVENT_PT,
                session_id: u64::from(rand::random::<u32>()),
                session_version: 1,
            },
        }
    }

    /// Reads back an offer built by [`Self::offer`] (the leg only receives the SDP text).
    pub fn from_offer(sdp: &str) -> Result<Self, PbxError> {
        let bad = |why: &str| PbxError::LocalOffer(why.to_string());
        let sd = SessionDescription::parse(sdp).map_err(|e| PbxError::LocalOffer(e.to_string()))?;
        let m = sd
            .media
            .iter()
            .find(|m| m.media == "audio")
            .ok_or_else(|| bad("no m=audio"))?;
        let address = m
            .connection()
            .or_else(|| sd.connection())
            .ok_or_else(|| bad("no c= address"))?;
        let origin = sd
            .session_lines
            .iter()
            .find(|l| l.kind == 'o')
            .ok_or_else(|| bad("no o= line"))?;
        let mut o = origin.value.split_whitespace().skip(1);
        let session_id = o.next().and_then(|v| v.parse().ok()).unwrap_or(1);
        let session_version = o.next().and_then(|v| v.parse().ok()).unwrap_or(1);
        let mut local = LocalMedia {
            address,
            port: m.port,
            codecs: Vec::new(),
            telephone_event: false,
            ptime: m.ptime().unwrap_or(20),
            direction: m
                .direction()
                .or_else(|| sd.direction())
                .unwrap_or(Direction::SendRecv),
            opus_payload_type: OPUS_PT,
            telephone_event_payload_type: TELEPHONE_EVENT_PT,
            session_id,
            session_version,
        };
        let maps = m.rtpmaps();
        for f in m.formats.iter().filter_map(|f| f.parse::<u8>().ok()) {
            let enc = maps
                .iter()
                .find(|r| r.payload_type == f)
                .map(|r| r.encoding.to_ascii_lowercase());
            let kind = match (f, enc.as_deref()) {
                (_, Some("pcmu")) | (0, None) => CodecKind::Pcmu,
                (_, Some("pcma")) | (8, None) => CodecKind::Pcma,
                (_, Some("g722")) | (9, None) => CodecKind::G722,
                (pt, Some("opus")) => {
                    local.opus_payload_type = pt;
                    CodecKind::Opus
                }
                (pt, Some("telephone-event")) => {
                    local.telephone_event = true;
                    local.telephone_event_payload_type = pt;
                    continue;
                }
                _ => continue,
            };
            local.codecs.push(kind);
        }
        if local.codecs.is_empty() {
            return Err(bad("no codec we know"));
        }
        Ok(Self { local })
    }

    /// The negotiation inputs.
    pub fn local(&self) -> &LocalMedia {
        &self.local
    }

    /// Our offer, as SDP text for the INVITE.
    pub fn offer(&self) -> String {
        sdp_negotiation::build_offer(&self.local).to_string()
    }

    /// Our current description again with a new `o=` version (for a re-INVITE without SDP,
    /// where our 200 carries the offer).
    pub fn reoffer(&mut self) -> String {
        self.local.session_version += 1;
        self.offer()
    }

    /// Reads the PBX's answer to [`Self::offer`]: codec, telephone-event PT, remote RTP address.
    pub fn parse_answer(&self, answer: &str) -> Result<Negotiated, PbxError> {
        let sd = SessionDescription::parse(answer)?;
        Ok(sdp_negotiation::parse_answer(&self.local, &sd)?)
    }

    /// Answers a later offer from the PBX (re-INVITE or UPDATE: hold, resume, refresh) with a
    /// new `o=` version; returns the SDP text and what it means.
    pub fn answer(&mut self, offer: &str) -> Result<(String, Negotiated), PbxError> {
        let sd = SessionDescription::parse(offer)?;
        let mut next = self.local.clone();
        next.session_version += 1;
        let (answer, negotiated) = sdp_negotiation::answer_offer(&next, &sd)?;
        self.local.session_version = next.session_version;
        Ok((answer.to_string(), negotiated))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    fn media() -> PbxMedia {
        PbxMedia::new(
            "192.0.2.10".parse().unwrap(),
            40002,
            &[CodecKind::Pcmu, CodecKind::Opus],
        )
    }

    #[test]
    fn offer_lists_codecs_in_preference_order_with_telephone_event_and_ptime() {
        let sdp = media().offer();
        assert!(sdp.contains("c=IN IP4 192.0.2.10\r\n"), "{sdp}");
        assert!(sdp.contains("m=audio 40002 RTP/AVP 0 111 101\r\n"), "{sdp}");
        assert!(sdp.contains("a=rtpmap:111 opus/48000/2\r\n"), "{sdp}");
        assert!(
            sdp.contains("a=rtpmap:101 telephone-event/8000\r\n"),
            "{sdp}"
        );
        assert!(sdp.contains("a=ptime:20\r\n"), "{sdp}");
        assert!(sdp.contains("a=sendrecv\r\n"), "{sdp}");
    }

    #[test]
    fn offer_read_back_gives_the_same_media() {
        let m = media();
        let back = PbxMedia::from_offer(&m.offer()).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn answer_from_pbx_gives_codec_dtmf_pt_and_remote_address() {
        let answer = "v=0\r\no=pbx 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
                      m=audio 16000 RTP/AVP 111 101\r\na=rtpmap:111 opus/48000/2\r\n\
                      a=rtpmap:101 telephone-event/8000\r\n";
        let n = media().parse_answer(answer).unwrap();
        assert_eq!(n.codec.kind, CodecKind::Opus);
        assert_eq!(n.codec.payload_type, 111);
        assert_eq!(n.telephone_event.map(|t| t.payload_type), Some(101));
        assert_eq!(
            n.remote,
            Some("127.0.0.1:16000".parse::<SocketAddr>().unwrap())
        );
    }

    #[test]
    fn answer_without_common_codec_is_an_error() {
        let answer = "v=0\r\no=pbx 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
                      m=audio 16000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n";
        assert!(matches!(
            media().parse_answer(answer),
            Err(PbxError::Sdp(_))
        ));
    }

    #[test]
    fn hold_offer_is_answered_recvonly_with_a_new_version() {
        let mut m = media();
        let hold = "v=0\r\no=pbx 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
                    m=audio 16000 RTP/AVP 0\r\na=sendonly\r\n";
        let (sdp, n) = m.answer(hold).unwrap();
        assert!(n.remote_hold);
        assert!(sdp.contains("a=recvonly"), "{sdp}");
        assert_eq!(m.local().session_version, 2);
    }

    #[test]
    fn codec_list_parses_and_rejects_unknown_names() {
        assert_eq!(
            parse_codecs("PCMA, opus").unwrap(),
            vec![CodecKind::Pcma, CodecKind::Opus]
        );
        assert!(matches!(
            parse_codecs("pcmu,g729"),
            Err(PbxError::UnknownCodec(c)) if c == "g729"
        ));
    }
}
