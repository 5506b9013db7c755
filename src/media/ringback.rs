//! Ringback: what the party already on the line hears while the other one rings. A business call
//! bridges two parties that answer one after the other: with `agent_first` the agent has picked
//! up and waits while the WhatsApp user's phone rings; with `user_first` the user has picked up
//! and waits while the agent's phone rings. Without a tone both hear dead air and hang up.
//!
//! [`RingbackStyle`] is the national cadence (ITU-T E.180 Supplement 2); [`Ringback`] makes its
//! frames, encoded for the leg that plays them (Opus toward WhatsApp, the PBX leg's codec toward
//! the PBX), one 20 ms frame per call, with the tone's phase continuous across frames.

use std::f64::consts::PI;

use serde::{Deserialize, Serialize};

use super::codec::{CodecError, G722Encoder, OpusEncoder, PbxCodec, g711};

/// The ringback cadence (`[media] ringback`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RingbackStyle {
    /// CEPT/Europe: 425 Hz, 1 s on, 4 s off.
    #[default]
    Eu,
    /// North America: 440 + 480 Hz, 2 s on, 4 s off.
    Us,
    /// United Kingdom: 400 + 450 Hz, 0.4 s on, 0.2 s off, 0.4 s on, 2 s off.
    Uk,
    /// No tone: the waiting party hears silence.
    None,
}

impl RingbackStyle {
    /// The tone's frequencies and its cadence; `None` for no tone.
    fn pattern(self) -> Option<(&'static [f64], Cadence)> {
        match self {
            Self::Eu => Some((&[425.0], &[(1000, 4000)])),
            Self::Us => Some((&[440.0, 480.0], &[(2000, 4000)])),
            Self::Uk => Some((&[400.0, 450.0], &[(400, 200), (400, 2000)])),
            Self::None => None,
        }
    }
}

/// A cadence: (on ms, off ms) pairs, repeated.
type Cadence = &'static [(u32, u32)];

/// Amplitude of each tone component, as a fraction of full scale (about -21 dBFS for one
/// component: a ringback is quieter than speech).
const AMPLITUDE: f64 = 0.09;

/// The tone of a [`RingbackStyle`] as PCM, 20 ms at a time.
#[derive(Debug, Clone)]
pub struct RingbackTone {
    freqs: &'static [f64],
    cadence: Cadence,
    period_ms: u32,
    rate: u32,
    /// Frames made so far.
    frames: u64,
}

impl RingbackTone {
    /// The tone of `style` at `rate` Hz; `None` for [`RingbackStyle::None`].
    #[must_use]
    pub fn new(style: RingbackStyle, rate: u32) -> Option<Self> {
        let (freqs, cadence) = style.pattern()?;
        Some(Self {
            freqs,
            cadence,
            period_ms: cadence.iter().map(|(on, off)| on + off).sum(),
            rate,
            frames: 0,
        })
    }

    /// Samples in one 20 ms frame.
    #[must_use]
    pub fn frame_samples(&self) -> usize {
        self.rate as usize / 50
    }

    /// Whether the tone sounds `ms` milliseconds into its cadence.
    fn sounding(&self, ms: u64) -> bool {
        let mut at = (ms % u64::from(self.period_ms)) as u32;
        for &(on, off) in self.cadence {
            if at < on + off {
                return at < on;
            }
            at -= on + off;
        }
        false
    }

    /// Writes the next 20 ms into `out` (at least [`Self::frame_samples`] long); returns the
    /// samples written.
    pub fn next_frame(&mut self, out: &mut [i16]) -> usize {
        let n = self.frame_samples().min(out.len());
        let first = self.frames * n as u64;
        let start_ms = self.frames * 20;
        self.frames += 1;
        let rate = f64::from(self.rate);
        for (i, s) in out[..n].iter_mut().enumerate() {
            let ms = start_ms + (i as u64 * 1000) / u64::from(self.rate);
            *s = if self.sounding(ms) {
                let t = (first + i as u64) as f64 / rate;
                let v: f64 = self.freqs.iter().map(|f| (2.0 * PI * f * t).sin()).sum();
                (AMPLITUDE * 32767.0 * v) as i16
            } else {
                0
            };
        }
        n
    }
}

/// What encodes the tone for the leg that plays it.
enum Encoder {
    Opus(Box<OpusEncoder>),
    Pcmu,
    Pcma,
    G722(Box<G722Encoder>),
}

/// Ringback frames for one leg: the tone, encoded.
pub struct Ringback {
    tone: RingbackTone,
    encoder: Encoder,
    /// RTP ticks of one frame on the leg's clock.
    ticks: u32,
    pcm: Vec<i16>,
}

impl std::fmt::Debug for Ringback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ringback")
            .field("tone", &self.tone)
            .finish()
    }
}

/// The WhatsApp leg's RTP clock ticks per 20 ms (Opus, 48 kHz).
const WA_FRAME_TICKS: u32 = 960;
/// The rate the tone is made at for Opus (a ringback needs no more than narrowband).
const OPUS_TONE_RATE: u32 = 8000;

impl Ringback {
    /// Frames toward WhatsApp (Opus); `None` for [`RingbackStyle::None`].
    pub fn for_whatsapp(style: RingbackStyle, complexity: i32) -> Result<Option<Self>, CodecError> {
        Self::build(style, OPUS_TONE_RATE, WA_FRAME_TICKS, || {
            Ok(Encoder::Opus(Box::new(OpusEncoder::new(
                OPUS_TONE_RATE,
                complexity,
            )?)))
        })
    }

    /// Frames toward the PBX in its negotiated `codec`; `None` for [`RingbackStyle::None`].
    pub fn for_pbx(
        style: RingbackStyle,
        codec: PbxCodec,
        complexity: i32,
    ) -> Result<Option<Self>, CodecError> {
        let rate = if codec.is_passthrough() {
            OPUS_TONE_RATE
        } else {
            codec.audio_rate()
        };
        Self::build(style, rate, codec.frame_ticks(), || {
            Ok(match codec {
                PbxCodec::Pcmu => Encoder::Pcmu,
                PbxCodec::Pcma => Encoder::Pcma,
                PbxCodec::G722 => Encoder::G722(Box::default()),
                PbxCodec::Opus { .. } => {
                    Encoder::Opus(Box::new(OpusEncoder::new(OPUS_TONE_RATE, complexity)?))
                }
            })
        })
    }

    fn build(
        style: RingbackStyle,
        rate: u32,
        ticks: u32,
        encoder: impl FnOnce() -> Result<Encoder, CodecError>,
    ) -> Result<Option<Self>, CodecError> {
        let Some(tone) = RingbackTone::new(style, rate) else {
            return Ok(None);
        };
        let pcm = vec![0; tone.frame_samples()];
        Ok(Some(Self {
            tone,
            encoder: encoder()?,
            ticks,
            pcm,
        }))
    }

    /// RTP ticks of one frame on the leg's clock.
    #[must_use]
    pub fn frame_ticks(&self) -> u32 {
        self.ticks
    }

    /// Encodes the next 20 ms into `out`; returns the payload length.
    pub fn next_frame(&mut self, out: &mut [u8]) -> Result<usize, CodecError> {
        let n = self.tone.next_frame(&mut self.pcm);
        let pcm = &self.pcm[..n];
        match &mut self.encoder {
            Encoder::Opus(e) => e.encode(pcm, out),
            Encoder::Pcmu => Ok(g711::encode_ulaw(pcm, out)),
            Encoder::Pcma => Ok(g711::encode_alaw(pcm, out)),
            Encoder::G722(e) => e.encode(pcm, out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::analysis::{dominant_frequency, goertzel_power, rms};
    use crate::media::codec::OpusDecoder;

    /// `secs` of `style` at `rate`.
    fn tone(style: RingbackStyle, rate: u32, secs: u32) -> Vec<i16> {
        let mut t = RingbackTone::new(style, rate).unwrap();
        let mut pcm = vec![0; t.frame_samples()];
        let mut all = Vec::new();
        for _ in 0..secs * 50 {
            let n = t.next_frame(&mut pcm);
            all.extend_from_slice(&pcm[..n]);
        }
        all
    }

    /// Milliseconds of each 20 ms frame that carry sound, over `secs`.
    fn sounding_frames(style: RingbackStyle, secs: u32) -> Vec<bool> {
        tone(style, 8000, secs)
            .chunks(160)
            .map(|f| rms(f) > 0.01)
            .collect()
    }

    #[test]
    fn european_ringback_is_425_hz_one_second_on_four_off() {
        let pcm = tone(RingbackStyle::Eu, 8000, 10);
        let hz = dominant_frequency(&pcm[..8000], 8000).unwrap();
        assert!((hz - 425.0).abs() < 3.0, "{hz}");
        let on = sounding_frames(RingbackStyle::Eu, 10);
        assert!(on[..50].iter().all(|&s| s), "first second sounds");
        assert!(on[50..250].iter().all(|&s| !s), "four seconds of silence");
        assert!(on[250..300].iter().all(|&s| s), "and again");
    }

    #[test]
    fn american_ringback_is_440_plus_480_hz_two_seconds_on_four_off() {
        let pcm = tone(RingbackStyle::Us, 8000, 2);
        let p440 = goertzel_power(&pcm, 8000, 440.0);
        let p480 = goertzel_power(&pcm, 8000, 480.0);
        let p460 = goertzel_power(&pcm, 8000, 460.0);
        assert!(
            p440 > 100.0 * p460 && p480 > 100.0 * p460,
            "{p440} {p480} {p460}"
        );
        let on = sounding_frames(RingbackStyle::Us, 6);
        assert_eq!(on.iter().filter(|&&s| s).count(), 100);
        assert!(on[..100].iter().all(|&s| s));
    }

    #[test]
    fn british_ringback_rings_twice_per_three_seconds() {
        let on = sounding_frames(RingbackStyle::Uk, 3);
        let bursts = on.windows(2).filter(|w| !w[0] && w[1]).count() + usize::from(on[0]);
        assert_eq!(bursts, 2, "{on:?}");
        assert_eq!(on.iter().filter(|&&s| s).count(), 40, "0.4 s + 0.4 s");
    }

    #[test]
    fn no_style_makes_no_ringback() {
        assert!(RingbackTone::new(RingbackStyle::None, 8000).is_none());
        assert!(
            Ringback::for_whatsapp(RingbackStyle::None, 1)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn opus_ringback_decodes_to_the_tone_and_g711_frames_fill_a_slot() {
        let mut rb = Ringback::for_whatsapp(RingbackStyle::Eu, 1)
            .unwrap()
            .unwrap();
        assert_eq!(rb.frame_ticks(), 960);
        let mut dec = OpusDecoder::new(8000).unwrap();
        let (mut buf, mut pcm, mut heard) = ([0u8; 400], [0i16; 960], Vec::new());
        for _ in 0..50 {
            let n = rb.next_frame(&mut buf).unwrap();
            let got = dec.decode(&buf[..n], &mut pcm).unwrap();
            heard.extend_from_slice(&pcm[..got]);
        }
        let hz = dominant_frequency(&heard[1600..], 8000).unwrap();
        assert!((hz - 425.0).abs() < 5.0, "{hz}");
        for (codec, bytes) in [
            (PbxCodec::Pcmu, 160),
            (PbxCodec::Pcma, 160),
            (PbxCodec::G722, 160),
        ] {
            let mut rb = Ringback::for_pbx(RingbackStyle::Eu, codec, 1)
                .unwrap()
                .unwrap();
            let frame = (rb.next_frame(&mut buf).unwrap(), rb.frame_ticks());
            assert_eq!(frame, (bytes, 160), "{codec:?}");
        }
        let mut opus = Ringback::for_pbx(RingbackStyle::Eu, PbxCodec::Opus { pt: 107 }, 1)
            .unwrap()
            .unwrap();
        assert!(opus.next_frame(&mut buf).unwrap() > 0);
        assert_eq!(opus.frame_ticks(), 960);
    }
}
