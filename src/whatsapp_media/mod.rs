//! The gateway side of the WhatsApp (Meta) WebRTC media leg: a sans-IO wrapper around
//! [`str0m::Rtc`] that applies every workaround of `str0m-meta.md` so that str0m interoperates
//! with Meta's ICE-lite, `actpass`, Opus/48000 + telephone-event/8000 offers.
//!
//! # Run-loop contract (as str0m's `Rtc`)
//!
//! One [`WaLeg`] per call, owned by the call task together with one UDP socket bound to
//! `[media]` ports; [`WaLegConfig::local_addr`] is `public_ip:port` of that socket.
//! 1. **Mutate**: feed every datagram read from the socket to [`WaLeg::handle_datagram`], call
//!    [`WaLeg::handle_timeout`] when the last `Timeout` instant is reached, and call
//!    [`WaLeg::send_opus`] once per 20 ms audio tick (see "Audio tick" below).
//! 2. **Drain**: call [`WaLeg::poll_output`] until it returns [`WaOutput::Timeout`]; send each
//!    [`WaOutput::Transmit`] on the socket and act on each [`WaOutput::Event`].
//! 3. **Wait** for the next datagram, the returned timeout or the next audio tick.
//!
//! Time only comes in as `now` arguments (never read from the OS), so tests run on virtual time.
//!
//! # Audio tick and DTMF
//!
//! The call task calls [`WaLeg::send_opus`] every 20 ms with the next Opus frame and its 48 kHz
//! RTP timestamp (advancing by 960), from the moment [`WaEvent::Connected`] is seen (silence
//! frames when there is nothing to say: Meta hangs up on a quiet leg). [`WaLeg::start_dtmf`]
//! only queues a digit; the following ticks send RFC 4733 packets *instead of* their audio frames
//! (one per tick, the event's timestamp being the audio timestamp of its first tick, three end
//! reports), then audio resumes. So DTMF needs no timer of its own and keeps the audio SSRC,
//! sequence and timestamp continuity.
//!
//! # Flows
//! - UIC (user calls the business): [`WaLeg::answer`] on the connect webhook's offer, then, when
//!   `pre_accept` returned HTTP 200, [`WaLeg::kick_dtls`].
//! - BIC (business calls the user): [`WaLeg::offer`], then [`WaLeg::apply_answer`] with the
//!   connect webhook's answer. We are the DTLS server.

mod dtls;
mod dtmf;
mod error;
mod leg;
mod sdp_text;
mod stats;
mod wire;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

pub use dtls::{crypto_provider, warm_up};
pub use error::WaMediaError;
pub use leg::WaLeg;
pub use sdp_text::{OpusParams, normalise_candidates};
pub use stats::WaStats;

/// How to build a [`WaLeg`].
#[derive(Debug, Clone, Copy)]
pub struct WaLegConfig {
    /// The host candidate: `public_ip:port` of the UDP socket the call task bound. Also used as
    /// the destination address of received datagrams.
    pub local_addr: SocketAddr,
    /// Which str0m workarounds to apply; [`Workarounds::default`] (all on) in production.
    pub workarounds: Workarounds,
    /// With L6 STUN tuning: retransmits of an unanswered check before the pair fails (500 ms
    /// apart once backed off). 60 (~30 s) covers a user-initiated call's answer window; a
    /// business-initiated call whose user is still ringing needs more (Meta may answer checks
    /// only once the user picks up).
    pub max_stun_retransmits: usize,
}

impl WaLegConfig {
    /// A configuration with every workaround on.
    pub fn new(local_addr: SocketAddr) -> WaLegConfig {
        WaLegConfig {
            local_addr,
            workarounds: Workarounds::default(),
            max_stun_retransmits: 60,
        }
    }
}

/// The str0m 0.25 workarounds of `str0m-meta.md` §2. All on by default; switching one off exists
/// only so that tests can prove each one is needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Workarounds {
    /// L1: rewrite the offer's `actpass` to `passive` so the answer says `a=setup:active` and
    /// the gateway is the DTLS client.
    pub setup_active: bool,
    /// L2: normalise `a=candidate:` lines of every Meta SDP (str0m drops REF-style lines).
    pub normalise_candidates: bool,
    /// L3: write RFC 4733 packets by hand on the 8 kHz telephone-event PT (off: str0m's built-in
    /// sender, which refuses Opus/48000 + telephone-event/8000).
    pub manual_dtmf: bool,
    /// L4: announce an unknown SSRC of Meta's RTP to str0m before it sees the packet.
    pub learn_ssrc: bool,
    /// L5: cache our DTLS handshake flight and re-send it on [`WaLeg::kick_dtls`].
    pub dtls_kick: bool,
    /// L6: STUN retransmits at 250 ms initial / 500 ms max RTO, 60 retransmits (~30 s).
    pub stun_tuning: bool,
    /// L7: no `a=ice-options:trickle` in our SDP, Opus fmtp `minptime=20;useinbandfec=1` like
    /// Meta's. (The mid is always taken from the offer: str0m reports it only after Connected.)
    pub sdp_cleanup: bool,
}

impl Default for Workarounds {
    fn default() -> Self {
        Workarounds {
            setup_active: true,
            normalise_candidates: true,
            manual_dtmf: true,
            learn_ssrc: true,
            dtls_kick: true,
            stun_tuning: true,
            sdp_cleanup: true,
        }
    }
}

/// What [`WaLeg::poll_output`] asks the call task to do.
#[derive(Debug, Clone, PartialEq)]
pub enum WaOutput {
    /// Send `bytes` from the leg's socket to `to`.
    Transmit {
        /// Destination (Meta's candidate).
        to: SocketAddr,
        /// The UDP payload.
        bytes: Vec<u8>,
    },
    /// Something happened on the leg.
    Event(WaEvent),
    /// Nothing more to do: call [`WaLeg::handle_timeout`] at this instant (or earlier on input).
    Timeout(Instant),
}

/// Events of the WhatsApp media leg.
#[derive(Debug, Clone, PartialEq)]
pub enum WaEvent {
    /// ICE, DTLS and SRTP are up: start sending audio (silence) at once.
    Connected,
    /// One Opus frame from the WhatsApp user.
    Audio {
        /// The Opus packet as received (shared with str0m, not copied).
        payload: Arc<[u8]>,
        /// Its RTP timestamp (48 kHz, extended to 64 bits).
        rtp_ts_48k: u64,
    },
    /// An RFC 4733 report from the WhatsApp user, deduplicated: one `end: false` and one
    /// `end: true` event per digit.
    Dtmf {
        /// Event code (0-9, 10 `*`, 11 `#`, 12-15 `A`-`D`).
        event: u8,
        /// Whether this is the end of the digit.
        end: bool,
        /// Volume in -dBm0.
        volume: u8,
        /// Duration so far in 8 kHz units.
        duration_8k: u16,
        /// RTP timestamp of the event, as on the wire (Meta: the audio 48 kHz base).
        rtp_ts: u64,
    },
    /// ICE lost Meta (checks/keep-alives failed, or Meta closed DTLS). The leg may recover if
    /// Meta comes back; the call driver decides whether to hang up.
    Disconnected,
    /// The leg is dead (DTLS handshake timeout, fatal str0m error); only `Timeout`s follow.
    Failed(String),
}
