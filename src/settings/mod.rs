//! The number's calling settings at Meta (`/{PNID}/settings`), kept in one place: what callgate
//! wants there ([`desired`]: `[numbers.calling]` plus the business hours in force), how that
//! differs from what Meta has ([`diff`]), the `callgate settings pull|diff|push` commands
//! ([`cli`]), and the gateway's view of Meta's settings, updated by the `account_settings_update`
//! webhook, with drift reported in logs and the `callgate_settings_drift` metric ([`watch`]).
//!
//! Only the keys callgate manages are compared and pushed: `status`, `call_icon_visibility`,
//! `callback_permission_status` (each when set in `[numbers.calling]`) and `call_hours` (when the
//! number has hours). SIP settings (`sip`, `srtp_key_exchange_protocol`) are left alone: callgate
//! has no SIP-mode configuration yet. A push sends `call_hours` whole, as Meta replaces it whole.

pub mod cli;
pub mod diff;
pub mod watch;

pub use diff::{Difference, Missing, diff};
pub use watch::SettingsWatch;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::policy::hours::CallHours;

/// `[numbers.calling]`: calling settings callgate keeps at Meta. Keys left out are not managed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallingSettings {
    /// `ENABLED` or `DISABLED`: calling (and the call icon) on or off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// `DEFAULT` (icon shown), `DISABLE_ALL` (hidden with external entry points) or `HIDE_IN_CHAT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_icon_visibility: Option<String>,
    /// `ENABLED` or `DISABLED`: offer users a callback permission when they call outside hours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_permission_status: Option<String>,
}

const ON_OFF: &[&str] = &["ENABLED", "DISABLED"];
const ICON: &[&str] = &["DEFAULT", "DISABLE_ALL", "HIDE_IN_CHAT"];

impl CallingSettings {
    /// The keys whose values Meta would refuse, with what to write instead.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        for (key, value, allowed) in [
            ("status", &self.status, ON_OFF),
            ("call_icon_visibility", &self.call_icon_visibility, ICON),
            (
                "callback_permission_status",
                &self.callback_permission_status,
                ON_OFF,
            ),
        ] {
            if let Some(v) = value
                && !allowed.contains(&v.as_str())
            {
                out.push((
                    key,
                    format!("{v:?} is invalid: use {}", allowed.join(" or ")),
                ));
            }
        }
        out
    }
}

/// The `calling` object callgate wants at Meta for a number: the managed keys only.
pub fn desired(calling: Option<&CallingSettings>, hours: Option<&CallHours>) -> Map<String, Value> {
    let mut out = match calling.map(serde_json::to_value) {
        Some(Ok(Value::Object(m))) => m,
        _ => Map::new(),
    };
    if let Some(h) = hours {
        out.insert("call_hours".into(), hours_json(h));
    }
    out
}

/// `call_hours` as Meta takes it: lists always present (an omitted `holiday_schedule` deletes
/// Meta's, so an empty one says the same explicitly).
pub fn hours_json(h: &CallHours) -> Value {
    serde_json::to_value(h).unwrap_or(Value::Null)
}
