//! Opus encoder/decoder wrappers (libopus through `opus` 0.4) for the WhatsApp leg: mono, 20 ms
//! frames, decoding straight to the PBX codec's rate (8 kHz for G.711, 16 kHz for G.722) and
//! encoding from it, so no resampler is needed. Packet loss is concealed by libopus PLC, or
//! recovered from the next packet's in-band FEC when the caller has it.

use opus::{Application, Channels};

use super::CodecError;

/// Largest Opus packet we produce or accept (RFC 6716 allows 1275 bytes per frame).
pub const MAX_OPUS_PACKET: usize = 1275;

/// A frame of Opus that decodes to 20 ms of digital silence (TOC 0xF8: CELT fullband 20 ms mono,
/// followed by a range-coder "silence" flag). Used as comfort silence towards WhatsApp.
pub const OPUS_SILENCE_FRAME: [u8; 3] = [0xF8, 0xFF, 0xFE];

fn check_rate(rate: u32) -> Result<(), CodecError> {
    match rate {
        8000 | 12000 | 16000 | 24000 | 48000 => Ok(()),
        _ => Err(CodecError::UnsupportedRate { rate }),
    }
}

/// libopus state `C` ([`opus::Decoder`] or [`opus::Encoder`]) working on mono PCM at a fixed
/// rate in 20 ms frames; used as [`OpusDecoder`] or [`OpusEncoder`].
pub struct OpusCodec<C> {
    inner: C,
    rate: u32,
}

/// Opus decoder producing mono PCM at a fixed output rate.
pub type OpusDecoder = OpusCodec<opus::Decoder>;

/// Opus encoder taking mono PCM at a fixed input rate, 20 ms per call.
pub type OpusEncoder = OpusCodec<opus::Encoder>;

impl<C> OpusCodec<C> {
    /// PCM sample rate in Hz: the decoder's output rate, the encoder's input rate.
    #[must_use]
    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// Samples in one 20 ms frame at that rate.
    #[must_use]
    pub fn frame_samples(&self) -> usize {
        self.rate as usize / 50
    }
}

impl OpusDecoder {
    /// A decoder whose output is mono PCM at `rate` Hz (8000, 12000, 16000, 24000 or 48000).
    pub fn new(rate: u32) -> Result<Self, CodecError> {
        check_rate(rate)?;
        let inner = opus::Decoder::new(rate, Channels::Mono).map_err(CodecError::opus)?;
        Ok(Self { inner, rate })
    }

    /// Decodes one packet into `out`; returns the samples written.
    pub fn decode(&mut self, packet: &[u8], out: &mut [i16]) -> Result<usize, CodecError> {
        if packet.is_empty() {
            return Err(CodecError::Malformed { codec: "Opus" });
        }
        self.inner
            .decode(packet, out, false)
            .map_err(CodecError::opus)
    }

    /// Conceals one lost 20 ms frame (PLC) into `out`; returns the samples written.
    pub fn conceal(&mut self, out: &mut [i16]) -> Result<usize, CodecError> {
        let n = self.frame_samples().min(out.len());
        self.inner
            .decode(&[], &mut out[..n], false)
            .map_err(CodecError::opus)
    }

    /// Recovers the lost frame that precedes `next_packet` from its in-band FEC data.
    pub fn recover(&mut self, next_packet: &[u8], out: &mut [i16]) -> Result<usize, CodecError> {
        let n = self.frame_samples().min(out.len());
        self.inner
            .decode(next_packet, &mut out[..n], true)
            .map_err(CodecError::opus)
    }
}

impl OpusEncoder {
    /// A VoIP encoder for mono PCM at `rate` Hz with the given complexity (0..=10), in-band
    /// FEC enabled (WhatsApp offers `useinbandfec=1`).
    pub fn new(rate: u32, complexity: i32) -> Result<Self, CodecError> {
        check_rate(rate)?;
        let mut inner = opus::Encoder::new(rate, Channels::Mono, Application::Voip)
            .map_err(CodecError::opus)?;
        inner
            .set_complexity(complexity.clamp(0, 10))
            .map_err(CodecError::opus)?;
        inner.set_inband_fec(true).map_err(CodecError::opus)?;
        inner.set_packet_loss_perc(5).map_err(CodecError::opus)?;
        Ok(Self { inner, rate })
    }

    /// Encodes exactly one 20 ms frame (`frame_samples()` samples) into `out`; returns bytes.
    pub fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, CodecError> {
        if pcm.len() != self.frame_samples() {
            return Err(CodecError::FrameSize {
                expected: self.frame_samples(),
                got: pcm.len(),
            });
        }
        self.inner.encode(pcm, out).map_err(CodecError::opus)
    }
}
