//! SIP messages on top of `rsip`: lenient parsing of wire bytes, header access helpers
//! (Via branch, tags, CSeq, Call-ID, Contact, Record-Route/Route), building requests and
//! responses, and generators for branches, tags and Call-IDs.
//!
//! Parsing pre-normalises what real peers (Meta's SIP gateway among them) send before `rsip`
//! sees it, because `rsip` 0.4 is strict where the wire is not:
//! - bare LF line ends are turned into CRLF in the header section (the body is left alone);
//! - folded header lines (continuations starting with SP/HT) are unfolded;
//! - compact header names (`v:`, `i:`, `l:` ...) are expanded, since `rsip` knows only long ones;
//! - duplicated `Content-Length`/`Content-Type` headers (Meta's samples carry two of each) are
//!   reduced to one, and `Content-Length` is rewritten to the body actually kept (RFC 3261 18.3:
//!   a longer datagram body is truncated to the declared length);
//! - a header-section line without a colon starts the body (one sample omits the blank line);
//! - a missing final blank line is accepted.
//!
//! `rsip` drops the reason phrase of well-known status codes; we keep the wire phrase (Meta puts
//! operator-relevant text there, e.g. "SIP server X ... does not match") by storing such
//! responses as `StatusCode::Other(code, phrase)`. Compare status codes with `.code()`.

use rand::Rng;
use rsip::headers::{Header, UntypedHeader};
use rsip::message::HasHeaders;
use rsip::{Method, Request, Response, SipMessage, StatusCode};

/// The RFC 3261 magic cookie every branch we generate starts with.
pub const BRANCH_MAGIC_COOKIE: &str = "z9hG4bK";

/// Why bytes could not be turned into a SIP message, or a message lacks what we need.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    /// The input held no start line at all (empty or only whitespace).
    #[error("empty SIP message: the peer sent no start line (keep-alive or truncated packet)")]
    Empty,
    /// The header section is not valid UTF-8.
    #[error("SIP header section is not UTF-8: the peer sent binary data or a corrupted packet")]
    NotUtf8,
    /// `rsip` rejected the message grammar.
    #[error("malformed SIP message ({0}); check the peer's SIP stack or capture the packet")]
    Grammar(String),
    /// A header needed for processing is missing.
    #[error("SIP message lacks the {0} header; the peer is not RFC 3261 compliant")]
    MissingHeader(&'static str),
    /// A header is present but its value cannot be understood.
    #[error("SIP header {name} has an invalid value {value:?}; the peer is not RFC 3261 compliant")]
    InvalidHeader {
        /// Header name.
        name: &'static str,
        /// The raw value found.
        value: String,
    },
}

/// Parses one complete SIP message (a UDP datagram, or one frame cut by
/// [`crate::framing::StreamFramer`]). Never panics.
pub fn parse_message(bytes: &[u8]) -> Result<SipMessage, MessageError> {
    let normalised = normalise(bytes)?;
    let reason = normalised.reason.clone();
    let mut msg = SipMessage::try_from(normalised.bytes.as_slice())
        .map_err(|e| MessageError::Grammar(short(&e.to_string())))?;
    if let (SipMessage::Response(resp), Some(reason)) = (&mut msg, reason) {
        let code = resp.status_code.code();
        let default = resp.status_code.to_string();
        let default_phrase = default.split_once(' ').map(|(_, p)| p).unwrap_or("");
        if !reason.is_empty() && reason != default_phrase {
            resp.status_code = StatusCode::Other(code, reason);
        }
    }
    Ok(msg)
}

/// Serialises a message for the wire, with a `Content-Length` that matches the body.
pub fn to_bytes(msg: &SipMessage) -> Vec<u8> {
    let mut msg = msg.clone();
    let len = msg.body().len();
    let headers = msg.headers_mut();
    headers.retain(|h| !matches!(h, Header::ContentLength(_)));
    headers.push(Header::ContentLength(len.to_string().into()));
    msg.to_string().into_bytes()
}

fn short(s: &str) -> String {
    let mut s: String = s.chars().take(160).collect();
    s.retain(|c| !c.is_control());
    s
}

struct Normalised {
    bytes: Vec<u8>,
    reason: Option<String>,
}

fn compact_name(name: &str) -> Option<&'static str> {
    Some(match name.to_ascii_lowercase().as_str() {
        "v" => "Via",
        "f" => "From",
        "t" => "To",
        "i" => "Call-ID",
        "m" => "Contact",
        "l" => "Content-Length",
        "c" => "Content-Type",
        "k" => "Supported",
        "s" => "Subject",
        "e" => "Content-Encoding",
        "o" => "Event",
        "r" => "Refer-To",
        "u" => "Allow-Events",
        _ => return None,
    })
}

fn normalise(bytes: &[u8]) -> Result<Normalised, MessageError> {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .ok_or(MessageError::Empty)?;
    let bytes = &bytes[start..];
    // End of the header section: first empty line, with CRLF or LF line ends.
    let (head, mut body) = match find_blank_line(bytes) {
        Some((head_end, body_start)) => (&bytes[..head_end], &bytes[body_start..]),
        None => (bytes, &[][..]),
    };
    let head = std::str::from_utf8(head).map_err(|_| MessageError::NotUtf8)?;
    let mut spans = Vec::new();
    let mut pos = 0;
    while pos < head.len() {
        let end = head[pos..]
            .find('\n')
            .map(|i| pos + i)
            .unwrap_or(head.len());
        spans.push((pos, end));
        pos = end + 1;
    }
    let line_at = |(s, e): (usize, usize)| head[s..e].strip_suffix('\r').unwrap_or(&head[s..e]);
    let start_line = spans
        .first()
        .map(|&sp| line_at(sp))
        .unwrap_or("")
        .trim()
        .to_string();
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut body_from_head: Option<usize> = None;
    for &span in spans.iter().skip(1) {
        let line = line_at(span);
        if line.starts_with([' ', '\t']) {
            if let Some(last) = headers.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            let name = name.trim();
            let name = compact_name(name)
                .map(str::to_string)
                .unwrap_or_else(|| name.to_string());
            headers.push((name, value.trim().to_string()));
        } else if !line.trim().is_empty() {
            // A line without a colon inside the header section: the blank line was left out.
            body_from_head = Some(span.0);
            break;
        }
    }
    let owned_body;
    if let Some(at) = body_from_head {
        let mut b = head.as_bytes()[at..].to_vec();
        if find_blank_line(bytes).is_some() {
            b.extend_from_slice(b"\r\n");
            b.extend_from_slice(body);
        }
        owned_body = b;
        body = &owned_body;
    }
    // Content-Length: the first parseable value wins; a longer body is cut to it (RFC 3261 18.3).
    let declared = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("Content-Length"))
        .find_map(|(_, v)| v.trim().parse::<usize>().ok());
    if let Some(len) = declared
        && len < body.len()
    {
        body = &body[..len];
    }
    let mut seen_content_type = false;
    headers.retain(|(n, _)| {
        if n.eq_ignore_ascii_case("Content-Length") {
            return false;
        }
        if n.eq_ignore_ascii_case("Content-Type") {
            let keep = !seen_content_type;
            seen_content_type = true;
            return keep;
        }
        true
    });
    let reason = if start_line.starts_with("SIP/") {
        start_line
            .splitn(3, ' ')
            .nth(2)
            .map(|s| s.trim().to_string())
    } else {
        None
    };
    let mut out = Vec::with_capacity(bytes.len() + 64);
    out.extend_from_slice(collapse_spaces(&start_line).as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in &headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(body);
    Ok(Normalised { bytes: out, reason })
}

/// Collapses runs of spaces in the start line (rsip wants exactly one between the parts).
fn collapse_spaces(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut prev_space = false;
    for c in line.chars() {
        let space = c == ' ' || c == '\t';
        if !(space && prev_space) {
            out.push(if space { ' ' } else { c });
        }
        prev_space = space;
    }
    out
}

/// Finds the blank line ending the header section: returns (end of head, start of body).
pub(crate) fn find_blank_line(bytes: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\n' {
            if bytes.get(i + 1) == Some(&b'\n') {
                return Some((i, i + 2));
            }
            if bytes.get(i + 1) == Some(&b'\r') && bytes.get(i + 2) == Some(&b'\n') {
                return Some((i, i + 3));
            }
        }
        i += 1;
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Header access
// ---------------------------------------------------------------------------------------------

/// Splits a rendered header into (name, value).
pub fn header_name_value(h: &Header) -> (String, String) {
    let s = h.to_string();
    match s.split_once(':') {
        Some((n, v)) => (n.trim().to_string(), v.trim().to_string()),
        None => (s, String::new()),
    }
}

/// All values of the headers called `name` (case-insensitive), in message order, with
/// comma-separated lists split into their elements (not for headers whose values may
/// legitimately contain commas, such as dates or auth headers).
pub fn header_list(msg: &impl HasHeaders, name: &str) -> Vec<String> {
    msg.headers()
        .iter()
        .map(header_name_value)
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .flat_map(|(_, v)| split_list(&v))
        .collect()
}

/// The first value of the header `name` (case-insensitive), unsplit.
pub fn header_value(msg: &impl HasHeaders, name: &str) -> Option<String> {
    msg.headers()
        .iter()
        .map(header_name_value)
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// Splits a header value on commas outside quotes and angle brackets.
pub fn split_list(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (mut quoted, mut angle, mut cur) = (false, false, String::new());
    for c in value.chars() {
        match c {
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' if !quoted && !angle => {
                if !cur.trim().is_empty() {
                    out.push(cur.trim().to_string());
                }
                cur.clear();
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

/// A `;name=value` parameter of a header value: for name-addr forms only the parameters after
/// the closing `>` are searched (so URI parameters do not leak into header parameters).
pub fn header_param(value: &str, name: &str) -> Option<String> {
    let params = match value.rfind('>') {
        Some(i) => &value[i + 1..],
        None => value.split_once(';').map(|(_, p)| p).unwrap_or(""),
    };
    params.split(';').find_map(|p| {
        let (n, v) = p.split_once('=').unwrap_or((p, ""));
        n.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().trim_matches('"').to_string())
    })
}

/// The URI inside a name-addr (`"x" <sip:a@b>;tag=1` -> `sip:a@b`) or an addr-spec.
pub fn uri_part(value: &str) -> String {
    if let (Some(s), Some(e)) = (value.find('<'), value.find('>'))
        && s < e
    {
        return value[s + 1..e].trim().to_string();
    }
    value.split(';').next().unwrap_or("").trim().to_string()
}

/// The topmost Via value (first element of the first Via header).
pub fn top_via(msg: &impl HasHeaders) -> Option<String> {
    header_list(msg, "Via").into_iter().next()
}

/// The branch parameter of the topmost Via.
pub fn via_branch(msg: &impl HasHeaders) -> Option<String> {
    top_via(msg).and_then(|v| {
        v.split(';').skip(1).find_map(|p| {
            let (n, val) = p.split_once('=')?;
            n.trim()
                .eq_ignore_ascii_case("branch")
                .then(|| val.trim().to_string())
        })
    })
}

/// The tag parameter of the From header.
pub fn from_tag(msg: &impl HasHeaders) -> Option<String> {
    header_value(msg, "From").and_then(|v| header_param(&v, "tag"))
}

/// The tag parameter of the To header.
pub fn to_tag(msg: &impl HasHeaders) -> Option<String> {
    header_value(msg, "To").and_then(|v| header_param(&v, "tag"))
}

/// The Call-ID.
pub fn call_id(msg: &impl HasHeaders) -> Result<String, MessageError> {
    header_value(msg, "Call-ID").ok_or(MessageError::MissingHeader("Call-ID"))
}

/// The CSeq number and method.
pub fn cseq(msg: &impl HasHeaders) -> Result<(u32, Method), MessageError> {
    let v = header_value(msg, "CSeq").ok_or(MessageError::MissingHeader("CSeq"))?;
    let invalid = || MessageError::InvalidHeader {
        name: "CSeq",
        value: v.clone(),
    };
    let mut parts = v.split_whitespace();
    let num = parts
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or_else(invalid)?;
    let method = parts.next().and_then(parse_method).ok_or_else(invalid)?;
    Ok((num, method))
}

/// Parses a method name (`rsip` knows the standard ones).
pub fn parse_method(s: &str) -> Option<Method> {
    Method::all()
        .into_iter()
        .find(|m| m.to_string().eq_ignore_ascii_case(s))
}

/// The URI of the first Contact, as a string.
pub fn contact_uri(msg: &impl HasHeaders) -> Option<String> {
    header_list(msg, "Contact").first().map(|v| uri_part(v))
}

/// Record-Route entries, in message order, each kept byte-for-byte as received.
pub fn record_routes(msg: &impl HasHeaders) -> Vec<String> {
    header_list(msg, "Record-Route")
}

/// Route entries, in message order.
pub fn routes(msg: &impl HasHeaders) -> Vec<String> {
    header_list(msg, "Route")
}

/// Parses a URI string with `rsip`.
pub fn parse_uri(s: &str) -> Result<rsip::Uri, MessageError> {
    rsip::Uri::try_from(s).map_err(|_| MessageError::InvalidHeader {
        name: "URI",
        value: s.to_string(),
    })
}

// ---------------------------------------------------------------------------------------------
// Building
// ---------------------------------------------------------------------------------------------

/// A header with a free-form name and value (rendered exactly as given).
pub fn raw_header(name: &str, value: impl Into<String>) -> Header {
    let value = value.into();
    match name.to_ascii_lowercase().as_str() {
        "via" => Header::Via(value.into()),
        "from" => Header::From(value.into()),
        "to" => Header::To(value.into()),
        "call-id" => Header::CallId(value.into()),
        "cseq" => Header::CSeq(value.into()),
        "contact" => Header::Contact(value.into()),
        "route" => Header::Route(value.into()),
        "record-route" => Header::RecordRoute(value.into()),
        "max-forwards" => Header::MaxForwards(value.into()),
        "content-type" => Header::ContentType(value.into()),
        "content-length" => Header::ContentLength(value.into()),
        "authorization" => Header::Authorization(value.into()),
        "proxy-authorization" => Header::ProxyAuthorization(value.into()),
        "www-authenticate" => Header::WwwAuthenticate(value.into()),
        "proxy-authenticate" => Header::ProxyAuthenticate(value.into()),
        _ => Header::Other(name.to_string(), value),
    }
}

/// Builds a request from its parts; `Content-Length` is set from the body.
pub fn build_request(
    method: Method,
    uri: rsip::Uri,
    headers: Vec<Header>,
    body: Vec<u8>,
) -> Request {
    let mut req = Request {
        method,
        uri,
        version: rsip::Version::V2,
        headers: headers.into(),
        body,
    };
    set_content_length(&mut req);
    req
}

/// Mutable access to a message body (rsip has no common trait for it).
pub trait HasBody: HasHeaders {
    /// The body bytes.
    fn body_bytes_mut(&mut self) -> &mut Vec<u8>;
}
impl HasBody for Request {
    fn body_bytes_mut(&mut self) -> &mut Vec<u8> {
        &mut self.body
    }
}
impl HasBody for Response {
    fn body_bytes_mut(&mut self) -> &mut Vec<u8> {
        &mut self.body
    }
}
impl HasBody for SipMessage {
    fn body_bytes_mut(&mut self) -> &mut Vec<u8> {
        self.body_mut()
    }
}

/// Sets (replaces) `Content-Length` to match the body.
pub fn set_content_length(msg: &mut impl HasBody) {
    let len = msg.body_bytes_mut().len();
    let headers = msg.headers_mut();
    headers.retain(|h| !matches!(h, Header::ContentLength(_)));
    headers.push(Header::ContentLength(len.to_string().into()));
}

/// Replaces the body and its `Content-Type` (removed when the body is empty).
pub fn set_body(msg: &mut impl HasBody, content_type: &str, body: Vec<u8>) {
    msg.headers_mut()
        .retain(|h| !matches!(h, Header::ContentType(_)));
    if !body.is_empty() {
        msg.headers_mut()
            .push(Header::ContentType(content_type.to_string().into()));
    }
    *msg.body_bytes_mut() = body;
    set_content_length(msg);
}

/// Builds a response to `request` (RFC 3261 8.2.6): Via, From, Call-ID and CSeq copied, To
/// copied with `to_tag` added when it has none. `reason` overrides the standard phrase.
pub fn response_to(
    request: &Request,
    code: u16,
    reason: Option<&str>,
    to_tag: Option<&str>,
) -> Response {
    let mut headers: Vec<Header> = Vec::new();
    for h in request.headers.iter() {
        match h {
            Header::Via(_) | Header::From(_) | Header::CallId(_) | Header::CSeq(_) => {
                headers.push(h.clone())
            }
            Header::To(to) => {
                let mut v = to.value().to_string();
                if let Some(tag) = to_tag
                    && header_param(&v, "tag").is_none()
                {
                    v.push_str(";tag=");
                    v.push_str(tag);
                }
                headers.push(Header::To(v.into()));
            }
            _ => {}
        }
    }
    let status_code = match reason {
        Some(r) => StatusCode::Other(code, r.to_string()),
        None => StatusCode::from(code),
    };
    let mut resp = Response {
        status_code,
        version: rsip::Version::V2,
        headers: headers.into(),
        body: Vec::new(),
    };
    set_content_length(&mut resp);
    resp
}

// ---------------------------------------------------------------------------------------------
// Identifiers
// ---------------------------------------------------------------------------------------------

fn random_token(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| rng.sample(rand::distr::Alphanumeric) as char)
        .collect()
}

/// A fresh Via branch: the RFC 3261 magic cookie plus 22 random characters.
pub fn new_branch() -> String {
    format!("{BRANCH_MAGIC_COOKIE}{}", random_token(22))
}

/// A fresh From/To tag (16 random characters).
pub fn new_tag() -> String {
    random_token(16)
}

/// A fresh Call-ID (`random@host`).
pub fn new_call_id(host: &str) -> String {
    format!("{}@{host}", random_token(24))
}

#[cfg(test)]
#[path = "message_tests.rs"]
pub(crate) mod tests;
