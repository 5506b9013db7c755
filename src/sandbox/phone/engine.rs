//! The phone's media task: owns the str0m `Rtc` (ICE-lite) and its UDP socket, feeds it datagrams
//! and timeouts, learns unannounced SSRCs (str0m-meta.md L4), and every 20 ms, once media has been
//! received, sends one Opus frame or one RFC 4733 packet (L3). Received Opus is decoded to 48 kHz
//! mono PCM and kept (bounded) for the report and WAV recording.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::{Codec, CodecExtra, FormatParams};
use str0m::media::{Direction, Frequency, MediaKind, MediaTime, Mid, Pt, TelephoneEvent};
use str0m::net::{Protocol, Receive};
use str0m::rtp::Ssrc;
use str0m::{Candidate, Event, Input, Output, Rtc, RtcConfig};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

use super::audio::{self, FRAME_SAMPLES, SAMPLE_RATE, Source, WavError};
use super::dtmf::{DtmfReceiver, DtmfSender, char_of};
use super::shape::{self, META_TRACK};
use super::{MediaReport, PhoneError};

/// One audio frame.
const FRAME: Duration = Duration::from_millis(20);
/// At most this much received audio is kept (5 minutes at 48 kHz mono).
const MAX_RECORDING: usize = 5 * 60 * SAMPLE_RATE as usize;
/// How much of the end of the recording the report analyses.
const REPORT_WINDOW: usize = SAMPLE_RATE as usize;
/// Longest wait between two looks at the `Rtc`.
const MAX_WAIT: Duration = Duration::from_millis(500);

/// What the handle asks of the task.
pub(super) enum Command {
    /// The business's answer (parsed) and its text.
    ApplyAnswer(Box<SdpAnswer>, String),
    /// Switch the audio source.
    Play(Source),
    /// Queue DTMF digits (already validated).
    Dtmf(String),
    /// The user picks up a ringing (business-initiated) call: media may start.
    PickUp,
    /// Stop media and close the session.
    HangUp,
    /// Send back the report.
    Report(oneshot::Sender<MediaReport>),
    /// Write the recording as WAV.
    WriteRecording(PathBuf, oneshot::Sender<Result<(), WavError>>),
}

/// The task's state.
pub(super) struct Engine {
    rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    mid: Mid,
    pending: Option<SdpPendingOffer>,
    source: Source,
    encoder: Option<opus::Encoder>,
    remote_stereo: bool,
    remote_bitrate: Option<u32>,
    decoder: opus::Decoder,
    audio_ts48: u64,
    dtmf_tx: DtmfSender,
    dtmf_rx: DtmfReceiver,
    digits_sent: String,
    recording: Vec<i16>,
    created: Instant,
    report: MediaReport,
    /// A business-initiated call not picked up yet: the phone ignores every datagram (no STUN
    /// answers, so ICE, DTLS and media wait for the pick-up).
    ringing: bool,
}

fn rtc_err(e: impl std::fmt::Display) -> PhoneError {
    PhoneError::Rtc(e.to_string())
}

/// An ICE-lite `Rtc` configuration with Meta's codec set (also the load generator's phones).
pub(crate) fn meta_rtc_config() -> RtcConfig {
    with_meta_codecs(RtcConfig::new().set_ice_lite(true).clear_extension_map())
}

/// `cfg` with only Meta's codec set: Opus 111 (minptime 20, FEC) and telephone-event/8000 on 126.
pub fn with_meta_codecs(cfg: RtcConfig) -> RtcConfig {
    let mut cfg = cfg.clear_codecs();
    cfg.codec_config().add_config(
        111.into(),
        None,
        Codec::Opus,
        Frequency::FORTY_EIGHT_KHZ,
        Some(2),
        FormatParams {
            min_p_time: Some(20),
            use_inband_fec: Some(true),
            ..Default::default()
        },
    );
    cfg.codec_config().add_config(
        126.into(),
        None,
        Codec::Tele,
        Frequency::EIGHT_KHZ,
        None,
        FormatParams::default(),
    );
    cfg
}

/// A UDP socket on `ip` (any port) and an `Rtc` with Meta's codecs whose one host candidate is
/// that socket's address.
fn bind_rtc(ip: IpAddr) -> Result<(Rtc, UdpSocket, SocketAddr), PhoneError> {
    let io = |source| PhoneError::Socket { ip, source };
    let std_socket = std::net::UdpSocket::bind(SocketAddr::new(ip, 0)).map_err(io)?;
    std_socket.set_nonblocking(true).map_err(io)?;
    let socket = UdpSocket::from_std(std_socket).map_err(io)?;
    let local = socket.local_addr().map_err(io)?;
    let mut rtc = meta_rtc_config().build(Instant::now());
    rtc.add_local_candidate(Candidate::host(local, "udp").map_err(rtc_err)?);
    Ok((rtc, socket, local))
}

fn random_stream_id() -> String {
    let b: [u8; 16] = rand::random();
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

impl Engine {
    fn new(rtc: Rtc, socket: UdpSocket, local: SocketAddr, mid: Mid, source: Source) -> Self {
        Engine {
            rtc,
            socket,
            local,
            mid,
            pending: None,
            source,
            encoder: None,
            remote_stereo: false,
            remote_bitrate: None,
            decoder: opus::Decoder::new(SAMPLE_RATE, opus::Channels::Mono)
                .expect("libopus accepts 48 kHz mono"),
            audio_ts48: u64::from(rand::random::<u16>()),
            dtmf_tx: DtmfSender::default(),
            dtmf_rx: DtmfReceiver::default(),
            digits_sent: String::new(),
            recording: Vec::new(),
            created: Instant::now(),
            report: MediaReport::default(),
            ringing: false,
        }
    }

    /// The offering phone (user-initiated call) and its Meta-shaped offer.
    pub(super) fn offerer(ip: IpAddr, source: Source) -> Result<(Engine, String), PhoneError> {
        let (mut rtc, socket, local) = bind_rtc(ip)?;
        let mut api = rtc.sdp_api();
        let mid = api.add_media(
            MediaKind::Audio,
            Direction::SendRecv,
            Some(random_stream_id()),
            Some(META_TRACK.into()),
            None,
        );
        let (offer, pending) = api
            .apply()
            .ok_or_else(|| PhoneError::Rtc("str0m produced no offer".into()))?;
        let sdp = shape::meta_offer(&offer.to_sdp_string(), local);
        let mut engine = Engine::new(rtc, socket, local, mid, source);
        engine.pending = Some(pending);
        Ok((engine, sdp))
    }

    /// The answering phone (business-initiated call) and its Meta-shaped answer: DTLS client
    /// (`setup:active`) and ICE-controlled, as str0m-meta.md §1 row 4 describes.
    pub(super) fn answerer(
        ip: IpAddr,
        source: Source,
        offer: SdpOffer,
        offer_text: &str,
    ) -> Result<(Engine, String), PhoneError> {
        let (mut rtc, socket, local) = bind_rtc(ip)?;
        rtc.direct_api().start_dtls(true).map_err(rtc_err)?;
        let answer = rtc.sdp_api().accept_offer(offer).map_err(rtc_err)?;
        rtc.direct_api().set_ice_controlling(false);
        let mid = Mid::from(shape::value_of(offer_text, "a=mid:").unwrap_or("0"));
        let sdp = shape::meta_answer(&answer.to_sdp_string(), local);
        let mut engine = Engine::new(rtc, socket, local, mid, source);
        engine.learn_remote_params(offer_text);
        engine.ringing = true;
        Ok((engine, sdp))
    }

    pub(super) fn local_addr(&self) -> SocketAddr {
        self.local
    }

    fn since_created(&self) -> u64 {
        self.created.elapsed().as_millis() as u64
    }

    /// Opus `stereo` and `maxaveragebitrate` the business asked for (str0m drops them).
    fn learn_remote_params(&mut self, remote: &str) {
        if let Some(pt) = shape::pt_of(remote, "opus/48000/2") {
            self.remote_stereo = shape::fmtp_param(remote, pt, "stereo") == Some(1);
            self.remote_bitrate = shape::fmtp_param(remote, pt, "maxaveragebitrate");
        }
    }

    /// Runs until every handle is dropped.
    pub(super) async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let mut buf = vec![0u8; 2048];
        let mut tick = tokio::time::interval(FRAME);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        if let Err(e) = self.rtc.handle_input(Input::Timeout(Instant::now())) {
            self.fail(e);
        }
        loop {
            let deadline = self.drain();
            let wait = deadline
                .saturating_duration_since(Instant::now())
                .min(MAX_WAIT);
            tokio::select! {
                r = self.socket.recv_from(&mut buf) => match r {
                    Ok((n, from)) => self.on_datagram(n, &buf, from),
                    Err(e) => self.report.error = Some(format!("socket receive: {e}")),
                },
                cmd = commands.recv() => match cmd {
                    Some(cmd) => self.on_command(cmd),
                    None => break,
                },
                _ = tokio::time::sleep(wait) => self.on_timeout(),
                _ = tick.tick() => self.on_tick(),
            }
        }
        self.rtc.disconnect();
    }

    fn fail(&mut self, e: impl std::fmt::Display) {
        tracing::warn!(error = %e, "sandbox phone: media error");
        self.report.error = Some(e.to_string());
    }

    fn on_timeout(&mut self) {
        if self.rtc.is_alive()
            && let Err(e) = self.rtc.handle_input(Input::Timeout(Instant::now()))
        {
            self.fail(e);
        }
    }

    /// Polls the `Rtc` until it wants a timeout: sends its datagrams, handles its events.
    fn drain(&mut self) -> Instant {
        loop {
            if !self.rtc.is_alive() {
                return Instant::now() + MAX_WAIT;
            }
            match self.rtc.poll_output() {
                Ok(Output::Timeout(t)) => return t,
                Ok(Output::Transmit(t)) => {
                    if let Err(e) = self.socket.try_send_to(&t.contents, t.destination) {
                        tracing::debug!(error = %e, "sandbox phone: send failed");
                    }
                }
                Ok(Output::Event(e)) => self.on_event(e),
                Err(e) => {
                    self.fail(e);
                    self.rtc.disconnect();
                }
            }
        }
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::Connected => {
                self.report.connected = true;
                self.report.connected_ms = Some(self.since_created());
            }
            Event::MediaData(d) => {
                self.report.packets_in += 1;
                if self.report.first_media_in_ms.is_none() {
                    self.report.first_media_in_ms = Some(self.since_created());
                }
                match (d.params.spec().codec, d.codec_extra) {
                    (Codec::Opus, _) => {
                        let mut pcm = [0i16; 5760];
                        match self.decoder.decode(&d.data, &mut pcm, false) {
                            Ok(n) => {
                                let room = MAX_RECORDING.saturating_sub(self.recording.len());
                                self.recording.extend_from_slice(&pcm[..n.min(room)]);
                            }
                            Err(e) => tracing::debug!(error = %e, "sandbox phone: opus decode"),
                        }
                    }
                    (Codec::Tele, CodecExtra::Tele(t)) => {
                        if let Some(c) = self.dtmf_rx.on_packet(d.time.numer(), t.event) {
                            tracing::info!(digit = %c, "sandbox phone: DTMF received");
                        }
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }

    fn on_datagram(&mut self, n: usize, buf: &[u8], from: SocketAddr) {
        if !self.rtc.is_alive() || self.ringing {
            return;
        }
        let data = &buf[..n];
        self.learn_ssrc(data);
        let Ok(receive) = Receive::new(Protocol::Udp, from, self.local, data) else {
            return;
        };
        if let Err(e) = self
            .rtc
            .handle_input(Input::Receive(Instant::now(), receive))
        {
            self.fail(e);
        }
    }

    /// str0m drops RTP from SSRCs the SDP did not announce: expect any new SSRC on our one
    /// m-line (str0m-meta.md L4).
    fn learn_ssrc(&mut self, data: &[u8]) {
        let is_rtp = data.len() >= 12 && data[0] >> 6 == 2 && !(192..=223).contains(&data[1]);
        if !is_rtp || self.rtc.media(self.mid).is_none() {
            return;
        }
        let ssrc = Ssrc::from(u32::from_be_bytes([data[8], data[9], data[10], data[11]]));
        let mut api = self.rtc.direct_api();
        if api.stream_rx(&ssrc).is_none() {
            api.expect_stream_rx(ssrc, None, self.mid, None);
        }
    }

    fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::ApplyAnswer(answer, text) => {
                if let Some(pending) = self.pending.take() {
                    self.learn_remote_params(&text);
                    if let Err(e) = self.rtc.sdp_api().accept_answer(pending, *answer) {
                        self.fail(e);
                    }
                }
            }
            Command::Play(source) => self.source = source,
            Command::PickUp => self.ringing = false,
            Command::Dtmf(digits) => {
                // Validated by the handle.
                let _ = self.dtmf_tx.push(&digits);
            }
            Command::HangUp => {
                self.report.hung_up = true;
                self.rtc.disconnect();
            }
            Command::Report(tx) => {
                let _ = tx.send(self.make_report());
            }
            Command::WriteRecording(path, tx) => {
                let _ = tx.send(audio::write_wav_mono(&path, &self.recording, SAMPLE_RATE));
            }
        }
    }

    fn make_report(&self) -> MediaReport {
        let tail = &self.recording[self.recording.len().saturating_sub(REPORT_WINDOW)..];
        MediaReport {
            dominant_hz: audio::dominant_frequency(tail, SAMPLE_RATE),
            rms: audio::rms(tail),
            recorded_ms: self.recording.len() as u64 * 1000 / u64::from(SAMPLE_RATE),
            digits_received: self.dtmf_rx.digits().to_string(),
            digits_sent: self.digits_sent.clone(),
            ..self.report.clone()
        }
    }

    /// Every 20 ms: like Meta, nothing until media has been received; then one DTMF packet or
    /// one Opus frame.
    fn on_tick(&mut self) {
        if !self.report.connected || self.report.hung_up || self.report.packets_in == 0 {
            return;
        }
        let now = Instant::now();
        let ts = self.audio_ts48;
        self.audio_ts48 += FRAME_SAMPLES as u64;
        let sent = match self.dtmf_tx.tick(ts) {
            Some(p) => self.send_dtmf_packet(now, p),
            None => self.send_audio(now, ts),
        };
        match sent {
            Ok(true) => {
                self.report.packets_out += 1;
                if self.report.first_media_out_ms.is_none() {
                    self.report.first_media_out_ms = Some(self.since_created());
                }
            }
            Ok(false) => {}
            Err(e) => self.fail(e),
        }
    }

    fn pt_for(&mut self, codec: Codec, clock: u32) -> Option<Pt> {
        let writer = self.rtc.writer(self.mid)?;
        writer
            .payload_params()
            .find(|p| p.spec().codec == codec && p.spec().clock_rate.get() == clock)
            .map(|p| p.pt())
    }

    fn send_dtmf_packet(
        &mut self,
        now: Instant,
        p: super::dtmf::DtmfPacket,
    ) -> Result<bool, PhoneError> {
        // Meta's telephone-event runs at 8000 Hz beside Opus/48000: str0m's built-in sender
        // refuses that pairing, so the packet is written by hand (str0m-meta.md L3), with the
        // 48 kHz audio timestamp labelled as 8 kHz so it shares the audio timestamp base.
        let Some(pt) = self.pt_for(Codec::Tele, 8000) else {
            return Ok(false);
        };
        let event = TelephoneEvent {
            event: p.event,
            end: p.end,
            volume: 10,
            duration: p.duration,
        };
        let bytes = event
            .to_bytes(Frequency::EIGHT_KHZ)
            .ok_or_else(|| PhoneError::Rtc("DTMF duration overflow".into()))?;
        let writer = self
            .rtc
            .writer(self.mid)
            .ok_or_else(|| PhoneError::Rtc("no media to write DTMF to".into()))?;
        writer
            .start_of_talkspurt(p.first)
            .write(
                pt,
                now,
                MediaTime::new(p.rtp_ts48, Frequency::EIGHT_KHZ),
                bytes.to_vec(),
            )
            .map_err(rtc_err)?;
        if p.first
            && let Some(c) = char_of(p.event)
        {
            self.digits_sent.push(c);
        }
        Ok(true)
    }

    fn send_audio(&mut self, now: Instant, ts: u64) -> Result<bool, PhoneError> {
        let Some(pt) = self.pt_for(Codec::Opus, SAMPLE_RATE) else {
            return Ok(false);
        };
        if self.encoder.is_none() {
            self.encoder = Some(self.new_encoder()?);
        }
        let frame = self.source.next_frame();
        let pcm: Vec<i16> = if self.remote_stereo {
            frame.iter().flat_map(|&s| [s, s]).collect()
        } else {
            frame.to_vec()
        };
        let mut out = [0u8; 1500];
        let encoder = self.encoder.as_mut().expect("created above");
        let len = encoder
            .encode(&pcm, &mut out)
            .map_err(|e| PhoneError::Rtc(format!("opus encode: {e}")))?;
        let writer = self
            .rtc
            .writer(self.mid)
            .ok_or_else(|| PhoneError::Rtc("no media to write audio to".into()))?;
        writer
            .write(
                pt,
                now,
                MediaTime::new(ts, Frequency::FORTY_EIGHT_KHZ),
                out[..len].to_vec(),
            )
            .map_err(rtc_err)?;
        Ok(true)
    }

    fn new_encoder(&self) -> Result<opus::Encoder, PhoneError> {
        let channels = if self.remote_stereo {
            opus::Channels::Stereo
        } else {
            opus::Channels::Mono
        };
        let op = |e: opus::Error| PhoneError::Rtc(format!("opus encoder: {e}"));
        let mut enc =
            opus::Encoder::new(SAMPLE_RATE, channels, opus::Application::Voip).map_err(op)?;
        let bitrate = self.remote_bitrate.unwrap_or(32_000).clamp(6_000, 64_000);
        enc.set_bitrate(opus::Bitrate::Bits(bitrate as i32))
            .map_err(op)?;
        enc.set_inband_fec(true).map_err(op)?;
        Ok(enc)
    }
}
