//! Permission state and decisions on virtual wall-clock time: grants and their sources, the
//! local expiry clock, request limits, the daily connected-call cap, auto-revocation, and
//! Meta's `GET call_permissions` winning over local counters while fresh.

use super::*;
use crate::cloud::graph::{ActionLimit, Permission, PermissionAction};

const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

fn limits() -> Limits {
    Limits::default()
}

fn reply(accept: bool, permanent: bool, expires_at_ms: Option<i64>) -> Reply {
    Reply {
        accept,
        permanent,
        expires_at_ms,
        automatic: false,
        has_context: true,
    }
}

fn temporary_until(until: i64) -> PermissionState {
    let mut s = PermissionState::default();
    s.on_reply(reply(true, false, Some(until)), T0);
    s
}

#[test]
fn no_permission_denies_the_call_with_a_reason_to_request_one() {
    let v = PermissionState::default().can_call(T0, &limits());
    assert!(!v.allowed);
    assert_eq!(v.code, "no_permission");
    assert!(v.reason.contains("permission request"), "{}", v.reason);
}

#[test]
fn temporary_grant_allows_calls_until_its_expiry_then_denies_without_a_webhook() {
    let s = temporary_until(T0 + DAY_MS);
    assert!(s.can_call(T0 + DAY_MS - 1, &limits()).allowed);
    let v = s.can_call(T0 + DAY_MS, &limits());
    assert!(!v.allowed);
    assert_eq!(v.code, "expired");
    assert!(v.reason.contains("2026-01-02T00:00:00Z"), "{}", v.reason);
}

#[test]
fn temporary_grant_without_expiry_field_lasts_seven_days() {
    let mut s = PermissionState::default();
    s.on_reply(reply(true, false, None), T0);
    assert_eq!(
        s.grant,
        Grant::Temporary {
            expires_at_ms: T0 + WEEK_MS
        }
    );
}

#[test]
fn permanent_grant_never_expires_and_refuses_new_requests() {
    let mut s = PermissionState::default();
    s.on_reply(reply(true, true, None), T0);
    assert!(s.can_call(T0 + 365 * DAY_MS, &limits()).allowed);
    let r = s.can_request(T0, &limits());
    assert!(!r.allowed);
    assert_eq!(r.code, "already_permanent");
    assert!(r.reason.contains("138017"));
}

#[test]
fn user_rejection_and_automatic_revocation_give_different_reasons() {
    let mut s = temporary_until(T0 + WEEK_MS);
    s.on_reply(reply(false, false, None), T0 + 1);
    assert_eq!(s.source, Source::UserReply);
    assert!(s.can_call(T0 + 2, &limits()).reason.contains("declined"));
    let mut s = temporary_until(T0 + WEEK_MS);
    s.on_reply(
        Reply {
            automatic: true,
            has_context: false,
            ..reply(false, false, None)
        },
        T0 + 1,
    );
    assert_eq!(s.source, Source::AutomaticRevoke);
    assert!(s.can_call(T0 + 2, &limits()).reason.contains("revoked"));
}

#[test]
fn reply_sources_are_told_apart() {
    let mut s = PermissionState::default();
    s.on_reply(
        Reply {
            has_context: false,
            ..reply(true, false, None)
        },
        T0,
    );
    assert_eq!(s.source, Source::ProfileGrant);
    s.on_reply(
        Reply {
            automatic: true,
            ..reply(true, false, None)
        },
        T0,
    );
    assert_eq!(s.source, Source::Callback);
}

#[test]
fn one_request_per_day_and_two_per_week() {
    let mut s = PermissionState::default();
    assert!(s.can_request(T0, &limits()).allowed);
    s.on_request_sent(T0);
    let v = s.can_request(T0 + HOUR_MS, &limits());
    assert_eq!(v.code, "request_limit_day");
    assert_eq!(v.next_allowed_at_ms, Some(T0 + DAY_MS));
    assert!(s.can_request(T0 + DAY_MS, &limits()).allowed);
    s.on_request_sent(T0 + DAY_MS);
    let v = s.can_request(T0 + 3 * DAY_MS, &limits());
    assert_eq!(v.code, "request_limit_week");
    assert_eq!(v.next_allowed_at_ms, Some(T0 + WEEK_MS));
    assert!(s.can_request(T0 + WEEK_MS, &limits()).allowed);
}

#[test]
fn any_connected_call_resets_the_request_counters() {
    let mut s = PermissionState::default();
    s.on_request_sent(T0);
    s.on_request_sent(T0 + DAY_MS);
    s.on_call_connected(T0 + DAY_MS + 1, false);
    assert!(s.can_request(T0 + DAY_MS + 2, &limits()).allowed);
}

#[test]
fn daily_connected_call_cap_denies_with_the_time_the_oldest_call_ages_out() {
    let lim = Limits {
        connected_calls_per_day: 2,
        ..limits()
    };
    let mut s = temporary_until(T0 + WEEK_MS);
    s.on_call_connected(T0, true);
    s.on_call_connected(T0 + HOUR_MS, true);
    let v = s.can_call(T0 + 2 * HOUR_MS, &lim);
    assert!(!v.allowed);
    assert_eq!(v.code, "daily_call_limit");
    assert_eq!(v.next_allowed_at_ms, Some(T0 + DAY_MS));
    assert!(s.can_call(T0 + DAY_MS, &lim).allowed);
}

#[test]
fn four_unanswered_calls_in_a_row_revoke_and_an_answered_one_resets_the_run() {
    let mut s = temporary_until(T0 + WEEK_MS);
    for i in 0..3 {
        assert!(!s.on_call_unanswered(T0 + i, &limits()));
    }
    s.on_call_connected(T0 + 10, true);
    for i in 0..3 {
        assert!(!s.on_call_unanswered(T0 + 20 + i, &limits()));
    }
    assert!(s.on_call_unanswered(T0 + 30, &limits()));
    assert_eq!(s.source, Source::AutomaticRevoke);
    assert_eq!(s.can_call(T0 + 31, &limits()).code, "no_permission");
}

#[test]
fn callback_permission_after_a_user_call_only_when_enabled() {
    let mut s = PermissionState::default();
    s.on_user_call(T0, false);
    assert_eq!(s.effective(T0), Grant::NoPermission);
    assert!(s.service_window_open(T0 + DAY_MS - 1));
    assert!(!s.service_window_open(T0 + DAY_MS));
    s.on_user_call(T0, true);
    assert_eq!(
        s.grant,
        Grant::Temporary {
            expires_at_ms: T0 + TEMPORARY_MS
        }
    );
    assert_eq!(s.source, Source::Callback);
}

fn graph(can_call: bool, status: crate::cloud::graph::PermissionStatus) -> CallPermissions {
    CallPermissions {
        permission: Permission {
            status,
            expiration_time: Some((T0 + 3 * DAY_MS) / 1000),
        },
        actions: vec![PermissionAction {
            action_name: "start_call".into(),
            can_perform_action: can_call,
            limits: vec![ActionLimit {
                time_period: "PT24H".into(),
                max_allowed: Some(100),
                current_usage: Some(100),
                limit_expiration_time: (!can_call).then_some((T0 + 5 * HOUR_MS) / 1000),
            }],
        }],
    }
}

#[test]
fn meta_answer_wins_over_local_counters_while_fresh() {
    use crate::cloud::graph::PermissionStatus as S;
    let mut s = PermissionState::default();
    s.on_graph(&graph(false, S::Temporary), T0);
    assert_eq!(s.source, Source::GraphQuery);
    let v = s.can_call(T0 + 1000, &limits());
    assert!(!v.allowed, "local counters are empty but Meta says no");
    assert_eq!(v.code, "meta_refuses");
    assert_eq!(v.next_allowed_at_ms, Some(T0 + 5 * HOUR_MS));
    // Stale after the TTL: the local view decides again.
    assert!(s.can_call(T0 + limits().graph_ttl_ms, &limits()).allowed);
}

#[test]
fn expired_counters_are_pruned() {
    let mut s = temporary_until(T0 + DAY_MS);
    s.on_request_sent(T0);
    s.on_call_connected(T0, true);
    s.prune(T0 + WEEK_MS);
    assert!(s.requests_ms.is_empty() && s.connected_calls_ms.is_empty());
    assert_eq!(s.grant, Grant::NoPermission);
    assert_eq!(s.source, Source::Expired);
}

#[test]
fn times_in_reasons_are_utc_rfc3339() {
    assert_eq!(at(T0), "2026-01-01T00:00:00Z");
    assert_eq!(at(T0 + DAY_MS + 3_723_000), "2026-01-02T01:02:03Z");
    assert_eq!(at(951_782_400_000), "2000-02-29T00:00:00Z");
}

#[test]
fn expired_permission_keeps_saying_expired_after_pruning_and_metas_none() {
    use crate::cloud::graph::PermissionStatus as S;
    let mut s = temporary_until(T0 + HOUR_MS);
    s.prune(T0 + 2 * HOUR_MS);
    let mut none = graph(true, S::NoPermission);
    none.permission.expiration_time = None;
    s.on_graph(&none, T0 + 2 * HOUR_MS);
    let v = s.can_call(T0 + 2 * HOUR_MS, &limits());
    assert_eq!(v.code, "expired", "{}", v.reason);
    assert!(v.reason.contains("2026-01-01T01:00:00Z"), "{}", v.reason);
}
