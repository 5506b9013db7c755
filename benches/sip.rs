//! Call set-up hot paths: answering Meta's offer (what callgate does between the connect
//! webhook and `pre_accept`), and the PBX leg's 200 OK with SDP parsed and run through the
//! INVITE client transaction (one transaction step, outputs drained). `cargo bench --bench sip`.

mod support;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use support::{SipAnswer, answer_meta_offer};

fn answer(c: &mut Criterion) {
    let mut s = SipAnswer::new();
    let now = Instant::now();
    c.bench_function("sip/parse_200_ok_and_transaction_step", |b| {
        b.iter_custom(|n| {
            let mut total = Duration::ZERO;
            for _ in 0..n {
                s.prepare(now);
                let t = Instant::now();
                black_box(s.step(now));
                total += t.elapsed();
            }
            total
        })
    });
}

fn meta_offer(c: &mut Criterion) {
    let now = Instant::now();
    c.bench_function("setup/answer_meta_offer", |b| {
        b.iter(|| answer_meta_offer(now))
    });
}

criterion_group!(benches, meta_offer, answer);
criterion_main!(benches);
