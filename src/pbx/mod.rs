//! The PBX side of a call: the plain SIP/RTP leg toward the phone system.
//!
//! | file | owns |
//! |---|---|
//! | [`transport`] | the SIP sockets on `[sip] listen` (UDP and TCP, same port), routing received messages to the owning call by Call-ID, answering what belongs to no call, and [`SipSender`] to send |
//! | [`invite`] | building the INVITE from the ring (caller identity, `X-WA-*` headers), reading SIP targets |
//! | [`leg`] | [`PbxLeg`]: one outgoing INVITE and its dialog, sans-IO (transactions, CANCEL, BYE, digest auth, hold/refresh answered locally) |
//! | [`inbound`] | [`InboundLeg`]: a phone's INVITE to a WhatsApp user, as UAS, sans-IO (180, 200 with our SDP, delayed offer answered in the ACK, refusals that say why, CANCEL, BYE, hold) |
//! | [`info_dtmf`] | key presses the PBX sends as SIP INFO (`application/dtmf-relay`, `application/dtmf`) |
//! | [`sdp`] | our RTP/AVP offer toward the PBX and reading its answer |
//! | [`ports`] | the UDP port allocator over `[media] port_min..=port_max` |
//!
//! A call task owns one [`PbxLeg`], its [`CallInbox`] (from [`SipTransport::register`]) and a
//! clone of the [`SipSender`]; it feeds the leg what the inbox delivers, sends what the leg
//! returns, sleeps until [`PbxLeg::poll_timeout`] and acts on [`PbxLeg::poll_event`].

pub mod inbound;
pub mod info_dtmf;
pub mod invite;
pub mod leg;
pub mod ports;
pub mod sdp;
#[cfg(test)]
mod test_driver;
pub mod transport;

pub use inbound::{InboundLeg, Refusal, Unusable};
pub use invite::Target;
pub use leg::{LegConfig, PbxEvent, PbxLeg, failure_for};
pub use ports::{PortAllocator, RtpPair};
pub use sdp::{PbxMedia, parse_codecs};
pub use transport::{CallInbox, Incoming, NewCall, SipSender, SipTransport};

/// Failures of the PBX side (transport, ports, SDP, targets).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PbxError {
    /// The SIP listen address could not be bound.
    #[error(
        "cannot bind SIP on {addr} ({source}); check `[sip] listen` and that no other process uses the port"
    )]
    Bind {
        /// Address tried.
        addr: std::net::SocketAddr,
        /// OS error.
        source: std::io::Error,
    },
    /// Sending a SIP message failed (TCP connect refused, socket error).
    #[error("cannot send SIP to {addr} ({source}); check that the PBX listens there")]
    Send {
        /// Destination.
        addr: std::net::SocketAddr,
        /// OS error.
        source: std::io::Error,
    },
    /// The transport task has stopped (the gateway is shutting down).
    #[error("the SIP transport has stopped; restart callgate")]
    TransportClosed,
    /// The target is not a usable `sip:` URI.
    #[error("invalid SIP target {0:?}; `[routing] default` must look like sip:user@host:port")]
    InvalidTarget(String),
    /// The target's host is a name and no resolved next hop was given.
    #[error(
        "cannot resolve SIP target host {0:?}; use an IP address in `[routing] default` or check DNS"
    )]
    Unresolved(String),
    /// Every port of the media range is in use.
    #[error(
        "no free UDP port in [media] port_min..=port_max ({min}..={max}); widen the range or lower the call load"
    )]
    NoFreePort {
        /// Range start.
        min: u16,
        /// Range end.
        max: u16,
    },
    /// Binding a media port failed for a reason other than "in use".
    #[error("cannot bind a media UDP port on {ip} ({source}); check `[media]` addresses")]
    MediaBind {
        /// Address tried.
        ip: std::net::IpAddr,
        /// OS error.
        source: std::io::Error,
    },
    /// The PBX's SDP cannot be used.
    #[error("unusable SDP from the PBX: {0}")]
    Sdp(#[from] callgate_sip::sdp::SdpError),
    /// Our own offer could not be read back (it was not built by [`PbxMedia`]).
    #[error("our SDP offer toward the PBX is malformed ({0}); it must be built by PbxMedia::offer")]
    LocalOffer(String),
    /// A codec name in the configuration is unknown.
    #[error("unknown codec {0:?}; use pcmu, pcma, g722 or opus")]
    UnknownCodec(String),
}
