//! Ending a call record: the end time, outcome and reason, the talk time and the billing pulses,
//! merged so a duplicate or late end (a local BYE, then Meta's terminate) refines the record
//! instead of overwriting it.

use serde::{Deserialize, Serialize};

use super::calls::{ENDED_STATE, get_in, update_in};
use super::{CallRecord, Store, StoreError, billing_pulses};

/// How a call ended, as given to [`Store::end_call`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallEnd {
    /// When it ended (ms since the UNIX epoch).
    pub ended_at_ms: i64,
    /// How it ended (`completed`, `rejected`, `missed`, `failed`, ...).
    pub outcome: Option<String>,
    /// Why it ended (`user_hangup`, `sip_486`, `answer_timeout`, ...).
    pub end_reason: Option<String>,
    /// Which side ended it (`user`, `business`, `pbx`, `callgate`, `meta`).
    pub ended_by: Option<String>,
    /// Meta's error code, from a terminate's `errors[]` or a failed Graph call.
    pub meta_error_code: Option<i64>,
    /// Meta's `duration` from the terminate webhook, when it carried one (authoritative).
    pub duration_s: Option<i64>,
}

/// Talk time measured locally: whole seconds from when the call was answered (media connected,
/// else accepted) to its end; `None` for a call never answered.
fn measured_duration_s(rec: &CallRecord, ended_at_ms: i64) -> Option<i64> {
    let answered = rec.connected_at_ms.or(rec.accepted_at_ms)?;
    Some((ended_at_ms - answered).max(0) / 1000)
}

/// Merges `end` into `rec` (see [`Store::end_call`] for the rules).
fn apply_end(rec: &mut CallRecord, end: &CallEnd) {
    let ended_at_ms = *rec.ended_at_ms.get_or_insert(end.ended_at_ms);
    rec.state = ENDED_STATE.to_owned();
    if rec.outcome.is_none() {
        rec.outcome.clone_from(&end.outcome);
    }
    if rec.end_reason.is_none() {
        rec.end_reason.clone_from(&end.end_reason);
    }
    if rec.ended_by.is_none() {
        rec.ended_by.clone_from(&end.ended_by);
    }
    rec.meta_error_code = end.meta_error_code.or(rec.meta_error_code);
    rec.duration_s = end
        .duration_s
        .or(rec.duration_s)
        .or_else(|| measured_duration_s(rec, ended_at_ms));
    rec.billing_pulses = billing_pulses(rec.direction, rec.duration_s);
}

impl Store {
    /// Ends the record `id` and returns it as stored. Sets `state` to [`ENDED_STATE`] and fills in
    /// the talk time and billing pulses ([`billing_pulses`]).
    ///
    /// Safe to call more than once for one call (local hang-up, then Meta's terminate, then a
    /// duplicate of it): the first end time, outcome, reason and ender are kept; a later
    /// `meta_error_code` or `duration_s` replaces the earlier one (Meta's numbers are
    /// authoritative); without any duration from Meta, the duration is measured from
    /// `connected_at_ms` (else `accepted_at_ms`) to the end. Fails with
    /// [`StoreError::CallNotFound`] if there is no record.
    pub fn end_call(&self, id: &str, end: &CallEnd) -> Result<CallRecord, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let mut rec =
            get_in(&tx, id)?.ok_or_else(|| StoreError::CallNotFound { id: id.to_owned() })?;
        apply_end(&mut rec, end);
        update_in(&tx, &rec)?;
        tx.commit()?;
        Ok(rec)
    }
}

#[cfg(test)]
mod tests {
    use super::super::Direction;
    use super::*;

    fn call(store: &Store, id: &str, direction: Direction, connected_at_ms: Option<i64>) {
        let rec = CallRecord {
            connected_at_ms,
            ..CallRecord::new(id, direction, "pn-1", "connected", 0)
        };
        store.insert_call(&rec).unwrap();
    }

    fn end_at(ended_at_ms: i64) -> CallEnd {
        CallEnd {
            ended_at_ms,
            outcome: Some("completed".into()),
            end_reason: Some("user_hangup".into()),
            ended_by: Some("user".into()),
            ..CallEnd::default()
        }
    }

    #[test]
    fn business_initiated_end_bills_meta_duration_in_pulses() {
        let store = Store::open_in_memory().unwrap();
        for (id, secs, pulses) in [
            ("b56", 56, 10),
            ("b60", 60, 10),
            ("b61", 61, 11),
            ("b0", 0, 0),
        ] {
            call(&store, id, Direction::BusinessInitiated, Some(1_000));
            let end = CallEnd {
                duration_s: Some(secs),
                ..end_at(999_999)
            };
            let rec = store.end_call(id, &end).unwrap();
            assert_eq!(rec.duration_s, Some(secs), "{id}");
            assert_eq!(rec.billing_pulses, Some(pulses), "{id}");
            assert_eq!(store.get_call(id).unwrap().unwrap(), rec);
        }
    }

    #[test]
    fn duration_is_measured_from_connect_when_meta_gave_none() {
        let store = Store::open_in_memory().unwrap();
        call(&store, "b", Direction::BusinessInitiated, Some(10_000));
        let rec = store.end_call("b", &end_at(66_999)).unwrap();
        assert_eq!(rec.duration_s, Some(56));
        assert_eq!(rec.billing_pulses, Some(10));
        assert_eq!(rec.state, ENDED_STATE);
        assert_eq!(rec.ended_at_ms, Some(66_999));
        assert_eq!(rec.outcome.as_deref(), Some("completed"));
        assert_eq!(rec.end_reason.as_deref(), Some("user_hangup"));
        assert_eq!(rec.ended_by.as_deref(), Some("user"));
    }

    #[test]
    fn answered_user_initiated_call_is_free() {
        let store = Store::open_in_memory().unwrap();
        call(&store, "u", Direction::UserInitiated, Some(0));
        let rec = store.end_call("u", &end_at(120_000)).unwrap();
        assert_eq!(rec.duration_s, Some(120));
        assert_eq!(rec.billing_pulses, Some(0));
    }

    #[test]
    fn unanswered_call_has_no_duration_or_pulses() {
        let store = Store::open_in_memory().unwrap();
        call(&store, "b", Direction::BusinessInitiated, None);
        let end = CallEnd {
            outcome: Some("rejected".into()),
            meta_error_code: Some(138021),
            ..CallEnd::default()
        };
        let rec = store.end_call("b", &end).unwrap();
        assert_eq!(rec.duration_s, None);
        assert_eq!(rec.billing_pulses, None);
        assert_eq!(rec.meta_error_code, Some(138021));
    }

    #[test]
    fn late_meta_terminate_refines_a_local_end() {
        let store = Store::open_in_memory().unwrap();
        call(&store, "b", Direction::BusinessInitiated, Some(0));
        // Local BYE from the PBX first: measured 58 s.
        let local = CallEnd {
            ended_by: Some("pbx".into()),
            ..end_at(58_400)
        };
        assert_eq!(store.end_call("b", &local).unwrap().duration_s, Some(58));
        // Then Meta's terminate, later, with its own duration and another ender.
        let meta = CallEnd {
            duration_s: Some(61),
            ended_by: Some("meta".into()),
            outcome: Some("failed".into()),
            ..end_at(60_000)
        };
        let rec = store.end_call("b", &meta).unwrap();
        assert_eq!(rec.ended_at_ms, Some(58_400), "first end time kept");
        assert_eq!(rec.ended_by.as_deref(), Some("pbx"), "first ender kept");
        assert_eq!(
            rec.outcome.as_deref(),
            Some("completed"),
            "first outcome kept"
        );
        assert_eq!(rec.duration_s, Some(61), "Meta's duration wins");
        assert_eq!(rec.billing_pulses, Some(11));
        // A duplicate terminate changes nothing.
        assert_eq!(store.end_call("b", &meta).unwrap(), rec);
    }

    #[test]
    fn ending_unknown_call_is_an_error() {
        let store = Store::open_in_memory().unwrap();
        let err = store.end_call("wacid.nope", &end_at(1)).unwrap_err();
        assert!(matches!(err, StoreError::CallNotFound { .. }), "{err}");
    }
}
