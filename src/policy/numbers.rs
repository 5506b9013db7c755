//! What the policy keeps per business number ([`NumberPolicy`]: hours from the file, the
//! after-hours actions) and the status view of a number at an instant ([`NumberStatus`]).

use std::fmt;

use jiff::Timestamp;
use serde::Serialize;

use super::Policy;
use super::business::BusinessCallsAfterHours;
use super::hours::Schedule;
use crate::config::NumberConfig;

/// What a user's call outside business hours gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterHours {
    /// Rejected at Meta, the reason in the call record (the default).
    Reject,
    /// Rung at this SIP URI (voicemail, an IVR).
    Route(String),
}

impl AfterHours {
    /// From `after_hours` (`"reject"` or a SIP URI; absent: reject).
    pub fn parse(value: Option<&str>) -> Self {
        match value.map(str::trim) {
            None | Some("") => AfterHours::Reject,
            Some(v) if v.eq_ignore_ascii_case("reject") => AfterHours::Reject,
            Some(uri) => AfterHours::Route(uri.to_string()),
        }
    }
}

impl fmt::Display for AfterHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AfterHours::Reject => f.write_str("reject"),
            AfterHours::Route(uri) => write!(f, "route to {uri}"),
        }
    }
}

/// Where a number's hours in force come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HoursSource {
    /// No hours anywhere: open around the clock.
    None,
    /// `[numbers.hours]` in the configuration file.
    Config,
    /// Set through `PUT /v1/numbers/{id}/hours` (stored; wins over the file).
    Api,
}

impl fmt::Display for HoursSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HoursSource::None => "no hours configured",
            HoursSource::Config => "[numbers.hours]",
            HoursSource::Api => "set through the operator API",
        })
    }
}

/// One number as the policy sees it.
#[derive(Debug, Clone)]
pub(super) struct NumberPolicy {
    pub phone_number_id: String,
    pub display_number: String,
    pub config_hours: Option<Schedule>,
    pub after_hours: AfterHours,
    pub business_calls: BusinessCallsAfterHours,
}

impl NumberPolicy {
    pub fn from_config(n: &NumberConfig) -> Self {
        let config_hours = n.hours.as_ref().and_then(|h| match h.validate() {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::error!(phone_number_id = %n.phone_number_id, error = %e,
                    "invalid [numbers.hours] ignored: the number is treated as always open");
                None
            }
        });
        if let Some(h) = &n.hours {
            for past in h.past_holidays(Timestamp::now()) {
                tracing::warn!(phone_number_id = %n.phone_number_id, holiday = %past.describe(),
                    "[numbers.hours] holds a holiday in the past: Meta refuses it, remove it before `callgate settings push`");
            }
        }
        NumberPolicy {
            phone_number_id: n.phone_number_id.clone(),
            display_number: n.display_phone_number.clone(),
            config_hours,
            after_hours: AfterHours::parse(n.after_hours.as_deref()),
            business_calls: n.business_calls_after_hours,
        }
    }
}

/// A number's business-hours status at an instant (`GET /v1/numbers/{id}/status`).
#[derive(Debug, Clone, Serialize)]
pub struct NumberStatus {
    /// Meta's phone number id.
    pub phone_number_id: String,
    /// The number as dialled.
    pub display_phone_number: String,
    /// Whether user calls are taken now.
    pub open: bool,
    /// Why (`"closed: holiday 2026-12-25 0000-2359 (FRIDAY 10:00)"`).
    pub reason: String,
    /// When `open` next changes (RFC 3339 with the number's offset), if ever.
    pub next_change: Option<String>,
    /// Where the hours in force come from.
    pub hours_source: HoursSource,
    /// The hours in force, in Meta's shape (`None`: always open).
    pub hours: Option<super::hours::CallHours>,
    /// What a user's call outside hours gets (`reject` or `route to sip:...`).
    pub after_hours: String,
}

impl Policy {
    /// The status of number `id` (phone number id or display number) at `at`.
    pub fn status(&self, id: &str, at: Timestamp) -> Option<NumberStatus> {
        let n = self.find(id)?;
        let (schedule, source) = self.hours(id)?;
        let (open, reason, next) = match &schedule {
            None => (true, "open: no business hours configured".to_string(), None),
            Some(s) => {
                let st = s.state_at(at);
                (st.open, st.why, s.next_change(at).map(|t| local_time(s, t)))
            }
        };
        Some(NumberStatus {
            phone_number_id: n.phone_number_id.clone(),
            display_phone_number: n.display_number.clone(),
            open,
            reason,
            next_change: next,
            hours_source: source,
            hours: schedule.map(|s| s.hours().clone()),
            after_hours: n.after_hours.to_string(),
        })
    }
}

/// `at` as RFC 3339 with the schedule's UTC offset (`2026-12-28T09:00:00-03:00`).
pub fn local_time(schedule: &Schedule, at: Timestamp) -> String {
    match schedule.time_zone() {
        Some(tz) => at
            .to_zoned(tz.clone())
            .strftime("%Y-%m-%dT%H:%M:%S%:z")
            .to_string(),
        None => at.to_string(),
    }
}
