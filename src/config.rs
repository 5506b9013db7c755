//! Configuration (being built).
