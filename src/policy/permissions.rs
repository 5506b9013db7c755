//! Call permissions (spec section 4): what callgate knows about one (business number, WhatsApp
//! user) pair ([`PermissionState`]) and the decisions taken from it ([`Verdict`]), sans-IO on
//! wall-clock milliseconds (the state is stored and survives restarts).
//!
//! What it keeps: the permission (none / temporary until an expiry / permanent) and where it came
//! from; a local expiry clock (Meta sends no webhook when a temporary permission expires); the
//! permission requests sent (<= 1 per 24 h and <= 2 per 7 days, cleared by any connected call);
//! connected business-initiated calls in the last 24 h (cap configurable, default 100);
//! consecutive unanswered or rejected business-initiated calls (2: the user is asked to
//! reconsider, 4: Meta revokes the permission); the user's last message or call (the 24 h
//! customer-service window for free-form requests); and the last answer of Meta's
//! `GET call_permissions`, which wins over the local counters while it is fresh.

use serde::{Deserialize, Serialize};

use crate::cloud::graph::{CallPermissions, PermissionStatus as GraphStatus};

/// One hour, one day, one week in milliseconds.
pub const HOUR_MS: i64 = 3_600_000;
/// 24 hours.
pub const DAY_MS: i64 = 24 * HOUR_MS;
/// 7 days.
pub const WEEK_MS: i64 = 7 * DAY_MS;
/// A temporary permission lasts 7 days from approval.
pub const TEMPORARY_MS: i64 = WEEK_MS;

/// Meta's limits, configurable where Meta's documents disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Permission requests per 24 h (Meta: 1).
    pub requests_per_day: usize,
    /// Permission requests per 7 days (Meta: 2).
    pub requests_per_week: usize,
    /// Connected business-initiated calls per 24 h (Meta: 100 since Dec 2025; 5 in older text).
    pub connected_calls_per_day: usize,
    /// Consecutive unanswered calls after which Meta revokes the permission (4).
    pub unanswered_revoke: u32,
    /// How long an answer of `GET call_permissions` is trusted, in ms.
    pub graph_ttl_ms: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            requests_per_day: 1,
            requests_per_week: 2,
            connected_calls_per_day: 100,
            unanswered_revoke: 4,
            graph_ttl_ms: 60_000,
        }
    }
}

/// The permission itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum Grant {
    /// No permission: calling fails with 138006.
    NoPermission,
    /// Granted until `expires_at_ms` (UNIX ms).
    Temporary {
        /// When it ends.
        expires_at_ms: i64,
    },
    /// Granted without expiry.
    Permanent,
}

/// Where the current grant (or its withdrawal) came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Nothing known yet.
    Unknown,
    /// A `call_permission_reply` webhook with `response_source: user_action`.
    UserReply,
    /// The user granted it from the business profile (reply without context).
    ProfileGrant,
    /// Automatic temporary permission after the user called (callback permission enabled).
    Callback,
    /// Meta revoked it after consecutive unanswered calls (`response_source: automatic`).
    AutomaticRevoke,
    /// Meta's `GET call_permissions`.
    GraphQuery,
    /// The local expiry clock ended a temporary permission.
    Expired,
}

/// The last answer of `GET call_permissions`, kept while fresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GraphView {
    /// When it was fetched (UNIX ms).
    pub fetched_at_ms: i64,
    /// `start_call.can_perform_action`.
    pub can_start_call: bool,
    /// When `start_call` frees up, if Meta said (`limit_expiration_time`, UNIX ms).
    pub start_call_free_at_ms: Option<i64>,
    /// `send_call_permission_request.can_perform_action`.
    pub can_request: bool,
    /// When requests free up, if Meta said (UNIX ms).
    pub request_free_at_ms: Option<i64>,
}

/// Everything known about one (business number, user) pair. Stored as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermissionState {
    /// The permission.
    pub grant: Grant,
    /// Where it came from.
    pub source: Source,
    /// When it last changed (UNIX ms).
    pub changed_at_ms: i64,
    /// Permission requests sent, newest last (UNIX ms; older than 7 days pruned).
    pub requests_ms: Vec<i64>,
    /// Connected business-initiated calls, newest last (UNIX ms; older than 24 h pruned).
    pub connected_calls_ms: Vec<i64>,
    /// Business-initiated calls in a row the user did not answer or rejected.
    pub consecutive_unanswered: u32,
    /// The user's last message or call (opens the 24 h customer-service window).
    pub last_user_contact_ms: Option<i64>,
    /// The last answer of Meta's `GET call_permissions`.
    pub graph: Option<GraphView>,
}

impl Default for PermissionState {
    fn default() -> Self {
        Self {
            grant: Grant::NoPermission,
            source: Source::Unknown,
            changed_at_ms: 0,
            requests_ms: Vec::new(),
            connected_calls_ms: Vec::new(),
            consecutive_unanswered: 0,
            last_user_contact_ms: None,
            graph: None,
        }
    }
}

/// A decision: allowed or not, why, and when it may next be allowed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// Whether the action may go ahead.
    pub allowed: bool,
    /// Why, in words an operator can act on.
    pub reason: String,
    /// When a denied action may next be allowed (UNIX ms), if that is known.
    pub next_allowed_at_ms: Option<i64>,
    /// Which rule decided (`no_permission`, `expired`, `daily_call_limit`, ...), for APIs.
    pub code: &'static str,
}

impl Verdict {
    fn allow(code: &'static str, reason: impl Into<String>) -> Self {
        Self {
            allowed: true,
            reason: reason.into(),
            next_allowed_at_ms: None,
            code,
        }
    }

    fn deny(code: &'static str, reason: impl Into<String>, next: Option<i64>) -> Self {
        Self {
            allowed: false,
            reason: reason.into(),
            next_allowed_at_ms: next,
            code,
        }
    }
}

/// A `call_permission_reply` reduced to what the state needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    /// `response: accept`.
    pub accept: bool,
    /// `is_permanent`.
    pub permanent: bool,
    /// `expiration_timestamp` in UNIX ms.
    pub expires_at_ms: Option<i64>,
    /// `response_source: automatic`.
    pub automatic: bool,
    /// `context.id` was present (a reply to a request or a call, not a profile grant).
    pub has_context: bool,
}

/// Formats UNIX ms as an RFC 3339 UTC time (whole seconds) for reasons.
pub fn at(ms: i64) -> String {
    jiff::Timestamp::from_second(ms.div_euclid(1000))
        .map_or_else(|_| format!("{ms} ms after 1970"), |t| t.to_string())
}

impl PermissionState {
    /// The grant as of `now_ms`: a temporary permission past its expiry is gone.
    pub fn effective(&self, now_ms: i64) -> Grant {
        match self.grant {
            Grant::Temporary { expires_at_ms } if expires_at_ms <= now_ms => Grant::NoPermission,
            g => g,
        }
    }

    /// Drops counters that fell out of their windows.
    pub fn prune(&mut self, now_ms: i64) {
        self.requests_ms.retain(|&t| now_ms - t < WEEK_MS);
        self.connected_calls_ms.retain(|&t| now_ms - t < DAY_MS);
        if let Grant::Temporary { expires_at_ms } = self.grant
            && expires_at_ms <= now_ms
        {
            self.grant = Grant::NoPermission;
            self.source = Source::Expired;
            self.changed_at_ms = expires_at_ms;
        }
    }

    fn fresh_graph(&self, now_ms: i64, limits: &Limits) -> Option<GraphView> {
        self.graph
            .filter(|g| now_ms - g.fetched_at_ms < limits.graph_ttl_ms)
    }

    /// May a business-initiated call be placed to this user now?
    pub fn can_call(&self, now_ms: i64, limits: &Limits) -> Verdict {
        let grant = self.effective(now_ms);
        let expired_at = match (self.grant, self.source) {
            (Grant::Temporary { expires_at_ms }, _) if grant == Grant::NoPermission => {
                Some(expires_at_ms)
            }
            (Grant::NoPermission, Source::Expired) => Some(self.changed_at_ms),
            _ => None,
        };
        if let Some(t) = expired_at {
            return Verdict::deny(
                "expired",
                format!(
                    "the user's temporary call permission expired at {} (Meta sends no webhook \
                     for this); send a new permission request",
                    at(t)
                ),
                None,
            );
        }
        if grant == Grant::NoPermission {
            let why = match self.source {
                Source::AutomaticRevoke => {
                    "Meta revoked the user's call permission after unanswered calls; send a new \
                     permission request"
                }
                Source::UserReply => {
                    "the user declined the call permission request; wait for them to grant it"
                }
                _ => "the user has not granted call permission; send a permission request first",
            };
            return Verdict::deny("no_permission", why, None);
        }
        let calls_today = self
            .connected_calls_ms
            .iter()
            .filter(|&&t| now_ms - t < DAY_MS)
            .count();
        if calls_today >= limits.connected_calls_per_day {
            let oldest = self
                .connected_calls_ms
                .iter()
                .filter(|&&t| now_ms - t < DAY_MS)
                .min()
                .copied();
            let next = oldest.map(|t| t + DAY_MS);
            return Verdict::deny(
                "daily_call_limit",
                format!(
                    "{calls_today} connected business-initiated calls to this user in 24 h reach \
                     the limit of {}; the next call is possible at {}",
                    limits.connected_calls_per_day,
                    next.map_or_else(|| "an unknown time".into(), at)
                ),
                next,
            );
        }
        if let Some(g) = self.fresh_graph(now_ms, limits)
            && !g.can_start_call
        {
            return Verdict::deny(
                "meta_refuses",
                format!(
                    "Meta's call_permissions says start_call is not allowed now{}",
                    g.start_call_free_at_ms
                        .map_or_else(String::new, |t| format!(" (until {})", at(t)))
                ),
                g.start_call_free_at_ms,
            );
        }
        let what = match grant {
            Grant::Permanent => "permanent call permission".to_string(),
            Grant::Temporary { expires_at_ms } => {
                format!("temporary call permission until {}", at(expires_at_ms))
            }
            Grant::NoPermission => unreachable!("handled above"),
        };
        Verdict::allow(
            "allowed",
            format!(
                "the user gave {what}; {calls_today} of {} connected calls used in 24 h",
                limits.connected_calls_per_day
            ),
        )
    }

    /// May a permission request be sent to this user now?
    pub fn can_request(&self, now_ms: i64, limits: &Limits) -> Verdict {
        if self.effective(now_ms) == Grant::Permanent {
            return Verdict::deny(
                "already_permanent",
                "the user already granted permanent call permission; Meta refuses new requests \
                 (138017)",
                None,
            );
        }
        let in_window = |w: i64| -> Vec<i64> {
            let mut v: Vec<i64> = self
                .requests_ms
                .iter()
                .copied()
                .filter(|&t| now_ms - t < w)
                .collect();
            v.sort_unstable();
            v
        };
        let day = in_window(DAY_MS);
        if day.len() >= limits.requests_per_day {
            let next = day[day.len() - limits.requests_per_day] + DAY_MS;
            return Verdict::deny(
                "request_limit_day",
                format!(
                    "{} permission request(s) sent in 24 h (limit {}); next at {}",
                    day.len(),
                    limits.requests_per_day,
                    at(next)
                ),
                Some(next),
            );
        }
        let week = in_window(WEEK_MS);
        if week.len() >= limits.requests_per_week {
            let next = week[week.len() - limits.requests_per_week] + WEEK_MS;
            return Verdict::deny(
                "request_limit_week",
                format!(
                    "{} permission requests sent in 7 days (limit {}); next at {}",
                    week.len(),
                    limits.requests_per_week,
                    at(next)
                ),
                Some(next),
            );
        }
        if let Some(g) = self.fresh_graph(now_ms, limits)
            && !g.can_request
        {
            return Verdict::deny(
                "meta_refuses",
                "Meta's call_permissions says a permission request is not allowed now",
                g.request_free_at_ms,
            );
        }
        Verdict::allow("allowed", "a permission request may be sent")
    }

    /// Whether the 24 h customer-service window is open (free-form messages allowed).
    pub fn service_window_open(&self, now_ms: i64) -> bool {
        self.last_user_contact_ms
            .is_some_and(|t| now_ms - t < DAY_MS)
    }

    fn set(&mut self, grant: Grant, source: Source, now_ms: i64) {
        self.grant = grant;
        self.source = source;
        self.changed_at_ms = now_ms;
        // Meta's answer predates the change.
        self.graph = None;
    }

    /// A `call_permission_reply` webhook arrived.
    pub fn on_reply(&mut self, r: Reply, now_ms: i64) {
        if !r.accept {
            let source = if r.automatic {
                Source::AutomaticRevoke
            } else {
                Source::UserReply
            };
            self.set(Grant::NoPermission, source, now_ms);
            return;
        }
        let grant = if r.permanent {
            Grant::Permanent
        } else {
            Grant::Temporary {
                expires_at_ms: r.expires_at_ms.unwrap_or(now_ms + TEMPORARY_MS),
            }
        };
        let source = match (r.automatic, r.has_context) {
            (true, _) => Source::Callback,
            (false, true) => Source::UserReply,
            (false, false) => Source::ProfileGrant,
        };
        self.set(grant, source, now_ms);
        self.consecutive_unanswered = 0;
    }

    /// A permission request was sent.
    pub fn on_request_sent(&mut self, now_ms: i64) {
        self.requests_ms.push(now_ms);
        self.graph = None;
    }

    /// The user wrote to the business (opens the customer-service window).
    pub fn on_user_message(&mut self, now_ms: i64) {
        self.last_user_contact_ms = Some(now_ms);
    }

    /// The user called the business. With callback permission enabled, Meta grants a
    /// temporary permission (its reply webhook may also come and says the same).
    pub fn on_user_call(&mut self, now_ms: i64, callback_enabled: bool) {
        self.last_user_contact_ms = Some(now_ms);
        if callback_enabled && self.effective(now_ms) == Grant::NoPermission {
            let expires_at_ms = now_ms + TEMPORARY_MS;
            self.set(Grant::Temporary { expires_at_ms }, Source::Callback, now_ms);
        }
    }

    /// A call connected (either direction): request counters clear; a business-initiated one
    /// counts toward the daily cap and ends a run of unanswered calls.
    pub fn on_call_connected(&mut self, now_ms: i64, business_initiated: bool) {
        self.requests_ms.clear();
        if business_initiated {
            self.connected_calls_ms.push(now_ms);
            self.consecutive_unanswered = 0;
        }
        self.graph = None;
    }

    /// A business-initiated call was not answered or was rejected. Returns true when this
    /// makes Meta revoke the permission (the run reached the limit).
    pub fn on_call_unanswered(&mut self, now_ms: i64, limits: &Limits) -> bool {
        self.consecutive_unanswered += 1;
        self.graph = None;
        if self.consecutive_unanswered >= limits.unanswered_revoke
            && self.effective(now_ms) != Grant::NoPermission
        {
            self.set(Grant::NoPermission, Source::AutomaticRevoke, now_ms);
            return true;
        }
        false
    }

    /// Meta answered `GET call_permissions`: it is the authority for the grant and the limits.
    pub fn on_graph(&mut self, p: &CallPermissions, now_ms: i64) {
        let expiry = p.permission.expiration_time.map(|s| s * 1000);
        let grant = match p.permission.status {
            GraphStatus::Permanent => Grant::Permanent,
            GraphStatus::Temporary | GraphStatus::Granted => match expiry {
                Some(expires_at_ms) => Grant::Temporary { expires_at_ms },
                None => Grant::Temporary {
                    expires_at_ms: now_ms + TEMPORARY_MS,
                },
            },
            _ => Grant::NoPermission,
        };
        // Meta reports an expired temporary permission as none; keep ours, which says when it
        // expired.
        let expired_here = grant == Grant::NoPermission
            && matches!(self.grant, Grant::Temporary { expires_at_ms } if expires_at_ms <= now_ms);
        if grant != self.grant && !expired_here {
            self.grant = grant;
            self.source = Source::GraphQuery;
            self.changed_at_ms = now_ms;
        }
        let free_at = |name: &str| {
            p.action(name).and_then(|a| {
                a.limits
                    .iter()
                    .filter_map(|l| l.limit_expiration_time)
                    .max()
                    .map(|s| s * 1000)
            })
        };
        self.graph = Some(GraphView {
            fetched_at_ms: now_ms,
            can_start_call: p.can_start_call(),
            start_call_free_at_ms: free_at("start_call"),
            can_request: p
                .action("send_call_permission_request")
                .is_none_or(|a| a.can_perform_action),
            request_free_at_ms: free_at("send_call_permission_request"),
        });
    }
}

#[cfg(test)]
mod tests;
