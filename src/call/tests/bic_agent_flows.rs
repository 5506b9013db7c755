//! Business-initiated calls from the REST API bridged to an agent: `agent_first` (ring the agent,
//! call the user when the agent answers, nothing to Meta if the agent does not) and `user_first`
//! (call the user, ring the agent once the user is connected), with hang-ups and failures on
//! each side.

use super::bic_flows::{BIC_OFFER, answer_webhook, bic_terminate, connect_ok};
use super::*;
use crate::call::*;

fn agent_ring() -> PbxRing {
    PbxRing {
        call_id: String::new(),
        from: Some("13175551399".into()),
        from_user_id: None,
        display_name: Some("WhatsApp +13175551399".into()),
        to: AGENT.into(),
        cta_payload: None,
        deeplink_payload: Some("agent-42".into()),
        target: Some(AGENT.into()),
    }
}

fn connect_request() -> Action {
    Action::Graph(GraphRequest::Connect {
        to: "13175551399".into(),
        offer: BIC_OFFER.into(),
        biz_opaque: Some("agent-42".into()),
    })
}

/// `agent_first` until the agent rings.
fn agent_ringing() -> Harness {
    let (mut h, first) = Harness::bic_agent(BridgeMode::AgentFirst);
    assert_eq!(protocol(&first), vec![Action::CheckPermission]);
    assert_eq!(
        protocol(&h.feed(allowed())),
        vec![Action::RingPbx(agent_ring())]
    );
    assert_eq!(h.call.state(), CallState::RingingAgent);
    h
}

/// `agent_first` until `connect` is out (the agent answered).
fn agent_first_dialing() -> Harness {
    let mut h = agent_ringing();
    h.feed(Input::PbxProgress { status: 180 });
    assert_eq!(
        protocol(&h.feed(Input::PbxAnswered)),
        vec![Action::CreateOffer]
    );
    let out = h.feed(Input::OfferCreated {
        sdp: BIC_OFFER.into(),
    });
    assert_eq!(protocol(&out), vec![connect_request()]);
    h
}

/// `user_first` until the user is connected and the agent rings.
fn user_first_joining() -> Harness {
    let (mut h, _) = Harness::bic_agent(BridgeMode::UserFirst);
    assert_eq!(protocol(&h.feed(allowed())), vec![Action::CreateOffer]);
    let out = h.feed(Input::OfferCreated {
        sdp: BIC_OFFER.into(),
    });
    assert_eq!(protocol(&out), vec![connect_request()]);
    h.feed(connect_ok());
    h.feed(answer_webhook());
    let out = h.feed(Input::MediaConnected);
    let mut ring = agent_ring();
    ring.call_id = super::bic_flows::BIC_ID.into();
    assert_eq!(protocol(&out), vec![Action::RingPbx(ring)]);
    assert_eq!(h.call.state(), CallState::RingingAgent);
    h
}

#[test]
fn agent_first_rings_the_agent_then_calls_the_user_and_connects_on_media() {
    let mut h = agent_first_dialing();
    h.feed(connect_ok());
    h.feed(answer_webhook());
    let out = h.feed(Input::MediaConnected);
    assert_eq!(protocol(&out), vec![Action::StartAudio]);
    assert_eq!(h.call.state(), CallState::Connected);
}

#[test]
fn agent_first_agent_busy_ends_without_contacting_meta() {
    let mut h = agent_ringing();
    let out = h.feed(Input::PbxFailed(PbxFailure::Busy));
    assert!(!out.iter().any(|a| matches!(a, Action::Graph(_))));
    assert_eq!(ended(&out).reason, EndReason::PbxFailed(PbxFailure::Busy));
}

#[test]
fn agent_first_unanswered_agent_is_cancelled_after_the_ring_timeout() {
    let mut h = agent_ringing();
    assert!(protocol(&h.advance(24.9)).is_empty());
    let out = h.advance(0.2);
    assert_eq!(protocol(&out)[0], Action::CancelPbx);
    assert!(!out.iter().any(|a| matches!(a, Action::Graph(_))));
    assert_eq!(
        ended(&out).reason,
        EndReason::PbxFailed(PbxFailure::Timeout)
    );
}

#[test]
fn agent_first_user_rejection_hangs_up_the_agent() {
    let mut h = agent_first_dialing();
    h.feed(connect_ok());
    let out = h.feed(Input::MetaStatus(MetaCallStatus::Rejected));
    assert_eq!(protocol(&out)[0], Action::HangUpPbx);
    assert_eq!(ended(&out).reason, EndReason::Rejected);
}

#[test]
fn agent_first_agent_hanging_up_while_the_user_rings_terminates_at_meta() {
    let mut h = agent_first_dialing();
    h.feed(connect_ok());
    super::bic_flows::pbx_hangup_terminates_at_meta(h);
}

#[test]
fn agent_first_operator_hangup_before_the_agent_answers_cancels_it() {
    let mut h = agent_ringing();
    let out = h.feed(Input::HangUp);
    assert_eq!(protocol(&out)[0], Action::CancelPbx);
    assert!(!out.iter().any(|a| matches!(a, Action::Graph(_))));
}

#[test]
fn user_first_connects_when_the_agent_answers() {
    let mut h = user_first_joining();
    h.feed(Input::PbxProgress { status: 180 });
    let out = h.feed(Input::PbxAnswered);
    assert_eq!(protocol(&out), vec![Action::StartAudio]);
    assert_eq!(h.call.state(), CallState::Connected);
    let out = h.feed(user_terminate());
    assert_eq!(protocol(&out)[0], Action::HangUpPbx, "BYE to the agent");
}

#[test]
fn user_first_accepted_status_while_the_agent_rings_keeps_waiting_for_the_agent() {
    let mut h = user_first_joining();
    let out = h.feed(Input::MetaStatus(MetaCallStatus::Accepted));
    assert!(protocol(&out).is_empty());
    assert_eq!(h.call.state(), CallState::RingingAgent);
    let out = h.feed(Input::PbxAnswered);
    assert_eq!(protocol(&out), vec![Action::StartAudio]);
    assert_eq!(h.call.state(), CallState::Connected);
}

#[test]
fn user_first_agent_busy_terminates_the_user_call() {
    let mut h = user_first_joining();
    let out = h.feed(Input::PbxFailed(PbxFailure::Busy));
    assert_eq!(protocol(&out), vec![bic_terminate()]);
    let outcome = ended(&h.feed(ok(GraphRequestKind::Terminate)));
    assert_eq!(outcome.reason, EndReason::PbxFailed(PbxFailure::Busy));
}

#[test]
fn user_first_user_hanging_up_while_the_agent_rings_cancels_the_agent() {
    let mut h = user_first_joining();
    let out = h.feed(user_terminate());
    assert_eq!(protocol(&out)[0], Action::CancelPbx);
    assert_eq!(ended(&out).by, Side::User);
}

#[test]
fn user_first_unanswered_agent_terminates_the_user_call() {
    let mut h = user_first_joining();
    let out = h.advance(25.1);
    assert_eq!(protocol(&out), vec![Action::CancelPbx, bic_terminate()]);
}

#[test]
fn connected_agent_hangup_terminates_and_operator_hangup_byes_the_agent() {
    let mut h = agent_first_dialing();
    h.feed(connect_ok());
    h.feed(answer_webhook());
    h.feed(Input::MediaConnected);
    let out = h.feed(Input::PbxHangup);
    assert_eq!(protocol(&out), vec![bic_terminate()]);

    let mut h = user_first_joining();
    h.feed(Input::PbxAnswered);
    let out = h.feed(Input::HangUp);
    assert_eq!(protocol(&out), vec![Action::HangUpPbx, bic_terminate()]);
}

#[test]
fn agent_first_agent_hears_ringback_once_the_user_rings_until_media_connects() {
    let mut h = agent_first_dialing();
    h.feed(connect_ok());
    let out = h.feed(Input::MetaStatus(MetaCallStatus::Ringing));
    assert_eq!(protocol(&out), vec![Action::Ringback(RingbackTo::Pbx)]);
    let again = h.feed(Input::MetaStatus(MetaCallStatus::Ringing));
    assert!(
        protocol(&again).is_empty(),
        "a duplicate RINGING starts nothing"
    );
    h.feed(answer_webhook());
    let out = h.feed(Input::MediaConnected);
    assert_eq!(
        protocol(&out),
        vec![Action::StartAudio],
        "StartAudio ends it"
    );
}

#[test]
fn user_first_user_hears_ringback_while_the_agent_rings() {
    let mut h = user_first_joining();
    let out = h.feed(Input::PbxProgress { status: 180 });
    assert_eq!(protocol(&out), vec![Action::Ringback(RingbackTo::WhatsApp)]);
    let out = h.feed(Input::PbxAnswered);
    assert_eq!(protocol(&out), vec![Action::StartAudio]);
}

#[test]
fn user_first_user_hears_the_agents_early_media_instead_of_ringback() {
    let mut h = user_first_joining();
    let out = h.feed(Input::PbxProgress { status: 183 });
    assert_eq!(protocol(&out), vec![Action::Ringback(RingbackTo::WhatsApp)]);
    let out = h.feed(Input::PbxEarlyMedia);
    assert_eq!(protocol(&out), vec![Action::StartAudio], "the gate opens");
    assert_eq!(
        h.call.state(),
        CallState::RingingAgent,
        "the agent still rings"
    );
    let out = h.feed(Input::PbxAnswered);
    assert_eq!(protocol(&out), vec![Action::StartAudio]);
    assert_eq!(h.call.state(), CallState::Connected);
}
