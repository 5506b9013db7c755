//! The business-hours check of business-initiated calls: outside the number's hours they are
//! refused by default (`business_calls_after_hours = "refuse"`), with the reason and the next
//! opening time, which the BIC flows turn into HTTP 409 (REST API) or SIP 480 with `Retry-After`.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::Policy;
use super::numbers::local_time;

/// `business_calls_after_hours`: what a business-initiated call outside hours gets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BusinessCallsAfterHours {
    /// Refused with the next opening time (the default).
    #[default]
    Refuse,
    /// Placed anyway (hours only shape what WhatsApp users see and can do).
    Allow,
}

/// The hours verdict for a business-initiated call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusinessHoursDecision {
    /// Whether the call may be placed as far as business hours go.
    pub allowed: bool,
    /// Why, in words.
    pub reason: String,
    /// When refused: when the number opens next (`None`: unknown or never).
    pub next_open: Option<Timestamp>,
}

impl BusinessHoursDecision {
    /// HTTP status for the REST API when refused.
    pub const HTTP_STATUS: u16 = 409;
    /// SIP status for a SIP phone's INVITE when refused (480 Temporarily Unavailable).
    pub const SIP_STATUS: u16 = 480;

    /// Seconds until the next opening, rounded up, for `Retry-After` (when refused and known).
    pub fn retry_after_secs(&self, now: Timestamp) -> Option<u64> {
        if self.allowed {
            return None;
        }
        let wait = self.next_open?.duration_since(now);
        let secs = wait.as_secs() + i64::from(wait.subsec_nanos() > 0);
        Some(secs.max(0) as u64)
    }
}

impl Policy {
    /// Whether a business-initiated call from number `id` may be placed at `at` as far as its
    /// business hours go (call permissions are checked elsewhere).
    pub fn business_hours(&self, id: &str, at: Timestamp) -> BusinessHoursDecision {
        let refuse = |reason: String, next_open| BusinessHoursDecision {
            allowed: false,
            reason,
            next_open,
        };
        let Some(n) = self.find(id) else {
            return refuse(format!("business number {id} is not in [[numbers]]"), None);
        };
        let Some((Some(schedule), _)) = self.hours(id) else {
            return BusinessHoursDecision {
                allowed: true,
                reason: "no business hours configured".into(),
                next_open: None,
            };
        };
        let state = schedule.state_at(at);
        if state.open {
            return BusinessHoursDecision {
                allowed: true,
                reason: format!("within business hours ({})", state.why),
                next_open: None,
            };
        }
        if n.business_calls == BusinessCallsAfterHours::Allow {
            return BusinessHoursDecision {
                allowed: true,
                reason: format!(
                    "outside business hours ({}), allowed by business_calls_after_hours = \"allow\"",
                    state.why
                ),
                next_open: None,
            };
        }
        let next_open = schedule.next_open(at);
        let when = next_open.map_or_else(
            || "no opening time is known".to_string(),
            |t| format!("opens {}", local_time(&schedule, t)),
        );
        refuse(
            format!(
                "outside business hours ({}); {when}; set business_calls_after_hours = \"allow\" \
                 on the number to call anyway",
                state.why
            ),
            next_open,
        )
    }
}
