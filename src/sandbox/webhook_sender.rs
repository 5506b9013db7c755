//! Delivers webhooks the way Meta does: POST of the JSON body signed with `X-Hub-Signature-256`
//! (HMAC-SHA256 of the raw bytes with the app secret), retried on non-200 with backoff. Knobs make
//! it deliver every webhook twice (`duplicate`) or hold the first webhook of each call until the
//! next one for that call is sent (`reorder`: e.g. terminate before connect).
//!
//! First attempts go out one at a time in queue order (so reordering is deterministic); retries run
//! in the background and do not block the queue.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::Instant;
use url::Url;

use crate::cloud::signature::{SIGNATURE_HEADER, sign};

/// How the sender behaves.
#[derive(Clone)]
pub struct WebhookSenderConfig {
    /// Where to POST; `None` records webhooks without sending them.
    pub url: Option<Url>,
    /// The app secret used to sign (never logged).
    pub app_secret: String,
    /// Deliver every webhook twice.
    pub duplicate: bool,
    /// Hold each call's first webhook until the next one for that call (or `reorder_hold`).
    pub reorder: bool,
    /// How long a held webhook waits for a successor.
    pub reorder_hold: Duration,
    /// Retries after a non-200 or transport failure.
    pub retries: u32,
    /// First retry delay (doubled each time).
    pub retry_backoff: Duration,
    /// Timeout of one delivery attempt.
    pub timeout: Duration,
}

/// One webhook to send.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// A label: `connect`, `terminate`, `status:RINGING`, `permission_reply`, ...
    pub kind: String,
    /// The call it is about, if any (used for reordering).
    pub call_id: Option<String>,
    /// The payload.
    pub body: Value,
}

/// One delivery attempt, as recorded for tests and the demo.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeliveryRecord {
    /// The webhook's label.
    pub kind: String,
    /// The call it is about.
    pub call_id: Option<String>,
    /// 0 for the first attempt, 1.. for retries.
    pub attempt: u32,
    /// The receiver's HTTP status (`None`: not sent or transport failure).
    pub http_status: Option<u16>,
    /// Why it failed, if it did.
    pub error: Option<String>,
}

/// Handle to the delivery task. Cheap to clone.
#[derive(Clone)]
pub struct WebhookSender {
    tx: mpsc::UnboundedSender<Outgoing>,
    log: Arc<Mutex<Vec<DeliveryRecord>>>,
}

struct Worker {
    cfg: WebhookSenderConfig,
    http: reqwest::Client,
    log: Arc<Mutex<Vec<DeliveryRecord>>>,
}

impl WebhookSender {
    /// Starts the delivery task (needs a tokio runtime).
    pub fn spawn(cfg: WebhookSenderConfig) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let log = Arc::new(Mutex::new(Vec::new()));
        let http = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .build()
            .expect("a plain reqwest client builds");
        let worker = Arc::new(Worker {
            cfg,
            http,
            log: log.clone(),
        });
        tokio::spawn(run(worker, rx));
        WebhookSender { tx, log }
    }

    /// Queues a webhook.
    pub fn send(&self, kind: impl Into<String>, call_id: Option<&str>, body: Value) {
        let _ = self.tx.send(Outgoing {
            kind: kind.into(),
            call_id: call_id.map(str::to_string),
            body,
        });
    }

    /// Every delivery attempt so far.
    pub fn log(&self) -> Vec<DeliveryRecord> {
        self.log.lock().expect("webhook log lock").clone()
    }
}

async fn run(worker: Arc<Worker>, mut rx: mpsc::UnboundedReceiver<Outgoing>) {
    let mut held: HashMap<String, (Instant, Outgoing)> = HashMap::new();
    let mut seen: HashSet<String> = HashSet::new();
    loop {
        let next_deadline = held.values().map(|(d, _)| *d).min();
        let sleep_to = next_deadline.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            msg = rx.recv() => {
                let Some(w) = msg else { break };
                if worker.cfg.reorder
                    && let Some(cid) = w.call_id.clone()
                {
                    if let Some((_, first)) = held.remove(&cid) {
                        worker.deliver(w).await;
                        worker.deliver(first).await;
                        continue;
                    }
                    if seen.insert(cid.clone()) {
                        held.insert(cid, (Instant::now() + worker.cfg.reorder_hold, w));
                        continue;
                    }
                }
                worker.deliver(w).await;
            }
            _ = tokio::time::sleep_until(sleep_to), if next_deadline.is_some() => {
                let now = Instant::now();
                let mut due: Vec<(Instant, String)> = held
                    .iter()
                    .filter(|(_, (d, _))| *d <= now)
                    .map(|(k, (d, _))| (*d, k.clone()))
                    .collect();
                due.sort();
                for (_, k) in due {
                    if let Some((_, w)) = held.remove(&k) {
                        worker.deliver(w).await;
                    }
                }
            }
        }
    }
    for (_, (_, w)) in held {
        worker.deliver(w).await;
    }
}

impl Worker {
    /// First attempt (twice when duplicating), retries spawned in the background.
    async fn deliver(self: &Arc<Self>, w: Outgoing) {
        let bytes = serde_json::to_vec(&w.body).expect("JSON values serialise");
        let copies = if self.cfg.duplicate { 2 } else { 1 };
        for _ in 0..copies {
            if !self.attempt(&w, &bytes, 0).await && self.cfg.retries > 0 {
                let me = self.clone();
                let w = w.clone();
                let bytes = bytes.clone();
                tokio::spawn(async move { me.retry(w, bytes).await });
            }
        }
    }

    async fn retry(&self, w: Outgoing, bytes: Vec<u8>) {
        let mut delay = self.cfg.retry_backoff;
        for attempt in 1..=self.cfg.retries {
            tokio::time::sleep(delay).await;
            if self.attempt(&w, &bytes, attempt).await {
                return;
            }
            delay = delay.saturating_mul(2);
        }
        tracing::warn!(kind = %w.kind, call_id = ?w.call_id, "sandbox gave up delivering a webhook");
    }

    /// One POST; true when the receiver answered 200.
    async fn attempt(&self, w: &Outgoing, bytes: &[u8], attempt: u32) -> bool {
        let mut record = DeliveryRecord {
            kind: w.kind.clone(),
            call_id: w.call_id.clone(),
            attempt,
            http_status: None,
            error: None,
        };
        let ok = match &self.cfg.url {
            None => {
                record.error = Some("no webhook_url configured: not sent".into());
                true
            }
            Some(url) => {
                let signature = sign(self.cfg.app_secret.as_bytes(), bytes);
                let result = self
                    .http
                    .post(url.clone())
                    .header(http::header::CONTENT_TYPE, "application/json")
                    .header(SIGNATURE_HEADER, signature)
                    .body(bytes.to_vec())
                    .send()
                    .await;
                match result {
                    Ok(resp) => {
                        let status = resp.status().as_u16();
                        record.http_status = Some(status);
                        status == 200
                    }
                    Err(e) => {
                        record.error = Some(e.to_string());
                        false
                    }
                }
            }
        };
        tracing::debug!(kind = %w.kind, call_id = ?w.call_id, attempt, ok, "sandbox webhook delivery");
        self.log.lock().expect("webhook log lock").push(record);
        ok
    }
}
