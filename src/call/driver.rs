//! The per-call task: owns one [`Call`] machine and the call's [`Legs`] (WhatsApp media, PBX
//! SIP and RTP, the bridge) and carries out the machine's actions (Graph requests, policy
//! checks, media and SIP commands, records), feeding results back as inputs. One task per call,
//! nothing shared between calls but the store, the Graph client, the SIP transport and the
//! registry's map of senders.
//!
//! Graph requests run as their own small tasks that post their result into this call's channel, so
//! a slow Meta never stops the call from seeing a terminate webhook, a BYE or a timer, and never
//! stalls its audio clock.

use super::legs::{LegOutput, Legs, LegsEnv};
use super::record::{self, CallLog};
use super::{
    Action, Call, GraphFailure, GraphRequest, GraphRequestKind, GraphSuccess, Input, Outcome,
};
use crate::cloud::graph::{GraphClient, GraphError};
use crate::policy::Policy;
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
    /// The call's store writes, written behind (see [`record`]).
    log: CallLog,
}

/// Runs `call` until it has ended, every request it sent has answered, its PBX leg has
/// finished and its `log` is written. `initial` are the actions returned by the machine's
/// constructor.
#[allow(clippy::too_many_arguments)]
pub(super) async fn drive(
    call: Call,
    initial: Vec<Action>,
    key: String,
    tx: mpsc::UnboundedSender<Input>,
    mut rx: mpsc::UnboundedReceiver<Input>,
    deps: Arc<DriverDeps>,
    log: CallLog,
    on_end: impl FnOnce(&str),
) {
    let span = tracing::info_span!("call", call_id = %key);
    let task_key = key.clone();
    async move {
        let mut t = Task {
            call,
            key: task_key,
            deps: &deps,
            tx,
            legs: deps.legs.clone().map(Legs::new),
            local: VecDeque::new(),
            in_flight: 0,
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
    }
    .instrument(span)
    .await;
    on_end(&key);
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
        self.call.handle(Instant::now().into_std(), input)
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
                    Some(p) => deps.policy.user_call(p),
                    None => deps.policy.business_call(self.call.phone_number_id()),
                };
                tracing::info!(allowed = decision.allowed, reason = %decision.reason, "policy decision");
                if let Some(legs) = &mut self.legs {
                    legs.set_route(decision.route.clone());
                }
                self.local.push_back(Input::PolicyDecision {
                    allowed: decision.allowed,
                    reason: decision.reason,
                });
            }
            Action::CheckPermission => {
                let d = deps.policy.business_call(self.call.phone_number_id());
                self.local.push_back(Input::PolicyDecision {
                    allowed: d.allowed,
                    reason: d.reason,
                });
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
                        if let Some(target) = legs.route() {
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
            Action::StartAudio => {
                if let Some(legs) = &mut self.legs {
                    legs.start_audio();
                }
            }
            Action::CreateOffer | Action::ApplyAnswer { .. } => {
                // Business-initiated media comes with the business-initiated calls issue.
                self.local.push_back(Input::MediaFailed {
                    reason: "business-initiated media is not available in this build".into(),
                });
            }
            other => {
                tracing::debug!(action = ?other, "action needs no work without a SIP phone leg")
            }
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
