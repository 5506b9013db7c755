//! The `callgate loadtest` command line: flags, a progress line every second, the summary as a
//! table and optionally as JSON. Exit status 0 only when every call worked and nothing was lost.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use callgate_sip::sdp_negotiation::CodecKind;
use clap::{Args, ValueEnum};

use super::{FarEndKind, LoadConfig, Scenario, Target};

/// What the calls carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// The PBX answers Opus: no transcoding.
    Passthrough,
    /// The PBX answers PCMU: Opus <-> G.711 µ-law.
    Pcmu,
    /// The PBX answers PCMA: Opus <-> G.711 A-law.
    Pcma,
    /// The PBX answers G.722: Opus <-> G.722.
    G722,
}

/// The far end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FarEndArg {
    /// The built-in SIP agent with RTP echo (measures latency).
    Agent,
    /// `sipp -sn uas -rtp_echo` (PCMU only; latency not measured).
    Sipp,
}

/// `callgate loadtest` flags.
#[derive(Debug, Clone, Args)]
pub struct LoadtestArgs {
    /// Calls up at once (the concurrency to reach and hold).
    #[arg(long, default_value_t = 100)]
    pub calls: usize,
    /// Calls placed in total (default: --calls); more than --calls keeps placing new calls as
    /// old ones end, for a sustained set-up rate.
    #[arg(long)]
    pub total: Option<usize>,
    /// New calls per second (the ramp-up rate).
    #[arg(long, default_value_t = 50.0)]
    pub cps: f64,
    /// Seconds each call stays up once its audio flows.
    #[arg(long, default_value_t = 30.0)]
    pub hold: f64,
    /// What the calls carry.
    #[arg(long, value_enum, default_value_t = Mode::Passthrough)]
    pub mode: Mode,
    /// `[media] opus_complexity` of the callgate started for the run.
    #[arg(long, default_value_t = 1)]
    pub opus_complexity: u8,
    /// The callgate binary to start (default: this one).
    #[arg(long)]
    pub callgate: Option<PathBuf>,
    /// `RUST_LOG` of the callgate started for the run (its log stays in a temporary directory).
    #[arg(long, default_value = "info")]
    pub callgate_log: String,
    /// Load an already running callgate with this process id instead of starting one. Its
    /// `[meta] graph_base_url` must be `http://<--meta-listen>`, its route must ring
    /// `sip:agent@127.0.0.1:<--agent-port>` and its [[numbers]] must include 100000000000001;
    /// give its webhook URL with --webhook-url and its app secret with --app-secret.
    #[arg(long, requires_all = ["webhook_url", "meta_listen", "agent_port", "app_secret"])]
    pub attach: Option<u32>,
    /// The attached callgate's webhook URL (e.g. http://127.0.0.1:8080/webhook).
    #[arg(long)]
    pub webhook_url: Option<String>,
    /// The attached callgate's `[meta] app_secret` (the generator signs webhooks with it).
    #[arg(long, env = "CALLGATE_META_APP_SECRET", hide_env_values = true)]
    pub app_secret: Option<String>,
    /// Where the Meta stand-in listens (default: a free loopback port).
    #[arg(long)]
    pub meta_listen: Option<SocketAddr>,
    /// The far end's SIP port (default: a free port).
    #[arg(long)]
    pub agent_port: Option<u16>,
    /// The PBX side.
    #[arg(long, value_enum, default_value_t = FarEndArg::Agent)]
    pub far_end: FarEndArg,
    /// Tasks running the simulated phones.
    #[arg(long, default_value_t = 2)]
    pub phone_workers: usize,
    /// Also write the summary as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

impl LoadtestArgs {
    /// The run these flags describe.
    pub fn config(&self) -> anyhow::Result<LoadConfig> {
        let scenario = match self.mode {
            Mode::Passthrough => Scenario::Passthrough,
            Mode::Pcmu => Scenario::Transcode(CodecKind::Pcmu),
            Mode::Pcma => Scenario::Transcode(CodecKind::Pcma),
            Mode::G722 => Scenario::Transcode(CodecKind::G722),
        };
        if self.far_end == FarEndArg::Sipp && self.mode != Mode::Pcmu {
            anyhow::bail!("--far-end sipp answers PCMU only: use --mode pcmu");
        }
        if !(self.hold > 0.0 && self.cps > 0.0 && self.calls > 0) {
            anyhow::bail!("--calls, --cps and --hold must be above zero");
        }
        let bin = match &self.callgate {
            Some(b) => b.clone(),
            None => {
                std::env::current_exe().context("cannot find this executable; pass --callgate")?
            }
        };
        let mut cfg = LoadConfig::new(
            scenario,
            self.calls,
            Duration::from_secs_f64(self.hold),
            bin.clone(),
        );
        cfg.total = self.total.unwrap_or(self.calls).max(self.calls);
        cfg.cps = self.cps;
        cfg.phone_workers = self.phone_workers.max(1);
        cfg.far_end = match self.far_end {
            FarEndArg::Agent => FarEndKind::Agent,
            FarEndArg::Sipp => FarEndKind::Sipp,
        };
        cfg.target = match (self.attach, &self.webhook_url, &self.app_secret) {
            (Some(pid), Some(url), Some(secret)) => Target::Attach {
                pid,
                webhook_url: url.clone(),
                app_secret: secret.clone(),
            },
            _ => Target::Spawn {
                bin,
                opus_complexity: self.opus_complexity.min(10),
                log_level: self.callgate_log.clone(),
            },
        };
        if let Some(a) = self.meta_listen {
            cfg.meta_listen = a;
        }
        if let Some(p) = self.agent_port {
            cfg.agent_port = p;
        }
        Ok(cfg)
    }
}

/// Runs the command; `Ok(true)` when every call worked and nothing was lost.
pub async fn command(args: LoadtestArgs) -> anyhow::Result<bool> {
    let cfg = args.config()?;
    eprintln!(
        "callgate loadtest: {} calls of {}, {} per second, held {} s",
        cfg.total,
        cfg.scenario.name(),
        cfg.cps,
        cfg.hold.as_secs_f64()
    );
    let mut last_print = Duration::ZERO;
    let summary = super::run(cfg, |p| {
        if p.elapsed >= last_print + Duration::from_secs(1) {
            last_print = p.elapsed;
            eprintln!(
                "[{:6.1} s] placed {:5}  up {:5}  done {:5}  failed {:4}  callgate cpu {:6.1} %  rss {:7.1} MiB",
                p.elapsed.as_secs_f64(),
                p.started,
                p.up,
                p.finished,
                p.failed,
                p.cpu_pct,
                p.rss_mib
            );
        }
    })
    .await?;
    println!("{summary}");
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&summary)?;
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(summary.all_ok())
}
