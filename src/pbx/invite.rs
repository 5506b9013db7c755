//! Building the initial INVITE toward the PBX from a [`PbxRing`] (caller identity in From,
//! `X-WA-*` correlation headers, our SDP offer) and reading SIP URIs into the address to send
//! to. Everything that comes from Meta is sanitised here: control characters (header
//! injection) are dropped, quotes escaped in the display name, the user part percent-encoded.

use std::net::{IpAddr, SocketAddr};

use callgate_sip::message::{self, raw_header};
use callgate_sip::rsip::{Method, Request};
use callgate_sip::transaction::{Peer, Transport};

use super::PbxError;
use super::transport::ALLOW;
use crate::call::PbxRing;

/// A SIP URI reduced to where it points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Host as written (IP literal or name, without IPv6 brackets).
    pub host: String,
    /// Port (5060 when absent).
    pub port: u16,
    /// `;transport=` (UDP when absent).
    pub transport: Transport,
}

impl Target {
    /// Parses `sip:user@host:port;transport=tcp` (name-addr brackets allowed). `sips:` and
    /// TLS are refused: the PBX leg speaks UDP and TCP.
    pub fn parse(uri: &str) -> Result<Self, PbxError> {
        let invalid = || PbxError::InvalidTarget(uri.to_string());
        let u = if uri.contains('<') {
            message::uri_part(uri)
        } else {
            uri.trim().to_string()
        };
        let rest = u
            .strip_prefix("sip:")
            .or_else(|| u.strip_prefix("SIP:"))
            .ok_or_else(invalid)?;
        let (addr_part, params) = rest.split_once(';').unwrap_or((rest, ""));
        let addr_part = addr_part.split('?').next().unwrap_or("");
        let hostport = addr_part.rsplit_once('@').map_or(addr_part, |(_, h)| h);
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or_else(invalid)?;
            (h.to_string(), after.strip_prefix(':'))
        } else {
            match hostport.split_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (hostport.to_string(), None),
            }
        };
        if host.is_empty() {
            return Err(invalid());
        }
        let port = match port {
            Some(p) => p.parse().map_err(|_| invalid())?,
            None => 5060,
        };
        let mut transport = Transport::Udp;
        for p in params.split(';') {
            if let Some((n, v)) = p.split_once('=')
                && n.trim().eq_ignore_ascii_case("transport")
            {
                transport = match v.trim().to_ascii_lowercase().as_str() {
                    "udp" => Transport::Udp,
                    "tcp" => Transport::Tcp,
                    _ => return Err(invalid()),
                };
            }
        }
        Ok(Self {
            host,
            port,
            transport,
        })
    }

    /// Where to send, when the host is an IP literal.
    pub fn peer(&self) -> Option<Peer> {
        let ip: IpAddr = self.host.parse().ok()?;
        Some(Peer {
            transport: self.transport,
            addr: SocketAddr::new(ip, self.port),
        })
    }
}

/// `host` for a URI: IPv6 in brackets.
pub(crate) fn uri_host(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

/// Our Via without branch, for `transport` on `local`.
pub(crate) fn local_via(local: SocketAddr, transport: Transport) -> String {
    let proto = if transport == Transport::Udp {
        "UDP"
    } else {
        "TCP"
    };
    format!(
        "SIP/2.0/{proto} {}:{};rport",
        uri_host(local.ip()),
        local.port()
    )
}

/// Our Contact for `transport` on `local`.
pub(crate) fn local_contact(local: SocketAddr, transport: Transport) -> String {
    let t = if transport == Transport::Udp {
        ""
    } else {
        ";transport=tcp"
    };
    format!(
        "<sip:callgate@{}:{}{t}>",
        uri_host(local.ip()),
        local.port()
    )
}

/// Drops control characters (CR/LF would inject headers) and trims.
pub(crate) fn header_safe(v: &str) -> String {
    v.chars()
        .filter(|c| !c.is_control())
        .collect::<String>()
        .trim()
        .to_string()
}

/// A quoted-string for a display name.
fn quoted(v: &str) -> String {
    let mut out = String::from("\"");
    for c in header_safe(v).chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Percent-encodes what RFC 3261 does not allow in a URI user part.
fn user_part(v: &str) -> String {
    let mut out = String::new();
    for b in header_safe(v).bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()&=+$,;?/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.is_empty() {
        "anonymous".to_string()
    } else {
        out
    }
}

/// The caller as the PBX should see it: the WhatsApp number, else the BSUID.
fn caller(ring: &PbxRing) -> Option<&str> {
    ring.from
        .as_deref()
        .or(ring.from_user_id.as_deref())
        .filter(|s| !s.trim().is_empty())
}

/// Parts of the initial INVITE that are not in the ring.
pub(crate) struct InviteParts<'a> {
    pub target: &'a str,
    pub local: SocketAddr,
    pub transport: Transport,
    pub call_id: &'a str,
    pub from_tag: &'a str,
    pub branch: &'a str,
    pub user_agent: &'a str,
    pub sdp: &'a str,
}

/// The initial INVITE: Request-URI and To = target, From = caller (display name = profile
/// name, else the number) at our host, `X-WA-*` headers, our SDP offer.
pub(crate) fn build_invite(p: &InviteParts<'_>, ring: &PbxRing) -> Result<Request, PbxError> {
    let uri_str = message::uri_part(p.target);
    let uri =
        message::parse_uri(&uri_str).map_err(|_| PbxError::InvalidTarget(p.target.to_string()))?;
    let who = caller(ring);
    let display = ring
        .display_name
        .as_deref()
        .filter(|d| !header_safe(d).is_empty())
        .or(who);
    let from = match display {
        Some(d) => format!(
            "{} <sip:{}@{}>;tag={}",
            quoted(d),
            user_part(who.unwrap_or("anonymous")),
            uri_host(p.local.ip()),
            p.from_tag
        ),
        None => format!(
            "<sip:anonymous@{}>;tag={}",
            uri_host(p.local.ip()),
            p.from_tag
        ),
    };
    let mut headers = vec![
        raw_header(
            "Via",
            format!("{};branch={}", local_via(p.local, p.transport), p.branch),
        ),
        raw_header("Max-Forwards", "70"),
        raw_header("From", from),
        raw_header("To", format!("<{uri_str}>")),
        raw_header("Call-ID", p.call_id),
        raw_header("CSeq", "1 INVITE"),
        raw_header("Contact", local_contact(p.local, p.transport)),
        raw_header("Allow", ALLOW),
        raw_header("User-Agent", header_safe(p.user_agent)),
    ];
    // A business-initiated call rings its agent before Meta has given it an id.
    if !ring.call_id.is_empty() {
        headers.push(raw_header("X-WA-Call-Id", header_safe(&ring.call_id)));
    }
    if let Some(c) = who {
        headers.push(raw_header("X-WA-Caller", header_safe(c)));
    }
    let optional = [
        ("X-WA-CTA-Payload", &ring.cta_payload),
        ("X-WA-Deeplink-Payload", &ring.deeplink_payload),
    ];
    for (name, value) in optional {
        if let Some(v) = value.as_deref().map(header_safe).filter(|v| !v.is_empty()) {
            headers.push(raw_header(name, v));
        }
    }
    let mut req = message::build_request(Method::Invite, uri, headers, Vec::new());
    message::set_body(&mut req, "application/sdp", p.sdp.as_bytes().to_vec());
    Ok(req)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_with_port_and_tcp_transport_points_to_that_address() {
        let t = Target::parse("sip:agents@127.0.0.1:5062;transport=TCP").unwrap();
        assert_eq!(
            t.peer(),
            Some(Peer {
                transport: Transport::Tcp,
                addr: "127.0.0.1:5062".parse().unwrap()
            })
        );
    }

    #[test]
    fn target_defaults_to_udp_5060_and_keeps_names_unresolved() {
        let t = Target::parse("<sip:pbx.example.com>").unwrap();
        assert_eq!((t.port, t.transport), (5060, Transport::Udp));
        assert_eq!(t.peer(), None);
        let v6 = Target::parse("sip:x@[::1]:5070").unwrap();
        assert_eq!(v6.peer().unwrap().addr, "[::1]:5070".parse().unwrap());
    }

    #[test]
    fn non_sip_or_tls_targets_are_refused() {
        for bad in [
            "http://x",
            "sips:a@b",
            "sip:a@b;transport=tls",
            "sip:",
            "sip:a@b:x",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn user_part_and_display_name_are_escaped() {
        assert_eq!(user_part("US.123 4"), "US.123%204");
        assert_eq!(quoted("Ann \"A\"\r\nX: y"), "\"Ann \\\"A\\\"X: y\"");
    }
}
