//! Helpers for the tests against real peers: free loopback ports, baresip (the library's
//! launcher, failing loudly), sipp launchers for the scenarios under `tests/peers/sipp/`, and a
//! harness that owns the SIP transport and one `PbxLeg`.
#![allow(dead_code)]

pub mod baresip;
pub mod harness;
pub mod sipp;

use std::time::{Duration, Instant};

/// A loopback port free for both UDP and TCP a moment ago.
pub fn free_port() -> u16 {
    callgate::demo::baresip::free_port().expect("a free loopback port")
}

/// Fails loudly when a peer binary is missing (tests never skip).
pub fn require_binary(name: &str) -> String {
    match callgate::demo::baresip::which(name) {
        Some(p) => p.to_string_lossy().into_owned(),
        None => panic!(
            "{name} is not installed (bash scripts/deps.sh test installs baresip-core and \
             sip-tester); these tests need it"
        ),
    }
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
