//! [`CallProbe`]: what one load-test call measured at both ends of callgate's bridge, shared by
//! the call's phone (WhatsApp side) and the far end (PBX side), which run in different tasks.
//!
//! # How one-way latency is paired
//!
//! Every packet a generator end sends into callgate is stamped on the way out, every packet it
//! gets out of callgate is stamped on the way in, and each receive is paired with the send that
//! caused it, by the frame's identity where it survives callgate:
//!
//! - passthrough, both directions: the Opus payload itself (every phone plays the same loop of 50
//!   distinct frames, [`ToneFrames`]; the far end echoes them unchanged);
//! - transcoding, WhatsApp -> PBX: the PBX-side RTP timestamp (callgate advances it by one frame
//!   per WhatsApp frame, concealed losses included), anchored at the first packet on the latest
//!   frame the phone sent before it (frames sent before callgate bridged the call were dropped),
//!   and moved whenever a packet would map to a frame the phone has not sent yet (the phone's
//!   next frame went out while the first packet was crossing callgate);
//! - transcoding, PBX -> WhatsApp: nothing survives Opus encoding, so sends and receives are
//!   paired first in first out (callgate turns each PBX frame into one WhatsApp frame; its own
//!   comfort-silence frames are not paired). A frame dropped inside callgate would shift this
//!   pairing by one frame; the phone's sequence accounting still counts the loss.
//!
//! A send not received within [`STALE`] counts as lost. The figure is an upper bound of
//! callgate's own delay: it includes the loopback hop and the generator's own scheduling.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::phone::ToneFrames;
use crate::media::codec::OPUS_SILENCE_FRAME;
use crate::media::rtp::RtpPacket;

/// A send not received within this time is lost (generous: a loaded test machine can stall a
/// debug build for hundreds of milliseconds without losing anything).
pub const STALE: Duration = Duration::from_secs(2);
/// Pending sends kept per direction at most (5 s of 20 ms frames).
const MAX_PENDING: usize = 256;
/// RTP ticks of one 20 ms frame on an 8 kHz clock (PCMU, PCMA, G.722).
const FRAME_TICKS_8K: u64 = 160;

/// One direction's send/receive pairing and its samples.
#[derive(Debug, Default)]
pub struct Pairing {
    pending: VecDeque<(Option<u64>, Instant)>,
    started: bool,
    /// One-way delays measured, in microseconds.
    pub samples_us: Vec<u32>,
    /// Sends never received (once the first receive was paired).
    pub lost: u64,
}

impl Pairing {
    /// Frame `id` (`None`: no identity, first in first out) went into callgate at `at`.
    pub fn sent(&mut self, id: Option<u64>, at: Instant) {
        if self.pending.len() == MAX_PENDING {
            self.pending.pop_front();
            self.lost += u64::from(self.started);
        }
        self.pending.push_back((id, at));
    }

    /// Frame `id` came out of callgate at `at`: pairs it (see the module docs).
    pub fn received(&mut self, id: Option<u64>, at: Instant) {
        while let Some(&(_, sent)) = self.pending.front()
            && at.saturating_duration_since(sent) > STALE
        {
            self.pending.pop_front();
            self.lost += u64::from(self.started);
        }
        let found = match id {
            Some(id) => self
                .pending
                .iter()
                .rposition(|&(i, s)| i == Some(id) && s <= at),
            None if !self.started => self.pending.iter().rposition(|&(_, s)| s <= at),
            None => self.pending.front().filter(|(_, s)| *s <= at).map(|_| 0),
        };
        let Some(i) = found else { return };
        let (_, sent) = self.pending[i];
        if self.started {
            self.pending.remove(i);
        } else {
            // Everything before the first pair was sent before callgate bridged the call.
            self.pending.drain(..=i);
            self.started = true;
        }
        let us = at.saturating_duration_since(sent).as_micros();
        self.samples_us.push(u32::try_from(us).unwrap_or(u32::MAX));
    }
}

/// Sequence-number accounting of one received RTP stream: loss is the gaps between the first and
/// the highest sequence number seen (RFC 3550 appendix A.3, without the probation).
#[derive(Debug, Default, Clone, Copy)]
pub struct SeqCount {
    first: Option<u64>,
    highest: u64,
    /// Packets received.
    pub received: u64,
}

impl SeqCount {
    /// A packet with extended sequence number `seq` arrived.
    pub fn on(&mut self, seq: u64) {
        self.received += 1;
        let first = *self.first.get_or_insert(seq);
        self.highest = self.highest.max(seq).max(first);
    }

    /// Packets expected from the sequence numbers seen.
    pub fn expected(&self) -> u64 {
        self.first.map_or(0, |f| self.highest - f + 1)
    }

    /// Packets missing (duplicates do not make it negative).
    pub fn lost(&self) -> u64 {
        self.expected().saturating_sub(self.received)
    }
}

/// Extends 16- or 32-bit RTP counters to 64 bits (wrap-around aware).
#[derive(Debug, Default, Clone, Copy)]
pub struct Extender {
    last: Option<u64>,
}

impl Extender {
    /// The extended value of `v`, a counter that wraps at `1 << bits`.
    pub fn extend(&mut self, v: u32, bits: u32) -> u64 {
        let span = 1u64 << bits;
        let v = u64::from(v);
        let ext = match self.last {
            None => v + span,
            Some(last) => {
                let base = last & !(span - 1);
                [base.saturating_sub(span), base, base + span]
                    .into_iter()
                    .map(|b| b | v)
                    .min_by_key(|c| c.abs_diff(last))
                    .unwrap_or(last)
            }
        };
        self.last = Some(self.last.map_or(ext, |l| l.max(ext)));
        ext
    }
}

/// What one end saw of one call.
#[derive(Debug, Default, Clone, Copy)]
pub struct EndCounts {
    /// Packets it sent into callgate.
    pub sent: u64,
    /// Audio packets it received from callgate (comfort silence excluded).
    pub audio_in: u64,
    /// Comfort-silence frames received (WhatsApp side only).
    pub silence_in: u64,
    /// Sequence accounting of everything received from callgate.
    pub seq: SeqCount,
    /// When the first audio (not comfort silence) arrived from callgate.
    pub first_audio_in: Option<Instant>,
}

/// Both ends of one call, behind one lock (each end takes it once per packet).
#[derive(Debug, Default)]
pub struct ProbeState {
    /// WhatsApp -> PBX: sent by the phone, received by the far end.
    pub to_pbx: Pairing,
    /// PBX -> WhatsApp: sent by the far end, received by the phone.
    pub to_wa: Pairing,
    /// The phone's counters.
    pub phone: EndCounts,
    /// The far end's counters.
    pub far: EndCounts,
    far_seq: Extender,
    far_ts: Extender,
    /// Transcoding: PBX timestamp of the first packet and the phone frame it maps to.
    anchor: Option<(u64, u64)>,
    last_phone_frame: Option<(u64, Instant)>,
}

/// Shared by the two ends of one call. Cheap to clone.
#[derive(Debug, Clone)]
pub struct CallProbe {
    state: Arc<Mutex<ProbeState>>,
    /// The phones' frames, for identities (passthrough); `None` when callgate transcodes.
    frames: Option<Arc<ToneFrames>>,
}

impl CallProbe {
    /// A probe for a call whose frames pass through callgate unchanged (`Some(frames)`), or
    /// are transcoded (`None`).
    pub fn new(passthrough_frames: Option<Arc<ToneFrames>>) -> CallProbe {
        CallProbe {
            state: Arc::default(),
            frames: passthrough_frames,
        }
    }

    /// The state, locked.
    pub fn lock(&self) -> MutexGuard<'_, ProbeState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn identity(&self, payload: &[u8]) -> Option<u64> {
        self.frames.as_ref()?.index_of(payload).map(|i| i as u64)
    }

    /// The phone sent its `n`-th frame (`loop_index` in [`ToneFrames`]) at `at`.
    pub fn phone_sent(&self, n: u64, loop_index: usize, at: Instant) {
        let id = match self.frames {
            Some(_) => loop_index as u64,
            None => n,
        };
        let mut s = self.lock();
        s.phone.sent += 1;
        s.last_phone_frame = Some((n, at));
        s.to_pbx.sent(Some(id), at);
    }

    /// The phone received `payload` (extended sequence number `seq`) from callgate at `at`.
    pub fn phone_received(&self, payload: &[u8], seq: u64, at: Instant) {
        let silence = payload == OPUS_SILENCE_FRAME;
        let id = if silence {
            None
        } else {
            self.identity(payload)
        };
        let mut s = self.lock();
        s.phone.seq.on(seq);
        if silence {
            s.phone.silence_in += 1;
            return;
        }
        s.phone.audio_in += 1;
        s.phone.first_audio_in.get_or_insert(at);
        s.to_wa.received(id, at);
    }

    /// The far end received `p` from callgate at `at`.
    pub fn far_received(&self, p: &RtpPacket<'_>, at: Instant) {
        let content = self.identity(p.payload);
        let mut s = self.lock();
        let seq = s.far_seq.extend(u32::from(p.sequence), 16);
        let ts = s.far_ts.extend(p.timestamp, 32);
        s.far.seq.on(seq);
        s.far.audio_in += 1;
        s.far.first_audio_in.get_or_insert(at);
        let id = match self.frames {
            Some(_) => content,
            None => {
                let mapped = s
                    .anchor
                    .map(|(ts0, n0)| n0 + ts.saturating_sub(ts0) / FRAME_TICKS_8K);
                // The latest frame the phone sent before this packet arrived.
                let latest = s.last_phone_frame.filter(|(_, t)| *t <= at).map(|(n, _)| n);
                match (mapped, latest) {
                    // A packet cannot come from a frame the phone has not sent yet: the anchor
                    // was taken one frame late (the phone's next frame went out while the first
                    // packet crossed callgate), so it moves to the latest frame sent.
                    (None, Some(n)) | (Some(_), Some(n)) if mapped.is_none_or(|m| m > n) => {
                        s.anchor = Some((ts, n));
                        Some(n)
                    }
                    (mapped, _) => mapped,
                }
            }
        };
        s.to_pbx.received(id, at);
    }

    /// The far end sent `payload` into callgate at `at`.
    pub fn far_sent(&self, payload: &[u8], at: Instant) {
        let id = self.identity(payload);
        let mut s = self.lock();
        s.far.sent += 1;
        s.to_wa.sent(id, at);
    }
}

/// The probes of a run by Meta call id, for the far end to find its side of a call.
#[derive(Debug, Clone, Default)]
pub struct Probes(Arc<Mutex<HashMap<String, CallProbe>>>);

impl Probes {
    fn map(&self) -> MutexGuard<'_, HashMap<String, CallProbe>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers the probe of `call_id`.
    pub fn insert(&self, call_id: &str, probe: CallProbe) {
        self.map().insert(call_id.to_string(), probe);
    }

    /// The probe of `call_id`.
    pub fn get(&self, call_id: &str) -> Option<CallProbe> {
        self.map().get(call_id).cloned()
    }

    /// Forgets `call_id`.
    pub fn remove(&self, call_id: &str) {
        self.map().remove(call_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn fifo_pairs_the_first_receive_with_the_latest_earlier_send() {
        let t0 = Instant::now();
        let mut p = Pairing::default();
        // Frames sent before the bridge existed were dropped by callgate.
        for i in 0..5 {
            p.sent(None, t0 + 20 * i * MS);
        }
        p.received(None, t0 + 81 * MS); // caused by the frame sent at 80 ms
        p.sent(None, t0 + 100 * MS);
        p.sent(None, t0 + 120 * MS);
        p.received(None, t0 + 102 * MS);
        p.received(None, t0 + 125 * MS);
        assert_eq!(p.samples_us, [1000, 2000, 5000]);
        assert_eq!(p.lost, 0);
    }

    #[test]
    fn identities_pair_exactly_and_count_what_never_came() {
        let t0 = Instant::now();
        let mut p = Pairing::default();
        for i in 0..4u64 {
            p.sent(Some(i), t0 + 20 * i as u32 * MS);
        }
        p.received(Some(0), t0 + 3 * MS);
        p.received(Some(2), t0 + 44 * MS); // frame 1 was lost
        p.received(Some(3), t0 + 61 * MS);
        p.sent(Some(4), t0 + 3000 * MS);
        p.received(Some(4), t0 + 3001 * MS);
        assert_eq!(p.samples_us, [3000, 4000, 1000, 1000]);
        assert_eq!(p.lost, 1);
    }

    #[test]
    fn transcoded_pairing_recovers_from_an_anchor_taken_one_frame_late() {
        let t0 = Instant::now();
        let probe = CallProbe::new(None);
        let pcmu = |seq: u16, ts: u32| {
            let mut d = vec![0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
            d[2..4].copy_from_slice(&seq.to_be_bytes());
            d[4..8].copy_from_slice(&ts.to_be_bytes());
            d.extend_from_slice(&[0xff; 160]);
            d
        };
        // Frame 0 crosses callgate slowly: frame 1 is sent before frame 0's packet arrives,
        // so the first anchor maps the packet to frame 1.
        probe.phone_sent(0, 0, t0);
        probe.phone_sent(1, 1, t0 + 20 * MS);
        let d = pcmu(0, 1000);
        probe.far_received(&RtpPacket::parse(&d).unwrap(), t0 + 21 * MS);
        // From here on each frame crosses callgate in 1 ms.
        for n in 1..200u32 {
            let sent = t0 + 20 * n * MS;
            if n > 1 {
                probe.phone_sent(u64::from(n), n as usize, sent);
            }
            let d = pcmu(n as u16, 1000 + 160 * n);
            probe.far_received(&RtpPacket::parse(&d).unwrap(), sent + MS);
        }
        let s = probe.lock();
        assert_eq!(s.to_pbx.lost, 0, "every frame sent was paired");
        // Frame 1 was paired with frame 0's packet, so frame 1's own packet finds nothing.
        assert_eq!(s.to_pbx.samples_us.len(), 199);
        assert!(s.to_pbx.samples_us.iter().all(|&us| us == 1000));
    }

    #[test]
    fn counters_wrap_and_gaps_count_as_loss() {
        let mut x = Extender::default();
        let mut c = SeqCount::default();
        for s in [65534u32, 65535, 1, 2] {
            c.on(x.extend(s, 16));
        }
        assert_eq!((c.expected(), c.received, c.lost()), (5, 4, 1));
    }
}
