//! A minimal SIP answering agent: the far end `callgate demo` rings when no real SIP phone
//! (baresip) is installed, and the far end of the load generator. It answers every INVITE on one
//! UDP socket (180, then 200 OK with PCMU + telephone-event), plays a tone or echoes what it
//! hears, records what it hears (decoded, for tone checks), reports RFC 4733 digits, and answers
//! BYE, CANCEL and OPTIONS.
//!
//! It is a test peer, not a SIP stack: UDP only, no authentication, no retransmission of its own
//! responses except when the INVITE is retransmitted. Each call's media runs in its own task
//! ([`media`]); the SIP socket is served by one task ([`sip`]).

mod media;
mod sip;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

/// What the agent sends on its calls.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AgentAudio {
    /// A sine tone at this frequency (Hz), PCMU, half of full scale.
    Tone(f64),
    /// Every RTP packet received is sent back where it came from (like `sipp -rtp_echo`).
    Echo,
}

/// How the agent behaves.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// Address of its SIP and RTP sockets (port 0: free ports).
    pub ip: IpAddr,
    /// What it sends.
    pub audio: AgentAudio,
    /// Time between 180 Ringing and 200 OK.
    pub ring: Duration,
    /// At most this much received audio is kept per call (8 kHz samples).
    pub record_limit: Duration,
}

impl Default for AgentConfig {
    /// Loopback, a 1000 Hz tone, answered after 200 ms, 30 s of recording per call.
    fn default() -> Self {
        Self {
            ip: IpAddr::from([127, 0, 0, 1]),
            audio: AgentAudio::Tone(1000.0),
            ring: Duration::from_millis(200),
            record_limit: Duration::from_secs(30),
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
        let socket = UdpSocket::bind(SocketAddr::new(cfg.ip, 0)).await?;
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
