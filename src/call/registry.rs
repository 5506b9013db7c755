//! The call registry: call key -> the sender of that call's task. Webhooks, the API and the SIP
//! transport reach a call only through here; the registry itself holds no call state.
//!
//! A user-initiated call's key is Meta's call id. A business-initiated call gets a key of its own
//! at once (`bic.…`, what the API returns) and learns Meta's id from the `connect` response or
//! from the connect webhook, whichever comes first; the registry then maps that id to the key.
//! A connect webhook that beats the `connect` response is matched to its call by
//! `biz_opaque_callback_data`, else by (business number, user): Meta allows one call per pair.

use super::driver::{self, DriverDeps};
use super::legs::PhoneLeg;
use super::{BusinessCallParams, Call, CallConfig, Input, UserCallParams, record};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// Live calls by key. Cheap to clone.
#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Maps {
    /// Live calls by key.
    calls: HashMap<String, mpsc::UnboundedSender<Input>>,
    /// Meta call id -> key, for business-initiated calls.
    aliases: HashMap<String, String>,
    /// Business-initiated calls that do not know their Meta id yet: (pnid, user) -> key.
    pending_by_user: HashMap<(String, String), String>,
    /// The same by `biz_opaque_callback_data`.
    pending_by_opaque: HashMap<String, String>,
}

struct Inner {
    maps: Mutex<Maps>,
    deps: Arc<DriverDeps>,
    config: CallConfig,
}

/// How to find the business-initiated call a connect webhook belongs to.
#[derive(Debug, Clone, Copy)]
pub struct BusinessCallHint<'a> {
    /// `metadata.phone_number_id`.
    pub phone_number_id: &'a str,
    /// The user's number (either party of the webhook that is not the business).
    pub user: Option<&'a str>,
    /// `biz_opaque_callback_data`, if any.
    pub biz_opaque: Option<&'a str>,
}

impl Registry {
    /// An empty registry whose calls use `deps` and `config`.
    pub fn new(deps: DriverDeps, config: CallConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                maps: Mutex::new(Maps::default()),
                deps: Arc::new(deps),
                config,
            }),
        }
    }

    fn maps(&self) -> std::sync::MutexGuard<'_, Maps> {
        // A panic while holding this lock cannot leave the maps inconsistent (single operations).
        self.inner.maps.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The key of the live call known by `id` (its key or its Meta call id).
    pub fn key_of(&self, id: &str) -> Option<String> {
        let maps = self.maps();
        if maps.calls.contains_key(id) {
            return Some(id.to_string());
        }
        maps.aliases.get(id).cloned()
    }

    /// Sends `input` to the live call known by `id` (key or Meta call id); false if none.
    pub fn deliver(&self, id: &str, input: Input) -> bool {
        let maps = self.maps();
        let key = maps.aliases.get(id).map_or(id, String::as_str);
        match maps.calls.get(key) {
            Some(tx) => tx.send(input).is_ok(),
            None => false,
        }
    }

    /// Sends a business-initiated call's webhook input; a Meta id not seen before is matched to
    /// a call still waiting for its id by `hint`, and remembered.
    pub fn deliver_business(
        &self,
        meta_id: &str,
        hint: BusinessCallHint<'_>,
        input: Input,
    ) -> bool {
        if self.deliver(meta_id, input.clone()) {
            return true;
        }
        let key = {
            let maps = self.maps();
            hint.biz_opaque
                .and_then(|o| maps.pending_by_opaque.get(o))
                .or_else(|| {
                    hint.user.and_then(|u| {
                        maps.pending_by_user
                            .get(&(hint.phone_number_id.to_string(), u.to_string()))
                    })
                })
                .cloned()
        };
        match key {
            Some(key) => {
                self.learn_meta_id(&key, meta_id);
                self.deliver(&key, input)
            }
            None => false,
        }
    }

    /// Maps `meta_id` to the business-initiated call `key` (from the `connect` response or the
    /// first webhook).
    pub fn learn_meta_id(&self, key: &str, meta_id: &str) {
        let mut maps = self.maps();
        maps.aliases.insert(meta_id.to_string(), key.to_string());
        maps.pending_by_user.retain(|_, k| k != key);
        maps.pending_by_opaque.retain(|_, k| k != key);
    }

    /// Whether `id` (key or Meta call id) is a live call.
    pub fn contains(&self, id: &str) -> bool {
        self.key_of(id).is_some()
    }

    /// Number of live calls.
    pub fn active_calls(&self) -> usize {
        self.maps().calls.len()
    }

    /// Starts the task of a user-initiated call from its connect webhook. Returns false (and
    /// does nothing) if a call with this id is already live.
    pub async fn start_user_call(
        &self,
        params: UserCallParams,
        business_number: Option<String>,
    ) -> bool {
        let key = params.call_id.clone();
        let (tx, rx) = mpsc::unbounded_channel();
        if !self.insert(&key, tx.clone()) {
            return false;
        }
        let log = record::CallLog::new(self.inner.deps.store.clone());
        record::create_user_call(&log, &params, business_number);
        let now = tokio::time::Instant::now().into_std();
        let (call, initial) = Call::user_initiated(now, params, self.inner.config.clone());
        metrics::counter!("callgate_calls_started_total", "direction" => "user_initiated")
            .increment(1);
        self.spawn(call, initial, driver::Channel { key, tx, rx }, log, None);
        true
    }

    /// Starts a business-initiated call; returns its key (what the API reports).
    pub async fn start_business_call(
        &self,
        params: BusinessCallParams,
        business_number: Option<String>,
    ) -> String {
        self.start_bic(params, business_number, None).await
    }

    /// Starts a business-initiated call placed by a SIP phone, whose leg the call takes over.
    pub async fn start_phone_call(
        &self,
        params: BusinessCallParams,
        business_number: Option<String>,
        phone: PhoneLeg,
    ) -> String {
        self.start_bic(params, business_number, Some(phone)).await
    }

    async fn start_bic(
        &self,
        params: BusinessCallParams,
        business_number: Option<String>,
        phone: Option<PhoneLeg>,
    ) -> String {
        let key = format!("bic.{}", callgate_sip::message::new_tag());
        let (tx, rx) = mpsc::unbounded_channel();
        self.insert(&key, tx.clone());
        {
            let mut maps = self.maps();
            maps.pending_by_user.insert(
                (params.phone_number_id.clone(), params.to.clone()),
                key.clone(),
            );
            if let Some(o) = &params.biz_opaque {
                maps.pending_by_opaque.insert(o.clone(), key.clone());
            }
        }
        let log = record::CallLog::new(self.inner.deps.store.clone());
        record::create_business_call(&log, &key, &params, business_number);
        let now = tokio::time::Instant::now().into_std();
        let (call, initial) = Call::business_initiated(now, params, self.inner.config.clone());
        metrics::counter!("callgate_calls_started_total", "direction" => "business_initiated")
            .increment(1);
        let channel = driver::Channel {
            key: key.clone(),
            tx,
            rx,
        };
        self.spawn(call, initial, channel, log, phone);
        key
    }

    fn insert(&self, key: &str, tx: mpsc::UnboundedSender<Input>) -> bool {
        let mut maps = self.maps();
        if maps.calls.contains_key(key) {
            return false;
        }
        maps.calls.insert(key.to_string(), tx);
        metrics::gauge!("callgate_calls_active").set(maps.calls.len() as f64);
        true
    }

    fn spawn(
        &self,
        call: Call,
        initial: Vec<super::Action>,
        channel: driver::Channel,
        log: record::CallLog,
        phone: Option<PhoneLeg>,
    ) {
        tokio::spawn(driver::drive(
            call,
            initial,
            channel,
            self.inner.deps.clone(),
            self.clone(),
            log,
            phone,
        ));
    }

    /// Forgets a finished call and its aliases.
    pub(super) fn remove(&self, key: &str) {
        let mut maps = self.maps();
        maps.calls.remove(key);
        maps.aliases.retain(|_, k| k != key);
        maps.pending_by_user.retain(|_, k| k != key);
        maps.pending_by_opaque.retain(|_, k| k != key);
        metrics::gauge!("callgate_calls_active").set(maps.calls.len() as f64);
    }

    /// Asks every live call to hang up (shutdown).
    pub fn hang_up_all(&self) {
        for tx in self.maps().calls.values() {
            let _ = tx.send(Input::HangUp);
        }
    }
}
