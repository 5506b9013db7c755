//! Helpers for end-to-end user-initiated calls: wait for the sandbox phone to hear something,
//! wait for a call record to end, compare frequencies.

use std::time::{Duration, Instant};

use callgate::sandbox::phone::MediaReport;

use super::TestGateway;

/// The phone's report once `cond` holds (or the last one after `within`).
pub async fn phone_until(
    t: &TestGateway,
    id: &str,
    within: Duration,
    cond: impl Fn(&MediaReport) -> bool,
) -> MediaReport {
    let end = Instant::now() + within;
    loop {
        let r = t.sandbox().media_report(id).await.expect("phone report");
        if cond(&r) || Instant::now() > end {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether `hz` is within 15 Hz of `expect`.
pub fn near(hz: Option<f64>, expect: f64) -> bool {
    hz.is_some_and(|h| (h - expect).abs() < 15.0)
}

/// Waits for the call record to end; returns it.
pub async fn ended_record(
    t: &TestGateway,
    id: &str,
    within: Duration,
) -> callgate::store::CallRecord {
    let end = Instant::now() + within;
    loop {
        if let Some(r) = t.gw.store.get_call(id).unwrap()
            && r.ended_at_ms.is_some()
        {
            return r;
        }
        assert!(
            Instant::now() < end,
            "call {id} did not end; timeline: {:?}",
            t.timeline_kinds(id)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
