//! Per-call media statistics: packets, bytes, loss from sequence numbers (RFC 3550 A.1/A.3),
//! interarrival jitter (RFC 3550 A.8), RTT from RTCP, and a MOS estimate from a simplified
//! ITU-T G.107 E-model. Serialisable so the call record can store it as JSON.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::codec::PbxCodec;

/// Receive-side statistics of one RTP stream, tracked across SSRC changes.
#[derive(Debug, Clone, Default)]
pub struct RxTracker {
    clock: u32,
    ssrc: Option<u32>,
    base_seq: u32,
    max_ext_seq: u32,
    /// Packets expected by earlier SSRCs (a new SSRC restarts the sequence space).
    expected_before: u64,
    received_current: u64,
    /// (arrival in clock units, rtp ts) of the previous packet.
    last_transit: Option<i64>,
    jitter: f64,
    epoch: Option<Instant>,
    packets: u64,
    bytes: u64,
}

impl RxTracker {
    /// A tracker for a stream whose RTP clock is `clock` Hz.
    #[must_use]
    pub fn new(clock: u32) -> Self {
        Self {
            clock,
            ..Self::default()
        }
    }

    /// Changes the RTP clock (codec renegotiated); jitter tracking restarts.
    pub fn set_clock(&mut self, clock: u32) {
        if clock != self.clock {
            self.clock = clock;
            self.last_transit = None;
        }
    }

    /// Records one received packet of `payload_len` bytes.
    pub fn on_packet(&mut self, ssrc: u32, seq: u16, ts: u32, payload_len: usize, now: Instant) {
        self.packets += 1;
        self.bytes += payload_len as u64;
        let epoch = *self.epoch.get_or_insert(now);
        if self.ssrc != Some(ssrc) {
            if self.ssrc.is_some() {
                self.expected_before += self.expected_current();
            }
            self.ssrc = Some(ssrc);
            self.base_seq = u32::from(seq);
            self.max_ext_seq = u32::from(seq);
            self.received_current = 0;
            self.last_transit = None;
        } else {
            // Extend the 16-bit sequence number (RFC 3550 A.1, without probation).
            let cycles = self.max_ext_seq & 0xFFFF_0000;
            let max16 = self.max_ext_seq as u16;
            let delta = seq.wrapping_sub(max16);
            if delta != 0 && delta < 0x8000 {
                let cycles = if seq < max16 {
                    cycles.wrapping_add(0x1_0000)
                } else {
                    cycles
                };
                let ext = cycles | u32::from(seq);
                self.max_ext_seq = ext;
            }
        }
        self.received_current += 1;
        // Jitter (RFC 3550 A.8): D = (Rj - Ri) - (Sj - Si) in timestamp units; J += (|D| - J)/16.
        let arrival =
            (now.saturating_duration_since(epoch).as_secs_f64() * f64::from(self.clock)) as i64;
        let transit = arrival - i64::from(ts);
        if let Some(last) = self.last_transit {
            let mut d = (transit - last).abs();
            // timestamps wrap at 2^32
            if d > 1 << 31 {
                d = (1i64 << 32) - d;
            }
            self.jitter += (d as f64 - self.jitter) / 16.0;
        }
        self.last_transit = Some(transit);
    }

    fn expected_current(&self) -> u64 {
        if self.ssrc.is_none() {
            0
        } else {
            u64::from(self.max_ext_seq - self.base_seq) + 1
        }
    }

    /// Packets expected from sequence numbers, over all SSRCs.
    #[must_use]
    pub fn expected(&self) -> u64 {
        self.expected_before + self.expected_current()
    }

    /// Packets lost (expected minus received; duplicates can make it negative, clamped to 0).
    #[must_use]
    pub fn lost(&self) -> u64 {
        self.expected().saturating_sub(self.packets)
    }

    /// Jitter in timestamp units (as RTCP reports it).
    #[must_use]
    pub fn jitter_units(&self) -> u32 {
        self.jitter as u32
    }

    /// Jitter as time.
    #[must_use]
    pub fn jitter(&self) -> Duration {
        if self.clock == 0 {
            return Duration::ZERO;
        }
        Duration::from_secs_f64(self.jitter / f64::from(self.clock))
    }

    /// Extended highest sequence number of the current SSRC.
    #[must_use]
    pub fn extended_highest_seq(&self) -> u32 {
        self.max_ext_seq
    }

    /// Packets received.
    #[must_use]
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// Snapshot as a [`DirectionStats`].
    #[must_use]
    pub fn snapshot(&self) -> DirectionStats {
        let expected = self.expected();
        DirectionStats {
            packets: self.packets,
            bytes: self.bytes,
            lost: self.lost(),
            loss_percent: if expected == 0 {
                0.0
            } else {
                100.0 * self.lost() as f64 / expected as f64
            },
            jitter_ms: self.jitter().as_secs_f64() * 1000.0,
        }
    }
}

/// Counters for one direction of the bridge.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct DirectionStats {
    /// Packets.
    pub packets: u64,
    /// Payload bytes.
    pub bytes: u64,
    /// Packets lost (receive side only; 0 where the bridge cannot see sequence numbers).
    pub lost: u64,
    /// Loss as a percentage of expected packets.
    pub loss_percent: f64,
    /// Interarrival jitter in milliseconds (receive side only).
    pub jitter_ms: f64,
}

/// The call's media statistics.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MediaStats {
    /// PBX codec in use (`PCMU`, `PCMA`, `G722`, `opus`).
    pub pbx_codec: String,
    /// Audio received from WhatsApp (counted from payloads; loss/jitter are str0m's).
    pub wa_rx: DirectionStats,
    /// RTP sent to the PBX (audio and DTMF).
    pub pbx_tx: DirectionStats,
    /// RTP received from the PBX, with loss and jitter.
    pub pbx_rx: DirectionStats,
    /// Frames sent to WhatsApp (including comfort silence).
    pub wa_tx: DirectionStats,
    /// Of `wa_tx`, comfort-silence frames.
    pub wa_silence_frames: u64,
    /// DTMF digits relayed WhatsApp -> PBX.
    pub dtmf_to_pbx: u64,
    /// DTMF digits relayed PBX -> WhatsApp.
    pub dtmf_to_wa: u64,
    /// Frames that failed to decode or encode.
    pub codec_errors: u64,
    /// Latest RTT to the PBX from RTCP, in ms.
    pub pbx_rtt_ms: Option<f64>,
    /// Estimated MOS of the PBX leg (1.0..=4.5).
    pub mos: f64,
}

/// Codec impairment for the E-model: `Ie` (equipment impairment) and `Bpl` (packet-loss
/// robustness), from ITU-T G.113 Appendix I where it lists the codec.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CodecImpairment {
    /// Equipment impairment factor Ie.
    pub ie: f64,
    /// Packet-loss robustness factor Bpl.
    pub bpl: f64,
}

impl CodecImpairment {
    /// Values per codec: G.711 with PLC: Ie = 0, Bpl = 25.1 (G.113 Appendix I, Table I.3,
    /// random loss). G.722 and Opus are wideband codecs that G.113 rates on the wideband scale
    /// (G.107.1); on this narrowband scale we use the G.711 values (no worse than G.711 at
    /// their bitrates), which makes the estimate conservative for them.
    #[must_use]
    pub fn for_codec(_codec: PbxCodec) -> Self {
        Self { ie: 0.0, bpl: 25.1 }
    }
}

/// Default R for the G.107 default parameter set (Table 3): `R0 - Is = 93.2`.
pub const R_DEFAULT: f64 = 93.2;

/// Estimates MOS from one-way delay, jitter, loss and codec with a simplified ITU-T G.107
/// E-model: `R = 93.2 - Id - Ie,eff` with the advantage factor `A = 0`.
/// - `Id` follows the Cole & Rosenbluth (2001) fit of G.107's delay impairment:
///   `Id = 0.024 d + 0.11 (d - 177.3) H(d - 177.3)`, `d` the mouth-to-ear delay in ms;
///   here `d = one_way + 2 * jitter (jitter buffer) + 10 ms (packetisation)`.
/// - `Ie,eff = Ie + (95 - Ie) * Ppl / (Ppl + Bpl)` (G.107 §7.2 with random loss, BurstR = 1).
/// - MOS from R per G.107 Annex B: `1 + 0.035 R + 7e-6 R (R - 60)(100 - R)`, clamped to 1..4.5.
#[must_use]
pub fn estimate_mos(
    one_way: Duration,
    jitter: Duration,
    loss_percent: f64,
    codec: CodecImpairment,
) -> f64 {
    let d = one_way.as_secs_f64() * 1000.0 + 2.0 * jitter.as_secs_f64() * 1000.0 + 10.0;
    let id = 0.024 * d + if d > 177.3 { 0.11 * (d - 177.3) } else { 0.0 };
    let ppl = loss_percent.clamp(0.0, 100.0);
    let ie_eff = codec.ie + (95.0 - codec.ie) * ppl / (ppl + codec.bpl);
    mos_from_r(R_DEFAULT - id - ie_eff)
}

/// G.107 Annex B (B.4): R to MOS.
#[must_use]
pub fn mos_from_r(r: f64) -> f64 {
    if r <= 0.0 {
        1.0
    } else if r >= 100.0 {
        4.5
    } else {
        1.0 + 0.035 * r + 7e-6 * r * (r - 60.0) * (100.0 - r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_counts_sequence_gaps_across_wrap_and_ssrc_change() {
        let t = Instant::now();
        let mut rx = RxTracker::new(8000);
        for seq in [65_533u16, 65_534, 0, 1, 3] {
            rx.on_packet(1, seq, 0, 160, t);
        }
        // expected 65533..=65539 (7), received 5
        assert_eq!((rx.expected(), rx.lost()), (7, 2));
        rx.on_packet(2, 500, 0, 160, t);
        rx.on_packet(2, 503, 0, 160, t);
        assert_eq!((rx.expected(), rx.lost()), (11, 4));
        let s = rx.snapshot();
        assert_eq!((s.packets, s.bytes, s.lost), (7, 1120, 4));
        assert!((s.loss_percent - 100.0 * 4.0 / 11.0).abs() < 1e-9);
    }

    #[test]
    fn jitter_follows_rfc3550_a8_on_a_known_sequence() {
        let t0 = Instant::now();
        let mut rx = RxTracker::new(8000);
        // 20 ms packets (160 ticks); arrivals alternate 0 / +10 ms late.
        let mut expected = 0.0f64;
        let mut prev_transit = None;
        for k in 0..50u32 {
            let late = if k % 2 == 1 { 10 } else { 0 };
            let arrival_ms = u64::from(k) * 20 + late;
            rx.on_packet(
                9,
                k as u16,
                k * 160,
                160,
                t0 + Duration::from_millis(arrival_ms),
            );
            let transit = arrival_ms as f64 * 8.0 - f64::from(k * 160);
            if let Some(p) = prev_transit {
                let d: f64 = transit - p;
                expected += (d.abs() - expected) / 16.0;
            }
            prev_transit = Some(transit);
        }
        assert!(
            (rx.jitter - expected).abs() < 1.0,
            "{} vs {expected}",
            rx.jitter
        );
        // |D| is always 80 ticks: J converges towards 80 (10 ms)
        assert!(rx.jitter_units() > 70 && rx.jitter_units() <= 80);
        assert!((rx.jitter().as_secs_f64() * 1000.0 - rx.jitter / 8.0).abs() < 0.01);
        assert_eq!(rx.lost(), 0);
    }

    #[test]
    fn perfect_network_scores_about_4_4_and_degrades_with_loss_and_delay() {
        let g711 = CodecImpairment::for_codec(PbxCodec::Pcmu);
        let perfect = estimate_mos(Duration::from_millis(20), Duration::ZERO, 0.0, g711);
        assert!((4.3..=4.45).contains(&perfect), "{perfect}");
        let lossy = estimate_mos(Duration::from_millis(20), Duration::ZERO, 5.0, g711);
        let slow = estimate_mos(
            Duration::from_millis(400),
            Duration::from_millis(30),
            0.0,
            g711,
        );
        assert!(lossy < perfect - 0.3, "{lossy}");
        assert!(slow < perfect - 0.5, "{slow}");
        assert_eq!(mos_from_r(-5.0), 1.0);
        assert_eq!(mos_from_r(120.0), 4.5);
    }

    #[test]
    fn stats_serialise_as_json() {
        let s = MediaStats {
            pbx_codec: "PCMU".into(),
            mos: 4.2,
            ..MediaStats::default()
        };
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["pbx_codec"], "PCMU");
        assert_eq!(v["pbx_rx"]["lost"], 0);
        assert!(v["pbx_rtt_ms"].is_null());
    }
}
