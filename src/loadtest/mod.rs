//! `callgate loadtest`: drives many concurrent calls through a running callgate and measures
//! what they cost it, so that operators can size a deployment and developers can compare
//! commits (figures in `docs/benchmarks.md`).
//!
//! ```text
//!   this process (the generator)                              callgate (its own process)
//!   +------------------------------------------+
//!   | Meta stand-in: signed webhooks, /calls   | -- connect / terminate webhooks -->  /webhook
//!   |                                          | <-- pre_accept, accept (Graph) -----
//!   | phones: str0m ICE-lite, Meta's SDP shape | <== ICE, DTLS-SRTP, Opus =========>  WhatsApp leg
//!   | far end: SIP agent, RTP echo (or sipp)   | <== SIP + RTP (PCMU/G.722/Opus) ==>  PBX leg
//!   +------------------------------------------+
//! ```
//!
//! Every phone plays a 440 Hz tone, the far end echoes every RTP packet, so each call's audio
//! crosses callgate's bridge in both directions and comes back to the phone. Each call is
//! checked: set up (`pre_accept`, `accept`), audio both ways, the tone heard at both ends, a
//! clean end (BYE at the far end after the terminate webhook). callgate's CPU and memory come
//! from `/proc/<pid>` of the callgate process, not of the generator.
//!
//! Modules: [`phone`] and [`phones`] (the WhatsApp users), [`meta`] (Meta's webhooks and Graph
//! endpoints), [`far_end`] (the PBX side), [`probe`] (per-call latency and loss), [`gateway`]
//! (the callgate process and `/proc`), [`run`] (the schedule), [`report`] (the summary),
//! [`cli`] (the command line).

pub mod cli;
pub mod far_end;
pub mod gateway;
pub mod meta;
pub mod phone;
pub mod phones;
pub mod probe;
pub mod report;
pub mod run;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use callgate_sip::sdp_negotiation::CodecKind;

pub use report::Summary;
pub use run::run;

/// What the calls carry through callgate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// The PBX speaks Opus: frames pass through untouched.
    Passthrough,
    /// The PBX speaks this codec (PCMU, PCMA or G.722): callgate transcodes both ways.
    Transcode(CodecKind),
}

impl Scenario {
    /// `passthrough`, `transcode-pcmu`, ...
    pub fn name(self) -> String {
        match self {
            Scenario::Passthrough => "passthrough".into(),
            Scenario::Transcode(c) => format!("transcode-{}", c.encoding().to_ascii_lowercase()),
        }
    }

    /// The codec the far end answers with.
    pub fn pbx_codec(self) -> CodecKind {
        match self {
            Scenario::Passthrough => CodecKind::Opus,
            Scenario::Transcode(c) => c,
        }
    }
}

/// Which callgate to load.
#[derive(Debug, Clone)]
pub enum Target {
    /// Start this binary with a generated configuration.
    Spawn {
        /// The callgate binary.
        bin: PathBuf,
        /// `[media] opus_complexity`.
        opus_complexity: u8,
        /// Its `RUST_LOG`.
        log_level: String,
    },
    /// An already running callgate (process `pid`, webhooks to `webhook_url`) whose
    /// `[meta] graph_base_url` is `http://<meta_listen>`, whose route rings the generator's far
    /// end on `agent_port` and whose `[[numbers]]` include [`meta::PNID`].
    Attach {
        /// Its process id.
        pid: u32,
        /// Its webhook URL.
        webhook_url: String,
        /// Its `[meta] app_secret` (webhooks are signed with it).
        app_secret: String,
    },
}

/// The PBX side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FarEndKind {
    /// The built-in SIP agent with RTP echo (latency measured).
    Agent,
    /// `sipp -sn uas -rtp_echo` (PCMU only; no latency or PBX-side loss).
    Sipp,
}

/// One load run.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Calls up at once at most.
    pub calls: usize,
    /// Calls placed in total (at least `calls`).
    pub total: usize,
    /// New calls per second while placing them.
    pub cps: f64,
    /// How long each call stays up once its audio flows.
    pub hold: Duration,
    /// What the calls carry.
    pub scenario: Scenario,
    /// The callgate under test.
    pub target: Target,
    /// The PBX side.
    pub far_end: FarEndKind,
    /// Address the generator's sockets use.
    pub ip: IpAddr,
    /// Where the Meta stand-in listens (port 0: any; fix it when attaching).
    pub meta_listen: SocketAddr,
    /// The far end's SIP port (0: any; fix it when attaching).
    pub agent_port: u16,
    /// Tasks that run the phones.
    pub phone_workers: usize,
}

impl LoadConfig {
    /// `calls` calls of `scenario`, placed at 50 per second and held `hold`, against `bin`.
    pub fn new(scenario: Scenario, calls: usize, hold: Duration, bin: PathBuf) -> LoadConfig {
        LoadConfig {
            calls,
            total: calls,
            cps: 50.0,
            hold,
            scenario,
            target: Target::Spawn {
                bin,
                opus_complexity: 1,
                log_level: "info".into(),
            },
            far_end: FarEndKind::Agent,
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            meta_listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            agent_port: 0,
            phone_workers: 2,
        }
    }
}
