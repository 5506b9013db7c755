//! The per-call task: owns one [`Call`] machine and carries out its actions (Graph requests,
//! policy checks, records), feeding results back as inputs. One task per call, nothing shared
//! between calls but the store, the Graph client and the registry's map of senders.
//!
//! Graph requests run as their own small tasks that post their result into this call's channel, so
//! a slow Meta never stops the call from seeing a terminate webhook or a timer.

use super::record;
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
}

/// Runs `call` until it has ended and every request it sent has answered.
/// `initial` are the actions returned by the machine's constructor.
pub(super) async fn drive(
    mut call: Call,
    initial: Vec<Action>,
    key: String,
    tx: mpsc::UnboundedSender<Input>,
    mut rx: mpsc::UnboundedReceiver<Input>,
    deps: Arc<DriverDeps>,
    on_end: impl FnOnce(&str),
) {
    let span = tracing::info_span!("call", call_id = %key);
    let task_key = key.clone();
    async move {
        let key = task_key;
        let mut local: VecDeque<Input> = VecDeque::new();
        let mut in_flight = 0usize;
        let mut actions = initial;
        loop {
            for action in actions.drain(..) {
                execute(&call, &key, action, &deps, &tx, &mut local, &mut in_flight).await;
            }
            if let Some(input) = local.pop_front() {
                actions = call.handle(Instant::now().into_std(), input);
                continue;
            }
            if call.outcome().is_some() && in_flight == 0 {
                break;
            }
            let deadline = call.poll_timeout().map(Instant::from_std);
            let input = tokio::select! {
                msg = rx.recv() => match msg {
                    Some(input) => input,
                    // Every sender is gone: only the registry could hold one, so we are shutting down.
                    None => Input::HangUp,
                },
                _ = sleep_until(deadline) => Input::Timeout,
            };
            if let Input::GraphDone { .. } = input {
                in_flight = in_flight.saturating_sub(1);
            }
            actions = call.handle(Instant::now().into_std(), input);
        }
        tracing::info!(state = call.state().name(), "call task finished");
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

async fn execute(
    call: &Call,
    key: &str,
    action: Action,
    deps: &Arc<DriverDeps>,
    tx: &mpsc::UnboundedSender<Input>,
    local: &mut VecDeque<Input>,
    in_flight: &mut usize,
) {
    match action {
        Action::CheckPolicy => {
            let decision = match call.user_params() {
                Some(p) => deps.policy.user_call(p),
                None => deps.policy.business_call(call.phone_number_id()),
            };
            tracing::info!(allowed = decision.allowed, reason = %decision.reason, "policy decision");
            local.push_back(Input::PolicyDecision {
                allowed: decision.allowed,
                reason: decision.reason,
            });
        }
        Action::CheckPermission => {
            let d = deps.policy.business_call(call.phone_number_id());
            local.push_back(Input::PolicyDecision {
                allowed: d.allowed,
                reason: d.reason,
            });
        }
        Action::Graph(request) => {
            *in_flight += 1;
            let deps = deps.clone();
            let tx = tx.clone();
            let pnid = call.phone_number_id().to_string();
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
        Action::Record(step) => record::step(&deps.store, key, call, &step).await,
        Action::Ended(outcome) => {
            log_outcome(&outcome);
            record::ended(&deps.store, key, &outcome).await;
        }
        Action::PrepareMedia { .. } | Action::CreateOffer | Action::ApplyAnswer { .. } => {
            tracing::error!("no WhatsApp media leg is available in this build");
            local.push_back(Input::MediaFailed {
                reason: "no WhatsApp media leg is available in this build".into(),
            });
        }
        Action::RingPbx(_) => {
            tracing::error!("no SIP leg is available in this build");
            local.push_back(Input::PbxFailed(super::PbxFailure::Unreachable));
        }
        other => tracing::debug!(action = ?other, "action needs no work without media or SIP legs"),
    }
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
