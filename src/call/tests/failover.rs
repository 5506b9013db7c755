//! Failover between PBX targets of a user-initiated call, on virtual time: a 5xx, no answer
//! within the route's ring timeout, or no response at all moves the call to the next target with
//! fresh deadlines; busy/decline end it; the answer window bounds the whole chain.

use super::*;
use crate::call::*;

const FIRST: &str = "sip:agents@pbx-a.example.com";
const SECOND: &str = "sip:agents@pbx-b.example.com";
const THIRD: &str = "sip:agents@pbx-c.example.com";

/// A call routed to `targets` (each ringing `ring_s` seconds, `None`: the default 25 s), driven
/// to the point where the INVITE to the first target is out and `pre_accept` succeeded.
fn ringing_first(targets: &[&str], ring_s: Option<u64>) -> Harness {
    let (mut h, _) = Harness::uic();
    let route = PbxRoute {
        targets: targets.iter().map(|t| t.to_string()).collect(),
        ring_timeout: ring_s.map(Duration::from_secs),
    };
    h.feed(Input::Routed {
        reason: "rule 1 \"sales\"".into(),
        route,
    });
    let out = h.feed(Input::MediaPrepared {
        answer_sdp: ANSWER.into(),
    });
    assert_eq!(rung(&out), vec![FIRST.to_string()]);
    h.feed(ok(GraphRequestKind::PreAccept));
    h
}

/// The targets of the INVITEs among `actions`.
fn rung(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::RingPbx(r) => Some(r.target.clone().expect("a target")),
            _ => None,
        })
        .collect()
}

fn failover_step(actions: &[Action]) -> Option<(String, PbxFailure, String)> {
    records(actions).into_iter().find_map(|s| match s {
        Step::PbxFailover { from, failure, to } => Some((from, failure, to)),
        _ => None,
    })
}

#[test]
fn server_error_from_the_first_target_rings_the_second_and_the_call_connects() {
    let mut h = ringing_first(&[FIRST, SECOND], None);
    let out = h.feed(Input::PbxFailed(PbxFailure::ServerError(503)));
    assert_eq!(protocol(&out).len(), 1, "no CANCEL, no reject: {out:?}");
    assert_eq!(rung(&out), vec![SECOND.to_string()]);
    assert_eq!(
        failover_step(&out),
        Some((
            FIRST.to_string(),
            PbxFailure::ServerError(503),
            SECOND.to_string()
        ))
    );
    h.feed(Input::PbxProgress { status: 180 });
    h.feed(Input::MediaConnected);
    let out = h.feed(Input::PbxAnswered);
    assert!(matches!(
        protocol(&out).as_slice(),
        [Action::Graph(GraphRequest::Accept { .. })]
    ));
    let out = h.feed(ok(GraphRequestKind::Accept));
    assert_eq!(protocol(&out), vec![Action::StartAudio]);
}

#[test]
fn unanswered_first_target_is_cancelled_after_the_route_ring_timeout_and_the_second_rings() {
    let mut h = ringing_first(&[FIRST, SECOND], Some(8));
    h.feed(Input::PbxProgress { status: 180 });
    assert!(protocol(&h.advance(7.9)).is_empty());
    let out = h.advance(0.2);
    assert_eq!(protocol(&out)[0], Action::CancelPbx);
    assert_eq!(rung(&out), vec![SECOND.to_string()]);
    assert_eq!(failover_step(&out).map(|f| f.1), Some(PbxFailure::Timeout));
    // The second target gets its own 8 s, counted from its INVITE (0.1 s ago).
    h.feed(Input::PbxProgress { status: 180 });
    assert!(protocol(&h.advance(7.8)).is_empty());
    let out = h.advance(0.2);
    assert_eq!(protocol(&out), vec![Action::CancelPbx, reject()]);
    let outcome = ended(&h.feed(ok(GraphRequestKind::Reject)));
    assert_eq!(outcome.reason, EndReason::PbxFailed(PbxFailure::Timeout));
    assert!(outcome.detail.unwrap().contains("within 8 s"));
}

#[test]
fn silent_first_target_fails_over_after_the_setup_timeout() {
    let mut h = ringing_first(&[FIRST, SECOND], None);
    assert!(protocol(&h.advance(4.9)).is_empty());
    let out = h.advance(0.2);
    assert_eq!(protocol(&out)[0], Action::CancelPbx);
    assert_eq!(rung(&out), vec![SECOND.to_string()]);
    assert_eq!(
        failover_step(&out).map(|f| f.1),
        Some(PbxFailure::Unreachable)
    );
    // Transport failure of the second (and last) target rejects with that reason.
    let out = h.feed(Input::PbxFailed(PbxFailure::Unreachable));
    assert_eq!(protocol(&out), vec![reject()]);
}

#[test]
fn busy_or_declining_first_target_ends_the_call_without_trying_the_next() {
    for failure in [PbxFailure::Busy, PbxFailure::Declined, PbxFailure::NotFound] {
        let mut h = ringing_first(&[FIRST, SECOND], None);
        let out = h.feed(Input::PbxFailed(failure));
        assert_eq!(protocol(&out), vec![reject()], "{failure:?}");
        let outcome = ended(&h.feed(ok(GraphRequestKind::Reject)));
        assert_eq!(outcome.reason, EndReason::PbxFailed(failure));
    }
}

#[test]
fn last_target_failing_rejects_with_its_failure() {
    let mut h = ringing_first(&[FIRST, SECOND], None);
    h.feed(Input::PbxFailed(PbxFailure::ServerError(500)));
    let out = h.feed(Input::PbxFailed(PbxFailure::ServerError(503)));
    assert_eq!(protocol(&out), vec![reject()]);
    let outcome = ended(&h.feed(ok(GraphRequestKind::Reject)));
    assert_eq!(
        outcome.reason,
        EndReason::PbxFailed(PbxFailure::ServerError(503))
    );
}

#[test]
fn answer_window_still_bounds_the_whole_failover_chain() {
    let mut h = ringing_first(&[FIRST, SECOND, THIRD], Some(20));
    h.feed(Input::PbxProgress { status: 180 });
    let out = h.advance(20.1);
    assert_eq!(rung(&out), vec![SECOND.to_string()]);
    h.feed(Input::PbxProgress { status: 180 });
    // The answer window (30 s from the connect) ends the call while the second target rings.
    let out = h.advance(10.0);
    assert_eq!(protocol(&out), vec![Action::CancelPbx, reject()]);
    let outcome = ended(&h.feed(ok(GraphRequestKind::Reject)));
    assert_eq!(outcome.reason, EndReason::AnswerWindowExpired);
}

#[test]
fn policy_decision_without_a_route_rings_the_legs_route() {
    let (mut h, _) = Harness::uic();
    h.feed(allowed());
    let out = h.feed(Input::MediaPrepared {
        answer_sdp: ANSWER.into(),
    });
    let Some(Action::RingPbx(ring)) = protocol(&out).into_iter().nth(1) else {
        panic!("INVITE expected: {out:?}");
    };
    assert_eq!(ring.target, None);
    let out = h.feed(Input::PbxFailed(PbxFailure::ServerError(503)));
    assert_eq!(protocol(&out), vec![reject()], "nothing to fail over to");
}
