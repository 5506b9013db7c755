//! callgate-sip: the sans-IO SIP core of callgate.
//!
//! Message types come from [`rsip`] 0.4; on top of them this crate owns what a SIP user agent
//! needs, without sockets and without a clock (every time-dependent call takes an `Instant`),
//! so a call task can own its SIP state and tests can drive it on virtual time:
//!
//! | module | owns |
//! |---|---|
//! | [`message`] | lenient parsing (Meta's quirks: LF line ends, duplicated `Content-Length`, missing blank line), header helpers (Via branch, tags, CSeq, Call-ID, Contact, Record-Route/Route), building requests/responses, branch/tag/Call-ID generation |
//! | [`framing`] | cutting a TCP/TLS byte stream into messages by `Content-Length`, CRLF keep-alives |
//! | [`transaction`] | RFC 3261 section 17 client/server, INVITE/non-INVITE transactions, timers A-K (+ RFC 6026 L/M), retransmission over UDP only |
//! | [`dialog`] | RFC 3261 section 12 dialogs as UAC/UAS: route sets kept intact, remote target, CSeq, in-dialog requests, ACK for 2xx, CANCEL |
//! | [`digest`], [`digest_server`] | digest auth client (401/407, MD5/SHA-256, qop=auth) and server (nonces, stale, constant-time verify) |
//! | [`sdp`], [`sdp_negotiation`] | a small SDP model and RFC 3264 offer/answer for the plain RTP/AVP leg |
//!
//! # Run-loop contract (like str0m's `Rtc`)
//!
//! The stateful part is [`transaction::TransactionLayer`]. Its owner:
//!
//! 1. feeds one input: a received datagram or stream frame
//!    ([`TransactionLayer::handle_bytes`](transaction::TransactionLayer::handle_bytes) /
//!    [`handle_message`](transaction::TransactionLayer::handle_message)), a request or response
//!    to send ([`send_request`](transaction::TransactionLayer::send_request),
//!    [`send_response`](transaction::TransactionLayer::send_response),
//!    [`send_stateless`](transaction::TransactionLayer::send_stateless) for the ACK of a 2xx),
//!    a send failure ([`handle_transport_error`](transaction::TransactionLayer::handle_transport_error)),
//!    or the passing of time ([`handle_timeout`](transaction::TransactionLayer::handle_timeout));
//! 2. drains [`poll_output`](transaction::TransactionLayer::poll_output) until it returns `None`,
//!    writing every [`Transmit`](transaction::Transmit) to the network and acting on every
//!    [`TransactionEvent`](transaction::TransactionEvent) (typically with a [`dialog::Dialog`]);
//! 3. waits for the next input or until
//!    [`poll_timeout`](transaction::TransactionLayer::poll_timeout), whichever comes first,
//!    then goes back to 1 (calling `handle_timeout(now)` when the deadline passed).
//!
//! [`dialog::Dialog`], the digest types and the SDP functions are plain values and functions:
//! they build messages that the owner then passes to the transaction layer.
//!
//! # Meta's SIP mode
//!
//! Record-Route entries are carried as the exact strings received, never re-rendered, so
//! Meta's `wa.meta.vc` / `onevc-sip-proxy.fbinfra.net:8191` entries survive in our 200 OK and in
//! the Route set of our BYE. An INVITE server transaction whose 2xx is never ACKed reports
//! [`transaction::TimeoutKind::NoAck`] after 64*T1 (32 s), the failure Meta's guide describes.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub use rsip;

pub mod dialog;
pub mod digest;
pub mod digest_server;
pub mod framing;
pub mod message;
pub mod sdp;
pub mod sdp_negotiation;
pub mod transaction;
