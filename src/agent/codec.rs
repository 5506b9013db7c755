//! [`AgentCodec`]: the agent's audio in the codec its answer chose: tone frames to send and the
//! decoding of what it hears into its 8 kHz recording (PCMU, PCMA, G.722, Opus).

use callgate_sip::sdp_negotiation::CodecKind;

use crate::media::analysis::tone;
use crate::media::codec::{G722Decoder, G722Encoder, OpusDecoder, OpusEncoder, g711};

/// The call's codec state.
pub(super) enum AgentCodec {
    Pcmu,
    Pcma,
    G722(Box<(G722Encoder, G722Decoder)>),
    Opus(Box<(Option<OpusEncoder>, Option<OpusDecoder>)>),
}

impl AgentCodec {
    /// The state for `kind` (anything else is treated as PCMU).
    pub fn new(kind: CodecKind) -> Self {
        match kind {
            CodecKind::Pcma => Self::Pcma,
            CodecKind::G722 => Self::G722(Box::new((G722Encoder::new(), G722Decoder::new()))),
            CodecKind::Opus => Self::Opus(Box::new((
                OpusEncoder::new(8000, 5).ok(),
                OpusDecoder::new(8000).ok(),
            ))),
            _ => Self::Pcmu,
        }
    }

    /// Encodes 20 ms of a `hz` tone starting at 8 kHz sample `phase` into `out`; returns the
    /// payload length and the RTP ticks it spans.
    pub fn tone_frame(&mut self, hz: f64, phase: usize, out: &mut [u8]) -> Option<(usize, u32)> {
        match self {
            Self::Pcmu => Some((
                g711::encode_ulaw(&tone::sine(hz, 8000, 0.5, phase, 160), out),
                160,
            )),
            Self::Pcma => Some((
                g711::encode_alaw(&tone::sine(hz, 8000, 0.5, phase, 160), out),
                160,
            )),
            Self::G722(c) => {
                let pcm = tone::sine(hz, 16000, 0.5, 2 * phase, 320);
                c.0.encode(&pcm, out).ok().map(|n| (n, 160))
            }
            Self::Opus(c) => {
                let pcm = tone::sine(hz, 8000, 0.5, phase, 160);
                c.0.as_mut()?.encode(&pcm, out).ok().map(|n| (n, 960))
            }
        }
    }

    /// Decodes one payload into 8 kHz samples in `pcm`; returns how many.
    pub fn decode(&mut self, payload: &[u8], pcm: &mut [i16]) -> usize {
        match self {
            Self::Pcmu => g711::decode_ulaw(payload, pcm),
            Self::Pcma => g711::decode_alaw(payload, pcm),
            Self::G722(c) => {
                let mut wide = [0i16; 1920];
                let n = c.1.decode(payload, &mut wide).unwrap_or(0);
                // 16 -> 8 kHz by dropping every other sample: enough for the tone checks.
                let k = (n / 2).min(pcm.len());
                for (i, s) in pcm[..k].iter_mut().enumerate() {
                    *s = wide[2 * i];
                }
                k
            }
            Self::Opus(c) => match c.1.as_mut() {
                Some(d) => d.decode(payload, pcm).unwrap_or(0),
                None => 0,
            },
        }
    }
}
