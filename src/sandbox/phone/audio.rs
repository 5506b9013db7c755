//! The phone's audio plumbing, free of IO except WAV files: the 48 kHz mono sources it plays (a
//! sine tone or a looped WAV), 16-bit PCM WAV reading and writing, and the analysis its media
//! report uses (RMS level and the dominant frequency, from [`crate::media::analysis`]).

use std::f64::consts::PI;
use std::path::Path;

/// The phone's internal sample rate (Opus runs at 48 kHz).
pub const SAMPLE_RATE: u32 = 48_000;
/// Samples in one 20 ms frame at [`SAMPLE_RATE`].
pub const FRAME_SAMPLES: usize = 960;

/// Why a WAV file could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WavError {
    /// The file could not be opened, read or written.
    #[error("WAV file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The IO error.
        source: std::io::Error,
    },
    /// The file is not a 16-bit PCM RIFF/WAVE file.
    #[error(
        "WAV file {path} is not 16-bit PCM RIFF/WAVE ({what}): convert it, e.g. `sox in.wav -b 16 -e signed out.wav`"
    )]
    Format {
        /// The file.
        path: String,
        /// What is wrong with it.
        what: &'static str,
    },
}

/// Endless 48 kHz mono audio, handed out 20 ms at a time.
#[derive(Debug, Clone)]
pub enum Source {
    /// A sine tone at `hz` with amplitude `amplitude` (0..1 of full scale).
    Tone {
        /// Frequency in Hz.
        hz: f64,
        /// Peak amplitude, fraction of full scale.
        amplitude: f64,
        /// The next sample index.
        pos: u64,
    },
    /// Samples played in a loop.
    Looped {
        /// 48 kHz mono samples (never empty).
        samples: Vec<i16>,
        /// The next sample index.
        pos: usize,
    },
    /// Digital silence.
    Silence,
}

impl Source {
    /// A tone at half of full scale.
    pub fn tone(hz: f64) -> Self {
        Source::Tone {
            hz,
            amplitude: 0.5,
            pos: 0,
        }
    }

    /// A WAV file (any rate, mono or stereo 16-bit PCM), resampled to 48 kHz mono, looped.
    pub fn wav(path: &Path) -> Result<Self, WavError> {
        let (samples, rate) = read_wav_mono(path)?;
        let samples = resample_linear(&samples, rate, SAMPLE_RATE);
        if samples.is_empty() {
            return Ok(Source::Silence);
        }
        Ok(Source::Looped { samples, pos: 0 })
    }

    /// The next 20 ms frame.
    pub fn next_frame(&mut self) -> [i16; FRAME_SAMPLES] {
        let mut out = [0i16; FRAME_SAMPLES];
        match self {
            Source::Tone { hz, amplitude, pos } => {
                for s in out.iter_mut() {
                    let t = *pos as f64 / f64::from(SAMPLE_RATE);
                    *s = ((2.0 * PI * *hz * t).sin() * *amplitude * 32767.0) as i16;
                    *pos += 1;
                }
            }
            Source::Looped { samples, pos } => {
                for s in out.iter_mut() {
                    *s = samples[*pos];
                    *pos = (*pos + 1) % samples.len();
                }
            }
            Source::Silence => {}
        }
        out
    }
}

/// Reads a 16-bit PCM WAV file, mixing stereo down to mono. Returns the samples and the rate.
pub fn read_wav_mono(path: &Path) -> Result<(Vec<i16>, u32), WavError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| WavError::Io {
        path: name.clone(),
        source,
    })?;
    let bad = |what| WavError::Format {
        path: name.clone(),
        what,
    };
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err(bad("no RIFF/WAVE header"));
    }
    let mut fmt: Option<(u16, u16, u32, u16)> = None;
    let mut at = 12;
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().expect("4 bytes")) as usize;
        let body = &bytes[at + 8..(at + 8 + len).min(bytes.len())];
        if id == b"fmt " {
            if body.len() < 16 {
                return Err(bad("short fmt chunk"));
            }
            let le16 = |i: usize| u16::from_le_bytes([body[i], body[i + 1]]);
            let rate = u32::from_le_bytes(body[4..8].try_into().expect("4 bytes"));
            fmt = Some((le16(0), le16(2), rate, le16(14)));
        } else if id == b"data" {
            let (format, channels, rate, bits) = fmt.ok_or_else(|| bad("data before fmt"))?;
            if !(format == 1 || format == 0xFFFE) || bits != 16 {
                return Err(bad("not 16-bit PCM"));
            }
            if channels == 0 || rate == 0 {
                return Err(bad("zero channels or rate"));
            }
            let ch = usize::from(channels);
            let frames: Vec<i16> = body
                .chunks_exact(2 * ch)
                .map(|f| {
                    let sum: i32 = f
                        .chunks_exact(2)
                        .map(|s| i32::from(i16::from_le_bytes([s[0], s[1]])))
                        .sum();
                    (sum / channels as i32) as i16
                })
                .collect();
            return Ok((frames, rate));
        }
        at += 8 + len + (len & 1);
    }
    Err(bad("no data chunk"))
}

/// Writes mono 16-bit PCM samples as a WAV file.
pub fn write_wav_mono(path: &Path, samples: &[i16], rate: u32) -> Result<(), WavError> {
    let data_len = (samples.len() * 2) as u32;
    let mut out = Vec::with_capacity(44 + samples.len() * 2);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
    std::fs::write(path, out).map_err(|source| WavError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// Linear resampling (good enough for test tones and speech prompts).
pub fn resample_linear(samples: &[i16], from: u32, to: u32) -> Vec<i16> {
    if from == to || samples.is_empty() {
        return samples.to_vec();
    }
    let n = (samples.len() as u64 * u64::from(to) / u64::from(from)) as usize;
    (0..n)
        .map(|i| {
            let x = i as f64 * f64::from(from) / f64::from(to);
            let k = x.floor() as usize;
            let frac = x - k as f64;
            let a = f64::from(samples[k.min(samples.len() - 1)]);
            let b = f64::from(samples[(k + 1).min(samples.len() - 1)]);
            (a + (b - a) * frac) as i16
        })
        .collect()
}

pub use crate::media::analysis::{dominant_frequency, goertzel_power, rms};

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(hz: f64, ms: usize) -> Vec<i16> {
        let mut src = Source::tone(hz);
        let mut v = Vec::new();
        for _ in 0..ms / 20 {
            v.extend_from_slice(&src.next_frame());
        }
        v
    }

    /// A whole number of tenths of a second puts 440 Hz exactly on a null of an unwindowed
    /// 450 Hz bin, where a weaker harmonic on the 25 Hz grid (2200 Hz) used to win.
    #[test]
    fn tone_with_a_harmonic_is_found_whatever_the_recording_length() {
        for tenths in [5usize, 10, 16, 18, 21] {
            let n = SAMPLE_RATE as usize * tenths / 10;
            let samples: Vec<i16> = (0..n)
                .map(|i| {
                    let t = i as f64 / f64::from(SAMPLE_RATE);
                    let x = (2.0 * PI * 440.0 * t).sin() + 0.2 * (2.0 * PI * 2200.0 * t).sin();
                    (x * 12000.0) as i16
                })
                .collect();
            let f = dominant_frequency(&samples, SAMPLE_RATE).unwrap();
            assert!((f - 440.0).abs() <= 2.0, "{tenths} tenths: {f}");
        }
    }

    #[test]
    fn goertzel_scan_finds_the_tone_frequency() {
        for hz in [440.0, 1000.0, 2600.0] {
            let f = dominant_frequency(&tone(hz, 500), SAMPLE_RATE).unwrap();
            assert!((f - hz).abs() <= 3.0, "{hz} -> {f}");
        }
    }

    #[test]
    fn silence_has_no_dominant_frequency_and_zero_rms() {
        let silent = vec![0i16; 48_000];
        assert_eq!(dominant_frequency(&silent, SAMPLE_RATE), None);
        assert_eq!(rms(&silent), 0.0);
    }

    #[test]
    fn half_scale_sine_has_rms_of_about_0_35() {
        let r = rms(&tone(440.0, 1000));
        assert!((r - 0.5 / 2f64.sqrt()).abs() < 0.01, "{r}");
    }

    #[test]
    fn wav_round_trip_resamples_8k_to_48k() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.wav");
        let t8 = resample_linear(&tone(1000.0, 1000), SAMPLE_RATE, 8000);
        write_wav_mono(&p, &t8, 8000).unwrap();
        let (back, rate) = read_wav_mono(&p).unwrap();
        assert_eq!((back.len(), rate), (8000, 8000));
        let mut src = Source::wav(&p).unwrap();
        let mut v = Vec::new();
        for _ in 0..25 {
            v.extend_from_slice(&src.next_frame());
        }
        let f = dominant_frequency(&v, SAMPLE_RATE).unwrap();
        assert!((f - 1000.0).abs() <= 3.0, "{f}");
    }

    #[test]
    fn non_pcm16_wav_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.wav");
        std::fs::write(&p, b"not a wav").unwrap();
        assert!(matches!(read_wav_mono(&p), Err(WavError::Format { .. })));
    }
}
