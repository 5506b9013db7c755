//! The per-call media bridge between the WhatsApp leg (Opus payloads and RFC 4733 payloads,
//! RTP handled by str0m) and the PBX leg (plain RTP over UDP, packetised and parsed here).
//!
//! Sans-IO: the call task feeds what arrives and sends what comes out.
//! - WhatsApp Opus frame -> [`Bridge::on_wa_audio`] -> at most one PBX RTP datagram.
//! - WhatsApp telephone-event -> [`Bridge::on_wa_dtmf`] (relayed in the next PBX slots).
//! - PBX datagram -> [`Bridge::on_pbx_rtp`] (audio queued for WhatsApp, DTMF relayed, RTCP
//!   handled when multiplexed).
//! - Every 20 ms -> [`Bridge::tick`] -> exactly one frame for WhatsApp: the PBX audio, a DTMF
//!   packet, or comfort silence, so WhatsApp never goes without media (Meta ends calls after
//!   20 s / 30 s without it), including before `accept` and while the PBX holds the call. When
//!   [`Bridge::wa_frame_ready`] says PBX audio or DTMF is waiting, the caller ticks at once
//!   instead of waiting for its clock (no added delay toward WhatsApp).
//!   Also every 20 ms -> [`Bridge::pbx_dtmf_tick`]: the PBX-bound DTMF packet of a slot that
//!   no WhatsApp audio frame filled (WhatsApp's digits replace its audio frames).
//!
//! Continuity: the PBX-bound stream's SSRC, sequence and timestamp are owned here
//! ([`OutboundStream`]); every WhatsApp frame fills one 20 ms slot, DTMF packets fill slots too
//! and are stamped with the event start, so timestamps and sequence numbers stay continuous
//! across DTMF events, WhatsApp SSRC changes, codec changes and transcoder restarts. The
//! WhatsApp-bound timestamp (48 kHz) advances by 960 per tick whatever is sent.
//!
//! Pacing: PBX-bound audio and DTMF packets are clocked by WhatsApp's frames (Meta's offer has no
//! `usedtx`, so audio is continuous) and, while WhatsApp sends a digit instead of audio, by the
//! call's clock through [`Bridge::pbx_dtmf_tick`].

use std::time::{Duration, Instant};

use super::codec::{CodecError, MAX_OPUS_PACKET, OPUS_SILENCE_FRAME, PbxCodec};
use super::dtmf::{DtmfDigit, DtmfEvent, DtmfEvents, DtmfReceiver, DtmfSender};
use super::dtmf_tones::DtmfTones;
use super::rtcp::{self, ReportBlock, RtcpPacket, SenderInfo};
use super::rtp::{OutboundStream, RtpError, RtpPacket, looks_like_rtcp};
use super::stats::{CodecImpairment, DirectionStats, MediaStats, RxTracker, estimate_mos};
use super::transcoder::Transcoder;
use ring::FrameRing;

/// WhatsApp's Opus clock: 20 ms = 960 ticks.
const WA_FRAME_TICKS: u32 = 960;
/// Largest PBX datagram we build.
const PBX_MTU: usize = 1500;
/// PCM scratch: 120 ms at 48 kHz covers any Opus packet and any G.711/G.722 payload.
const PCM_SCRATCH: usize = 5760;
/// PBX audio buffered for WhatsApp at most (frames); older audio is dropped.
const MAX_QUEUED_FRAMES: usize = 3;
/// CNAME in our RTCP.
const CNAME: &str = "callgate";

/// Errors creating a bridge.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BridgeError {
    /// A codec could not be set up (libopus refused the configuration).
    #[error("cannot set up the media codecs: {0}")]
    Codec(#[from] CodecError),
}

/// How the two legs were negotiated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BridgeConfig {
    /// The PBX leg's audio codec.
    pub pbx_codec: PbxCodec,
    /// The PBX leg's telephone-event PT, if it negotiated one. Without it, WhatsApp digits are
    /// played in-band as tones (transcoded legs; dropped with Opus passthrough) and PBX digits
    /// can only arrive in-band, as audio.
    pub pbx_te_pt: Option<u8>,
    /// The clock of the PBX's telephone-event rtpmap (8000 or 48000).
    pub pbx_te_clock: u32,
    /// WhatsApp's Opus PT (111).
    pub wa_opus_pt: u8,
    /// WhatsApp's telephone-event/8000 PT (126), if offered.
    pub wa_te_pt: Option<u8>,
    /// Opus encoder complexity 0..=10 (CPU per call vs quality).
    pub opus_complexity: i32,
}

impl Default for BridgeConfig {
    fn default() -> Self {
        Self {
            pbx_codec: PbxCodec::Pcmu,
            pbx_te_pt: Some(101),
            pbx_te_clock: 8000,
            wa_opus_pt: 111,
            wa_te_pt: Some(126),
            opus_complexity: 5,
        }
    }
}

/// What a PBX datagram turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BridgeIn {
    /// Audio, queued for WhatsApp (or dropped before accept).
    Audio,
    /// Telephone events (relayed to WhatsApp when accepted and WhatsApp has the PT).
    Dtmf(DtmfEvents),
    /// RTCP (multiplexed on the RTP port), consumed.
    Rtcp,
    /// A payload type we did not negotiate (comfort noise, ...), ignored.
    Ignored {
        /// The payload type.
        payload_type: u8,
    },
    /// Not a valid RTP datagram.
    Invalid(RtpError),
}

/// What a WhatsApp-bound frame carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaKind {
    /// Opus audio from the PBX.
    Audio,
    /// Comfort silence (no PBX audio this tick, or not accepted yet).
    Silence,
    /// An RFC 4733 packet on WhatsApp's telephone-event PT.
    Dtmf,
}

/// One frame for WhatsApp, produced every tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaFrame<'a> {
    /// What it is.
    pub kind: WaKind,
    /// Payload type to write it on (Opus PT or telephone-event PT).
    pub payload_type: u8,
    /// The payload.
    pub payload: &'a [u8],
    /// RTP time on WhatsApp's 48 kHz audio clock. For DTMF this is the event start on that
    /// clock; write it labelled as 8 kHz (str0m-meta L3) so it shares the audio timeline.
    pub rtp_time: u32,
    /// Marker bit (first packet of a DTMF event).
    pub marker: bool,
}

/// RTCP bookkeeping for the PBX leg.
#[derive(Debug, Default, Clone, Copy)]
struct RtcpState {
    /// Our last SR: compact NTP and when we sent it.
    our_sr: Option<(u32, Instant)>,
    /// The PBX's last SR: compact NTP and when it arrived.
    their_sr: Option<(u32, Instant)>,
    rtt: Option<Duration>,
    /// expected/received at the previous report, for the fraction lost.
    prior: (u64, u64),
}

/// The media bridge of one call. See the module documentation for the call contract.
pub struct Bridge {
    cfg: BridgeConfig,
    transcoder: Option<Transcoder>,
    accepted: bool,
    // WhatsApp -> PBX
    pbx_out: OutboundStream,
    pbx_first: bool,
    /// A WhatsApp frame filled the current PBX slot (see [`Bridge::pbx_dtmf_tick`]).
    wa_frame_seen: bool,
    pbx_dtmf: Option<DtmfSender>,
    /// WhatsApp digits as tones, for a transcoded PBX leg without telephone-event.
    pbx_tones: Option<DtmfTones>,
    wa_dtmf_rx: DtmfReceiver,
    wa_dtmf_seq: u16,
    pbx_buf: Vec<u8>,
    payload_buf: Vec<u8>,
    pcm: Vec<i16>,
    // PBX -> WhatsApp
    pbx_rx: RxTracker,
    pbx_ssrc: Option<u32>,
    pbx_dtmf_rx: DtmfReceiver,
    fifo: Vec<i16>,
    ring: FrameRing,
    wa_ts: u32,
    wa_dtmf: Option<DtmfSender>,
    wa_buf: Vec<u8>,
    // stats
    stats: MediaStats,
    pbx_tx: DirectionStats,
    rtcp: RtcpState,
}

impl Bridge {
    /// A bridge with a random PBX SSRC, sequence and timestamp start (RFC 3550 §5.1).
    pub fn new(cfg: BridgeConfig) -> Result<Self, BridgeError> {
        let out = OutboundStream::new(rand::random(), rand::random(), rand::random());
        Self::with_stream(cfg, out, rand::random())
    }

    /// A bridge with explicit stream starts (tests, reproducible runs): the PBX-bound stream
    /// and the first WhatsApp RTP time.
    pub fn with_stream(
        cfg: BridgeConfig,
        pbx_out: OutboundStream,
        wa_first_ts: u32,
    ) -> Result<Self, BridgeError> {
        let transcoder = Transcoder::new(cfg.pbx_codec, cfg.opus_complexity)?;
        Ok(Self {
            transcoder,
            accepted: false,
            pbx_out,
            pbx_first: true,
            wa_frame_seen: false,
            pbx_dtmf: cfg
                .pbx_te_pt
                .map(|pt| DtmfSender::new(pt, cfg.pbx_te_clock)),
            pbx_tones: in_band_dtmf(&cfg),
            wa_dtmf_rx: DtmfReceiver::new(8000),
            wa_dtmf_seq: 0,
            pbx_buf: vec![0; PBX_MTU],
            payload_buf: vec![0; PBX_MTU],
            // Transcoding scratch, allocated on first use (passthrough calls never need it).
            pcm: Vec::new(),
            pbx_rx: RxTracker::new(cfg.pbx_codec.rtp_clock()),
            pbx_ssrc: None,
            pbx_dtmf_rx: DtmfReceiver::new(cfg.pbx_te_clock),
            fifo: Vec::new(),
            ring: FrameRing::new(),
            wa_ts: wa_first_ts,
            wa_dtmf: cfg.wa_te_pt.map(|pt| DtmfSender::new(pt, 8000)),
            wa_buf: vec![0; MAX_OPUS_PACKET],
            stats: MediaStats {
                pbx_codec: cfg.pbx_codec.encoding_name().to_owned(),
                ..MediaStats::default()
            },
            pbx_tx: DirectionStats::default(),
            rtcp: RtcpState::default(),
            cfg,
        })
    }

    /// The configuration in use.
    #[must_use]
    pub fn config(&self) -> &BridgeConfig {
        &self.cfg
    }

    /// The PBX-bound stream (SSRC, next sequence and timestamp).
    #[must_use]
    pub fn pbx_stream(&self) -> &OutboundStream {
        &self.pbx_out
    }

    /// Opens (or closes) the gate towards WhatsApp. Until `accept` succeeded at Meta, no PBX
    /// audio or DTMF reaches the WhatsApp user: ticks carry comfort silence.
    pub fn set_wa_accepted(&mut self, accepted: bool) {
        if accepted != self.accepted {
            self.fifo.clear();
            self.ring.clear();
        }
        self.accepted = accepted;
    }

    /// Recreates the codecs (same codec, fresh state), keeping both RTP timelines continuous.
    pub fn restart_transcoder(&mut self) -> Result<(), BridgeError> {
        self.transcoder = Transcoder::new(self.cfg.pbx_codec, self.cfg.opus_complexity)?;
        self.fifo.clear();
        self.ring.clear();
        Ok(())
    }

    /// Switches the PBX codec (a re-INVITE renegotiated it); timelines stay continuous.
    pub fn set_pbx_codec(&mut self, codec: PbxCodec) -> Result<(), BridgeError> {
        self.cfg.pbx_codec = codec;
        self.stats.pbx_codec = codec.encoding_name().to_owned();
        self.pbx_rx.set_clock(codec.rtp_clock());
        self.pbx_tones = in_band_dtmf(&self.cfg);
        self.restart_transcoder()
    }

    fn emit_pbx(&mut self, header: super::rtp::RtpHeader, payload_len: usize) -> Option<&[u8]> {
        let payload = &self.payload_buf[..payload_len];
        match header.write(payload, &mut self.pbx_buf) {
            Ok(n) => {
                self.pbx_tx.packets += 1;
                self.pbx_tx.bytes += payload_len as u64;
                Some(&self.pbx_buf[..n])
            }
            Err(_) => {
                self.stats.codec_errors += 1;
                None
            }
        }
    }

    /// One ringback frame toward the PBX (already encoded in the PBX codec, `ticks` long), on
    /// the PBX stream, so the agent's phone sees one continuous stream from ringback to voice.
    pub fn pbx_ringback(&mut self, payload: &[u8], ticks: u32) -> Option<&[u8]> {
        let n = payload.len().min(self.payload_buf.len());
        self.payload_buf[..n].copy_from_slice(&payload[..n]);
        let marker = std::mem::take(&mut self.pbx_first);
        let header = self
            .pbx_out
            .audio(self.cfg.pbx_codec.payload_type(), marker, ticks);
        self.emit_pbx(header, n)
    }

    /// The DTMF packet for this PBX slot, if an event is being relayed.
    fn pbx_dtmf_slot(&mut self) -> Option<(super::rtp::RtpHeader, usize)> {
        let sender = self.pbx_dtmf.as_mut().filter(|s| s.is_active())?;
        let p = sender.next_packet()?;
        let pt = sender.payload_type();
        self.payload_buf[..4].copy_from_slice(&p.payload);
        let ticks = self.cfg.pbx_codec.frame_ticks();
        Some((self.pbx_out.stamped(pt, p.marker, p.timestamp, ticks), 4))
    }

    /// The in-band DTMF frame for this PBX slot, if a WhatsApp digit is being played as tones.
    fn pbx_tone_slot(&mut self) -> Option<(super::rtp::RtpHeader, usize)> {
        let tones = self.pbx_tones.as_mut().filter(|t| t.is_active())?;
        let t = self.transcoder.as_mut()?;
        let pcm = &mut scratch(&mut self.pcm)[..t.frame_samples()];
        tones.next_frame(pcm);
        let (len, ticks) = t.encode_pbx(pcm, &mut self.payload_buf).ok()?;
        let marker = std::mem::take(&mut self.pbx_first);
        let pt = self.cfg.pbx_codec.payload_type();
        Some((self.pbx_out.audio(pt, marker, ticks), len))
    }

    /// One Opus frame from WhatsApp; returns the RTP datagram to send to the PBX (audio, or a
    /// DTMF packet in place of the audio while a WhatsApp digit is relayed).
    pub fn on_wa_audio(&mut self, opus_payload: &[u8]) -> Option<&[u8]> {
        self.stats.wa_rx.packets += 1;
        self.stats.wa_rx.bytes += opus_payload.len() as u64;
        if opus_payload.is_empty() {
            return None;
        }
        self.pbx_audio(opus_payload)
    }

    /// A WhatsApp frame was lost (str0m reported a sequence gap): with transcoding, a
    /// concealed frame (Opus PLC) goes to the PBX; with passthrough, the slot is skipped.
    pub fn on_wa_lost(&mut self) -> Option<&[u8]> {
        if self.transcoder.is_none() {
            self.pbx_out.skip(self.cfg.pbx_codec.frame_ticks());
            return None;
        }
        self.pbx_audio(&[])
    }

    fn pbx_audio(&mut self, opus: &[u8]) -> Option<&[u8]> {
        self.wa_frame_seen = true;
        let codec = self.cfg.pbx_codec;
        let mut decoded = None;
        if let Some(t) = &mut self.transcoder {
            match t.decode_opus(opus, scratch(&mut self.pcm)) {
                Ok(n) => decoded = Some(n),
                Err(_) => self.stats.codec_errors += 1,
            }
        }
        if let Some((header, len)) = self.pbx_dtmf_slot().or_else(|| self.pbx_tone_slot()) {
            // The audio of this slot is replaced (decoding above kept the decoder's state).
            return self.emit_pbx(header, len);
        }
        let marker = std::mem::take(&mut self.pbx_first);
        match &mut self.transcoder {
            None => {
                let n = opus.len().min(PBX_MTU - 12);
                self.payload_buf[..n].copy_from_slice(&opus[..n]);
                // Opus on RTP is always 48 kHz: use the packet's real duration.
                let ticks = opus::packet::get_nb_samples(opus, 48_000)
                    .map_or(codec.frame_ticks(), |s| s as u32);
                let header = self.pbx_out.audio(codec.payload_type(), marker, ticks);
                self.emit_pbx(header, n)
            }
            Some(t) => {
                let samples = decoded?;
                match t.encode_pbx(&self.pcm[..samples], &mut self.payload_buf) {
                    Ok((n, ticks)) => {
                        let header = self.pbx_out.audio(codec.payload_type(), marker, ticks);
                        self.emit_pbx(header, n)
                    }
                    Err(_) => {
                        self.stats.codec_errors += 1;
                        None
                    }
                }
            }
        }
    }

    /// Called by the call's 20 ms clock. WhatsApp sends its digits' RFC 4733 packets *instead
    /// of* audio frames, so while a WhatsApp digit is relayed no audio frame comes to carry the
    /// PBX-bound DTMF packets: when no WhatsApp frame filled the slot since the last call, this
    /// returns the slot's DTMF packet (if a digit is being relayed).
    pub fn pbx_dtmf_tick(&mut self) -> Option<&[u8]> {
        if std::mem::take(&mut self.wa_frame_seen) {
            return None;
        }
        let (header, len) = self.pbx_dtmf_slot().or_else(|| self.pbx_tone_slot())?;
        self.emit_pbx(header, len)
    }

    /// Whether a WhatsApp digit is still being relayed to the PBX (RFC 4733 packets, tones or
    /// the gap after them): [`Bridge::pbx_dtmf_tick`] must run every 20 ms until it is not.
    #[must_use]
    pub fn pbx_dtmf_active(&self) -> bool {
        self.pbx_dtmf.as_ref().is_some_and(DtmfSender::is_active)
            || self.pbx_tones.as_ref().is_some_and(DtmfTones::is_active)
    }

    /// One telephone-event payload from WhatsApp (telephone-event/8000, 8 kHz durations), in
    /// arrival order. Digits are relayed to the PBX in the next slots (if it has the PT).
    pub fn on_wa_dtmf(&mut self, payload: &[u8], rtp_time: u32, now: Instant) -> DtmfEvents {
        self.wa_dtmf_seq = self.wa_dtmf_seq.wrapping_add(1);
        let events = self
            .wa_dtmf_rx
            .on_packet(self.wa_dtmf_seq, rtp_time, payload, now)
            .unwrap_or_default();
        let start_ts = self.pbx_out.next_timestamp();
        for e in events {
            if let Some(tx) = &mut self.pbx_dtmf
                && relay(tx, e, start_ts)
            {
                self.stats.dtmf_to_pbx += 1;
            }
            if let Some(tones) = &mut self.pbx_tones
                && play(tones, e)
            {
                self.stats.dtmf_to_pbx += 1;
            }
        }
        events
    }

    /// One datagram from the PBX's RTP port.
    pub fn on_pbx_rtp(&mut self, datagram: &[u8], now: Instant) -> BridgeIn {
        if looks_like_rtcp(datagram) {
            return match self.on_pbx_rtcp(datagram, now) {
                Ok(()) => BridgeIn::Rtcp,
                Err(e) => BridgeIn::Invalid(e),
            };
        }
        let p = match RtpPacket::parse(datagram) {
            Ok(p) => p,
            Err(e) => return BridgeIn::Invalid(e),
        };
        let is_te = self.cfg.pbx_te_pt == Some(p.payload_type);
        let is_audio = p.payload_type == self.cfg.pbx_codec.payload_type();
        if !is_te && !is_audio {
            return BridgeIn::Ignored {
                payload_type: p.payload_type,
            };
        }
        if self.pbx_ssrc != Some(p.ssrc) {
            self.pbx_ssrc = Some(p.ssrc);
            self.pbx_dtmf_rx.reset();
        }
        self.pbx_rx
            .on_packet(p.ssrc, p.sequence, p.timestamp, p.payload.len(), now);
        let mut events = DtmfEvents::default();
        if let Some(e) = self.pbx_dtmf_rx.poll_timeout(now) {
            self.relay_to_wa(e);
            events = DtmfEvents::from(e);
        }
        if is_te {
            let got = self
                .pbx_dtmf_rx
                .on_packet(p.sequence, p.timestamp, p.payload, now)
                .unwrap_or_default();
            for e in got {
                self.relay_to_wa(e);
            }
            return BridgeIn::Dtmf(if got.is_empty() { events } else { got });
        }
        if !self.accepted {
            return BridgeIn::Audio;
        }
        match &mut self.transcoder {
            None => self.ring.push(p.payload),
            Some(t) => match t.decode_pbx(p.payload, scratch(&mut self.pcm)) {
                Ok(n) => {
                    self.fifo.extend_from_slice(&self.pcm[..n]);
                    let cap = MAX_QUEUED_FRAMES * t.frame_samples();
                    if self.fifo.len() > cap {
                        let excess = self.fifo.len() - cap;
                        self.fifo.drain(..excess);
                    }
                }
                Err(_) => self.stats.codec_errors += 1,
            },
        }
        BridgeIn::Audio
    }

    /// A key press the PBX signalled out of band (SIP INFO): relayed to WhatsApp as RFC 4733
    /// (once accepted), like one that came as telephone-event.
    pub fn on_pbx_key(&mut self, digit: DtmfDigit) {
        self.relay_to_wa(DtmfEvent::End(digit));
    }

    fn relay_to_wa(&mut self, e: DtmfEvent) {
        if !self.accepted {
            return;
        }
        let start_ts = self.wa_ts;
        if let Some(tx) = &mut self.wa_dtmf
            && relay(tx, e, start_ts)
        {
            self.stats.dtmf_to_wa += 1;
        }
    }

    /// Whether [`Bridge::tick`] would now give WhatsApp PBX audio or a DTMF packet (rather than
    /// comfort silence): the call's legs then send it at once instead of at the next 20 ms tick.
    #[must_use]
    pub fn wa_frame_ready(&self) -> bool {
        if !self.accepted {
            return false;
        }
        if self.wa_dtmf.as_ref().is_some_and(DtmfSender::is_active) {
            return true;
        }
        match &self.transcoder {
            None => self.ring.len > 0,
            Some(t) => self.fifo.len() >= t.frame_samples(),
        }
    }

    /// Called every 20 ms: the frame to send to WhatsApp now. Never empty.
    pub fn tick(&mut self) -> WaFrame<'_> {
        let ts = self.wa_ts;
        self.wa_ts = self.wa_ts.wrapping_add(WA_FRAME_TICKS);
        self.stats.wa_tx.packets += 1;
        if self.accepted {
            if let Some(tx) = self.wa_dtmf.as_mut().filter(|s| s.is_active())
                && let Some(p) = tx.next_packet()
            {
                self.wa_buf[..4].copy_from_slice(&p.payload);
                self.stats.wa_tx.bytes += 4;
                return WaFrame {
                    kind: WaKind::Dtmf,
                    payload_type: tx.payload_type(),
                    payload: &self.wa_buf[..4],
                    rtp_time: p.timestamp,
                    marker: p.marker,
                };
            }
            if let Some(n) = self.next_pbx_opus() {
                self.stats.wa_tx.bytes += n as u64;
                return WaFrame {
                    kind: WaKind::Audio,
                    payload_type: self.cfg.wa_opus_pt,
                    payload: &self.wa_buf[..n],
                    rtp_time: ts,
                    marker: false,
                };
            }
        }
        self.stats.wa_silence_frames += 1;
        self.stats.wa_tx.bytes += OPUS_SILENCE_FRAME.len() as u64;
        WaFrame {
            kind: WaKind::Silence,
            payload_type: self.cfg.wa_opus_pt,
            payload: &OPUS_SILENCE_FRAME,
            rtp_time: ts,
            marker: false,
        }
    }

    /// Moves the next PBX audio frame, as Opus, into `wa_buf`.
    fn next_pbx_opus(&mut self) -> Option<usize> {
        match &mut self.transcoder {
            None => {
                let slot = self.ring.pop()?;
                let n = self.ring.lens[slot];
                self.wa_buf[..n].copy_from_slice(&self.ring.bufs[slot][..n]);
                Some(n)
            }
            Some(t) => {
                let frame = t.frame_samples();
                if self.fifo.len() < frame {
                    return None;
                }
                let r = t.encode_opus(&self.fifo[..frame], &mut self.wa_buf);
                self.fifo.drain(..frame);
                match r {
                    Ok(n) => Some(n),
                    Err(_) => {
                        self.stats.codec_errors += 1;
                        None
                    }
                }
            }
        }
    }

    /// An RTCP datagram from the PBX (its RTCP port, or multiplexed): records its SR for our
    /// next report's LSR/DLSR and computes the RTT from report blocks about our stream.
    pub fn on_pbx_rtcp(&mut self, datagram: &[u8], now: Instant) -> Result<(), RtpError> {
        for packet in rtcp::parse_compound(datagram) {
            let blocks = match packet? {
                RtcpPacket::SenderReport { info, blocks, .. } => {
                    self.rtcp.their_sr = Some((rtcp::ntp_compact(info.ntp), now));
                    blocks
                }
                RtcpPacket::ReceiverReport { blocks, .. } => blocks,
                RtcpPacket::Other { .. } => continue,
            };
            for b in rtcp::report_blocks(blocks) {
                if b.ssrc != self.pbx_out.ssrc() {
                    continue;
                }
                let ours = self
                    .rtcp
                    .our_sr
                    .filter(|(lsr, _)| *lsr == b.lsr && b.lsr != 0);
                if let Some((_, sent)) = ours {
                    let held = Duration::from_micros(u64::from(b.dlsr) * 1_000_000 / 65_536);
                    // A PBX that counts its hold time in whole milliseconds can report more
                    // than the whole round trip on a fast network: that is a round trip of ~0.
                    let rtt = now.saturating_duration_since(sent).saturating_sub(held);
                    self.rtcp.rtt = Some(rtt);
                }
            }
        }
        Ok(())
    }

    /// Writes our RTCP report for the PBX into `out` (call every ~5 s): an SR if we sent media,
    /// with a report block on the PBX's stream if we received any. `wallclock` is the time since
    /// the UNIX epoch (for the SR's NTP timestamp).
    pub fn pbx_rtcp_report(
        &mut self,
        now: Instant,
        wallclock: Duration,
        out: &mut [u8],
    ) -> Result<usize, RtpError> {
        let sender = (self.pbx_tx.packets > 0).then(|| {
            let ntp = rtcp::ntp_from_unix(wallclock);
            self.rtcp.our_sr = Some((rtcp::ntp_compact(ntp), now));
            SenderInfo {
                ntp,
                rtp_ts: self.pbx_out.next_timestamp(),
                packets: self.pbx_tx.packets as u32,
                octets: self.pbx_tx.bytes as u32,
            }
        });
        let block = self.pbx_ssrc.map(|ssrc| {
            let expected = self.pbx_rx.expected();
            let received = self.pbx_rx.packets();
            let (pe, pr) = self.rtcp.prior;
            self.rtcp.prior = (expected, received);
            let exp_int = expected.saturating_sub(pe);
            let lost_int = exp_int.saturating_sub(received.saturating_sub(pr));
            let (lsr, dlsr) = self.rtcp.their_sr.map_or((0, 0), |(lsr, at)| {
                let held = now.saturating_duration_since(at);
                (lsr, (held.as_micros() * 65_536 / 1_000_000) as u32)
            });
            ReportBlock {
                ssrc,
                fraction_lost: (lost_int * 256)
                    .checked_div(exp_int)
                    .map_or(0, |f| f.min(255) as u8),
                cumulative_lost: self.pbx_rx.lost().min(0x7F_FFFF) as i32,
                highest_seq: self.pbx_rx.extended_highest_seq(),
                jitter: self.pbx_rx.jitter_units(),
                lsr,
                dlsr,
            }
        });
        rtcp::write_report(out, self.pbx_out.ssrc(), sender, block, CNAME)
    }

    /// Latest RTT to the PBX, once RTCP has measured one.
    #[must_use]
    pub fn pbx_rtt(&self) -> Option<Duration> {
        self.rtcp.rtt
    }

    /// A snapshot of the call's media statistics, with a MOS estimate for the PBX leg.
    #[must_use]
    pub fn stats(&self) -> MediaStats {
        let mut s = self.stats.clone();
        s.pbx_tx = self.pbx_tx;
        s.pbx_rx = self.pbx_rx.snapshot();
        s.pbx_rtt_ms = self.rtcp.rtt.map(|r| r.as_secs_f64() * 1000.0);
        let one_way = self.rtcp.rtt.map_or(Duration::ZERO, |r| r / 2);
        s.mos = estimate_mos(
            one_way,
            self.pbx_rx.jitter(),
            s.pbx_rx.loss_percent,
            CodecImpairment::for_codec(self.cfg.pbx_codec),
        );
        s
    }
}

/// The PCM scratch buffer, allocated on first use.
fn scratch(pcm: &mut Vec<i16>) -> &mut [i16] {
    if pcm.is_empty() {
        pcm.resize(PCM_SCRATCH, 0);
    }
    pcm
}

/// Mirrors a received event onto a sender; returns true when a digit completed.
/// In-band DTMF toward the PBX when it negotiated no telephone-event and its audio is
/// transcoded (an Opus passthrough leg has no encoder to play tones with).
fn in_band_dtmf(cfg: &BridgeConfig) -> Option<DtmfTones> {
    (cfg.pbx_te_pt.is_none() && !cfg.pbx_codec.is_passthrough())
        .then(|| DtmfTones::new(cfg.pbx_codec.audio_rate()))
}

/// Plays WhatsApp's key event `e` as tones; true when a digit was completed.
fn play(tones: &mut DtmfTones, e: DtmfEvent) -> bool {
    match e {
        DtmfEvent::Start { digit } => {
            tones.start(digit);
            false
        }
        DtmfEvent::End(d) => {
            if tones.is_held() {
                tones.stop(d.duration);
            } else {
                tones.play(d.digit, d.duration);
            }
            true
        }
    }
}

fn relay(tx: &mut DtmfSender, e: DtmfEvent, start_ts: u32) -> bool {
    match e {
        DtmfEvent::Start { digit } => {
            tx.start(digit, start_ts, None);
            false
        }
        DtmfEvent::End(d) => {
            if tx.is_active() {
                tx.stop();
            } else {
                // The start was never seen: send the whole digit.
                tx.start(d.digit, start_ts, Some(d.duration));
            }
            true
        }
    }
}

mod ring;
#[cfg(test)]
mod tests;
