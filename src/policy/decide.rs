//! The decision for a user-initiated call, with the trace an operator can check
//! ([`Explanation`]): is the number served, is it open, which rule matched, and otherwise the
//! default route (open) or the number's after-hours action (closed).

use std::time::Duration;

use jiff::Timestamp;

use super::hours::OpenState;
use super::numbers::{AfterHours, local_time};
use super::routing::{CallFacts, first_match};
use super::{Decision, Policy};
use crate::call::{PbxRoute, UserCallParams};

/// A decision and the lines that explain it, in evaluation order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    /// What the call gets.
    pub decision: Decision,
    /// The hours verdict, every rule's verdict, and the outcome.
    pub lines: Vec<String>,
}

impl Policy {
    /// Decides a user-initiated call as if it arrived at `at`, keeping the trace.
    pub fn explain_user_call(&self, call: &UserCallParams, at: Timestamp) -> Explanation {
        let mut lines = Vec::new();
        let Some(n) = self.find(&call.phone_number_id) else {
            let decision = Decision::deny(format!(
                "business number {} is not in [[numbers]]: callgate does not serve it",
                call.phone_number_id
            ));
            lines.push(decision.reason.clone());
            return Explanation { decision, lines };
        };
        let (schedule, source) = self
            .hours(&n.phone_number_id)
            .unwrap_or((None, super::HoursSource::None));
        let mut state = OpenState {
            open: true,
            why: "open: no business hours configured".into(),
        };
        let mut next_open = String::new();
        if let Some(s) = &schedule {
            state = s.state_at(at);
            lines.push(format!("hours ({source}): {}", state.why));
            match s.next_change(at) {
                Some(t) if !state.open => {
                    next_open = format!("; opens {}", local_time(s, t));
                    lines.push(format!("opens {}", local_time(s, t)));
                }
                Some(t) => lines.push(format!("closes {}", local_time(s, t))),
                None => {}
            }
        } else {
            lines.push(format!("hours: {}", state.why));
        }

        let facts = CallFacts {
            phone_number_id: &n.phone_number_id,
            display_number: &n.display_number,
            from: call.from.as_deref(),
            cta_payload: call.cta_payload.as_deref(),
            deeplink_payload: call.deeplink_payload.as_deref(),
            open: state.open,
        };
        let (found, trace) = first_match(&self.inner.rules, &facts);
        for v in &trace {
            let verdict = if v.matched { "matches" } else { "skipped" };
            lines.push(format!("{}: {verdict}: {}", v.rule, v.why));
        }

        let decision = match found {
            Some((i, rule)) => {
                let route = PbxRoute {
                    targets: rule.targets.clone(),
                    ring_timeout: rule.ring_timeout_s.map(Duration::from_secs),
                };
                let why = &trace[trace.len() - 1].why;
                let reason = format!(
                    "{}; {} ({why}): ring {}",
                    state.why,
                    rule.label(i),
                    rule.targets.join(", then ")
                );
                routed(reason, route)
            }
            None if state.open => match &self.inner.default_route {
                Some(target) => {
                    let reason = if trace.is_empty() {
                        format!("{}; routed to {target}", state.why)
                    } else {
                        format!("{}; no rule matched: [routing] default {target}", state.why)
                    };
                    routed(reason, PbxRoute::single(target.clone()))
                }
                None => Decision::deny("no PBX route is configured, so there is nobody to ring"),
            },
            None => match &n.after_hours {
                AfterHours::Reject => Decision::deny(format!(
                    "outside business hours ({}){next_open}; after_hours = \"reject\"",
                    state.why
                )),
                AfterHours::Route(target) => routed(
                    format!(
                        "outside business hours ({}): after-hours target {target}",
                        state.why
                    ),
                    PbxRoute::single(target.clone()),
                ),
            },
        };
        lines.push(format!("reason: {}", decision.reason));
        lines.push(match (&decision.allowed, &decision.route) {
            (true, Some(route)) => format!(
                "decision: ring {} ({})",
                route.targets.join(", then "),
                match route.ring_timeout {
                    Some(t) => format!("{} s each", t.as_secs()),
                    None => "for [calls] pbx_ring_timeout_s".into(),
                }
            ),
            _ => "decision: reject".into(),
        });
        Explanation { decision, lines }
    }
}

fn routed(reason: String, route: PbxRoute) -> Decision {
    Decision {
        route: Some(route),
        ..Decision::allow(reason)
    }
}
