//! Listing call records for the operator API: newest first, filtered by direction and business
//! number, paged with a (time, id) cursor.

use rusqlite::params_from_iter;
use rusqlite::types::Value;

use super::calls::{COLUMNS, decode, read_row};
use super::{CallRecord, Direction, Store, StoreError};

/// The most records one [`Store::list_calls`] returns, whatever `limit` asks for.
pub const MAX_LIST_LIMIT: u32 = 1000;

/// Which records [`Store::list_calls`] returns: newest first (by `created_at_ms`, then `id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallQuery {
    /// At most this many records (capped at [`MAX_LIST_LIMIT`]; 0 returns none).
    pub limit: u32,
    /// Only records created before this time. To page, pass the last record's `created_at_ms`
    /// here and its `id` in `before_id`.
    pub before_ms: Option<i64>,
    /// With `before_ms`: also include records created exactly at `before_ms` whose id sorts
    /// before this one, so records sharing a millisecond are neither skipped nor repeated.
    pub before_id: Option<String>,
    /// Only calls in this direction.
    pub direction: Option<Direction>,
    /// Only calls on this business phone number id.
    pub phone_number_id: Option<String>,
}

impl Default for CallQuery {
    /// The newest 50 calls, unfiltered.
    fn default() -> Self {
        CallQuery {
            limit: 50,
            before_ms: None,
            before_id: None,
            direction: None,
            phone_number_id: None,
        }
    }
}

impl Store {
    /// Records matching `q`, newest first. See [`CallQuery`] for paging.
    pub fn list_calls(&self, q: &CallQuery) -> Result<Vec<CallRecord>, StoreError> {
        let mut clauses: Vec<&str> = Vec::new();
        let mut args: Vec<Value> = Vec::new();
        match (q.before_ms, &q.before_id) {
            (Some(ms), Some(id)) => {
                clauses.push("(created_at_ms, id) < (?, ?)");
                args.extend([Value::Integer(ms), Value::Text(id.clone())]);
            }
            (Some(ms), None) => {
                clauses.push("created_at_ms < ?");
                args.push(Value::Integer(ms));
            }
            (None, _) => {}
        }
        if let Some(d) = q.direction {
            clauses.push("direction = ?");
            args.push(Value::Text(d.as_str().to_owned()));
        }
        if let Some(pnid) = &q.phone_number_id {
            clauses.push("phone_number_id = ?");
            args.push(Value::Text(pnid.clone()));
        }
        let filter = if clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", clauses.join(" AND "))
        };
        args.push(Value::Integer(i64::from(q.limit.min(MAX_LIST_LIMIT))));
        let sql = format!(
            "SELECT {COLUMNS} FROM calls {filter} ORDER BY created_at_ms DESC, id DESC LIMIT ?"
        );
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(&sql)?;
        let raws = stmt
            .query_map(params_from_iter(args), read_row)?
            .collect::<Result<Vec<_>, _>>()?;
        raws.into_iter().map(decode).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uic(id: &str, at: i64) -> CallRecord {
        CallRecord::new(id, Direction::UserInitiated, "pn-1", "ringing", at)
    }

    fn ids(recs: &[CallRecord]) -> Vec<&str> {
        recs.iter().map(|r| r.id.as_str()).collect()
    }

    #[test]
    fn list_is_newest_first_and_limited() {
        let store = Store::open_in_memory().unwrap();
        for (id, at) in [("a", 10), ("c", 30), ("b", 20), ("d", 40)] {
            store.insert_call(&uic(id, at)).unwrap();
        }
        let q = CallQuery {
            limit: 3,
            ..CallQuery::default()
        };
        assert_eq!(ids(&store.list_calls(&q).unwrap()), ["d", "c", "b"]);
        let none = CallQuery {
            limit: 0,
            ..CallQuery::default()
        };
        assert!(store.list_calls(&none).unwrap().is_empty());
    }

    #[test]
    fn paging_by_time_and_id_neither_skips_nor_repeats() {
        let store = Store::open_in_memory().unwrap();
        // Three calls share a millisecond.
        for (id, at) in [("a", 10), ("b", 20), ("c", 20), ("d", 20), ("e", 30)] {
            store.insert_call(&uic(id, at)).unwrap();
        }
        let mut seen = Vec::new();
        let mut q = CallQuery {
            limit: 2,
            ..CallQuery::default()
        };
        loop {
            let page = store.list_calls(&q).unwrap();
            let Some(last) = page.last() else { break };
            q.before_ms = Some(last.created_at_ms);
            q.before_id = Some(last.id.clone());
            seen.extend(page.iter().map(|r| r.id.clone()));
        }
        assert_eq!(seen, ["e", "d", "c", "b", "a"]);

        let by_ms = CallQuery {
            before_ms: Some(20),
            ..CallQuery::default()
        };
        assert_eq!(ids(&store.list_calls(&by_ms).unwrap()), ["a"]);
    }

    #[test]
    fn list_filters_by_direction_and_number() {
        let store = Store::open_in_memory().unwrap();
        store.insert_call(&uic("u1", 1)).unwrap();
        store
            .insert_call(&CallRecord::new(
                "b1",
                Direction::BusinessInitiated,
                "pn-1",
                "s",
                2,
            ))
            .unwrap();
        store
            .insert_call(&CallRecord::new(
                "u2",
                Direction::UserInitiated,
                "pn-2",
                "s",
                3,
            ))
            .unwrap();
        let bic = CallQuery {
            direction: Some(Direction::BusinessInitiated),
            ..CallQuery::default()
        };
        assert_eq!(ids(&store.list_calls(&bic).unwrap()), ["b1"]);
        let pn1 = CallQuery {
            phone_number_id: Some("pn-1".into()),
            ..CallQuery::default()
        };
        assert_eq!(ids(&store.list_calls(&pn1).unwrap()), ["b1", "u1"]);
        let pn1_uic = CallQuery {
            phone_number_id: Some("pn-1".into()),
            direction: Some(Direction::UserInitiated),
            ..CallQuery::default()
        };
        assert_eq!(ids(&store.list_calls(&pn1_uic).unwrap()), ["u1"]);
        let pn9 = CallQuery {
            phone_number_id: Some("pn-9".into()),
            ..CallQuery::default()
        };
        assert!(store.list_calls(&pn9).unwrap().is_empty());
    }

    #[test]
    fn list_limit_is_capped() {
        let store = Store::open_in_memory().unwrap();
        for i in 0..(MAX_LIST_LIMIT as i64 + 5) {
            store.insert_call(&uic(&format!("c{i}"), i)).unwrap();
        }
        let q = CallQuery {
            limit: u32::MAX,
            ..CallQuery::default()
        };
        assert_eq!(store.list_calls(&q).unwrap().len(), MAX_LIST_LIMIT as usize);
    }
}
