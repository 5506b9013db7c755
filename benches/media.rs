//! Media hot paths per packet or per 20 ms frame (see `benches/support` for what each step
//! covers): passthrough SRTP -> RTP and RTP -> SRTP, transcoding each way for PCMU and G.722
//! (and the Opus encoder complexity sweep behind the `[media] opus_complexity` default), RFC 4733
//! relaying each way. Only the step is timed; the peer's side and the inputs are prepared
//! outside the measurement.
//!
//! `cargo bench --bench media` (instruction counts: `bash benches/callgrind.sh`).

mod support;

use std::hint::black_box;
use std::time::{Duration, Instant};

use callgate::media::PbxCodec;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use support::{Dtmf, FRAME, RtpToSrtp, SrtpToRtp, Transcode};

/// Runs `iters` steps, timing only `step` (after `prepare`).
fn timed<S>(
    iters: u64,
    s: &mut S,
    mut prepare: impl FnMut(&mut S),
    mut step: impl FnMut(&mut S) -> usize,
) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        prepare(s);
        let t = Instant::now();
        black_box(step(s));
        total += t.elapsed();
    }
    total
}

fn passthrough(c: &mut Criterion) {
    let mut g = c.benchmark_group("passthrough");
    let mut p = SrtpToRtp::new();
    g.bench_function("srtp_in_rtp_out", |b| {
        b.iter_custom(|n| timed(n, &mut p, SrtpToRtp::prepare, SrtpToRtp::step))
    });
    let mut p = RtpToSrtp::new();
    g.bench_function("rtp_in_srtp_out", |b| {
        b.iter_custom(|n| timed(n, &mut p, RtpToSrtp::prepare, RtpToSrtp::step))
    });
    g.finish();
}

/// Times `iters` PBX datagrams through `t` toward WhatsApp, 20 ms apart.
fn pbx_to_wa(iters: u64, t: &mut Transcode, now: &mut Instant) -> Duration {
    timed(iters, t, Transcode::prepare_pbx, |t| {
        *now += FRAME;
        t.pbx_to_wa(*now)
    })
}

fn transcode(c: &mut Criterion) {
    let mut g = c.benchmark_group("transcode");
    for (name, codec) in [("pcmu", PbxCodec::Pcmu), ("g722", PbxCodec::G722)] {
        // callgate's default `[media] opus_complexity` (the sweep below has the others).
        let mut t = Transcode::new(codec, 1);
        g.bench_function(format!("opus_to_{name}"), |b| b.iter(|| t.wa_to_pbx()));
        let mut now = Instant::now();
        g.bench_function(format!("{name}_to_opus"), |b| {
            b.iter_custom(|n| pbx_to_wa(n, &mut t, &mut now))
        });
    }
    g.finish();
}

/// The Opus encoder's cost by complexity (PCMU -> Opus per 20 ms frame).
fn opus_complexity(c: &mut Criterion) {
    let mut g = c.benchmark_group("pcmu_to_opus_by_complexity");
    for complexity in 0..=10 {
        let mut t = Transcode::new(PbxCodec::Pcmu, complexity);
        let mut now = Instant::now();
        g.bench_with_input(
            BenchmarkId::from_parameter(complexity),
            &complexity,
            |b, _| {
                b.iter_custom(|n| {
                    timed(n, &mut t, Transcode::prepare_pbx, |t| {
                        now += FRAME;
                        t.pbx_to_wa(now)
                    })
                })
            },
        );
    }
    g.finish();
}

fn dtmf(c: &mut Criterion) {
    let mut g = c.benchmark_group("dtmf");
    let mut d = Dtmf::new();
    let mut now = Instant::now();
    g.bench_function("wa_to_pbx", |b| {
        b.iter(|| {
            now += FRAME;
            d.wa_to_pbx(now)
        })
    });
    g.bench_function("pbx_to_wa", |b| {
        b.iter_custom(|n| {
            timed(n, &mut d, Dtmf::prepare_pbx, |d| {
                now += FRAME;
                d.pbx_to_wa(now)
            })
        })
    });
    g.finish();
}

criterion_group!(benches, passthrough, transcode, opus_complexity, dtmf);
criterion_main!(benches);
