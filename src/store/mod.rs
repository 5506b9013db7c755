//! The call store: one embedded SQLite database holding the webhook inbox, webhook dedupe keys and
//! call tombstones, call records and per-call event timelines, business hours set through the
//! operator API, with versioned schema migrations.
//!
//! [`Store`] is a cheap-to-clone handle (`Arc<Mutex<Connection>>`) that is `Send + Sync`. Its methods
//! are synchronous: each takes the lock, runs one short statement or transaction and returns. Single
//! row reads and writes take microseconds and may be called from async code directly; anything that
//! scans (listing calls, re-dispatching the inbox, pruning) or that sits on a hot path under load
//! should go through `tokio::task::spawn_blocking(move || store.list_calls(&q))`.
//!
//! The store never reads a clock: every timestamp (`*_ms`, milliseconds since the UNIX epoch) is
//! passed in by the caller, so tests run on virtual time.
//!
//! The database runs in WAL mode with `synchronous=NORMAL`: a committed write survives a process
//! crash (the guarantee the webhook inbox needs: a webhook answered 200 is in the inbox), and only
//! an OS crash or power loss can lose the last transactions.

mod call_end;
mod call_query;
mod calls;
mod dedupe;
mod error;
mod inbox;
pub mod migrations;
mod number_hours;
mod permissions;
mod pricing;
mod timeline;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::Connection;

pub use call_end::CallEnd;
pub use call_query::{CallQuery, MAX_LIST_LIMIT};
pub use calls::{CallRecord, Direction, ENDED_STATE};
pub use error::StoreError;
pub use inbox::InboxRow;
pub use number_hours::NumberHoursRow;
pub use pricing::{PULSE_SECONDS, billing_pulses, pulses_for_duration};
pub use timeline::TimelineEvent;

/// How long a statement waits for another connection's write lock before failing with `SQLITE_BUSY`.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A handle on the call store. Clone it freely; all clones share one connection.
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
    path: Arc<PathBuf>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens (creating if missing) the database at `path`, creating missing parent directories,
    /// and brings its schema up to date.
    ///
    /// Errors name the path and tell the operator to check `[store] path`: an uncreatable
    /// directory ([`StoreError::CreateDir`]), an unopenable or unwritable file
    /// ([`StoreError::Open`], [`StoreError::Migrate`]), or a database from a newer callgate
    /// ([`StoreError::SchemaTooNew`]).
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                dir: dir.to_path_buf(),
                source,
            })?;
        }
        let conn = Connection::open(path).map_err(|source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        Self::setup(conn, path)
    }

    /// Opens a private in-memory store (tests, `callgate demo`). Its contents vanish when the last
    /// clone is dropped.
    pub fn open_in_memory() -> Result<Store, StoreError> {
        let path = Path::new(":memory:");
        let conn = Connection::open_in_memory().map_err(|source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        Self::setup(conn, path)
    }

    fn setup(mut conn: Connection, path: &Path) -> Result<Store, StoreError> {
        let open_err = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
        // Returns the resulting mode: "wal" on disk, "memory" for an in-memory database.
        let _mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", true)
            .map_err(open_err)?;
        migrations::migrate(&mut conn, path)?;
        Ok(Store {
            conn: Arc::new(Mutex::new(conn)),
            path: Arc::new(path.to_path_buf()),
        })
    }

    /// The path the store was opened at (`:memory:` for an in-memory store).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version of the open database (equals [`migrations::latest_version`]).
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(migrations::current_version(&self.lock())?)
    }

    /// Takes the connection. A panic while another thread held the lock cannot leave the database
    /// half-written (an open transaction is rolled back when dropped), so a poisoned lock is
    /// recovered rather than propagated.
    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Milliseconds since the UNIX epoch from the system clock, for callers that stamp store rows.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync_clone<T: Send + Sync + Clone + 'static>() {}

    #[test]
    fn store_is_send_sync_and_clone() {
        assert_send_sync_clone::<Store>();
    }

    #[test]
    fn open_creates_missing_parent_directories() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/calls.db");
        let store = Store::open(&path).unwrap();
        assert!(path.exists());
        assert_eq!(store.path(), path);
        assert_eq!(
            store.schema_version().unwrap(),
            migrations::latest_version()
        );
    }

    #[test]
    fn on_disk_store_uses_wal_normal_sync_and_foreign_keys() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("calls.db")).unwrap();
        let conn = store.lock();
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        let sync: i64 = conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        let fk: i64 = conn
            .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
            .unwrap();
        let busy: i64 = conn
            .query_row("PRAGMA busy_timeout", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        assert_eq!(sync, 1, "NORMAL");
        assert_eq!(fk, 1);
        assert_eq!(busy, BUSY_TIMEOUT.as_millis() as i64);
    }

    #[test]
    fn unusable_path_error_names_path_and_config_key() {
        let dir = tempfile::tempdir().unwrap();
        // A regular file where a directory is needed fails even for root.
        let blocker = dir.path().join("not-a-dir");
        std::fs::write(&blocker, b"x").unwrap();
        let path = blocker.join("calls.db");
        let err = Store::open(&path).unwrap_err();
        assert!(matches!(err, StoreError::CreateDir { .. }), "{err}");
        let msg = err.to_string();
        assert!(msg.contains("not-a-dir"), "{msg}");
        assert!(msg.contains("[store] path"), "{msg}");
    }

    #[test]
    fn directory_as_database_file_is_an_open_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = Store::open(dir.path()).unwrap_err();
        assert!(
            matches!(err, StoreError::Open { .. } | StoreError::Migrate { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("[store] path"), "{err}");
    }

    #[test]
    fn reopen_keeps_data_and_schema_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("calls.db");
        {
            let store = Store::open(&path).unwrap();
            assert!(store.claim_event("wacid.1/connect", 10).unwrap());
            let rec = CallRecord::new("wacid.1", Direction::UserInitiated, "pn", "ringing", 10);
            store.insert_call(&rec).unwrap();
            let event = TimelineEvent {
                at_ms: 10,
                kind: "webhook.connect".into(),
                detail: serde_json::json!({}),
                outcome: None,
            };
            store.append_event("wacid.1", &event).unwrap();
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(
            store.schema_version().unwrap(),
            migrations::latest_version()
        );
        assert!(!store.claim_event("wacid.1/connect", 20).unwrap());
        assert_eq!(store.get_call("wacid.1").unwrap().unwrap().state, "ringing");
        assert_eq!(store.timeline("wacid.1").unwrap().len(), 1);
    }

    #[test]
    fn database_from_newer_callgate_is_refused_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("calls.db");
        drop(Store::open(&path).unwrap());
        {
            let conn = Connection::open(&path).unwrap();
            conn.pragma_update(None, "user_version", 99).unwrap();
        }
        let err = Store::open(&path).unwrap_err();
        assert!(
            matches!(err, StoreError::SchemaTooNew { found: 99, .. }),
            "{err}"
        );
        let msg = err.to_string();
        assert!(msg.contains("database schema version 99"), "{msg}");
        assert!(msg.contains("upgrade callgate"), "{msg}");
    }
}
