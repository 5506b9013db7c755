//! Scenario tests for the call state machine, driven on virtual time the way a driver would:
//! feed an input, carry out the actions, sleep until `poll_timeout`.

mod bic_agent_flows;
mod bic_flows;
mod failover;
mod uic_flows;

use std::time::{Duration, Instant};

use super::*;

/// A call plus a fake clock.
pub(super) struct Harness {
    pub call: Call,
    pub now: Instant,
}

impl Harness {
    pub fn uic() -> (Self, Vec<Action>) {
        Self::uic_with(CallConfig::default())
    }

    pub fn uic_with(config: CallConfig) -> (Self, Vec<Action>) {
        let now = Instant::now();
        let (call, actions) = Call::user_initiated(now, user_params(), config);
        (Self { call, now }, actions)
    }

    pub fn bic(origin: BicOrigin) -> (Self, Vec<Action>) {
        Self::bic_with_agent(origin, None)
    }

    /// A business-initiated call from the API bridged to an agent in `mode`.
    pub fn bic_agent(mode: BridgeMode) -> (Self, Vec<Action>) {
        let agent = AgentBridge {
            target: AGENT.into(),
            mode,
        };
        Self::bic_with_agent(BicOrigin::Api, Some(agent))
    }

    fn bic_with_agent(origin: BicOrigin, agent: Option<AgentBridge>) -> (Self, Vec<Action>) {
        let now = Instant::now();
        let params = BusinessCallParams {
            phone_number_id: "106540352242922".into(),
            to: "13175551399".into(),
            biz_opaque: Some("agent-42".into()),
            origin,
            agent,
        };
        let (call, actions) = Call::business_initiated(now, params, CallConfig::default());
        (Self { call, now }, actions)
    }

    /// Feeds `input` at the current virtual time.
    pub fn feed(&mut self, input: Input) -> Vec<Action> {
        self.call.handle(self.now, input)
    }

    /// Lets `secs` of virtual time pass, firing every deadline on the way as a driver would.
    pub fn advance(&mut self, secs: f64) -> Vec<Action> {
        let target = self.now + Duration::from_secs_f64(secs);
        let mut actions = Vec::new();
        while let Some(at) = self.call.poll_timeout().filter(|at| *at <= target) {
            self.now = self.now.max(at);
            actions.extend(self.call.handle_timeout(self.now));
        }
        self.now = target;
        actions
    }
}

pub(super) const AGENT: &str = "sip:agent7@10.0.0.5:5060";
pub(super) const CALL_ID: &str = "wacid.ABGGFjFVU2AfAgo6V-Hc5eCgK5Gh";
pub(super) const OFFER: &str = "v=0\r\no=- 1 2 IN IP4 157.240.0.1\r\ns=-\r\na=ice-lite\r\n";
pub(super) const ANSWER: &str = "v=0\r\no=- 9 2 IN IP4 0.0.0.0\r\ns=-\r\na=setup:active\r\n";

fn user_params() -> UserCallParams {
    UserCallParams {
        call_id: CALL_ID.into(),
        phone_number_id: "106540352242922".into(),
        from: Some("16315553602".into()),
        display_name: Some("Ana".into()),
        to: "16315553601".into(),
        offer_sdp: OFFER.into(),
        cta_payload: Some("order-77".into()),
        ..UserCallParams::default()
    }
}

/// The actions with protocol effect (timeline records left out).
pub(super) fn protocol(actions: &[Action]) -> Vec<Action> {
    actions
        .iter()
        .filter(|a| !matches!(a, Action::Record(_)))
        .cloned()
        .collect()
}

/// The timeline records among `actions`.
pub(super) fn records(actions: &[Action]) -> Vec<Step> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Record(step) => Some(step.clone()),
            _ => None,
        })
        .collect()
}

pub(super) fn ok(request: GraphRequestKind) -> Input {
    Input::GraphDone {
        request,
        result: Ok(GraphSuccess::default()),
    }
}

pub(super) fn err(request: GraphRequestKind, code: u32) -> Input {
    Input::GraphDone {
        request,
        result: Err(GraphFailure {
            code: Some(code),
            message: format!("meta error {code}"),
        }),
    }
}

pub(super) fn allowed() -> Input {
    Input::PolicyDecision {
        allowed: true,
        reason: "within business hours".into(),
    }
}

pub(super) fn user_terminate() -> Input {
    Input::MetaTerminate {
        status: TerminateStatus::Completed,
        error_code: None,
        duration_secs: None,
    }
}

pub(super) fn reject() -> Action {
    Action::Graph(GraphRequest::Reject {
        call_id: CALL_ID.into(),
    })
}

pub(super) fn terminate() -> Action {
    Action::Graph(GraphRequest::Terminate {
        call_id: CALL_ID.into(),
    })
}

pub(super) fn ended(actions: &[Action]) -> Outcome {
    match actions.last() {
        Some(Action::Ended(outcome)) => outcome.clone(),
        other => panic!("expected the call to end, last action was {other:?}"),
    }
}
