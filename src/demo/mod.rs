//! `callgate demo`: one complete call, offline. The gateway and the sandbox (Meta's stand-in)
//! run on the embedded default configuration (free ports, a throw-away store); the sandbox's
//! simulated WhatsApp user calls the business with a 440 Hz tone; callgate answers over
//! WebRTC and rings an agent phone over SIP: baresip when it is installed (it plays 1000 Hz and
//! records what it hears), otherwise the built-in SIP agent ([`crate::agent`]), and says which.
//! Both sides exchange DTMF, the WhatsApp user hangs up, and a report shows setup time, the
//! tone heard at each end, the digits, who hung up and the call record. Exits non-zero when
//! any check fails.

pub mod baresip;
mod far_end;

use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::config::Config;
use crate::gateway::Gateway;
use crate::media::analysis::dominant_frequency;
use crate::sandbox::UserCall;
use crate::sandbox::phone::MediaReport;
use crate::sandbox::phone::audio::rms;
use crate::store::CallRecord;
use far_end::FarEnd;

/// The WhatsApp user's tone.
const USER_HZ: f64 = 440.0;
/// The agent's tone.
const AGENT_HZ: f64 = 1000.0;
/// Digits the WhatsApp user presses.
const USER_DIGITS: &str = "1#";
/// Digit the agent presses (baresip only).
const AGENT_DIGITS: &str = "5";

/// Runs the demo and prints its report on stdout.
pub async fn run() -> anyhow::Result<()> {
    let far = FarEnd::start().await?;
    let mut cfg = Config::embedded_default()?;
    cfg.http.listen.set_port(0);
    cfg.sandbox.listen.set_port(0);
    cfg.sip.listen.set_port(0);
    // Any free media ports: the demo must not fail because 40000-40999 is busy on this host.
    cfg.media.port_min = 0;
    cfg.media.port_max = 0;
    cfg.routing.default = Some(far.uri());
    let dir = tempfile::tempdir().context("temporary directory for the demo's store")?;
    cfg.store.path = dir.path().join("callgate.db");
    let number = cfg
        .numbers
        .first()
        .context("the default configuration has a number")?
        .clone();

    let gw = Gateway::start(cfg).await?;
    println!("callgate demo: one WhatsApp call, offline");
    println!(
        "  gateway      http://{} (webhooks, API), SIP {}",
        gw.http_addr, gw.sip_addr
    );
    if let Some(s) = &gw.sandbox {
        println!(
            "  sandbox      http://{} (stands in for Meta's Cloud API)",
            s.addr
        );
    }
    println!("  agent phone  {}", far.describe());
    println!(
        "  caller       simulated WhatsApp user 16315553602 (plays {USER_HZ} Hz) calls {}",
        number.display_phone_number
    );
    let result = one_call(&gw, &far, &number.phone_number_id).await;
    gw.shutdown().await;
    result
}

/// What the demo observed, checked at the end.
struct Observed {
    record: CallRecord,
    to_user: MediaReport,
    to_agent: (Option<f64>, f64),
    agent_digits: String,
    setup_ms: Option<i64>,
}

async fn one_call(gw: &Gateway, far: &FarEnd, pnid: &str) -> anyhow::Result<()> {
    let sandbox = &gw.sandbox.as_ref().context("sandbox not running")?.sandbox;
    let mut call = UserCall::new("16315553602", pnid);
    call.contact_name = Some("Demo Caller".into());
    call.tone_hz = Some(USER_HZ);
    call.cta_payload = Some("order-12853".into());
    let call_id = sandbox.simulate_user_call(call)?;
    println!("\ncall {call_id}");

    let record = wait_record(gw, &call_id, Duration::from_secs(15), |r| {
        r.connected_at_ms.is_some() || r.ended_at_ms.is_some()
    })
    .await?;
    if record.connected_at_ms.is_none() {
        print_timeline(gw, &record).await?;
        bail!(
            "the call was not connected: {}",
            record.end_reason.as_deref().unwrap_or("?")
        );
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    sandbox.send_dtmf(&call_id, USER_DIGITS)?;
    far.send_dtmf(AGENT_DIGITS);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let to_user = sandbox.media_report(&call_id).await?;
    sandbox.hangup(&call_id)?;
    let record = wait_record(gw, &call_id, Duration::from_secs(10), |r| {
        r.ended_at_ms.is_some()
    })
    .await?;
    let heard = far.heard_after_hangup().await;
    let observed = Observed {
        setup_ms: record.connected_at_ms.map(|c| c - record.created_at_ms),
        to_agent: heard
            .as_ref()
            .map(|(s, rate)| {
                let tail = &s[(*rate as usize / 2).min(s.len())..];
                (dominant_frequency(tail, *rate), rms(tail))
            })
            .unwrap_or((None, 0.0)),
        agent_digits: far.digits_received(),
        record,
        to_user,
    };
    print_timeline(gw, &observed.record).await?;
    report(&observed, far)
}

async fn wait_record(
    gw: &Gateway,
    id: &str,
    within: Duration,
    done: impl Fn(&CallRecord) -> bool,
) -> anyhow::Result<CallRecord> {
    let end = Instant::now() + within;
    loop {
        let store = gw.store.clone();
        let key = id.to_string();
        let rec = tokio::task::spawn_blocking(move || store.get_call(&key)).await??;
        if let Some(r) = rec.filter(|r| done(r)) {
            return Ok(r);
        }
        if Instant::now() > end {
            bail!("call {id} did not reach the expected state within {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn print_timeline(gw: &Gateway, record: &CallRecord) -> anyhow::Result<()> {
    let store = gw.store.clone();
    let id = record.id.clone();
    let timeline = tokio::task::spawn_blocking(move || store.timeline(&id)).await??;
    for ev in &timeline {
        let detail = if ev.detail.is_null() {
            String::new()
        } else {
            ev.detail.to_string()
        };
        println!(
            "  +{:>5} ms  {:<26} {}",
            ev.at_ms - record.created_at_ms,
            ev.kind,
            detail
        );
    }
    Ok(())
}

fn near(hz: Option<f64>, expect: f64) -> bool {
    hz.is_some_and(|h| (h - expect).abs() < 15.0)
}

fn hz(h: Option<f64>) -> String {
    h.map_or_else(|| "silence".into(), |h| format!("{h:.0} Hz"))
}

fn mark(ok: bool) -> &'static str {
    if ok { "ok" } else { "FAILED" }
}

/// Prints the result lines; an error when any check failed.
fn report(o: &Observed, far: &FarEnd) -> anyhow::Result<()> {
    let r = &o.record;
    let mut failed = Vec::new();
    let mut check = |ok: bool, what: &str| {
        if !ok {
            failed.push(what.to_string());
        }
        mark(ok)
    };
    println!("\nresult");
    println!(
        "  setup          connect webhook -> accepted and connected in {} ms",
        o.setup_ms.unwrap_or(-1)
    );
    let to_user_ok = near(o.to_user.dominant_hz, AGENT_HZ) && o.to_user.rms > 0.01;
    println!(
        "  to WhatsApp    {} at rms {:.3} (expected {AGENT_HZ} Hz)            {}",
        hz(o.to_user.dominant_hz),
        o.to_user.rms,
        check(
            to_user_ok,
            "the WhatsApp user did not hear the agent's tone"
        )
    );
    let to_agent_ok = near(o.to_agent.0, USER_HZ) && o.to_agent.1 > 0.01;
    println!(
        "  to the agent   {} at rms {:.3} (expected {USER_HZ} Hz)             {}",
        hz(o.to_agent.0),
        o.to_agent.1,
        check(
            to_agent_ok,
            "the agent did not hear the WhatsApp user's tone"
        )
    );
    println!(
        "  DTMF user->agent   sent {USER_DIGITS:?}, agent received {:?}          {}",
        o.agent_digits,
        check(
            o.agent_digits == USER_DIGITS,
            "the agent did not receive the user's digits"
        )
    );
    if far.sends_dtmf() {
        println!(
            "  DTMF agent->user   sent {AGENT_DIGITS:?}, WhatsApp user received {:?} {}",
            o.to_user.digits_received,
            check(
                o.to_user.digits_received == AGENT_DIGITS,
                "the WhatsApp user did not receive the agent's digit"
            )
        );
    } else {
        println!("  DTMF agent->user   not tried (the built-in agent does not send DTMF)");
    }
    let ended_ok =
        r.ended_by.as_deref() == Some("user") && r.outcome.as_deref() == Some("completed");
    println!(
        "  hang-up        by {} ({}), duration {} s, outcome {}  {}",
        r.ended_by.as_deref().unwrap_or("?"),
        r.end_reason.as_deref().unwrap_or("?"),
        r.duration_s.unwrap_or(0),
        r.outcome.as_deref().unwrap_or("?"),
        check(
            ended_ok,
            "the call did not end as a completed call hung up by the user"
        )
    );
    if let Some(stats) = &r.stats {
        let b = &stats["bridge"];
        println!(
            "  media          PBX codec {}, {} packets to the agent, {} from it, MOS {:.2}",
            b["pbx_codec"].as_str().unwrap_or("?"),
            b["pbx_tx"]["packets"],
            b["pbx_rx"]["packets"],
            b["mos"].as_f64().unwrap_or(0.0)
        );
    }
    println!("\ncall record: {}", serde_json::to_string_pretty(r)?);
    if failed.is_empty() {
        println!("\ndemo OK: audio both ways, DTMF, clean hang-up, record kept");
        Ok(())
    } else {
        bail!("demo FAILED: {}", failed.join("; "))
    }
}
