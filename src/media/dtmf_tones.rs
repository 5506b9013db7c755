//! In-band DTMF (ITU-T Q.23 frequencies, Q.24 timing): WhatsApp's digits played as dual tones
//! in the PBX-bound audio when the PBX leg negotiated no `telephone-event` (sipp's built-in
//! UAS, some trunks and IVRs that only listen to tones). Without it the WhatsApp user's key
//! presses would vanish and IVR menus would never hear them.
//!
//! A digit sounds for as long as the user holds the key, at least [`MIN_TONE`], followed by
//! [`GAP`] of silence so two presses of the same key stay two digits.

use std::f64::consts::PI;
use std::time::Duration;

/// Shortest tone (Q.24 asks receivers to accept 40 ms; PBX detectors are happier with more).
pub const MIN_TONE: Duration = Duration::from_millis(80);
/// Silence after each digit.
pub const GAP: Duration = Duration::from_millis(60);
/// Amplitude of each of the two tones, as a fraction of full scale (about -14 dBFS each).
const AMPLITUDE: f64 = 0.2;

/// The (row, column) frequencies of `digit` on the keypad; `None` for other characters.
#[must_use]
pub fn frequencies(digit: char) -> Option<(f64, f64)> {
    const ROWS: [f64; 4] = [697.0, 770.0, 852.0, 941.0];
    const COLS: [f64; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
    const KEYS: [&str; 4] = ["123A", "456B", "789C", "*0#D"];
    KEYS.iter().enumerate().find_map(|(row, keys)| {
        let col = keys.find(digit.to_ascii_uppercase())?;
        Some((ROWS[row], COLS[col]))
    })
}

#[derive(Debug, Clone, Copy)]
enum State {
    Idle,
    Tone {
        freqs: (f64, f64),
        /// Samples played so far.
        played: u64,
        /// Samples the tone lasts, once known (the key was released or its duration given).
        length: Option<u64>,
    },
    Gap {
        left: u64,
    },
}

/// Dual-tone generator for one PBX leg, 20 ms at a time.
#[derive(Debug, Clone)]
pub struct DtmfTones {
    rate: u32,
    state: State,
}

impl DtmfTones {
    /// A generator for PCM at `rate` Hz.
    #[must_use]
    pub fn new(rate: u32) -> Self {
        Self {
            rate,
            state: State::Idle,
        }
    }

    fn samples(&self, d: Duration) -> u64 {
        (d.as_micros() * u128::from(self.rate) / 1_000_000) as u64
    }

    /// A key went down: its tone starts (cutting a running one short). False for a key that
    /// has no tone.
    pub fn start(&mut self, digit: char) -> bool {
        let Some(freqs) = frequencies(digit) else {
            return false;
        };
        self.state = State::Tone {
            freqs,
            played: 0,
            length: None,
        };
        true
    }

    /// A whole key press whose start was not seen: plays it for `duration`.
    pub fn play(&mut self, digit: char, duration: Duration) -> bool {
        if !self.start(digit) {
            return false;
        }
        self.stop_after(duration);
        true
    }

    /// The key was released after being `held` (as the sender measured it): the tone ends
    /// once it has lasted that long, [`MIN_TONE`] at least (at once if it already has).
    pub fn stop(&mut self, held: Duration) {
        if let State::Tone { played, .. } = self.state {
            let played = Duration::from_micros(played * 1_000_000 / u64::from(self.rate));
            self.stop_after(played.max(held));
        }
    }

    fn stop_after(&mut self, duration: Duration) {
        let min = self.samples(MIN_TONE.max(duration));
        if let State::Tone { length, .. } = &mut self.state {
            *length = Some(min);
        }
    }

    /// True while a key is down (its tone plays and its end is not known yet).
    #[must_use]
    pub fn is_held(&self) -> bool {
        matches!(self.state, State::Tone { length: None, .. })
    }

    /// True while a tone or its trailing gap is being played.
    #[must_use]
    pub fn is_active(&self) -> bool {
        !matches!(self.state, State::Idle)
    }

    /// Fills `out` (one frame) with the tone or the gap's silence; false (and `out` untouched)
    /// when idle.
    pub fn next_frame(&mut self, out: &mut [i16]) -> bool {
        self.settle();
        if !self.is_active() {
            return false;
        }
        let rate = f64::from(self.rate);
        for s in out.iter_mut() {
            self.settle();
            *s = match &mut self.state {
                State::Tone {
                    freqs: (low, high),
                    played,
                    ..
                } => {
                    let t = *played as f64 / rate;
                    *played += 1;
                    let v = (2.0 * PI * *low * t).sin() + (2.0 * PI * *high * t).sin();
                    (AMPLITUDE * 32767.0 * v) as i16
                }
                State::Gap { left } => {
                    *left = left.saturating_sub(1);
                    0
                }
                State::Idle => 0,
            };
        }
        self.settle();
        true
    }

    /// Moves on from a finished tone to its gap, and from a finished gap to idle.
    fn settle(&mut self) {
        match self.state {
            State::Tone {
                played,
                length: Some(l),
                ..
            } if played >= l => {
                self.state = State::Gap {
                    left: self.samples(GAP),
                };
            }
            State::Gap { left: 0 } => self.state = State::Idle,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::analysis::goertzel_power;

    /// Frames until idle, each with whether it carried sound.
    fn frames(g: &mut DtmfTones, max: usize) -> Vec<(bool, Vec<i16>)> {
        let mut v = Vec::new();
        let mut pcm = vec![0i16; 160];
        while v.len() < max && g.next_frame(&mut pcm) {
            v.push((pcm.iter().any(|&s| s != 0), pcm.clone()));
        }
        v
    }

    #[test]
    fn every_key_has_its_row_and_column_tone() {
        assert_eq!(frequencies('1'), Some((697.0, 1209.0)));
        assert_eq!(frequencies('5'), Some((770.0, 1336.0)));
        assert_eq!(frequencies('#'), Some((941.0, 1477.0)));
        assert_eq!(frequencies('d'), Some((941.0, 1633.0)));
        assert_eq!(frequencies('x'), None);
    }

    #[test]
    fn a_held_key_sounds_until_released_then_leaves_a_gap() {
        let mut g = DtmfTones::new(8000);
        assert!(g.start('5'));
        let held = frames(&mut g, 10);
        assert_eq!(held.len(), 10, "sounds while held");
        let pcm: Vec<i16> = held.iter().flat_map(|(_, f)| f.clone()).collect();
        let on = |hz| goertzel_power(&pcm, 8000, hz);
        for other in [697.0, 852.0, 941.0, 1209.0, 1477.0, 1633.0] {
            assert!(on(770.0) > 50.0 * on(other) && on(1336.0) > 50.0 * on(other));
        }
        g.stop(Duration::from_millis(120)); // the sender counted less than was played
        let rest = frames(&mut g, 100);
        // Released after 200 ms: the tone ends at once, then 60 ms (3 frames) of silence.
        assert_eq!(
            rest.len(),
            3,
            "{:?}",
            rest.iter().map(|f| f.0).collect::<Vec<_>>()
        );
        assert!(rest.iter().all(|(sound, _)| !sound));
        assert!(!g.is_active());
    }

    #[test]
    fn a_release_reported_early_still_plays_the_whole_press() {
        let mut g = DtmfTones::new(8000);
        g.start('9');
        frames(&mut g, 2); // 40 ms played when the end arrives, for a 100 ms press
        g.stop(Duration::from_millis(100));
        let sound: Vec<bool> = frames(&mut g, 100).iter().map(|f| f.0).collect();
        assert_eq!(sound, [true, true, true, false, false, false]);
    }

    #[test]
    fn a_short_press_lasts_the_minimum_and_a_whole_press_its_duration() {
        let mut g = DtmfTones::new(8000);
        g.start('1');
        frames(&mut g, 1);
        g.stop(Duration::ZERO);
        let sound: Vec<bool> = frames(&mut g, 100).iter().map(|f| f.0).collect();
        assert_eq!(
            sound,
            [true, true, true, false, false, false],
            "80 ms, then the gap"
        );

        let mut g = DtmfTones::new(16_000);
        assert!(g.play('#', Duration::from_millis(200)));
        let mut pcm = vec![0i16; 320];
        let mut n = 0;
        while g.next_frame(&mut pcm) {
            n += 1;
        }
        assert_eq!(n, 13, "200 ms of tone and 60 ms of gap");
        assert!(!g.play('x', Duration::from_millis(100)));
    }
}
