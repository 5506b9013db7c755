//! Helpers for the PBX-leg tests against real peers: free loopback ports, a baresip launcher
//! (config in a temp dir, ctrl_tcp commands), sipp launchers for the scenarios under
//! `tests/peers/sipp/`, and a harness that owns the SIP transport and one `PbxLeg`.
#![allow(dead_code)]

pub mod baresip;
pub mod harness;
pub mod sipp;

use std::net::{TcpListener, UdpSocket};
use std::time::{Duration, Instant};

/// A loopback port free for both UDP and TCP a moment ago.
pub fn free_port() -> u16 {
    for _ in 0..100 {
        let tcp = TcpListener::bind("127.0.0.1:0").expect("bind tcp");
        let port = tcp.local_addr().unwrap().port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port");
}

/// `n` consecutive UDP ports free a moment ago; returns the first.
pub fn free_udp_range(n: u16) -> u16 {
    for _ in 0..100 {
        let base = free_port();
        if base.checked_add(n).is_some()
            && (base..base + n).all(|p| UdpSocket::bind(("127.0.0.1", p)).is_ok())
        {
            return base;
        }
    }
    panic!("no free UDP port range");
}

/// Fails loudly when a peer binary is missing (tests never skip).
pub fn require_binary(name: &str) -> String {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let p = dir.join(name);
        if p.is_file() {
            return p.to_string_lossy().into_owned();
        }
    }
    panic!(
        "{name} is not installed (apt-get install baresip-core sip-tester); these tests need it"
    );
}

/// Polls `f` until it is true or `within` passes.
pub fn wait_until(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + within;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}

/// A 16-bit mono 8 kHz WAV with a sine tone, for peers that play a file.
pub fn write_tone_wav(path: &std::path::Path, hz: f64, secs: u32) {
    let rate = 8000u32;
    let n = rate * secs;
    let mut data = Vec::with_capacity(n as usize * 2);
    for i in 0..n {
        let s = (f64::from(i) * hz * 2.0 * std::f64::consts::PI / f64::from(rate)).sin() * 8000.0;
        data.extend_from_slice(&(s as i16).to_le_bytes());
    }
    let mut w = Vec::new();
    w.extend_from_slice(b"RIFF");
    w.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    w.extend_from_slice(b"WAVEfmt ");
    w.extend_from_slice(&16u32.to_le_bytes());
    w.extend_from_slice(&1u16.to_le_bytes());
    w.extend_from_slice(&1u16.to_le_bytes());
    w.extend_from_slice(&rate.to_le_bytes());
    w.extend_from_slice(&(rate * 2).to_le_bytes());
    w.extend_from_slice(&2u16.to_le_bytes());
    w.extend_from_slice(&16u16.to_le_bytes());
    w.extend_from_slice(b"data");
    w.extend_from_slice(&(data.len() as u32).to_le_bytes());
    w.extend_from_slice(&data);
    std::fs::write(path, w).expect("write wav");
}
