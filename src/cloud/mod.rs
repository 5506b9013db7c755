//! Everything Meta: webhook intake (verify challenge, `X-Hub-Signature-256` on the raw body, parse,
//! dedupe), the typed event model and the Graph API client.

pub mod events;
pub mod graph;
pub mod graph_error;
pub mod intake;
pub mod signature;
pub mod webhook;
