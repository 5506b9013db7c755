//! Call-permission state per (business number, WhatsApp user), stored as JSON so the
//! permission engine (`crate::policy::permissions`) owns its shape and the store only keeps it
//! across restarts.

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError};

impl Store {
    /// The stored permission state of (`phone_number_id`, `wa_id`), if any.
    pub fn permission_state(
        &self,
        phone_number_id: &str,
        wa_id: &str,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        let text: Option<String> = self
            .lock()
            .prepare_cached(
                "SELECT state FROM call_permissions WHERE phone_number_id = ?1 AND wa_id = ?2",
            )?
            .query_row(params![phone_number_id, wa_id], |r| r.get(0))
            .optional()?;
        let Some(text) = text else { return Ok(None) };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| StoreError::BadRow {
                table: "call_permissions",
                key: format!("{phone_number_id}/{wa_id}"),
                reason: format!("state is not JSON: {e}"),
            })
    }

    /// Stores the permission state of (`phone_number_id`, `wa_id`), replacing the previous one.
    pub fn put_permission_state(
        &self,
        phone_number_id: &str,
        wa_id: &str,
        state: &serde_json::Value,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let text = serde_json::to_string(state)?;
        self.lock()
            .prepare_cached(
                "INSERT INTO call_permissions (phone_number_id, wa_id, state, updated_at_ms) \
                 VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (phone_number_id, wa_id) \
                 DO UPDATE SET state = excluded.state, updated_at_ms = excluded.updated_at_ms",
            )?
            .execute(params![phone_number_id, wa_id, text, now_ms])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn permission_state_round_trips_and_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        assert_eq!(store.permission_state("pn", "u1").unwrap(), None);
        store
            .put_permission_state("pn", "u1", &json!({"grant": 1}), 10)
            .unwrap();
        store
            .put_permission_state("pn", "u1", &json!({"grant": 2}), 20)
            .unwrap();
        store
            .put_permission_state("pn2", "u1", &json!({"grant": 3}), 20)
            .unwrap();
        assert_eq!(
            store.permission_state("pn", "u1").unwrap(),
            Some(json!({"grant": 2}))
        );
        let reopened = Store::open(&dir.path().join("db")).unwrap();
        assert_eq!(
            reopened.permission_state("pn2", "u1").unwrap(),
            Some(json!({"grant": 3}))
        );
    }
}
