//! User-initiated call scenarios: connect -> policy -> media -> pre_accept + INVITE -> PBX answer
//! -> accept -> connected -> hang-up, and every way it can fail.

use super::*;
use crate::call::*;

/// Drives a new call to the point where `pre_accept` and the INVITE are out.
fn ringing() -> (Harness, Vec<Action>) {
    let (mut h, first) = Harness::uic();
    assert_eq!(protocol(&first), vec![Action::CheckPolicy]);
    let prepare = h.feed(allowed());
    assert_eq!(
        protocol(&prepare),
        vec![Action::PrepareMedia {
            offer: OFFER.into()
        }]
    );
    h.advance(0.2);
    let out = h.feed(Input::MediaPrepared {
        answer_sdp: ANSWER.into(),
    });
    (h, out)
}

/// Drives a call to connected (accept's 200 received).
fn connected() -> Harness {
    let (mut h, _) = ringing();
    h.feed(ok(GraphRequestKind::PreAccept));
    h.feed(Input::PbxProgress { status: 180 });
    h.feed(Input::MediaConnected);
    h.advance(3.0);
    h.feed(Input::PbxAnswered);
    let out = h.feed(ok(GraphRequestKind::Accept));
    assert_eq!(protocol(&out), vec![Action::StartAudio]);
    assert_eq!(h.call.state(), CallState::Connected);
    h
}

fn ends_with_reject_after_pbx_failure(failure: PbxFailure) {
    let (mut h, _) = ringing();
    h.feed(ok(GraphRequestKind::PreAccept));
    h.feed(Input::PbxProgress { status: 180 });
    let out = h.feed(Input::PbxFailed(failure));
    assert_eq!(
        protocol(&out),
        vec![reject()],
        "no CANCEL after a final response"
    );
    let out = h.feed(ok(GraphRequestKind::Reject));
    let outcome = ended(&out);
    assert_eq!(outcome.reason, EndReason::PbxFailed(failure));
    assert_eq!(outcome.by, Side::Business);
}

#[test]
fn user_hangup_after_connect_sends_bye_to_pbx_and_nothing_to_meta() {
    let mut h = connected();
    h.advance(42.0);
    let out = h.feed(user_terminate());
    assert_eq!(protocol(&out)[0], Action::HangUpPbx);
    assert!(!protocol(&out).iter().any(|a| matches!(a, Action::Graph(_))));
    let outcome = ended(&out);
    assert_eq!(
        (outcome.reason, outcome.by),
        (EndReason::HungUp, Side::User)
    );
    assert_eq!(outcome.duration, Some(Duration::from_secs(42)));
    assert_eq!(outcome.billing_pulses, 0, "user-initiated calls are free");
    assert_eq!(h.call.state(), CallState::Ended);
}

#[test]
fn pbx_hangup_after_connect_terminates_at_meta() {
    let mut h = connected();
    h.advance(10.0);
    let out = h.feed(Input::PbxHangup);
    assert_eq!(protocol(&out), vec![terminate()]);
    assert_eq!(h.call.state(), CallState::Ending);
    let out = h.feed(ok(GraphRequestKind::Terminate));
    let outcome = ended(&out);
    assert_eq!(
        (outcome.reason, outcome.by),
        (EndReason::HungUp, Side::Business)
    );
    assert_eq!(outcome.meta_error_code, None);
}

#[test]
fn policy_denial_rejects_without_ringing_the_pbx() {
    let (mut h, _) = Harness::uic();
    let out = h.feed(Input::PolicyDecision {
        allowed: false,
        reason: "closed on Sundays".into(),
    });
    assert_eq!(protocol(&out), vec![reject()]);
    let out = h.feed(ok(GraphRequestKind::Reject));
    let outcome = ended(&out);
    assert_eq!(
        outcome.reason,
        EndReason::Denied {
            reason: "closed on Sundays".into()
        }
    );
}

#[test]
fn pbx_busy_rejects_the_call() {
    ends_with_reject_after_pbx_failure(PbxFailure::Busy);
}

#[test]
fn pbx_decline_rejects_the_call() {
    ends_with_reject_after_pbx_failure(PbxFailure::Declined);
}

#[test]
fn pbx_not_found_rejects_the_call() {
    ends_with_reject_after_pbx_failure(PbxFailure::NotFound);
}

#[test]
fn pbx_server_error_rejects_the_call() {
    ends_with_reject_after_pbx_failure(PbxFailure::ServerError(503));
}

#[test]
fn pbx_ring_timeout_cancels_the_pbx_and_rejects() {
    let (mut h, _) = ringing();
    h.feed(ok(GraphRequestKind::PreAccept));
    h.feed(Input::PbxProgress { status: 180 });
    assert!(protocol(&h.advance(24.9)).is_empty());
    let out = h.advance(0.2);
    assert_eq!(protocol(&out), vec![Action::CancelPbx, reject()]);
    let outcome = ended(&h.feed(ok(GraphRequestKind::Reject)));
    assert_eq!(outcome.reason, EndReason::PbxFailed(PbxFailure::Timeout));
    assert!(outcome.detail.unwrap().contains("25"));
}

#[test]
fn silent_pbx_is_declared_unreachable_after_the_setup_timeout() {
    let (mut h, _) = ringing();
    h.feed(ok(GraphRequestKind::PreAccept));
    assert!(protocol(&h.advance(4.9)).is_empty());
    let out = h.advance(0.2);
    assert_eq!(protocol(&out), vec![Action::CancelPbx, reject()]);
    let outcome = ended(&h.feed(ok(GraphRequestKind::Reject)));
    assert_eq!(
        outcome.reason,
        EndReason::PbxFailed(PbxFailure::Unreachable)
    );
}

#[test]
fn caller_hangup_while_pbx_rings_cancels_without_reject() {
    let (mut h, _) = ringing();
    h.feed(ok(GraphRequestKind::PreAccept));
    h.feed(Input::PbxProgress { status: 180 });
    h.advance(8.0);
    let out = h.feed(user_terminate());
    assert_eq!(protocol(&out)[0], Action::CancelPbx);
    assert_eq!(protocol(&out).len(), 2, "CANCEL then Ended, no reject");
    let outcome = ended(&out);
    assert_eq!(
        (outcome.reason, outcome.by),
        (EndReason::HungUp, Side::User)
    );
    assert_eq!(outcome.duration, None);
}

#[test]
fn answer_window_expiry_cancels_and_rejects_with_reason() {
    // Media preparation took 10 s, so the PBX's own 25 s ring timer would end after the window.
    let (mut h, _) = Harness::uic();
    h.feed(allowed());
    h.advance(10.0);
    h.feed(Input::MediaPrepared {
        answer_sdp: ANSWER.into(),
    });
    h.feed(ok(GraphRequestKind::PreAccept));
    h.feed(Input::PbxProgress { status: 183 });
    assert!(protocol(&h.advance(19.9)).is_empty());
    let out = h.advance(0.2);
    assert_eq!(protocol(&out), vec![Action::CancelPbx, reject()]);
    let outcome = ended(&h.feed(ok(GraphRequestKind::Reject)));
    assert_eq!(outcome.reason, EndReason::AnswerWindowExpired);
    assert_eq!(outcome.by, Side::Gateway);
    assert!(outcome.detail.unwrap().contains("answer window"));
}

#[test]
fn pre_accept_error_cancels_the_pbx_and_records_meta_code() {
    let (mut h, _) = ringing();
    let out = h.feed(err(GraphRequestKind::PreAccept, 100));
    assert_eq!(protocol(&out), vec![Action::CancelPbx, reject()]);
    // The reject fails too: the first code (pre_accept's) is the one kept.
    let outcome = ended(&h.feed(err(GraphRequestKind::Reject, 138004)));
    assert_eq!(
        outcome.reason,
        EndReason::GraphError {
            request: GraphRequestKind::PreAccept
        }
    );
    assert_eq!(outcome.meta_error_code, Some(100));
}

#[test]
fn accept_error_hangs_up_the_pbx_and_records_meta_code() {
    let (mut h, _) = ringing();
    h.feed(ok(GraphRequestKind::PreAccept));
    h.feed(Input::MediaConnected);
    h.feed(Input::PbxAnswered);
    let out = h.feed(err(GraphRequestKind::Accept, 138007));
    assert_eq!(protocol(&out), vec![Action::HangUpPbx, reject()]);
    assert!(!out.contains(&Action::StartAudio));
    let outcome = ended(&h.feed(ok(GraphRequestKind::Reject)));
    assert_eq!(outcome.meta_error_code, Some(138007));
}

#[test]
fn reject_error_is_recorded_and_the_call_still_ends() {
    let (mut h, _) = ringing();
    h.feed(Input::PbxFailed(PbxFailure::Busy));
    let out = h.feed(err(GraphRequestKind::Reject, 138004));
    assert!(records(&out).iter().any(|s| matches!(
        s,
        Step::GraphFailed {
            request: GraphRequestKind::Reject,
            code: Some(138004),
            ..
        }
    )));
    let outcome = ended(&out);
    assert_eq!(outcome.reason, EndReason::PbxFailed(PbxFailure::Busy));
    assert_eq!(outcome.meta_error_code, Some(138004));
}

#[test]
fn terminate_error_is_recorded_and_the_call_still_ends() {
    let mut h = connected();
    h.feed(Input::HangUp);
    let outcome = ended(&h.feed(err(GraphRequestKind::Terminate, 138004)));
    assert_eq!(
        (outcome.reason, outcome.by),
        (EndReason::HungUp, Side::Operator)
    );
    assert_eq!(outcome.meta_error_code, Some(138004));
}

#[test]
fn lost_reject_result_ends_the_call_after_the_teardown_timeout() {
    let (mut h, _) = ringing();
    h.feed(Input::PbxFailed(PbxFailure::Declined));
    let out = h.advance(10.1);
    assert!(records(&out).contains(&Step::TeardownTimedOut(GraphRequestKind::Reject)));
    assert_eq!(
        ended(&out).reason,
        EndReason::PbxFailed(PbxFailure::Declined)
    );
}

#[test]
fn media_failure_before_accept_rejects_and_cancels_the_pbx() {
    let (mut h, _) = ringing();
    h.feed(Input::PbxProgress { status: 180 });
    let out = h.feed(Input::MediaFailed {
        reason: "DTLS handshake timed out".into(),
    });
    assert_eq!(protocol(&out), vec![Action::CancelPbx, reject()]);
    let outcome = ended(&h.feed(ok(GraphRequestKind::Reject)));
    assert_eq!(
        outcome.reason,
        EndReason::MediaFailed {
            reason: "DTLS handshake timed out".into()
        }
    );
}

#[test]
fn pbx_answer_before_pre_accept_ok_defers_accept_until_then_and_sends_it_once() {
    let (mut h, out) = ringing();
    assert!(matches!(
        protocol(&out).as_slice(),
        [
            Action::Graph(GraphRequest::PreAccept { .. }),
            Action::RingPbx(_)
        ]
    ));
    h.feed(Input::MediaConnected);
    let early = h.feed(Input::PbxAnswered);
    assert!(
        protocol(&early).is_empty(),
        "accept must wait for pre_accept's 200"
    );
    let out = h.feed(ok(GraphRequestKind::PreAccept));
    let accepts = |a: &[Action]| {
        a.iter()
            .filter(|a| matches!(a, Action::Graph(GraphRequest::Accept { .. })))
            .count()
    };
    assert_eq!(accepts(&out), 1);
    let again = [
        h.feed(Input::PbxAnswered),
        h.feed(ok(GraphRequestKind::PreAccept)),
        h.feed(Input::MediaConnected),
    ]
    .concat();
    assert_eq!(accepts(&again), 0);
    assert!(protocol(&again).is_empty());
}

#[test]
fn accept_reuses_pre_accept_sdp_byte_for_byte_and_audio_waits_for_its_200() {
    let (mut h, out) = ringing();
    let pre_accept_sdp = out
        .iter()
        .find_map(|a| match a {
            Action::Graph(GraphRequest::PreAccept { sdp, .. }) => Some(sdp.clone()),
            _ => None,
        })
        .expect("pre_accept sent");
    h.feed(ok(GraphRequestKind::PreAccept));
    h.feed(Input::PbxAnswered);
    let out = h.feed(Input::MediaConnected);
    let Some(Action::Graph(GraphRequest::Accept { sdp, call_id, .. })) =
        protocol(&out).first().cloned()
    else {
        panic!("accept expected once PBX, pre_accept and media are ready: {out:?}");
    };
    assert_eq!(sdp.as_bytes(), pre_accept_sdp.as_bytes());
    assert_eq!(call_id, CALL_ID);
    assert!(!out.contains(&Action::StartAudio));
    assert_eq!(h.call.state(), CallState::Accepting);
    let out = h.feed(ok(GraphRequestKind::Accept));
    assert_eq!(protocol(&out), vec![Action::StartAudio]);
}

#[test]
fn terminate_after_the_end_is_ignored_by_the_machine() {
    // A terminate that precedes the connect never reaches a machine: the registry keeps a
    // tombstone for the ended call id. The machine's part is to ignore terminates once ended.
    let mut h = connected();
    let first = h.feed(user_terminate());
    assert!(h.call.outcome().is_some());
    let late = h.feed(user_terminate());
    assert!(protocol(&late).is_empty());
    assert_eq!(
        records(&late),
        vec![Step::Ignored {
            input: "meta_terminate",
            state: "ended"
        }]
    );
    assert_eq!(h.call.outcome(), Some(&ended(&first)));
}

#[test]
fn duplicate_connect_terminate_and_pbx_answer_produce_no_duplicate_actions() {
    let (mut h, _) = ringing();
    let dup_connect = h.feed(Input::MetaConnect {
        call_id: CALL_ID.into(),
        sdp: OFFER.into(),
    });
    assert!(protocol(&dup_connect).is_empty());
    h.feed(ok(GraphRequestKind::PreAccept));
    h.feed(Input::MediaConnected);
    let first = h.feed(Input::PbxAnswered);
    assert_eq!(protocol(&first).len(), 1, "one accept");
    assert!(protocol(&h.feed(Input::PbxAnswered)).is_empty());
    h.feed(ok(GraphRequestKind::Accept));
    let hangup = h.feed(user_terminate());
    assert_eq!(protocol(&hangup).len(), 2, "one BYE and the end");
    assert!(protocol(&h.feed(user_terminate())).is_empty());
}

#[test]
fn pbx_early_media_reaches_the_caller_only_after_accept() {
    let (mut h, _) = ringing();
    h.feed(ok(GraphRequestKind::PreAccept));
    h.feed(Input::PbxProgress { status: 183 });
    let out = h.feed(Input::PbxEarlyMedia);
    assert!(
        !out.contains(&Action::StartAudio),
        "no PBX audio before accept"
    );
    h.feed(Input::MediaConnected);
    h.feed(Input::PbxAnswered);
    let out = h.feed(ok(GraphRequestKind::Accept));
    assert_eq!(protocol(&out), vec![Action::StartAudio]);
}
