//! The store's error type: every way opening, migrating or querying the call store can fail, each
//! with a message that tells the operator what to check.

use std::path::PathBuf;

/// What went wrong in the call store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The directory that should hold the database file could not be created.
    #[error(
        "cannot create the directory {dir} for the call store: {source}; check [store] path and its permissions"
    )]
    CreateDir {
        /// The directory callgate tried to create.
        dir: PathBuf,
        /// The error from the file system.
        source: std::io::Error,
    },
    /// SQLite could not open the database file or set it up (WAL, timeouts, foreign keys).
    #[error(
        "cannot open the call store at {path}: {source}; check [store] path and its permissions"
    )]
    Open {
        /// The database path (`:memory:` for an in-memory store).
        path: PathBuf,
        /// The error from SQLite.
        source: rusqlite::Error,
    },
    /// The database was written by a newer callgate whose schema this version does not know.
    #[error(
        "database schema version {found} at {path} is newer than this callgate knows ({known}): upgrade callgate or point [store] path elsewhere"
    )]
    SchemaTooNew {
        /// The database path.
        path: PathBuf,
        /// The schema version recorded in the database.
        found: i64,
        /// The newest schema version this build knows.
        known: i64,
    },
    /// A schema migration failed; it was rolled back, the database keeps its previous version.
    #[error(
        "cannot upgrade the call store at {path} to schema version {version}: {source}; check that [store] path is writable and the disk is not full"
    )]
    Migrate {
        /// The database path.
        path: PathBuf,
        /// The version of the migration that failed.
        version: i64,
        /// The error from SQLite.
        source: rusqlite::Error,
    },
    /// A read or write failed after the store was opened (disk full, file removed, I/O error).
    #[error(
        "call store query failed: {0}; check the disk behind [store] path (free space, permissions)"
    )]
    Sqlite(#[from] rusqlite::Error),
    /// `insert_call` was given an id that already has a record.
    #[error(
        "call {id} is already in the store: a duplicate insert, use update_call or upsert_call"
    )]
    CallExists {
        /// The call id.
        id: String,
    },
    /// An update or end was asked for a call the store has no record of.
    #[error("call {id} is not in the store: it was never inserted or has been pruned")]
    CallNotFound {
        /// The call id.
        id: String,
    },
    /// `mark_webhook_processed` was given an inbox id the store does not hold.
    #[error("webhook inbox entry {id} is not in the store: it was never inserted or was pruned")]
    WebhookNotFound {
        /// The inbox id.
        id: i64,
    },
    /// A stored row could not be turned back into its Rust type (edited by hand, or corrupted).
    #[error(
        "unreadable row in the call store ({table} {key}): {reason}; the database was edited outside callgate or is damaged"
    )]
    BadRow {
        /// The table the row is in.
        table: &'static str,
        /// The row's key (call id, event sequence number).
        key: String,
        /// What could not be read.
        reason: String,
    },
    /// A JSON value (call stats, event detail) could not be serialised for storage.
    #[error("cannot serialise a JSON value for the call store: {0}")]
    Json(#[from] serde_json::Error),
}
