//! The per-call facade ([`Call`]) over the two flows, its run-loop contract, and the public view of
//! where a call stands ([`CallState`]).

use std::time::Instant;

use super::action::Action;
use super::bic::{Bic, BusinessCallParams};
use super::config::CallConfig;
use super::input::Input;
use super::outcome::{Direction, Outcome};
use super::uic::{Uic, UserCallParams};

/// One WhatsApp call, as a sans-IO state machine: no sockets, no clock, no tasks. Time is passed
/// in as `now`; everything the call needs done comes out as [`Action`]s.
///
/// # Run-loop contract
///
/// The driver (one task per call) owns the `Call` and does, forever:
///
/// 1. Create it with [`Call::user_initiated`] (from a connect webhook) or
///    [`Call::business_initiated`] (from the API or a SIP phone) and carry out the returned
///    actions.
/// 2. Wait for the next input: a webhook routed to this call, a result of an earlier action, a
///    PBX-leg or media-leg event, an operator command, or the deadline from
///    [`Call::poll_timeout`] (then feed [`Input::Timeout`], or call [`Call::handle_timeout`]).
/// 3. Feed it with [`Call::handle`] and carry out the returned actions **in order** (e.g. `accept`
///    must be on its way before anything that follows it).
/// 4. Ask [`Call::poll_timeout`] again after every `handle`: deadlines move with the state.
///    `None` means "wait for an input".
/// 5. Stop once an action is [`Action::Ended`] (also [`Call::outcome`] is then `Some`): release
///    the media leg and the SIP leg's resources. Inputs after that are ignored with a note, so a
///    driver that keeps the machine a little longer is safe; the registry keeps a tombstone for
///    the call id so late webhooks (a terminate after the end, a connect after a terminate) are
///    dropped before they reach any machine.
///
/// Every request action gets exactly one answer input: each [`Action::Graph`] one
/// [`Input::GraphDone`] tagged with the same kind, [`Action::CheckPolicy`] and
/// [`Action::CheckPermission`] one [`Input::PolicyDecision`] (a user-initiated call that may
/// proceed gets [`Input::Routed`] instead), [`Action::PrepareMedia`] one
/// [`Input::MediaPrepared`] or [`Input::MediaFailed`], [`Action::CreateOffer`] one
/// [`Input::OfferCreated`] or [`Input::MediaFailed`]. Webhooks may come twice or out of order;
/// inputs that mean nothing in the current state produce only an
/// [`Step::Ignored`](super::Step::Ignored) record, never a protocol action and never a panic.
#[derive(Debug, Clone)]
pub struct Call {
    flow: Flow,
    outcome: Option<Outcome>,
}

#[derive(Debug, Clone)]
enum Flow {
    User(Uic),
    Business(Bic),
}

impl Call {
    /// Starts a user-initiated call from its connect webhook. The first actions are a
    /// [`Step::Offered`](super::Step::Offered) record and [`Action::CheckPolicy`]; the answer
    /// window starts now.
    pub fn user_initiated(
        now: Instant,
        params: UserCallParams,
        config: CallConfig,
    ) -> (Self, Vec<Action>) {
        let (uic, actions) = Uic::new(now, params, config);
        let call = Self {
            flow: Flow::User(uic),
            outcome: None,
        };
        (call, actions)
    }

    /// Starts a business-initiated call. The first actions are a
    /// [`Step::Requested`](super::Step::Requested) record and [`Action::CheckPermission`].
    pub fn business_initiated(
        now: Instant,
        params: BusinessCallParams,
        config: CallConfig,
    ) -> (Self, Vec<Action>) {
        let (bic, actions) = Bic::new(now, params, config);
        let call = Self {
            flow: Flow::Business(bic),
            outcome: None,
        };
        (call, actions)
    }

    /// Feeds one input; returns the actions to carry out, in order.
    pub fn handle(&mut self, now: Instant, input: Input) -> Vec<Action> {
        let mut out = Vec::new();
        match &mut self.flow {
            Flow::User(uic) => uic.handle(now, input, &mut out),
            Flow::Business(bic) => bic.handle(now, input, &mut out),
        }
        if let Some(Action::Ended(outcome)) = out.last() {
            self.outcome = Some(outcome.clone());
        }
        out
    }

    /// Same as `handle(now, Input::Timeout)`: fires whatever deadline has passed by `now`.
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<Action> {
        self.handle(now, Input::Timeout)
    }

    /// The next instant at which [`Input::Timeout`] must be fed, if any.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.flow {
            Flow::User(uic) => uic.poll_timeout(),
            Flow::Business(bic) => bic.poll_timeout(),
        }
    }

    /// Where the call stands.
    pub fn state(&self) -> CallState {
        match &self.flow {
            Flow::User(uic) => uic.state(),
            Flow::Business(bic) => bic.state(),
        }
    }

    /// How the call ended, once [`Action::Ended`] has been returned.
    pub fn outcome(&self) -> Option<&Outcome> {
        self.outcome.as_ref()
    }

    /// Who placed the call.
    pub fn direction(&self) -> Direction {
        match self.flow {
            Flow::User(_) => Direction::UserInitiated,
            Flow::Business(_) => Direction::BusinessInitiated,
        }
    }

    /// Meta's call id: known from the start for a user-initiated call, from the `connect`
    /// response or connect webhook (whichever comes first) for a business-initiated one.
    pub fn call_id(&self) -> Option<&str> {
        match &self.flow {
            Flow::User(uic) => Some(uic.params().call_id.as_str()),
            Flow::Business(bic) => bic.call_id(),
        }
    }

    /// The parameters of a user-initiated call (caller, payloads, offer); `None` for a
    /// business-initiated one.
    pub fn user_params(&self) -> Option<&UserCallParams> {
        match &self.flow {
            Flow::User(uic) => Some(uic.params()),
            Flow::Business(_) => None,
        }
    }

    /// What a business-initiated call was asked to do (`None` for user-initiated calls).
    pub fn business_params(&self) -> Option<&super::BusinessCallParams> {
        match &self.flow {
            Flow::User(_) => None,
            Flow::Business(bic) => Some(bic.params()),
        }
    }

    /// The business phone number id the Graph requests go to.
    pub fn phone_number_id(&self) -> &str {
        match &self.flow {
            Flow::User(uic) => &uic.params().phone_number_id,
            Flow::Business(bic) => &bic.params().phone_number_id,
        }
    }
}

/// Where a call stands (a summary of the flow's private state).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CallState {
    /// UIC: waiting for the policy decision.
    CheckingPolicy,
    /// BIC: waiting for the permission decision.
    CheckingPermission,
    /// UIC: waiting for the local SDP answer.
    PreparingMedia,
    /// BIC: waiting for the local SDP offer.
    CreatingOffer,
    /// BIC from the API: the agent's phone rings (before the user is called in `agent_first`
    /// mode, after the user answered in `user_first` mode).
    RingingAgent,
    /// UIC: `pre_accept` sent and the PBX invited; waiting for both, and for media.
    Answering,
    /// UIC: `accept` sent, waiting for its 200.
    Accepting,
    /// BIC: `connect` sent, waiting for the user.
    Dialing,
    /// Both legs are up.
    Connected,
    /// The end is decided; waiting for the last Graph result.
    Ending,
    /// Over: [`Call::outcome`] is set.
    Ended,
}

impl CallState {
    /// Stable snake_case name, for records and metrics.
    pub fn name(self) -> &'static str {
        match self {
            CallState::CheckingPolicy => "checking_policy",
            CallState::CheckingPermission => "checking_permission",
            CallState::PreparingMedia => "preparing_media",
            CallState::CreatingOffer => "creating_offer",
            CallState::RingingAgent => "ringing_agent",
            CallState::Answering => "answering",
            CallState::Accepting => "accepting",
            CallState::Dialing => "dialing",
            CallState::Connected => "connected",
            CallState::Ending => "ending",
            CallState::Ended => "ended",
        }
    }
}
