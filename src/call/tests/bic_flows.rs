//! Business-initiated call scenarios: permission -> offer -> Graph connect -> answer webhook
//! (either side of the connect response) -> media up -> hang-up, failures, and billing.

use super::*;
use crate::call::*;

pub(super) const BIC_ID: &str = "wacid.HBgLMTIxODU1NTI4MjgVAgARGCA";
pub(super) const BIC_OFFER: &str = "v=0\r\no=- 5 2 IN IP4 0.0.0.0\r\ns=-\r\na=setup:actpass\r\n";
pub(super) const USER_ANSWER: &str =
    "v=0\r\no=- 7 2 IN IP4 157.240.0.9\r\ns=-\r\na=setup:active\r\n";

pub(super) fn connect_ok() -> Input {
    Input::GraphDone {
        request: GraphRequestKind::Connect,
        result: Ok(GraphSuccess {
            call_id: Some(BIC_ID.into()),
        }),
    }
}

pub(super) fn answer_webhook() -> Input {
    Input::MetaConnect {
        call_id: BIC_ID.into(),
        sdp: USER_ANSWER.into(),
    }
}

pub(super) fn bic_terminate() -> Action {
    Action::Graph(GraphRequest::Terminate {
        call_id: BIC_ID.into(),
    })
}

/// Drives a call from a SIP phone until `connect` is out.
fn dialing(origin: BicOrigin) -> Harness {
    let (mut h, first) = Harness::bic(origin);
    assert_eq!(protocol(&first), vec![Action::CheckPermission]);
    assert_eq!(protocol(&h.feed(allowed())), vec![Action::CreateOffer]);
    let out = h.feed(Input::OfferCreated {
        sdp: BIC_OFFER.into(),
    });
    assert_eq!(
        protocol(&out),
        vec![Action::Graph(GraphRequest::Connect {
            to: "13175551399".into(),
            offer: BIC_OFFER.into(),
            biz_opaque: Some("agent-42".into()),
        })]
    );
    assert_eq!(h.call.call_id(), None);
    h
}

/// Drives a call from a SIP phone to connected.
fn connected() -> Harness {
    let mut h = dialing(BicOrigin::SipPhone);
    h.feed(connect_ok());
    h.feed(answer_webhook());
    h.feed(Input::MediaConnected);
    assert_eq!(h.call.state(), CallState::Connected);
    h
}

#[test]
fn bic_happy_path_connects_on_media_and_only_records_accepted() {
    let mut h = dialing(BicOrigin::SipPhone);
    assert!(protocol(&h.feed(connect_ok())).is_empty());
    assert_eq!(h.call.call_id(), Some(BIC_ID));
    let ringing = h.feed(Input::MetaStatus(MetaCallStatus::Ringing));
    assert_eq!(protocol(&ringing), vec![Action::ProgressPbx]);
    h.advance(4.0);
    let out = h.feed(answer_webhook());
    assert_eq!(
        protocol(&out),
        vec![Action::ApplyAnswer {
            sdp: USER_ANSWER.into()
        }]
    );
    let out = h.feed(Input::MediaConnected);
    assert_eq!(protocol(&out), vec![Action::AnswerPbx, Action::StartAudio]);
    assert_eq!(h.call.state(), CallState::Connected);
    let out = h.feed(Input::MetaStatus(MetaCallStatus::Accepted));
    assert!(protocol(&out).is_empty());
    assert_eq!(
        records(&out),
        vec![Step::UserStatus(MetaCallStatus::Accepted)]
    );
    assert_eq!(h.call.poll_timeout(), None, "ring timer stopped");
}

#[test]
fn answer_webhook_before_connect_response_still_connects() {
    let mut h = dialing(BicOrigin::SipPhone);
    let out = h.feed(answer_webhook());
    assert_eq!(
        protocol(&out),
        vec![Action::ApplyAnswer {
            sdp: USER_ANSWER.into()
        }]
    );
    assert_eq!(
        h.call.call_id(),
        Some(BIC_ID),
        "id learned from the webhook"
    );
    assert_eq!(
        protocol(&h.feed(Input::MediaConnected)),
        vec![Action::AnswerPbx, Action::StartAudio]
    );
    let late = h.feed(connect_ok());
    assert!(protocol(&late).is_empty());
    assert_eq!(h.call.state(), CallState::Connected);
    assert_eq!(h.call.call_id(), Some(BIC_ID));
}

#[test]
fn permission_denied_sends_nothing_to_meta() {
    let (mut h, _) = Harness::bic(BicOrigin::SipPhone);
    let out = h.feed(Input::PolicyDecision {
        allowed: false,
        reason: "no call permission from this user".into(),
    });
    assert!(!out.iter().any(|a| matches!(a, Action::Graph(_))));
    assert_eq!(protocol(&out)[0], Action::RejectPbx { status: 403 });
    let outcome = ended(&out);
    assert_eq!(
        outcome.reason,
        EndReason::Denied {
            reason: "no call permission from this user".into()
        }
    );
    assert_eq!(outcome.billing_pulses, 0);
}

#[test]
fn user_rejection_ends_the_call_declines_the_sip_phone_and_ignores_the_later_terminate() {
    let mut h = dialing(BicOrigin::SipPhone);
    h.feed(connect_ok());
    let out = h.feed(Input::MetaStatus(MetaCallStatus::Rejected));
    assert_eq!(protocol(&out)[0], Action::RejectPbx { status: 603 });
    assert!(!out.iter().any(|a| matches!(a, Action::Graph(_))));
    let outcome = ended(&out);
    assert_eq!(
        (outcome.reason, outcome.by),
        (EndReason::Rejected, Side::User)
    );
    let later = h.feed(Input::MetaTerminate {
        status: TerminateStatus::Other,
        error_code: None,
        duration_secs: None,
    });
    assert!(protocol(&later).is_empty());
}

#[test]
fn unanswered_call_is_terminated_after_the_ring_timeout() {
    let mut h = dialing(BicOrigin::SipPhone);
    h.feed(connect_ok());
    h.feed(Input::MetaStatus(MetaCallStatus::Ringing));
    assert!(protocol(&h.advance(59.9)).is_empty());
    let out = h.advance(0.2);
    assert_eq!(
        protocol(&out),
        vec![Action::RejectPbx { status: 480 }, bic_terminate()]
    );
    let outcome = ended(&h.feed(ok(GraphRequestKind::Terminate)));
    assert_eq!(outcome.reason, EndReason::NoAnswer);
    assert_eq!(outcome.billing_pulses, 0, "unanswered calls are not billed");
}

#[test]
fn connect_error_ends_with_meta_code_and_answers_the_sip_phone() {
    let mut h = dialing(BicOrigin::SipPhone);
    let out = h.feed(err(GraphRequestKind::Connect, 138006));
    assert_eq!(protocol(&out)[0], Action::RejectPbx { status: 403 });
    let outcome = ended(&out);
    assert_eq!(
        outcome.reason,
        EndReason::GraphError {
            request: GraphRequestKind::Connect
        }
    );
    assert_eq!(outcome.meta_error_code, Some(138006));
}

/// The agent's or phone's BYE: `terminate` at Meta, the call ended by the business.
pub(super) fn pbx_hangup_terminates_at_meta(mut h: Harness) {
    let out = h.feed(Input::PbxHangup);
    assert_eq!(protocol(&out), vec![bic_terminate()]);
    let outcome = ended(&h.feed(ok(GraphRequestKind::Terminate)));
    assert_eq!(
        (outcome.reason, outcome.by),
        (EndReason::HungUp, Side::Business)
    );
}

#[test]
fn business_hangup_from_the_sip_phone_terminates_at_meta() {
    pbx_hangup_terminates_at_meta(connected());
}

#[test]
fn operator_hangup_terminates_at_meta_and_hangs_up_the_sip_phone() {
    let mut h = connected();
    let out = h.feed(Input::HangUp);
    assert_eq!(protocol(&out), vec![Action::HangUpPbx, bic_terminate()]);
    let outcome = ended(&h.feed(ok(GraphRequestKind::Terminate)));
    assert_eq!(outcome.by, Side::Operator);
}

#[test]
fn user_hangup_sends_bye_to_the_sip_phone_and_nothing_to_meta() {
    let mut h = connected();
    let out = h.feed(user_terminate());
    assert_eq!(protocol(&out)[0], Action::HangUpPbx);
    assert!(!out.iter().any(|a| matches!(a, Action::Graph(_))));
    assert_eq!(ended(&out).by, Side::User);
}

#[test]
fn fifty_six_second_bic_call_bills_ten_pulses() {
    let mut h = connected();
    h.advance(56.0);
    let outcome = ended(&h.feed(user_terminate()));
    assert_eq!(outcome.duration, Some(Duration::from_secs(56)));
    assert_eq!(outcome.billing_pulses, 10);
}

#[test]
fn sip_phone_cancel_before_connect_response_terminates_once_the_call_id_is_known() {
    let mut h = dialing(BicOrigin::SipPhone);
    let out = h.feed(Input::PbxCancelled);
    assert!(
        protocol(&out).is_empty(),
        "no call id yet: nothing to terminate"
    );
    assert_eq!(h.call.state(), CallState::Ending);
    let out = h.feed(connect_ok());
    assert_eq!(protocol(&out), vec![bic_terminate()]);
    let outcome = ended(&h.feed(ok(GraphRequestKind::Terminate)));
    assert_eq!(
        (outcome.reason, outcome.by),
        (EndReason::HungUp, Side::Business)
    );
}

#[test]
fn api_originated_call_has_no_sip_phone_to_answer() {
    let mut h = dialing(BicOrigin::Api);
    h.feed(answer_webhook());
    let out = h.feed(Input::MediaConnected);
    assert_eq!(protocol(&out), vec![Action::StartAudio]);
    assert_eq!(h.call.state(), CallState::Connected);
}
