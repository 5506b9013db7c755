//! The business-initiated call flow: request -> permission check -> local offer -> Graph
//! `connect` -> connect webhook with the user's answer (before or after the `connect` response)
//! -> media up = connected -> hang-up from either side. `RINGING`/`ACCEPTED` statuses are only
//! recorded (media is never gated on them); `REJECTED` ends the call.
//!
//! A call from an agent's SIP phone answers that phone's INVITE when the user is connected. A
//! call from the REST API may bridge an agent ([`AgentBridge`]): `agent_first` rings the agent
//! and calls the user only once the agent answered (nothing goes to Meta if the agent does not
//! answer); `user_first` calls the user and rings the agent once the user is connected.

use std::mem;
use std::time::Instant;

use super::action::{Action, GraphRequest, PbxRing, RingbackTo, Step};
use super::config::CallConfig;
use super::input::{GraphRequestKind, GraphSuccess, Input, MetaCallStatus, PbxFailure};
use super::machine::CallState;
use super::outcome::{Direction, EndDraft, EndReason, Side};
use super::teardown::{Ending, Teardown, ignore};
use super::uic::meta_end;

/// Who asked for a business-initiated call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum BicOrigin {
    /// The REST API (a CRM, an operator): there is no SIP leg to answer or reject.
    #[default]
    Api,
    /// An agent's SIP phone whose INVITE is waiting for our final response.
    SipPhone,
}

/// Which side of an API call with an agent rings first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BridgeMode {
    /// Ring the agent; call the WhatsApp user when the agent answers.
    #[default]
    AgentFirst,
    /// Call the WhatsApp user; ring the agent when the user answers.
    UserFirst,
}

/// The agent an API call bridges the WhatsApp user to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentBridge {
    /// The agent's SIP URI.
    pub target: String,
    /// Which side rings first.
    pub mode: BridgeMode,
}

/// What a business-initiated call needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BusinessCallParams {
    /// The business phone number id to call from.
    pub phone_number_id: String,
    /// The WhatsApp user to call.
    pub to: String,
    /// `biz_opaque_callback_data` (at most 512 chars). Meta echoes it in every webhook, so the
    /// registry can route a connect webhook that beats the `connect` response (when the call id
    /// is not yet known) to this call.
    pub biz_opaque: Option<String>,
    /// Who asked for the call.
    pub origin: BicOrigin,
    /// API calls: the agent to bridge the user to (`None`: media only, no agent).
    pub agent: Option<AgentBridge>,
}

/// Where the agent leg of an API call stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Agent {
    /// No agent on this call, or not rung yet.
    Idle,
    /// INVITE out, waiting for the agent.
    Ringing,
    /// The agent answered.
    Answered,
}

/// `connect` sent; waiting for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Dialing {
    connect_done: bool,
    answer_applied: bool,
    rang: bool,
    ring_deadline: Instant,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum BicState {
    CheckingPermission,
    /// `agent_first`: the agent rings; nothing was sent to Meta yet.
    RingingAgent {
        deadline: Instant,
    },
    CreatingOffer,
    Dialing(Dialing),
    /// `user_first`: the user is connected; the agent rings.
    JoiningAgent {
        deadline: Instant,
    },
    Connected,
    Ending(Ending),
    Ended,
}

/// A business-initiated call.
#[derive(Debug, Clone)]
pub(crate) struct Bic {
    params: BusinessCallParams,
    config: CallConfig,
    created_at: Instant,
    call_id: Option<String>,
    connected_at: Option<Instant>,
    agent: Agent,
    state: BicState,
}

impl Bic {
    pub fn new(
        now: Instant,
        params: BusinessCallParams,
        config: CallConfig,
    ) -> (Self, Vec<Action>) {
        let call = Self {
            params,
            config,
            created_at: now,
            call_id: None,
            connected_at: None,
            agent: Agent::Idle,
            state: BicState::CheckingPermission,
        };
        (
            call,
            vec![Action::Record(Step::Requested), Action::CheckPermission],
        )
    }

    pub fn params(&self) -> &BusinessCallParams {
        &self.params
    }

    pub fn call_id(&self) -> Option<&str> {
        self.call_id.as_deref()
    }

    pub fn state(&self) -> CallState {
        match self.state {
            BicState::CheckingPermission => CallState::CheckingPermission,
            BicState::RingingAgent { .. } | BicState::JoiningAgent { .. } => {
                CallState::RingingAgent
            }
            BicState::CreatingOffer => CallState::CreatingOffer,
            BicState::Dialing(_) => CallState::Dialing,
            BicState::Connected => CallState::Connected,
            BicState::Ending(_) => CallState::Ending,
            BicState::Ended => CallState::Ended,
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.state {
            BicState::Dialing(d) => Some(d.ring_deadline),
            BicState::RingingAgent { deadline } | BicState::JoiningAgent { deadline } => {
                Some(*deadline)
            }
            BicState::Ending(e) => Some(e.deadline()),
            _ => None,
        }
    }

    pub fn handle(&mut self, now: Instant, input: Input, out: &mut Vec<Action>) {
        self.learn_call_id(&input);
        let name = self.state().name();
        self.state = match mem::replace(&mut self.state, BicState::Ended) {
            BicState::CheckingPermission => self.checking_permission(now, input, out),
            BicState::RingingAgent { deadline } => self.ringing_agent(now, deadline, input, out),
            BicState::CreatingOffer => self.creating_offer(now, input, out),
            BicState::Dialing(d) => self.dialing(now, d, input, out),
            BicState::JoiningAgent { deadline } => self.joining_agent(now, deadline, input, out),
            BicState::Connected => self.connected(now, input, out),
            BicState::Ending(e) => match e.handle(now, input, out) {
                Teardown::Waiting(e) => BicState::Ending(e),
                Teardown::Done(draft) => self.finish(draft, out),
            },
            BicState::Ended => {
                ignore(out, &input, name);
                BicState::Ended
            }
        };
    }

    /// The call id comes from whichever arrives first: the `connect` response or the webhook.
    fn learn_call_id(&mut self, input: &Input) {
        if self.call_id.is_some() {
            return;
        }
        match input {
            Input::GraphDone {
                request: GraphRequestKind::Connect,
                result:
                    Ok(GraphSuccess {
                        call_id: Some(id), ..
                    }),
            }
            | Input::MetaConnect { call_id: id, .. } => self.call_id = Some(id.clone()),
            _ => {}
        }
    }

    fn checking_permission(
        &mut self,
        now: Instant,
        input: Input,
        out: &mut Vec<Action>,
    ) -> BicState {
        match input {
            Input::PolicyDecision { allowed, reason } => {
                out.push(Action::Record(Step::PolicyChecked {
                    allowed,
                    reason: reason.clone(),
                }));
                if allowed && self.mode() == Some(BridgeMode::AgentFirst) {
                    self.ring_agent(out);
                    BicState::RingingAgent {
                        deadline: now + self.config.pbx_ring_timeout,
                    }
                } else if allowed {
                    out.push(Action::CreateOffer);
                    BicState::CreatingOffer
                } else {
                    // Nothing was sent to Meta: the call ends here.
                    self.reject_pbx(403, out);
                    let draft = EndDraft::new(now, EndReason::Denied { reason }, Side::Business);
                    self.finish(draft, out)
                }
            }
            other => self.before_connect(
                now,
                other,
                BicState::CheckingPermission,
                "checking_permission",
                out,
            ),
        }
    }

    /// `agent_first`: nothing reaches Meta until the agent answers.
    fn ringing_agent(
        &mut self,
        now: Instant,
        deadline: Instant,
        input: Input,
        out: &mut Vec<Action>,
    ) -> BicState {
        match input {
            Input::PbxProgress { status } => {
                out.push(Action::Record(Step::PbxRinging { status }));
                BicState::RingingAgent { deadline }
            }
            Input::PbxAnswered => {
                out.push(Action::Record(Step::PbxAnswered));
                self.agent = Agent::Answered;
                out.push(Action::CreateOffer);
                BicState::CreatingOffer
            }
            Input::PbxFailed(kind) => {
                self.agent = Agent::Idle;
                let draft = EndDraft::new(now, EndReason::PbxFailed(kind), Side::Business);
                self.finish(draft, out)
            }
            Input::HangUp => {
                self.release_agent(out);
                self.finish(EndDraft::new(now, EndReason::HungUp, Side::Operator), out)
            }
            Input::Timeout if now >= deadline => {
                self.release_agent(out);
                let draft = self.agent_no_answer(now);
                self.finish(draft, out)
            }
            Input::Timeout => BicState::RingingAgent { deadline },
            other => {
                ignore(out, &other, "ringing_agent");
                BicState::RingingAgent { deadline }
            }
        }
    }

    /// `user_first`: the user is on the line; the agent rings.
    fn joining_agent(
        &mut self,
        now: Instant,
        deadline: Instant,
        input: Input,
        out: &mut Vec<Action>,
    ) -> BicState {
        match input {
            Input::PbxProgress { status } => {
                out.push(Action::Record(Step::PbxRinging { status }));
                // The user is on the line and waits for the agent.
                out.push(Action::Ringback(RingbackTo::WhatsApp));
                BicState::JoiningAgent { deadline }
            }
            Input::PbxEarlyMedia => {
                // The agent's PBX plays something (a queue's announcement): the user, already on
                // the line, hears it instead of our ringback.
                out.push(Action::StartAudio);
                BicState::JoiningAgent { deadline }
            }
            Input::PbxAnswered => {
                out.push(Action::Record(Step::PbxAnswered));
                self.agent = Agent::Answered;
                self.connect(now, out)
            }
            Input::PbxFailed(kind) => {
                self.agent = Agent::Idle;
                let draft = EndDraft::new(now, EndReason::PbxFailed(kind), Side::Business);
                self.terminate(now, draft, true, out)
            }
            Input::Timeout if now >= deadline => {
                self.release_agent(out);
                let draft = self.agent_no_answer(now);
                self.terminate(now, draft, true, out)
            }
            Input::Timeout => BicState::JoiningAgent { deadline },
            // As once connected (the user leaving, the operator hanging up, a late ACCEPTED),
            // except that the call stays here until the agent answers.
            other => match self.connected(now, other, out) {
                BicState::Connected => BicState::JoiningAgent { deadline },
                next => next,
            },
        }
    }

    fn creating_offer(&mut self, now: Instant, input: Input, out: &mut Vec<Action>) -> BicState {
        match input {
            Input::OfferCreated { sdp } => {
                out.push(Action::Record(Step::OfferCreated));
                out.push(Action::Graph(GraphRequest::Connect {
                    to: self.params.to.clone(),
                    offer: sdp,
                    biz_opaque: self.params.biz_opaque.clone(),
                }));
                BicState::Dialing(Dialing {
                    connect_done: false,
                    answer_applied: false,
                    rang: false,
                    ring_deadline: now + self.config.bic_ring_timeout,
                })
            }
            Input::MediaFailed { reason } => {
                self.reject_pbx(503, out);
                self.release_agent(out);
                let draft = EndDraft::new(now, EndReason::MediaFailed { reason }, Side::Gateway);
                self.finish(draft, out)
            }
            other => {
                self.before_connect(now, other, BicState::CreatingOffer, "creating_offer", out)
            }
        }
    }

    /// Inputs that mean the same before anything was sent to Meta.
    fn before_connect(
        &mut self,
        now: Instant,
        input: Input,
        stay: BicState,
        name: &'static str,
        out: &mut Vec<Action>,
    ) -> BicState {
        match input {
            Input::PbxCancelled if self.params.origin == BicOrigin::SipPhone => {
                self.finish(EndDraft::new(now, EndReason::HungUp, Side::Business), out)
            }
            Input::PbxHangup if self.agent == Agent::Answered => {
                self.agent = Agent::Idle;
                self.finish(EndDraft::new(now, EndReason::HungUp, Side::Business), out)
            }
            Input::HangUp => {
                self.reject_pbx(487, out);
                self.release_agent(out);
                self.finish(EndDraft::new(now, EndReason::HungUp, Side::Operator), out)
            }
            Input::Timeout => stay,
            other => {
                ignore(out, &other, name);
                stay
            }
        }
    }

    fn dialing(
        &mut self,
        now: Instant,
        mut d: Dialing,
        input: Input,
        out: &mut Vec<Action>,
    ) -> BicState {
        match input {
            Input::GraphDone {
                request: GraphRequestKind::Connect,
                result,
            } if !d.connect_done => match result {
                Ok(_) => {
                    out.push(Action::Record(Step::GraphOk(GraphRequestKind::Connect)));
                    d.connect_done = true;
                    BicState::Dialing(d)
                }
                Err(failure) => {
                    out.push(Action::Record(Step::GraphFailed {
                        request: GraphRequestKind::Connect,
                        code: failure.code,
                        message: failure.message,
                    }));
                    self.reject_pbx(sip_status_for_meta_error(failure.code), out);
                    self.release_agent(out);
                    let reason = EndReason::GraphError {
                        request: GraphRequestKind::Connect,
                    };
                    self.finish(
                        EndDraft::new(now, reason, Side::Meta).code(failure.code),
                        out,
                    )
                }
            },
            Input::MetaConnect { sdp, .. } if !d.answer_applied => {
                out.push(Action::ApplyAnswer { sdp });
                out.push(Action::Record(Step::AnswerApplied));
                d.answer_applied = true;
                BicState::Dialing(d)
            }
            Input::MetaStatus(status) => {
                out.push(Action::Record(Step::UserStatus(status)));
                match status {
                    MetaCallStatus::Ringing => {
                        if !d.rang && self.params.origin == BicOrigin::SipPhone {
                            out.push(Action::ProgressPbx);
                        }
                        if !d.rang && self.agent == Agent::Answered {
                            // `agent_first`: the agent is on the line and waits for the user.
                            out.push(Action::Ringback(RingbackTo::Pbx));
                        }
                        d.rang = true;
                        BicState::Dialing(d)
                    }
                    MetaCallStatus::Accepted => BicState::Dialing(d),
                    MetaCallStatus::Rejected => {
                        // Meta ends the call itself (a terminate webhook follows).
                        self.reject_pbx(603, out);
                        self.release_agent(out);
                        self.finish(EndDraft::new(now, EndReason::Rejected, Side::User), out)
                    }
                }
            }
            Input::MediaConnected if d.answer_applied => {
                out.push(Action::Record(Step::MediaConnected));
                if self.mode() == Some(BridgeMode::UserFirst) {
                    self.ring_agent(out);
                    return BicState::JoiningAgent {
                        deadline: now + self.config.pbx_ring_timeout,
                    };
                }
                if self.params.origin == BicOrigin::SipPhone {
                    out.push(Action::AnswerPbx);
                }
                self.connect(now, out)
            }
            Input::MediaFailed { reason } => {
                self.reject_pbx(503, out);
                self.release_agent(out);
                let draft = EndDraft::new(now, EndReason::MediaFailed { reason }, Side::Gateway);
                self.terminate(now, draft, d.connect_done, out)
            }
            Input::PbxHangup if self.agent == Agent::Answered => {
                self.agent = Agent::Idle;
                let draft = EndDraft::new(now, EndReason::HungUp, Side::Business);
                self.terminate(now, draft, d.connect_done, out)
            }
            Input::MetaTerminate {
                error_code,
                duration_secs,
                ..
            } => {
                out.push(Action::Record(Step::MetaTerminated { error_code }));
                let status = error_code.map_or(480, |code| sip_status_for_meta_error(Some(code)));
                self.reject_pbx(status, out);
                self.release_agent(out);
                self.finish(meta_end(now, error_code, duration_secs), out)
            }
            Input::PbxCancelled if self.params.origin == BicOrigin::SipPhone => {
                let draft = EndDraft::new(now, EndReason::HungUp, Side::Business);
                self.terminate(now, draft, d.connect_done, out)
            }
            Input::HangUp => {
                self.reject_pbx(487, out);
                self.release_agent(out);
                let draft = EndDraft::new(now, EndReason::HungUp, Side::Operator);
                self.terminate(now, draft, d.connect_done, out)
            }
            Input::Timeout if now >= d.ring_deadline => {
                self.reject_pbx(480, out);
                self.release_agent(out);
                let draft = EndDraft::new(now, EndReason::NoAnswer, Side::Gateway).detail(format!(
                    "the user did not answer within {} s",
                    self.config.bic_ring_timeout.as_secs_f64()
                ));
                self.terminate(now, draft, d.connect_done, out)
            }
            Input::Timeout => BicState::Dialing(d),
            other => {
                ignore(out, &other, "dialing");
                BicState::Dialing(d)
            }
        }
    }

    fn connected(&mut self, now: Instant, input: Input, out: &mut Vec<Action>) -> BicState {
        match input {
            Input::MetaTerminate {
                error_code,
                duration_secs,
                ..
            } => {
                out.push(Action::Record(Step::MetaTerminated { error_code }));
                self.hang_up_pbx(out);
                self.finish(meta_end(now, error_code, duration_secs), out)
            }
            Input::PbxHangup
                if self.params.origin == BicOrigin::SipPhone || self.agent == Agent::Answered =>
            {
                self.agent = Agent::Idle;
                let draft = EndDraft::new(now, EndReason::HungUp, Side::Business);
                self.terminate(now, draft, true, out)
            }
            Input::HangUp => {
                self.hang_up_pbx(out);
                let draft = EndDraft::new(now, EndReason::HungUp, Side::Operator);
                self.terminate(now, draft, true, out)
            }
            Input::MediaFailed { reason } => {
                self.hang_up_pbx(out);
                let draft = EndDraft::new(now, EndReason::MediaFailed { reason }, Side::Gateway);
                self.terminate(now, draft, true, out)
            }
            Input::MetaStatus(status @ MetaCallStatus::Accepted) => {
                out.push(Action::Record(Step::UserStatus(status)));
                BicState::Connected
            }
            // The connect response may trail the webhook and media.
            Input::GraphDone {
                request: GraphRequestKind::Connect,
                result: Ok(_),
            } => {
                out.push(Action::Record(Step::GraphOk(GraphRequestKind::Connect)));
                BicState::Connected
            }
            Input::Timeout => BicState::Connected,
            other => {
                ignore(out, &other, "connected");
                BicState::Connected
            }
        }
    }

    /// Sends `terminate`, or waits for the call id if the `connect` response is still out.
    fn terminate(
        &self,
        now: Instant,
        draft: EndDraft,
        connect_done: bool,
        out: &mut Vec<Action>,
    ) -> BicState {
        let deadline = now + self.config.teardown_timeout;
        match (&self.call_id, connect_done) {
            (Some(call_id), _) => {
                out.push(Action::Graph(GraphRequest::Terminate {
                    call_id: call_id.clone(),
                }));
                BicState::Ending(Ending::after_graph(
                    draft,
                    GraphRequestKind::Terminate,
                    deadline,
                ))
            }
            (None, false) => BicState::Ending(Ending::before_call_id(draft, deadline)),
            (None, true) => self.finish(
                draft.detail("Meta gave no call id for this call; nothing to terminate"),
                out,
            ),
        }
    }

    /// The end of a call whose agent did not answer within the ring timeout.
    fn agent_no_answer(&self, now: Instant) -> EndDraft {
        EndDraft::new(
            now,
            EndReason::PbxFailed(PbxFailure::Timeout),
            Side::Business,
        )
        .detail(format!(
            "the agent did not answer within {} s",
            self.config.pbx_ring_timeout.as_secs_f64()
        ))
    }

    /// Both legs are up: audio flows both ways from now on.
    fn connect(&mut self, now: Instant, out: &mut Vec<Action>) -> BicState {
        out.push(Action::StartAudio);
        out.push(Action::Record(Step::Connected));
        self.connected_at = Some(now);
        BicState::Connected
    }

    fn mode(&self) -> Option<BridgeMode> {
        self.params.agent.as_ref().map(|a| a.mode)
    }

    /// Sends the INVITE to the API call's agent.
    fn ring_agent(&mut self, out: &mut Vec<Action>) {
        let Some(agent) = &self.params.agent else {
            return;
        };
        self.agent = Agent::Ringing;
        out.push(Action::RingPbx(PbxRing {
            call_id: self.call_id.clone().unwrap_or_default(),
            from: Some(self.params.to.clone()),
            from_user_id: None,
            display_name: Some(format!("WhatsApp +{}", self.params.to)),
            to: agent.target.clone(),
            cta_payload: None,
            deeplink_payload: self.params.biz_opaque.clone(),
            target: Some(agent.target.clone()),
        }));
    }

    /// Frees the API call's agent: CANCEL while it rings, BYE once it answered.
    fn release_agent(&mut self, out: &mut Vec<Action>) {
        match std::mem::replace(&mut self.agent, Agent::Idle) {
            Agent::Ringing => out.push(Action::CancelPbx),
            Agent::Answered => out.push(Action::HangUpPbx),
            Agent::Idle => {}
        }
    }

    fn reject_pbx(&self, status: u16, out: &mut Vec<Action>) {
        if self.params.origin == BicOrigin::SipPhone {
            out.push(Action::RejectPbx { status });
        }
    }

    fn hang_up_pbx(&mut self, out: &mut Vec<Action>) {
        if self.params.origin == BicOrigin::SipPhone {
            out.push(Action::HangUpPbx);
        }
        self.release_agent(out);
    }

    fn finish(&self, draft: EndDraft, out: &mut Vec<Action>) -> BicState {
        let outcome = draft.finish(
            Direction::BusinessInitiated,
            self.created_at,
            self.connected_at,
        );
        out.push(Action::Ended(outcome));
        BicState::Ended
    }
}

/// The SIP final response to give an agent's phone when Meta refuses a business-initiated call.
pub fn sip_status_for_meta_error(code: Option<u32>) -> u16 {
    match code {
        // No permission, not available in this country, calling disabled, daily cap reached.
        Some(138000 | 138006 | 138012 | 138013 | 138014) => 403,
        // Not a WhatsApp user, or an unsupported client.
        Some(138001) => 404,
        // A call with this user is already ongoing.
        Some(138003) => 486,
        // Rate and concurrency limits.
        Some(613 | 138002 | 138005) => 503,
        _ => 502,
    }
}
