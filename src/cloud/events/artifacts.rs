//! After-call artifacts announced by the 2026 `calls` events `call_recording_available`
//! ([`CallRecording`]) and `call_transcription_available` ([`CallTranscription`]). Parsed and stored,
//! never depended on: Meta's 2025 FAQ says it offers neither.

use super::call::{ChangeContext, take_parties};
use super::party::{Origin, Party};
use super::wire;

/// A downloadable media object (fetch `url` with the access token; check `sha256`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MediaAsset {
    /// `id`: the Graph media id.
    pub id: String,
    /// `sha256`: base64 SHA-256 of the file.
    pub sha256: Option<String>,
    /// `mime_type`, e.g. `audio/ogg; codecs=opus` or `application/json`.
    pub mime_type: Option<String>,
    /// `url`: a short-lived download URL.
    pub url: Option<String>,
}

impl MediaAsset {
    fn from_wire(media: wire::Media) -> Self {
        Self {
            id: media.id,
            sha256: media.sha256,
            mime_type: media.mime_type,
            url: media.url,
        }
    }
}

/// `event: "call_recording_available"`: a recording of a finished call can be downloaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRecording {
    /// Business account and number the call belonged to.
    pub origin: Origin,
    /// `id`: the call id (`wacid.…`).
    pub call_id: String,
    /// The caller.
    pub from: Party,
    /// The callee (absent in the 2026 sample).
    pub to: Party,
    /// `timestamp`: UNIX seconds.
    pub timestamp: u64,
    /// `call_recording.type`, e.g. `audio`.
    pub media_type: Option<String>,
    /// `call_recording.audio`: the recording file.
    pub audio: Option<MediaAsset>,
}

impl CallRecording {
    pub(super) fn from_wire(mut call: wire::Call, ctx: &ChangeContext<'_>) -> Self {
        let (from, to) = take_parties(&mut call);
        let (media_type, audio) = match call.call_recording {
            Some(r) => (r.kind, r.audio.map(MediaAsset::from_wire)),
            None => (None, None),
        };
        Self {
            origin: ctx.origin.clone(),
            call_id: call.id,
            from,
            to,
            timestamp: call.timestamp.0,
            media_type,
            audio,
        }
    }
}

/// `event: "call_transcription_available"`: a transcript of a finished call can be downloaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallTranscription {
    /// Business account and number the call belonged to.
    pub origin: Origin,
    /// `id`: the call id (`wacid.…`).
    pub call_id: String,
    /// The caller.
    pub from: Party,
    /// The callee (absent in the 2026 sample).
    pub to: Party,
    /// `timestamp`: UNIX seconds.
    pub timestamp: u64,
    /// `call_transcript.document`: the transcript file (`application/json`).
    pub document: Option<MediaAsset>,
}

impl CallTranscription {
    pub(super) fn from_wire(mut call: wire::Call, ctx: &ChangeContext<'_>) -> Self {
        let (from, to) = take_parties(&mut call);
        Self {
            origin: ctx.origin.clone(),
            call_id: call.id,
            from,
            to,
            timestamp: call.timestamp.0,
            document: call
                .call_transcript
                .and_then(|t| t.document)
                .map(MediaAsset::from_wire),
        }
    }
}
