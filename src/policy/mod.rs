//! Policy: whether a call may proceed and where it rings, always with a reason an operator can
//! read.
//!
//! - [`hours`]: business hours per number in Meta's `call_hours` shape, validated by Meta's rules.
//!   A number's hours come from `[numbers.hours]`, or from the operator API (stored in the call
//!   store, they then win over the file until deleted) and change without a restart.
//! - [`routing`]: ordered rules choosing the PBX target(s) of a user's call.
//! - [`Policy::user_call`] combines them for a user-initiated call (the order is in
//!   `docs/hours-and-routing.md`), [`Policy::explain_user_call`] gives the whole trace
//!   (`callgate route`), [`Policy::business_hours`] is the hours check of business-initiated calls.
//!
//! [`Policy`] is a cheap-to-clone handle: the per-number hours sit behind one `RwLock` read on
//! every decision and written only when an operator replaces them.

pub mod permission_service;
pub mod permissions;

mod business;
mod config_check;
mod decide;
pub mod dry_run;
pub mod hours;
mod numbers;
pub mod routing;
#[cfg(test)]
mod tests;

pub use business::{BusinessCallsAfterHours, BusinessHoursDecision};
pub(crate) use config_check::config_problems;
pub use decide::Explanation;
pub use numbers::{AfterHours, HoursSource, NumberStatus};

use crate::call::{Input, PbxRoute, UserCallParams};
use crate::config::Config;
use hours::Schedule;
use numbers::NumberPolicy;
use routing::RoutingRule;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// A decision with its explanation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Whether the call may proceed.
    pub allowed: bool,
    /// Why, in words.
    pub reason: String,
    /// Where to ring when the call is allowed and goes to the PBX.
    pub route: Option<PbxRoute>,
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

    /// The answer the call machine expects: [`Input::Routed`] when allowed with a route,
    /// otherwise [`Input::PolicyDecision`].
    pub fn into_input(self) -> Input {
        match self.route {
            Some(route) if self.allowed => Input::Routed {
                reason: self.reason,
                route,
            },
            _ => Input::PolicyDecision {
                allowed: self.allowed,
                reason: self.reason,
            },
        }
    }
}

/// The rules calls are checked against. Cheap to clone; clones share the live hours.
#[derive(Debug, Clone)]
pub struct Policy {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    numbers: Vec<NumberPolicy>,
    rules: Vec<RoutingRule>,
    default_route: Option<String>,
    /// Hours set through the operator API, by phone number id (they win over the file).
    api_hours: RwLock<HashMap<String, Schedule>>,
}

impl Policy {
    /// The policy of a configuration. Hours that do not validate (only possible for a
    /// configuration built in code: loading checks them) are logged and ignored.
    pub fn from_config(cfg: &Config) -> Self {
        Self {
            inner: Arc::new(Inner {
                numbers: cfg.numbers.iter().map(NumberPolicy::from_config).collect(),
                rules: cfg.routing.rules.clone(),
                default_route: cfg.routing.default.clone(),
                api_hours: RwLock::new(HashMap::new()),
            }),
        }
    }

    /// Whether a WhatsApp user's call may be answered and bridged, and where it rings, now.
    pub fn user_call(&self, call: &UserCallParams) -> Decision {
        self.explain_user_call(call, jiff::Timestamp::now())
            .decision
    }

    /// Whether a business-initiated call may be placed.
    pub fn business_call(&self, phone_number_id: &str) -> Decision {
        if self.find(phone_number_id).is_none() {
            return Decision::deny(format!(
                "business number {phone_number_id} is not in [[numbers]]"
            ));
        }
        Decision::allow(format!(
            "business number {phone_number_id} is served; the user's call permission decides"
        ))
    }

    /// The number whose `phone_number_id` or display number is `id`.
    fn find(&self, id: &str) -> Option<&NumberPolicy> {
        let id = id.trim_start_matches('+');
        self.inner
            .numbers
            .iter()
            .find(|n| n.phone_number_id == id || n.display_number == id)
    }

    /// The `phone_number_id` of the number whose id or display number is `id`.
    pub fn phone_number_id(&self, id: &str) -> Option<&str> {
        self.find(id).map(|n| n.phone_number_id.as_str())
    }

    /// The phone number ids this policy serves, in configuration order.
    pub fn phone_number_ids(&self) -> impl Iterator<Item = &str> {
        self.inner
            .numbers
            .iter()
            .map(|n| n.phone_number_id.as_str())
    }

    /// The hours in force for a number (`None`: always open) and where they come from.
    pub fn hours(&self, id: &str) -> Option<(Option<Schedule>, HoursSource)> {
        let n = self.find(id)?;
        let api = self
            .inner
            .api_hours
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&n.phone_number_id)
            .cloned();
        Some(match (api, &n.config_hours) {
            (Some(s), _) => (Some(s), HoursSource::Api),
            (None, Some(s)) => (Some(s.clone()), HoursSource::Config),
            (None, None) => (None, HoursSource::None),
        })
    }

    /// Replaces a number's hours at run time (operator API); `None` goes back to the file's.
    /// Returns false for a number this policy does not serve.
    pub fn set_api_hours(&self, id: &str, schedule: Option<Schedule>) -> bool {
        let Some(pnid) = self.phone_number_id(id).map(str::to_string) else {
            return false;
        };
        let mut api = self
            .inner
            .api_hours
            .write()
            .unwrap_or_else(|p| p.into_inner());
        match schedule {
            Some(s) => api.insert(pnid, s),
            None => api.remove(&pnid),
        };
        true
    }

    /// The policy a command-line tool sees: [`Self::from_config`] plus the hours stored at
    /// `[store] path` when that database exists (it is never created here).
    pub fn with_stored_hours(cfg: &Config) -> Result<Self, crate::store::StoreError> {
        let policy = Self::from_config(cfg);
        if cfg.store.path.exists() {
            policy.apply_stored_hours(&crate::store::Store::open(&cfg.store.path)?);
        }
        Ok(policy)
    }

    /// Loads the hours the operator API stored (they survive restarts and win over the file).
    /// Unreadable rows are logged and skipped.
    pub fn apply_stored_hours(&self, store: &crate::store::Store) {
        let rows = match store.number_hours() {
            Ok(rows) => rows,
            Err(e) => {
                tracing::error!(error = %e, "cannot read stored business hours; using the file's");
                return;
            }
        };
        for row in rows {
            let parsed = serde_json::from_str::<hours::CallHours>(&row.hours_json)
                .map_err(|e| e.to_string())
                .and_then(|h| h.validate().map_err(|e| e.to_string()));
            match parsed {
                Ok(s) => {
                    if self.set_api_hours(&row.phone_number_id, Some(s)) {
                        tracing::info!(phone_number_id = %row.phone_number_id,
                            "business hours set through the operator API are in force (they win over [numbers.hours]; DELETE them to go back)");
                    } else {
                        tracing::warn!(phone_number_id = %row.phone_number_id,
                            "stored business hours for a number no longer in [[numbers]]: ignored");
                    }
                }
                Err(e) => tracing::error!(phone_number_id = %row.phone_number_id, error = %e,
                    "stored business hours are invalid: ignored"),
            }
        }
    }
}
