//! Stream framing for SIP over TCP/TLS (RFC 3261 18.3): cuts a byte stream into whole
//! messages using `Content-Length`, and recognises RFC 5626 CRLF keep-alives.

use crate::message::find_blank_line;

/// Why the stream could not be framed; the connection should be closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FramingError {
    /// The header section grew past the limit without an end.
    #[error(
        "SIP header section exceeds {0} bytes on a stream; close the connection (peer sends garbage)"
    )]
    HeadersTooLong(usize),
    /// `Content-Length` is missing a number or is larger than the limit.
    #[error("SIP stream message has an invalid Content-Length {0:?}; close the connection")]
    BadContentLength(String),
    /// Two `Content-Length` headers disagree, so the message end is ambiguous.
    #[error(
        "SIP stream message has conflicting Content-Length values {0} and {1}; close the connection"
    )]
    ConflictingContentLength(usize, usize),
}

/// One item cut from the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A complete SIP message (headers and body); parse it with [`crate::message::parse_message`].
    Message(Vec<u8>),
    /// A double-CRLF keep-alive ping (RFC 5626 3.5.1): answer with a single CRLF.
    KeepAlive,
}

/// Accumulates stream bytes and yields complete frames.
#[derive(Debug)]
pub struct StreamFramer {
    buf: Vec<u8>,
    max_message: usize,
}

impl Default for StreamFramer {
    fn default() -> Self {
        Self::new(64 * 1024)
    }
}

impl StreamFramer {
    /// A framer refusing messages larger than `max_message` bytes.
    pub fn new(max_message: usize) -> Self {
        Self {
            buf: Vec::new(),
            max_message,
        }
    }

    /// Appends bytes read from the connection.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes held but not yet framed.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next complete frame, `Ok(None)` when more bytes are needed. After an error the
    /// buffer is cleared; the caller should close the connection.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FramingError> {
        let res = self.cut();
        if res.is_err() {
            self.buf.clear();
        }
        res
    }

    fn cut(&mut self) -> Result<Option<Frame>, FramingError> {
        // Leading CR/LF: a keep-alive when it is a full CRLFCRLF, otherwise noise to skip.
        let ws = self
            .buf
            .iter()
            .take_while(|b| **b == b'\r' || **b == b'\n')
            .count();
        if ws > 0 {
            if self.buf.starts_with(b"\r\n\r\n") {
                self.buf.drain(..4);
                return Ok(Some(Frame::KeepAlive));
            }
            if ws == self.buf.len() && ws < 4 {
                return Ok(None);
            }
            self.buf.drain(..ws);
        }
        let Some((head_end, body_start)) = find_blank_line(&self.buf) else {
            if self.buf.len() > self.max_message {
                return Err(FramingError::HeadersTooLong(self.max_message));
            }
            return Ok(None);
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]);
        let mut length: Option<usize> = None;
        for line in head.split('\n') {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let name = name.trim();
            if !(name.eq_ignore_ascii_case("Content-Length") || name.eq_ignore_ascii_case("l")) {
                continue;
            }
            let value = value.trim();
            let n: usize = value
                .parse()
                .ok()
                .filter(|n| *n <= self.max_message)
                .ok_or_else(|| FramingError::BadContentLength(value.chars().take(20).collect()))?;
            match length {
                Some(prev) if prev != n => {
                    return Err(FramingError::ConflictingContentLength(prev, n));
                }
                _ => length = Some(n),
            }
        }
        // RFC 3261 18.3 requires Content-Length on streams; without one assume no body.
        let total = body_start + length.unwrap_or(0);
        if self.buf.len() < total {
            return Ok(None);
        }
        let frame: Vec<u8> = self.buf.drain(..total).collect();
        Ok(Some(Frame::Message(frame)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{call_id, parse_message};

    const A: &[u8] = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nCall-ID: one\r\nCSeq: 1 OPTIONS\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nContent-Length: 5\r\n\r\nhello";
    const B: &[u8] = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nCall-ID: two\r\nCSeq: 1 OPTIONS\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>;tag=2\r\nContent-Length: 0\r\n\r\n";

    fn message(f: Option<Frame>) -> Vec<u8> {
        match f {
            Some(Frame::Message(m)) => m,
            other => panic!("expected a message, got {other:?}"),
        }
    }

    #[test]
    fn two_messages_in_one_read_are_cut_apart() {
        let mut fr = StreamFramer::default();
        fr.push(&[A, B].concat());
        let a = parse_message(&message(fr.next_frame().unwrap())).unwrap();
        let b = parse_message(&message(fr.next_frame().unwrap())).unwrap();
        assert_eq!(call_id(&a).unwrap(), "one");
        assert_eq!(a.body().as_slice(), b"hello");
        assert_eq!(call_id(&b).unwrap(), "two");
        assert_eq!(fr.next_frame().unwrap(), None);
        assert_eq!(fr.buffered(), 0);
    }

    #[test]
    fn message_split_across_reads_waits_for_the_body() {
        let mut fr = StreamFramer::default();
        for chunk in A.chunks(9) {
            let got = fr.next_frame().unwrap();
            assert_eq!(got, None);
            fr.push(chunk);
        }
        assert_eq!(message(fr.next_frame().unwrap()), A);
    }

    #[test]
    fn crlf_keepalive_is_reported() {
        let mut fr = StreamFramer::default();
        fr.push(b"\r\n\r\n");
        fr.push(B);
        assert_eq!(fr.next_frame().unwrap(), Some(Frame::KeepAlive));
        assert_eq!(message(fr.next_frame().unwrap()), B);
    }

    #[test]
    fn conflicting_content_lengths_are_an_error_and_clear_the_buffer() {
        let mut fr = StreamFramer::default();
        fr.push(b"SIP/2.0 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab");
        assert_eq!(
            fr.next_frame(),
            Err(FramingError::ConflictingContentLength(1, 2))
        );
        assert_eq!(fr.buffered(), 0);
    }

    #[test]
    fn identical_duplicate_content_length_like_meta_is_accepted() {
        let mut fr = StreamFramer::default();
        fr.push(b"SIP/2.0 200 OK\r\nContent-Length: 2\r\nContent-Length:  2\r\n\r\nab");
        assert!(matches!(fr.next_frame(), Ok(Some(Frame::Message(_)))));
    }

    #[test]
    fn endless_headers_hit_the_limit() {
        let mut fr = StreamFramer::new(100);
        fr.push(&[b'a'; 200]);
        assert_eq!(fr.next_frame(), Err(FramingError::HeadersTooLong(100)));
    }

    #[test]
    fn huge_content_length_is_refused() {
        let mut fr = StreamFramer::new(1000);
        fr.push(b"SIP/2.0 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n");
        assert!(matches!(
            fr.next_frame(),
            Err(FramingError::BadContentLength(_))
        ));
    }
}
