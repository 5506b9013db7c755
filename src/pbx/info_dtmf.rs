//! DTMF sent by the PBX as SIP INFO (Cisco CUCM, Asterisk `dtmf_mode=info`, many hosted PBXes)
//! instead of RFC 4733: `application/dtmf-relay` (`Signal=5` and `Duration=160`, in ms) or
//! `application/dtmf` (the bare key). The digit is relayed to WhatsApp like an RFC 4733 one.

use std::time::Duration;

use callgate_sip::rsip::{self, Request, headers::UntypedHeader};

/// How long a key counts as held when the INFO gives no duration.
const DEFAULT_DURATION: Duration = Duration::from_millis(160);
/// Shortest and longest durations relayed (a malformed or absurd value is clamped).
const MIN_DURATION: Duration = Duration::from_millis(40);
const MAX_DURATION: Duration = Duration::from_secs(5);

/// The key press an INFO request carries, if its body is a DTMF body we understand.
#[must_use]
pub fn digit(req: &Request) -> Option<(char, Duration)> {
    let content_type = req.headers.iter().find_map(|h| match h {
        rsip::Header::ContentType(ct) => Some(ct.value().to_ascii_lowercase()),
        _ => None,
    })?;
    let body = std::str::from_utf8(&req.body).ok()?;
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    match media_type {
        "application/dtmf-relay" => parse_relay(body),
        "application/dtmf" => key(body.trim()).map(|k| (k, DEFAULT_DURATION)),
        _ => None,
    }
}

/// `Signal=5\r\nDuration=160`: the key and how long it was held.
fn parse_relay(body: &str) -> Option<(char, Duration)> {
    let mut signal = None;
    let mut duration = DEFAULT_DURATION;
    for line in body.lines() {
        let Some((name, value)) = line.split_once('=') else {
            continue;
        };
        match name.trim().to_ascii_lowercase().as_str() {
            "signal" => signal = key(value.trim()),
            "duration" => {
                if let Ok(ms) = value.trim().parse::<u64>() {
                    duration = Duration::from_millis(ms);
                }
            }
            _ => {}
        }
    }
    Some((signal?, duration.clamp(MIN_DURATION, MAX_DURATION)))
}

/// One keypad key (`0-9 * # A-D`), or the RFC 4733 event number of one (`10` is `*`, `11`
/// is `#`, as some PBXes write them).
fn key(s: &str) -> Option<char> {
    match s {
        "10" => return Some('*'),
        "11" => return Some('#'),
        "12" => return Some('A'),
        "13" => return Some('B'),
        "14" => return Some('C'),
        "15" => return Some('D'),
        _ => {}
    }
    let mut chars = s.chars();
    let c = chars.next()?.to_ascii_uppercase();
    (chars.next().is_none() && matches!(c, '0'..='9' | '*' | '#' | 'A'..='D')).then_some(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(content_type: &str, body: &str) -> Request {
        let text = format!(
            "INFO sip:callgate@127.0.0.1:5070 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1\r\n\
             From: <sip:pbx@127.0.0.1>;tag=a\r\nTo: <sip:callgate@127.0.0.1>;tag=b\r\n\
             Call-ID: c1\r\nCSeq: 3 INFO\r\nContent-Type: {content_type}\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        Request::try_from(text.as_bytes()).unwrap()
    }

    #[test]
    fn dtmf_relay_gives_the_key_and_its_duration() {
        let r = info("application/dtmf-relay", "Signal=5\r\nDuration=250\r\n");
        assert_eq!(digit(&r), Some(('5', Duration::from_millis(250))));
        let r = info("Application/DTMF-Relay", "Signal= #\nDuration= 100");
        assert_eq!(digit(&r), Some(('#', Duration::from_millis(100))));
        let r = info("application/dtmf-relay", "Signal=11\r\n");
        assert_eq!(
            digit(&r),
            Some(('#', DEFAULT_DURATION)),
            "event number, no duration"
        );
        let r = info("application/dtmf-relay", "Signal=1\r\nDuration=999999\r\n");
        assert_eq!(digit(&r), Some(('1', MAX_DURATION)), "clamped");
    }

    #[test]
    fn bare_dtmf_body_is_the_key() {
        let r = info("application/dtmf", "9\r\n");
        assert_eq!(digit(&r), Some(('9', DEFAULT_DURATION)));
    }

    #[test]
    fn other_info_bodies_carry_no_digit() {
        assert_eq!(digit(&info("application/dtmf-relay", "Signal=x\r\n")), None);
        assert_eq!(
            digit(&info("application/dtmf-relay", "Duration=100\r\n")),
            None
        );
        assert_eq!(digit(&info("application/media_control+xml", "<x/>")), None);
        assert_eq!(digit(&info("application/dtmf", "55")), None);
    }
}
