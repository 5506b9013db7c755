//! Runs webhook verify + parse of the real connect payload N times (default 1000), for
//! instruction counting under callgrind (`benches/callgrind.sh`): counts are stable on noisy
//! shared machines where wall-clock benchmarks are not.

use callgate::cloud::{events::parse_webhook, signature};
use std::hint::black_box;

const CONNECT: &[u8] = include_bytes!("../tests/fixtures/webhook-calls-connect-uic.json");

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let secret = b"bench-app-secret";
    let header = signature::sign(secret, CONNECT);
    let mut events = 0;
    for _ in 0..n {
        signature::verify(secret, black_box(CONNECT), Some(header.as_bytes())).unwrap();
        events += parse_webhook(black_box(CONNECT)).unwrap().len();
    }
    assert_eq!(events, n);
}
