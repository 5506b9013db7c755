//! Per-call event timelines: every webhook, Graph request, SIP message and decision that touched a
//! call, in order, so an operator can see why a call went the way it did.
//!
//! Events are not tied to a call record by a foreign key: callgate also records events for calls it
//! has no record of (a terminate that arrived before its connect, a connect dropped by a tombstone),
//! and those are exactly the ones an operator asks about.

use rusqlite::params;
use serde::{Deserialize, Serialize};

use super::{Store, StoreError};

/// One entry of a call's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEvent {
    /// When it happened (ms since the UNIX epoch).
    pub at_ms: i64,
    /// What happened, `layer.thing`: `webhook.connect`, `graph.pre_accept`, `sip.invite`,
    /// `policy.hours`, ...
    pub kind: String,
    /// Free-form details (status codes, SDP summaries, the reason of a decision). Never secrets.
    pub detail: serde_json::Value,
    /// The result, when the event has one (`ok`, `duplicate`, `138006`, `486 Busy Here`).
    pub outcome: Option<String>,
}

impl Store {
    /// Appends `event` to the timeline of `call_id`.
    pub fn append_event(&self, call_id: &str, event: &TimelineEvent) -> Result<(), StoreError> {
        let detail = serde_json::to_string(&event.detail)?;
        self.lock()
            .prepare_cached(
                "INSERT INTO call_events (call_id, at_ms, kind, detail, outcome) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                call_id,
                event.at_ms,
                event.kind,
                detail,
                event.outcome
            ])?;
        Ok(())
    }

    /// The timeline of `call_id`, ordered by `at_ms`, then by order of appending (so events stamped
    /// out of order, such as a late webhook, sort by their time). Empty for an unknown call.
    pub fn timeline(&self, call_id: &str) -> Result<Vec<TimelineEvent>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT seq, at_ms, kind, detail, outcome FROM call_events \
             WHERE call_id = ?1 ORDER BY at_ms, seq",
        )?;
        let rows = stmt
            .query_map(params![call_id], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    TimelineEvent {
                        at_ms: row.get(1)?,
                        kind: row.get(2)?,
                        detail: serde_json::Value::Null,
                        outcome: row.get(4)?,
                    },
                    row.get::<_, String>(3)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|(seq, mut event, detail)| {
                event.detail = serde_json::from_str(&detail).map_err(|e| StoreError::BadRow {
                    table: "call_events",
                    key: seq.to_string(),
                    reason: format!("detail is not JSON: {e}"),
                })?;
                Ok(event)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::{CallRecord, Direction};
    use super::*;

    fn ev(at_ms: i64, kind: &str) -> TimelineEvent {
        TimelineEvent {
            at_ms,
            kind: kind.into(),
            detail: json!({"n": at_ms}),
            outcome: None,
        }
    }

    fn kinds(events: &[TimelineEvent]) -> Vec<&str> {
        events.iter().map(|e| e.kind.as_str()).collect()
    }

    #[test]
    fn appended_event_reads_back_whole() {
        let store = Store::open_in_memory().unwrap();
        let event = TimelineEvent {
            at_ms: 5,
            kind: "graph.pre_accept".into(),
            detail: json!({"status": 200, "sdp": {"codec": "opus"}}),
            outcome: Some("ok".into()),
        };
        store.append_event("wacid.1", &event).unwrap();
        assert_eq!(store.timeline("wacid.1").unwrap(), vec![event]);
    }

    #[test]
    fn timeline_orders_by_time_then_insertion() {
        let store = Store::open_in_memory().unwrap();
        store.append_event("c", &ev(20, "sip.invite")).unwrap();
        store.append_event("c", &ev(10, "webhook.connect")).unwrap();
        store.append_event("c", &ev(20, "sip.100")).unwrap();
        store.append_event("c", &ev(30, "graph.accept")).unwrap();
        store.append_event("c", &ev(20, "sip.180")).unwrap();
        assert_eq!(
            kinds(&store.timeline("c").unwrap()),
            [
                "webhook.connect",
                "sip.invite",
                "sip.100",
                "sip.180",
                "graph.accept"
            ]
        );
    }

    #[test]
    fn timelines_are_per_call_and_empty_for_unknown_calls() {
        let store = Store::open_in_memory().unwrap();
        store.append_event("a", &ev(1, "webhook.connect")).unwrap();
        store
            .append_event("b", &ev(2, "webhook.terminate"))
            .unwrap();
        assert_eq!(kinds(&store.timeline("a").unwrap()), ["webhook.connect"]);
        assert_eq!(kinds(&store.timeline("b").unwrap()), ["webhook.terminate"]);
        assert!(store.timeline("zzz").unwrap().is_empty());
    }

    #[test]
    fn renaming_a_call_moves_its_timeline() {
        let store = Store::open_in_memory().unwrap();
        let local = CallRecord::new("local-1", Direction::BusinessInitiated, "pn", "dialing", 0);
        store.insert_call(&local).unwrap();
        store
            .append_event("local-1", &ev(1, "graph.connect"))
            .unwrap();
        store.rename_call("local-1", "wacid.9").unwrap();
        store
            .append_event("wacid.9", &ev(2, "webhook.connect"))
            .unwrap();
        assert!(store.timeline("local-1").unwrap().is_empty());
        assert_eq!(
            kinds(&store.timeline("wacid.9").unwrap()),
            ["graph.connect", "webhook.connect"]
        );
    }

    #[test]
    fn hand_edited_detail_is_reported_with_its_sequence_number() {
        let store = Store::open_in_memory().unwrap();
        store.append_event("c", &ev(1, "x")).unwrap();
        store
            .lock()
            .execute("UPDATE call_events SET detail = '{'", [])
            .unwrap();
        let err = store.timeline("c").unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::BadRow {
                    table: "call_events",
                    ..
                }
            ),
            "{err}"
        );
    }
}
