//! Tests of the WhatsApp media leg, sans-IO on virtual time: a Meta-like str0m peer
//! ([`meta_peer`]) and an in-memory network ([`net`]) drive [`WaLeg`] through whole calls.

mod answer;
mod bic;
mod fixtures;
mod meta_peer;
mod net;
mod wire_log;
mod workarounds;

use std::time::Instant;

use super::{WaLeg, WaLegConfig, Workarounds};
use meta_peer::MetaPeer;
use net::{Sim, gw_addr, meta_addr};

/// A user-initiated call: Meta offers (after `tweak` rewrote its offer text), the gateway
/// answers, Meta takes the answer at once. Returns the simulation and the answer SDP.
fn uic(workarounds: Workarounds, tweak: impl FnOnce(&str) -> String) -> (Sim, String) {
    let start = Instant::now();
    let (mut meta, offer) = MetaPeer::offering(start, meta_addr());
    let offer = tweak(&offer);
    let cfg = WaLegConfig {
        workarounds,
        ..WaLegConfig::new(gw_addr())
    };
    let (gw, answer) = WaLeg::answer(start, &offer, cfg).expect("gateway answers Meta's offer");
    meta.accept_answer(&answer);
    (Sim::new(start, gw, meta), answer)
}

/// All workarounds but one.
fn without(f: impl FnOnce(&mut Workarounds)) -> Workarounds {
    let mut w = Workarounds::default();
    f(&mut w);
    w
}
