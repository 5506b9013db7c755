//! The typed model of Meta's webhook payloads (being built).
