//! [`SettingsWatch`]: the gateway's view of each number's calling settings at Meta, read once at
//! start-up and updated by every `account_settings_update` webhook, compared with what callgate
//! wants. Drift is logged (one line per difference, with what to run) and exported as
//! `callgate_settings_drift{phone_number_id}` (number of differing keys or entries, 0 when in
//! sync); `callgate_settings_updates_total{phone_number_id,source}` counts the views received.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use jiff::Timestamp;
use serde_json::{Map, Value};

use super::diff::{Difference, Missing, diff};
use super::{CallingSettings, desired};
use crate::cloud::events::SettingsUpdate;
use crate::cloud::graph::GraphClient;
use crate::config::Config;
use crate::policy::Policy;

/// What callgate last learned of a number's settings at Meta.
#[derive(Debug, Clone, PartialEq)]
pub struct MetaView {
    /// Meta's `calling` object (webhook keys merged over the last full read).
    pub calling: Value,
    /// When it was learned.
    pub at: Timestamp,
    /// `pull` (a GET) or `webhook`.
    pub source: &'static str,
}

/// The settings watch. Cheap to clone; clones share the view.
#[derive(Debug, Clone)]
pub struct SettingsWatch {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    policy: Policy,
    calling: HashMap<String, CallingSettings>,
    seen: RwLock<HashMap<String, MetaView>>,
}

impl SettingsWatch {
    /// A watch over the numbers of `cfg`, judged by `policy`'s hours in force.
    pub fn new(cfg: &Config, policy: Policy) -> Self {
        let calling = cfg
            .numbers
            .iter()
            .filter_map(|n| Some((n.phone_number_id.clone(), n.calling.clone()?)))
            .collect();
        SettingsWatch {
            inner: Arc::new(Inner {
                policy,
                calling,
                seen: RwLock::new(HashMap::new()),
            }),
        }
    }

    /// The policy whose hours are compared.
    pub fn policy(&self) -> &Policy {
        &self.inner.policy
    }

    /// The `calling` object callgate wants at Meta for number `pnid`.
    pub fn desired(&self, pnid: &str) -> Map<String, Value> {
        let hours = self.inner.policy.hours(pnid).and_then(|(s, _)| s);
        desired(
            self.inner.calling.get(pnid),
            hours.as_ref().map(|s| s.hours()),
        )
    }

    /// What callgate last learned of Meta's settings for `pnid`.
    pub fn meta_view(&self, pnid: &str) -> Option<MetaView> {
        self.read().get(pnid).cloned()
    }

    /// Takes in Meta's `calling` object for `pnid` (`full`: a GET; otherwise a webhook, whose
    /// keys replace the known ones) and reports the drift. Returns the differences.
    pub fn record_meta(&self, pnid: &str, calling: Value, full: bool) -> Vec<Difference> {
        let source = if full { "pull" } else { "webhook" };
        metrics::counter!("callgate_settings_updates_total",
            "phone_number_id" => pnid.to_string(), "source" => source)
        .increment(1);
        {
            let mut seen = self.inner.seen.write().unwrap_or_else(|p| p.into_inner());
            let merged = match (seen.get(pnid), &calling, full) {
                (Some(old), Value::Object(new), false) => {
                    let mut m = old.calling.as_object().cloned().unwrap_or_default();
                    m.extend(new.clone());
                    Value::Object(m)
                }
                _ => calling,
            };
            seen.insert(
                pnid.to_string(),
                MetaView {
                    calling: merged,
                    at: Timestamp::now(),
                    source,
                },
            );
        }
        self.report(pnid)
    }

    /// Takes in an `account_settings_update` webhook; returns its outcome for the webhook metric
    /// (`in_sync`, `drift`, `not_calling`, `unknown_number`).
    pub fn on_webhook(&self, update: SettingsUpdate) -> &'static str {
        let Some(pnid) = self
            .inner
            .policy
            .phone_number_id(&update.phone_number_id)
            .map(String::from)
        else {
            tracing::warn!(phone_number_id = %update.phone_number_id,
                "settings update for a number not in [[numbers]]: ignored");
            return "unknown_number";
        };
        let Some(calling) = update.calling else {
            return "not_calling";
        };
        if self.record_meta(&pnid, calling, false).is_empty() {
            "in_sync"
        } else {
            "drift"
        }
    }

    /// Recomputes and reports the drift of `pnid` (e.g. after its hours changed).
    pub fn report(&self, pnid: &str) -> Vec<Difference> {
        let (Some(view), Some(found)) = (self.meta_view(pnid), self.drift(pnid)) else {
            return Vec::new();
        };
        metrics::gauge!("callgate_settings_drift", "phone_number_id" => pnid.to_string())
            .set(found.len() as f64);
        if found.is_empty() {
            tracing::info!(
                phone_number_id = pnid,
                source = view.source,
                "calling settings at Meta match callgate's"
            );
        }
        for d in &found {
            tracing::warn!(phone_number_id = pnid, source = view.source, difference = %d,
                "calling settings at Meta differ from callgate's: review with `callgate settings diff --number {pnid}`, then `callgate settings push`");
        }
        found
    }

    /// The differences for `pnid` against the last known view (`None`: nothing known yet).
    pub fn drift(&self, pnid: &str) -> Option<Vec<Difference>> {
        let view = self.meta_view(pnid)?;
        let missing = if view.source == "pull" {
            Missing::Differs
        } else {
            Missing::Unknown
        };
        Some(diff(&self.desired(pnid), &view.calling, missing))
    }

    /// Meta's restrictions on `pnid` still in force at `now` (`restrictions.restrictions_list`).
    pub fn restrictions(&self, pnid: &str, now: Timestamp) -> Vec<Value> {
        let Some(view) = self.meta_view(pnid) else {
            return Vec::new();
        };
        let list = view.calling["restrictions"]["restrictions_list"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        list.into_iter()
            .filter(|r| {
                r["expiration"]
                    .as_i64()
                    .is_none_or(|exp| exp > now.as_second())
            })
            .collect()
    }

    /// Reads every number's settings from Meta once, in the background, and reports drift.
    /// Failures are logged: the gateway runs without the view.
    pub fn check_at_start(&self, graph: GraphClient) {
        let watch = self.clone();
        tokio::spawn(async move {
            let numbers: Vec<String> = watch
                .inner
                .policy
                .phone_number_ids()
                .map(String::from)
                .collect();
            for pnid in numbers {
                match graph.get_settings(&pnid).await {
                    Ok(v) => {
                        watch.record_meta(&pnid, v["calling"].clone(), true);
                    }
                    Err(e) => tracing::warn!(phone_number_id = %pnid, error = %e,
                        "cannot read the number's calling settings from Meta; drift is not known until an account_settings_update webhook arrives"),
                }
            }
        });
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, MetaView>> {
        self.inner.seen.read().unwrap_or_else(|p| p.into_inner())
    }
}
