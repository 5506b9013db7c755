//! Where a user-initiated call rings ([`PbxRoute`]: the PBX targets the policy chose, in order)
//! and which failures move the call on to the next target ([`fails_over`]).

use std::time::Duration;

use super::input::PbxFailure;

/// The SIP targets of a call, rung one after the other.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PbxRoute {
    /// SIP URIs in the order they are rung. Empty: the legs ring the route they were given
    /// (`Legs::set_route`).
    pub targets: Vec<String>,
    /// How long each target may ring before the next is tried (or the call is rejected);
    /// `None`: [`CallConfig::pbx_ring_timeout`](super::CallConfig::pbx_ring_timeout).
    pub ring_timeout: Option<Duration>,
}

impl PbxRoute {
    /// One target with the default ring timeout.
    pub fn single(target: impl Into<String>) -> Self {
        PbxRoute {
            targets: vec![target.into()],
            ring_timeout: None,
        }
    }
}

/// Whether a target that failed this way is given up for the next one: a server error (5xx),
/// no answer (408/480 or the ring timeout) or no response at all. Busy, decline and not-found
/// are answers from the PBX about this call, so they end it.
pub fn fails_over(failure: PbxFailure) -> bool {
    matches!(
        failure,
        PbxFailure::ServerError(_) | PbxFailure::Timeout | PbxFailure::Unreachable
    )
}
