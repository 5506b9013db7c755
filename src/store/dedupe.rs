//! Webhook dedupe keys and call tombstones: Meta delivers at least once and in no guaranteed order
//! (spec section 2.5), so callgate claims each event key once and remembers ended call ids, so a
//! connect that arrives after its terminate is ignored.
//!
//! Key format is the caller's choice; the spec suggests call id + event/status, e.g.
//! `wacid.ABGG.../connect` or `wacid.ABGG.../status/RINGING`.

use rusqlite::params;

use super::{Store, StoreError};

impl Store {
    /// Claims an event key seen at `at_ms`. Returns `true` the first time the key is claimed and
    /// `false` for every later claim (a duplicate delivery). Atomic: of any number of concurrent
    /// claims of one key, across threads or processes sharing the file, exactly one gets `true`.
    pub fn claim_event(&self, key: &str, at_ms: i64) -> Result<bool, StoreError> {
        let inserted = self.lock().execute(
            "INSERT INTO event_dedupe (key, first_seen_ms) VALUES (?1, ?2) \
             ON CONFLICT (key) DO NOTHING",
            params![key, at_ms],
        )?;
        Ok(inserted == 1)
    }

    /// Records that `call_id` has ended (or was terminated before callgate saw it connect), so a late
    /// or replayed connect for it is ignored. Adding a tombstone twice keeps the first time.
    pub fn add_tombstone(&self, call_id: &str, at_ms: i64) -> Result<(), StoreError> {
        self.lock().execute(
            "INSERT INTO call_tombstones (call_id, at_ms) VALUES (?1, ?2) \
             ON CONFLICT (call_id) DO NOTHING",
            params![call_id, at_ms],
        )?;
        Ok(())
    }

    /// Whether `call_id` has a tombstone.
    pub fn is_tombstoned(&self, call_id: &str) -> Result<bool, StoreError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM call_tombstones WHERE call_id = ?1)")?;
        Ok(stmt.query_row(params![call_id], |row| row.get(0))?)
    }

    /// Forgets dedupe keys and tombstones older than `older_than_ms` and returns how many went.
    /// Pick a horizon longer than Meta's retry window for calling webhooks (unspecified, spec 2.5).
    pub fn prune_dedupe(&self, older_than_ms: i64) -> Result<usize, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let keys = tx.execute(
            "DELETE FROM event_dedupe WHERE first_seen_ms < ?1",
            params![older_than_ms],
        )?;
        let tombs = tx.execute(
            "DELETE FROM call_tombstones WHERE at_ms < ?1",
            params![older_than_ms],
        )?;
        tx.commit()?;
        Ok(keys + tombs)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Barrier;

    use super::*;

    #[test]
    fn first_claim_wins_and_duplicate_claim_returns_false() {
        let store = Store::open_in_memory().unwrap();
        assert!(store.claim_event("wacid.1/connect", 1).unwrap());
        assert!(!store.claim_event("wacid.1/connect", 2).unwrap());
        assert!(store.claim_event("wacid.1/terminate", 3).unwrap());
        assert!(store.claim_event("wacid.2/connect", 4).unwrap());
    }

    #[test]
    fn claim_is_atomic_across_two_threads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("calls.db");
        // Two separate connections to one file, so SQLite itself (not only our mutex) arbitrates.
        let stores = [Store::open(&path).unwrap(), Store::open(&path).unwrap()];
        for round in 0..50 {
            let key = format!("wacid.{round}/connect");
            let barrier = Barrier::new(2);
            let wins: usize = std::thread::scope(|s| {
                let handles: Vec<_> = stores
                    .iter()
                    .map(|store| {
                        let (key, barrier) = (&key, &barrier);
                        s.spawn(move || {
                            barrier.wait();
                            store.claim_event(key, round).unwrap()
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| usize::from(h.join().unwrap()))
                    .sum()
            });
            assert_eq!(wins, 1, "round {round}: exactly one thread claims the key");
        }
    }

    #[test]
    fn terminate_before_connect_leaves_tombstone_that_rejects_late_connect() {
        let store = Store::open_in_memory().unwrap();
        // The terminate arrives first: claim it, and leave a tombstone for the call.
        assert!(store.claim_event("wacid.9/terminate", 1_000).unwrap());
        assert!(!store.is_tombstoned("wacid.9").unwrap());
        store.add_tombstone("wacid.9", 1_000).unwrap();
        // The late connect is new as an event, but its call is already dead.
        assert!(store.claim_event("wacid.9/connect", 1_500).unwrap());
        assert!(store.is_tombstoned("wacid.9").unwrap());
        assert!(!store.is_tombstoned("wacid.10").unwrap());
    }

    #[test]
    fn adding_a_tombstone_twice_keeps_the_first() {
        let store = Store::open_in_memory().unwrap();
        store.add_tombstone("wacid.1", 100).unwrap();
        store.add_tombstone("wacid.1", 900).unwrap();
        // Pruning at 500 removes it, so the first time (100) was kept.
        assert_eq!(store.prune_dedupe(500).unwrap(), 1);
        assert!(!store.is_tombstoned("wacid.1").unwrap());
    }

    #[test]
    fn prune_forgets_old_keys_and_tombstones_only() {
        let store = Store::open_in_memory().unwrap();
        store.claim_event("old", 10).unwrap();
        store.claim_event("new", 100).unwrap();
        store.add_tombstone("wacid.old", 10).unwrap();
        store.add_tombstone("wacid.new", 100).unwrap();

        assert_eq!(store.prune_dedupe(50).unwrap(), 2);
        assert!(
            store.claim_event("old", 200).unwrap(),
            "old key was forgotten"
        );
        assert!(!store.claim_event("new", 200).unwrap(), "new key is kept");
        assert!(!store.is_tombstoned("wacid.old").unwrap());
        assert!(store.is_tombstoned("wacid.new").unwrap());
    }
}
