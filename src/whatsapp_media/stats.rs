//! Per-leg counters ([`WaStats`]): datagrams and media counted by the leg itself, plus RTT, loss
//! and jitter taken from str0m's periodic `PeerStats` / `MediaIngressStats` / `MediaEgressStats`
//! events (derived from RTCP, so they appear about a second after media starts).

use std::time::Duration;

use str0m::stats::{MediaEgressStats, MediaIngressStats, PeerStats};

/// Counters of one WhatsApp media leg. All counters start at zero; the `Option`s are `None`
/// until str0m has reported them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WaStats {
    /// UDP datagrams fed to [`WaLeg::handle_datagram`](super::WaLeg::handle_datagram).
    pub datagrams_in: u64,
    /// UDP bytes received.
    pub bytes_in: u64,
    /// UDP datagrams emitted as `Transmit`.
    pub datagrams_out: u64,
    /// UDP bytes emitted.
    pub bytes_out: u64,
    /// Opus frames delivered as `WaEvent::Audio`.
    pub audio_frames_in: u64,
    /// Opus frames handed to str0m by `send_opus`.
    pub audio_frames_out: u64,
    /// RFC 4733 packets received (every report, before deduplication).
    pub dtmf_packets_in: u64,
    /// RFC 4733 packets written (including the repeated end reports).
    pub dtmf_packets_out: u64,
    /// RTP packets received according to str0m's ingress stats.
    pub rtp_packets_in: Option<u64>,
    /// RTP packets sent according to str0m's egress stats.
    pub rtp_packets_out: Option<u64>,
    /// Round-trip time (from RTCP or the ICE pair).
    pub rtt: Option<Duration>,
    /// Fraction of Meta's packets we lost (0.0..=1.0).
    pub ingress_loss: Option<f32>,
    /// Fraction of our packets Meta reports lost (0.0..=1.0).
    pub egress_loss: Option<f32>,
    /// Interarrival jitter of Meta's stream, in RTP timestamp units.
    pub jitter: Option<u32>,
}

impl WaStats {
    pub(crate) fn on_peer(&mut self, s: &PeerStats) {
        self.rtt = s.rtt.or(self.rtt);
        self.ingress_loss = s.ingress_loss_fraction.or(self.ingress_loss);
        self.egress_loss = s.egress_loss_fraction.or(self.egress_loss);
    }

    pub(crate) fn on_ingress(&mut self, s: &MediaIngressStats) {
        self.rtp_packets_in = Some(s.packets);
        self.jitter = Some(s.jitter);
        self.rtt = s.rtt.or(self.rtt);
        self.ingress_loss = s.loss.or(self.ingress_loss);
    }

    pub(crate) fn on_egress(&mut self, s: &MediaEgressStats) {
        self.rtp_packets_out = Some(s.packets);
        self.rtt = s.rtt.or(self.rtt);
        self.egress_loss = s.loss.or(self.egress_loss);
    }
}
