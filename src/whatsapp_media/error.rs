//! The error type of the WhatsApp media leg ([`WaMediaError`]).

/// What went wrong while negotiating or driving the WhatsApp (Meta) media leg.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WaMediaError {
    /// Meta's SDP (offer or answer) could not be parsed.
    #[error(
        "Meta's SDP could not be parsed ({0}); check the `session.sdp` of the calls webhook and report the payload"
    )]
    SdpParse(String),
    /// Meta's offer has no `a=mid:` line, so the media section cannot be addressed.
    #[error("Meta's SDP offer has no a=mid line; the call cannot be answered, report the payload")]
    MissingMid,
    /// The UDP address given as host candidate was not accepted by the ICE agent.
    #[error(
        "media host candidate {0} was rejected ({1}); check `[media] public_ip` and the port range"
    )]
    BadCandidate(std::net::SocketAddr, String),
    /// str0m refused the offer or answer (no common codec, missing fingerprint, ...).
    #[error("WebRTC negotiation with Meta failed: {0}; the call must be rejected")]
    Negotiation(String),
    /// [`WaLeg::apply_answer`](super::WaLeg::apply_answer) was called on a leg that has no
    /// offer outstanding (a UIC leg, or an answer applied twice).
    #[error("no outstanding offer to apply Meta's answer to; this is a bug in the call driver")]
    NoPendingOffer,
    /// Media was written before ICE and DTLS were up; the frame was dropped.
    #[error("WhatsApp media leg is not connected yet; frame dropped (harmless before Connected)")]
    NotConnected,
    /// The negotiated media section has no Opus payload type.
    #[error("Meta's SDP negotiated no Opus payload type; the call cannot carry audio")]
    NoOpus,
    /// A DTMF digit outside `0-9*#A-D` was requested.
    #[error("invalid DTMF digit {0:?}: only 0-9, *, #, A-D can be sent")]
    InvalidDigit(char),
    /// Meta's SDP has no `telephone-event/8000` payload type, so DTMF cannot be sent.
    #[error("Meta's SDP negotiated no telephone-event/8000; DTMF cannot be sent on this call")]
    NoTelephoneEvent,
    /// str0m refused to send a frame (unknown payload type, send buffer, ...).
    #[error("sending media to WhatsApp failed: {0}")]
    Send(String),
}
