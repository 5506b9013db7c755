//! Everything that can happen to a call ([`Input`]): Meta webhooks (already parsed), results of
//! the machine's own requests (Graph, policy, media), PBX-leg events, the operator, timers.

/// One thing that happened to a call, fed to [`Call::handle`](super::Call::handle).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Input {
    /// Answer to [`Action::CheckPolicy`](super::Action::CheckPolicy) (UIC: business hours,
    /// routing) or [`Action::CheckPermission`](super::Action::CheckPermission) (BIC: call
    /// permission and business rules).
    PolicyDecision {
        /// Whether the call may proceed.
        allowed: bool,
        /// Human-readable explanation, kept in the outcome when denied.
        reason: String,
    },
    /// Answer to [`Action::CheckPolicy`](super::Action::CheckPolicy) for a user-initiated call
    /// that may proceed, with where to ring it (a denial is a [`Input::PolicyDecision`]).
    Routed {
        /// Human-readable explanation (hours, the rule that matched), kept in the timeline.
        reason: String,
        /// The PBX targets, tried in order.
        route: super::PbxRoute,
    },
    /// Answer to [`Action::PrepareMedia`](super::Action::PrepareMedia): the local SDP answer.
    MediaPrepared {
        /// The SDP answer to send in `pre_accept` and, byte for byte, in `accept`.
        answer_sdp: String,
    },
    /// Answer to [`Action::CreateOffer`](super::Action::CreateOffer): the local SDP offer.
    OfferCreated {
        /// The SDP offer to send in the Graph `connect`.
        sdp: String,
    },
    /// The WhatsApp media leg is up (ICE connected and DTLS handshake done).
    MediaConnected,
    /// The WhatsApp media leg failed (could not build the SDP, ICE or DTLS failed, timed out).
    MediaFailed {
        /// What went wrong, for the outcome.
        reason: String,
    },
    /// Result of a [`GraphRequest`](super::GraphRequest). The driver delivers exactly one per
    /// request sent.
    GraphDone {
        /// Which request this is the result of.
        request: GraphRequestKind,
        /// Success, or Meta's error.
        result: Result<GraphSuccess, GraphFailure>,
    },
    /// A `connect` webhook for this call. For a user-initiated call the machine was created from
    /// the first one, so a second is a duplicate. For a business-initiated call it carries the
    /// user's SDP answer and may arrive before the Graph `connect` response.
    MetaConnect {
        /// Meta's call id (`wacid.…`).
        call_id: String,
        /// The SDP carried in `session.sdp`.
        sdp: String,
    },
    /// A call status webhook (business-initiated calls only).
    MetaStatus(MetaCallStatus),
    /// A `terminate` webhook: the call is over on Meta's side.
    MetaTerminate {
        /// The terminate `status` field.
        status: TerminateStatus,
        /// `errors[0].code`, if Meta sent one (e.g. 138021 media receive timeout).
        error_code: Option<u32>,
        /// The `duration` field (seconds), present when the call was picked up.
        duration_secs: Option<u64>,
    },
    /// A provisional response (180 Ringing, 183 Session Progress) from the PBX.
    PbxProgress {
        /// The SIP status code.
        status: u16,
    },
    /// The PBX sent early media (a 183 with an SDP answer we can bridge: a queue's
    /// announcement or music before the agent answers).
    PbxEarlyMedia,
    /// The PBX answered (200 OK to our INVITE; the SIP leg sends the ACK).
    PbxAnswered,
    /// The PBX leg failed with a final error response or a transport failure.
    PbxFailed(PbxFailure),
    /// The PBX (or SIP phone) hung up an established dialog (BYE).
    PbxHangup,
    /// The SIP phone that started a business-initiated call cancelled it before it was answered
    /// (CANCEL; the SIP leg answers 487 to its INVITE itself).
    PbxCancelled,
    /// The operator asked to hang up (REST API, shutdown).
    HangUp,
    /// A deadline from [`Call::poll_timeout`](super::Call::poll_timeout) may have passed. Early or
    /// spurious timeouts are harmless.
    Timeout,
}

impl Input {
    /// Short name used in "ignored" notes.
    pub fn name(&self) -> &'static str {
        match self {
            Input::PolicyDecision { .. } => "policy_decision",
            Input::Routed { .. } => "routed",
            Input::MediaPrepared { .. } => "media_prepared",
            Input::OfferCreated { .. } => "offer_created",
            Input::MediaConnected => "media_connected",
            Input::MediaFailed { .. } => "media_failed",
            Input::GraphDone { request, .. } => request.done_name(),
            Input::MetaConnect { .. } => "meta_connect",
            Input::MetaStatus(_) => "meta_status",
            Input::MetaTerminate { .. } => "meta_terminate",
            Input::PbxProgress { .. } => "pbx_progress",
            Input::PbxEarlyMedia => "pbx_early_media",
            Input::PbxAnswered => "pbx_answered",
            Input::PbxFailed(_) => "pbx_failed",
            Input::PbxHangup => "pbx_hangup",
            Input::PbxCancelled => "pbx_cancelled",
            Input::HangUp => "hang_up",
            Input::Timeout => "timeout",
        }
    }
}

/// Which Graph `/calls` action a request or result is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GraphRequestKind {
    /// `connect` (business-initiated).
    Connect,
    /// `pre_accept` (user-initiated).
    PreAccept,
    /// `accept` (user-initiated).
    Accept,
    /// `reject` (user-initiated).
    Reject,
    /// `terminate` (both directions).
    Terminate,
}

impl GraphRequestKind {
    /// The Graph `action` string.
    pub fn as_str(self) -> &'static str {
        match self {
            GraphRequestKind::Connect => "connect",
            GraphRequestKind::PreAccept => "pre_accept",
            GraphRequestKind::Accept => "accept",
            GraphRequestKind::Reject => "reject",
            GraphRequestKind::Terminate => "terminate",
        }
    }

    fn done_name(self) -> &'static str {
        match self {
            GraphRequestKind::Connect => "graph_done(connect)",
            GraphRequestKind::PreAccept => "graph_done(pre_accept)",
            GraphRequestKind::Accept => "graph_done(accept)",
            GraphRequestKind::Reject => "graph_done(reject)",
            GraphRequestKind::Terminate => "graph_done(terminate)",
        }
    }
}

/// A successful Graph `/calls` response.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GraphSuccess {
    /// `calls[0].id` of a `connect` response (the new call's `wacid.…`); `None` otherwise.
    pub call_id: Option<String>,
}

/// A failed Graph `/calls` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphFailure {
    /// Meta's `error.code` (e.g. 138006), or `None` for a transport failure.
    pub code: Option<u32>,
    /// Meta's `error.message` or the transport error, for the record.
    pub message: String,
}

/// Status of a business-initiated call as reported by a `statuses` webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaCallStatus {
    /// The user's phone is ringing.
    Ringing,
    /// The user picked up (audit only: media is never gated on it).
    Accepted,
    /// The user declined; a terminate webhook follows.
    Rejected,
}

/// The `status` of a terminate webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TerminateStatus {
    /// `COMPLETED`.
    Completed,
    /// `FAILED`.
    Failed,
    /// `REJECTED` or any other value.
    Other,
}

/// Why the PBX leg failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PbxFailure {
    /// 486 Busy Here or 600 Busy Everywhere.
    Busy,
    /// 603 Decline.
    Declined,
    /// 404 Not Found (no such extension or route).
    NotFound,
    /// A 5xx response (the status code).
    ServerError(u16),
    /// Nobody answered: 408/480 from the PBX, or the gateway's own ring timeout.
    Timeout,
    /// No response at all (transport error, timer B, or the gateway's setup timeout).
    Unreachable,
}
