//! Everything the machine asks its driver to do ([`Action`]): Graph requests, media and PBX-leg
//! commands, timeline records, and the final [`Outcome`](super::Outcome).

use super::input::GraphRequestKind;
use super::outcome::Outcome;

/// One instruction from the machine to its driver, returned by
/// [`Call::handle`](super::Call::handle) in the order they must be carried out.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// UIC: ask the policy layer (business hours, routing) whether to take the call; answer with
    /// [`Input::Routed`](super::Input::Routed) (where to ring) or
    /// [`Input::PolicyDecision`](super::Input::PolicyDecision) (denied).
    CheckPolicy,
    /// BIC: ask the permission layer (call permission, business rules) whether the call may be
    /// placed; answer with [`Input::PolicyDecision`](super::Input::PolicyDecision).
    CheckPermission,
    /// UIC: build the WhatsApp media leg from Meta's offer (controlling ICE, `setup:active`);
    /// answer with [`Input::MediaPrepared`](super::Input::MediaPrepared) or
    /// [`Input::MediaFailed`](super::Input::MediaFailed). Start ICE checks right after.
    PrepareMedia {
        /// Meta's SDP offer from the connect webhook.
        offer: String,
    },
    /// BIC: build the WhatsApp media leg and its SDP offer; answer with
    /// [`Input::OfferCreated`](super::Input::OfferCreated) or
    /// [`Input::MediaFailed`](super::Input::MediaFailed).
    CreateOffer,
    /// BIC: apply the user's SDP answer to the media leg (then ICE/DTLS run; report
    /// [`Input::MediaConnected`](super::Input::MediaConnected)).
    ApplyAnswer {
        /// The SDP answer from the connect webhook.
        sdp: String,
    },
    /// UIC: start sending audio toward WhatsApp (only ever after `accept`'s HTTP 200). BIC:
    /// both parties are on the line. Either way any ringback stops.
    StartAudio,
    /// BIC: the party already on the line hears ringback while the other one rings, until
    /// [`Action::StartAudio`] or the end of the call.
    Ringback(RingbackTo),
    /// UIC: send an INVITE to the PBX.
    RingPbx(PbxRing),
    /// BIC from a SIP phone: tell the phone the WhatsApp user is ringing (180 Ringing).
    ProgressPbx,
    /// Abandon the unanswered INVITE to the PBX (CANCEL). If the PBX's 200 crosses the CANCEL,
    /// the SIP leg ACKs and BYEs it itself (RFC 3261 section 9.1); if no provisional response has
    /// arrived yet, it stops the transaction without a CANCEL on the wire.
    CancelPbx,
    /// End the established PBX/SIP-phone dialog (BYE).
    HangUpPbx,
    /// BIC from a SIP phone: answer the phone's INVITE (200 OK).
    AnswerPbx,
    /// BIC from a SIP phone: refuse the phone's INVITE with a final error response.
    RejectPbx {
        /// SIP status code (403, 480, 486, 487, 503, 603…).
        status: u16,
    },
    /// Send a Graph `/calls` request; answer with
    /// [`Input::GraphDone`](super::Input::GraphDone).
    Graph(GraphRequest),
    /// Append a step to the call record's timeline.
    Record(Step),
    /// The call is over: release the media leg and every other resource of the call. Always the
    /// last action the machine ever returns with protocol effect.
    Ended(Outcome),
}

/// Who hears the ringback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RingbackTo {
    /// The agent (PBX leg), while the WhatsApp user's phone rings (`agent_first`).
    Pbx,
    /// The WhatsApp user, while the agent's phone rings (`user_first`).
    WhatsApp,
}

/// The INVITE to place toward the PBX for a user-initiated call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PbxRing {
    /// The SIP URI to ring; `None`: the route the legs were given (`Legs::set_route`).
    pub target: Option<String>,
    /// Meta's call id (`wacid.…`), useful as a SIP header for correlation.
    pub call_id: String,
    /// The caller's WhatsApp number (`from`), if Meta sent one.
    pub from: Option<String>,
    /// The caller's business-scoped user id (2026 BSUID), if Meta sent one.
    pub from_user_id: Option<String>,
    /// The caller's profile name, for the display name.
    pub display_name: Option<String>,
    /// The business number that was called (`to`).
    pub to: String,
    /// Payload of the call button the call came from.
    pub cta_payload: Option<String>,
    /// Payload of the deep link the call came from.
    pub deeplink_payload: Option<String>,
}

/// A Graph `/calls` request; the driver adds the phone number id
/// ([`Call::phone_number_id`](super::Call::phone_number_id)) and the token.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GraphRequest {
    /// `connect` with our SDP offer (BIC).
    Connect {
        /// Recipient (`to`).
        to: String,
        /// Our SDP offer (`session.sdp`, `sdp_type: offer`).
        offer: String,
        /// `biz_opaque_callback_data`, echoed by Meta in later webhooks.
        biz_opaque: Option<String>,
    },
    /// `pre_accept` with our SDP answer (UIC).
    PreAccept {
        /// Meta's call id.
        call_id: String,
        /// Our SDP answer (`sdp_type: answer`).
        sdp: String,
    },
    /// `accept` with the same SDP answer, byte for byte, as `pre_accept` (UIC).
    Accept {
        /// Meta's call id.
        call_id: String,
        /// Our SDP answer (`sdp_type: answer`).
        sdp: String,
        /// `biz_opaque_callback_data`, if configured.
        biz_opaque: Option<String>,
    },
    /// `reject` (UIC, before accept).
    Reject {
        /// Meta's call id.
        call_id: String,
    },
    /// `terminate` (after accept, or a BIC at any point after connect).
    Terminate {
        /// Meta's call id.
        call_id: String,
    },
}

impl GraphRequest {
    /// Which action this is; results come back tagged with it.
    pub fn kind(&self) -> GraphRequestKind {
        match self {
            GraphRequest::Connect { .. } => GraphRequestKind::Connect,
            GraphRequest::PreAccept { .. } => GraphRequestKind::PreAccept,
            GraphRequest::Accept { .. } => GraphRequestKind::Accept,
            GraphRequest::Reject { .. } => GraphRequestKind::Reject,
            GraphRequest::Terminate { .. } => GraphRequestKind::Terminate,
        }
    }
}

/// One entry of a call record's timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Step {
    /// UIC: the connect webhook created the call.
    Offered,
    /// BIC: the call was requested (REST API or SIP phone).
    Requested,
    /// The policy/permission answer.
    PolicyChecked {
        /// Whether the call may proceed.
        allowed: bool,
        /// Why.
        reason: String,
    },
    /// UIC: the local SDP answer is ready.
    MediaPrepared,
    /// BIC: the local SDP offer is ready.
    OfferCreated,
    /// A Graph request succeeded.
    GraphOk(GraphRequestKind),
    /// A Graph request failed.
    GraphFailed {
        /// Which request.
        request: GraphRequestKind,
        /// Meta's error code, if any.
        code: Option<u32>,
        /// Meta's message or the transport error.
        message: String,
    },
    /// UIC: the PBX sent a provisional response.
    PbxRinging {
        /// 180 or 183.
        status: u16,
    },
    /// UIC: the PBX answered.
    PbxAnswered,
    /// UIC: a PBX target failed (5xx, no answer, no response) and the next one is rung.
    PbxFailover {
        /// The target given up.
        from: String,
        /// How it failed.
        failure: super::input::PbxFailure,
        /// The target rung now.
        to: String,
    },
    /// The WhatsApp media leg is up.
    MediaConnected,
    /// BIC: the user's SDP answer was applied.
    AnswerApplied,
    /// BIC: a status webhook arrived.
    UserStatus(super::input::MetaCallStatus),
    /// The call is connected end to end (UIC: accept's 200; BIC: media up).
    Connected,
    /// Meta terminated the call.
    MetaTerminated {
        /// Meta's error code, if any.
        error_code: Option<u32>,
    },
    /// An input that means nothing in the current state (duplicate, late or out of order).
    Ignored {
        /// [`Input::name`](super::Input::name) of the input.
        input: &'static str,
        /// [`CallState::name`](super::CallState::name) of the state it arrived in.
        state: &'static str,
    },
    /// The teardown wait for a Graph result ran out; the call ended without it.
    TeardownTimedOut(GraphRequestKind),
}
