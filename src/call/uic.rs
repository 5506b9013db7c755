//! The user-initiated call flow (spec 3.8): connect webhook -> policy -> media answer ->
//! `pre_accept` + INVITE to the PBX -> PBX 200 (+ media up) -> `accept` with the same SDP ->
//! audio after accept's 200 -> hang-up from either side. Failures before `accept` become a
//! `reject`, after it a `terminate`; a caller who hangs up needs neither.

use std::mem;
use std::time::{Duration, Instant};

use super::action::{Action, GraphRequest, PbxRing, Step};
use super::config::CallConfig;
use super::input::{GraphRequestKind, Input, PbxFailure};
use super::machine::CallState;
use super::outcome::{Direction, EndDraft, EndReason, Side};
use super::route::{PbxRoute, fails_over};
use super::teardown::{Ending, Teardown, ignore};

mod targets;

/// What the connect webhook of a user-initiated call tells us.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserCallParams {
    /// Meta's call id (`wacid.…`).
    pub call_id: String,
    /// The business phone number id the call came in on (`metadata.phone_number_id`).
    pub phone_number_id: String,
    /// The caller's number, if Meta sent one (username users may have none).
    pub from: Option<String>,
    /// The caller's business-scoped user id (2026), if Meta sent one.
    pub from_user_id: Option<String>,
    /// The caller's profile name (`contacts[].profile.name`).
    pub display_name: Option<String>,
    /// The business number that was called.
    pub to: String,
    /// Meta's SDP offer.
    pub offer_sdp: String,
    /// Call-button payload, if any.
    pub cta_payload: Option<String>,
    /// Deep-link payload, if any.
    pub deeplink_payload: Option<String>,
    /// `biz_opaque_callback_data` to send with `accept`, if any.
    pub biz_opaque: Option<String>,
}

/// Where the INVITE to the PBX stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PbxLeg {
    /// INVITE sent, no response yet.
    Trying {
        setup_deadline: Instant,
        ring_deadline: Instant,
    },
    /// A provisional response arrived.
    Ringing { ring_deadline: Instant },
    /// 200 OK.
    Answered,
}

/// `pre_accept` sent and the PBX invited; waiting for the three conditions of `accept`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Answering {
    /// Sent in `pre_accept`; `accept` reuses this exact string.
    answer_sdp: String,
    pre_accepted: bool,
    pbx: PbxLeg,
    media_up: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum UicState {
    CheckingPolicy,
    PreparingMedia,
    Answering(Answering),
    /// `accept` sent, waiting for its 200; the PBX has answered.
    Accepting,
    Connected,
    Ending(Ending),
    Ended,
}

/// A user-initiated call.
#[derive(Debug, Clone)]
pub(crate) struct Uic {
    params: UserCallParams,
    config: CallConfig,
    created_at: Instant,
    answer_deadline: Instant,
    connected_at: Option<Instant>,
    /// Where to ring, from the policy; `target` indexes the one being rung.
    route: PbxRoute,
    target: usize,
    state: UicState,
}

impl Uic {
    pub fn new(now: Instant, params: UserCallParams, config: CallConfig) -> (Self, Vec<Action>) {
        let call = Self {
            answer_deadline: now + config.answer_window,
            params,
            config,
            created_at: now,
            connected_at: None,
            route: PbxRoute::default(),
            target: 0,
            state: UicState::CheckingPolicy,
        };
        (
            call,
            vec![Action::Record(Step::Offered), Action::CheckPolicy],
        )
    }

    pub fn params(&self) -> &UserCallParams {
        &self.params
    }

    pub fn state(&self) -> CallState {
        match self.state {
            UicState::CheckingPolicy => CallState::CheckingPolicy,
            UicState::PreparingMedia => CallState::PreparingMedia,
            UicState::Answering(_) => CallState::Answering,
            UicState::Accepting => CallState::Accepting,
            UicState::Connected => CallState::Connected,
            UicState::Ending(_) => CallState::Ending,
            UicState::Ended => CallState::Ended,
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.state {
            UicState::CheckingPolicy | UicState::PreparingMedia => Some(self.answer_deadline),
            UicState::Answering(a) => Some(match a.pbx {
                PbxLeg::Trying { setup_deadline, .. } => setup_deadline.min(self.answer_deadline),
                PbxLeg::Ringing { ring_deadline } => ring_deadline.min(self.answer_deadline),
                PbxLeg::Answered => self.answer_deadline,
            }),
            UicState::Ending(e) => Some(e.deadline()),
            UicState::Accepting | UicState::Connected | UicState::Ended => None,
        }
    }

    pub fn handle(&mut self, now: Instant, input: Input, out: &mut Vec<Action>) {
        let name = self.state().name();
        self.state = match mem::replace(&mut self.state, UicState::Ended) {
            UicState::CheckingPolicy => self.checking_policy(now, input, out),
            UicState::PreparingMedia => self.preparing_media(now, input, out),
            UicState::Answering(a) => self.answering(now, a, input, out),
            UicState::Accepting => self.accepting(now, input, out),
            UicState::Connected => self.connected(now, input, out),
            UicState::Ending(e) => match e.handle(now, input, out) {
                Teardown::Waiting(e) => UicState::Ending(e),
                Teardown::Done(draft) => self.finish(draft, out),
            },
            UicState::Ended => {
                ignore(out, &input, name);
                UicState::Ended
            }
        };
    }

    fn checking_policy(&mut self, now: Instant, input: Input, out: &mut Vec<Action>) -> UicState {
        let (allowed, reason, route) = match input {
            Input::PolicyDecision { allowed, reason } => (allowed, reason, PbxRoute::default()),
            Input::Routed { reason, route } => (true, reason, route),
            other => {
                return self.before_answer(
                    now,
                    other,
                    "checking_policy",
                    UicState::CheckingPolicy,
                    out,
                );
            }
        };
        out.push(Action::Record(Step::PolicyChecked {
            allowed,
            reason: reason.clone(),
        }));
        if allowed {
            self.route = route;
            out.push(Action::PrepareMedia {
                offer: self.params.offer_sdp.clone(),
            });
            UicState::PreparingMedia
        } else {
            let draft = EndDraft::new(now, EndReason::Denied { reason }, Side::Business);
            self.reject(now, draft, out)
        }
    }

    fn preparing_media(&mut self, now: Instant, input: Input, out: &mut Vec<Action>) -> UicState {
        match input {
            Input::MediaPrepared { answer_sdp } => {
                out.push(Action::Record(Step::MediaPrepared));
                // pre_accept first (spec 3.7: even before the INVITE), without waiting for its 200.
                out.push(Action::Graph(GraphRequest::PreAccept {
                    call_id: self.params.call_id.clone(),
                    sdp: answer_sdp.clone(),
                }));
                out.push(Action::RingPbx(self.pbx_ring()));
                UicState::Answering(Answering {
                    answer_sdp,
                    pre_accepted: false,
                    pbx: self.trying(now),
                    media_up: false,
                })
            }
            Input::MediaFailed { reason } => {
                let draft = EndDraft::new(now, EndReason::MediaFailed { reason }, Side::Gateway);
                self.reject(now, draft, out)
            }
            other => {
                self.before_answer(now, other, "preparing_media", UicState::PreparingMedia, out)
            }
        }
    }

    /// Inputs that mean the same in every state before the PBX is invited.
    fn before_answer(
        &mut self,
        now: Instant,
        input: Input,
        name: &'static str,
        stay: UicState,
        out: &mut Vec<Action>,
    ) -> UicState {
        match input {
            Input::MetaTerminate {
                error_code,
                duration_secs,
                ..
            } => {
                out.push(Action::Record(Step::MetaTerminated { error_code }));
                let draft = meta_end(now, error_code, duration_secs);
                self.finish(draft, out)
            }
            Input::HangUp => {
                let draft = EndDraft::new(now, EndReason::HungUp, Side::Operator);
                self.reject(now, draft, out)
            }
            Input::Timeout if now >= self.answer_deadline => {
                let draft = self.answer_window_expired(now);
                self.reject(now, draft, out)
            }
            Input::Timeout => stay,
            other => {
                ignore(out, &other, name);
                stay
            }
        }
    }

    fn answering(
        &mut self,
        now: Instant,
        mut a: Answering,
        input: Input,
        out: &mut Vec<Action>,
    ) -> UicState {
        match input {
            Input::GraphDone {
                request: GraphRequestKind::PreAccept,
                result,
            } if !a.pre_accepted => match result {
                Ok(_) => {
                    out.push(Action::Record(Step::GraphOk(GraphRequestKind::PreAccept)));
                    a.pre_accepted = true;
                    self.try_accept(a, out)
                }
                Err(failure) => {
                    out.push(Action::Record(Step::GraphFailed {
                        request: GraphRequestKind::PreAccept,
                        code: failure.code,
                        message: failure.message,
                    }));
                    release_pbx(a.pbx, out);
                    let reason = EndReason::GraphError {
                        request: GraphRequestKind::PreAccept,
                    };
                    let draft = EndDraft::new(now, reason, Side::Meta).code(failure.code);
                    self.reject(now, draft, out)
                }
            },
            Input::PbxProgress { status } if matches!(a.pbx, PbxLeg::Trying { .. }) => {
                if let PbxLeg::Trying { ring_deadline, .. } = a.pbx {
                    a.pbx = PbxLeg::Ringing { ring_deadline };
                }
                out.push(Action::Record(Step::PbxRinging { status }));
                UicState::Answering(a)
            }
            Input::PbxAnswered if a.pbx != PbxLeg::Answered => {
                out.push(Action::Record(Step::PbxAnswered));
                a.pbx = PbxLeg::Answered;
                self.try_accept(a, out)
            }
            Input::PbxFailed(kind) if a.pbx != PbxLeg::Answered => {
                if fails_over(kind) && self.has_next_target() {
                    return self.fail_over(now, a, kind, out);
                }
                let draft = EndDraft::new(now, EndReason::PbxFailed(kind), Side::Business);
                self.reject(now, draft, out)
            }
            Input::PbxHangup if a.pbx == PbxLeg::Answered => {
                let draft = EndDraft::new(now, EndReason::HungUp, Side::Business);
                self.reject(now, draft, out)
            }
            Input::MediaConnected if !a.media_up => {
                out.push(Action::Record(Step::MediaConnected));
                a.media_up = true;
                self.try_accept(a, out)
            }
            Input::MediaFailed { reason } => {
                release_pbx(a.pbx, out);
                let draft = EndDraft::new(now, EndReason::MediaFailed { reason }, Side::Gateway);
                self.reject(now, draft, out)
            }
            Input::MetaTerminate {
                error_code,
                duration_secs,
                ..
            } => {
                // The caller gave up (or Meta ended the call): no reject, just free the PBX.
                out.push(Action::Record(Step::MetaTerminated { error_code }));
                release_pbx(a.pbx, out);
                self.finish(meta_end(now, error_code, duration_secs), out)
            }
            Input::HangUp => {
                release_pbx(a.pbx, out);
                let draft = EndDraft::new(now, EndReason::HungUp, Side::Operator);
                self.reject(now, draft, out)
            }
            Input::Timeout => self.answering_timeout(now, a, out),
            other => {
                ignore(out, &other, "answering");
                UicState::Answering(a)
            }
        }
    }

    fn answering_timeout(&mut self, now: Instant, a: Answering, out: &mut Vec<Action>) -> UicState {
        let (setup, ring) = match a.pbx {
            PbxLeg::Trying {
                setup_deadline,
                ring_deadline,
            } => (Some(setup_deadline), Some(ring_deadline)),
            PbxLeg::Ringing { ring_deadline } => (None, Some(ring_deadline)),
            PbxLeg::Answered => (None, None),
        };
        // The earliest deadline that has passed decides the reason.
        let expired = [
            (setup, Expiry::PbxSetup),
            (ring, Expiry::PbxRing),
            (Some(self.answer_deadline), Expiry::AnswerWindow),
        ]
        .into_iter()
        .filter_map(|(at, what)| at.filter(|at| now >= *at).map(|at| (at, what)))
        .min_by_key(|(at, _)| *at);
        let Some((_, what)) = expired else {
            return UicState::Answering(a);
        };
        release_pbx(a.pbx, out);
        let failure = match what {
            Expiry::PbxSetup => Some(PbxFailure::Unreachable),
            Expiry::PbxRing => Some(PbxFailure::Timeout),
            Expiry::AnswerWindow => None,
        };
        if let Some(failure) = failure
            && self.has_next_target()
        {
            return self.fail_over(now, a, failure, out);
        }
        let draft = match what {
            Expiry::PbxSetup => EndDraft::new(
                now,
                EndReason::PbxFailed(PbxFailure::Unreachable),
                Side::Business,
            )
            .detail(format!(
                "no response from the PBX within {}",
                secs(self.config.pbx_setup_timeout)
            )),
            Expiry::PbxRing => EndDraft::new(
                now,
                EndReason::PbxFailed(PbxFailure::Timeout),
                Side::Business,
            )
            .detail(format!(
                "the PBX did not answer within {}",
                secs(self.ring_timeout())
            )),
            Expiry::AnswerWindow => self.answer_window_expired(now),
        };
        self.reject(now, draft, out)
    }

    /// Sends `accept` once `pre_accept` succeeded, the PBX answered and (by default) media is up.
    fn try_accept(&mut self, a: Answering, out: &mut Vec<Action>) -> UicState {
        let media_ready = a.media_up || !self.config.accept_requires_media;
        if a.pre_accepted && a.pbx == PbxLeg::Answered && media_ready {
            out.push(Action::Graph(GraphRequest::Accept {
                call_id: self.params.call_id.clone(),
                sdp: a.answer_sdp,
                biz_opaque: self.params.biz_opaque.clone(),
            }));
            UicState::Accepting
        } else {
            UicState::Answering(a)
        }
    }

    fn accepting(&mut self, now: Instant, input: Input, out: &mut Vec<Action>) -> UicState {
        match input {
            Input::GraphDone {
                request: GraphRequestKind::Accept,
                result: Ok(_),
            } => {
                out.push(Action::Record(Step::GraphOk(GraphRequestKind::Accept)));
                out.push(Action::StartAudio);
                out.push(Action::Record(Step::Connected));
                self.connected_at = Some(now);
                UicState::Connected
            }
            Input::GraphDone {
                request: GraphRequestKind::Accept,
                result: Err(failure),
            } => {
                out.push(Action::Record(Step::GraphFailed {
                    request: GraphRequestKind::Accept,
                    code: failure.code,
                    message: failure.message,
                }));
                out.push(Action::HangUpPbx);
                let reason = EndReason::GraphError {
                    request: GraphRequestKind::Accept,
                };
                let draft = EndDraft::new(now, reason, Side::Meta).code(failure.code);
                // Best effort: the call was never accepted, so tell Meta to stop ringing.
                self.reject(now, draft, out)
            }
            other => self.established(now, other, "accepting", UicState::Accepting, out),
        }
    }

    fn connected(&mut self, now: Instant, input: Input, out: &mut Vec<Action>) -> UicState {
        self.established(now, input, "connected", UicState::Connected, out)
    }

    /// Inputs that mean the same once `accept` is out: the PBX dialog exists, so ends are a BYE
    /// toward the PBX and/or a `terminate` toward Meta.
    fn established(
        &mut self,
        now: Instant,
        input: Input,
        name: &'static str,
        stay: UicState,
        out: &mut Vec<Action>,
    ) -> UicState {
        match input {
            Input::MetaTerminate {
                error_code,
                duration_secs,
                ..
            } => {
                out.push(Action::Record(Step::MetaTerminated { error_code }));
                out.push(Action::HangUpPbx);
                self.finish(meta_end(now, error_code, duration_secs), out)
            }
            Input::PbxHangup => {
                let draft = EndDraft::new(now, EndReason::HungUp, Side::Business);
                self.terminate(now, draft, out)
            }
            Input::HangUp => {
                out.push(Action::HangUpPbx);
                let draft = EndDraft::new(now, EndReason::HungUp, Side::Operator);
                self.terminate(now, draft, out)
            }
            Input::MediaFailed { reason } => {
                out.push(Action::HangUpPbx);
                let draft = EndDraft::new(now, EndReason::MediaFailed { reason }, Side::Gateway);
                self.terminate(now, draft, out)
            }
            Input::Timeout => stay,
            other => {
                ignore(out, &other, name);
                stay
            }
        }
    }

    fn pbx_ring(&self) -> PbxRing {
        let p = &self.params;
        PbxRing {
            target: self.route.targets.get(self.target).cloned(),
            call_id: p.call_id.clone(),
            from: p.from.clone(),
            from_user_id: p.from_user_id.clone(),
            display_name: p.display_name.clone(),
            to: p.to.clone(),
            cta_payload: p.cta_payload.clone(),
            deeplink_payload: p.deeplink_payload.clone(),
        }
    }

    fn answer_window_expired(&self, now: Instant) -> EndDraft {
        EndDraft::new(now, EndReason::AnswerWindowExpired, Side::Gateway).detail(format!(
            "nobody answered within the {} answer window",
            secs(self.config.answer_window)
        ))
    }

    fn reject(&self, now: Instant, draft: EndDraft, out: &mut Vec<Action>) -> UicState {
        out.push(Action::Graph(GraphRequest::Reject {
            call_id: self.params.call_id.clone(),
        }));
        let deadline = now + self.config.teardown_timeout;
        UicState::Ending(Ending::after_graph(
            draft,
            GraphRequestKind::Reject,
            deadline,
        ))
    }

    fn terminate(&self, now: Instant, draft: EndDraft, out: &mut Vec<Action>) -> UicState {
        out.push(Action::Graph(GraphRequest::Terminate {
            call_id: self.params.call_id.clone(),
        }));
        let deadline = now + self.config.teardown_timeout;
        UicState::Ending(Ending::after_graph(
            draft,
            GraphRequestKind::Terminate,
            deadline,
        ))
    }

    fn finish(&self, draft: EndDraft, out: &mut Vec<Action>) -> UicState {
        let outcome = draft.finish(Direction::UserInitiated, self.created_at, self.connected_at);
        out.push(Action::Ended(outcome));
        UicState::Ended
    }
}

#[derive(Debug, Clone, Copy)]
enum Expiry {
    PbxSetup,
    PbxRing,
    AnswerWindow,
}

/// Frees the PBX leg: CANCEL while it rings, BYE once it answered.
fn release_pbx(pbx: PbxLeg, out: &mut Vec<Action>) {
    out.push(match pbx {
        PbxLeg::Trying { .. } | PbxLeg::Ringing { .. } => Action::CancelPbx,
        PbxLeg::Answered => Action::HangUpPbx,
    });
}

/// The end described by a terminate webhook: a hang-up by the user, or a failure on Meta's side
/// when it carries an error code.
///
/// The terminate `status` is not used: its value set is undocumented (spec open question 5) and a
/// caller who gives up before answer may well be reported as `FAILED` without any error.
pub(crate) fn meta_end(
    now: Instant,
    error_code: Option<u32>,
    duration_secs: Option<u64>,
) -> EndDraft {
    let mut draft = match error_code {
        Some(_) => EndDraft::new(now, EndReason::MetaFailure, Side::Meta).code(error_code),
        None => EndDraft::new(now, EndReason::HungUp, Side::User),
    };
    draft.meta_duration_secs = duration_secs;
    draft
}

fn secs(d: Duration) -> String {
    format!("{} s", d.as_secs_f64())
}
