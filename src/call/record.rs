//! Writing a call's life into the store: the record created when a call starts, one timeline
//! entry per [`Step`], the record's step timestamps, and the end ([`Outcome`]).
//!
//! Store writes are short single-row statements; they run on the blocking pool so a slow disk
//! never stalls the call task's timers. The call task does not even wait for them: it queues
//! them on its [`CallLog`], written behind in order, so no SQLite commit (or WAL checkpoint)
//! sits between Meta's connect webhook and our `pre_accept`; the task flushes its log before it
//! ends.

use super::{Call, Direction, EndReason, GraphRequestKind, Outcome, Side, Step, UserCallParams};
use crate::store::{self, CallEnd, CallRecord, Store, TimelineEvent};
use serde_json::json;
use tokio::sync::mpsc;

/// Queues the record of a user-initiated call from its connect webhook.
pub(super) fn create_user_call(log: &CallLog, p: &UserCallParams, business_number: Option<String>) {
    let mut rec = CallRecord::new(
        &p.call_id,
        store::Direction::UserInitiated,
        &p.phone_number_id,
        "offered",
        store::now_ms(),
    );
    rec.business_number = business_number;
    rec.meta_call_id = Some(p.call_id.clone());
    rec.user_wa_id = p.from.clone();
    rec.user_id = p.from_user_id.clone();
    rec.cta_payload = p.cta_payload.clone();
    rec.deeplink_payload = p.deeplink_payload.clone();
    rec.biz_opaque_callback_data = p.biz_opaque.clone();
    log.push(move |s| s.upsert_call(&rec));
}

/// Queues the record of a business-initiated call under its own key.
pub(super) fn create_business_call(
    log: &CallLog,
    key: &str,
    p: &super::BusinessCallParams,
    business_number: Option<String>,
) {
    let mut rec = CallRecord::new(
        key,
        store::Direction::BusinessInitiated,
        &p.phone_number_id,
        "requested",
        store::now_ms(),
    );
    rec.business_number = business_number;
    rec.user_wa_id = Some(p.to.clone());
    rec.biz_opaque_callback_data = p.biz_opaque.clone();
    rec.sip_target = p.agent.as_ref().map(|a| a.target.clone());
    log.push(move |s| s.upsert_call(&rec));
}

/// Queues Meta's call id of a business-initiated call for its record.
pub(super) fn meta_call_id(log: &CallLog, key: &str, meta_id: String) {
    update(log, key, move |rec| rec.meta_call_id = Some(meta_id));
}

/// Queues the policy decision that let the call go ahead or stopped it.
pub(super) fn decision(log: &CallLog, key: &str, decision: serde_json::Value) {
    update(log, key, move |rec| rec.decision = Some(decision));
}

/// Appends `kind` with `detail` to the timeline of `call_id`.
pub async fn event(store: &Store, call_id: &str, kind: &str, detail: serde_json::Value) {
    blocking(store, event_job(call_id, kind, detail)).await;
}

/// The write that appends `kind` with `detail` to the timeline of `call_id`, stamped now.
fn event_job(call_id: &str, kind: &str, detail: serde_json::Value) -> impl Job {
    let id = call_id.to_string();
    let ev = TimelineEvent {
        at_ms: store::now_ms(),
        kind: kind.to_string(),
        detail,
        outcome: None,
    };
    move |s: &Store| s.append_event(&id, &ev)
}

/// Queues `kind` with `detail` for the timeline of the log's call.
pub(super) fn note(log: &CallLog, call_id: &str, kind: &str, detail: serde_json::Value) {
    log.push(event_job(call_id, kind, detail));
}

/// Queues one step of the machine: a timeline entry, and the matching record timestamp.
pub(super) fn step(log: &CallLog, key: &str, call: &Call, step: &Step) {
    let (kind, detail) = describe(step);
    note(log, key, &kind, detail);
    let now = store::now_ms();
    let state = call.state().name().to_string();
    let stamp: Option<fn(&mut CallRecord, i64)> = match step {
        Step::GraphOk(GraphRequestKind::PreAccept) => Some(|r, t| r.pre_accepted_at_ms = Some(t)),
        Step::GraphOk(GraphRequestKind::Accept) => Some(|r, t| r.accepted_at_ms = Some(t)),
        Step::PbxRinging { .. } | Step::UserStatus(super::MetaCallStatus::Ringing) => {
            Some(|r, t| {
                r.ringing_at_ms.get_or_insert(t);
            })
        }
        Step::Connected => Some(|r, t| r.connected_at_ms = Some(t)),
        _ => None,
    };
    update(log, key, move |rec| {
        if rec.ended_at_ms.is_none() {
            rec.state = state;
        }
        if let Some(f) = stamp {
            f(rec, now);
        }
    });
}

/// Queues the SIP URI the call rang for its record.
pub(super) fn sip_target(log: &CallLog, key: &str, target: String) {
    update(log, key, move |rec| rec.sip_target = Some(target));
}

/// Queues the call's media statistics (both legs and the bridge) for its record.
pub(super) fn media_stats(log: &CallLog, key: &str, stats: serde_json::Value) {
    update(log, key, move |rec| rec.stats = Some(stats));
}

/// Queues `f` applied to the stored record of `key` (if there is one).
fn update(log: &CallLog, key: &str, f: impl FnOnce(&mut CallRecord) + Send + 'static) {
    let id = key.to_string();
    log.push(move |s| {
        let Some(mut rec) = s.get_call(&id)? else {
            return Ok(());
        };
        f(&mut rec);
        s.update_call(&rec)
    });
}

/// Queues the end of a call.
pub(super) fn ended(log: &CallLog, key: &str, o: &Outcome) {
    let end = CallEnd {
        ended_at_ms: store::now_ms(),
        outcome: Some(outcome_code(o).to_string()),
        end_reason: Some(match &o.reason {
            EndReason::Denied { reason } => format!("denied: {reason}"),
            EndReason::MediaFailed { reason } => format!("media_failed: {reason}"),
            other => reason_code(other).to_string(),
        }),
        ended_by: Some(side_code(o.by).to_string()),
        meta_error_code: o.meta_error_code.map(i64::from),
        duration_s: None,
    };
    note(
        log,
        key,
        "call.ended",
        json!({"reason": reason_code(&o.reason), "by": side_code(o.by),
               "meta_error_code": o.meta_error_code, "detail": o.detail}),
    );
    let id = key.to_string();
    log.push(move |s| s.end_call(&id, &end).map(|_| ()));
}

/// Stable code of an end reason, for records and metric labels.
pub fn reason_code(r: &EndReason) -> &'static str {
    use super::PbxFailure as P;
    match r {
        EndReason::HungUp => "hung_up",
        EndReason::Denied { .. } => "denied",
        EndReason::PbxFailed(P::Busy) => "pbx_busy",
        EndReason::PbxFailed(P::Declined) => "pbx_declined",
        EndReason::PbxFailed(P::NotFound) => "pbx_not_found",
        EndReason::PbxFailed(P::ServerError(_)) => "pbx_server_error",
        EndReason::PbxFailed(P::Timeout) => "pbx_no_answer",
        EndReason::PbxFailed(P::Unreachable) => "pbx_unreachable",
        EndReason::AnswerWindowExpired => "answer_window_expired",
        EndReason::NoAnswer => "no_answer",
        EndReason::Rejected => "rejected",
        EndReason::MediaFailed { .. } => "media_failed",
        EndReason::GraphError { .. } => "graph_error",
        EndReason::MetaFailure => "meta_failure",
    }
}

fn outcome_code(o: &Outcome) -> &'static str {
    match (&o.reason, o.duration.is_some()) {
        (EndReason::HungUp, true) => "completed",
        (EndReason::HungUp, false) => "abandoned",
        (EndReason::Denied { .. }, _) => "denied",
        (EndReason::Rejected, _) => "rejected",
        (EndReason::NoAnswer | EndReason::AnswerWindowExpired, _) => "missed",
        (EndReason::PbxFailed(_), _) if o.direction == Direction::UserInitiated => "rejected",
        _ => "failed",
    }
}

fn side_code(s: Side) -> &'static str {
    match s {
        Side::User => "user",
        Side::Business => "business",
        Side::Operator => "operator",
        Side::Gateway => "callgate",
        Side::Meta => "meta",
    }
}

fn describe(step: &Step) -> (String, serde_json::Value) {
    match step {
        Step::PolicyChecked { allowed, reason } => (
            "policy.decision".into(),
            json!({"allowed": allowed, "reason": reason}),
        ),
        Step::GraphOk(k) => (format!("graph.{}", k.as_str()), json!({"outcome": "ok"})),
        Step::GraphFailed {
            request,
            code,
            message,
        } => (
            format!("graph.{}", request.as_str()),
            json!({"outcome": "error", "code": code, "message": message}),
        ),
        Step::PbxRinging { status } => ("sip.progress".into(), json!({ "status": status })),
        Step::PbxFailover { from, failure, to } => (
            "pbx.failover".into(),
            json!({"from": from, "to": to,
                   "failure": reason_code(&EndReason::PbxFailed(*failure)),
                   "status": match failure { super::PbxFailure::ServerError(s) => Some(*s), _ => None }}),
        ),
        Step::Ignored { input, state } => (
            "call.ignored".into(),
            json!({"input": input, "state": state}),
        ),
        Step::MetaTerminated { error_code } => (
            "webhook.terminate_applied".into(),
            json!({ "error_code": error_code }),
        ),
        other => (
            format!("call.{}", step_name(other)),
            serde_json::Value::Null,
        ),
    }
}

fn step_name(step: &Step) -> String {
    // Variant name in snake_case: `PbxAnswered` -> `pbx_answered`.
    let debug = format!("{step:?}");
    let name = debug.split(['(', ' ', '{']).next().unwrap_or("step");
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// One store write.
trait Job: FnOnce(&Store) -> Result<(), store::StoreError> + Send + 'static {}
impl<F: FnOnce(&Store) -> Result<(), store::StoreError> + Send + 'static> Job for F {}

/// A queued store write.
type BoxedJob = Box<dyn FnOnce(&Store) -> Result<(), store::StoreError> + Send>;

async fn blocking(store: &Store, f: impl Job) {
    let s = store.clone();
    match tokio::task::spawn_blocking(move || f(&s)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "cannot write the call record"),
        Err(e) => tracing::error!(error = %e, "call record task failed"),
    }
}

/// One call's store writes, queued by its task and written behind, in order, by a small task of
/// their own (each batch of queued writes in one trip to the blocking pool).
pub(super) struct CallLog {
    tx: Option<mpsc::UnboundedSender<BoxedJob>>,
    writer: Option<tokio::task::JoinHandle<()>>,
}

impl CallLog {
    /// A log writing to `store` (starts its writer task).
    pub fn new(store: Store) -> CallLog {
        let (tx, mut rx) = mpsc::unbounded_channel::<BoxedJob>();
        let writer = tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                while let Ok(next) = rx.try_recv() {
                    batch.push(next);
                }
                blocking(&store, move |s: &Store| {
                    for job in batch {
                        if let Err(e) = job(s) {
                            tracing::error!(error = %e, "cannot write the call record");
                        }
                    }
                    Ok(())
                })
                .await;
            }
        });
        CallLog {
            tx: Some(tx),
            writer: Some(writer),
        }
    }

    fn push(&self, job: impl Job) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(Box::new(job));
        }
    }

    /// Waits until everything queued is written.
    pub async fn flush(mut self) {
        drop(self.tx.take());
        if let Some(w) = self.writer.take() {
            let _ = w.await;
        }
    }
}
