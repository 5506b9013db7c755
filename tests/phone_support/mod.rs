//! Test helpers for the sandbox phone: a minimal business media endpoint on str0m (full ICE,
//! controlling, `setup:active` when answering, SSRC learning, Opus tone, manual RFC 4733 DTMF,
//! recording).

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use callgate::sandbox::phone::audio::{self, FRAME_SAMPLES, SAMPLE_RATE, Source};
use callgate::sandbox::phone::dtmf::{DtmfReceiver, DtmfSender};
use callgate::sandbox::phone::shape;
use callgate::sandbox::phone::with_meta_codecs;
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::{Codec, CodecExtra};
use str0m::media::{Direction, Frequency, MediaKind, MediaTime, Mid, TelephoneEvent};
use str0m::net::{Protocol, Receive};
use str0m::rtp::Ssrc;
use str0m::{Candidate, Event, Input, Output, Rtc, RtcConfig};
use tokio::net::UdpSocket;

/// What the business endpoint saw and does, shared with the test.
#[derive(Default)]
pub struct BizState {
    /// No media is sent while muted.
    pub muted: bool,
    pub connected: bool,
    pub packets_in: u64,
    pub packets_out: u64,
    pub recording: Vec<i16>,
    pub dtmf_out: DtmfSender,
    pub dtmf_in: DtmfReceiver,
    pub pending_answer: Option<String>,
    pub error: Option<String>,
}

impl BizState {
    /// Dominant frequency of the last second heard.
    pub fn heard_hz(&self) -> Option<f64> {
        let tail = &self.recording[self.recording.len().saturating_sub(SAMPLE_RATE as usize)..];
        audio::dominant_frequency(tail, SAMPLE_RATE)
    }
}

/// A business media endpoint: the task stops when this is dropped.
pub struct Business {
    pub state: Arc<Mutex<BizState>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Business {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn config() -> Rtc {
    with_meta_codecs(RtcConfig::new()).build(Instant::now())
}

async fn socket() -> (UdpSocket, SocketAddr) {
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let a = s.local_addr().unwrap();
    (s, a)
}

impl Business {
    /// User-initiated call: answers the phone's offer as DTLS client (`actpass` rewritten to
    /// `passive` first, str0m-meta.md L1) and full ICE controlling; plays `tone_hz`.
    pub async fn answer(offer: &str, tone_hz: f64, muted: bool) -> (Business, String) {
        let (sock, addr) = socket().await;
        let mut rtc = config();
        rtc.add_local_candidate(Candidate::host(addr, "udp").unwrap());
        let text = shape::normalise_candidates(offer).replace("a=setup:actpass", "a=setup:passive");
        let answer = rtc
            .sdp_api()
            .accept_offer(SdpOffer::from_sdp_string(&text).unwrap())
            .unwrap();
        let mid = Mid::from(shape::value_of(offer, "a=mid:").unwrap());
        let state = Arc::new(Mutex::new(BizState {
            muted,
            ..Default::default()
        }));
        let task = tokio::spawn(run(rtc, sock, addr, mid, None, tone_hz, state.clone()));
        (Business { state, task }, answer.to_sdp_string())
    }

    /// Business-initiated call: offers (`actpass`, controlling); give it the answer with
    /// [`Business::accept`].
    pub async fn offer(tone_hz: f64) -> (Business, String) {
        let (sock, addr) = socket().await;
        let mut rtc = config();
        rtc.add_local_candidate(Candidate::host(addr, "udp").unwrap());
        let mut api = rtc.sdp_api();
        let mid = api.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
        let (offer, pending) = api.apply().unwrap();
        let state = Arc::new(Mutex::new(BizState::default()));
        let task = tokio::spawn(run(
            rtc,
            sock,
            addr,
            mid,
            Some(pending),
            tone_hz,
            state.clone(),
        ));
        (Business { state, task }, offer.to_sdp_string())
    }

    /// Hands the (Meta) answer to a business offer.
    pub fn accept(&self, answer: &str) {
        self.state.lock().unwrap().pending_answer = Some(answer.to_string());
    }

    pub fn send_dtmf(&self, digits: &str) {
        self.state.lock().unwrap().dtmf_out.push(digits).unwrap();
    }

    pub fn set_muted(&self, muted: bool) {
        self.state.lock().unwrap().muted = muted;
    }

    /// Waits until `check` holds (polling every 50 ms), panicking with `what` after `within`.
    pub async fn wait_for(&self, within: Duration, what: &str, check: impl Fn(&BizState) -> bool) {
        let end = Instant::now() + within;
        loop {
            if check(&self.state.lock().unwrap()) {
                return;
            }
            assert!(
                Instant::now() < end,
                "business: timed out waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn run(
    mut rtc: Rtc,
    sock: UdpSocket,
    local: SocketAddr,
    mid: Mid,
    mut pending: Option<SdpPendingOffer>,
    tone_hz: f64,
    state: Arc<Mutex<BizState>>,
) {
    let mut source = Source::tone(tone_hz);
    let mut enc =
        opus::Encoder::new(SAMPLE_RATE, opus::Channels::Mono, opus::Application::Voip).unwrap();
    let mut dec = opus::Decoder::new(SAMPLE_RATE, opus::Channels::Mono).unwrap();
    let mut buf = vec![0u8; 2048];
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let mut ts: u64 = 1000;
    let mut connected = false;
    loop {
        // Drain.
        let deadline = loop {
            match rtc.poll_output() {
                Ok(Output::Timeout(t)) => break t,
                Ok(Output::Transmit(t)) => {
                    let _ = sock.try_send_to(&t.contents, t.destination);
                }
                Ok(Output::Event(Event::Connected)) => {
                    connected = true;
                    state.lock().unwrap().connected = true;
                }
                Ok(Output::Event(Event::MediaData(d))) => {
                    let mut st = state.lock().unwrap();
                    st.packets_in += 1;
                    match (d.params.spec().codec, d.codec_extra) {
                        (Codec::Opus, _) => {
                            let mut pcm = [0i16; 5760];
                            if let Ok(n) = dec.decode(&d.data, &mut pcm, false) {
                                st.recording.extend_from_slice(&pcm[..n]);
                            }
                        }
                        (Codec::Tele, CodecExtra::Tele(t)) => {
                            st.dtmf_in.on_packet(d.time.numer(), t.event);
                        }
                        _ => {}
                    }
                }
                Ok(Output::Event(_)) => {}
                Err(e) => {
                    state.lock().unwrap().error = Some(e.to_string());
                    return;
                }
            }
        };
        if let Some(answer) = state.lock().unwrap().pending_answer.take()
            && let Some(p) = pending.take()
        {
            let a = SdpAnswer::from_sdp_string(&shape::normalise_candidates(&answer)).unwrap();
            rtc.sdp_api().accept_answer(p, a).unwrap();
            continue;
        }
        let wait = deadline
            .saturating_duration_since(Instant::now())
            .min(Duration::from_millis(50));
        tokio::select! {
            r = sock.recv_from(&mut buf) => {
                let Ok((n, from)) = r else { continue };
                let data = &buf[..n];
                // Learn unannounced SSRCs (str0m-meta.md L4).
                if n >= 12 && data[0] >> 6 == 2 && !(192..=223).contains(&data[1]) && rtc.media(mid).is_some() {
                    let ssrc = Ssrc::from(u32::from_be_bytes([data[8], data[9], data[10], data[11]]));
                    let mut api = rtc.direct_api();
                    if api.stream_rx(&ssrc).is_none() {
                        api.expect_stream_rx(ssrc, None, mid, None);
                    }
                }
                if let Ok(r) = Receive::new(Protocol::Udp, from, local, data) {
                    let _ = rtc.handle_input(Input::Receive(Instant::now(), r));
                }
            }
            _ = tokio::time::sleep(wait) => {
                let _ = rtc.handle_input(Input::Timeout(Instant::now()));
            }
            _ = tick.tick() => {
                if !connected { continue; }
                let mut st = state.lock().unwrap();
                if st.muted { continue; }
                let now = Instant::now();
                let this_ts = ts;
                ts += FRAME_SAMPLES as u64;
                let Some(writer) = rtc.writer(mid) else { continue };
                let pt_of = |codec: Codec| writer.payload_params().find(|p| p.spec().codec == codec).map(|p| p.pt());
                let (opus_pt, tele_pt) = (pt_of(Codec::Opus), pt_of(Codec::Tele));
                let written = if let Some(p) = st.dtmf_out.tick(this_ts) {
                    let ev = TelephoneEvent { event: p.event, end: p.end, volume: 10, duration: p.duration };
                    writer.start_of_talkspurt(p.first).write(
                        tele_pt.unwrap(),
                        now,
                        MediaTime::new(p.rtp_ts48, Frequency::EIGHT_KHZ),
                        ev.to_bytes(Frequency::EIGHT_KHZ).unwrap().to_vec(),
                    )
                } else {
                    let frame = source.next_frame();
                    let mut out = [0u8; 1500];
                    let len = enc.encode(&frame, &mut out).unwrap();
                    writer.write(opus_pt.unwrap(), now, MediaTime::new(this_ts, Frequency::FORTY_EIGHT_KHZ), out[..len].to_vec())
                };
                match written {
                    Ok(()) => st.packets_out += 1,
                    Err(e) => st.error = Some(e.to_string()),
                }
            }
        }
    }
}
