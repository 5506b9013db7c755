//! The time side of a call's legs: [`FrameClock`], when the next frame toward WhatsApp is due,
//! and [`LegTimer`], the one timer the legs wait on (the earliest of str0m's timeout, the PBX
//! leg's SIP timers, the ICE grace or PBX linger deadline and the frame clock).
//!
//! # Frames toward WhatsApp
//!
//! PBX audio goes to WhatsApp the moment it arrives (one frame per PBX packet, no queueing
//! behind a clock); the frame clock only fills in: when no frame went out for 20 ms (before the
//! PBX answered or `accept` succeeded, while the PBX holds or says nothing) it sends comfort
//! silence, or the bridge's queued audio or DTMF, every 20 ms on a fixed phase. After a frame
//! sent on arrival the clock waits [`GRACE`] longer, so PBX jitter does not put a silence frame
//! in front of late audio. So Meta still gets a frame at least every 20 ms (plus the grace
//! while audio flows), and a call with audio flowing wakes its task once per packet, not
//! twice.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio::time::{Instant, Sleep};

/// One frame toward WhatsApp.
pub const FRAME: Duration = Duration::from_millis(20);
/// Extra wait after a frame sent on arrival of PBX audio, for the PBX's jitter.
pub const GRACE: Duration = Duration::from_millis(10);

/// When the next frame toward WhatsApp is due (see the module docs).
#[derive(Debug, Default)]
pub(super) struct FrameClock {
    next: Option<Instant>,
    /// The next PBX-bound DTMF slot while a WhatsApp digit is relayed: WhatsApp sends digits
    /// instead of audio, so no audio frame paces them; they keep their own 20 ms phase (tones
    /// played in-band must reach the PBX as continuous audio).
    pbx_slot: Option<Instant>,
}

impl FrameClock {
    /// Media is up: the first frame is due now.
    pub fn start(&mut self, now: Instant) {
        self.next.get_or_insert(now);
    }

    /// No more frames (the leg failed or the call ended).
    pub fn stop(&mut self) {
        self.next = None;
    }

    /// When the clock wants a frame sent, if running.
    pub fn deadline(&self) -> Option<Instant> {
        self.next
    }

    /// Whether the clock's frame is due.
    pub fn due(&self, now: Instant) -> bool {
        self.next.is_some_and(|t| t <= now)
    }

    /// A frame went out at `now`: on the arrival of PBX audio (`on_arrival`), or because the
    /// clock was due (it keeps its phase, catching up at most one frame behind).
    pub fn sent(&mut self, now: Instant, on_arrival: bool) {
        let Some(next) = self.next else { return };
        self.next = Some(if on_arrival {
            now + FRAME + GRACE
        } else {
            (next + FRAME).max(now)
        });
    }

    /// A WhatsApp digit is being relayed: PBX slots from now on (the first one is due now).
    pub fn start_pbx_slots(&mut self, now: Instant) {
        self.pbx_slot.get_or_insert(now);
    }

    /// The digit (and its end packets or trailing gap) is out: no more PBX slots.
    pub fn stop_pbx_slots(&mut self) {
        self.pbx_slot = None;
    }

    /// When the next PBX slot is due, while digits are relayed.
    pub fn pbx_slot_deadline(&self) -> Option<Instant> {
        self.pbx_slot
    }

    /// Whether a PBX slot is due; if so the next one is scheduled 20 ms after it (keeping the
    /// phase, at most one slot behind).
    pub fn take_pbx_slot(&mut self, now: Instant) -> bool {
        match self.pbx_slot {
            Some(t) if t <= now => {
                self.pbx_slot = Some((t + FRAME).max(now));
                true
            }
            _ => false,
        }
    }
}

/// One reusable timer (registering a fresh timer on every wake-up costs more than the rest of
/// a passthrough packet's work).
pub(super) struct LegTimer {
    sleep: Pin<Box<Sleep>>,
    armed: Option<Instant>,
}

impl Default for LegTimer {
    fn default() -> Self {
        Self {
            sleep: Box::pin(tokio::time::sleep(Duration::from_secs(86_400))),
            armed: None,
        }
    }
}

impl LegTimer {
    /// Fires at `at` (`None`: never); cheap when unchanged.
    pub fn arm(&mut self, at: Option<Instant>) {
        if at != self.armed {
            if let Some(t) = at {
                self.sleep.as_mut().reset(t);
            }
            self.armed = at;
        }
    }

    /// Waits until the armed instant. Cancel-safe.
    pub fn wait(&mut self) -> impl Future<Output = ()> + '_ {
        let armed = self.armed.is_some();
        let sleep = self.sleep.as_mut();
        async move {
            if armed {
                sleep.await;
            } else {
                std::future::pending::<()>().await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn clock_keeps_its_phase_and_gives_late_audio_a_grace() {
        let t0 = Instant::now();
        let mut c = FrameClock::default();
        assert_eq!(c.deadline(), None);
        c.start(t0);
        assert!(c.due(t0));
        c.sent(t0 + 2 * MS, false); // a late wake-up does not shift the phase
        assert_eq!(c.deadline(), Some(t0 + 20 * MS));
        c.sent(t0 + 25 * MS, true); // PBX audio went out on arrival
        assert_eq!(c.deadline(), Some(t0 + 55 * MS));
        c.sent(t0 + 90 * MS, false); // far behind: next frame now, not a burst
        assert_eq!(c.deadline(), Some(t0 + 90 * MS));
        c.stop();
        assert!(!c.due(t0 + 100 * MS));
    }

    #[test]
    fn pbx_dtmf_slots_keep_a_20_ms_phase_of_their_own_while_digits_are_relayed() {
        let t0 = Instant::now();
        let mut c = FrameClock::default();
        assert!(!c.take_pbx_slot(t0), "no digit, no slot");
        c.start_pbx_slots(t0);
        assert!(c.take_pbx_slot(t0));
        assert!(!c.take_pbx_slot(t0 + 10 * MS));
        assert_eq!(c.pbx_slot_deadline(), Some(t0 + 20 * MS));
        // The WhatsApp frame clock moving (PBX audio sent on arrival) does not move the slots.
        c.start(t0);
        c.sent(t0 + 5 * MS, true);
        assert!(c.take_pbx_slot(t0 + 22 * MS), "a late wake-up");
        assert_eq!(c.pbx_slot_deadline(), Some(t0 + 40 * MS), "keeps the phase");
        assert!(c.take_pbx_slot(t0 + 75 * MS), "far behind");
        assert_eq!(
            c.pbx_slot_deadline(),
            Some(t0 + 75 * MS),
            "the next one now, not a burst"
        );
        c.stop_pbx_slots();
        assert!(!c.take_pbx_slot(t0 + 200 * MS));
    }
}
