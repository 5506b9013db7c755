//! The running service: opens the store, binds the sockets, wires webhook intake, the call
//! registry, the operator API and (when enabled) the sandbox, and shuts it all down cleanly.

use crate::api::{self, ApiState, ApiTokens};
use crate::call::legs::LegsEnv;
use crate::call::phone_calls::{self, PhoneCallsConfig};
use crate::call::{CallConfig, DriverDeps, Registry};
use crate::cloud::graph::{GraphClient, GraphClientConfig};
use crate::cloud::intake::{self, Intake};
use crate::cloud::webhook::WebhookEndpoint;
use crate::config::Config;
use crate::pbx::SipTransport;
use crate::policy::Policy;
use crate::policy::permission_service::{PermissionConfig, PermissionService, RequestTemplate};
use crate::policy::permissions::Limits;
use crate::sandbox::{Sandbox, SandboxConfig};
use crate::settings::SettingsWatch;
use crate::store::Store;
use crate::telemetry;
use anyhow::Context;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

/// The sandbox running inside the gateway.
pub struct RunningSandbox {
    /// Its state and control methods.
    pub sandbox: Sandbox,
    /// Where its Graph endpoints and control API listen.
    pub addr: SocketAddr,
}

/// A running gateway.
pub struct Gateway {
    /// Where `/webhook`, `/v1/...`, `/healthz` and `/metrics` listen.
    pub http_addr: SocketAddr,
    /// The sandbox, when `[sandbox] enabled`.
    pub sandbox: Option<RunningSandbox>,
    /// Call records.
    pub store: Store,
    /// Live calls.
    pub registry: Registry,
    /// Where SIP toward the PBX is sent and received (UDP and TCP).
    pub sip_addr: SocketAddr,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

fn sandbox_config(cfg: &Config, webhook_url: Option<url::Url>) -> SandboxConfig {
    SandboxConfig {
        access_token: cfg.meta.access_token.expose().to_string(),
        app_secret: cfg.meta.app_secret.expose().to_string(),
        webhook_url,
        numbers: cfg
            .numbers
            .iter()
            .map(|n| (n.phone_number_id.clone(), n.display_phone_number.clone()))
            .collect(),
        answer_window: cfg.calls.answer_window(),
        duplicate_deliveries: cfg.sandbox.duplicate_deliveries,
        reorder_deliveries: cfg.sandbox.reorder_deliveries,
        ..SandboxConfig::default()
    }
}

async fn bind(addr: SocketAddr, what: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} for {what}: is another process using it? change the address in the configuration"))
}

impl Gateway {
    /// Starts everything `cfg` describes. Port 0 in `[http] listen` or `[sandbox] listen` picks
    /// a free port (the real addresses are in the returned value).
    pub async fn start(cfg: Config) -> anyhow::Result<Gateway> {
        let metrics = telemetry::metrics_handle();
        let path = cfg.store.path.clone();
        let store = tokio::task::spawn_blocking(move || Store::open(&path))
            .await
            .context("store task")??;

        let http_listener = bind(cfg.http.listen, "[http] listen").await?;
        let http_addr = http_listener.local_addr()?;
        let (stop, stop_rx) = watch::channel(false);
        let mut tasks = JoinSet::new();

        let mut graph_base = cfg.meta.graph_base_url.clone();
        let sandbox = if cfg.sandbox.enabled {
            let listener = bind(cfg.sandbox.listen, "[sandbox] listen").await?;
            let addr = listener.local_addr()?;
            graph_base = format!("http://{addr}");
            let webhook_url = url::Url::parse(&format!("http://{http_addr}/webhook"))?;
            let sandbox = Sandbox::new(sandbox_config(&cfg, Some(webhook_url)));
            let s = sandbox.clone();
            let mut rx = stop_rx.clone();
            tasks.spawn(async move {
                tokio::select! {
                    r = s.serve(listener) => if let Err(e) = r { tracing::error!(error = %e, "sandbox server failed") },
                    _ = rx.wait_for(|s| *s) => {}
                }
            });
            tracing::info!(%addr, "sandbox Cloud API running (offline stand-in for Meta)");
            Some(RunningSandbox { sandbox, addr })
        } else {
            None
        };

        let graph = GraphClient::new(GraphClientConfig {
            base_url: url::Url::parse(&graph_base)?,
            api_version: cfg.meta.api_version.clone(),
            access_token: cfg.meta.access_token.expose().to_string(),
            timeout: Duration::from_secs(cfg.meta.request_timeout_s),
            max_retries: cfg.meta.max_retries,
            backoff_base: Duration::from_millis(200),
        })?;
        let sip = SipTransport::bind(&cfg.sip).await?;
        tracing::info!(addr = %sip.local_addr(), "SIP toward the PBX (UDP and TCP)");
        let sip = Arc::new(sip);
        let legs = Arc::new(LegsEnv::new(&cfg, sip.clone())?);
        // Business hours (file, then those set through the API) and the settings at Meta.
        let policy = Policy::from_config(&cfg);
        policy.apply_stored_hours(&store);
        let settings = SettingsWatch::new(&cfg, policy.clone());
        settings.check_at_start(graph.clone());
        let call_config = CallConfig {
            answer_window: cfg.calls.answer_window(),
            pbx_ring_timeout: Duration::from_secs(cfg.calls.pbx_ring_timeout_s),
            pbx_setup_timeout: Duration::from_secs(cfg.sip.setup_timeout_s),
            ..CallConfig::default()
        };
        let permissions =
            Arc::new(PermissionService::new(
                store.clone(),
                Some(graph.clone()),
                PermissionConfig {
                    limits: Limits {
                        connected_calls_per_day: cfg.permissions.connected_calls_per_day,
                        graph_ttl_ms: cfg.permissions.cache_ttl_s as i64 * 1000,
                        ..Limits::default()
                    },
                    template: cfg.permissions.request_template.clone().map(|name| {
                        RequestTemplate {
                            name,
                            language: cfg.permissions.template_language.clone(),
                        }
                    }),
                    request_text: cfg.permissions.request_text.clone(),
                },
            ));
        let registry = Registry::new(
            DriverDeps {
                permissions: permissions.clone(),
                graph,
                store: store.clone(),
                policy,
                legs: Some(legs.clone()),
            },
            call_config,
        );

        let intake = Intake {
            permissions: permissions.clone(),
            store: store.clone(),
            registry: registry.clone(),
            answer_window: cfg.calls.answer_window(),
            settings: settings.clone(),
        };
        intake::recover(&intake).await;
        match PhoneCallsConfig::from_config(&cfg) {
            Some(phones) => {
                let new_calls = sip.take_new_calls();
                let mut rx = stop_rx.clone();
                let serve = phone_calls::serve(new_calls, phones, legs.clone(), registry.clone());
                tasks.spawn(async move {
                    tokio::select! {
                        _ = serve => {}
                        _ = rx.wait_for(|s| *s) => {}
                    }
                });
            }
            None => {
                tracing::warn!("no business number to call from: SIP phones' calls are refused")
            }
        }
        let (intake_tx, intake_rx) = mpsc::channel(1024);
        tasks.spawn(intake.run(intake_rx));

        let app = WebhookEndpoint {
            app_secret: cfg.meta.app_secret.clone(),
            verify_token: cfg.meta.verify_token.clone(),
            store: store.clone(),
            intake: intake_tx,
            max_body_bytes: cfg.http.max_body_bytes,
        }
        .router()
        .merge(api::router(
            ApiState {
                store: store.clone(),
                registry: registry.clone(),
                permissions: permissions.clone(),
                numbers: cfg
                    .numbers
                    .iter()
                    .map(|n| (n.phone_number_id.clone(), n.display_phone_number.clone()))
                    .collect(),
                settings,
            },
            ApiTokens::new(cfg.api.tokens.clone()),
            metrics,
        ));
        let mut rx = stop_rx.clone();
        tasks.spawn(async move {
            let served = axum::serve(http_listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.wait_for(|s| *s).await;
                })
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "HTTP server failed");
            }
        });
        tracing::info!(%http_addr, store = %cfg.store.path.display(), "callgate running");
        Ok(Gateway {
            http_addr,
            sandbox,
            store,
            registry,
            sip_addr: sip.local_addr(),
            stop,
            tasks,
        })
    }

    /// Hangs up live calls, stops accepting webhooks and waits (up to 5 s) for tasks to finish.
    pub async fn shutdown(mut self) {
        self.registry.hang_up_all();
        // Live calls end their legs (BYE/CANCEL to the PBX, terminate/reject to Meta) first.
        let calls_gone = async {
            while self.registry.active_calls() > 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        if tokio::time::timeout(Duration::from_secs(5), calls_gone)
            .await
            .is_err()
        {
            tracing::warn!("some calls did not end within 5 s");
        }
        let _ = self.stop.send(true);
        let drain = async { while self.tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(Duration::from_secs(5), drain)
            .await
            .is_err()
        {
            tracing::warn!("some tasks did not stop within 5 s");
            self.tasks.abort_all();
        }
    }
}

async fn signal() {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

/// `callgate run`: the gateway until SIGINT/SIGTERM.
pub async fn run_until_signal(cfg: Config) -> anyhow::Result<()> {
    let gw = Gateway::start(cfg).await?;
    signal().await;
    tracing::info!("stopping");
    gw.shutdown().await;
    Ok(())
}

/// `callgate sandbox`: the sandbox alone until SIGINT/SIGTERM.
pub async fn run_sandbox_until_signal(
    cfg: Config,
    webhook_url: Option<url::Url>,
) -> anyhow::Result<()> {
    let url = match webhook_url {
        Some(u) => u,
        None => url::Url::parse(&format!("http://{}/webhook", cfg.http.listen))?,
    };
    let listener = bind(cfg.sandbox.listen, "[sandbox] listen").await?;
    tracing::info!(addr = %listener.local_addr()?, webhook_url = %url, "sandbox Cloud API running");
    let sandbox = Sandbox::new(sandbox_config(&cfg, Some(url)));
    tokio::select! {
        r = sandbox.serve(listener) => r?,
        _ = signal() => {}
    }
    Ok(())
}
