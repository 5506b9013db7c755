//! RFC 4733 telephone events: the 4-byte payload, a receiver that normalises what peers send
//! (8000 or 48000 Hz clocks, durations in the wrong unit, repeated end packets) into one start
//! and one end per digit, and a sender that turns a digit into start, continuation and three
//! end packets, one per 20 ms slot.
//!
//! # Duration unit detection (telephone-event/8000 carrying 48 kHz units)
//!
//! Some WebRTC peers advertise `telephone-event/8000` but count durations in 48 kHz units
//! (six times too long). RFC 4733 packets of one event all carry the event-start timestamp, so
//! the only clocks to compare against are arrival spacing and sequence numbers. The rule, for a
//! stream negotiated at 8000 Hz, on two consecutive packets of the same event whose duration
//! grew by `g` units:
//! - if they arrived at least 5 ms apart (`dt`), the implied rate `g / dt` is compared with
//!   [`UNIT_RATE_THRESHOLD`] (20 000 units/s, between the nominal 8 000 and 48 000 with a
//!   margin of 2.4x either way);
//! - otherwise (a burst, e.g. after a jitter buffer), `g / sequence step` above
//!   [`UNIT_STEP_THRESHOLD`] (720 units = 90 ms at 8 kHz, an update interval no real sender
//!   uses; 15 ms at 48 kHz) means 48 kHz units.
//!
//! Once detected, the stream is treated as 48 kHz units for the rest of the call (peers do not
//! switch). An event seen as a single packet cannot be classified on its own and uses what was
//! learnt so far.

use std::time::{Duration, Instant};

/// Implied duration growth rate (units per second) above which an 8000 Hz stream is taken to
/// count in 48 kHz units.
pub const UNIT_RATE_THRESHOLD: f64 = 20_000.0;
/// Duration growth per sequence step above which an 8000 Hz stream counts in 48 kHz units.
pub const UNIT_STEP_THRESHOLD: u32 = 720;
/// An event without any packet for this long is ended (all its end packets were lost).
pub const EVENT_TIMEOUT: Duration = Duration::from_millis(250);

/// Errors from parsing telephone-event payloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DtmfError {
    /// The payload is shorter than 4 bytes; the peer's telephone-event PT may be mis-mapped.
    #[error("telephone-event payload of {len} bytes (need 4); check the PBX's telephone-event PT")]
    Truncated {
        /// Payload length.
        len: usize,
    },
}

/// One RFC 4733 §2.3 payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// Event code (0-9, 10 `*`, 11 `#`, 12-15 A-D, 16 flash).
    pub event: u8,
    /// E bit: last packet(s) of the event.
    pub end: bool,
    /// Volume in -dBm0 (0..=63).
    pub volume: u8,
    /// Duration since the event start, in RTP clock units.
    pub duration: u16,
}

impl TelephoneEvent {
    /// Parses the first 4 bytes of a payload (redundant trailing events are ignored).
    pub fn parse(p: &[u8]) -> Result<Self, DtmfError> {
        if p.len() < 4 {
            return Err(DtmfError::Truncated { len: p.len() });
        }
        Ok(Self {
            event: p[0],
            end: p[1] & 0x80 != 0,
            volume: p[1] & 0x3F,
            duration: u16::from_be_bytes([p[2], p[3]]),
        })
    }

    /// The 4-byte payload.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; 4] {
        let d = self.duration.to_be_bytes();
        [
            self.event,
            (u8::from(self.end) << 7) | (self.volume & 0x3F),
            d[0],
            d[1],
        ]
    }
}

/// Maps an RFC 4733 event code to its key (`0`-`9`, `*`, `#`, `A`-`D`).
#[must_use]
pub fn event_to_digit(event: u8) -> Option<char> {
    match event {
        0..=9 => Some(char::from(b'0' + event)),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some(char::from(b'A' + event - 12)),
        _ => None,
    }
}

/// Maps a key to its RFC 4733 event code.
#[must_use]
pub fn digit_to_event(digit: char) -> Option<u8> {
    match digit.to_ascii_uppercase() {
        d @ '0'..='9' => Some(d as u8 - b'0'),
        '*' => Some(10),
        '#' => Some(11),
        d @ 'A'..='D' => Some(d as u8 - b'A' + 12),
        _ => None,
    }
}

/// A completed key press.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct DtmfDigit {
    /// The key.
    pub digit: char,
    /// How long it was held.
    pub duration: Duration,
}

/// What the receiver saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtmfEvent {
    /// A key went down.
    Start {
        /// The key.
        digit: char,
    },
    /// A key was released (reported once, whatever the number of end packets).
    End(DtmfDigit),
}

/// Up to two events produced by one packet (the end of a previous, unterminated event and the
/// start of the next).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DtmfEvents {
    items: [Option<DtmfEvent>; 2],
}

impl DtmfEvents {
    fn push(&mut self, e: DtmfEvent) {
        let slot = if self.items[0].is_none() { 0 } else { 1 };
        self.items[slot] = Some(e);
    }

    /// True when nothing happened.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.items[0].is_none()
    }
}

impl From<DtmfEvent> for DtmfEvents {
    fn from(e: DtmfEvent) -> Self {
        Self {
            items: [Some(e), None],
        }
    }
}

impl IntoIterator for DtmfEvents {
    type Item = DtmfEvent;
    type IntoIter = std::iter::Flatten<std::array::IntoIter<Option<DtmfEvent>, 2>>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter().flatten()
    }
}

#[derive(Debug, Clone, Copy)]
struct Ongoing {
    ts: u32,
    event: u8,
    duration: u16,
    seq: u16,
    arrival: Instant,
}

/// Normalises received telephone events of one stream into [`DtmfEvent`]s.
#[derive(Debug, Clone)]
pub struct DtmfReceiver {
    clock: u32,
    units_48k: bool,
    ongoing: Option<Ongoing>,
    last_ended: Option<(u32, u8)>,
}

impl DtmfReceiver {
    /// A receiver for a telephone-event PT negotiated at `clock` Hz (8000 or 48000).
    #[must_use]
    pub fn new(clock: u32) -> Self {
        Self {
            clock: clock.max(1000),
            units_48k: clock == 48_000,
            ongoing: None,
            last_ended: None,
        }
    }

    /// True once durations are known (or negotiated) to count 48 kHz units.
    #[must_use]
    pub fn durations_in_48k_units(&self) -> bool {
        self.units_48k
    }

    /// Forgets the current event (new SSRC); the unit detection is kept.
    pub fn reset(&mut self) {
        self.ongoing = None;
        self.last_ended = None;
    }

    fn to_duration(&self, units: u16) -> Duration {
        let rate = if self.units_48k { 48_000 } else { self.clock };
        Duration::from_micros(u64::from(units) * 1_000_000 / u64::from(rate))
    }

    fn end(&mut self, o: Ongoing) -> Option<DtmfEvent> {
        self.ongoing = None;
        self.last_ended = Some((o.ts, o.event));
        event_to_digit(o.event).map(|digit| {
            DtmfEvent::End(DtmfDigit {
                digit,
                duration: self.to_duration(o.duration),
            })
        })
    }

    fn learn_units(&mut self, prev: &Ongoing, seq: u16, duration: u16, arrival: Instant) {
        if self.units_48k || self.clock != 8000 || duration <= prev.duration {
            return;
        }
        let growth = u32::from(duration - prev.duration);
        let dt = arrival.saturating_duration_since(prev.arrival);
        let is_48k = if dt >= Duration::from_millis(5) {
            f64::from(growth) / dt.as_secs_f64() > UNIT_RATE_THRESHOLD
        } else {
            let step = u32::from(seq.wrapping_sub(prev.seq)).clamp(1, 0x7FFF);
            growth / step > UNIT_STEP_THRESHOLD
        };
        if is_48k {
            self.units_48k = true;
        }
    }

    /// Handles one telephone-event packet.
    pub fn on_packet(
        &mut self,
        seq: u16,
        ts: u32,
        payload: &[u8],
        arrival: Instant,
    ) -> Result<DtmfEvents, DtmfError> {
        let te = TelephoneEvent::parse(payload)?;
        let mut out = DtmfEvents::default();
        if self.last_ended == Some((ts, te.event)) {
            return Ok(out); // a repeated end packet
        }
        match self.ongoing {
            Some(o) if o.ts == ts && o.event == te.event => {
                let newer = seq.wrapping_sub(o.seq) < 0x8000 && seq != o.seq;
                if !newer {
                    return Ok(out); // duplicate or reordered
                }
                self.learn_units(&o, seq, te.duration, arrival);
                let o = Ongoing {
                    duration: te.duration.max(o.duration),
                    seq,
                    arrival,
                    ..o
                };
                self.ongoing = Some(o);
                if te.end {
                    out.extend(self.end(o));
                }
            }
            previous => {
                if let Some(p) = previous {
                    out.extend(self.end(p));
                }
                let o = Ongoing {
                    ts,
                    event: te.event,
                    duration: te.duration,
                    seq,
                    arrival,
                };
                if let Some(digit) = event_to_digit(te.event) {
                    out.push(DtmfEvent::Start { digit });
                }
                self.ongoing = Some(o);
                if te.end {
                    out.extend(self.end(o));
                }
            }
        }
        Ok(out)
    }

    /// Ends an event whose end packets never came ([`EVENT_TIMEOUT`] without packets).
    pub fn poll_timeout(&mut self, now: Instant) -> Option<DtmfEvent> {
        let o = self.ongoing?;
        if now.saturating_duration_since(o.arrival) >= EVENT_TIMEOUT {
            self.end(o)
        } else {
            None
        }
    }
}

impl DtmfEvents {
    fn extend(&mut self, e: Option<DtmfEvent>) {
        if let Some(e) = e {
            self.push(e);
        }
    }
}

/// One outgoing telephone-event packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfPacket {
    /// The payload.
    pub payload: [u8; 4],
    /// RTP timestamp: the event start, the same on every packet of the event.
    pub timestamp: u32,
    /// Marker: set on the first packet of the event only.
    pub marker: bool,
    /// True for the (three) end packets.
    pub end: bool,
}

#[derive(Debug, Clone, Copy)]
struct Sending {
    event: u8,
    start_ts: u32,
    elapsed: u32,
    target: Option<u32>,
    ending: bool,
    ends_sent: u8,
    first: bool,
}

/// Emits RFC 4733 packets for one event at a time on a given PT and clock, one per 20 ms slot.
/// While [`DtmfSender::is_active`], the caller sends these instead of audio.
#[derive(Debug, Clone)]
pub struct DtmfSender {
    payload_type: u8,
    clock: u32,
    volume: u8,
    sending: Option<Sending>,
}

impl DtmfSender {
    /// Number of end packets (RFC 4733 §2.5.1.4 recommends three).
    pub const END_PACKETS: u8 = 3;

    /// A sender for `payload_type` whose durations count `clock` Hz units.
    #[must_use]
    pub fn new(payload_type: u8, clock: u32) -> Self {
        Self {
            payload_type,
            clock,
            volume: 10,
            sending: None,
        }
    }

    /// The payload type.
    #[must_use]
    pub fn payload_type(&self) -> u8 {
        self.payload_type
    }

    /// True while an event (including its end packets) is being sent.
    #[must_use]
    pub fn is_active(&self) -> bool {
        self.sending.is_some()
    }

    fn frame_units(&self) -> u32 {
        self.clock / 50
    }

    /// Starts `digit` at RTP timestamp `start_ts` (the timestamp the current slot would have
    /// carried). With `duration`, the event ends by itself; without, it runs until
    /// [`DtmfSender::stop`]. A running event is cut short (ended at once) by a new start.
    /// Returns false for a key that has no RFC 4733 code.
    pub fn start(&mut self, digit: char, start_ts: u32, duration: Option<Duration>) -> bool {
        let Some(event) = digit_to_event(digit) else {
            return false;
        };
        let target = duration.map(|d| {
            let units = d.as_micros() * u128::from(self.clock) / 1_000_000;
            (units as u32).clamp(self.frame_units(), u32::from(u16::MAX))
        });
        self.sending = Some(Sending {
            event,
            start_ts,
            elapsed: 0,
            target,
            ending: false,
            ends_sent: 0,
            first: true,
        });
        true
    }

    /// Requests the end of the running event: the next slots carry the end packets.
    pub fn stop(&mut self) {
        if let Some(s) = &mut self.sending {
            s.ending = true;
        }
    }

    /// The packet for this 20 ms slot, if an event is running.
    pub fn next_packet(&mut self) -> Option<DtmfPacket> {
        let frame = self.frame_units();
        let s = self.sending.as_mut()?;
        if !s.ending {
            s.elapsed = (s.elapsed + frame).min(u32::from(u16::MAX));
            if s.target.is_some_and(|t| s.elapsed >= t) {
                s.ending = true;
            }
        }
        s.elapsed = s.elapsed.max(frame);
        // The first packet always announces the event: receivers such as baresip ignore an
        // event whose first packet already carries the end bit.
        let end = s.ending && !s.first;
        if end {
            s.ends_sent += 1;
        }
        let te = TelephoneEvent {
            event: s.event,
            end,
            volume: self.volume,
            duration: s.elapsed as u16,
        };
        let packet = DtmfPacket {
            payload: te.to_bytes(),
            timestamp: s.start_ts,
            marker: s.first,
            end,
        };
        s.first = false;
        if s.ends_sent >= Self::END_PACKETS {
            self.sending = None;
        }
        Some(packet)
    }
}

#[cfg(test)]
mod tests;
