//! G.722 (64 kbit/s, 16 kHz audio, 8000 Hz RTP clock per RFC 3551) wrapper over the pure-Rust
//! `audio-codec` crate (built with `default-features = false`: no Opus, no G.729, no `std` Vec
//! helpers), writing into caller-provided buffers only.

use audio_codec::g722::{Bitrate, G722Decoder as Inner722Decoder, G722Encoder as Inner722Encoder};
use audio_codec::{Decoder as _, Encoder as _};

use super::CodecError;

/// G.722 encoder: 16 kHz PCM in, one byte per two samples out.
pub struct G722Encoder {
    inner: Inner722Encoder,
}

impl G722Encoder {
    /// A fresh 64 kbit/s encoder (mode 1, unpacked, as used on RTP).
    #[must_use]
    pub fn new() -> Self {
        Self {
            inner: Inner722Encoder::with_options(Bitrate::Mode1_64000, false, false),
        }
    }

    /// Encodes 16 kHz `pcm` into `out` (needs `pcm.len() / 2` bytes); returns the bytes written.
    pub fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, CodecError> {
        self.inner
            .encode_into(pcm, out)
            .map_err(|_| CodecError::BufferTooSmall { codec: "G.722" })
    }
}

impl Default for G722Encoder {
    fn default() -> Self {
        Self::new()
    }
}

/// G.722 decoder: one byte in, two 16 kHz samples out.
pub struct G722Decoder {
    inner: Inner722Decoder,
}

impl G722Decoder {
    /// A fresh 64 kbit/s decoder.
    #[must_use]
    pub fn new() -> Self {
        Self {
            inner: Inner722Decoder::with_options(Bitrate::Mode1_64000, false, false),
        }
    }

    /// Decodes `payload` into `out` (needs `2 * payload.len()` samples); returns samples written.
    pub fn decode(&mut self, payload: &[u8], out: &mut [i16]) -> Result<usize, CodecError> {
        self.inner
            .decode_into(payload, out)
            .map_err(|_| CodecError::BufferTooSmall { codec: "G.722" })
    }
}

impl Default for G722Decoder {
    fn default() -> Self {
        Self::new()
    }
}
