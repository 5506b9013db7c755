//! The call registry: Meta call id -> the sender of that call's task. Webhooks, the API and the
//! SIP transport reach a call only through here; the registry itself holds no call state.

use super::driver::{self, DriverDeps};
use super::{Call, CallConfig, Input, UserCallParams, record};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// Live calls by Meta call id. Cheap to clone.
#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

struct Inner {
    calls: Mutex<HashMap<String, mpsc::UnboundedSender<Input>>>,
    deps: Arc<DriverDeps>,
    config: CallConfig,
}

impl Registry {
    /// An empty registry whose calls use `deps` and `config`.
    pub fn new(deps: DriverDeps, config: CallConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                calls: Mutex::new(HashMap::new()),
                deps: Arc::new(deps),
                config,
            }),
        }
    }

    fn calls(&self) -> std::sync::MutexGuard<'_, HashMap<String, mpsc::UnboundedSender<Input>>> {
        // A panic while holding this lock cannot leave the map inconsistent (single operations).
        self.inner.calls.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends `input` to the live call `call_id`; false if there is no such call.
    pub fn deliver(&self, call_id: &str, input: Input) -> bool {
        match self.calls().get(call_id) {
            Some(tx) => tx.send(input).is_ok(),
            None => false,
        }
    }

    /// Whether `call_id` is a live call.
    pub fn contains(&self, call_id: &str) -> bool {
        self.calls().contains_key(call_id)
    }

    /// Number of live calls.
    pub fn active_calls(&self) -> usize {
        self.calls().len()
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
        {
            let mut calls = self.calls();
            if calls.contains_key(&key) {
                return false;
            }
            calls.insert(key.clone(), tx.clone());
            metrics::gauge!("callgate_calls_active").set(calls.len() as f64);
        }
        let log = record::CallLog::new(self.inner.deps.store.clone());
        record::create_user_call(&log, &params, business_number);
        let now = tokio::time::Instant::now().into_std();
        let (call, initial) = Call::user_initiated(now, params, self.inner.config.clone());
        metrics::counter!("callgate_calls_started_total", "direction" => "user_initiated")
            .increment(1);
        let registry = self.clone();
        tokio::spawn(driver::drive(
            call,
            initial,
            key,
            tx,
            rx,
            self.inner.deps.clone(),
            log,
            move |id| registry.remove(id),
        ));
        true
    }

    fn remove(&self, call_id: &str) {
        let mut calls = self.calls();
        calls.remove(call_id);
        metrics::gauge!("callgate_calls_active").set(calls.len() as f64);
    }

    /// Asks every live call to hang up (shutdown).
    pub fn hang_up_all(&self) {
        for tx in self.calls().values() {
            let _ = tx.send(Input::HangUp);
        }
    }
}
