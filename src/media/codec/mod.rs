//! Audio codecs of the bridge: the PBX-side codec choice ([`PbxCodec`]), G.711 companding,
//! G.722 and Opus wrappers. Every codec writes into caller-provided buffers.

pub mod g711;
pub mod g722;
pub mod opus;

pub use self::g722::{G722Decoder, G722Encoder};
pub use self::opus::{MAX_OPUS_PACKET, OPUS_SILENCE_FRAME, OpusDecoder, OpusEncoder};

/// Errors of the codec layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// libopus refused an operation; the call keeps running but this frame is lost.
    #[error("Opus codec error: {0}; check the Opus settings negotiated with WhatsApp/the PBX")]
    Opus(String),
    /// A sample rate the codec cannot run at was asked for (a programming error in the bridge).
    #[error("unsupported sample rate {rate} Hz; Opus runs at 8, 12, 16, 24 or 48 kHz")]
    UnsupportedRate {
        /// The rejected rate.
        rate: u32,
    },
    /// The encoder was given a frame that is not exactly 20 ms long.
    #[error("expected a 20 ms frame of {expected} samples, got {got}")]
    FrameSize {
        /// Samples in 20 ms at the encoder's rate.
        expected: usize,
        /// Samples given.
        got: usize,
    },
    /// The output buffer was too small (a programming error in the bridge).
    #[error("{codec}: output buffer too small")]
    BufferTooSmall {
        /// Codec name.
        codec: &'static str,
    },
    /// The payload cannot be decoded (empty or corrupt); the peer sends broken media.
    #[error("{codec}: malformed payload; the peer sends broken media")]
    Malformed {
        /// Codec name.
        codec: &'static str,
    },
}

impl CodecError {
    fn opus(e: ::opus::Error) -> Self {
        Self::Opus(e.to_string())
    }
}

/// The audio codec negotiated on the PBX leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PbxCodec {
    /// G.711 µ-law, static PT 0.
    Pcmu,
    /// G.711 A-law, static PT 8.
    Pcma,
    /// G.722, static PT 9: 16 kHz audio on an 8000 Hz RTP clock (RFC 3551 §4.5.2).
    G722,
    /// Opus (passthrough from/to WhatsApp) on a dynamic payload type, 48000 Hz RTP clock.
    Opus {
        /// Dynamic payload type the PBX negotiated.
        pt: u8,
    },
}

impl PbxCodec {
    /// RTP payload type on the PBX leg.
    #[must_use]
    pub fn payload_type(self) -> u8 {
        match self {
            Self::Pcmu => 0,
            Self::Pcma => 8,
            Self::G722 => 9,
            Self::Opus { pt } => pt,
        }
    }

    /// RTP timestamp clock rate (what SDP's rtpmap says; 8000 for G.722).
    #[must_use]
    pub fn rtp_clock(self) -> u32 {
        match self {
            Self::Pcmu | Self::Pcma | Self::G722 => 8000,
            Self::Opus { .. } => 48000,
        }
    }

    /// Sample rate of the PCM this codec carries (16 kHz for G.722, 48 kHz for Opus).
    #[must_use]
    pub fn audio_rate(self) -> u32 {
        match self {
            Self::Pcmu | Self::Pcma => 8000,
            Self::G722 => 16000,
            Self::Opus { .. } => 48000,
        }
    }

    /// RTP timestamp increment of one 20 ms frame.
    #[must_use]
    pub fn frame_ticks(self) -> u32 {
        self.rtp_clock() / 50
    }

    /// True when the PBX speaks Opus and frames are forwarded without transcoding.
    #[must_use]
    pub fn is_passthrough(self) -> bool {
        matches!(self, Self::Opus { .. })
    }

    /// SDP encoding name (`PCMU`, `PCMA`, `G722`, `opus`).
    #[must_use]
    pub fn encoding_name(self) -> &'static str {
        match self {
            Self::Pcmu => "PCMU",
            Self::Pcma => "PCMA",
            Self::G722 => "G722",
            Self::Opus { .. } => "opus",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g722_uses_8000_rtp_clock_with_16k_audio() {
        assert_eq!(PbxCodec::G722.rtp_clock(), 8000);
        assert_eq!(PbxCodec::G722.audio_rate(), 16000);
        assert_eq!(PbxCodec::G722.frame_ticks(), 160);
        assert_eq!(PbxCodec::G722.payload_type(), 9);
    }

    #[test]
    fn opus_uses_48k_clock_and_negotiated_pt() {
        let c = PbxCodec::Opus { pt: 96 };
        assert_eq!(
            (c.payload_type(), c.rtp_clock(), c.frame_ticks()),
            (96, 48000, 960)
        );
        assert!(c.is_passthrough());
        assert!(!PbxCodec::Pcmu.is_passthrough());
        assert_eq!(
            (PbxCodec::Pcmu.payload_type(), PbxCodec::Pcma.payload_type()),
            (0, 8)
        );
    }

    #[test]
    fn opus_silence_frame_decodes_to_silence() {
        let mut dec = OpusDecoder::new(8000).unwrap();
        let mut out = [1i16; 960];
        let n = dec.decode(&OPUS_SILENCE_FRAME, &mut out).unwrap();
        assert_eq!(n, 160);
        assert!(out[..n].iter().all(|s| s.abs() < 4), "{:?}", &out[..n]);
    }

    #[test]
    fn g722_round_trip_keeps_frame_sizes() {
        let mut enc = G722Encoder::new();
        let mut dec = G722Decoder::new();
        let pcm = [1000i16; 320];
        let mut bytes = [0u8; 160];
        assert_eq!(enc.encode(&pcm, &mut bytes).unwrap(), 160);
        let mut out = [0i16; 320];
        assert_eq!(dec.decode(&bytes, &mut out).unwrap(), 320);
    }
}
