//! The codec pair of one call: Opus (WhatsApp) <-> the PBX codec, decoding Opus straight to the
//! PBX codec's audio rate and encoding Opus from it. Absent when the PBX speaks Opus
//! (passthrough). All buffers belong to the caller.

use super::codec::{
    CodecError, G722Decoder, G722Encoder, OpusDecoder, OpusEncoder, PbxCodec, g711,
};

enum PbxSide {
    Pcmu,
    Pcma,
    G722(Box<(G722Encoder, G722Decoder)>),
}

/// Opus <-> G.711/G.722 transcoder. Dropping and recreating it is a "transcoder restart": the
/// RTP streams around it stay continuous.
pub struct Transcoder {
    rate: u32,
    opus_dec: OpusDecoder,
    opus_enc: OpusEncoder,
    pbx: PbxSide,
}

impl Transcoder {
    /// A transcoder for `codec`, or `None` for Opus passthrough.
    pub fn new(codec: PbxCodec, opus_complexity: i32) -> Result<Option<Self>, CodecError> {
        let pbx = match codec {
            PbxCodec::Pcmu => PbxSide::Pcmu,
            PbxCodec::Pcma => PbxSide::Pcma,
            PbxCodec::G722 => PbxSide::G722(Box::new((G722Encoder::new(), G722Decoder::new()))),
            PbxCodec::Opus { .. } => return Ok(None),
        };
        let rate = codec.audio_rate();
        Ok(Some(Self {
            rate,
            opus_dec: OpusDecoder::new(rate)?,
            opus_enc: OpusEncoder::new(rate, opus_complexity)?,
            pbx,
        }))
    }

    /// PCM samples in 20 ms.
    pub fn frame_samples(&self) -> usize {
        self.rate as usize / 50
    }

    /// Decodes a WhatsApp Opus packet (or conceals a lost one when `opus` is empty) to PCM.
    pub fn decode_opus(&mut self, opus: &[u8], pcm: &mut [i16]) -> Result<usize, CodecError> {
        if opus.is_empty() {
            self.opus_dec.conceal(pcm)
        } else {
            self.opus_dec.decode(opus, pcm)
        }
    }

    /// Encodes one 20 ms PCM frame to Opus.
    pub fn encode_opus(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, CodecError> {
        self.opus_enc.encode(pcm, out)
    }

    /// Encodes PCM to the PBX codec; returns `(payload bytes, RTP ticks at 8000 Hz)`.
    pub fn encode_pbx(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<(usize, u32), CodecError> {
        match &mut self.pbx {
            PbxSide::Pcmu => {
                let n = g711::encode_ulaw(pcm, out);
                Ok((n, n as u32))
            }
            PbxSide::Pcma => {
                let n = g711::encode_alaw(pcm, out);
                Ok((n, n as u32))
            }
            PbxSide::G722(codec) => {
                let n = codec.0.encode(pcm, out)?;
                Ok((n, (pcm.len() / 2) as u32))
            }
        }
    }

    /// Decodes a PBX payload to PCM; returns the samples written.
    pub fn decode_pbx(&mut self, payload: &[u8], pcm: &mut [i16]) -> Result<usize, CodecError> {
        match &mut self.pbx {
            PbxSide::Pcmu => Ok(g711::decode_ulaw(payload, pcm)),
            PbxSide::Pcma => Ok(g711::decode_alaw(payload, pcm)),
            PbxSide::G722(codec) => codec.1.decode(payload, pcm),
        }
    }
}
