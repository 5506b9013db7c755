//! callgate: a media gateway that puts WhatsApp Business calling on an existing SIP phone system.
//!
//! The crate is organised by domain concept (see `README.md` and `docs/` for the map):
//! - [`cloud`]: everything Meta: webhook intake, the typed event model, the Graph API client;
//! - [`call`]: the per-call state machine (sans-IO) and the per-call driver;
//! - [`store`]: SQLite call records, event timelines, webhook dedupe;
//! - [`sandbox`]: an offline stand-in for Meta's Cloud API;
//! - [`api`]: the operator REST API;
//! - [`agent`]: a minimal SIP answering agent (the demo's and the load generator's far end);
//! - [`policy`] and [`settings`]: business hours, routing, and the number's settings at Meta;
//! - [`loadtest`]: the load generator (`callgate loadtest`);
//! - [`config`] and [`telemetry`]: configuration, logs and metrics.
#![forbid(unsafe_code)]

pub mod agent;
pub mod api;
pub mod call;
pub mod cloud;
pub mod config;
pub mod demo;
pub mod gateway;
pub mod loadtest;
pub mod media;
pub mod pbx;
pub mod policy;
pub mod sandbox;
pub mod settings;
pub mod store;
pub mod telemetry;
pub mod whatsapp_media;
