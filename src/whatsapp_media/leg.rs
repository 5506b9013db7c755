//! [`WaLeg`]: one call's WhatsApp media leg, the str0m `Rtc` plus the workaround state (SSRC
//! learning, DTLS kick cache, DTMF sender/deduper). See the module docs for the run-loop contract.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::{Codec, CodecExtra, FormatParams};
use str0m::media::{Direction, Frequency, MediaKind, MediaTime, Mid, Pt, TelephoneEvent};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc, RtcConfig};

use super::dtmf::{DtmfReceiver, DtmfSender};
use super::sdp_text::strip_trickle;
use super::sdp_text::{OpusParams, first_mid, normalise_candidates, offer_setup_passive};
use super::wire::{dtls_handshake, rtp_ssrc_pt};
use super::{WaEvent, WaLegConfig, WaMediaError, WaOutput, WaStats, Workarounds};
use crate::media::dtmf::digit_to_event;

/// How far ahead a dead leg asks to be woken (it has nothing left to do).
const IDLE: Duration = Duration::from_secs(3600);

/// One WhatsApp media leg (sans-IO). Build with [`WaLeg::answer`] (UIC) or [`WaLeg::offer`]
/// (BIC), then drive it as described in the [module docs](super).
pub struct WaLeg {
    rtc: Rtc,
    local_addr: SocketAddr,
    workarounds: Workarounds,
    mid: Option<Mid>,
    pending: Option<SdpPendingOffer>,
    opus_pt: Option<Pt>,
    tele_pt: Option<Pt>,
    opus: OpusParams,
    dtls_client: bool,
    connected: bool,
    ice_down: bool,
    failed: bool,
    last_now: Instant,
    dtls_cache: Vec<(SocketAddr, Vec<u8>)>,
    /// The last SSRC seen to have a receive stream (L4 looks each new one up once).
    known_ssrc: Option<u32>,
    queue: VecDeque<WaOutput>,
    dtmf_tx: DtmfSender,
    dtmf_rx: DtmfReceiver,
    stats: WaStats,
}

impl WaLeg {
    /// UIC: answers Meta's offer (the connect webhook's `session.sdp`). Returns the leg and the
    /// answer SDP to send with `pre_accept` and `accept` (identical text both times). The
    /// gateway is ICE-controlling (Meta is ICE-lite) and, with L1, the DTLS client.
    pub fn answer(
        now: Instant,
        offer_sdp: &str,
        cfg: WaLegConfig,
    ) -> Result<(WaLeg, String), WaMediaError> {
        let w = cfg.workarounds;
        let mid = first_mid(offer_sdp).ok_or(WaMediaError::MissingMid)?;
        let mut text = offer_sdp.to_owned();
        if w.normalise_candidates {
            text = normalise_candidates(&text);
        }
        if w.setup_active {
            text = offer_setup_passive(&text);
        }
        let offer =
            SdpOffer::from_sdp_string(&text).map_err(|e| WaMediaError::SdpParse(e.to_string()))?;
        let mut leg = WaLeg::build(now, cfg)?;
        let answer = leg
            .rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| WaMediaError::Negotiation(e.to_string()))?;
        let mut answer = answer.to_sdp_string();
        if w.sdp_cleanup {
            answer = strip_trickle(&answer);
        }
        leg.dtls_client = answer.contains("a=setup:active");
        leg.opus = OpusParams::from_sdp(offer_sdp);
        leg.set_media(Mid::from(mid.as_str()))?;
        Ok((leg, answer))
    }

    /// BIC: builds the offer to send with the connect request. Keep the leg until the connect
    /// webhook brings Meta's answer, then call [`WaLeg::apply_answer`].
    pub fn offer(now: Instant, cfg: WaLegConfig) -> Result<(WaLeg, String), WaMediaError> {
        let mut leg = WaLeg::build(now, cfg)?;
        let mut api = leg.rtc.sdp_api();
        let mid = api.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
        let (offer, pending) = api
            .apply()
            .ok_or_else(|| WaMediaError::Negotiation("str0m produced no offer".into()))?;
        leg.mid = Some(mid);
        leg.pending = Some(pending);
        let mut offer = offer.to_sdp_string();
        if cfg.workarounds.sdp_cleanup {
            offer = strip_trickle(&offer);
        }
        Ok((leg, offer))
    }

    /// BIC: applies Meta's answer (ICE-lite, `setup:active`: we are the DTLS server).
    pub fn apply_answer(&mut self, answer_sdp: &str) -> Result<(), WaMediaError> {
        let pending = self.pending.take().ok_or(WaMediaError::NoPendingOffer)?;
        let text = if self.workarounds.normalise_candidates {
            normalise_candidates(answer_sdp)
        } else {
            answer_sdp.to_owned()
        };
        let answer =
            SdpAnswer::from_sdp_string(&text).map_err(|e| WaMediaError::SdpParse(e.to_string()))?;
        self.rtc
            .sdp_api()
            .accept_answer(pending, answer)
            .map_err(|e| WaMediaError::Negotiation(e.to_string()))?;
        self.dtls_client = answer_sdp.contains("a=setup:passive");
        self.opus = OpusParams::from_sdp(answer_sdp);
        let mid = self.mid.ok_or(WaMediaError::NoPendingOffer)?;
        self.set_media(mid)
    }

    fn build(now: Instant, cfg: WaLegConfig) -> Result<WaLeg, WaMediaError> {
        let w = cfg.workarounds;
        let mut rc = RtcConfig::new()
            .set_crypto_provider(super::dtls::crypto_provider())
            .clear_codecs()
            .set_stats_interval(Some(Duration::from_secs(1)));
        let min_p_time = if w.sdp_cleanup { 20 } else { 10 };
        let opus_fmtp = FormatParams {
            min_p_time: Some(min_p_time),
            use_inband_fec: Some(true),
            ..Default::default()
        };
        let cc = rc.codec_config();
        cc.add_config(
            111.into(),
            None,
            Codec::Opus,
            Frequency::FORTY_EIGHT_KHZ,
            Some(2),
            opus_fmtp,
        );
        let tele = FormatParams::default();
        cc.add_config(
            126.into(),
            None,
            Codec::Tele,
            Frequency::EIGHT_KHZ,
            None,
            tele,
        );
        if w.stun_tuning {
            rc.set_initial_stun_rto(Duration::from_millis(250));
            rc.set_max_stun_rto(Duration::from_millis(500));
            rc.set_max_stun_retransmits(cfg.max_stun_retransmits);
        }
        let mut rtc = rc.build(now);
        let bad = |e: String| WaMediaError::BadCandidate(cfg.local_addr, e);
        let cand = Candidate::host(cfg.local_addr, "udp").map_err(|e| bad(e.to_string()))?;
        if rtc.add_local_candidate(cand).is_none() {
            return Err(bad("refused by the ICE agent".into()));
        }
        Ok(WaLeg {
            rtc,
            local_addr: cfg.local_addr,
            workarounds: w,
            mid: None,
            pending: None,
            opus_pt: None,
            tele_pt: None,
            opus: OpusParams::default(),
            dtls_client: false,
            connected: false,
            ice_down: false,
            failed: false,
            last_now: now,
            dtls_cache: Vec::new(),
            known_ssrc: None,
            queue: VecDeque::new(),
            dtmf_tx: DtmfSender::default(),
            dtmf_rx: DtmfReceiver::default(),
            stats: WaStats::default(),
        })
    }

    /// Records the negotiated media section and its Opus / telephone-event/8000 PTs.
    fn set_media(&mut self, mid: Mid) -> Result<(), WaMediaError> {
        self.mid = Some(mid);
        let writer = self.rtc.writer(mid).ok_or(WaMediaError::NoOpus)?;
        for p in writer.payload_params() {
            let spec = p.spec();
            match spec.codec {
                Codec::Opus if self.opus_pt.is_none() => self.opus_pt = Some(p.pt()),
                Codec::Tele if spec.clock_rate == Frequency::EIGHT_KHZ => {
                    self.tele_pt = self.tele_pt.or(Some(p.pt()))
                }
                _ => {}
            }
        }
        self.opus_pt.map(|_| ()).ok_or(WaMediaError::NoOpus)
    }

    /// Feeds one datagram received on the leg's socket from `from`.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        self.last_now = now;
        self.stats.datagrams_in += 1;
        self.stats.bytes_in += bytes.len() as u64;
        if self.workarounds.learn_ssrc {
            self.learn_ssrc(bytes);
        }
        let Ok(recv) = Receive::new(Protocol::Udp, from, self.local_addr, bytes) else {
            tracing::debug!(%from, len = bytes.len(), "ignoring unparseable datagram");
            return;
        };
        let input = Input::Receive(now, recv);
        if !self.rtc.accepts(&input) {
            return;
        }
        if let Err(e) = self.rtc.handle_input(input) {
            self.fail(e.to_string());
        }
    }

    /// L4: str0m maps RTP to a stream only through the SDP's `a=ssrc` (Meta sends no mid header
    /// extension), so an SSRC Meta did not announce would be dropped silently.
    fn learn_ssrc(&mut self, bytes: &[u8]) {
        let (Some((ssrc, pt)), Some(mid)) = (rtp_ssrc_pt(bytes), self.mid) else {
            return;
        };
        if self.known_ssrc == Some(ssrc) || ![self.opus_pt, self.tele_pt].contains(&Some(pt.into()))
        {
            return;
        }
        let mut api = self.rtc.direct_api();
        if api.stream_rx(&ssrc.into()).is_none() {
            tracing::info!(ssrc, "learning WhatsApp SSRC not announced in the SDP");
            api.expect_stream_rx(ssrc.into(), None, mid, None);
        }
        self.known_ssrc = Some(ssrc);
    }

    /// Advances timers to `now` (call when the last `Timeout` instant is reached).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.last_now = now;
        if self.failed {
            return;
        }
        if let Err(e) = self.rtc.handle_input(Input::Timeout(now)) {
            self.fail(e.to_string());
        }
    }

    /// Next thing to do; call repeatedly until it returns [`WaOutput::Timeout`].
    pub fn poll_output(&mut self) -> WaOutput {
        loop {
            if let Some(out) = self.queue.pop_front() {
                return out;
            }
            if self.failed {
                return WaOutput::Timeout(self.last_now + IDLE);
            }
            match self.rtc.poll_output() {
                Ok(Output::Timeout(t)) => return WaOutput::Timeout(t),
                Ok(Output::Transmit(t)) => {
                    let bytes: Vec<u8> = t.contents.into();
                    self.on_transmit(t.destination, &bytes);
                    return WaOutput::Transmit {
                        to: t.destination,
                        bytes,
                    };
                }
                Ok(Output::Event(e)) => self.on_event(e),
                Err(e) => self.fail(e.to_string()),
            }
        }
    }

    fn on_transmit(&mut self, to: SocketAddr, bytes: &[u8]) {
        self.stats.datagrams_out += 1;
        self.stats.bytes_out += bytes.len() as u64;
        // L5: keep our latest DTLS client flight until the handshake is done.
        let caching = self.workarounds.dtls_kick && self.dtls_client && !self.connected;
        if let (true, Some(client_hello)) = (caching, dtls_handshake(bytes)) {
            if client_hello {
                self.dtls_cache.clear();
            }
            self.dtls_cache.push((to, bytes.to_vec()));
        }
    }

    fn on_event(&mut self, e: Event) {
        match e {
            Event::Connected => {
                self.connected = true;
                self.dtls_cache.clear();
                self.queue.push_back(WaOutput::Event(WaEvent::Connected));
            }
            Event::IceConnectionStateChange(s) => {
                let down = s == IceConnectionState::Disconnected;
                if down && !self.ice_down {
                    self.queue.push_back(WaOutput::Event(WaEvent::Disconnected));
                }
                self.ice_down = down;
            }
            Event::Closed => {
                self.ice_down = true;
                self.queue.push_back(WaOutput::Event(WaEvent::Disconnected));
            }
            Event::MediaData(d) => match (d.params.spec().codec, d.codec_extra) {
                (Codec::Opus, _) => {
                    self.stats.audio_frames_in += 1;
                    let rtp_ts_48k = d.time.rebase(Frequency::FORTY_EIGHT_KHZ).numer();
                    let payload = d.data;
                    let ev = WaEvent::Audio {
                        payload,
                        rtp_ts_48k,
                    };
                    self.queue.push_back(WaOutput::Event(ev));
                }
                (Codec::Tele, CodecExtra::Tele(t)) => {
                    self.stats.dtmf_packets_in += 1;
                    for ev in self.dtmf_rx.on_report(d.time.numer(), &t) {
                        self.queue.push_back(WaOutput::Event(ev));
                    }
                }
                _ => {}
            },
            Event::PeerStats(s) => self.stats.on_peer(&s),
            Event::MediaIngressStats(s) => self.stats.on_ingress(&s),
            Event::MediaEgressStats(s) => self.stats.on_egress(&s),
            _ => {}
        }
    }

    fn fail(&mut self, reason: String) {
        if !self.failed {
            tracing::warn!(%reason, "WhatsApp media leg failed");
            self.failed = true;
            self.queue
                .push_back(WaOutput::Event(WaEvent::Failed(reason)));
        }
    }

    /// The 20 ms audio tick: sends one Opus frame (48 kHz timestamp `rtp_ts_48k`), or instead
    /// the tick's RFC 4733 packet while a digit from [`WaLeg::start_dtmf`] is on the wire.
    /// Returns [`WaMediaError::NotConnected`] (frame dropped) before [`WaEvent::Connected`].
    /// The packet is ready in the next [`WaLeg::poll_output`] (no timeout to wait for).
    pub fn send_opus(
        &mut self,
        now: Instant,
        payload: &[u8],
        rtp_ts_48k: u64,
    ) -> Result<(), WaMediaError> {
        let sent = self.write_opus(now, payload, rtp_ts_48k);
        self.packetize(now, sent)
    }

    fn write_opus(
        &mut self,
        now: Instant,
        payload: &[u8],
        rtp_ts_48k: u64,
    ) -> Result<(), WaMediaError> {
        let (Some(mid), Some(opus_pt), true) = (self.mid, self.opus_pt, self.is_connected()) else {
            return Err(WaMediaError::NotConnected);
        };
        let send_err = |e: str0m::RtcError| WaMediaError::Send(e.to_string());
        let writer = self.rtc.writer(mid).ok_or(WaMediaError::NotConnected)?;
        let ts = MediaTime::new(rtp_ts_48k, Frequency::FORTY_EIGHT_KHZ);
        if !self.workarounds.manual_dtmf {
            // str0m's own sender: refuses telephone-event/8000 next to Opus/48000 (kept for L3).
            let Some((event, duration)) = self.dtmf_tx.take_queued() else {
                self.stats.audio_frames_out += 1;
                return writer
                    .write(opus_pt, now, ts, payload.to_vec())
                    .map_err(send_err);
            };
            self.stats.audio_frames_out += 1;
            let report = TelephoneEvent {
                event,
                end: false,
                volume: 10,
                duration,
            };
            let writer = writer.telephone_event(report);
            return writer
                .write(opus_pt, now, ts, payload.to_vec())
                .map_err(send_err);
        }
        if let Some(p) = self.dtmf_tx.tick(rtp_ts_48k) {
            let tele_pt = self.tele_pt.ok_or(WaMediaError::NoTelephoneEvent)?;
            let bytes = p.report.to_bytes(Frequency::EIGHT_KHZ);
            let bytes = bytes.ok_or_else(|| WaMediaError::Send("DTMF too long".into()))?;
            // The 48 kHz value labelled 8 kHz: str0m's rebase to the PT clock is then a no-op.
            let ts = MediaTime::new(p.rtp_ts, Frequency::EIGHT_KHZ);
            self.stats.dtmf_packets_out += 1;
            let writer = writer.start_of_talkspurt(p.first);
            return writer
                .write(tele_pt, now, ts, bytes.to_vec())
                .map_err(send_err);
        }
        self.stats.audio_frames_out += 1;
        writer
            .write(opus_pt, now, ts, payload.to_vec())
            .map_err(send_err)
    }

    /// Sends one ready-made RFC 4733 payload (the media bridge's relay of a PBX digit) on the
    /// telephone-event/8000 PT, in place of this tick's audio frame. `event_ts_48k` is the
    /// event's start on the 48 kHz audio timeline, written labelled as 8 kHz (L3) so the digit
    /// shares the audio SSRC, sequence and timestamp base; `first` sets the marker bit.
    pub fn send_telephone_event(
        &mut self,
        now: Instant,
        payload: &[u8],
        event_ts_48k: u64,
        first: bool,
    ) -> Result<(), WaMediaError> {
        let (Some(mid), true) = (self.mid, self.is_connected()) else {
            return Err(WaMediaError::NotConnected);
        };
        let tele_pt = self.tele_pt.ok_or(WaMediaError::NoTelephoneEvent)?;
        let writer = self.rtc.writer(mid).ok_or(WaMediaError::NotConnected)?;
        let ts = MediaTime::new(event_ts_48k, Frequency::EIGHT_KHZ);
        self.stats.dtmf_packets_out += 1;
        let sent = writer
            .start_of_talkspurt(first)
            .write(tele_pt, now, ts, payload.to_vec())
            .map_err(|e| WaMediaError::Send(e.to_string()));
        self.packetize(now, sent)
    }

    /// str0m packetizes written media on its next timeout: run it now, so the packet leaves in
    /// the caller's drain instead of costing the call task another wake-up (and up to a timer
    /// tick of delay).
    fn packetize(
        &mut self,
        now: Instant,
        sent: Result<(), WaMediaError>,
    ) -> Result<(), WaMediaError> {
        if sent.is_ok() {
            self.handle_timeout(now);
        }
        sent
    }

    /// Queues a DTMF digit (`0-9*#A-D`) of `duration` (clamped to 20 ms..5 s); it goes out on
    /// the next audio ticks (see the module docs).
    pub fn start_dtmf(&mut self, digit: char, duration: Duration) -> Result<(), WaMediaError> {
        let event = digit_to_event(digit).ok_or(WaMediaError::InvalidDigit(digit))?;
        if self.tele_pt.is_none() && self.mid.is_some() && self.pending.is_none() {
            return Err(WaMediaError::NoTelephoneEvent);
        }
        self.dtmf_tx.push(event, duration);
        Ok(())
    }

    /// L5: call when `pre_accept` returned HTTP 200 (Meta now knows our fingerprint) and the
    /// leg is not connected: re-sends our cached DTLS handshake flight at once instead of
    /// waiting for the 1 s, 2 s, 4 s... retransmit backoff.
    pub fn kick_dtls(&mut self) {
        if !self.workarounds.dtls_kick || self.connected {
            return;
        }
        for (to, bytes) in &self.dtls_cache {
            tracing::debug!(%to, len = bytes.len(), "re-sending DTLS handshake flight");
            let out = WaOutput::Transmit {
                to: *to,
                bytes: bytes.clone(),
            };
            self.queue.push_back(out);
        }
        self.stats.datagrams_out += self.dtls_cache.len() as u64;
        let bytes: usize = self.dtls_cache.iter().map(|(_, b)| b.len()).sum();
        self.stats.bytes_out += bytes as u64;
    }

    /// Whether a DTMF digit is on the wire or queued (its ticks carry no audio).
    pub fn is_sending_dtmf(&self) -> bool {
        self.dtmf_tx.is_busy()
    }

    /// ICE, DTLS and SRTP are up and ICE has not lost Meta.
    pub fn is_connected(&self) -> bool {
        self.connected && !self.ice_down && !self.failed
    }

    /// The negotiated Opus payload type (111 with Meta), once negotiated.
    pub fn opus_pt(&self) -> Option<u8> {
        self.opus_pt.map(|p| *p)
    }

    /// The negotiated telephone-event/8000 payload type (126 with Meta), if any.
    pub fn telephone_event_pt(&self) -> Option<u8> {
        self.tele_pt.map(|p| *p)
    }

    /// Meta's Opus parameters, from the raw offer (UIC) or answer (BIC).
    pub fn opus_params(&self) -> OpusParams {
        self.opus
    }

    /// Counters so far.
    pub fn stats(&self) -> WaStats {
        self.stats.clone()
    }
}
