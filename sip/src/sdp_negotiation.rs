//! SDP offer/answer (RFC 3264) for the plain RTP/AVP leg towards the PBX: build our offer,
//! answer a PBX offer (first codec of our preference that the offer has, keeping the offerer's
//! payload type numbers; telephone-event with its PT and rate; direction answered per RFC 3264;
//! hold seen as `c=0.0.0.0`, `sendonly` or `inactive`), and read the answer to our offer.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::sdp::{Direction, MediaDescription, SdpError, SessionDescription, line};

/// Codecs the gateway can bridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CodecKind {
    /// G.711 mu-law, static PT 0.
    Pcmu,
    /// G.711 A-law, static PT 8.
    Pcma,
    /// G.722, static PT 9 (SDP clock 8000 per RFC 3551).
    G722,
    /// Opus, dynamic PT, opus/48000/2.
    Opus,
}

impl CodecKind {
    /// The rtpmap encoding name (`PCMU`, `PCMA`, `G722`, `opus`).
    pub fn encoding(self) -> &'static str {
        match self {
            Self::Pcmu => "PCMU",
            Self::Pcma => "PCMA",
            Self::G722 => "G722",
            Self::Opus => "opus",
        }
    }
    fn clock_rate(self) -> u32 {
        if self == Self::Opus { 48000 } else { 8000 }
    }
    fn channels(self) -> u8 {
        if self == Self::Opus { 2 } else { 1 }
    }
    fn static_pt(self) -> Option<u8> {
        match self {
            Self::Pcmu => Some(0),
            Self::Pcma => Some(8),
            Self::G722 => Some(9),
            Self::Opus => None,
        }
    }
}

/// A negotiated codec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Codec {
    /// Which codec.
    pub kind: CodecKind,
    /// Payload type on the wire (the offerer's number).
    pub payload_type: u8,
    /// RTP clock rate.
    pub clock_rate: u32,
    /// The peer's fmtp parameters, if any.
    pub fmtp: Option<String>,
}

/// RFC 4733 telephone-event as negotiated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// Payload type.
    pub payload_type: u8,
    /// Clock rate.
    pub clock_rate: u32,
}

/// Our side of the RTP leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalMedia {
    /// Address for `c=` and `o=`.
    pub address: IpAddr,
    /// RTP port for `m=`.
    pub port: u16,
    /// Codecs in preference order.
    pub codecs: Vec<CodecKind>,
    /// Offer/accept telephone-event/8000.
    pub telephone_event: bool,
    /// Packet time in ms (`a=ptime`).
    pub ptime: u32,
    /// What we want to do (sendrecv normally; sendonly to put the PBX on hold).
    pub direction: Direction,
    /// PT used for Opus in our offers.
    pub opus_payload_type: u8,
    /// PT used for telephone-event in our offers.
    pub telephone_event_payload_type: u8,
    /// `o=` session id.
    pub session_id: u64,
    /// `o=` session version (increment on every new offer/answer in the session).
    pub session_version: u64,
}

/// The outcome of an offer/answer exchange, from our point of view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// Codec to send and expect.
    pub codec: Codec,
    /// DTMF payload, if both sides have it.
    pub telephone_event: Option<TelephoneEvent>,
    /// Where to send RTP (`None` on hold with c=0.0.0.0, or when the stream is disabled).
    pub remote: Option<SocketAddr>,
    /// Our resulting direction.
    pub direction: Direction,
    /// The peer put us on hold (c=0.0.0.0, sendonly or inactive).
    pub remote_hold: bool,
    /// The peer's ptime, if given.
    pub remote_ptime: Option<u32>,
}

fn session_lines(local: &LocalMedia) -> Vec<crate::sdp::SdpLine> {
    let ip = match local.address {
        IpAddr::V4(_) => "IP4",
        IpAddr::V6(_) => "IP6",
    };
    vec![
        line('v', "0"),
        line(
            'o',
            format!(
                "callgate {} {} IN {ip} {}",
                local.session_id, local.session_version, local.address
            ),
        ),
        line('s', "callgate"),
        line('c', format!("IN {ip} {}", local.address)),
        line('t', "0 0"),
    ]
}

fn codec_lines(m: &mut MediaDescription, codec: CodecKind, pt: u8, fmtp: Option<&str>) {
    m.formats.push(pt.to_string());
    let ch = if codec.channels() > 1 {
        format!("/{}", codec.channels())
    } else {
        String::new()
    };
    m.lines.push(line(
        'a',
        format!(
            "rtpmap:{pt} {}/{}{ch}",
            codec.encoding(),
            codec.clock_rate()
        ),
    ));
    if let Some(f) = fmtp {
        m.lines.push(line('a', format!("fmtp:{pt} {f}")));
    }
}

/// Our SDP offer: one RTP/AVP audio stream with our codecs in preference order.
pub fn build_offer(local: &LocalMedia) -> SessionDescription {
    let mut m = MediaDescription {
        media: "audio".into(),
        port: local.port,
        proto: "RTP/AVP".into(),
        formats: vec![],
        lines: vec![],
    };
    for &c in &local.codecs {
        let pt = c.static_pt().unwrap_or(local.opus_payload_type);
        codec_lines(
            &mut m,
            c,
            pt,
            (c == CodecKind::Opus).then_some("useinbandfec=1"),
        );
    }
    if local.telephone_event {
        let pt = local.telephone_event_payload_type;
        m.formats.push(pt.to_string());
        m.lines
            .push(line('a', format!("rtpmap:{pt} telephone-event/8000")));
        m.lines.push(line('a', format!("fmtp:{pt} 0-16")));
    }
    m.lines.push(line('a', format!("ptime:{}", local.ptime)));
    m.lines.push(line('a', local.direction.as_str()));
    SessionDescription {
        session_lines: session_lines(local),
        media: vec![m],
    }
}

/// Finds `kind` in an m-line: by rtpmap name and rate, or by static PT without rtpmap.
fn find_codec(m: &MediaDescription, kind: CodecKind) -> Option<Codec> {
    let maps = m.rtpmaps();
    m.formats
        .iter()
        .filter_map(|f| f.parse::<u8>().ok())
        .find_map(|pt| {
            let ok = match maps.iter().find(|r| r.payload_type == pt) {
                Some(r) => {
                    r.encoding.eq_ignore_ascii_case(kind.encoding())
                        && r.clock_rate == kind.clock_rate()
                }
                None => kind.static_pt() == Some(pt),
            };
            ok.then(|| Codec {
                kind,
                payload_type: pt,
                clock_rate: kind.clock_rate(),
                fmtp: m.fmtp(pt).map(str::to_string),
            })
        })
}

fn find_telephone_event(m: &MediaDescription, clock: u32) -> Option<TelephoneEvent> {
    let maps = m.rtpmaps();
    let te: Vec<_> = maps
        .iter()
        .filter(|r| r.encoding.eq_ignore_ascii_case("telephone-event"))
        .collect();
    let pick = te
        .iter()
        .find(|r| r.clock_rate == clock)
        .or_else(|| te.iter().find(|r| r.clock_rate == 8000))?;
    Some(TelephoneEvent {
        payload_type: pick.payload_type,
        clock_rate: pick.clock_rate,
    })
}

fn usable(m: &MediaDescription) -> bool {
    m.media == "audio" && m.port != 0 && m.proto.eq_ignore_ascii_case("RTP/AVP")
}

fn offered_encodings(sd: &SessionDescription) -> Vec<String> {
    sd.media
        .iter()
        .flat_map(|m| {
            let maps = m.rtpmaps();
            m.formats
                .iter()
                .map(|f| {
                    maps.iter()
                        .find(|r| r.payload_type.to_string() == *f)
                        .map(|r| r.encoding.clone())
                        .unwrap_or_else(|| f.clone())
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Reads the peer's side of one m-line: (remote address, peer direction, hold).
fn remote_side(
    sd: &SessionDescription,
    m: &MediaDescription,
) -> (Option<SocketAddr>, Direction, bool) {
    let addr = m.connection().or_else(|| sd.connection());
    let null = addr.is_some_and(|a| a.is_unspecified());
    let mut dir = m
        .direction()
        .or_else(|| sd.direction())
        .unwrap_or(Direction::SendRecv);
    if null {
        // RFC 2543 hold: c=0.0.0.0 means "do not send to me".
        dir = Direction::from_flags(dir.sends(), false);
    }
    let hold = null || !dir.receives();
    let remote = addr
        .filter(|a| !a.is_unspecified() && m.port != 0)
        .map(|a| SocketAddr::new(a, m.port));
    (remote, dir, hold)
}

/// Answers the PBX's offer. Every offered m-line gets an answer line (RFC 3264 6): the first
/// usable audio one is accepted, the others rejected with port 0.
pub fn answer_offer(
    local: &LocalMedia,
    offer: &SessionDescription,
) -> Result<(SessionDescription, Negotiated), SdpError> {
    let mut chosen: Option<(usize, Codec)> = None;
    'outer: for (i, m) in offer.media.iter().enumerate().filter(|(_, m)| usable(m)) {
        for &kind in &local.codecs {
            if let Some(c) = find_codec(m, kind) {
                chosen = Some((i, c));
                break 'outer;
            }
        }
    }
    let Some((index, codec)) = chosen else {
        return Err(if offer.media.iter().any(usable) {
            SdpError::NoCommonCodec {
                offered: offered_encodings(offer),
            }
        } else {
            SdpError::NoAudio
        });
    };
    let om = &offer.media[index];
    let te = local
        .telephone_event
        .then(|| find_telephone_event(om, codec.clock_rate))
        .flatten();
    let (remote, peer_dir, remote_hold) = remote_side(offer, om);
    let direction = Direction::from_flags(
        local.direction.sends() && peer_dir.receives(),
        local.direction.receives() && peer_dir.sends(),
    );

    let mut media = Vec::new();
    for (i, m) in offer.media.iter().enumerate() {
        if i != index {
            let first = m.formats.first().cloned().unwrap_or_else(|| "0".into());
            media.push(MediaDescription {
                media: m.media.clone(),
                port: 0,
                proto: m.proto.clone(),
                formats: vec![first],
                lines: vec![],
            });
            continue;
        }
        let mut am = MediaDescription {
            media: "audio".into(),
            port: local.port,
            proto: m.proto.clone(),
            formats: vec![],
            lines: vec![],
        };
        codec_lines(
            &mut am,
            codec.kind,
            codec.payload_type,
            (codec.kind == CodecKind::Opus).then_some("useinbandfec=1"),
        );
        if let Some(t) = te {
            am.formats.push(t.payload_type.to_string());
            am.lines.push(line(
                'a',
                format!("rtpmap:{} telephone-event/{}", t.payload_type, t.clock_rate),
            ));
            am.lines
                .push(line('a', format!("fmtp:{} 0-16", t.payload_type)));
        }
        am.lines.push(line('a', format!("ptime:{}", local.ptime)));
        am.lines.push(line('a', direction.as_str()));
        media.push(am);
    }
    let answer = SessionDescription {
        session_lines: session_lines(local),
        media,
    };
    let negotiated = Negotiated {
        codec,
        telephone_event: te,
        remote,
        direction,
        remote_hold,
        remote_ptime: om.ptime(),
    };
    Ok((answer, negotiated))
}

/// Reads the PBX's answer to our offer (built by [`build_offer`] from the same `local`).
pub fn parse_answer(
    local: &LocalMedia,
    answer: &SessionDescription,
) -> Result<Negotiated, SdpError> {
    let m = answer
        .media
        .iter()
        .find(|m| usable(m))
        .ok_or(SdpError::NoAudio)?;
    // The answer lists the accepted codecs; the first one we know is what we use.
    let codec = m
        .formats
        .iter()
        .filter_map(|f| f.parse::<u8>().ok())
        .find_map(|pt| {
            local.codecs.iter().find_map(|&k| {
                let c = find_codec(
                    &MediaDescription {
                        formats: vec![pt.to_string()],
                        ..m.clone()
                    },
                    k,
                )?;
                Some(c)
            })
        })
        .ok_or_else(|| SdpError::NoCommonCodec {
            offered: offered_encodings(answer),
        })?;
    let te = local
        .telephone_event
        .then(|| find_telephone_event(m, codec.clock_rate))
        .flatten();
    let (remote, peer_dir, remote_hold) = remote_side(answer, m);
    let direction = Direction::from_flags(
        local.direction.sends() && peer_dir.receives(),
        local.direction.receives() && peer_dir.sends(),
    );
    Ok(Negotiated {
        codec,
        telephone_event: te,
        remote,
        direction,
        remote_hold,
        remote_ptime: m.ptime(),
    })
}

impl Default for LocalMedia {
    fn default() -> Self {
        Self {
            address: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 40000,
            codecs: vec![
                CodecKind::Opus,
                CodecKind::G722,
                CodecKind::Pcmu,
                CodecKind::Pcma,
            ],
            telephone_event: true,
            ptime: 20,
            direction: Direction::SendRecv,
            opus_payload_type: 111,
            telephone_event_payload_type: 101,
            session_id: 1,
            session_version: 1,
        }
    }
}

#[cfg(test)]
#[path = "sdp_tests.rs"]
mod tests;
