//! callgate-sip: the sans-IO SIP core of callgate (being built).
#![forbid(unsafe_code)]
pub use rsip;
