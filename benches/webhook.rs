//! Webhook intake hot path: `X-Hub-Signature-256` verification plus parsing of a user-initiated
//! connect webhook (the real captured payload, SDP offer included), as `/webhook` does per POST.

use callgate::cloud::{events::parse_webhook, signature};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

const CONNECT: &[u8] = include_bytes!("../tests/fixtures/webhook-calls-connect-uic.json");
const SECRET: &[u8] = b"bench-app-secret";

fn verify_and_parse(c: &mut Criterion) {
    let header = signature::sign(SECRET, CONNECT);
    let mut g = c.benchmark_group("webhook");
    g.throughput(Throughput::Bytes(CONNECT.len() as u64));
    g.bench_function("verify_signature", |b| {
        b.iter(|| signature::verify(SECRET, black_box(CONNECT), Some(header.as_bytes())).unwrap())
    });
    g.bench_function("parse_connect", |b| {
        b.iter(|| parse_webhook(black_box(CONNECT)).unwrap())
    });
    g.bench_function("verify_and_parse_connect", |b| {
        b.iter(|| {
            signature::verify(SECRET, black_box(CONNECT), Some(header.as_bytes())).unwrap();
            parse_webhook(black_box(CONNECT)).unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, verify_and_parse);
criterion_main!(benches);
