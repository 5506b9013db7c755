//! A small SDP (RFC 8866) model for the plain RTP legs: parse leniently (LF or CRLF, unknown
//! lines and attributes kept in order), read what offer/answer needs (connection address,
//! rtpmap, fmtp, ptime, direction), and render with CRLF. Negotiation lives in
//! `sdp_negotiation.rs`.

use std::fmt;
use std::net::IpAddr;

/// Why an SDP body could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SdpError {
    /// The text is not SDP.
    #[error("malformed SDP at line {line}: {reason}; check the peer's SDP")]
    Malformed {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// No usable audio stream (none, or all disabled with port 0).
    #[error("SDP has no usable audio stream (m=audio with RTP/AVP and a non-zero port)")]
    NoAudio,
    /// No codec in common.
    #[error(
        "no codec in common with the peer's SDP (offered {offered:?}); enable PCMU, PCMA, G722 or Opus on the PBX"
    )]
    NoCommonCodec {
        /// Encodings the peer listed.
        offered: Vec<String>,
    },
}

/// One `x=value` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdpLine {
    /// The type letter.
    pub kind: char,
    /// Everything after `=`.
    pub value: String,
}

/// Media direction (RFC 3264 / RFC 8866 6.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Send and receive (the default).
    SendRecv,
    /// Send only.
    SendOnly,
    /// Receive only.
    RecvOnly,
    /// Neither.
    Inactive,
}

impl Direction {
    /// From send/receive flags.
    pub fn from_flags(send: bool, recv: bool) -> Self {
        match (send, recv) {
            (true, true) => Self::SendRecv,
            (true, false) => Self::SendOnly,
            (false, true) => Self::RecvOnly,
            (false, false) => Self::Inactive,
        }
    }

    /// Whether this side sends.
    pub fn sends(self) -> bool {
        matches!(self, Self::SendRecv | Self::SendOnly)
    }

    /// Whether this side receives.
    pub fn receives(self) -> bool {
        matches!(self, Self::SendRecv | Self::RecvOnly)
    }

    /// The attribute name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SendRecv => "sendrecv",
            Self::SendOnly => "sendonly",
            Self::RecvOnly => "recvonly",
            Self::Inactive => "inactive",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "sendrecv" => Self::SendRecv,
            "sendonly" => Self::SendOnly,
            "recvonly" => Self::RecvOnly,
            "inactive" => Self::Inactive,
            _ => return None,
        })
    }
}

/// An `a=rtpmap` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpMap {
    /// Payload type.
    pub payload_type: u8,
    /// Encoding name as written.
    pub encoding: String,
    /// Clock rate.
    pub clock_rate: u32,
    /// Channels (1 when absent).
    pub channels: u8,
}

/// One `m=` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDescription {
    /// Media type (`audio`).
    pub media: String,
    /// Port (0 = disabled).
    pub port: u16,
    /// Protocol (`RTP/AVP`).
    pub proto: String,
    /// Formats (payload types for RTP).
    pub formats: Vec<String>,
    /// Lines after `m=`, in order.
    pub lines: Vec<SdpLine>,
}

/// A whole session description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    /// Lines before the first `m=`, in order (`v=`, `o=`, `s=`, `c=`, `t=`, `a=`...).
    pub session_lines: Vec<SdpLine>,
    /// Media sections.
    pub media: Vec<MediaDescription>,
}

fn attrs(lines: &[SdpLine]) -> impl Iterator<Item = (&str, Option<&str>)> {
    lines
        .iter()
        .filter(|l| l.kind == 'a')
        .map(|l| match l.value.split_once(':') {
            Some((n, v)) => (n.trim(), Some(v.trim())),
            None => (l.value.trim(), None),
        })
}

fn connection(lines: &[SdpLine]) -> Option<IpAddr> {
    let c = lines.iter().find(|l| l.kind == 'c')?;
    let addr = c.value.split_whitespace().nth(2)?;
    addr.split('/').next()?.parse().ok()
}

impl SessionDescription {
    /// Parses SDP text (LF or CRLF).
    pub fn parse(text: &str) -> Result<Self, SdpError> {
        let mut sd = SessionDescription {
            session_lines: Vec::new(),
            media: Vec::new(),
        };
        let mut seen_v = false;
        for (i, raw) in text.split('\n').enumerate() {
            let line = raw.trim_end_matches('\r').trim_end();
            if line.is_empty() {
                continue;
            }
            let bad = |reason: &str| SdpError::Malformed {
                line: i + 1,
                reason: reason.to_string(),
            };
            let mut chars = line.chars();
            let (Some(kind), Some('=')) = (chars.next(), chars.next()) else {
                return Err(bad("expected <letter>=<value>"));
            };
            if !kind.is_ascii_alphabetic() {
                return Err(bad("expected <letter>=<value>"));
            }
            let value = line[2..].to_string();
            if !seen_v {
                if kind != 'v' {
                    return Err(bad("SDP must start with v="));
                }
                seen_v = true;
            }
            if kind == 'm' {
                let mut parts = value.split_whitespace();
                let media = parts
                    .next()
                    .ok_or_else(|| bad("m= without media"))?
                    .to_string();
                let port = parts
                    .next()
                    .and_then(|p| p.split('/').next())
                    .and_then(|p| p.parse().ok())
                    .ok_or_else(|| bad("m= with invalid port"))?;
                let proto = parts
                    .next()
                    .ok_or_else(|| bad("m= without protocol"))?
                    .to_string();
                let formats = parts.map(str::to_string).collect();
                sd.media.push(MediaDescription {
                    media,
                    port,
                    proto,
                    formats,
                    lines: Vec::new(),
                });
            } else {
                let l = SdpLine { kind, value };
                match sd.media.last_mut() {
                    Some(m) => m.lines.push(l),
                    None => sd.session_lines.push(l),
                }
            }
        }
        if !seen_v {
            return Err(SdpError::Malformed {
                line: 1,
                reason: "empty SDP".into(),
            });
        }
        Ok(sd)
    }

    /// Parses an SDP body given as bytes.
    pub fn parse_bytes(body: &[u8]) -> Result<Self, SdpError> {
        let text = std::str::from_utf8(body).map_err(|_| SdpError::Malformed {
            line: 1,
            reason: "not UTF-8".into(),
        })?;
        Self::parse(text)
    }

    /// Session-level connection address.
    pub fn connection(&self) -> Option<IpAddr> {
        connection(&self.session_lines)
    }

    /// Session-level attribute value (`Some(None)` for a flag).
    pub fn attribute(&self, name: &str) -> Option<Option<&str>> {
        attrs(&self.session_lines)
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
    }

    /// Session-level direction attribute, if any.
    pub fn direction(&self) -> Option<Direction> {
        attrs(&self.session_lines)
            .find_map(|(n, v)| v.is_none().then(|| Direction::parse(n)).flatten())
    }
}

impl MediaDescription {
    /// All `a=` attributes as (name, value).
    pub fn attributes(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        attrs(&self.lines)
    }

    /// First value of attribute `name` (`Some(None)` for a flag).
    pub fn attribute(&self, name: &str) -> Option<Option<&str>> {
        self.attributes().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// Media-level connection address.
    pub fn connection(&self) -> Option<IpAddr> {
        connection(&self.lines)
    }

    /// Media-level direction attribute, if any.
    pub fn direction(&self) -> Option<Direction> {
        self.attributes()
            .find_map(|(n, v)| v.is_none().then(|| Direction::parse(n)).flatten())
    }

    /// `a=rtpmap` entries.
    pub fn rtpmaps(&self) -> Vec<RtpMap> {
        self.attributes()
            .filter(|(n, _)| *n == "rtpmap")
            .filter_map(|(_, v)| {
                let (pt, rest) = v?.split_once(char::is_whitespace)?;
                let mut p = rest.trim().split('/');
                Some(RtpMap {
                    payload_type: pt.parse().ok()?,
                    encoding: p.next()?.to_string(),
                    clock_rate: p.next()?.parse().ok()?,
                    channels: p.next().and_then(|c| c.parse().ok()).unwrap_or(1),
                })
            })
            .collect()
    }

    /// The `a=fmtp` parameters of a payload type.
    pub fn fmtp(&self, pt: u8) -> Option<&str> {
        self.attributes()
            .filter(|(n, _)| *n == "fmtp")
            .find_map(|(_, v)| {
                let (p, rest) = v?.split_once(char::is_whitespace)?;
                (p.parse::<u8>().ok() == Some(pt)).then(|| rest.trim())
            })
    }

    /// `a=ptime` in milliseconds.
    pub fn ptime(&self) -> Option<u32> {
        self.attribute("ptime")
            .flatten()
            .and_then(|v| v.parse().ok())
    }
}

impl fmt::Display for SdpLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}\r\n", self.kind, self.value)
    }
}

impl fmt::Display for SessionDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for l in &self.session_lines {
            write!(f, "{l}")?;
        }
        for m in &self.media {
            write!(f, "m={} {} {}", m.media, m.port, m.proto)?;
            for fmt_ in &m.formats {
                write!(f, " {fmt_}")?;
            }
            write!(f, "\r\n")?;
            for l in &m.lines {
                write!(f, "{l}")?;
            }
        }
        Ok(())
    }
}

/// Shorthand for building lines.
pub fn line(kind: char, value: impl Into<String>) -> SdpLine {
    SdpLine {
        kind,
        value: value.into(),
    }
}
