//! Signal analysis for tests and the demo: dominant frequency by a Goertzel scan over
//! 100-4000 Hz and RMS level in dBFS. Not used on the per-packet path.

/// Power of `freq` in `samples` (Goertzel algorithm), normalised by length.
#[must_use]
pub fn goertzel_power(samples: &[i16], rate: u32, freq: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let w = 2.0 * std::f64::consts::PI * freq / f64::from(rate);
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in samples {
        let s0 = f64::from(x) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    power / (samples.len() as f64).powi(2)
}

/// The strongest frequency between 100 Hz and 4000 Hz (or Nyquist), scanned in 5 Hz steps and
/// refined to 1 Hz around the peak. `None` for silence or too few samples (< 10 ms).
#[must_use]
pub fn dominant_frequency(samples: &[i16], rate: u32) -> Option<f64> {
    if samples.len() < rate as usize / 100 || samples.iter().all(|&s| s == 0) {
        return None;
    }
    let top = 4000.0f64.min(f64::from(rate) / 2.0 - 50.0);
    let scan = |from: f64, to: f64, step: f64| {
        let mut best = (from, -1.0f64);
        let mut f = from;
        while f <= to {
            let p = goertzel_power(samples, rate, f);
            if p > best.1 {
                best = (f, p);
            }
            f += step;
        }
        best.0
    };
    let coarse = scan(100.0, top, 5.0);
    Some(scan(
        (coarse - 5.0).max(100.0),
        (coarse + 5.0).min(top),
        1.0,
    ))
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
