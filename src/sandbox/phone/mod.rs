//! The sandbox's simulated WhatsApp user with real media: [`MetaPhone`] is a str0m `Rtc` in
//! ICE-lite mode on its own UDP socket, run by its own tokio task, that speaks Meta's exact SDP
//! shape. It offers (user-initiated calls) or answers (business-initiated calls), and like Meta it
//! sends audio only after it has received media from the business. On command it plays a tone or a
//! WAV file, sends RFC 4733 DTMF, hangs up, and reports what it heard (dominant frequency, RMS,
//! digits, packet counts, first-media times) or writes it to a WAV file.
//!
//! Submodules: [`audio`] (sources, WAV, Goertzel analysis), [`dtmf`] (RFC 4733 pacing and
//! de-duplication), [`shape`] (SDP rewriting), `engine` (the task that owns the `Rtc`).

pub mod audio;
pub mod dtmf;
mod engine;
pub mod shape;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use str0m::change::{SdpAnswer, SdpOffer};
use tokio::sync::{mpsc, oneshot};

pub(crate) use engine::meta_rtc_config;
pub use engine::with_meta_codecs;
use engine::{Command, Engine};

/// Why the phone could not do what was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PhoneError {
    /// The phone's UDP socket could not be bound or registered with tokio.
    #[error("phone: cannot bind a UDP socket on {ip}: {source} (is the address local?)")]
    Socket {
        /// The address asked for.
        ip: IpAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// str0m refused the session setup (bad candidate address, SDP it cannot negotiate).
    #[error("phone: WebRTC setup failed: {0}")]
    Rtc(String),
    /// The SDP could not be parsed.
    #[error("phone: the {0} SDP cannot be parsed: {1}")]
    Sdp(&'static str, String),
    /// The WAV file to play could not be loaded.
    #[error("phone: {0}")]
    Wav(#[from] audio::WavError),
    /// A character that is not a DTMF digit (`0-9 * # A-D`).
    #[error("phone: {0:?} is not a DTMF digit (use 0-9, *, #, A-D)")]
    InvalidDigit(char),
    /// The phone's task has ended (the sandbox is shutting down).
    #[error("phone: the media task has ended")]
    Gone,
}

/// What the phone plays into the call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AudioSpec {
    /// A sine tone at this frequency (Hz).
    Tone(f64),
    /// A 16-bit PCM WAV file (any rate, mono or stereo), looped.
    Wav(PathBuf),
    /// Digital silence (still sent, so the far end sees media).
    Silence,
}

impl AudioSpec {
    fn load(&self) -> Result<audio::Source, PhoneError> {
        Ok(match self {
            AudioSpec::Tone(hz) => audio::Source::tone(*hz),
            AudioSpec::Wav(path) => audio::Source::wav(path)?,
            AudioSpec::Silence => audio::Source::Silence,
        })
    }
}

/// How to build a phone.
#[derive(Debug, Clone)]
pub struct PhoneConfig {
    /// The address its socket binds (port 0) and its one host candidate carries.
    pub ip: IpAddr,
    /// What it plays.
    pub audio: AudioSpec,
}

impl Default for PhoneConfig {
    /// 127.0.0.1, a 440 Hz tone.
    fn default() -> Self {
        PhoneConfig {
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            audio: AudioSpec::Tone(440.0),
        }
    }
}

/// What the phone heard and did (`GET /sandbox/calls/{id}/media`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MediaReport {
    /// ICE and DTLS are up.
    pub connected: bool,
    /// The phone has hung up (or was told the call ended).
    pub hung_up: bool,
    /// Dominant frequency (Hz) of the last second of received audio; `None` when silent.
    pub dominant_hz: Option<f64>,
    /// RMS level of the last second of received audio, fraction of full scale (0..1).
    pub rms: f64,
    /// Received audio recorded so far, in milliseconds.
    pub recorded_ms: u64,
    /// DTMF digits received, in order.
    pub digits_received: String,
    /// DTMF digits sent so far, in order.
    pub digits_sent: String,
    /// RTP packets received (audio and DTMF).
    pub packets_in: u64,
    /// RTP packets sent (audio and DTMF).
    pub packets_out: u64,
    /// Milliseconds from the phone's creation to the first media received.
    pub first_media_in_ms: Option<u64>,
    /// Milliseconds from the phone's creation to the first media sent.
    pub first_media_out_ms: Option<u64>,
    /// Milliseconds from the phone's creation to ICE+DTLS connected.
    pub connected_ms: Option<u64>,
    /// The last error the media task met (a refused answer, a socket error), if any.
    pub error: Option<String>,
}

/// A simulated WhatsApp user's phone. Cheap to clone; the media task ends when every clone is
/// dropped. Must be created inside a tokio runtime.
#[derive(Debug, Clone)]
pub struct MetaPhone {
    commands: mpsc::UnboundedSender<Command>,
    local_addr: SocketAddr,
}

impl MetaPhone {
    /// A phone that calls (user-initiated): returns it and its Meta-shaped offer. Apply the
    /// business's answer with [`MetaPhone::apply_answer`].
    pub fn offer(config: PhoneConfig) -> Result<(MetaPhone, String), PhoneError> {
        let source = config.audio.load()?;
        let (engine, sdp) = Engine::offerer(config.ip, source)?;
        Ok((Self::spawn(engine), sdp))
    }

    /// A phone that answers a business's offer (business-initiated): returns it and its
    /// Meta-shaped answer (`a=ice-lite`, `a=setup:active`, the offer's payload types). It rings:
    /// nothing reaches it (no STUN answers, so no ICE, DTLS or media) until
    /// [`MetaPhone::pick_up`].
    pub fn answer(config: PhoneConfig, offer_sdp: &str) -> Result<(MetaPhone, String), PhoneError> {
        let source = config.audio.load()?;
        let offer = SdpOffer::from_sdp_string(&shape::normalise_candidates(offer_sdp))
            .map_err(|e| PhoneError::Sdp("offer", e.to_string()))?;
        let (engine, sdp) = Engine::answerer(config.ip, source, offer, offer_sdp)?;
        Ok((Self::spawn(engine), sdp))
    }

    fn spawn(engine: Engine) -> MetaPhone {
        let (tx, rx) = mpsc::unbounded_channel();
        let local_addr = engine.local_addr();
        tokio::spawn(engine.run(rx));
        MetaPhone {
            commands: tx,
            local_addr,
        }
    }

    /// The phone's UDP address (its one host candidate).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    fn send(&self, cmd: Command) -> Result<(), PhoneError> {
        self.commands.send(cmd).map_err(|_| PhoneError::Gone)
    }

    /// Gives the phone the business's answer to its offer (the moment "Meta has our answer").
    /// Candidate lines are normalised first. A second call is ignored by the phone.
    pub fn apply_answer(&self, answer_sdp: &str) -> Result<(), PhoneError> {
        let answer = SdpAnswer::from_sdp_string(&shape::normalise_candidates(answer_sdp))
            .map_err(|e| PhoneError::Sdp("answer", e.to_string()))?;
        self.send(Command::ApplyAnswer(
            Box::new(answer),
            answer_sdp.to_string(),
        ))
    }

    /// The user picks up a ringing business-initiated call: the phone starts answering ICE checks.
    pub fn pick_up(&self) -> Result<(), PhoneError> {
        self.send(Command::PickUp)
    }

    /// Switches what the phone plays.
    pub fn play(&self, audio: &AudioSpec) -> Result<(), PhoneError> {
        let source = audio.load()?;
        self.send(Command::Play(source))
    }

    /// Queues RFC 4733 digits (sent once media flows, 100 ms each with 80 ms gaps).
    pub fn send_dtmf(&self, digits: &str) -> Result<(), PhoneError> {
        if let Some(c) = digits.chars().find(|&c| dtmf::event_of(c).is_none()) {
            return Err(PhoneError::InvalidDigit(c));
        }
        self.send(Command::Dtmf(digits.to_string()))
    }

    /// Hangs up: media stops and the WebRTC session closes; the report stays available.
    pub fn hang_up(&self) {
        let _ = self.send(Command::HangUp);
    }

    /// What the phone heard and did so far.
    pub async fn report(&self) -> Result<MediaReport, PhoneError> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Report(tx))?;
        rx.await.map_err(|_| PhoneError::Gone)
    }

    /// Writes everything received so far as a 48 kHz mono 16-bit WAV file.
    pub async fn write_recording(&self, path: &Path) -> Result<(), PhoneError> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::WriteRecording(path.to_path_buf(), tx))?;
        rx.await
            .map_err(|_| PhoneError::Gone)?
            .map_err(PhoneError::Wav)
    }
}
