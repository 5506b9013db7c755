//! The per-call state machine, sans-IO: one [`Call`] per WhatsApp call, fed [`Input`]s with the
//! current time and answering with [`Action`]s, for user-initiated calls (Meta offers, the PBX
//! answers) and business-initiated calls (we offer, the WhatsApp user answers). See [`Call`] for
//! the run-loop contract a driver must follow.

mod action;
mod bic;
mod config;
mod driver;
mod input;
pub mod legs;
mod machine;
mod outcome;
pub mod phone_calls;
pub mod record;
mod registry;
mod route;
mod teardown;
mod uic;

#[cfg(test)]
mod tests;

pub use action::{Action, GraphRequest, PbxRing, RingbackTo, Step};
pub use bic::{AgentBridge, BicOrigin, BridgeMode, BusinessCallParams, sip_status_for_meta_error};
pub use config::{CallConfig, ConfigError};
pub use driver::DriverDeps;
pub use input::{
    GraphFailure, GraphRequestKind, GraphSuccess, Input, MetaCallStatus, PbxFailure,
    TerminateStatus,
};
pub use machine::{Call, CallState};
pub use outcome::{Direction, EndReason, Outcome, Side, billing_pulses, whole_seconds};
pub use registry::{BusinessCallHint, Registry};
pub use route::{PbxRoute, fails_over};
pub use uic::UserCallParams;

/// Digits of a phone number in international form written with or without `+`, spaces,
/// dashes, dots or brackets (`+1 (631) 555-3602` -> `16315553602`); `None` if it is not one.
pub fn wa_number(s: &str) -> Option<String> {
    let digits: String = s
        .trim()
        .trim_start_matches('+')
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.'))
        .collect();
    (digits.len() >= 6 && digits.len() <= 15 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then_some(digits)
}
