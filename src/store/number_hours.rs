//! Business hours set through the operator API (`PUT /v1/numbers/{id}/hours`), one row per
//! number holding Meta's `call_hours` JSON. They survive restarts and win over `[numbers.hours]`
//! until deleted.

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError};

/// One stored row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberHoursRow {
    /// Meta's phone number id.
    pub phone_number_id: String,
    /// The hours, as `call_hours` JSON.
    pub hours_json: String,
    /// When they were set (Unix milliseconds).
    pub updated_at_ms: i64,
}

impl Store {
    /// Stores (replacing) the hours of a number.
    pub fn put_number_hours(
        &self,
        phone_number_id: &str,
        hours_json: &str,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        self.lock().execute(
            "INSERT INTO number_hours (phone_number_id, hours_json, updated_at_ms) \
             VALUES (?1, ?2, ?3) ON CONFLICT (phone_number_id) DO UPDATE SET \
             hours_json = excluded.hours_json, updated_at_ms = excluded.updated_at_ms",
            params![phone_number_id, hours_json, at_ms],
        )?;
        Ok(())
    }

    /// Forgets the stored hours of a number; returns whether there were any.
    pub fn delete_number_hours(&self, phone_number_id: &str) -> Result<bool, StoreError> {
        let n = self.lock().execute(
            "DELETE FROM number_hours WHERE phone_number_id = ?1",
            params![phone_number_id],
        )?;
        Ok(n > 0)
    }

    /// The stored hours of one number.
    pub fn get_number_hours(
        &self,
        phone_number_id: &str,
    ) -> Result<Option<NumberHoursRow>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT phone_number_id, hours_json, updated_at_ms FROM number_hours \
             WHERE phone_number_id = ?1",
        )?;
        Ok(stmt.query_row(params![phone_number_id], row).optional()?)
    }

    /// Every stored row, by phone number id.
    pub fn number_hours(&self) -> Result<Vec<NumberHoursRow>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT phone_number_id, hours_json, updated_at_ms FROM number_hours \
             ORDER BY phone_number_id",
        )?;
        let rows = stmt.query_map([], row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<NumberHoursRow> {
    Ok(NumberHoursRow {
        phone_number_id: r.get(0)?,
        hours_json: r.get(1)?,
        updated_at_ms: r.get(2)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_are_replaced_listed_and_deleted_per_number() {
        let s = Store::open_in_memory().unwrap();
        assert!(s.number_hours().unwrap().is_empty());
        s.put_number_hours("2", r#"{"status":"DISABLED"}"#, 10)
            .unwrap();
        s.put_number_hours("1", r#"{"status":"ENABLED"}"#, 11)
            .unwrap();
        s.put_number_hours("2", r#"{"status":"ENABLED"}"#, 12)
            .unwrap();
        let rows = s.number_hours().unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].hours_json, r#"{"status":"ENABLED"}"#);
        assert_eq!(rows[1].updated_at_ms, 12);
        assert!(s.delete_number_hours("2").unwrap());
        assert!(!s.delete_number_hours("2").unwrap());
        assert_eq!(s.get_number_hours("2").unwrap(), None);
        assert!(s.get_number_hours("1").unwrap().is_some());
    }
}
