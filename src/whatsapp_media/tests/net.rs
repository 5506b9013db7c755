//! A tiny in-memory network on a virtual clock between the gateway's [`WaLeg`] and a
//! [`MetaPeer`]: datagrams take 1 ms, a filter can drop datagrams to "Meta" (to model Meta not
//! having our answer yet), and both sides get a 20 ms audio tick. Every datagram the gateway
//! emits is logged for wire-level assertions.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::whatsapp_media::{WaEvent, WaLeg, WaOutput};

use super::meta_peer::MetaPeer;

pub const GW: &str = "10.0.0.1:40000";
pub const META: &str = "10.0.0.2:3484";
const LATENCY: Duration = Duration::from_millis(1);
const TICK: Duration = Duration::from_millis(20);

pub fn gw_addr() -> SocketAddr {
    GW.parse().unwrap()
}

pub fn meta_addr() -> SocketAddr {
    META.parse().unwrap()
}

type DropFilter = Box<dyn FnMut(Duration, &[u8]) -> bool>;

struct InFlight {
    at: Instant,
    to_meta: bool,
    bytes: Vec<u8>,
}

pub struct Sim {
    pub start: Instant,
    pub now: Instant,
    pub gw: WaLeg,
    pub meta: MetaPeer,
    /// Returns true to drop a datagram to Meta (args: time since start, datagram).
    pub drop_to_meta: DropFilter,
    in_flight: Vec<InFlight>,
    gw_timeout: Instant,
    meta_timeout: Instant,
    next_tick: Instant,
    gw_ts: u64,
    /// Every datagram the gateway emitted: (time since start, destination, bytes).
    pub gw_wire: Vec<(Duration, SocketAddr, Vec<u8>)>,
    /// Gateway events other than audio, with time since start.
    pub gw_events: Vec<(Duration, WaEvent)>,
    pub gw_audio_in: u64,
    pub gw_send_errors: u64,
    /// Every datagram Meta emitted: (time since start, bytes).
    pub meta_wire: Vec<(Duration, Vec<u8>)>,
}

impl Sim {
    pub fn new(start: Instant, gw: WaLeg, meta: MetaPeer) -> Sim {
        Sim {
            start,
            now: start,
            gw,
            meta,
            drop_to_meta: Box::new(|_, _| false),
            in_flight: Vec::new(),
            gw_timeout: start,
            meta_timeout: start,
            next_tick: start + TICK,
            gw_ts: 96_000,
            gw_wire: Vec::new(),
            gw_events: Vec::new(),
            gw_audio_in: 0,
            gw_send_errors: 0,
            meta_wire: Vec::new(),
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// When the gateway reported `Connected`, as time since start.
    pub fn gw_connected_at(&self) -> Option<Duration> {
        self.gw_events
            .iter()
            .find(|(_, e)| *e == WaEvent::Connected)
            .map(|(t, _)| *t)
    }

    /// Runs until `until` (time since start) or until `stop` holds.
    pub fn run_until(&mut self, until: Duration, stop: impl Fn(&Sim) -> bool) -> bool {
        let end = self.start + until;
        loop {
            self.drain();
            if stop(self) {
                return true;
            }
            let next_flight = self.in_flight.iter().map(|p| p.at).min();
            let mut next = self.gw_timeout.min(self.meta_timeout).min(self.next_tick);
            if let Some(f) = next_flight {
                next = next.min(f);
            }
            if next > end {
                self.now = end;
                return false;
            }
            self.now = self.now.max(next);
            self.step();
        }
    }

    fn drain(&mut self) {
        let elapsed = self.elapsed();
        loop {
            match self.gw.poll_output() {
                WaOutput::Timeout(t) => {
                    self.gw_timeout = t;
                    break;
                }
                WaOutput::Transmit { to, bytes } => {
                    self.gw_wire.push((elapsed, to, bytes.clone()));
                    if to == self.meta.addr && !(self.drop_to_meta)(elapsed, &bytes) {
                        self.send(true, bytes);
                    }
                }
                WaOutput::Event(WaEvent::Audio { .. }) => self.gw_audio_in += 1,
                WaOutput::Event(e) => self.gw_events.push((elapsed, e)),
            }
        }
        loop {
            match self.meta.poll(self.now) {
                Err(t) => {
                    self.meta_timeout = t;
                    break;
                }
                Ok((to, bytes)) if to == gw_addr() => {
                    self.meta_wire.push((elapsed, bytes.clone()));
                    self.send(false, bytes)
                }
                Ok(_) => {}
            }
        }
    }

    fn send(&mut self, to_meta: bool, bytes: Vec<u8>) {
        let at = self.now + LATENCY;
        self.in_flight.push(InFlight { at, to_meta, bytes });
    }

    /// One mutation per call (the caller drains both sides in between, as the run-loop
    /// contract asks): the oldest due datagram, else due timeouts and the audio tick.
    fn step(&mut self) {
        let now = self.now;
        if let Some(i) = (0..self.in_flight.len())
            .filter(|&i| self.in_flight[i].at <= now)
            .min_by_key(|&i| self.in_flight[i].at)
        {
            let p = self.in_flight.remove(i);
            if p.to_meta {
                self.meta.handle_datagram(now, gw_addr(), &p.bytes);
            } else {
                self.gw.handle_datagram(now, meta_addr(), &p.bytes);
            }
            return;
        }
        if now >= self.gw_timeout {
            self.gw.handle_timeout(now);
        }
        if now >= self.meta_timeout {
            self.meta.handle_timeout(now);
        }
        if now >= self.next_tick {
            self.next_tick += TICK;
            if self.gw.is_connected() {
                let ts = self.gw_ts;
                self.gw_ts += 960;
                if self.gw.send_opus(now, &[0xf8, 0xff, 0xfe], ts).is_err() {
                    self.gw_send_errors += 1;
                }
            }
            self.meta.tick(now);
        }
    }
}
