//! The demo's agent phone: baresip when installed (a real, independent SIP phone), otherwise
//! callgate's built-in SIP agent. One interface for what the demo needs of either.

use std::time::Duration;

use crate::agent::{Agent, AgentConfig};

use super::baresip::{self, Baresip};

/// The SIP phone the demo rings.
pub enum FarEnd {
    /// baresip, auto-answering, playing 1000 Hz, recording what it hears.
    Baresip(Baresip),
    /// The built-in agent, playing 1000 Hz, recording what it hears.
    Agent(Agent),
}

impl FarEnd {
    /// baresip if it is on `PATH`, else the built-in agent.
    pub async fn start() -> anyhow::Result<FarEnd> {
        if baresip::which("baresip").is_some() {
            let b = tokio::task::spawn_blocking(|| Baresip::start("auto", "pcmu,pcma")).await??;
            return Ok(FarEnd::Baresip(b));
        }
        Ok(FarEnd::Agent(Agent::start(AgentConfig::default()).await?))
    }

    /// The SIP URI to route calls to.
    pub fn uri(&self) -> String {
        match self {
            FarEnd::Baresip(b) => b.uri("udp"),
            FarEnd::Agent(a) => a.uri(),
        }
    }

    /// One line saying what it is.
    pub fn describe(&self) -> String {
        match self {
            FarEnd::Baresip(b) => format!(
                "baresip at {} (auto-answer, G.711, plays 1000 Hz, records what it hears)",
                b.uri("udp")
            ),
            FarEnd::Agent(a) => format!(
                "callgate's built-in SIP agent at {} (plays 1000 Hz, records what it hears); \
                 baresip is not installed, `apt-get install baresip-core` makes the demo ring a \
                 real SIP phone",
                a.uri()
            ),
        }
    }

    /// Whether it can send DTMF on command.
    pub fn sends_dtmf(&self) -> bool {
        matches!(self, FarEnd::Baresip(_))
    }

    /// Presses `digits` (baresip only; the built-in agent sends none).
    pub fn send_dtmf(&self, digits: &str) {
        if let FarEnd::Baresip(b) = self {
            b.command("sndcode", digits);
        }
    }

    /// Digits it received, in order.
    pub fn digits_received(&self) -> String {
        match self {
            FarEnd::Baresip(b) => b.digits_received(),
            FarEnd::Agent(a) => a.calls().into_iter().map(|c| c.digits).collect(),
        }
    }

    /// What it heard on the (ended) call: samples and rate. baresip's recording is complete
    /// once it has closed the call, so this waits for that (up to 5 s).
    pub async fn heard_after_hangup(&self) -> Option<(Vec<i16>, u32)> {
        match self {
            FarEnd::Baresip(b) => {
                for _ in 0..100 {
                    if b.log().contains("closed") {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                b.heard()
            }
            FarEnd::Agent(a) => a.calls().into_iter().next().map(|c| (c.heard, 8000)),
        }
    }
}
