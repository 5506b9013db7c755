//! The time side of a call's legs: [`FrameClock`], when the next frame toward WhatsApp is due,
//! [`MediaWatch`], whether the PBX still sends media, and [`LegTimer`], the one timer the legs
//! wait on (the earliest of str0m's timeout, the PBX leg's SIP timers, the ICE grace or PBX
//! linger deadline, the frame clock and the media watch).
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

/// Watches the PBX's media while its leg is up and not on hold: no RTP or RTCP for the whole
/// timeout means the PBX is gone without a BYE (it crashed, lost its network or a NAT binding).
/// Media arriving only records the time; the one deadline moves when it fires, so a call with
/// audio flowing never re-arms a timer per packet.
#[derive(Debug, Default)]
pub(super) struct MediaWatch {
    timeout: Option<Duration>,
    last: Option<Instant>,
    check: Option<Instant>,
}

impl MediaWatch {
    /// A watch with `timeout` (`None`: never fires).
    pub fn new(timeout: Option<Duration>) -> Self {
        Self {
            timeout,
            ..Self::default()
        }
    }

    /// Watching starts now (the PBX's media is up, or it resumed from hold).
    pub fn arm(&mut self, now: Instant) {
        if let Some(t) = self.timeout {
            self.last = Some(now);
            self.check = Some(now + t);
        }
    }

    /// Watching stops (hold, or the call is over).
    pub fn disarm(&mut self) {
        self.check = None;
    }

    /// RTP or RTCP arrived from the PBX.
    pub fn heard(&mut self, now: Instant) {
        self.last = Some(now);
    }

    /// When the watch wants to look again, while armed.
    pub fn deadline(&self) -> Option<Instant> {
        self.check
    }

    /// Looks at `now`: true (once; the watch stops) when nothing came for the whole timeout,
    /// otherwise the next look is set to when it would have.
    pub fn expired(&mut self, now: Instant) -> bool {
        let (Some(check), Some(timeout), Some(last)) = (self.check, self.timeout, self.last) else {
            return false;
        };
        if now < check {
            return false;
        }
        let silent_until = last + timeout;
        if now >= silent_until {
            self.check = None;
            return true;
        }
        self.check = Some(silent_until);
        false
    }

    /// The timeout, if the watch is on.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
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

    #[test]
    fn media_watch_fires_once_after_a_whole_timeout_of_silence_and_not_while_media_flows() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut w = MediaWatch::new(Some(10 * s));
        assert_eq!(w.deadline(), None, "not armed before the media is up");
        w.arm(t0);
        assert_eq!(w.deadline(), Some(t0 + 10 * s));
        for i in 1..=20 {
            w.heard(t0 + i * s / 2); // media every 500 ms for 10 s
        }
        assert_eq!(
            w.deadline(),
            Some(t0 + 10 * s),
            "media does not move the timer"
        );
        assert!(!w.expired(t0 + 10 * s));
        assert_eq!(
            w.deadline(),
            Some(t0 + 20 * s),
            "re-armed from the last packet"
        );
        assert!(!w.expired(t0 + 19 * s), "early wake-up");
        assert!(w.expired(t0 + 20 * s), "silent since 10 s");
        assert_eq!(w.deadline(), None);
        assert!(!w.expired(t0 + 40 * s), "once");
    }

    #[test]
    fn media_watch_sleeps_on_hold_and_without_a_timeout() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut w = MediaWatch::new(Some(10 * s));
        w.arm(t0);
        w.disarm(); // the PBX put the call on hold
        assert!(!w.expired(t0 + 60 * s));
        w.arm(t0 + 60 * s); // resumed
        assert!(w.expired(t0 + 70 * s));
        let mut off = MediaWatch::new(None);
        off.arm(t0);
        assert_eq!(off.deadline(), None);
        assert!(!off.expired(t0 + 3600 * s));
    }
}
