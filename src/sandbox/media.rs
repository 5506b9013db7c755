//! The simulated phones' side of the sandbox: creating the phone that offers a user call or
//! answers a business call, handing it the business's answer, and the per-call media commands
//! the control API and tests use (play, DTMF, media report, WAV recording).

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use super::phone::{AudioSpec, MediaReport, MetaPhone, PhoneConfig};
use super::sdp::{self, KeyExchange};
use super::{Sandbox, SandboxError};

/// The tone a simulated phone plays unless told otherwise (Hz).
pub const DEFAULT_TONE_HZ: f64 = 440.0;

fn phone_config(audio: AudioSpec) -> PhoneConfig {
    PhoneConfig {
        ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        audio,
    }
}

fn media_err(e: impl std::fmt::Display) -> SandboxError {
    SandboxError::Media(e.to_string())
}

/// Meta's answer to a business offer: a phone's real answer when the offer is DTLS and the phone
/// can negotiate it; else (SDES numbers, offers str0m refuses) the media-less template.
pub(crate) fn answer_business_offer(offer: &str, kx: KeyExchange) -> (String, Option<MetaPhone>) {
    if kx == KeyExchange::Dtls {
        match MetaPhone::answer(phone_config(AudioSpec::Tone(DEFAULT_TONE_HZ)), offer) {
            Ok((phone, answer)) => return (answer, Some(phone)),
            Err(e) => {
                tracing::warn!(error = %e, "sandbox: no simulated phone for this business offer; answering without media");
            }
        }
    }
    (sdp::meta_answer_for_offer(offer), None)
}

impl Sandbox {
    /// A phone for a user call, and its offer.
    pub(crate) fn new_offering_phone(
        &self,
        audio: AudioSpec,
    ) -> Result<(MetaPhone, String), SandboxError> {
        MetaPhone::offer(phone_config(audio)).map_err(media_err)
    }

    /// Gives a user call's phone the business's answer (pre_accept or accept; the phone ignores
    /// a second one). A refused answer is logged and shows in the media report.
    pub(crate) fn answer_reached_phone(&self, phone: Option<&MetaPhone>, answer_sdp: &str) {
        if let Some(phone) = phone
            && let Err(e) = phone.apply_answer(answer_sdp)
        {
            tracing::warn!(error = %e, "sandbox: the simulated phone cannot use the business's answer");
        }
    }

    /// The simulated phone of a call (none when the call was created with an explicit
    /// `offer_sdp`, or its business offer could not be answered with media).
    pub fn phone(&self, call_id: &str) -> Result<MetaPhone, SandboxError> {
        let st = self.lock();
        if !st.calls.contains_key(call_id) {
            return Err(SandboxError::UnknownCall(call_id.into()));
        }
        st.phones
            .get(call_id)
            .cloned()
            .ok_or_else(|| SandboxError::NoMedia(call_id.into()))
    }

    /// The user's phone sends RFC 4733 digits (`0-9 * # A-D`) once media flows.
    pub fn send_dtmf(&self, call_id: &str, digits: &str) -> Result<(), SandboxError> {
        self.phone(call_id)?.send_dtmf(digits).map_err(media_err)
    }

    /// The user's phone switches to playing `audio`.
    pub fn play(&self, call_id: &str, audio: &AudioSpec) -> Result<(), SandboxError> {
        self.phone(call_id)?.play(audio).map_err(media_err)
    }

    /// What the user's phone heard and sent so far.
    pub async fn media_report(&self, call_id: &str) -> Result<MediaReport, SandboxError> {
        self.phone(call_id)?.report().await.map_err(media_err)
    }

    /// Writes what the user's phone heard as a 48 kHz mono WAV file.
    pub async fn write_recording(&self, call_id: &str, path: &Path) -> Result<(), SandboxError> {
        self.phone(call_id)?
            .write_recording(path)
            .await
            .map_err(media_err)
    }
}
