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
pub mod record;
mod registry;
mod route;
mod teardown;
mod uic;

#[cfg(test)]
mod tests;

pub use action::{Action, GraphRequest, PbxRing, Step};
pub use bic::{BicOrigin, BusinessCallParams, sip_status_for_meta_error};
pub use config::{CallConfig, ConfigError};
pub use driver::DriverDeps;
pub use input::{
    GraphFailure, GraphRequestKind, GraphSuccess, Input, MetaCallStatus, PbxFailure,
    TerminateStatus,
};
pub use machine::{Call, CallState};
pub use outcome::{Direction, EndReason, Outcome, Side, billing_pulses, whole_seconds};
pub use registry::Registry;
pub use route::{PbxRoute, fails_over};
pub use uic::UserCallParams;
