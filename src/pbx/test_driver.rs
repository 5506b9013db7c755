//! Unit-test driver shared by the sans-IO SIP legs' tests ([`PbxLeg`], [`InboundLeg`]): feeds
//! one peer's messages and the virtual clock to a leg, keeps everything it sent and collects
//! its events.

use std::time::{Duration, Instant};

use callgate_sip::message::{self, raw_header};
use callgate_sip::rsip::{Method, Request, SipMessage};
use callgate_sip::transaction::{Peer, Transmit};

use super::{InboundLeg, Incoming, PbxEvent, PbxLeg};

/// What the driver needs of a leg.
pub(super) trait SansIoLeg {
    fn handle(&mut self, now: Instant, incoming: Incoming) -> Vec<Transmit>;
    fn handle_timeout(&mut self, now: Instant) -> Vec<Transmit>;
    fn poll_event(&mut self) -> Option<PbxEvent>;
}

/// Both legs offer the driver's needs under the same names.
macro_rules! sans_io_leg {
    ($leg:ty) => {
        impl SansIoLeg for $leg {
            fn handle(&mut self, now: Instant, incoming: Incoming) -> Vec<Transmit> {
                <$leg>::handle(self, now, incoming)
            }
            fn handle_timeout(&mut self, now: Instant) -> Vec<Transmit> {
                <$leg>::handle_timeout(self, now)
            }
            fn poll_event(&mut self) -> Option<PbxEvent> {
                <$leg>::poll_event(self)
            }
        }
    };
}

sans_io_leg!(PbxLeg);
sans_io_leg!(InboundLeg);

/// Where a request from the peer goes and the dialog it belongs to (header values).
pub(super) struct Dialog<'a> {
    pub uri: &'a str,
    pub from: &'a str,
    pub to: &'a str,
    pub call_id: &'a str,
    pub contact: &'a str,
}

/// A leg on virtual time, talking to `peer`.
pub(super) struct Driver<L> {
    pub leg: L,
    pub now: Instant,
    /// Everything the leg sent, in order.
    pub sent: Vec<Transmit>,
    pub peer: Peer,
}

impl<L: SansIoLeg> Driver<L> {
    /// A message from the peer; returns what the leg sent in reply.
    pub fn feed(&mut self, msg: impl Into<SipMessage>) -> Vec<Transmit> {
        let out = self.leg.handle(
            self.now,
            Incoming {
                message: msg.into(),
                from: self.peer,
            },
        );
        self.sent.extend(out.clone());
        out
    }

    /// Moves the clock on by `d` and runs the leg's timers; returns what it sent.
    pub fn advance(&mut self, d: Duration) -> Vec<Transmit> {
        self.now += d;
        let out = self.leg.handle_timeout(self.now);
        self.sent.extend(out.clone());
        out
    }

    /// The leg's events so far.
    pub fn events(&mut self) -> Vec<PbxEvent> {
        std::iter::from_fn(|| self.leg.poll_event()).collect()
    }
}

/// A request from `peer` in `dialog` (Via: the peer's address), with `sdp` as its body.
pub(super) fn request_from(
    peer: &Peer,
    method: Method,
    cseq: u32,
    dialog: &Dialog<'_>,
    sdp: Option<&str>,
) -> Request {
    let via = format!("SIP/2.0/UDP {};branch={}", peer.addr, message::new_branch());
    let headers = vec![
        raw_header("Via", via),
        raw_header("From", dialog.from),
        raw_header("To", dialog.to),
        raw_header("Call-ID", dialog.call_id),
        raw_header("CSeq", format!("{cseq} {method}")),
        raw_header("Contact", dialog.contact),
        raw_header("Max-Forwards", "70"),
    ];
    let uri = message::parse_uri(dialog.uri).expect("a test URI");
    let mut req = message::build_request(method, uri, headers, Vec::new());
    if let Some(b) = sdp {
        message::set_body(&mut req, "application/sdp", b.as_bytes().to_vec());
    }
    req
}

/// The request methods and response codes of `ts`, in order (`["INVITE"]`, `["100", "200"]`).
pub(super) fn methods(ts: &[Transmit]) -> Vec<String> {
    ts.iter()
        .map(|t| match &t.message {
            SipMessage::Request(r) => r.method.to_string(),
            SipMessage::Response(r) => r.status_code.code().to_string(),
        })
        .collect()
}
