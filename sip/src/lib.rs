//! callgate-sip: the sans-IO SIP core of callgate (docs completed below).
#![forbid(unsafe_code)]
pub use rsip;

pub mod dialog;
pub mod digest;
pub mod digest_server;
pub mod framing;
pub mod message;
pub mod sdp;
pub mod sdp_negotiation;
pub mod transaction;
