//! `callgate demo`: the gateway and the sandbox on the embedded default configuration (free
//! ports, a throw-away store), one simulated WhatsApp user call, and a short report. Exits
//! non-zero when any part of the flow does not happen as it should.

use crate::config::Config;
use crate::gateway::Gateway;
use crate::sandbox::UserCall;
use anyhow::{Context, bail};
use std::time::{Duration, Instant};

/// Runs the demo and prints its report on stdout.
pub async fn run() -> anyhow::Result<()> {
    let mut cfg = Config::embedded_default()?;
    cfg.http.listen.set_port(0);
    cfg.sandbox.listen.set_port(0);
    cfg.sip.listen.set_port(0);
    let dir = std::env::temp_dir().join(format!("callgate-demo-{}", std::process::id()));
    cfg.store.path = dir.join("callgate.db");
    let pnid = cfg
        .numbers
        .first()
        .context("the default configuration has a number")?
        .phone_number_id
        .clone();

    let gw = Gateway::start(cfg).await?;
    let result = one_call(&gw, &pnid).await;
    gw.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn one_call(gw: &Gateway, pnid: &str) -> anyhow::Result<()> {
    let sandbox = &gw.sandbox.as_ref().context("sandbox not running")?.sandbox;
    println!(
        "callgate demo: gateway on http://{}, sandbox Cloud API on http://{}",
        gw.http_addr,
        gw.sandbox
            .as_ref()
            .map(|s| s.addr.to_string())
            .unwrap_or_default()
    );
    let started = Instant::now();
    let mut call = UserCall::new("16315553602", pnid);
    call.contact_name = Some("Demo Caller".into());
    call.cta_payload = Some("order-12853".into());
    let call_id = sandbox.simulate_user_call(call)?;
    println!("simulated WhatsApp user 16315553602 calls business number id {pnid}: call {call_id}");

    // Wait for the call to end in the gateway's record.
    let record = loop {
        let store = gw.store.clone();
        let id = call_id.clone();
        let rec = tokio::task::spawn_blocking(move || store.get_call(&id)).await??;
        if let Some(r) = rec.filter(|r| r.ended_at_ms.is_some()) {
            break r;
        }
        if started.elapsed() > Duration::from_secs(10) {
            bail!("call {call_id} did not end within 10 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let store = gw.store.clone();
    let id = call_id.clone();
    let timeline = tokio::task::spawn_blocking(move || store.timeline(&id)).await??;

    println!("\ntimeline of {call_id}:");
    for ev in &timeline {
        let detail = if ev.detail.is_null() {
            String::new()
        } else {
            ev.detail.to_string()
        };
        println!(
            "  +{:>5} ms  {:<28} {}",
            ev.at_ms - record.created_at_ms,
            ev.kind,
            detail
        );
    }
    println!("\ncall record: {}", serde_json::to_string_pretty(&record)?);

    // What Meta (the sandbox) saw.
    let meta = sandbox
        .call_state(&call_id)
        .context("sandbox lost the call")?;
    println!(
        "\nsandbox view: state {:?}, end reason {:?}",
        meta.state, meta.end_reason
    );
    let actions: Vec<String> = sandbox
        .requests()
        .iter()
        .filter(|r| r.body.get("call_id").and_then(|v| v.as_str()) == Some(call_id.as_str()))
        .map(|r| {
            format!(
                "{} -> HTTP {}",
                r.body["action"].as_str().unwrap_or("?"),
                r.http_status
            )
        })
        .collect();
    println!(
        "Graph requests Meta received for the call: {}",
        actions.join(", ")
    );

    // The default configuration has no PBX route yet, so the gateway must decline the call
    // cleanly: policy explains why, Meta receives `reject`, the record says so.
    let rejected = actions.iter().any(|a| a == "reject -> HTTP 200");
    if !rejected {
        bail!("the sandbox did not receive a successful reject for {call_id}");
    }
    if record.outcome.as_deref() != Some("denied") {
        bail!("unexpected outcome {:?}", record.outcome);
    }
    println!(
        "\nresult: OK in {} ms: the call was received, verified, recorded and declined with a reason ({}).",
        started.elapsed().as_millis(),
        record.end_reason.as_deref().unwrap_or("")
    );
    Ok(())
}
