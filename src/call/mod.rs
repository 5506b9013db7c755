//! call (being built).
