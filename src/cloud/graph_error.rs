//! Meta's Graph error codes with operator-facing explanations (being built).
