//! RFC 4733 DTMF for the phone, sans-IO: the sender paces one event packet per 20 ms tick (100 ms
//! of tone with a growing duration, three `end` packets, then an 80 ms gap of audio) on the audio
//! clock, and the receiver turns the packets it sees (including the `end` repeats) into digits.

use std::collections::VecDeque;
use std::time::Duration;

/// Ticks of tone per digit (5 x 20 ms = 100 ms).
const TONE_TICKS: u32 = 5;
/// `end` packets sent per digit (RFC 4733 2.5.1.4 recommends three).
const END_TICKS: u32 = 3;
/// Ticks of plain audio between digits (80 ms).
const GAP_TICKS: u32 = 4;

/// The RFC 4733 event code of a DTMF character (`0-9 * # A-D`).
pub fn event_of(c: char) -> Option<u8> {
    match c.to_ascii_uppercase() {
        '0'..='9' => Some(c as u8 - b'0'),
        '*' => Some(10),
        '#' => Some(11),
        'A'..='D' => Some(12 + (c.to_ascii_uppercase() as u8 - b'A')),
        _ => None,
    }
}

/// The DTMF character of an RFC 4733 event code.
pub fn char_of(event: u8) -> Option<char> {
    b"0123456789*#ABCD"
        .get(usize::from(event))
        .map(|&b| b as char)
}

/// One RFC 4733 packet to send this tick instead of an audio frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfPacket {
    /// The event code.
    pub event: u8,
    /// The `E` bit.
    pub end: bool,
    /// Duration so far.
    pub duration: Duration,
    /// The event's RTP timestamp: the 48 kHz audio timestamp of its first tick.
    pub rtp_ts48: u64,
    /// First packet of the event (marker bit).
    pub first: bool,
}

#[derive(Debug, Clone, Copy)]
struct Active {
    event: u8,
    ts48: u64,
    tick: u32,
}

/// Paces queued digits into RFC 4733 packets.
#[derive(Debug, Default)]
pub struct DtmfSender {
    queue: VecDeque<u8>,
    active: Option<Active>,
    gap_left: u32,
}

impl DtmfSender {
    /// Queues digits; refuses the whole string if one character is not a DTMF digit.
    pub fn push(&mut self, digits: &str) -> Result<(), char> {
        let events: Vec<u8> = digits
            .chars()
            .map(|c| event_of(c).ok_or(c))
            .collect::<Result<_, _>>()?;
        self.queue.extend(events);
        Ok(())
    }

    /// Whether digits are queued or being sent.
    pub fn busy(&self) -> bool {
        self.active.is_some() || !self.queue.is_empty()
    }

    /// One 20 ms tick whose audio frame would carry timestamp `audio_ts48`: the DTMF packet to
    /// send instead of that frame, or `None` to send audio.
    pub fn tick(&mut self, audio_ts48: u64) -> Option<DtmfPacket> {
        if self.active.is_none() {
            if self.gap_left > 0 {
                self.gap_left -= 1;
                return None;
            }
            let event = self.queue.pop_front()?;
            self.active = Some(Active {
                event,
                ts48: audio_ts48,
                tick: 0,
            });
        }
        let a = self.active.as_mut().expect("set above");
        a.tick += 1;
        let tone_ticks = a.tick.min(TONE_TICKS);
        let packet = DtmfPacket {
            event: a.event,
            end: a.tick > TONE_TICKS,
            duration: Duration::from_millis(20 * u64::from(tone_ticks)),
            rtp_ts48: a.ts48,
            first: a.tick == 1,
        };
        if a.tick == TONE_TICKS + END_TICKS {
            self.active = None;
            self.gap_left = GAP_TICKS;
        }
        Some(packet)
    }
}

/// Turns received RFC 4733 packets into digits, once per event.
#[derive(Debug, Default)]
pub struct DtmfReceiver {
    last: Option<(u64, u8)>,
    digits: String,
}

impl DtmfReceiver {
    /// A packet for `event` with RTP timestamp `ts`: returns the digit when it starts a new event.
    pub fn on_packet(&mut self, ts: u64, event: u8) -> Option<char> {
        if self.last == Some((ts, event)) {
            return None;
        }
        self.last = Some((ts, event));
        let c = char_of(event)?;
        self.digits.push(c);
        Some(c)
    }

    /// Every digit received so far.
    pub fn digits(&self) -> &str {
        &self.digits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_digit_is_five_growing_packets_then_three_ends_on_one_timestamp() {
        let mut s = DtmfSender::default();
        s.push("5#").unwrap();
        let mut ts = 0;
        let mut out = Vec::new();
        for _ in 0..40 {
            out.push(s.tick(ts));
            ts += 960;
        }
        let first: Vec<DtmfPacket> = out[..8].iter().map(|p| p.unwrap()).collect();
        assert!(first.iter().all(|p| p.event == 5 && p.rtp_ts48 == 0));
        assert_eq!(
            first
                .iter()
                .map(|p| p.duration.as_millis())
                .collect::<Vec<_>>(),
            [20, 40, 60, 80, 100, 100, 100, 100]
        );
        assert_eq!(first.iter().filter(|p| p.end).count(), 3);
        assert!(first[0].first && !first[1].first);
        assert!(out[8..12].iter().all(Option::is_none), "80 ms audio gap");
        let second = out[12].unwrap();
        assert_eq!(
            (second.event, second.rtp_ts48, second.first),
            (11, 12 * 960, true)
        );
        assert!(out[20..].iter().all(Option::is_none));
        assert!(!s.busy());
    }

    #[test]
    fn invalid_digit_refuses_the_whole_string() {
        let mut s = DtmfSender::default();
        assert_eq!(s.push("12x"), Err('x'));
        assert!(!s.busy());
        assert!(s.push("*0AD").is_ok());
    }

    #[test]
    fn receiver_reports_each_event_once_despite_repeats() {
        let mut r = DtmfReceiver::default();
        let got: Vec<Option<char>> = [(100, 1), (100, 1), (100, 1), (900, 1), (1800, 11)]
            .iter()
            .map(|&(ts, ev)| r.on_packet(ts, ev))
            .collect();
        assert_eq!(got, [Some('1'), None, None, Some('1'), Some('#')]);
        assert_eq!(r.digits(), "11#");
    }
}
