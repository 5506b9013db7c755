//! Logs and metrics (being built).
