//! Call records: one row per call with its parties, state, milestones, outcome and billing, and the
//! single-record operations on them. Listing is in `call_query.rs`, ending a call (duration,
//! pulses) in `call_end.rs`.

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError};

/// The `state` a record gets from [`Store::end_call`].
pub const ENDED_STATE: &str = "ended";

/// Who placed the call, spelled as Meta spells it in JSON (`USER_INITIATED`, `BUSINESS_INITIATED`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Direction {
    /// A WhatsApp user called the business (free).
    UserInitiated,
    /// The business called a WhatsApp user (billed in pulses).
    BusinessInitiated,
}

impl Direction {
    /// The stored and serialised spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::UserInitiated => "USER_INITIATED",
            Direction::BusinessInitiated => "BUSINESS_INITIATED",
        }
    }

    fn parse(s: &str) -> Option<Direction> {
        match s {
            "USER_INITIATED" => Some(Direction::UserInitiated),
            "BUSINESS_INITIATED" => Some(Direction::BusinessInitiated),
            _ => None,
        }
    }
}

/// Everything callgate remembers about one call. Times are ms since the UNIX epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRecord {
    /// Meta's call id (`wacid.…`), or a local id for a business-initiated call Meta has not yet
    /// named (see [`Store::rename_call`]).
    pub id: String,
    /// Who placed the call.
    pub direction: Direction,
    /// The business phone number id (`metadata.phone_number_id`).
    pub phone_number_id: String,
    /// The business's display number, when known.
    pub business_number: Option<String>,
    /// The user's WhatsApp number (`wa_id`), absent for username-only users.
    pub user_wa_id: Option<String>,
    /// The user's business-scoped user id (BSUID, 2026 payloads).
    pub user_id: Option<String>,
    /// The call's state as the call module names it ([`ENDED_STATE`] once ended).
    pub state: String,
    /// When callgate created the record.
    pub created_at_ms: i64,
    /// When the call started ringing (BIC `RINGING` status, UIC offer received).
    pub ringing_at_ms: Option<i64>,
    /// When callgate sent `pre_accept` (UIC).
    pub pre_accepted_at_ms: Option<i64>,
    /// When the call was accepted (UIC `accept` sent, BIC `ACCEPTED` status).
    pub accepted_at_ms: Option<i64>,
    /// When media flowed both ways.
    pub connected_at_ms: Option<i64>,
    /// When the call ended.
    pub ended_at_ms: Option<i64>,
    /// How it ended, e.g. `completed`, `rejected`, `missed`, `failed`.
    pub outcome: Option<String>,
    /// Why it ended, in words or a code (`user_hangup`, `sip_486`, `answer_timeout`).
    pub end_reason: Option<String>,
    /// Which side ended it (`user`, `business`, `pbx`, `callgate`, `meta`).
    pub ended_by: Option<String>,
    /// Meta's error code from a failed terminate or Graph call (138xxx).
    pub meta_error_code: Option<i64>,
    /// Talk time in seconds, if answered.
    pub duration_s: Option<i64>,
    /// Billing pulses (see [`crate::store::billing_pulses`]).
    pub billing_pulses: Option<i64>,
    /// Payload of the call button the call came from.
    pub cta_payload: Option<String>,
    /// Payload of the deep link the call came from.
    pub deeplink_payload: Option<String>,
    /// The opaque data the business attached to a business-initiated call.
    pub biz_opaque_callback_data: Option<String>,
    /// The SIP URI the call was routed to or came from.
    pub sip_target: Option<String>,
    /// Media quality stats (loss, jitter, RTT, MOS), free-form JSON.
    pub stats: Option<serde_json::Value>,
    /// The policy decision that let the call go ahead or stopped it (allowed, reason, rule,
    /// permission), JSON.
    pub decision: Option<serde_json::Value>,
    /// Meta's call id (`wacid.…`): the record id for user-initiated calls; for a
    /// business-initiated call, known once Meta answered `connect` (its record id is callgate's).
    pub meta_call_id: Option<String>,
}

impl CallRecord {
    /// A record with the required fields set and every optional one empty.
    pub fn new(
        id: impl Into<String>,
        direction: Direction,
        phone_number_id: impl Into<String>,
        state: impl Into<String>,
        created_at_ms: i64,
    ) -> CallRecord {
        CallRecord {
            id: id.into(),
            direction,
            phone_number_id: phone_number_id.into(),
            business_number: None,
            user_wa_id: None,
            user_id: None,
            state: state.into(),
            created_at_ms,
            ringing_at_ms: None,
            pre_accepted_at_ms: None,
            accepted_at_ms: None,
            connected_at_ms: None,
            ended_at_ms: None,
            outcome: None,
            end_reason: None,
            ended_by: None,
            meta_error_code: None,
            duration_s: None,
            billing_pulses: None,
            cta_payload: None,
            deeplink_payload: None,
            biz_opaque_callback_data: None,
            sip_target: None,
            stats: None,
            decision: None,
            meta_call_id: None,
        }
    }
}

pub(super) const COLUMNS: &str = "id, direction, phone_number_id, business_number, user_wa_id, user_id, \
    state, created_at_ms, ringing_at_ms, pre_accepted_at_ms, accepted_at_ms, connected_at_ms, \
    ended_at_ms, outcome, end_reason, ended_by, meta_error_code, duration_s, billing_pulses, \
    cta_payload, deeplink_payload, biz_opaque_callback_data, sip_target, stats, decision, meta_call_id";

const PLACEHOLDERS: &str = "?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, \
    ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26";

/// Binds a record in [`COLUMNS`] order.
fn bind(rec: &CallRecord) -> Result<Vec<Value>, StoreError> {
    let stats = rec.stats.as_ref().map(serde_json::to_string).transpose()?;
    let decision = rec
        .decision
        .as_ref()
        .map(serde_json::to_string)
        .transpose()?;
    let text = |v: &Option<String>| v.clone().map_or(Value::Null, Value::Text);
    let int = |v: Option<i64>| v.map_or(Value::Null, Value::Integer);
    Ok(vec![
        Value::Text(rec.id.clone()),
        Value::Text(rec.direction.as_str().to_owned()),
        Value::Text(rec.phone_number_id.clone()),
        text(&rec.business_number),
        text(&rec.user_wa_id),
        text(&rec.user_id),
        Value::Text(rec.state.clone()),
        Value::Integer(rec.created_at_ms),
        int(rec.ringing_at_ms),
        int(rec.pre_accepted_at_ms),
        int(rec.accepted_at_ms),
        int(rec.connected_at_ms),
        int(rec.ended_at_ms),
        text(&rec.outcome),
        text(&rec.end_reason),
        text(&rec.ended_by),
        int(rec.meta_error_code),
        int(rec.duration_s),
        int(rec.billing_pulses),
        text(&rec.cta_payload),
        text(&rec.deeplink_payload),
        text(&rec.biz_opaque_callback_data),
        text(&rec.sip_target),
        text(&stats),
        text(&decision),
        text(&rec.meta_call_id),
    ])
}

/// The raw row; turned into a [`CallRecord`] outside rusqlite so decode errors carry the call id.
pub(super) struct RawRow {
    direction: String,
    stats: Option<String>,
    decision: Option<String>,
    rec: CallRecord,
}

pub(super) fn read_row(row: &Row<'_>) -> rusqlite::Result<RawRow> {
    let direction: String = row.get(1)?;
    let stats: Option<String> = row.get(23)?;
    let decision: Option<String> = row.get(24)?;
    Ok(RawRow {
        direction,
        stats,
        decision,
        rec: CallRecord {
            id: row.get(0)?,
            direction: Direction::UserInitiated, // replaced in `decode`
            phone_number_id: row.get(2)?,
            business_number: row.get(3)?,
            user_wa_id: row.get(4)?,
            user_id: row.get(5)?,
            state: row.get(6)?,
            created_at_ms: row.get(7)?,
            ringing_at_ms: row.get(8)?,
            pre_accepted_at_ms: row.get(9)?,
            accepted_at_ms: row.get(10)?,
            connected_at_ms: row.get(11)?,
            ended_at_ms: row.get(12)?,
            outcome: row.get(13)?,
            end_reason: row.get(14)?,
            ended_by: row.get(15)?,
            meta_error_code: row.get(16)?,
            duration_s: row.get(17)?,
            billing_pulses: row.get(18)?,
            cta_payload: row.get(19)?,
            deeplink_payload: row.get(20)?,
            biz_opaque_callback_data: row.get(21)?,
            sip_target: row.get(22)?,
            stats: None,    // filled in `decode`
            decision: None, // filled in `decode`
            meta_call_id: row.get(25)?,
        },
    })
}

pub(super) fn decode(raw: RawRow) -> Result<CallRecord, StoreError> {
    let RawRow {
        direction,
        stats,
        decision,
        mut rec,
    } = raw;
    let bad = |reason: String| StoreError::BadRow {
        table: "calls",
        key: rec.id.clone(),
        reason,
    };
    rec.direction = Direction::parse(&direction)
        .ok_or_else(|| bad(format!("unknown direction {direction:?}")))?;
    rec.stats = stats
        .map(|s| serde_json::from_str(&s))
        .transpose()
        .map_err(|e| bad(format!("stats is not JSON: {e}")))?;
    rec.decision = decision
        .map(|s| serde_json::from_str(&s))
        .transpose()
        .map_err(|e| bad(format!("decision is not JSON: {e}")))?;
    Ok(rec)
}

/// Reads one record inside an open connection or transaction.
pub(super) fn get_in(conn: &Connection, id: &str) -> Result<Option<CallRecord>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM calls WHERE id = ?1"))?;
    stmt.query_row(params![id], read_row)
        .optional()?
        .map(decode)
        .transpose()
}

/// Replaces every column of an existing record inside an open connection or transaction.
pub(super) fn update_in(conn: &Connection, rec: &CallRecord) -> Result<(), StoreError> {
    let sets: Vec<String> = COLUMNS
        .split(',')
        .map(str::trim)
        .enumerate()
        .skip(1)
        .map(|(i, col)| format!("{col} = ?{}", i + 1))
        .collect();
    let sql = format!("UPDATE calls SET {} WHERE id = ?1", sets.join(", "));
    let changed = conn
        .prepare_cached(&sql)?
        .execute(params_from_iter(bind(rec)?))?;
    if changed == 0 {
        return Err(StoreError::CallNotFound { id: rec.id.clone() });
    }
    Ok(())
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
}

impl Store {
    /// Inserts a new record. Fails with [`StoreError::CallExists`] if the id already has one.
    pub fn insert_call(&self, rec: &CallRecord) -> Result<(), StoreError> {
        let conn = self.lock();
        let sql = format!("INSERT INTO calls ({COLUMNS}) VALUES ({PLACEHOLDERS})");
        match conn
            .prepare_cached(&sql)?
            .execute(params_from_iter(bind(rec)?))
        {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(StoreError::CallExists { id: rec.id.clone() }),
            Err(e) => Err(e.into()),
        }
    }

    /// Replaces every field of an existing record with `rec`'s. Fails with
    /// [`StoreError::CallNotFound`] if there is no record with `rec.id`.
    pub fn update_call(&self, rec: &CallRecord) -> Result<(), StoreError> {
        update_in(&self.lock(), rec)
    }

    /// Inserts `rec`, or replaces every field of the existing record with the same id.
    pub fn upsert_call(&self, rec: &CallRecord) -> Result<(), StoreError> {
        let updates: Vec<String> = COLUMNS
            .split(',')
            .map(str::trim)
            .skip(1)
            .map(|col| format!("{col} = excluded.{col}"))
            .collect();
        let sql = format!(
            "INSERT INTO calls ({COLUMNS}) VALUES ({PLACEHOLDERS}) \
             ON CONFLICT (id) DO UPDATE SET {}",
            updates.join(", ")
        );
        self.lock()
            .prepare_cached(&sql)?
            .execute(params_from_iter(bind(rec)?))?;
        Ok(())
    }

    /// The record for `id`, if any.
    pub fn get_call(&self, id: &str) -> Result<Option<CallRecord>, StoreError> {
        get_in(&self.lock(), id)
    }

    /// The record whose id or Meta call id is `id` (API lookups accept either).
    pub fn find_call(&self, id: &str) -> Result<Option<CallRecord>, StoreError> {
        let conn = self.lock();
        if let Some(rec) = get_in(&conn, id)? {
            return Ok(Some(rec));
        }
        let key: Option<String> = conn
            .prepare_cached("SELECT id FROM calls WHERE meta_call_id = ?1 LIMIT 1")?
            .query_row(params![id], |r| r.get(0))
            .optional()?;
        match key {
            Some(k) => get_in(&conn, &k),
            None => Ok(None),
        }
    }

    /// Gives a record its Meta call id once Graph returns it, moving its timeline along.
    /// Fails with [`StoreError::CallNotFound`] if `old_id` has no record and with
    /// [`StoreError::CallExists`] if `new_id` already has one (then merge by hand or keep both).
    pub fn rename_call(&self, old_id: &str, new_id: &str) -> Result<(), StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        match tx.execute(
            "UPDATE calls SET id = ?2 WHERE id = ?1",
            params![old_id, new_id],
        ) {
            Ok(0) => {
                return Err(StoreError::CallNotFound {
                    id: old_id.to_owned(),
                });
            }
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::CallExists {
                    id: new_id.to_owned(),
                });
            }
            Err(e) => return Err(e.into()),
        }
        tx.execute(
            "UPDATE call_events SET call_id = ?2 WHERE call_id = ?1",
            params![old_id, new_id],
        )?;
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uic(id: &str, at: i64) -> CallRecord {
        CallRecord::new(id, Direction::UserInitiated, "pn-1", "ringing", at)
    }

    fn full_record() -> CallRecord {
        CallRecord {
            business_number: Some("16315553601".into()),
            user_wa_id: Some("16315553602".into()),
            user_id: Some("US.13491208655302741918".into()),
            ringing_at_ms: Some(2),
            pre_accepted_at_ms: Some(3),
            accepted_at_ms: Some(4),
            connected_at_ms: Some(5),
            ended_at_ms: Some(65_005),
            outcome: Some("completed".into()),
            end_reason: Some("user_hangup".into()),
            ended_by: Some("user".into()),
            meta_error_code: Some(138021),
            duration_s: Some(65),
            billing_pulses: Some(11),
            cta_payload: Some("cta".into()),
            deeplink_payload: Some("deep".into()),
            biz_opaque_callback_data: Some("TRx334".into()),
            sip_target: Some("sip:100@pbx.example".into()),
            stats: Some(serde_json::json!({"loss": 0.01, "mos": 4.2})),
            ..CallRecord::new(
                "wacid.full",
                Direction::BusinessInitiated,
                "pn-1",
                ENDED_STATE,
                1,
            )
        }
    }

    #[test]
    fn inserted_record_reads_back_field_for_field() {
        let store = Store::open_in_memory().unwrap();
        let rec = full_record();
        store.insert_call(&rec).unwrap();
        assert_eq!(store.get_call("wacid.full").unwrap(), Some(rec));
        let sparse = uic("wacid.sparse", 7);
        store.insert_call(&sparse).unwrap();
        assert_eq!(store.get_call("wacid.sparse").unwrap(), Some(sparse));
    }

    #[test]
    fn unknown_call_reads_as_none() {
        let store = Store::open_in_memory().unwrap();
        assert_eq!(store.get_call("wacid.nope").unwrap(), None);
    }

    #[test]
    fn duplicate_insert_is_refused() {
        let store = Store::open_in_memory().unwrap();
        store.insert_call(&uic("wacid.1", 1)).unwrap();
        let err = store.insert_call(&uic("wacid.1", 2)).unwrap_err();
        assert!(
            matches!(err, StoreError::CallExists { ref id } if id == "wacid.1"),
            "{err}"
        );
        assert_eq!(store.get_call("wacid.1").unwrap().unwrap().created_at_ms, 1);
    }

    #[test]
    fn update_replaces_fields_and_requires_existing_record() {
        let store = Store::open_in_memory().unwrap();
        let mut rec = uic("wacid.1", 1);
        let err = store.update_call(&rec).unwrap_err();
        assert!(matches!(err, StoreError::CallNotFound { .. }), "{err}");
        store.insert_call(&rec).unwrap();
        rec.state = "connected".into();
        rec.connected_at_ms = Some(9);
        rec.stats = Some(serde_json::json!({"jitter_ms": 3}));
        store.update_call(&rec).unwrap();
        assert_eq!(store.get_call("wacid.1").unwrap(), Some(rec.clone()));
        rec.stats = None;
        store.update_call(&rec).unwrap();
        assert_eq!(store.get_call("wacid.1").unwrap().unwrap().stats, None);
    }

    #[test]
    fn upsert_inserts_then_replaces() {
        let store = Store::open_in_memory().unwrap();
        let mut rec = uic("wacid.1", 1);
        store.upsert_call(&rec).unwrap();
        assert_eq!(store.get_call("wacid.1").unwrap(), Some(rec.clone()));
        rec.state = "accepted".into();
        rec.accepted_at_ms = Some(4);
        store.upsert_call(&rec).unwrap();
        assert_eq!(store.get_call("wacid.1").unwrap(), Some(rec));
    }

    #[test]
    fn rename_gives_local_record_its_meta_id() {
        let store = Store::open_in_memory().unwrap();
        let local = CallRecord::new(
            "local-1",
            Direction::BusinessInitiated,
            "pn-1",
            "dialing",
            1,
        );
        store.insert_call(&local).unwrap();
        store.rename_call("local-1", "wacid.meta").unwrap();
        assert_eq!(store.get_call("local-1").unwrap(), None);
        let rec = store.get_call("wacid.meta").unwrap().unwrap();
        assert_eq!(rec.state, "dialing");

        let err = store.rename_call("local-1", "wacid.x").unwrap_err();
        assert!(matches!(err, StoreError::CallNotFound { .. }), "{err}");
        store.insert_call(&uic("wacid.other", 2)).unwrap();
        let err = store.rename_call("wacid.other", "wacid.meta").unwrap_err();
        assert!(
            matches!(err, StoreError::CallExists { ref id } if id == "wacid.meta"),
            "{err}"
        );
    }

    #[test]
    fn direction_serialises_as_meta_spells_it() {
        let rec = CallRecord::new("c", Direction::BusinessInitiated, "pn", "s", 0);
        let json = serde_json::to_value(&rec).unwrap();
        assert_eq!(json["direction"], "BUSINESS_INITIATED");
        assert_eq!(json["stats"], serde_json::Value::Null);
        assert_eq!(
            serde_json::to_value(Direction::UserInitiated).unwrap(),
            "USER_INITIATED"
        );
    }

    #[test]
    fn hand_edited_row_with_bad_stats_is_reported_with_its_id() {
        let store = Store::open_in_memory().unwrap();
        store.insert_call(&uic("wacid.1", 1)).unwrap();
        store
            .lock()
            .execute(
                "UPDATE calls SET stats = 'not json' WHERE id = 'wacid.1'",
                [],
            )
            .unwrap();
        let err = store.get_call("wacid.1").unwrap_err();
        assert!(
            matches!(err, StoreError::BadRow { table: "calls", ref key, .. } if key == "wacid.1"),
            "{err}"
        );
    }
}
