//! The readable difference between the calling settings callgate wants ([`super::desired`]) and
//! Meta's: one [`Difference`] per differing scalar, and per weekly range or holiday present on
//! one side only (order does not matter, and Meta's integer times read like `"0930"`).

use std::collections::BTreeSet;
use std::fmt;

use serde_json::{Map, Value};

use crate::policy::hours::CallHours;

/// One way Meta's settings differ from callgate's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// The key, e.g. `calling.call_hours.weekly_operating_hours`.
    pub key: String,
    /// Meta's value (`None`: Meta has none / only callgate has this entry).
    pub meta: Option<String>,
    /// callgate's value (`None`: only Meta has this entry).
    pub config: Option<String>,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.meta, &self.config) {
            (Some(m), Some(c)) => write!(f, "{}: Meta has {m}, callgate wants {c}", self.key),
            (None, Some(c)) => write!(f, "{}: + {c} (only in callgate)", self.key),
            (Some(m), None) => write!(f, "{}: - {m} (only at Meta)", self.key),
            (None, None) => write!(f, "{}: differs", self.key),
        }
    }
}

const KEY_ORDER: &[&str] = &[
    "status",
    "call_icon_visibility",
    "callback_permission_status",
    "call_hours",
];

/// How [`diff`] treats a managed key Meta's object does not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// As a difference (a full GET: Meta really has nothing there).
    Differs,
    /// As unknown (a webhook carrying only some keys).
    Unknown,
}

/// The differences between `desired` (callgate's `calling` object) and `meta` (Meta's).
pub fn diff(desired: &Map<String, Value>, meta: &Value, missing: Missing) -> Vec<Difference> {
    let mut out = Vec::new();
    // Scalars first, in Meta's order, then `call_hours`.
    let rank = |k: &str| {
        KEY_ORDER
            .iter()
            .position(|o| *o == k)
            .unwrap_or(KEY_ORDER.len())
    };
    let mut keys: Vec<(&String, &Value)> = desired.iter().collect();
    keys.sort_by_key(|(k, _)| rank(k));
    for (key, want) in keys {
        let have = meta.get(key).filter(|v| !v.is_null());
        if have.is_none() && missing == Missing::Unknown {
            continue;
        }
        if key == "call_hours" {
            hours_diff(want, have, &mut out);
        } else if have != Some(want) {
            out.push(Difference {
                key: format!("calling.{key}"),
                meta: have.map(Value::to_string),
                config: Some(want.to_string()),
            });
        }
    }
    out
}

fn hours_diff(want: &Value, have: Option<&Value>, out: &mut Vec<Difference>) {
    let Ok(want) = serde_json::from_value::<CallHours>(want.clone()) else {
        return;
    };
    let have = match have.map(|h| serde_json::from_value::<CallHours>(h.clone())) {
        None => {
            out.push(Difference {
                key: "calling.call_hours".into(),
                meta: None,
                config: Some(summary(&want)),
            });
            return;
        }
        Some(Err(e)) => {
            out.push(Difference {
                key: "calling.call_hours".into(),
                meta: Some(format!("unreadable ({e})")),
                config: Some(summary(&want)),
            });
            return;
        }
        Some(Ok(h)) => h,
    };
    let quote = |v: &Option<String>| v.as_ref().map(|s| format!("{s:?}"));
    for (key, m, c) in [
        (
            "status",
            Some(format!("{:?}", have.status)),
            Some(format!("{:?}", want.status)),
        ),
        (
            "timezone_id",
            quote(&have.timezone_id),
            quote(&want.timezone_id),
        ),
    ] {
        if m != c {
            out.push(Difference {
                key: format!("calling.call_hours.{key}"),
                meta: m,
                config: c,
            });
        }
    }
    let weekly = |h: &CallHours| -> BTreeSet<String> {
        h.weekly_operating_hours
            .iter()
            .map(|w| w.describe())
            .collect()
    };
    let holidays = |h: &CallHours| -> BTreeSet<String> {
        h.holiday_schedule.iter().map(|d| d.describe()).collect()
    };
    sets(
        "calling.call_hours.weekly_operating_hours",
        weekly(&have),
        weekly(&want),
        out,
    );
    sets(
        "calling.call_hours.holiday_schedule",
        holidays(&have),
        holidays(&want),
        out,
    );
}

fn sets(key: &str, meta: BTreeSet<String>, config: BTreeSet<String>, out: &mut Vec<Difference>) {
    for m in meta.difference(&config) {
        out.push(Difference {
            key: key.into(),
            meta: Some(m.clone()),
            config: None,
        });
    }
    for c in config.difference(&meta) {
        out.push(Difference {
            key: key.into(),
            meta: None,
            config: Some(c.clone()),
        });
    }
}

fn summary(h: &CallHours) -> String {
    let zone = h.timezone_id.as_deref().unwrap_or("no time zone");
    format!(
        "{} in {zone}, {} weekly ranges, {} holidays",
        h.status,
        h.weekly_operating_hours.len(),
        h.holiday_schedule.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn desired() -> Map<String, Value> {
        let v = json!({
            "status": "ENABLED",
            "call_hours": {"status": "ENABLED", "timezone_id": "America/Manaus",
                "weekly_operating_hours": [
                    {"day_of_week": "MONDAY", "open_time": "0900", "close_time": "1700"},
                    {"day_of_week": "TUESDAY", "open_time": "0900", "close_time": "1700"}],
                "holiday_schedule": [{"date": "2027-01-01", "start_time": "0000", "end_time": "2359"}]}
        });
        v.as_object().unwrap().clone()
    }

    #[test]
    fn same_settings_in_another_order_and_integer_times_do_not_differ() {
        let meta = json!({
            "status": "ENABLED", "call_icon_visibility": "DEFAULT",
            "call_hours": {"status": "ENABLED", "timezone_id": "America/Manaus",
                "weekly_operating_hours": [
                    {"day_of_week": "TUESDAY", "open_time": 900, "close_time": 1700},
                    {"day_of_week": "MONDAY", "open_time": "0900", "close_time": "1700"}],
                "holiday_schedule": [{"date": "2027-01-01", "start_time": "0000", "end_time": "2359"}]}
        });
        assert_eq!(diff(&desired(), &meta, Missing::Differs), Vec::new());
    }

    #[test]
    fn changed_scalars_and_entries_on_one_side_read_as_lines() {
        let meta = json!({
            "status": "DISABLED",
            "call_hours": {"status": "ENABLED", "timezone_id": "America/Sao_Paulo",
                "weekly_operating_hours": [
                    {"day_of_week": "MONDAY", "open_time": "0400", "close_time": "1020"},
                    {"day_of_week": "TUESDAY", "open_time": "0900", "close_time": "1700"}]}
        });
        let lines: Vec<String> = diff(&desired(), &meta, Missing::Differs)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            lines,
            [
                "calling.status: Meta has \"DISABLED\", callgate wants \"ENABLED\"",
                "calling.call_hours.timezone_id: Meta has \"America/Sao_Paulo\", callgate wants \"America/Manaus\"",
                "calling.call_hours.weekly_operating_hours: - MONDAY 0400-1020 (only at Meta)",
                "calling.call_hours.weekly_operating_hours: + MONDAY 0900-1700 (only in callgate)",
                "calling.call_hours.holiday_schedule: + 2027-01-01 0000-2359 (only in callgate)",
            ]
        );
    }

    #[test]
    fn keys_a_webhook_did_not_carry_are_unknown_not_different() {
        let meta = json!({"status": "ENABLED"});
        assert!(diff(&desired(), &meta, Missing::Unknown).is_empty());
        let full = diff(&desired(), &meta, Missing::Differs);
        assert_eq!(full.len(), 1);
        assert_eq!(full[0].key, "calling.call_hours");
        assert_eq!(full[0].meta, None);
    }
}
