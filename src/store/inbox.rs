//! The webhook inbox: raw webhook bodies written before Meta gets its 200, so an event that was
//! answered is either processed or found again at startup after a crash.
//!
//! Contract for the webhook handler: verify the signature, [`Store::insert_webhook`], reply 200,
//! dispatch, then [`Store::mark_webhook_processed`]. At startup, re-dispatch
//! [`Store::unprocessed_webhooks`] (dedupe keys make the replay idempotent).

use rusqlite::params;
use serde::Serialize;

use super::{Store, StoreError};

/// A webhook body waiting in the inbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InboxRow {
    /// The inbox id returned by [`Store::insert_webhook`].
    pub id: i64,
    /// When callgate received it (ms since the UNIX epoch).
    pub received_at_ms: i64,
    /// The raw body exactly as received (the bytes the signature covers).
    pub body: Vec<u8>,
}

impl Store {
    /// Durably records a received webhook body and returns its inbox id. Once this returns, the body
    /// survives a process crash.
    pub fn insert_webhook(&self, received_at_ms: i64, body: &[u8]) -> Result<i64, StoreError> {
        let conn = self.lock();
        conn.execute(
            "INSERT INTO webhook_inbox (received_at_ms, body) VALUES (?1, ?2)",
            params![received_at_ms, body],
        )?;
        Ok(conn.last_insert_rowid())
    }

    /// Marks an inbox entry as handled, with a short outcome for diagnostics (`"dispatched"`,
    /// `"duplicate"`, `"unparseable"`, ...). Marking twice overwrites the outcome.
    pub fn mark_webhook_processed(&self, id: i64, outcome: &str) -> Result<(), StoreError> {
        let changed = self.lock().execute(
            "UPDATE webhook_inbox SET processed = 1, outcome = ?2 WHERE id = ?1",
            params![id, outcome],
        )?;
        if changed == 0 {
            return Err(StoreError::WebhookNotFound { id });
        }
        Ok(())
    }

    /// Every entry not yet marked processed, oldest first: what to re-dispatch at startup.
    pub fn unprocessed_webhooks(&self) -> Result<Vec<InboxRow>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT id, received_at_ms, body FROM webhook_inbox WHERE processed = 0 ORDER BY id",
        )?;
        let rows = stmt.query_map([], |row| {
            Ok(InboxRow {
                id: row.get(0)?,
                received_at_ms: row.get(1)?,
                body: row.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Deletes processed entries received before `older_than_ms` and returns how many went.
    /// Unprocessed entries are kept whatever their age: they are re-dispatched, then pruned.
    pub fn prune_webhooks(&self, older_than_ms: i64) -> Result<usize, StoreError> {
        Ok(self.lock().execute(
            "DELETE FROM webhook_inbox WHERE processed = 1 AND received_at_ms < ?1",
            params![older_than_ms],
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserted_webhook_is_unprocessed_until_marked() {
        let store = Store::open_in_memory().unwrap();
        let a = store.insert_webhook(100, b"{\"a\":1}").unwrap();
        let b = store.insert_webhook(101, b"{\"b\":2}").unwrap();
        assert!(b > a);
        assert_eq!(
            store.unprocessed_webhooks().unwrap(),
            vec![
                InboxRow {
                    id: a,
                    received_at_ms: 100,
                    body: b"{\"a\":1}".to_vec()
                },
                InboxRow {
                    id: b,
                    received_at_ms: 101,
                    body: b"{\"b\":2}".to_vec()
                },
            ]
        );
        store.mark_webhook_processed(a, "dispatched").unwrap();
        let left = store.unprocessed_webhooks().unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].id, b);
    }

    #[test]
    fn body_bytes_are_kept_verbatim() {
        let store = Store::open_in_memory().unwrap();
        let body = [0u8, 0xff, b'{', 0x80, b'\n'];
        store.insert_webhook(1, &body).unwrap();
        assert_eq!(store.unprocessed_webhooks().unwrap()[0].body, body);
    }

    #[test]
    fn marking_unknown_webhook_is_an_error() {
        let store = Store::open_in_memory().unwrap();
        let err = store.mark_webhook_processed(42, "dispatched").unwrap_err();
        assert!(
            matches!(err, StoreError::WebhookNotFound { id: 42 }),
            "{err}"
        );
    }

    #[test]
    fn unprocessed_webhook_survives_crash_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("calls.db");
        let (crashed, handled) = {
            let store = Store::open(&path).unwrap();
            let handled = store.insert_webhook(5, b"handled").unwrap();
            store.mark_webhook_processed(handled, "dispatched").unwrap();
            let crashed = store
                .insert_webhook(6, b"answered 200, then crash")
                .unwrap();
            // Dropped without marking: the process died before dispatching.
            (crashed, handled)
        };
        let store = Store::open(&path).unwrap();
        let rows = store.unprocessed_webhooks().unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].id, crashed);
        assert_ne!(rows[0].id, handled);
        assert_eq!(rows[0].body, b"answered 200, then crash");
    }

    #[test]
    fn prune_removes_only_old_processed_webhooks() {
        let store = Store::open_in_memory().unwrap();
        let old_done = store.insert_webhook(10, b"old done").unwrap();
        let old_pending = store.insert_webhook(11, b"old pending").unwrap();
        let new_done = store.insert_webhook(100, b"new done").unwrap();
        store
            .mark_webhook_processed(old_done, "dispatched")
            .unwrap();
        store
            .mark_webhook_processed(new_done, "dispatched")
            .unwrap();

        assert_eq!(store.prune_webhooks(50).unwrap(), 1);
        let pending = store.unprocessed_webhooks().unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].id, old_pending);
        // The new processed row is still there: marking it again succeeds.
        store.mark_webhook_processed(new_done, "again").unwrap();
        let err = store.mark_webhook_processed(old_done, "again").unwrap_err();
        assert!(matches!(err, StoreError::WebhookNotFound { .. }));
    }
}
