//! [`Summary`]: what a load run measured, as a table for people and as JSON for scripts
//! (`scripts/bench_plot.py` reads it), and the percentile arithmetic behind it.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

/// p50 / p99 / max of a set of samples, in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Percentiles {
    /// Number of samples.
    pub samples: usize,
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest sample.
    pub max_ms: f64,
}

impl Percentiles {
    /// From samples in microseconds (sorted in place).
    pub fn from_us(samples: &mut [u32]) -> Percentiles {
        if samples.is_empty() {
            return Percentiles::default();
        }
        samples.sort_unstable();
        let at = |q: f64| {
            let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
            f64::from(samples[i]) / 1000.0
        };
        Percentiles {
            samples: samples.len(),
            p50_ms: at(0.50),
            p99_ms: at(0.99),
            max_ms: at(1.0),
        }
    }
}

/// Packets expected and missing in one direction.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Loss {
    /// Packets expected from the sequence numbers seen.
    pub expected: u64,
    /// Packets missing.
    pub lost: u64,
}

impl Loss {
    /// Missing share in percent.
    pub fn percent(&self) -> f64 {
        if self.expected == 0 {
            return 0.0;
        }
        self.lost as f64 * 100.0 / self.expected as f64
    }
}

/// callgate's own resources while the calls ran.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct GatewayUse {
    /// The process measured.
    pub pid: u32,
    /// CPU per call while all calls were up and none was being set up or torn down, in percent
    /// of one core (`None`: the run had no such window).
    pub cpu_per_call_pct: Option<f64>,
    /// Calls one core carries at that rate (100 / `cpu_per_call_pct`).
    pub calls_per_core: Option<f64>,
    /// Length of that window, in seconds.
    pub steady_window_s: f64,
    /// callgate's CPU in that window, in percent of one core (near 100 x cores - the
    /// generator's share: the machine was saturated and the figures are a floor).
    pub steady_cpu_pct: f64,
    /// CPU per call-second over the whole run, set-ups and tear-downs included, in percent of a
    /// core.
    pub cpu_per_call_overall_pct: Option<f64>,
    /// Total CPU used during the run, in core-seconds.
    pub cpu_total_s: f64,
    /// Resident memory before the first call, in MiB.
    pub rss_idle_mib: f64,
    /// Highest resident memory seen, in MiB.
    pub rss_peak_mib: f64,
    /// (resident memory with all calls up - idle) / calls, in KiB.
    pub rss_per_call_kib: Option<f64>,
}

/// Everything a run measured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// `passthrough` or `transcode-pcmu` (-pcma, -g722).
    pub scenario: String,
    /// The concurrency asked for.
    pub target_calls: usize,
    /// Calls placed.
    pub calls_attempted: usize,
    /// Calls that set up, carried audio both ways and ended cleanly.
    pub calls_ok: usize,
    /// Calls that did not.
    pub calls_failed: usize,
    /// Why calls failed (reason -> count).
    pub failures: BTreeMap<String, usize>,
    /// Most calls with media up at once.
    pub peak_concurrent: usize,
    /// Calls started per second during the ramp (asked for).
    pub cps_target: f64,
    /// Set-ups completed per second while calls were being placed.
    pub setups_per_s: f64,
    /// Seconds each call was held.
    pub hold_s: f64,
    /// Opus complexity callgate ran with (`None` when attached).
    pub opus_complexity: Option<u8>,
    /// callgate's CPU and memory.
    pub gateway: GatewayUse,
    /// The generator's own CPU over the run, in percent of one core.
    pub generator_cpu_pct: f64,
    /// Connect webhook posted -> `pre_accept` arrived.
    pub setup_webhook_to_pre_accept: Percentiles,
    /// Connect webhook posted -> audio flowing both ways.
    pub setup_webhook_to_media: Percentiles,
    /// Added one-way latency WhatsApp -> PBX.
    pub latency_to_pbx: Percentiles,
    /// Added one-way latency PBX -> WhatsApp.
    pub latency_to_wa: Percentiles,
    /// Loss WhatsApp -> PBX (at the far end).
    pub loss_to_pbx: Loss,
    /// Loss PBX -> WhatsApp (at the phones).
    pub loss_to_wa: Loss,
    /// Run length, in seconds.
    pub duration_s: f64,
    /// `nproc`, CPU model and load average before the run.
    pub machine: String,
    /// The command line that reproduces the run.
    pub command: String,
    /// When it ran (UNIX seconds).
    pub started_unix: u64,
}

impl Summary {
    /// True when every call worked and nothing was lost.
    pub fn all_ok(&self) -> bool {
        self.calls_failed == 0
            && self.calls_ok == self.calls_attempted
            && self.loss_to_pbx.lost == 0
            && self.loss_to_wa.lost == 0
    }
}

fn opt(v: Option<f64>, unit: &str) -> String {
    v.map_or("n/a".into(), |v| format!("{v:.1}{unit}"))
}

fn pct(p: &Percentiles) -> String {
    if p.samples == 0 {
        return "n/a".into();
    }
    format!(
        "p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms  ({} samples)",
        p.p50_ms, p.p99_ms, p.max_ms, p.samples
    )
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let g = &self.gateway;
        writeln!(
            f,
            "scenario            {} ({} concurrent, {} cps, hold {} s)",
            self.scenario, self.target_calls, self.cps_target, self.hold_s
        )?;
        writeln!(
            f,
            "calls               {} ok, {} failed of {} (peak {} concurrent)",
            self.calls_ok, self.calls_failed, self.calls_attempted, self.peak_concurrent
        )?;
        for (why, n) in &self.failures {
            writeln!(f, "  failed: {n} x {why}")?;
        }
        writeln!(f, "set-ups             {:.1} per second", self.setups_per_s)?;
        let ms = |pct: Option<f64>| opt(pct.map(|p| p * 10.0), " ms/s");
        writeln!(
            f,
            "callgate CPU/call   {} ({} calls per core; steady window {:.1} s at {:.0} % of a core)",
            ms(g.cpu_per_call_pct),
            opt(g.calls_per_core, ""),
            g.steady_window_s,
            g.steady_cpu_pct
        )?;
        writeln!(
            f,
            "callgate CPU/call   {} over the whole run, set-ups included ({:.1} core-seconds, {:.1} ms per call placed)",
            ms(g.cpu_per_call_overall_pct),
            g.cpu_total_s,
            g.cpu_total_s * 1000.0 / self.calls_attempted.max(1) as f64
        )?;
        writeln!(
            f,
            "callgate memory     idle {:.1} MiB, peak {:.1} MiB, {} per call",
            g.rss_idle_mib,
            g.rss_peak_mib,
            opt(g.rss_per_call_kib, " KiB")
        )?;
        writeln!(
            f,
            "generator CPU       {:.1} % of a core",
            self.generator_cpu_pct
        )?;
        writeln!(
            f,
            "webhook->pre_accept {}",
            pct(&self.setup_webhook_to_pre_accept)
        )?;
        writeln!(
            f,
            "webhook->media      {}",
            pct(&self.setup_webhook_to_media)
        )?;
        writeln!(f, "latency WA->PBX     {}", pct(&self.latency_to_pbx))?;
        writeln!(f, "latency PBX->WA     {}", pct(&self.latency_to_wa))?;
        writeln!(
            f,
            "loss WA->PBX        {} of {} ({:.3} %)",
            self.loss_to_pbx.lost,
            self.loss_to_pbx.expected,
            self.loss_to_pbx.percent()
        )?;
        writeln!(
            f,
            "loss PBX->WA        {} of {} ({:.3} %)",
            self.loss_to_wa.lost,
            self.loss_to_wa.expected,
            self.loss_to_wa.percent()
        )?;
        write!(f, "machine             {}", self.machine)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_hundred_samples() {
        let mut v: Vec<u32> = (1..=100).rev().map(|i| i * 1000).collect();
        let p = Percentiles::from_us(&mut v);
        assert_eq!(
            (p.samples, p.p50_ms, p.p99_ms, p.max_ms),
            (100, 51.0, 99.0, 100.0)
        );
        assert_eq!(Percentiles::from_us(&mut []), Percentiles::default());
    }
}
