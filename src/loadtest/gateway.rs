//! The callgate under test, as a separate process so that its CPU and memory are its own: either
//! started by the load generator ([`GatewayProcess::spawn`], a configuration written to a
//! temporary directory: `[sandbox] enabled = false`, Graph at the generator's Meta stand-in, the
//! default route at the generator's far end) or an already running one
//! ([`GatewayProcess::attach`]). [`ProcSample`] reads its CPU time and resident memory from
//! `/proc/<pid>`.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// `/proc/<pid>/stat` counts CPU time in clock ticks of this length (USER_HZ, 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

/// How to start callgate.
#[derive(Debug, Clone)]
pub struct SpawnSpec {
    /// The callgate binary.
    pub bin: PathBuf,
    /// The Graph base URL (the generator's Meta stand-in).
    pub graph_base_url: String,
    /// The SIP URI calls ring (the generator's far end).
    pub route: String,
    /// `[sip] codecs`.
    pub codecs: Vec<String>,
    /// `[media] opus_complexity`.
    pub opus_complexity: u8,
    /// `RUST_LOG` of the process (its log goes to `callgate.log` in the temporary directory).
    pub log_level: String,
    /// Extra `KEY=VALUE` environment (e.g. `CALLGATE_MEDIA_PORT_MIN`).
    pub env: Vec<(String, String)>,
}

/// The callgate under test.
pub struct GatewayProcess {
    /// Its process id.
    pub pid: u32,
    /// Where Meta's webhooks go.
    pub webhook_url: String,
    child: Option<Child>,
    dir: Option<tempfile::TempDir>,
}

/// One reading of the process's counters.
#[derive(Debug, Clone, Copy)]
pub struct ProcSample {
    /// When it was read.
    pub at: Instant,
    /// User plus system CPU time so far, in seconds.
    pub cpu_s: f64,
    /// Resident memory, in KiB.
    pub rss_kib: u64,
}

impl GatewayProcess {
    /// Writes a configuration for `spec` and starts callgate with it; returns once `/healthz`
    /// answers.
    pub async fn spawn(spec: &SpawnSpec) -> anyhow::Result<GatewayProcess> {
        let dir = tempfile::tempdir().context("temporary directory for callgate")?;
        let http = free_port()?;
        let sip = free_port()?;
        let config = config_text(spec, dir.path(), http, sip)?;
        let path = dir.path().join("callgate.toml");
        std::fs::write(&path, config).context("writing callgate.toml")?;
        let log = std::fs::File::create(dir.path().join("callgate.log"))?;
        let mut cmd = Command::new(&spec.bin);
        // The generated file is the whole configuration: no CALLGATE_* override of this shell.
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("CALLGATE_")) {
            cmd.env_remove(k);
        }
        let child = cmd
            .args(["run", "--config"])
            .arg(&path)
            .env("RUST_LOG", &spec.log_level)
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| {
                format!(
                    "cannot start {}: build it with `cargo build --release`",
                    spec.bin.display()
                )
            })?;
        let mut gw = GatewayProcess {
            pid: child.id(),
            webhook_url: format!("http://127.0.0.1:{http}/webhook"),
            child: Some(child),
            dir: Some(dir),
        };
        gw.wait_healthy(http).await?;
        Ok(gw)
    }

    /// A callgate started by the operator: process `pid`, webhooks to `webhook_url`.
    pub fn attach(pid: u32, webhook_url: String) -> anyhow::Result<GatewayProcess> {
        if ProcSample::read(pid).is_none() {
            bail!("no process {pid} to attach to (is callgate running? `pgrep -x callgate`)");
        }
        Ok(GatewayProcess {
            pid,
            webhook_url,
            child: None,
            dir: None,
        })
    }

    async fn wait_healthy(&mut self, port: u16) -> anyhow::Result<()> {
        let url = format!("http://127.0.0.1:{port}/healthz");
        let client = reqwest::Client::new();
        let end = Instant::now() + Duration::from_secs(30);
        while Instant::now() < end {
            if let Some(child) = &mut self.child
                && let Ok(Some(status)) = child.try_wait()
            {
                bail!("callgate exited at start ({status}):\n{}", self.log_tail());
            }
            if client
                .get(&url)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!(
            "callgate did not answer {url} within 30 s:\n{}",
            self.log_tail()
        )
    }

    /// The last lines of the spawned process's log (empty when attached).
    pub fn log_tail(&self) -> String {
        let Some(dir) = &self.dir else {
            return String::new();
        };
        let text = std::fs::read_to_string(dir.path().join("callgate.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Its CPU time and memory now.
    pub fn sample(&self) -> Option<ProcSample> {
        ProcSample::read(self.pid)
    }

    /// Stops a spawned process (SIGTERM, then SIGKILL after 5 s); leaves an attached one alone.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let end = Instant::now() + Duration::from_secs(5);
        while Instant::now() < end {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

impl ProcSample {
    /// Reads `/proc/<pid>/stat` and `/proc/<pid>/status`.
    pub fn read(pid: u32) -> Option<ProcSample> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the command name (which may hold spaces): state is field 3, utime 14.
        let rest: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let utime: u64 = rest.get(11)?.parse().ok()?;
        let stime: u64 = rest.get(12)?.parse().ok()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let rss_kib = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())?;
        Some(ProcSample {
            at: Instant::now(),
            cpu_s: (utime + stime) as f64 / TICKS_PER_SECOND,
            rss_kib,
        })
    }
}

/// A loopback port that was free a moment ago (UDP and TCP).
pub(super) fn free_port() -> anyhow::Result<u16> {
    for _ in 0..50 {
        let tcp = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let port = tcp.local_addr()?.port();
        if std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return Ok(port);
        }
    }
    bail!("no free loopback port")
}

/// The embedded default configuration with the load run's values: no sandbox, Graph at the
/// Meta stand-in, free loopback ports, the scenario's codec, the far end as the default route.
fn config_text(spec: &SpawnSpec, dir: &Path, http: u16, sip: u16) -> anyhow::Result<String> {
    let mut cfg: toml::Table = crate::config::DEFAULT_CONFIG.parse()?;
    let mut set = |section: &str, key: &str, value: toml::Value| {
        if let Some(t) = cfg.get_mut(section).and_then(toml::Value::as_table_mut) {
            t.insert(key.into(), value);
        }
    };
    let s = |v: &str| toml::Value::String(v.to_string());
    set("http", "listen", s(&format!("127.0.0.1:{http}")));
    set("meta", "graph_base_url", s(&spec.graph_base_url));
    set("meta", "app_secret", s(APP_SECRET));
    set(
        "store",
        "path",
        s(&dir.join("callgate.db").display().to_string()),
    );
    set("sandbox", "enabled", toml::Value::Boolean(false));
    set("sip", "listen", s(&format!("127.0.0.1:{sip}")));
    let codecs = spec.codecs.iter().map(|c| s(c)).collect();
    set("sip", "codecs", toml::Value::Array(codecs));
    set("media", "public_ip", s("127.0.0.1"));
    set("media", "port_min", toml::Value::Integer(0));
    set("media", "port_max", toml::Value::Integer(0));
    set(
        "media",
        "opus_complexity",
        toml::Value::Integer(spec.opus_complexity.into()),
    );
    let routing = cfg
        .entry("routing")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    if let Some(t) = routing.as_table_mut() {
        t.insert("default".into(), s(&spec.route));
    }
    Ok(format!(
        "# Written by `callgate loadtest`.\n{}",
        toml::to_string(&cfg)?
    ))
}

/// The app secret the spawned callgate and the Meta stand-in share.
pub const APP_SECRET: &str = "loadtest-app-secret";
