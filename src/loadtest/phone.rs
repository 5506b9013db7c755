//! [`LoadPhone`]: one simulated WhatsApp user for load runs and benchmarks, sans-IO. Like the
//! sandbox's phone it is a str0m `Rtc` in ICE-lite mode that offers in Meta's exact SDP shape and,
//! like Meta, sends audio only once media has come from the business; unlike it, it is cheap
//! enough to run hundreds in one process: it plays a tone encoded once for all phones
//! ([`ToneFrames`]), decodes nothing while the call runs (it keeps the last frames it heard for a
//! tone check at the end) and shares its worker's socket and clock (see [`super::phones`]).
//!
//! Run-loop contract (as str0m's): feed datagrams ([`LoadPhone::handle_datagram`]) and due
//! timeouts ([`LoadPhone::handle_timeout`]), call [`LoadPhone::send_frame`] every 20 ms, and
//! after each of these drain [`LoadPhone::poll`] (it hands every datagram to send to a closure
//! and returns when the phone next needs [`LoadPhone::handle_timeout`]).

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::config::DtlsCert;
use str0m::format::Codec;
use str0m::media::{Direction, Frequency, MediaKind, MediaTime, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::rtp::Ssrc;
use str0m::{Candidate, Event, Input, Output, Rtc};

use super::probe::CallProbe;
use crate::media::codec::OPUS_SILENCE_FRAME;
use crate::sandbox::phone::audio::{FRAME_SAMPLES, SAMPLE_RATE, Source, goertzel_power, rms};
use crate::sandbox::phone::meta_rtc_config;
use crate::sandbox::phone::shape::{self, META_TRACK};

/// Received frames kept for the tone check at the end of the call (500 ms).
const KEPT_FRAMES: usize = 25;

/// A tone encoded once, the way WhatsApp clients send it (Opus, 48 kHz mono, 20 kbit/s, up to
/// 16 kHz audio bandwidth as Meta's offer asks), looped: 440 Hz makes a whole number of cycles
/// in one second, so the 50 frames of the second encoded second repeat seamlessly.
#[derive(Debug)]
pub struct ToneFrames {
    /// The tone's frequency.
    pub hz: f64,
    frames: Vec<Vec<u8>>,
    index: HashMap<Vec<u8>, usize>,
}

impl ToneFrames {
    /// Encodes one second of `hz` (pick a frequency with a whole number of cycles per second).
    pub fn encode(hz: f64) -> Result<ToneFrames, opus::Error> {
        let mut enc =
            opus::Encoder::new(SAMPLE_RATE, opus::Channels::Mono, opus::Application::Voip)?;
        enc.set_bitrate(opus::Bitrate::Bits(20_000))?;
        enc.set_max_bandwidth(opus::Bandwidth::Wideband)?;
        enc.set_inband_fec(true)?;
        let mut src = Source::tone(hz);
        let mut out = [0u8; 1500];
        let mut frames = Vec::new();
        for i in 0..100 {
            let n = enc.encode(&src.next_frame(), &mut out)?;
            if i >= 50 {
                frames.push(out[..n].to_vec());
            }
        }
        let index = frames
            .iter()
            .enumerate()
            .map(|(i, f)| (f.clone(), i))
            .collect();
        Ok(ToneFrames { hz, frames, index })
    }

    /// Frames in the loop.
    pub fn loop_len(&self) -> usize {
        self.frames.len()
    }

    /// Frame `i` of the loop.
    pub fn frame(&self, i: usize) -> &[u8] {
        &self.frames[i % self.frames.len()]
    }

    /// Which frame of the loop `payload` is (frames are distinct, see the tests).
    pub fn index_of(&self, payload: &[u8]) -> Option<usize> {
        self.index.get(payload).copied()
    }
}

/// What the phone saw of its call.
#[derive(Debug, Clone, Default)]
pub struct PhoneReport {
    /// ICE and DTLS came up.
    pub connected: bool,
    /// Audio frames sent.
    pub frames_out: u64,
    /// Frames received that were not callgate's comfort silence.
    pub audio_in: u64,
    /// Comfort-silence frames received.
    pub silence_in: u64,
    /// Share of the energy of the last frames heard (decoded at report time) that is at the
    /// tone's frequency (0..1; a clean tone is close to 1).
    pub tone_share: f64,
    /// The last str0m error, if any.
    pub error: Option<String>,
}

/// One simulated WhatsApp user (see the module docs).
pub struct LoadPhone {
    rtc: Rtc,
    mid: Mid,
    pending: Option<SdpPendingOffer>,
    local: SocketAddr,
    tone: Arc<ToneFrames>,
    next_frame: usize,
    ts48: u64,
    opus_pt: Option<Pt>,
    connected: bool,
    heard_any: bool,
    hung_up: bool,
    probe: Option<CallProbe>,
    kept: VecDeque<Vec<u8>>,
    report: PhoneReport,
}

impl LoadPhone {
    /// A calling phone on `local` (the address its socket is bound to) and its Meta-shaped offer.
    /// `cert`: a DTLS certificate shared by many phones (generating one per phone costs more
    /// than the rest of the set-up); `probe`: where send and receive times go.
    pub fn offer(
        now: Instant,
        local: SocketAddr,
        tone: Arc<ToneFrames>,
        cert: Option<DtlsCert>,
        probe: Option<CallProbe>,
    ) -> Result<(LoadPhone, String), String> {
        let mut cfg =
            meta_rtc_config().set_crypto_provider(crate::whatsapp_media::crypto_provider());
        if let Some(cert) = cert {
            cfg = cfg.set_dtls_cert(cert);
        }
        let mut rtc = cfg.build(now);
        let cand = Candidate::host(local, "udp").map_err(|e| e.to_string())?;
        rtc.add_local_candidate(cand);
        let stream_id = format!("{:032x}", rand::random::<u128>());
        let mut api = rtc.sdp_api();
        let mid = api.add_media(
            MediaKind::Audio,
            Direction::SendRecv,
            Some(stream_id),
            Some(META_TRACK.into()),
            None,
        );
        let (offer, pending) = api.apply().ok_or("str0m produced no offer")?;
        let sdp = shape::meta_offer(&offer.to_sdp_string(), local);
        let phone = LoadPhone {
            rtc,
            mid,
            pending: Some(pending),
            local,
            tone,
            next_frame: 0,
            ts48: u64::from(rand::random::<u16>()),
            opus_pt: None,
            connected: false,
            heard_any: false,
            hung_up: false,
            probe,
            kept: VecDeque::with_capacity(KEPT_FRAMES),
            report: PhoneReport::default(),
        };
        Ok((phone, sdp))
    }

    /// Applies the business's answer (from `pre_accept`); a second answer is ignored.
    pub fn apply_answer(&mut self, sdp: &str) -> Result<(), String> {
        let Some(pending) = self.pending.take() else {
            return Ok(());
        };
        let answer = SdpAnswer::from_sdp_string(&shape::normalise_candidates(sdp))
            .map_err(|e| format!("answer SDP: {e}"))?;
        self.rtc
            .sdp_api()
            .accept_answer(pending, answer)
            .map_err(|e| format!("answer refused: {e}"))
    }

    /// Whether `from`'s datagram belongs to this phone (many phones share one socket).
    pub fn accepts(&self, now: Instant, from: SocketAddr, bytes: &[u8]) -> bool {
        match Receive::new(Protocol::Udp, from, self.local, bytes) {
            Ok(r) => self.rtc.accepts(&Input::Receive(now, r)),
            Err(_) => false,
        }
    }

    /// Feeds one datagram received from `from` at `now`.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        if self.hung_up {
            return;
        }
        self.learn_ssrc(bytes);
        let Ok(r) = Receive::new(Protocol::Udp, from, self.local, bytes) else {
            return;
        };
        if let Err(e) = self.rtc.handle_input(Input::Receive(now, r)) {
            self.report.error = Some(e.to_string());
        }
    }

    /// Advances str0m's timers to `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.hung_up || !self.rtc.is_alive() {
            return;
        }
        if let Err(e) = self.rtc.handle_input(Input::Timeout(now)) {
            self.report.error = Some(e.to_string());
        }
    }

    /// Sends the next tone frame if media has come from the business (as Meta does).
    /// Returns whether a frame was written.
    pub fn send_frame(&mut self, now: Instant) -> bool {
        if !self.connected || !self.heard_any || self.hung_up {
            return false;
        }
        let Some(pt) = self.opus_pt.or_else(|| self.find_opus_pt()) else {
            return false;
        };
        self.opus_pt = Some(pt);
        let ts = MediaTime::new(self.ts48, Frequency::FORTY_EIGHT_KHZ);
        self.ts48 += FRAME_SAMPLES as u64;
        let n = self.next_frame;
        let frame = self.tone.frame(n).to_vec();
        self.next_frame += 1;
        let Some(writer) = self.rtc.writer(self.mid) else {
            return false;
        };
        if let Err(e) = writer.write(pt, now, ts, frame) {
            self.report.error = Some(e.to_string());
            return false;
        }
        // str0m packetizes written media on its next timeout: do it now, so the frame leaves
        // in this drain rather than on the next wake-up.
        self.handle_timeout(now);
        self.report.frames_out += 1;
        if let Some(p) = &self.probe {
            p.phone_sent(n as u64, n % self.tone.loop_len(), now);
        }
        true
    }

    /// Drains str0m: every datagram to send goes to `transmit`; returns when the phone next
    /// needs [`LoadPhone::handle_timeout`].
    pub fn poll(&mut self, mut transmit: impl FnMut(SocketAddr, &[u8])) -> Instant {
        loop {
            if self.hung_up || !self.rtc.is_alive() {
                return Instant::now() + Duration::from_secs(3600);
            }
            match self.rtc.poll_output() {
                Ok(Output::Timeout(t)) => return t,
                Ok(Output::Transmit(t)) => transmit(t.destination, &t.contents),
                Ok(Output::Event(e)) => self.on_event(e),
                Err(e) => {
                    self.report.error = Some(e.to_string());
                    self.rtc.disconnect();
                }
            }
        }
    }

    /// Hangs up: media stops, the session closes.
    pub fn hang_up(&mut self) {
        self.hung_up = true;
        self.rtc.disconnect();
    }

    /// What the phone saw; decodes the last frames it heard for the tone check.
    pub fn report(&self) -> PhoneReport {
        let mut r = self.report.clone();
        r.connected = self.connected;
        r.tone_share =
            decode_all(&self.kept).map_or(0.0, |pcm| tone_share(&pcm, SAMPLE_RATE, self.tone.hz));
        r
    }

    fn find_opus_pt(&mut self) -> Option<Pt> {
        let writer = self.rtc.writer(self.mid)?;
        writer
            .payload_params()
            .find(|p| p.spec().codec == Codec::Opus)
            .map(|p| p.pt())
    }

    fn on_event(&mut self, e: Event) {
        match e {
            Event::Connected => self.connected = true,
            Event::MediaData(d) => {
                if d.params.spec().codec != Codec::Opus {
                    return;
                }
                self.heard_any = true;
                let silence = d.data[..] == OPUS_SILENCE_FRAME;
                if silence {
                    self.report.silence_in += 1;
                } else {
                    self.report.audio_in += 1;
                    let mut v = match self.kept.len() {
                        KEPT_FRAMES => self.kept.pop_front().unwrap_or_default(),
                        _ => Vec::new(),
                    };
                    v.clear();
                    v.extend_from_slice(&d.data);
                    self.kept.push_back(v);
                }
                if let Some(p) = &self.probe {
                    p.phone_received(&d.data, **d.seq_range.end(), d.network_time);
                }
            }
            _ => {}
        }
    }

    /// str0m drops RTP from SSRCs the SDP did not announce (str0m-meta.md L4): expect any new
    /// SSRC on the phone's one m-line.
    fn learn_ssrc(&mut self, data: &[u8]) {
        let is_rtp = data.len() >= 12 && data[0] >> 6 == 2 && !(192..=223).contains(&data[1]);
        if !is_rtp || self.pending.is_some() {
            return;
        }
        let ssrc = Ssrc::from(u32::from_be_bytes([data[8], data[9], data[10], data[11]]));
        let mut api = self.rtc.direct_api();
        if api.stream_rx(&ssrc).is_none() {
            api.expect_stream_rx(ssrc, None, self.mid, None);
        }
    }
}

/// `frames` decoded in order at 48 kHz, without the first 100 ms (a fresh decoder settles).
fn decode_all(frames: &VecDeque<Vec<u8>>) -> Option<Vec<i16>> {
    let mut dec = opus::Decoder::new(SAMPLE_RATE, opus::Channels::Mono).ok()?;
    let mut pcm = Vec::new();
    let mut buf = [0i16; 5760];
    for f in frames {
        let n = dec.decode(f, &mut buf, false).ok()?;
        pcm.extend_from_slice(&buf[..n]);
    }
    let skip = (SAMPLE_RATE as usize / 10).min(pcm.len());
    Some(pcm.split_off(skip))
}

/// The share of the energy of `pcm` that is at `hz` (0..1): a pure tone at `hz` gives 1,
/// anything else (silence, noise, another tone) close to 0.
pub fn tone_share(pcm: &[i16], rate: u32, hz: f64) -> f64 {
    let energy = rms(pcm).powi(2);
    if energy < 1e-6 {
        return 0.0;
    }
    // Goertzel power is (A/2)^2 for a sine of amplitude A, whose mean square is A^2/2.
    (2.0 * goertzel_power(pcm, rate, hz) / energy).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tone_loop_has_distinct_frames_so_they_identify_themselves() {
        let t = ToneFrames::encode(440.0).unwrap();
        assert_eq!(t.loop_len(), 50);
        for i in 0..t.loop_len() {
            assert_eq!(t.index_of(t.frame(i)), Some(i));
        }
        assert_eq!(t.index_of(&OPUS_SILENCE_FRAME), None);
    }
}
