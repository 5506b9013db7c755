//! RFC 4733 DTMF on the WhatsApp leg (workaround L3 of `str0m-meta.md`).
//!
//! str0m's built-in telephone-event sender needs a telephone-event payload type with the audio
//! clock (48 kHz for Opus), but Meta only offers `telephone-event/8000`. So the packets are
//! written by hand, one per 20 ms audio tick, on the offer's 8 kHz payload type:
//! - the RTP timestamp of the whole event is the 48 kHz audio timestamp of its first tick (labelled
//!   as 8 kHz so str0m does not rescale it), so DTMF shares the audio SSRC, sequence space and
//!   timestamp base, as libwebrtc does;
//! - the duration (in 8 kHz units) grows by 20 ms per packet; the final report is sent 3 times;
//! - audio is suppressed while an event is on the wire (libwebrtc behaviour).
//!
//! Receiving works in str0m; [`DtmfReceiver`] reduces the per-packet reports to one start and one
//! end per digit.

use std::collections::VecDeque;
use std::time::Duration;

use str0m::media::TelephoneEvent;

use super::WaEvent;

/// One audio tick: the leg is driven with 20 ms Opus frames.
pub const TICK: Duration = Duration::from_millis(20);
/// How often the final report of an event is sent (RFC 4733 §2.5.1.4).
const END_REPEATS: u8 = 3;
/// Longest digit accepted; the 16-bit duration field holds ~8 s at 8 kHz.
const MAX_DIGIT: Duration = Duration::from_secs(5);

/// One packet the sender wants on the wire for the current tick.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DtmfPacket {
    /// The report to serialise at 8 kHz.
    pub report: TelephoneEvent,
    /// RTP timestamp of the event (the 48 kHz audio timestamp of its first tick).
    pub rtp_ts: u64,
    /// First packet of the event: sets the RTP marker bit.
    pub first: bool,
}

#[derive(Debug)]
struct Active {
    event: u8,
    total: Duration,
    rtp_ts: u64,
    sent: Duration,
    ends_sent: u8,
}

/// Queue of digits to send and the state of the one on the wire.
#[derive(Debug, Default)]
pub struct DtmfSender {
    queue: VecDeque<(u8, Duration)>,
    current: Option<Active>,
}

impl DtmfSender {
    /// Queues a digit; it starts on the next tick after the digits before it have ended.
    pub fn push(&mut self, event: u8, duration: Duration) {
        self.queue
            .push_back((event, duration.clamp(TICK, MAX_DIGIT)));
    }

    /// Takes the next queued digit without sending it (for str0m's own sender, L3 off).
    pub fn take_queued(&mut self) -> Option<(u8, Duration)> {
        self.queue.pop_front()
    }

    /// Whether a digit is on the wire or queued.
    pub fn is_busy(&self) -> bool {
        self.current.is_some() || !self.queue.is_empty()
    }

    /// Advances by one 20 ms tick whose audio timestamp is `rtp_ts_48k`. Returns the packet to
    /// send instead of that tick's audio frame, or `None` when no digit is being sent.
    pub fn tick(&mut self, rtp_ts_48k: u64) -> Option<DtmfPacket> {
        if self.current.is_none() {
            let (event, total) = self.queue.pop_front()?;
            self.current = Some(Active {
                event,
                total,
                rtp_ts: rtp_ts_48k,
                sent: Duration::ZERO,
                ends_sent: 0,
            });
        }
        let a = self.current.as_mut()?;
        let first = a.sent.is_zero();
        a.sent = (a.sent + TICK).min(a.total);
        let end = a.sent >= a.total;
        let packet = DtmfPacket {
            report: TelephoneEvent {
                event: a.event,
                end,
                volume: 10,
                duration: a.sent,
            },
            rtp_ts: a.rtp_ts,
            first,
        };
        if end {
            a.ends_sent += 1;
            if a.ends_sent >= END_REPEATS {
                self.current = None;
            }
        }
        Some(packet)
    }
}

/// Deduplicates received reports: one `end: false` and one `end: true` event per digit, told
/// apart by RTP timestamp. A digit whose start reports were all lost still yields both.
#[derive(Debug, Default)]
pub struct DtmfReceiver {
    last_ts: Option<u64>,
    ended: bool,
}

impl DtmfReceiver {
    /// Feeds one received report; returns the [`WaEvent::Dtmf`] events to surface (0 to 2).
    pub fn on_report(&mut self, rtp_ts: u64, report: &TelephoneEvent) -> Vec<WaEvent> {
        let ev = |end: bool| WaEvent::Dtmf {
            event: report.event,
            end,
            volume: report.volume,
            duration_8k: units_8k(report.duration),
            rtp_ts,
        };
        let mut out = Vec::new();
        if self.last_ts != Some(rtp_ts) {
            self.last_ts = Some(rtp_ts);
            self.ended = false;
            out.push(ev(false));
        }
        if report.end && !self.ended {
            self.ended = true;
            out.push(ev(true));
        }
        out
    }
}

fn units_8k(d: Duration) -> u16 {
    u16::try_from((d.as_micros() * 8 + 500) / 1000).unwrap_or(u16::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::dtmf::digit_to_event;

    #[test]
    fn digit_is_sent_on_one_timestamp_with_growing_duration_and_three_ends() {
        let mut s = DtmfSender::default();
        s.push(digit_to_event('5').unwrap(), Duration::from_millis(60));
        let packets: Vec<_> = (0..6u64).filter_map(|k| s.tick(9600 + 960 * k)).collect();
        assert_eq!(packets.len(), 5, "3 growing reports ... then 2 more ends");
        assert!(
            packets
                .iter()
                .all(|p| p.rtp_ts == 9600 && p.report.event == 5)
        );
        let durations: Vec<_> = packets
            .iter()
            .map(|p| p.report.duration.as_millis())
            .collect();
        assert_eq!(durations, [20, 40, 60, 60, 60]);
        let ends = packets.iter().filter(|p| p.report.end).count();
        assert_eq!(ends, 3);
        assert!(packets[0].first && !packets[1].first);
        assert!(!s.is_busy());
        assert_eq!(s.tick(20_000), None, "audio resumes after the third end");
    }

    #[test]
    fn queued_digits_follow_each_other_with_new_timestamps() {
        let mut s = DtmfSender::default();
        s.push(1, Duration::from_millis(20));
        s.push(2, Duration::from_millis(20));
        let p: Vec<_> = (0..6u64).map(|k| s.tick(960 * k).unwrap()).collect();
        assert_eq!((p[0].report.event, p[0].rtp_ts), (1, 0));
        assert_eq!((p[3].report.event, p[3].rtp_ts), (2, 2880));
        assert!(p[3].first);
    }

    #[test]
    fn receiver_reports_one_start_and_one_end_per_digit() {
        let mut r = DtmfReceiver::default();
        let rep = |end, ms| TelephoneEvent {
            event: 11,
            end,
            volume: 10,
            duration: Duration::from_millis(ms),
        };
        let mut seen = Vec::new();
        for (end, ms) in [(false, 20), (false, 40), (true, 60), (true, 60), (true, 60)] {
            seen.extend(r.on_report(4800, &rep(end, ms)));
        }
        seen.extend(r.on_report(9600, &rep(true, 20)));
        let summary: Vec<_> = seen
            .iter()
            .map(|e| match e {
                WaEvent::Dtmf {
                    end,
                    rtp_ts,
                    duration_8k,
                    ..
                } => (*end, *rtp_ts, *duration_8k),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(
            summary,
            [
                (false, 4800, 160),
                (true, 4800, 480),
                (false, 9600, 160),
                (true, 9600, 160)
            ]
        );
    }

    #[test]
    fn digits_map_to_rfc4733_codes() {
        let codes: Vec<_> = "09*#aD".chars().map(digit_to_event).collect();
        assert_eq!(
            codes,
            [Some(0), Some(9), Some(10), Some(11), Some(12), Some(15)]
        );
        assert_eq!(digit_to_event('x'), None);
    }
}
