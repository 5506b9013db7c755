//! Signal analysis for tests, the demo, the sandbox phone and the load generator: RMS level,
//! Goertzel power and the dominant frequency (a windowed Goertzel scan). Not used on the
//! per-packet path.

use std::f64::consts::PI;

/// RMS level as a fraction of full scale (0..1).
pub fn rms(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let sum: f64 = samples
        .iter()
        .map(|&s| (f64::from(s) / 32768.0).powi(2))
        .sum();
    (sum / samples.len() as f64).sqrt()
}

/// The power of `samples` at `hz` (Goertzel algorithm), normalised by the length.
pub fn goertzel_power(samples: &[i16], rate: u32, hz: f64) -> f64 {
    let w = 2.0 * PI * hz / f64::from(rate);
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in samples {
        let s0 = f64::from(x) / 32768.0 + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    power / (samples.len().max(1) as f64).powi(2)
}

/// The power at `hz` summed over blocks of `window.len()` samples, each weighted by `window` (a
/// Hann window, at most as long as the signal). A block of T seconds has a main lobe of +-2/T Hz and no null inside it, so a scan in
/// steps of 1/T never falls between a tone and its neighbours' nulls (an unwindowed scan over a
/// whole recording does, and then picks a harmonic).
fn block_power(samples: &[i16], rate: u32, hz: f64, window: &[f64]) -> f64 {
    let w = 2.0 * PI * hz / f64::from(rate);
    let coeff = 2.0 * w.cos();
    samples
        .chunks_exact(window.len())
        .map(|chunk| {
            let (mut s1, mut s2) = (0.0f64, 0.0f64);
            for (&x, &hann) in chunk.iter().zip(window) {
                let s0 = hann * f64::from(x) / 32768.0 + coeff * s1 - s2;
                s2 = s1;
                s1 = s0;
            }
            s1 * s1 + s2 * s2 - coeff * s1 * s2
        })
        .sum()
}

/// The dominant frequency between 50 Hz and 8 kHz: a 25 Hz scan on 80 ms blocks, refined in 1 Hz
/// steps on 1 s blocks around the best bin (see [`block_power`]). `None` when the signal is (near)
/// silent.
pub fn dominant_frequency(samples: &[i16], rate: u32) -> Option<f64> {
    if samples.len() < (rate / 50) as usize || rms(samples) < 0.001 {
        return None;
    }
    let top = (f64::from(rate) / 2.0 - 50.0).min(8000.0);
    let best_in = |lo: f64, hi: f64, step: f64| {
        let block = ((f64::from(rate) * 2.0 / step) as usize).clamp(2, samples.len());
        let n = (block - 1) as f64;
        let window: Vec<f64> = (0..block)
            .map(|i| 0.5 - 0.5 * (2.0 * PI * i as f64 / n).cos())
            .collect();
        let mut best = (lo, f64::MIN);
        let mut f = lo;
        while f <= hi {
            let p = block_power(samples, rate, f, &window);
            if p > best.1 {
                best = (f, p);
            }
            f += step;
        }
        best.0
    };
    let coarse = best_in(50.0, top, 25.0);
    Some(best_in((coarse - 25.0).max(20.0), coarse + 25.0, 1.0))
}

/// RMS level in dBFS (a full-scale sine reads about -3 dBFS); `-inf` for digital silence.
#[must_use]
pub fn rms_dbfs(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return f64::NEG_INFINITY;
    }
    let sum: f64 = samples.iter().map(|&s| f64::from(s).powi(2)).sum();
    let rms = (sum / samples.len() as f64).sqrt();
    20.0 * (rms / 32768.0).log10()
}

pub mod tone {
    //! Tone generator (tests, the demo's and the load generator's SIP agent).

    /// `n` samples of a sine at `freq` Hz and `amplitude` (0..=1 of full scale), from `phase`
    /// sample index `start` (so consecutive frames join without a click).
    pub fn sine(freq: f64, rate: u32, amplitude: f64, start: usize, n: usize) -> Vec<i16> {
        (start..start + n)
            .map(|i| {
                let t = i as f64 / f64::from(rate);
                (amplitude * 32767.0 * (2.0 * std::f64::consts::PI * freq * t).sin()) as i16
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::tone::sine;
    use super::*;

    #[test]
    fn finds_the_tone_and_its_level() {
        let s = sine(440.0, 8000, 0.5, 0, 8000);
        let f = dominant_frequency(&s, 8000).unwrap();
        assert!((f - 440.0).abs() <= 2.0, "{f}");
        let level = rms_dbfs(&s);
        assert!((level - (-9.03)).abs() < 0.2, "{level}");
        let s = sine(1000.0, 48_000, 0.1, 0, 4800);
        let f = dominant_frequency(&s, 48_000).unwrap();
        assert!((f - 1000.0).abs() <= 2.0, "{f}");
    }

    #[test]
    fn silence_has_no_dominant_frequency() {
        assert_eq!(dominant_frequency(&[0; 800], 8000), None);
        assert_eq!(rms_dbfs(&[0; 10]), f64::NEG_INFINITY);
    }
}
