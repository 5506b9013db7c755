//! The PBX leg's SIP hot path: a 200 OK with SDP parsed and run through the INVITE client
//! transaction (one transaction step, outputs drained), as callgate does once per answered
//! call. `cargo bench --bench sip`.

mod support;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use support::SipAnswer;

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

criterion_group!(benches, answer);
criterion_main!(benches);
