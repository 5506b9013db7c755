//! Policy: whether a call may proceed, always with a reason an operator can read.
//!
//! Today it answers one question for user-initiated calls: is the called number served here, and
//! is there a PBX route to ring? Business hours, call permissions and routing rules build on it.

pub mod hours;

use crate::call::UserCallParams;
use crate::config::Config;
use std::collections::HashSet;

/// A decision with its explanation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Whether the call may proceed.
    pub allowed: bool,
    /// Why, in words.
    pub reason: String,
    /// Where to ring (a SIP URI) when the call is allowed and goes to the PBX.
    pub route: Option<String>,
}

impl Decision {
    fn allow(reason: impl Into<String>) -> Self {
        Self {
            allowed: true,
            reason: reason.into(),
            route: None,
        }
    }

    fn deny(reason: impl Into<String>) -> Self {
        Self {
            allowed: false,
            reason: reason.into(),
            route: None,
        }
    }
}

/// The rules calls are checked against.
#[derive(Debug, Clone)]
pub struct Policy {
    numbers: HashSet<String>,
    pbx_route: Option<String>,
}

impl Policy {
    /// The policy of a configuration.
    pub fn from_config(cfg: &Config) -> Self {
        Self {
            numbers: cfg
                .numbers
                .iter()
                .map(|n| n.phone_number_id.clone())
                .collect(),
            pbx_route: cfg.routing.default.clone(),
        }
    }

    /// Whether a WhatsApp user's call may be answered and bridged.
    pub fn user_call(&self, call: &UserCallParams) -> Decision {
        if !self.numbers.contains(&call.phone_number_id) {
            return Decision::deny(format!(
                "business number {} is not in [[numbers]]: callgate does not serve it",
                call.phone_number_id
            ));
        }
        match &self.pbx_route {
            Some(target) => Decision {
                route: Some(target.clone()),
                ..Decision::allow(format!("routed to {target}"))
            },
            None => Decision::deny("no PBX route is configured, so there is nobody to ring"),
        }
    }

    /// Whether a business-initiated call may be placed.
    pub fn business_call(&self, phone_number_id: &str) -> Decision {
        if !self.numbers.contains(phone_number_id) {
            return Decision::deny(format!(
                "business number {phone_number_id} is not in [[numbers]]"
            ));
        }
        Decision::deny("business-initiated calls need the call-permission engine, not yet enabled")
    }
}
