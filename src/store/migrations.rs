//! Versioned schema migrations: the ordered list of SQL steps that build the call store, and the code
//! that applies the missing ones, each in its own transaction, tracking the version in
//! `PRAGMA user_version`.
//!
//! Rules for adding a migration: append to [`MIGRATIONS`], never edit or reorder a released one, and
//! keep each step valid SQL for `execute_batch`. Version `n` is `MIGRATIONS[n - 1]`; a fresh database
//! has version 0.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use super::StoreError;

/// One schema step. `version` must equal its 1-based position in [`MIGRATIONS`].
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// The schema version the database has after this step.
    pub version: i64,
    /// What the step does, for logs.
    pub description: &'static str,
    /// The SQL, run with `execute_batch` inside the step's transaction.
    pub sql: &'static str,
}

/// Every migration this build knows, oldest first.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "webhook inbox, dedupe keys, tombstones, call records, call timelines",
        sql: r#"
CREATE TABLE webhook_inbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at_ms  INTEGER NOT NULL,
    body            BLOB    NOT NULL,
    processed       INTEGER NOT NULL DEFAULT 0,
    outcome         TEXT
);
CREATE INDEX webhook_inbox_unprocessed ON webhook_inbox (id) WHERE processed = 0;
CREATE INDEX webhook_inbox_received ON webhook_inbox (received_at_ms);

CREATE TABLE event_dedupe (
    key             TEXT    PRIMARY KEY,
    first_seen_ms   INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX event_dedupe_seen ON event_dedupe (first_seen_ms);

CREATE TABLE call_tombstones (
    call_id         TEXT    PRIMARY KEY,
    at_ms           INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX call_tombstones_at ON call_tombstones (at_ms);

CREATE TABLE calls (
    id                       TEXT    PRIMARY KEY,
    direction                TEXT    NOT NULL
                             CHECK (direction IN ('USER_INITIATED', 'BUSINESS_INITIATED')),
    phone_number_id          TEXT    NOT NULL,
    business_number          TEXT,
    user_wa_id               TEXT,
    user_id                  TEXT,
    state                    TEXT    NOT NULL,
    created_at_ms            INTEGER NOT NULL,
    ringing_at_ms            INTEGER,
    pre_accepted_at_ms       INTEGER,
    accepted_at_ms           INTEGER,
    connected_at_ms          INTEGER,
    ended_at_ms              INTEGER,
    outcome                  TEXT,
    end_reason               TEXT,
    ended_by                 TEXT,
    meta_error_code          INTEGER,
    duration_s               INTEGER,
    billing_pulses           INTEGER,
    cta_payload              TEXT,
    deeplink_payload         TEXT,
    biz_opaque_callback_data TEXT,
    sip_target               TEXT,
    stats                    TEXT
);
CREATE INDEX calls_created ON calls (created_at_ms DESC, id DESC);
CREATE INDEX calls_number_created ON calls (phone_number_id, created_at_ms DESC, id DESC);

CREATE TABLE call_events (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id         TEXT    NOT NULL,
    at_ms           INTEGER NOT NULL,
    kind            TEXT    NOT NULL,
    detail          TEXT    NOT NULL,
    outcome         TEXT
);
CREATE INDEX call_events_by_call ON call_events (call_id, at_ms, seq);
"#,
    },
    Migration {
        version: 2,
        description: "call permissions per (number, user); each call's policy decision and Meta \
                      call id; business hours set through the operator API",
        sql: r#"
CREATE TABLE call_permissions (
    phone_number_id TEXT    NOT NULL,
    wa_id           TEXT    NOT NULL,
    state           TEXT    NOT NULL,
    updated_at_ms   INTEGER NOT NULL,
    PRIMARY KEY (phone_number_id, wa_id)
) WITHOUT ROWID;
ALTER TABLE calls ADD COLUMN decision TEXT;
ALTER TABLE calls ADD COLUMN meta_call_id TEXT;
CREATE INDEX calls_meta_call_id ON calls (meta_call_id) WHERE meta_call_id IS NOT NULL;
CREATE TABLE number_hours (
    phone_number_id TEXT    PRIMARY KEY,
    hours_json      TEXT    NOT NULL,
    updated_at_ms   INTEGER NOT NULL
) WITHOUT ROWID;
"#,
    },
];

/// The newest schema version this build knows.
pub fn latest_version() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// Reads `PRAGMA user_version`.
pub fn current_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |row| row.get(0))
}

/// Brings the database at `path` (used only in messages) up to [`latest_version`], applying each
/// missing migration in its own `IMMEDIATE` transaction so two processes opening the same file do
/// not both apply a step. Running it on an up-to-date database does nothing.
///
/// Returns the version the database has afterwards. Fails with [`StoreError::SchemaTooNew`] if the
/// database was written by a newer callgate, leaving it untouched.
pub fn migrate(conn: &mut Connection, path: &Path) -> Result<i64, StoreError> {
    migrate_with(conn, path, MIGRATIONS)
}

/// [`migrate`] with an explicit migration list (tests use it to prove rollback of a failing step).
fn migrate_with(
    conn: &mut Connection,
    path: &Path,
    migrations: &[Migration],
) -> Result<i64, StoreError> {
    let known = migrations.last().map_or(0, |m| m.version);
    let open_err = |source| StoreError::Open {
        path: path.to_path_buf(),
        source,
    };
    let found = current_version(conn).map_err(open_err)?;
    check_not_newer(path, found, known)?;
    for step in migrations.iter().filter(|m| m.version > found) {
        let migrate_err = |source| StoreError::Migrate {
            path: path.to_path_buf(),
            version: step.version,
            source,
        };
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(migrate_err)?;
        // Another process may have migrated while we waited for the write lock.
        let now = current_version(&tx).map_err(migrate_err)?;
        check_not_newer(path, now, known)?;
        if now >= step.version {
            continue;
        }
        tx.execute_batch(step.sql).map_err(migrate_err)?;
        tx.pragma_update(None, "user_version", step.version)
            .map_err(migrate_err)?;
        tx.commit().map_err(migrate_err)?;
        tracing::info!(
            version = step.version,
            description = step.description,
            "call store schema migrated"
        );
    }
    current_version(conn).map_err(open_err)
}

fn check_not_newer(path: &Path, found: i64, known: i64) -> Result<(), StoreError> {
    if found > known {
        return Err(StoreError::SchemaTooNew {
            path: path.to_path_buf(),
            found,
            known,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mem() -> Connection {
        Connection::open_in_memory().unwrap()
    }

    #[test]
    fn migration_versions_are_their_positions() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i64 + 1, "{}", m.description);
        }
    }

    #[test]
    fn fresh_database_is_migrated_to_latest() {
        let mut conn = mem();
        assert_eq!(current_version(&conn).unwrap(), 0);
        assert_eq!(
            migrate(&mut conn, Path::new(":memory:")).unwrap(),
            latest_version()
        );
        assert_eq!(current_version(&conn).unwrap(), latest_version());
    }

    #[test]
    fn migrating_twice_changes_nothing() {
        let mut conn = mem();
        migrate(&mut conn, Path::new(":memory:")).unwrap();
        conn.execute(
            "INSERT INTO event_dedupe (key, first_seen_ms) VALUES ('k', 1)",
            [],
        )
        .unwrap();
        assert_eq!(
            migrate(&mut conn, Path::new(":memory:")).unwrap(),
            latest_version()
        );
        let n: i64 = conn
            .query_row("SELECT count(*) FROM event_dedupe", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1);
    }

    #[test]
    fn newer_schema_is_refused_and_left_untouched() {
        let mut conn = mem();
        conn.pragma_update(None, "user_version", latest_version() + 5)
            .unwrap();
        let err = migrate(&mut conn, Path::new("/var/lib/callgate/calls.db")).unwrap_err();
        assert!(matches!(err, StoreError::SchemaTooNew { found, known, .. }
            if found == latest_version() + 5 && known == latest_version()));
        let msg = err.to_string();
        assert!(msg.contains("newer than this callgate knows"), "{msg}");
        assert!(msg.contains("[store] path"), "{msg}");
        assert_eq!(current_version(&conn).unwrap(), latest_version() + 5);
    }

    #[test]
    fn failing_migration_rolls_back_and_keeps_previous_version() {
        let steps = [
            Migration {
                version: 1,
                description: "good",
                sql: "CREATE TABLE a (x INTEGER);",
            },
            Migration {
                version: 2,
                description: "bad",
                sql: "CREATE TABLE b (x INTEGER); THIS IS NOT SQL;",
            },
        ];
        let mut conn = mem();
        let err = migrate_with(&mut conn, Path::new("x.db"), &steps).unwrap_err();
        assert!(
            matches!(err, StoreError::Migrate { version: 2, .. }),
            "{err}"
        );
        assert_eq!(current_version(&conn).unwrap(), 1);
        let b_exists: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'b'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(b_exists, 0, "the failed step's table was rolled back");
    }
}
