//! Processing of accepted webhooks, in order, after the 200 has gone out: dedupe on
//! (call id, event/status), tombstones for calls that ended before we saw them start, stale
//! connects, and hand-off to the call registry (a business-initiated call's webhooks are matched
//! to it even before Meta's `connect` response told it its id); permission replies and user
//! messages go to the permission service. Each processed inbox row is marked done; rows left
//! unprocessed by a crash are re-dispatched by [`recover`] at start-up.

use super::events::Party;
use super::events::{
    CallConnect, CallDirection, CallStatusKind, CallTerminate, TerminateStatus, WebhookEvent,
    parse_webhook,
};
use super::webhook::AcceptedWebhook;
use crate::call::{
    self, BusinessCallHint, Input, MetaCallStatus, Registry, UserCallParams, record,
};
use crate::policy::permission_service::PermissionService;
use crate::store::{self, Store};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// What the intake needs.
#[derive(Clone)]
pub struct Intake {
    /// Dedupe keys, tombstones, the inbox.
    pub store: Store,
    /// Live calls.
    pub registry: Registry,
    /// A user's connect older than this is stale (the caller has given up): it is not answered.
    pub answer_window: Duration,
    /// Call permissions: replies and user messages update them.
    pub permissions: Arc<PermissionService>,
    /// The view of the numbers' settings at Meta (`account_settings_update`).
    pub settings: crate::settings::SettingsWatch,
}

/// The user's side of a business-initiated call's webhook: the party that is not the business
/// (Meta's samples put the user in `to`, one table example swaps them).
fn user_of<'a>(business: &str, a: &'a Party, b: &'a Party) -> Option<&'a str> {
    [a, b]
        .into_iter()
        .filter_map(|p| p.number.as_deref())
        .find(|n| *n != business)
}

fn count(event: &'static str, outcome: &'static str) {
    metrics::counter!("callgate_webhook_events_total", "event" => event, "outcome" => outcome)
        .increment(1);
}

impl Intake {
    /// Processes accepted webhooks until the channel closes.
    pub async fn run(self, mut rx: mpsc::Receiver<AcceptedWebhook>) {
        while let Some(w) = rx.recv().await {
            self.process(w, false).await;
        }
    }

    /// Processes every event of one webhook, then marks its inbox row. `recovering`: the row is
    /// re-dispatched after a crash, so its own dedupe claims may already exist and are not
    /// taken as duplicates (the call machine and registry still ignore repeated events).
    pub async fn process(&self, w: AcceptedWebhook, recovering: bool) {
        for ev in w.events {
            self.event(ev, recovering).await;
        }
        let store = self.store.clone();
        let id = w.inbox_id;
        let marked =
            tokio::task::spawn_blocking(move || store.mark_webhook_processed(id, "processed"))
                .await;
        if !matches!(marked, Ok(Ok(()))) {
            tracing::error!(
                inbox_id = id,
                "cannot mark webhook processed; it will be seen again"
            );
        }
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, store::StoreError> + Send + 'static,
    ) -> Option<T> {
        let s = self.store.clone();
        match tokio::task::spawn_blocking(move || f(&s)).await {
            Ok(Ok(v)) => Some(v),
            Ok(Err(e)) => {
                tracing::error!(error = %e, "store error while processing a webhook");
                None
            }
            Err(e) => {
                tracing::error!(error = %e, "store task failed while processing a webhook");
                None
            }
        }
    }

    async fn event(&self, ev: WebhookEvent, recovering: bool) {
        let name = ev.name();
        if let Some(key) = ev.dedupe_key().filter(|_| !recovering) {
            let k = key.clone();
            let fresh = self
                .blocking(move |s| s.claim_event(&k, store::now_ms()))
                .await
                // The store failed: process anyway; the call machine ignores duplicates too.
                .unwrap_or(true);
            if !fresh {
                count(name, "duplicate");
                tracing::info!(
                    call_id = ev.call_id().unwrap_or(""),
                    key,
                    "duplicate webhook event ignored"
                );
                if let Some(id) = ev.call_id() {
                    record::event(&self.store, id, "webhook.duplicate", json!({ "key": key }))
                        .await;
                }
                return;
            }
        }
        match ev {
            WebhookEvent::CallConnect(c) if c.is_offer() => self.user_connect(c).await,
            WebhookEvent::CallConnect(c) => {
                let hint = BusinessCallHint {
                    phone_number_id: &c.origin.phone_number_id,
                    user: user_of(&c.origin.display_phone_number, &c.to, &c.from),
                    biz_opaque: c.biz_opaque_callback_data.as_deref(),
                };
                let input = c.sdp.clone().map(|sdp| Input::MetaConnect {
                    call_id: c.call_id.clone(),
                    sdp,
                });
                let detail = |delivered| {
                    json!({
                        "sdp_type": "answer", "delivered": delivered, "meta_call_id": c.call_id,
                    })
                };
                self.to_business_call(name, &c.call_id, hint, input, "webhook.connect", detail)
                    .await;
            }
            WebhookEvent::CallTerminate(t) => self.terminate(t).await,
            WebhookEvent::SettingsUpdate(u) => count(name, self.settings.on_webhook(u)),
            WebhookEvent::CallStatus(s) => {
                let status = match &s.status {
                    CallStatusKind::Ringing => Some(MetaCallStatus::Ringing),
                    CallStatusKind::Accepted => Some(MetaCallStatus::Accepted),
                    CallStatusKind::Rejected => Some(MetaCallStatus::Rejected),
                    _ => None,
                };
                let hint = BusinessCallHint {
                    phone_number_id: &s.origin.phone_number_id,
                    user: s.recipient.number.as_deref(),
                    biz_opaque: s.biz_opaque_callback_data.as_deref(),
                };
                let input = status.map(Input::MetaStatus);
                let detail =
                    |delivered| json!({"status": s.status.as_upper(), "delivered": delivered});
                self.to_business_call(name, &s.call_id, hint, input, "webhook.status", detail)
                    .await;
            }
            WebhookEvent::CallPermissionReply(r) => {
                count(name, "applied");
                self.permissions.on_reply(&r).await;
            }
            WebhookEvent::UserMessage(m) => {
                count(name, "applied");
                if let Some(user) = m.from.number.as_deref() {
                    self.permissions
                        .on_user_message(&m.origin.phone_number_id, user)
                        .await;
                }
            }
            other => {
                count(name, "recorded");
                tracing::info!(event = name, "webhook event recorded; no call action");
                if let Some(id) = other.call_id() {
                    record::event(
                        &self.store,
                        id,
                        &format!("webhook.{name}"),
                        serde_json::Value::Null,
                    )
                    .await;
                }
            }
        }
    }

    /// The key a webhook about Meta call `meta_id` is recorded under: the call's own key
    /// (business-initiated calls have one of their own), else the Meta id.
    async fn record_key(&self, meta_id: &str) -> String {
        if let Some(k) = self.registry.key_of(meta_id) {
            return k;
        }
        let id = meta_id.to_string();
        self.blocking(move |s| s.find_call(&id))
            .await
            .flatten()
            .map_or_else(|| meta_id.to_string(), |r| r.id)
    }

    /// Hands `input`, when there is one, to the business-initiated call `call_id`, counts whether a
    /// call took it, and records the webhook on the call's timeline as `kind` with
    /// `detail(delivered)`.
    async fn to_business_call(
        &self,
        name: &'static str,
        call_id: &str,
        hint: BusinessCallHint<'_>,
        input: Option<Input>,
        kind: &str,
        detail: impl FnOnce(bool) -> serde_json::Value,
    ) {
        let delivered = input.is_some_and(|i| self.registry.deliver_business(call_id, hint, i));
        count(
            name,
            if delivered {
                "delivered"
            } else {
                "unknown_call"
            },
        );
        let key = self.record_key(call_id).await;
        record::event(&self.store, &key, kind, detail(delivered)).await;
    }

    async fn user_connect(&self, c: CallConnect) {
        let id = c.call_id.clone();
        let tombstoned = {
            let id = id.clone();
            self.blocking(move |s| s.is_tombstoned(&id))
                .await
                .unwrap_or(false)
        };
        if tombstoned {
            count("call_connect", "after_terminate");
            tracing::info!(call_id = %id, "connect arrived after its terminate: ignored");
            record::event(
                &self.store,
                &id,
                "webhook.connect_after_terminate",
                json!({"ignored": true}),
            )
            .await;
            return;
        }
        let age_s = (store::now_ms() / 1000).saturating_sub(c.timestamp as i64);
        if age_s > self.answer_window.as_secs() as i64 {
            count("call_connect", "stale");
            tracing::warn!(call_id = %id, age_s, "connect is older than the answer window: the caller has given up; not answered");
            record::event(
                &self.store,
                &id,
                "webhook.connect_stale",
                json!({"age_s": age_s}),
            )
            .await;
            return;
        }
        let Some(offer) = c.sdp.clone() else {
            count("call_connect", "no_sdp");
            tracing::warn!(call_id = %id, "user-initiated connect without an SDP offer: cannot answer");
            return;
        };
        let business_number = Some(c.origin.display_phone_number.clone()).filter(|s| !s.is_empty());
        let params = UserCallParams {
            call_id: id.clone(),
            phone_number_id: c.origin.phone_number_id.clone(),
            from: c.from.number.clone(),
            from_user_id: c.from.user_id.clone(),
            display_name: c.contact.as_ref().and_then(|k| k.name.clone()),
            to: c
                .to
                .id()
                .unwrap_or(&c.origin.display_phone_number)
                .to_string(),
            offer_sdp: offer,
            cta_payload: c.cta_payload.clone(),
            deeplink_payload: c.deeplink_payload.clone(),
            biz_opaque: None,
        };
        let started = self.registry.start_user_call(params, business_number).await;
        count(
            "call_connect",
            if started {
                "call_started"
            } else {
                "already_live"
            },
        );
        record::event(
            &self.store,
            &id,
            "webhook.connect",
            json!({
            "sdp_type": "offer", "from": c.from.id(), "cta_payload": c.cta_payload,
            "deeplink_payload": c.deeplink_payload, "started": started}),
        )
        .await;
    }

    async fn terminate(&self, t: CallTerminate) {
        let id = t.call_id.clone();
        let error_code = t.errors.first().map(|e| e.code as u32);
        let status = match t.status {
            Some(TerminateStatus::Completed) => call::TerminateStatus::Completed,
            Some(TerminateStatus::Failed) => call::TerminateStatus::Failed,
            _ => call::TerminateStatus::Other,
        };
        let detail = json!({
            "status": t.status.as_ref().map(|s| s.as_str().to_string()),
            "duration": t.duration, "error_code": error_code,
            "errors": t.errors.iter().map(|e| json!({"code": e.code, "message": e.message})).collect::<Vec<_>>(),
        });
        let hint = BusinessCallHint {
            phone_number_id: &t.origin.phone_number_id,
            user: user_of(&t.origin.display_phone_number, &t.to, &t.from),
            biz_opaque: t.biz_opaque_callback_data.as_deref(),
        };
        let input = Input::MetaTerminate {
            status,
            error_code,
            duration_secs: t.duration,
        };
        let business = t.direction == Some(CallDirection::BusinessInitiated);
        let delivered = if business {
            self.registry.deliver_business(&id, hint, input)
        } else {
            self.registry.deliver(&id, input)
        };
        let key = self.record_key(&id).await;
        record::event(&self.store, &key, "webhook.terminate", detail).await;
        if delivered {
            count("call_terminate", "delivered");
            return;
        }
        // Not live: either the call already ended here (refine its record with Meta's figures),
        // or we never saw it start (leave a tombstone so a late connect is ignored).
        let known = {
            let id = id.clone();
            self.blocking(move |s| s.find_call(&id))
                .await
                .flatten()
                .is_some()
        };
        if known {
            count("call_terminate", "after_end");
            let end = store::CallEnd {
                ended_at_ms: store::now_ms(),
                meta_error_code: error_code.map(i64::from),
                duration_s: t.duration.map(|d| d as i64),
                ..Default::default()
            };
            self.blocking(move |s| s.end_call(&key, &end).map(|_| ()))
                .await;
        } else {
            count("call_terminate", "tombstone");
            tracing::info!(call_id = %id, "terminate for a call not seen yet: tombstone left");
            let id2 = id.clone();
            self.blocking(move |s| s.add_tombstone(&id2, store::now_ms()))
                .await;
        }
    }
}

/// Re-dispatches inbox rows a crash left unprocessed (they were answered 200 but maybe not
/// handled). Call this before serving webhooks.
pub async fn recover(intake: &Intake) -> usize {
    let store = intake.store.clone();
    let rows = match tokio::task::spawn_blocking(move || store.unprocessed_webhooks()).await {
        Ok(Ok(rows)) => rows,
        _ => {
            tracing::error!("cannot read the webhook inbox; unprocessed webhooks not recovered");
            return 0;
        }
    };
    let n = rows.len();
    for row in rows {
        match parse_webhook(&row.body) {
            Ok(events) => {
                intake
                    .process(
                        AcceptedWebhook {
                            inbox_id: row.id,
                            events,
                        },
                        true,
                    )
                    .await
            }
            Err(e) => {
                tracing::error!(inbox_id = row.id, error = %e, "stored webhook no longer parses; marked failed");
                let s = intake.store.clone();
                let _ = tokio::task::spawn_blocking(move || {
                    s.mark_webhook_processed(row.id, "unparsable")
                })
                .await;
            }
        }
    }
    if n > 0 {
        tracing::info!(
            count = n,
            "re-dispatched webhooks left unprocessed by the last run"
        );
    }
    n
}
