//! [`WaSide`]: the WhatsApp media leg ([`WaLeg`]) on its UDP socket. It sends what the leg
//! transmits and turns the leg's events into what the call's legs act on ([`Polled`]),
//! including frame-loss detection from the Opus timestamps and RFC 4733 payloads for the bridge.

use std::sync::Arc;

use serde_json::{Value, json};
use tokio::net::UdpSocket;
use tokio::time::Instant;

use super::send_udp;
use crate::media::dtmf::event_to_digit;
use crate::whatsapp_media::{WaEvent, WaLeg, WaLegConfig, WaMediaError, WaOutput};

/// 20 ms at 48 kHz.
const FRAME_TICKS: u64 = 960;
/// Gaps longer than this many frames are a pause or a clock jump, not loss to conceal.
const MAX_CONCEALED: u64 = 5;

/// One call's WhatsApp media leg and its socket.
pub(super) struct WaSide {
    pub leg: WaLeg,
    pub socket: UdpSocket,
    /// When the leg's timer is due next.
    pub deadline: Instant,
    connected_once: bool,
    last_audio_ts: Option<u64>,
}

/// What one poll of the leg produced (after sending its datagrams).
pub(super) enum Polled {
    /// Nothing more until the next input or the deadline.
    Idle,
    /// ICE and DTLS are up (`first`: for the first time in this call).
    Connected { first: bool },
    /// ICE lost Meta.
    Disconnected,
    /// The leg is dead.
    Failed(String),
    /// One Opus frame, and how many frames before it were lost.
    Audio { payload: Arc<[u8]>, lost: u64 },
    /// An RFC 4733 report as a payload for the bridge, with the digit when it ended.
    Dtmf {
        payload: [u8; 4],
        rtp_ts: u32,
        digit: Option<char>,
    },
}

impl WaSide {
    /// UIC: answers Meta's offer on `socket`.
    pub fn answer(
        now: Instant,
        offer: &str,
        cfg: WaLegConfig,
        socket: UdpSocket,
    ) -> Result<(WaSide, String), WaMediaError> {
        let (leg, answer) = WaLeg::answer(now.into_std(), offer, cfg)?;
        Ok((Self::new(leg, socket, now), answer))
    }

    /// BIC: builds our offer on `socket` (we will be the DTLS server).
    pub fn offer(
        now: Instant,
        cfg: WaLegConfig,
        socket: UdpSocket,
    ) -> Result<(WaSide, String), WaMediaError> {
        let (leg, offer) = WaLeg::offer(now.into_std(), cfg)?;
        Ok((Self::new(leg, socket, now), offer))
    }

    fn new(leg: WaLeg, socket: UdpSocket, now: Instant) -> WaSide {
        WaSide {
            leg,
            socket,
            deadline: now,
            connected_once: false,
            last_audio_ts: None,
        }
    }

    /// Drains the leg until it has something for the caller or nothing at all.
    pub fn poll(&mut self) -> Polled {
        loop {
            match self.leg.poll_output() {
                WaOutput::Transmit { to, bytes } => send_udp(&self.socket, &bytes, to),
                WaOutput::Timeout(t) => {
                    self.deadline = Instant::from_std(t);
                    return Polled::Idle;
                }
                WaOutput::Event(e) => {
                    if let Some(p) = self.on_event(e) {
                        return p;
                    }
                }
            }
        }
    }

    fn on_event(&mut self, e: WaEvent) -> Option<Polled> {
        Some(match e {
            WaEvent::Connected => {
                let first = !self.connected_once;
                self.connected_once = true;
                Polled::Connected { first }
            }
            WaEvent::Disconnected => Polled::Disconnected,
            WaEvent::Failed(reason) => Polled::Failed(reason),
            WaEvent::Audio {
                payload,
                rtp_ts_48k,
            } => {
                let lost = match self.last_audio_ts {
                    Some(last) if rtp_ts_48k > last => {
                        let frames = (rtp_ts_48k - last) / FRAME_TICKS;
                        let missing = frames.saturating_sub(1);
                        if missing <= MAX_CONCEALED { missing } else { 0 }
                    }
                    _ => 0,
                };
                if self.last_audio_ts.is_none_or(|l| rtp_ts_48k > l) {
                    self.last_audio_ts = Some(rtp_ts_48k);
                }
                Polled::Audio { payload, lost }
            }
            WaEvent::Dtmf {
                event,
                end,
                volume,
                duration_8k,
                rtp_ts,
            } => {
                let e_bit = if end { 0x80 } else { 0 };
                let [hi, lo] = duration_8k.to_be_bytes();
                Polled::Dtmf {
                    payload: [event, e_bit | (volume & 0x3f), hi, lo],
                    rtp_ts: rtp_ts as u32,
                    digit: end.then(|| event_to_digit(event)).flatten(),
                }
            }
        })
    }

    /// The leg's counters as JSON for the call record.
    pub fn stats_json(&self) -> Value {
        let s = self.leg.stats();
        json!({
            "datagrams_in": s.datagrams_in,
            "datagrams_out": s.datagrams_out,
            "audio_frames_in": s.audio_frames_in,
            "audio_frames_out": s.audio_frames_out,
            "dtmf_packets_in": s.dtmf_packets_in,
            "dtmf_packets_out": s.dtmf_packets_out,
            "rtp_packets_in": s.rtp_packets_in,
            "rtp_packets_out": s.rtp_packets_out,
            "rtt_ms": s.rtt.map(|d| d.as_secs_f64() * 1000.0),
            "ingress_loss": s.ingress_loss,
            "egress_loss": s.egress_loss,
            "jitter_48k": s.jitter,
        })
    }
}
