//! A minimal SIP answering agent: the far end `callgate demo` rings when no real SIP phone
//! (baresip) is installed, and the far end of the load generator. It answers every INVITE on one
//! UDP socket (180, then 200 OK with the first of its codecs the offer has, PCMU by default, and
//! telephone-event), plays a tone or echoes what it hears, records what it hears (decoded, for
//! tone checks), reports RFC 4733 digits, and answers BYE, CANCEL and OPTIONS. A [`RtpTap`] sees
//! every RTP packet in and out with its time (the load generator's latency probe).
//!
//! It is a test peer, not a SIP stack: UDP only, no authentication, no retransmission of its own
//! responses except when the INVITE is retransmitted. Each call's media runs in its own task
//! ([`media`]); the SIP socket is served by one task ([`sip`]).

mod codec;
mod media;
mod sip;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use callgate_sip::sdp_negotiation::CodecKind;
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

pub use media::RtpTap;

/// What the agent sends on its calls.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AgentAudio {
    /// A sine tone at this frequency (Hz), PCMU, half of full scale.
    Tone(f64),
    /// Every RTP packet received is sent back where it came from (like `sipp -rtp_echo`).
    Echo,
}

/// Gives each call's media a [`RtpTap`] (by the INVITE's `X-WA-Call-Id`), or none.
pub type TapFactory = Arc<dyn Fn(Option<&str>) -> Option<Arc<dyn RtpTap>> + Send + Sync>;

/// How the agent behaves.
#[derive(Clone)]
pub struct AgentConfig {
    /// Address of its SIP and RTP sockets.
    pub ip: IpAddr,
    /// Its SIP port (0: a free port; RTP always uses free ports).
    pub sip_port: u16,
    /// What it sends.
    pub audio: AgentAudio,
    /// Time between 180 Ringing and 200 OK.
    pub ring: Duration,
    /// At most this much received audio is kept per call (8 kHz samples).
    pub record_limit: Duration,
    /// Codecs it answers with, in preference order (PCMU, PCMA, G.722 or Opus).
    pub codecs: Vec<CodecKind>,
    /// Per-call RTP taps, if any.
    pub taps: Option<TapFactory>,
}

impl std::fmt::Debug for AgentConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentConfig")
            .field("ip", &self.ip)
            .field("sip_port", &self.sip_port)
            .field("audio", &self.audio)
            .field("ring", &self.ring)
            .field("record_limit", &self.record_limit)
            .field("codecs", &self.codecs)
            .field("taps", &self.taps.is_some())
            .finish()
    }
}

impl Default for AgentConfig {
    /// Loopback, a 1000 Hz tone in PCMU, answered after 200 ms, 30 s of recording per call.
    fn default() -> Self {
        Self {
            ip: IpAddr::from([127, 0, 0, 1]),
            sip_port: 0,
            audio: AgentAudio::Tone(1000.0),
            ring: Duration::from_millis(200),
            record_limit: Duration::from_secs(30),
            codecs: vec![CodecKind::Pcmu],
            taps: None,
        }
    }
}

/// What the agent knows about one call (by SIP Call-ID).
#[derive(Debug, Clone, Default)]
pub struct AgentCall {
    /// The SIP Call-ID.
    pub call_id: String,
    /// The caller's `From` header.
    pub from: String,
    /// The `X-WA-Call-Id` header, if the caller sent one.
    pub wa_call_id: Option<String>,
    /// 200 OK sent.
    pub answered: bool,
    /// The call is over (BYE or CANCEL received).
    pub ended: bool,
    /// RTP packets received (audio and DTMF).
    pub packets_in: u64,
    /// RTP packets sent.
    pub packets_out: u64,
    /// Received audio, decoded to 8 kHz linear PCM (up to the record limit).
    pub heard: Vec<i16>,
    /// RFC 4733 digits received, in order.
    pub digits: String,
}

type Calls = Arc<Mutex<HashMap<String, AgentCall>>>;

/// A running agent; its tasks stop when it is dropped.
pub struct Agent {
    addr: SocketAddr,
    calls: Calls,
    task: JoinHandle<()>,
}

impl Agent {
    /// Binds the SIP socket and starts answering.
    pub async fn start(cfg: AgentConfig) -> std::io::Result<Agent> {
        let socket = UdpSocket::bind(SocketAddr::new(cfg.ip, cfg.sip_port)).await?;
        let addr = socket.local_addr()?;
        let calls: Calls = Arc::default();
        let task = tokio::spawn(sip::serve(Arc::new(socket), cfg, calls.clone()));
        Ok(Agent { addr, calls, task })
    }

    /// Where it listens for SIP (UDP).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The SIP URI that reaches it.
    pub fn uri(&self) -> String {
        format!("sip:agent@{}", self.addr)
    }

    /// Every call seen so far.
    pub fn calls(&self) -> Vec<AgentCall> {
        lock(&self.calls).values().cloned().collect()
    }

    /// The call whose INVITE carried `X-WA-Call-Id: wa_call_id`, if any.
    pub fn find_call(&self, wa_call_id: &str) -> Option<AgentCall> {
        lock(&self.calls)
            .values()
            .find(|c| c.wa_call_id.as_deref() == Some(wa_call_id))
            .cloned()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.task.abort();
        // Media tasks watch the call's `ended` flag and stop on their own.
        for c in lock(&self.calls).values_mut() {
            c.ended = true;
        }
    }
}

fn lock(calls: &Calls) -> std::sync::MutexGuard<'_, HashMap<String, AgentCall>> {
    calls.lock().unwrap_or_else(|p| p.into_inner())
}
