//! The PBX targets of a user-initiated call: each rings with fresh deadlines (the route's ring
//! timeout, else the configured one), and a target that failed over ([`fails_over`]) gives way to
//! the next while `pre_accept` and the WhatsApp media leg carry on.
//!
//! [`fails_over`]: crate::call::fails_over

use std::time::{Duration, Instant};

use super::{Answering, PbxLeg, Uic, UicState};
use crate::call::action::{Action, Step};
use crate::call::input::PbxFailure;

impl Uic {
    /// How long each target may ring: the route's own timeout, else the configured one.
    pub(super) fn ring_timeout(&self) -> Duration {
        self.route
            .ring_timeout
            .unwrap_or(self.config.pbx_ring_timeout)
    }

    /// A fresh INVITE's deadlines.
    pub(super) fn trying(&self, now: Instant) -> PbxLeg {
        PbxLeg::Trying {
            setup_deadline: now + self.config.pbx_setup_timeout,
            ring_deadline: now + self.ring_timeout(),
        }
    }

    pub(super) fn has_next_target(&self) -> bool {
        self.target + 1 < self.route.targets.len()
    }

    /// Gives up the current target (already released) and rings the next, with fresh deadlines;
    /// `pre_accept` and the WhatsApp media leg carry on untouched.
    pub(super) fn fail_over(
        &mut self,
        now: Instant,
        mut a: Answering,
        failure: PbxFailure,
        out: &mut Vec<Action>,
    ) -> UicState {
        let from = self.route.targets[self.target].clone();
        self.target += 1;
        let to = self.route.targets[self.target].clone();
        out.push(Action::Record(Step::PbxFailover { from, failure, to }));
        out.push(Action::RingPbx(self.pbx_ring()));
        a.pbx = self.trying(now);
        UicState::Answering(a)
    }
}
