//! The schedule of a load run: start the far end, the Meta stand-in, the phones and callgate;
//! place calls at the asked rate up to the asked concurrency; hold each call; hang up; sample
//! callgate's `/proc` every half second on the way; then sum it all up ([`super::report`]).
//!
//! Each call is one task: phone and offer, connect webhook, wait for audio both ways, hold,
//! hang up (terminate webhook), wait for the far end's BYE, collect what both ends measured.
//! A "steady" interval for CPU and memory per call is one in which all calls were up and no call
//! changed state (no set-up or tear-down work inside).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;

use super::far_end::{FarCall, FarEnd, SippUas};
use super::gateway::{APP_SECRET, GatewayProcess, ProcSample, SpawnSpec};
use super::meta::{MetaStandIn, SetupTimes, graph_base_url};
use super::phone::{PhoneReport, ToneFrames, tone_share};
use super::phones::Phones;
use super::probe::{CallProbe, Pairing, Probes, SeqCount};
use super::report::{GatewayUse, Loss, Percentiles, Summary};
use super::{FarEndKind, LoadConfig, Scenario, Target};

/// The tone every phone plays (a whole number of cycles per second, see [`ToneFrames`]).
const TONE_HZ: f64 = 440.0;
/// The tone counts as heard when this share of the received energy is at [`TONE_HZ`].
const MIN_TONE_SHARE: f64 = 0.5;
/// How long a call may take from webhook to audio both ways.
const SETUP_TIMEOUT: Duration = Duration::from_secs(15);
/// How long the far end may take to see the BYE after the terminate webhook.
const TEARDOWN_TIMEOUT: Duration = Duration::from_secs(10);
/// How often callgate's `/proc` is read.
const SAMPLE_EVERY: Duration = Duration::from_millis(500);

/// Where the run is, every [`SAMPLE_EVERY`] (for a progress line).
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Since the first call.
    pub elapsed: Duration,
    /// Calls placed so far.
    pub started: usize,
    /// Calls with audio flowing now.
    pub up: usize,
    /// Calls finished so far (ok or not).
    pub finished: usize,
    /// Calls failed so far.
    pub failed: usize,
    /// callgate's CPU since the last sample, percent of one core.
    pub cpu_pct: f64,
    /// callgate's resident memory, MiB.
    pub rss_mib: f64,
}

#[derive(Default)]
struct Counters {
    started: AtomicUsize,
    up: AtomicUsize,
    busy: AtomicUsize,
    finished: AtomicUsize,
    failed: AtomicUsize,
    transitions: AtomicU64,
}

impl Counters {
    fn change(&self, counter: &AtomicUsize, up: bool) {
        if up {
            counter.fetch_add(1, Ordering::SeqCst);
        } else {
            counter.fetch_sub(1, Ordering::SeqCst);
        }
        self.transitions.fetch_add(1, Ordering::SeqCst);
    }
}

struct Ctx {
    phones: Phones,
    meta: MetaStandIn,
    probes: Probes,
    far: FarEnd,
    hold: Duration,
    counters: Counters,
    tag: u32,
    passthrough_frames: Option<Arc<ToneFrames>>,
}

/// What one call measured.
struct Outcome {
    failure: Option<String>,
    times: SetupTimes,
    media_at: Option<Instant>,
    to_pbx: Vec<u32>,
    to_wa: Vec<u32>,
    loss_to_pbx: Loss,
    loss_to_wa: Loss,
}

struct Sample {
    proc: ProcSample,
    up: usize,
    transitions: u64,
}

/// Runs `cfg`, calling `progress` every half second; returns the summary (see the module docs).
pub async fn run(cfg: LoadConfig, mut progress: impl FnMut(&Progress)) -> anyhow::Result<Summary> {
    let machine = machine_description();
    let started_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let tone = Arc::new(ToneFrames::encode(TONE_HZ).context("encoding the test tone")?);
    let phones = Phones::start(cfg.ip, cfg.phone_workers, tone.clone()).await?;
    let probes = Probes::default();
    let far = match cfg.far_end {
        FarEndKind::Agent => {
            FarEnd::agent(
                cfg.ip,
                cfg.agent_port,
                cfg.scenario.pbx_codec(),
                probes.clone(),
            )
            .await?
        }
        FarEndKind::Sipp => SippUas::start()?,
    };
    let listener = tokio::net::TcpListener::bind(cfg.meta_listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} for the Meta stand-in: is the port in use? choose another with --meta-listen",
                cfg.meta_listen
            )
        })?;
    let meta_addr = listener.local_addr()?;
    let (mut gateway, complexity) = match &cfg.target {
        Target::Spawn {
            bin,
            opus_complexity,
            log_level,
        } => {
            let spec = SpawnSpec {
                bin: bin.clone(),
                graph_base_url: graph_base_url(meta_addr),
                route: far.uri(),
                codecs: vec![cfg.scenario.pbx_codec().encoding().to_ascii_lowercase()],
                opus_complexity: *opus_complexity,
                log_level: log_level.clone(),
                env: Vec::new(),
            };
            (GatewayProcess::spawn(&spec).await?, Some(*opus_complexity))
        }
        Target::Attach {
            pid, webhook_url, ..
        } => (GatewayProcess::attach(*pid, webhook_url.clone())?, None),
    };
    let secret = match &cfg.target {
        Target::Attach { app_secret, .. } => app_secret.clone(),
        Target::Spawn { .. } => APP_SECRET.to_string(),
    };
    let meta = MetaStandIn::new(phones.clone(), gateway.webhook_url.clone(), secret);
    let server = tokio::spawn(meta.clone().serve(listener));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = gateway
        .sample()
        .context("cannot read callgate's /proc entry")?;
    let self_start = ProcSample::read(std::process::id());

    let ctx = Arc::new(Ctx {
        phones,
        meta,
        probes,
        far,
        hold: cfg.hold,
        counters: Counters::default(),
        tag: rand::random(),
        passthrough_frames: (cfg.scenario == Scenario::Passthrough).then_some(tone),
    });
    let start = Instant::now();
    let total = cfg.total.max(cfg.calls);
    let placer = tokio::spawn(place_calls(ctx.clone(), cfg.calls, total, cfg.cps, start));

    let mut samples = vec![Sample {
        proc: idle,
        up: 0,
        transitions: 0,
    }];
    let mut ticker = tokio::time::interval(SAMPLE_EVERY);
    ticker.tick().await;
    while ctx.counters.finished.load(Ordering::SeqCst) < total {
        ticker.tick().await;
        let Some(proc) = gateway.sample() else {
            anyhow::bail!(
                "callgate (pid {}) is gone:\n{}",
                gateway.pid,
                gateway.log_tail()
            );
        };
        let c = &ctx.counters;
        let s = Sample {
            proc,
            up: c.up.load(Ordering::SeqCst),
            transitions: c.transitions.load(Ordering::SeqCst),
        };
        let prev = &samples[samples.len() - 1].proc;
        progress(&Progress {
            elapsed: start.elapsed(),
            started: c.started.load(Ordering::SeqCst),
            up: s.up,
            finished: c.finished.load(Ordering::SeqCst),
            failed: c.failed.load(Ordering::SeqCst),
            cpu_pct: cpu_pct(prev, &proc),
            rss_mib: proc.rss_kib as f64 / 1024.0,
        });
        samples.push(s);
    }
    let outcomes = placer.await.context("call placer")?;
    let duration = start.elapsed();
    let generator_cpu = match (self_start, ProcSample::read(std::process::id())) {
        (Some(a), Some(b)) => cpu_pct(&a, &b),
        _ => 0.0,
    };
    gateway.stop();
    server.abort();

    let mut summary = summarise(&cfg, outcomes, &samples, idle, start);
    summary.opus_complexity = complexity;
    summary.generator_cpu_pct = generator_cpu;
    summary.gateway.pid = gateway.pid;
    summary.duration_s = duration.as_secs_f64();
    summary.machine = machine;
    summary.started_unix = started_unix;
    Ok(summary)
}

/// Places `total` calls at `cps`, never more than `calls` at once; returns their outcomes.
async fn place_calls(
    ctx: Arc<Ctx>,
    calls: usize,
    total: usize,
    cps: f64,
    start: Instant,
) -> Vec<Outcome> {
    let mut tasks = Vec::with_capacity(total);
    let gap = Duration::from_secs_f64(1.0 / cps.max(0.001));
    for i in 0..total {
        tokio::time::sleep_until((start + gap * i as u32).into()).await;
        while ctx.counters.busy.load(Ordering::SeqCst) >= calls {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        ctx.counters.busy.fetch_add(1, Ordering::SeqCst);
        ctx.counters.started.fetch_add(1, Ordering::SeqCst);
        tasks.push(tokio::spawn(one_call(ctx.clone(), i)));
    }
    let mut out = Vec::with_capacity(total);
    for t in tasks {
        match t.await {
            Ok(o) => out.push(o),
            Err(e) => out.push(Outcome::failed(format!("call task panicked: {e}"))),
        }
    }
    out
}

impl Outcome {
    fn failed(why: String) -> Outcome {
        Outcome {
            failure: Some(why),
            times: SetupTimes::default(),
            media_at: None,
            to_pbx: Vec::new(),
            to_wa: Vec::new(),
            loss_to_pbx: Loss::default(),
            loss_to_wa: Loss::default(),
        }
    }
}

async fn one_call(ctx: Arc<Ctx>, i: usize) -> Outcome {
    let call_id = format!("wacid.LOAD{:08X}{i:06}", ctx.tag);
    let user = format!("1999{i:08}");
    let probe = CallProbe::new(ctx.passthrough_frames.clone());
    ctx.probes.insert(&call_id, probe.clone());
    let (failure, media_at, phone) = call_flow(&ctx, &call_id, &user, &probe).await;
    let c = &ctx.counters;
    c.busy.fetch_sub(1, Ordering::SeqCst);
    c.finished.fetch_add(1, Ordering::SeqCst);
    let mut failure = failure;
    if failure.is_none() {
        failure = tone_problem(&phone, ctx.far.call(&call_id));
    }
    if failure.is_some() {
        c.failed.fetch_add(1, Ordering::SeqCst);
    }
    let times = ctx.meta.times(&call_id);
    ctx.meta.forget(&call_id);
    ctx.probes.remove(&call_id);
    let mut s = probe.lock();
    let loss = |p: &Pairing, seq: &SeqCount| {
        let lost = p.lost.max(seq.lost());
        Loss {
            expected: p.samples_us.len() as u64 + lost,
            lost,
        }
    };
    let (loss_to_pbx, loss_to_wa) = (loss(&s.to_pbx, &s.far.seq), loss(&s.to_wa, &s.phone.seq));
    Outcome {
        failure,
        times,
        media_at,
        loss_to_pbx,
        loss_to_wa,
        to_pbx: std::mem::take(&mut s.to_pbx.samples_us),
        to_wa: std::mem::take(&mut s.to_wa.samples_us),
    }
}

/// Set-up, hold and tear-down of one call; returns the failure (if any), when audio flowed both
/// ways and what the phone saw.
async fn call_flow(
    ctx: &Ctx,
    call_id: &str,
    user: &str,
    probe: &CallProbe,
) -> (Option<String>, Option<Instant>, PhoneReport) {
    let c = &ctx.counters;
    let (phone, offer) = match ctx.phones.new_phone(probe.clone()).await {
        Ok(p) => p,
        Err(e) => return (Some(format!("phone: {e}")), None, PhoneReport::default()),
    };
    let mut failure = ctx.meta.connect(call_id, user, phone, offer).await.err();
    let end = Instant::now() + SETUP_TIMEOUT;
    let mut media_at = None;
    while failure.is_none() && media_at.is_none() {
        let (wa, pbx) = {
            let s = probe.lock();
            // sipp reports nothing: the echo reaching the phone proves both directions.
            let far = if ctx.far.probed() {
                s.far.first_audio_in
            } else {
                s.phone.first_audio_in
            };
            (s.phone.first_audio_in, far)
        };
        match (wa, pbx) {
            (Some(a), Some(b)) => media_at = Some(a.max(b)),
            _ if ctx.meta.times(call_id).ended_by_business.is_some() => {
                failure = Some("callgate ended the call during set-up".into());
            }
            _ if Instant::now() > end => {
                failure = Some(
                    match (wa, pbx) {
                        (None, None) => "no audio either way within 15 s",
                        (None, Some(_)) => "no audio to the WhatsApp side within 15 s",
                        _ => "no audio to the PBX side within 15 s",
                    }
                    .into(),
                );
            }
            _ => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
    if failure.is_none() {
        c.change(&c.up, true);
        tokio::time::sleep(ctx.hold).await;
        c.change(&c.up, false);
        if ctx.meta.times(call_id).ended_by_business.is_some() {
            failure = Some("callgate ended the call while it was up".into());
        }
    }
    let report = ctx.phones.hang_up(phone).await.unwrap_or_default();
    c.transitions.fetch_add(1, Ordering::SeqCst);
    if let Err(e) = ctx.meta.terminate(call_id, user).await {
        failure.get_or_insert(format!("terminate {e}"));
    }
    if failure.is_none() && !far_end_saw_bye(ctx, call_id).await {
        failure = Some("the far end got no BYE after the terminate webhook".into());
    }
    c.transitions.fetch_add(1, Ordering::SeqCst);
    (failure, media_at, report)
}

async fn far_end_saw_bye(ctx: &Ctx, call_id: &str) -> bool {
    let end = Instant::now() + TEARDOWN_TIMEOUT;
    loop {
        match ctx.far.call(call_id) {
            None => return true,
            Some(c) if c.ended => return true,
            Some(_) if Instant::now() > end => return false,
            Some(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

fn tone_problem(phone: &PhoneReport, far: Option<FarCall>) -> Option<String> {
    if phone.tone_share < MIN_TONE_SHARE {
        return Some("the WhatsApp side did not hear its tone come back".into());
    }
    let far_share = far.map(|f| tone_share(f.heard.get(800..).unwrap_or_default(), 8000, TONE_HZ));
    match far_share {
        Some(s) if s < MIN_TONE_SHARE => Some("the PBX side did not hear the WhatsApp tone".into()),
        _ => None,
    }
}

fn cpu_pct(a: &ProcSample, b: &ProcSample) -> f64 {
    let dt = b.at.saturating_duration_since(a.at).as_secs_f64();
    if dt <= 0.0 {
        return 0.0;
    }
    (b.cpu_s - a.cpu_s) / dt * 100.0
}

fn summarise(
    cfg: &LoadConfig,
    outcomes: Vec<Outcome>,
    samples: &[Sample],
    idle: ProcSample,
    start: Instant,
) -> Summary {
    let mut failures = BTreeMap::new();
    let (mut pre, mut media, mut to_pbx, mut to_wa) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut loss_pbx, mut loss_wa) = (Loss::default(), Loss::default());
    let mut last_media = start;
    for o in outcomes.iter() {
        if let Some(f) = &o.failure {
            *failures.entry(f.clone()).or_insert(0) += 1;
        }
        let us = |a: Option<Instant>, b: Option<Instant>| match (a, b) {
            (Some(a), Some(b)) => u32::try_from(b.saturating_duration_since(a).as_micros()).ok(),
            _ => None,
        };
        pre.extend(us(o.times.webhook_sent, o.times.pre_accept));
        media.extend(us(o.times.webhook_sent, o.media_at));
        last_media = last_media.max(o.media_at.unwrap_or(start));
        to_pbx.extend_from_slice(&o.to_pbx);
        to_wa.extend_from_slice(&o.to_wa);
        for (sum, l) in [(&mut loss_pbx, o.loss_to_pbx), (&mut loss_wa, o.loss_to_wa)] {
            sum.expected += l.expected;
            sum.lost += l.lost;
        }
    }
    let set_up = media.len();
    let failed = failures.values().sum();
    Summary {
        scenario: cfg.scenario.name(),
        target_calls: cfg.calls,
        calls_attempted: outcomes.len(),
        calls_ok: outcomes.len() - failed,
        calls_failed: failed,
        failures,
        peak_concurrent: samples.iter().map(|s| s.up).max().unwrap_or(0),
        cps_target: cfg.cps,
        setups_per_s: set_up as f64
            / last_media
                .saturating_duration_since(start)
                .as_secs_f64()
                .max(0.001),
        hold_s: cfg.hold.as_secs_f64(),
        gateway: gateway_use(cfg.calls, samples, idle),
        setup_webhook_to_pre_accept: Percentiles::from_us(&mut pre),
        setup_webhook_to_media: Percentiles::from_us(&mut media),
        latency_to_pbx: Percentiles::from_us(&mut to_pbx),
        latency_to_wa: Percentiles::from_us(&mut to_wa),
        loss_to_pbx: loss_pbx,
        loss_to_wa: loss_wa,
        command: std::env::args().collect::<Vec<_>>().join(" "),
        ..Summary::default()
    }
}

fn gateway_use(calls: usize, samples: &[Sample], idle: ProcSample) -> GatewayUse {
    let (mut steady_cpu, mut steady_s, mut steady_rss) = (0.0, 0.0, 0u64);
    let (mut cpu, mut call_s) = (0.0, 0.0);
    for w in samples.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        let dt = b.proc.at.saturating_duration_since(a.proc.at).as_secs_f64();
        let used = b.proc.cpu_s - a.proc.cpu_s;
        cpu += used;
        call_s += dt * (a.up + b.up) as f64 / 2.0;
        if a.up == calls && b.up == calls && a.transitions == b.transitions {
            steady_cpu += used;
            steady_s += dt;
            steady_rss = steady_rss.max(b.proc.rss_kib);
        }
    }
    let per_call = (steady_s > 0.0).then(|| steady_cpu / steady_s / calls as f64 * 100.0);
    let peak = samples
        .iter()
        .map(|s| s.proc.rss_kib)
        .max()
        .unwrap_or(idle.rss_kib);
    let peak_up = samples.iter().map(|s| s.up).max().unwrap_or(0);
    let rss_per_call = if steady_s > 0.0 {
        Some(steady_rss.saturating_sub(idle.rss_kib) as f64 / calls as f64)
    } else {
        (peak_up > 0).then(|| peak.saturating_sub(idle.rss_kib) as f64 / peak_up as f64)
    };
    GatewayUse {
        pid: 0,
        cpu_per_call_pct: per_call,
        calls_per_core: per_call.filter(|p| *p > 0.0).map(|p| 100.0 / p),
        steady_window_s: steady_s,
        steady_cpu_pct: if steady_s > 0.0 {
            steady_cpu / steady_s * 100.0
        } else {
            0.0
        },
        cpu_per_call_overall_pct: (call_s > 0.0).then(|| cpu / call_s * 100.0),
        cpu_total_s: cpu,
        rss_idle_mib: idle.rss_kib as f64 / 1024.0,
        rss_peak_mib: peak as f64 / 1024.0,
        rss_per_call_kib: rss_per_call,
    }
}

/// `nproc`, the CPU model and the load average now.
fn machine_description() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string())
            })
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    format!(
        "{cpus} cores, {model}, load average {} before the run",
        load.join(" ")
    )
}
