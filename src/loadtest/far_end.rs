//! The load run's PBX side: callgate's built-in SIP agent ([`crate::agent`]) in this process,
//! answering with the scenario's codec and echoing every RTP packet back (so what the WhatsApp
//! side sends comes back to it through both directions of callgate's bridge), each packet
//! stamped into the call's [`CallProbe`]; or `sipp -sn uas -rtp_echo` (PCMU only, no probes:
//! latency and PBX-side loss are then not measured).

use std::net::{IpAddr, Ipv4Addr};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use callgate_sip::sdp_negotiation::CodecKind;

use super::gateway::free_port;
use super::probe::{CallProbe, Probes};
use crate::agent::{Agent, AgentAudio, AgentCall, AgentConfig, RtpTap, TapFactory};
use crate::media::rtp::RtpPacket;

impl RtpTap for CallProbe {
    fn received(&self, packet: &RtpPacket<'_>, at: Instant) {
        self.far_received(packet, at);
    }

    fn sent(&self, payload: &[u8], at: Instant) {
        self.far_sent(payload, at);
    }
}

/// The far end of the run.
pub enum FarEnd {
    /// The built-in agent, echoing.
    Agent(Agent),
    /// sipp's UAS with RTP echo.
    Sipp(SippUas),
}

impl FarEnd {
    /// The built-in agent on `ip` (`sip_port` 0: any), answering with `codec`, echoing.
    pub async fn agent(
        ip: IpAddr,
        sip_port: u16,
        codec: CodecKind,
        probes: Probes,
    ) -> anyhow::Result<FarEnd> {
        let taps: TapFactory = Arc::new(move |wa_call_id: Option<&str>| {
            let probe = probes.get(wa_call_id?)?;
            Some(Arc::new(probe) as Arc<dyn RtpTap>)
        });
        let cfg = AgentConfig {
            ip,
            sip_port,
            audio: AgentAudio::Echo,
            ring: Duration::ZERO,
            // Enough for the tone check; decoding stops there.
            record_limit: Duration::from_secs(1),
            codecs: vec![codec],
            taps: Some(taps),
        };
        let agent = Agent::start(cfg).await.context(
            "cannot start the SIP agent (is the --agent-port port in use? choose another)",
        )?;
        Ok(FarEnd::Agent(agent))
    }

    /// The URI callgate's route should ring.
    pub fn uri(&self) -> String {
        match self {
            FarEnd::Agent(a) => a.uri(),
            FarEnd::Sipp(s) => format!("sip:service@127.0.0.1:{}", s.port),
        }
    }

    /// Whether the far end reports its packets to the calls' probes (sipp does not).
    pub fn probed(&self) -> bool {
        matches!(self, FarEnd::Agent(_))
    }

    /// Whether the far end has seen the call end (`None`: the far end cannot tell).
    pub fn call(&self, wa_call_id: &str) -> Option<FarCall> {
        match self {
            FarEnd::Agent(a) => a.find_call(wa_call_id).map(FarCall::from),
            FarEnd::Sipp(_) => None,
        }
    }
}

/// What the far end knows of one call.
#[derive(Debug, Clone)]
pub struct FarCall {
    /// It answered.
    pub answered: bool,
    /// BYE (or CANCEL) arrived.
    pub ended: bool,
    /// What it heard: the first second of received audio, 8 kHz.
    pub heard: Vec<i16>,
}

impl From<AgentCall> for FarCall {
    fn from(c: AgentCall) -> Self {
        FarCall {
            answered: c.answered,
            ended: c.ended,
            heard: c.heard,
        }
    }
}

/// `sipp -sn uas -rtp_echo` on free loopback ports, killed on drop.
pub struct SippUas {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl SippUas {
    /// Starts sipp (`sip-tester` package) answering any number of calls.
    pub fn start() -> anyhow::Result<FarEnd> {
        let dir = tempfile::tempdir()?;
        let port = free_port()?;
        let media = free_port()?;
        let child = Command::new("sipp")
            .args(["-sn", "uas", "-rtp_echo", "-nostdin"])
            .args(["-i", "127.0.0.1", "-mi", "127.0.0.1"])
            .args(["-p", &port.to_string(), "-mp", &media.to_string()])
            .args(["-max_socket", "65000"])
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start sipp: install it (`apt-get install sip-tester`) or use --far-end agent")?;
        let mut s = SippUas {
            child,
            port,
            _dir: dir,
        };
        let end = Instant::now() + Duration::from_secs(10);
        while std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            if Instant::now() > end || s.child.try_wait().ok().flatten().is_some() {
                bail!("sipp did not start on port {port}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(100));
        Ok(FarEnd::Sipp(s))
    }
}

impl Drop for SippUas {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
