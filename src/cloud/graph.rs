//! The Graph API client (being built).
