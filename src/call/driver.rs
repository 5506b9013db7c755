//! The per-call task: owns one [`Call`] machine and the call's [`Legs`] (WhatsApp media, PBX
//! SIP and RTP, the bridge) and carries out the machine's actions (Graph requests, policy
//! checks, media and SIP commands, records), feeding results back as inputs. One task per call,
//! nothing shared between calls but the store, the Graph client, the SIP transport and the
//! registry's map of senders.
//!
//! Graph requests run as their own small tasks that post their result into this call's channel, so
//! a slow Meta never stops the call from seeing a terminate webhook, a BYE or a timer, and never
//! stalls its audio clock.

use super::legs::{LegOutput, Legs, LegsEnv, PhoneLeg};
use super::record::{self, CallLog};
use super::registry::Registry;
use super::{
    Action, Call, Direction, EndReason, GraphFailure, GraphRequest, GraphRequestKind, GraphSuccess,
    Input, Outcome,
};
use crate::cloud::graph::{GraphClient, GraphError};
use crate::pbx::Refusal;
use crate::policy::Policy;
use crate::policy::permission_service::PermissionService;
use crate::store::Store;
use std::collections::VecDeque;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::Instrument;

/// What every call task shares.
pub struct DriverDeps {
    /// Meta's Graph API (or the sandbox).
    pub graph: GraphClient,
    /// Call records and timelines.
    pub store: Store,
    /// The rules calls are checked against.
    pub policy: Policy,
    /// Call permissions (business-initiated calls) and their counters.
    pub permissions: Arc<PermissionService>,
    /// SIP transport, media ports and codecs for the call legs; `None` runs calls without media
    /// or SIP (they fail at the first media or PBX action, with that reason).
    pub legs: Option<Arc<LegsEnv>>,
}

/// The per-call state the action executor works on.
struct Task<'a> {
    call: Call,
    key: String,
    deps: &'a Arc<DriverDeps>,
    tx: mpsc::UnboundedSender<Input>,
    legs: Option<Legs>,
    local: VecDeque<Input>,
    in_flight: usize,
    registry: Registry,
    /// Meta's call id once the registry knows it (business-initiated calls learn it late).
    meta_id_known: bool,
    /// Why the call was refused, for a SIP phone's final response.
    refusal: Refusal,
    /// The SIP status of that refusal when it is not the machine's (480 outside hours).
    refusal_status: Option<u16>,
    /// The call's store writes, written behind (see [`record`]).
    log: CallLog,
}

/// A call's key and the two ends of its input channel.
pub(super) struct Channel {
    pub key: String,
    pub tx: mpsc::UnboundedSender<Input>,
    pub rx: mpsc::UnboundedReceiver<Input>,
}

/// Runs `call` until it has ended, every request it sent has answered, its PBX leg has
/// finished and its `log` is written. `initial` are the actions returned by the machine's
/// constructor; `phone` is the leg of a SIP phone that placed the call.
pub(super) async fn drive(
    call: Call,
    initial: Vec<Action>,
    channel: Channel,
    deps: Arc<DriverDeps>,
    registry: Registry,
    log: CallLog,
    phone: Option<PhoneLeg>,
) {
    let Channel { key, tx, mut rx } = channel;
    let span = tracing::info_span!("call", call_id = %key);
    let task_key = key.clone();
    async move {
        let mut t = Task {
            call,
            key: task_key,
            deps: &deps,
            tx,
            legs: deps.legs.clone().map(|env| {
                let mut legs = Legs::new(env);
                if let Some(p) = phone {
                    legs.attach_phone(p);
                }
                legs
            }),
            refusal: Refusal::default(),
            refusal_status: None,
            local: VecDeque::new(),
            in_flight: 0,
            meta_id_known: false,
            registry,
            log,
        };
        let mut actions = initial;
        loop {
            for action in actions.drain(..) {
                t.execute(action).await;
            }
            if let Some(input) = t.local.pop_front() {
                actions = t.handle(input).await;
                continue;
            }
            let settled = t.legs.as_ref().is_none_or(Legs::settled);
            if t.call.outcome().is_some() && t.in_flight == 0 && settled {
                break;
            }
            let deadline = t.call.poll_timeout().map(Instant::from_std);
            let input = tokio::select! {
                msg = rx.recv() => match msg {
                    Some(input) => input,
                    // Every sender is gone: only the registry could hold one, so we are shutting down.
                    None => Input::HangUp,
                },
                _ = sleep_until(deadline) => Input::Timeout,
                wake = legs_wait(t.legs.as_mut()) => {
                    let out = match t.legs.as_mut() {
                        Some(legs) => legs.handle(wake).await,
                        None => Vec::new(),
                    };
                    t.absorb(out).await;
                    continue;
                }
            };
            if let Input::GraphDone { .. } = input {
                t.in_flight = t.in_flight.saturating_sub(1);
            }
            actions = t.handle(input).await;
        }
        tracing::info!(state = t.call.state().name(), "call task finished");
        t.log.flush().await;
        t.registry.remove(&t.key);
    }
    .instrument(span)
    .await;
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

async fn legs_wait(legs: Option<&mut Legs>) -> super::legs::Wake {
    match legs {
        Some(l) => l.wait().await,
        None => std::future::pending().await,
    }
}

impl Task<'_> {
    /// Feeds `input` to the machine; a successful `pre_accept` first kicks DTLS (L5).
    async fn handle(&mut self, input: Input) -> Vec<Action> {
        if let Input::GraphDone {
            request: GraphRequestKind::PreAccept,
            result: Ok(_),
        } = &input
            && let Some(legs) = &mut self.legs
        {
            let out = legs.pre_accepted();
            self.absorb(out).await;
        }
        if let Input::GraphDone {
            request: GraphRequestKind::Connect,
            result: Err(f),
        } = &input
        {
            self.refusal = Refusal {
                text: format!("WhatsApp refused the call: {}", f.message),
                retry_after_s: None,
            };
        }
        let actions = self.call.handle(Instant::now().into_std(), input);
        if !self.meta_id_known
            && let Some(meta_id) = self.call.call_id().map(str::to_string)
        {
            self.meta_id_known = true;
            if self.call.direction() == Direction::BusinessInitiated {
                self.registry.learn_meta_id(&self.key, &meta_id);
                record::meta_call_id(&self.log, &self.key, meta_id);
            }
        }
        actions
    }

    /// Queues the legs' inputs for the machine and records their notes.
    async fn absorb(&mut self, out: Vec<LegOutput>) {
        for o in out {
            match o {
                LegOutput::Input(i) => self.local.push_back(i),
                LegOutput::Note(kind, detail) => record::note(&self.log, &self.key, kind, detail),
            }
        }
    }

    async fn execute(&mut self, action: Action) {
        let deps = self.deps;
        match action {
            Action::CheckPolicy => {
                let decision = match self.call.user_params() {
                    Some(p) => {
                        if let Some(user) = &p.from {
                            deps.permissions
                                .on_user_call(&p.phone_number_id, user)
                                .await;
                        }
                        deps.policy.user_call(p)
                    }
                    None => deps.policy.business_call(self.call.phone_number_id()),
                };
                tracing::info!(allowed = decision.allowed, reason = %decision.reason, "policy decision");
                let detail = serde_json::json!({"allowed": decision.allowed,
                    "reason": decision.reason,
                    "targets": decision.route.as_ref().map(|r| r.targets.clone())});
                record::decision(&self.log, &self.key, detail);
                self.local.push_back(decision.into_input());
            }
            Action::CheckPermission => {
                let (allowed, reason) = self.check_business_call().await;
                self.local
                    .push_back(Input::PolicyDecision { allowed, reason });
            }
            Action::Graph(request) => {
                self.in_flight += 1;
                let deps = deps.clone();
                let tx = self.tx.clone();
                let pnid = self.call.phone_number_id().to_string();
                tokio::spawn(
                    async move {
                        let (kind, result) = send_graph(&deps.graph, &pnid, request).await;
                        let _ = tx.send(Input::GraphDone {
                            request: kind,
                            result,
                        });
                    }
                    .in_current_span(),
                );
            }
            Action::Record(step) => record::step(&self.log, &self.key, &self.call, &step),
            Action::Ended(outcome) => {
                log_outcome(&outcome);
                self.count_for_permissions(&outcome).await;
                if let Some(legs) = &mut self.legs {
                    legs.end();
                    if let Some(stats) = legs.media_stats() {
                        record::media_stats(&self.log, &self.key, stats);
                    }
                }
                record::ended(&self.log, &self.key, &outcome);
            }
            Action::PrepareMedia { offer } => {
                let out = match &mut self.legs {
                    Some(legs) => legs.prepare_media(&offer).await,
                    None => vec![no_legs_media()],
                };
                self.absorb(out).await;
            }
            Action::RingPbx(ring) => {
                let out = match &mut self.legs {
                    Some(legs) => {
                        if let Some(target) = ring.target.as_deref().or(legs.route()) {
                            record::sip_target(&self.log, &self.key, target.to_string());
                        }
                        legs.ring_pbx(&ring).await
                    }
                    None => {
                        tracing::error!("no SIP leg is available in this build");
                        vec![LegOutput::Input(Input::PbxFailed(
                            super::PbxFailure::Unreachable,
                        ))]
                    }
                };
                self.absorb(out).await;
            }
            Action::CancelPbx => {
                if let Some(legs) = &mut self.legs {
                    let out = legs.cancel_pbx().await;
                    self.absorb(out).await;
                }
            }
            Action::HangUpPbx => {
                if let Some(legs) = &mut self.legs {
                    let out = legs.hang_up_pbx().await;
                    self.absorb(out).await;
                }
            }
            Action::Ringback(to) => {
                if let Some(legs) = &mut self.legs {
                    let out = legs.start_ringback(to);
                    self.absorb(out).await;
                }
            }
            Action::StartAudio => {
                if let Some(legs) = &mut self.legs {
                    legs.start_audio();
                }
            }
            Action::CreateOffer => {
                let out = match &mut self.legs {
                    Some(legs) => legs.create_offer().await,
                    None => vec![no_legs_media()],
                };
                self.absorb(out).await;
            }
            Action::ApplyAnswer { sdp } => {
                let out = match &mut self.legs {
                    Some(legs) => legs.apply_answer(&sdp),
                    None => vec![no_legs_media()],
                };
                self.absorb(out).await;
            }
            Action::ProgressPbx => {
                if let Some(legs) = &mut self.legs {
                    legs.progress_pbx().await;
                }
            }
            Action::AnswerPbx => {
                if let Some(legs) = &mut self.legs {
                    let out = legs.answer_pbx().await;
                    self.absorb(out).await;
                }
            }
            Action::RejectPbx { status } => {
                let status = self.refusal_status.unwrap_or(status);
                if let Some(legs) = &mut self.legs {
                    legs.reject_pbx(status, &self.refusal).await;
                }
            }
        }
    }
}

impl Task<'_> {
    /// A business-initiated call: the policy (numbers, business rules), then the user's call
    /// permission. The decision goes into the call record.
    async fn check_business_call(&mut self) -> (bool, String) {
        let deps = self.deps;
        let pnid = self.call.phone_number_id().to_string();
        let hours = deps.policy.business_hours(&pnid, jiff::Timestamp::now());
        if !hours.allowed {
            let detail = serde_json::json!({"allowed": false, "reason": hours.reason,
                "rule": "outside_business_hours",
                "next_allowed_at": hours.next_open.map(|t| t.to_string())});
            record::decision(&self.log, &self.key, detail);
            self.refusal = Refusal {
                text: hours.reason.clone(),
                retry_after_s: hours.retry_after_secs(jiff::Timestamp::now()),
            };
            self.refusal_status = Some(crate::policy::BusinessHoursDecision::SIP_STATUS);
            return (false, hours.reason);
        }
        let policy = deps.policy.business_call(&pnid);
        if !policy.allowed {
            let detail = serde_json::json!({"allowed": false, "reason": policy.reason});
            record::decision(&self.log, &self.key, detail);
            self.refusal = Refusal {
                text: policy.reason.clone(),
                retry_after_s: None,
            };
            return (false, policy.reason);
        }
        let user = self.call.business_params().map(|p| p.to.clone());
        let agent = self
            .call
            .business_params()
            .and_then(|p| p.agent.as_ref().map(|a| a.target.clone()));
        if let (Some(legs), Some(agent)) = (&mut self.legs, agent) {
            legs.set_route(Some(agent));
        }
        let verdict = match &user {
            Some(u) => deps.permissions.check_call(&pnid, u).await,
            None => return (false, "the call has no user to call".into()),
        };
        tracing::info!(allowed = verdict.allowed, reason = %verdict.reason, "permission decision");
        let detail = serde_json::json!({"allowed": verdict.allowed, "reason": verdict.reason,
            "rule": verdict.code, "next_allowed_at_ms": verdict.next_allowed_at_ms});
        record::decision(&self.log, &self.key, detail);
        if !verdict.allowed {
            let now = crate::store::now_ms();
            self.refusal = Refusal {
                text: verdict.reason.clone(),
                retry_after_s: verdict
                    .next_allowed_at_ms
                    .map(|t| ((t - now).max(0) / 1000) as u64),
            };
        }
        (verdict.allowed, verdict.reason)
    }

    /// Feeds a finished call to the permission counters (connected calls, unanswered runs).
    async fn count_for_permissions(&mut self, outcome: &Outcome) {
        let pnid = self.call.phone_number_id();
        let (user, bic) = match (self.call.user_params(), self.call.business_params()) {
            (Some(p), _) => (p.from.clone(), false),
            (None, Some(p)) => (Some(p.to.clone()), true),
            (None, None) => (None, false),
        };
        let Some(user) = user else { return };
        let p = &self.deps.permissions;
        if outcome.duration.is_some() {
            p.on_call_connected(pnid, &user, bic).await;
        } else if bic && matches!(outcome.reason, EndReason::NoAnswer | EndReason::Rejected) {
            p.on_call_unanswered(pnid, &user).await;
        }
    }
}

fn no_legs_media() -> LegOutput {
    tracing::error!("no WhatsApp media leg is available in this build");
    LegOutput::Input(Input::MediaFailed {
        reason: "no WhatsApp media leg is available in this build".into(),
    })
}

fn log_outcome(o: &Outcome) {
    metrics::counter!("callgate_calls_ended_total", "reason" => record::reason_code(&o.reason))
        .increment(1);
    tracing::info!(reason = record::reason_code(&o.reason), by = ?o.by,
        meta_error_code = o.meta_error_code, detail = o.detail.as_deref().unwrap_or(""), "call ended");
}

async fn send_graph(
    graph: &GraphClient,
    pnid: &str,
    request: GraphRequest,
) -> (GraphRequestKind, Result<GraphSuccess, GraphFailure>) {
    let (kind, result) = match request {
        GraphRequest::Connect {
            to,
            offer,
            biz_opaque,
        } => (
            GraphRequestKind::Connect,
            graph
                .connect(pnid, &to, &offer, biz_opaque.as_deref())
                .await
                .map(Some),
        ),
        GraphRequest::PreAccept { call_id, sdp } => (
            GraphRequestKind::PreAccept,
            graph.pre_accept(pnid, &call_id, &sdp).await.map(|_| None),
        ),
        GraphRequest::Accept {
            call_id,
            sdp,
            biz_opaque,
        } => (
            GraphRequestKind::Accept,
            graph
                .accept(pnid, &call_id, &sdp, biz_opaque.as_deref())
                .await
                .map(|_| None),
        ),
        GraphRequest::Reject { call_id } => (
            GraphRequestKind::Reject,
            graph.reject(pnid, &call_id).await.map(|_| None),
        ),
        GraphRequest::Terminate { call_id } => (
            GraphRequestKind::Terminate,
            graph.terminate(pnid, &call_id).await.map(|_| None),
        ),
    };
    let result = match result {
        Ok(call_id) => Ok(GraphSuccess { call_id }),
        Err(e) => {
            tracing::warn!(action = kind.as_str(), error = %e, "Graph request failed");
            Err(failure(&e))
        }
    };
    (kind, result)
}

fn failure(e: &GraphError) -> GraphFailure {
    GraphFailure {
        code: e.meta_code().map(|c| c.code()),
        message: e.to_string(),
    }
}
