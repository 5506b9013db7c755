//! The last state of every call ([`Ending`]): the end is decided, protocol actions are out, and
//! the machine waits for the result of its final Graph request (`reject`/`terminate`) so a Meta
//! error can be recorded before the [`Outcome`](super::Outcome) is emitted.

use std::time::Instant;

use super::action::{Action, GraphRequest, Step};
use super::input::{GraphRequestKind, Input};
use super::outcome::EndDraft;

/// What an [`Ending`] call still waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Awaiting {
    /// The result of this Graph request.
    Graph(GraphRequestKind),
    /// BIC ended before Meta told us the call id: terminate as soon as it is known (from the
    /// `connect` response or the connect webhook), then wait for that result.
    CallIdThenTerminate,
}

/// A call whose end is decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ending {
    draft: EndDraft,
    awaiting: Awaiting,
    deadline: Instant,
}

/// Result of feeding an input to an [`Ending`] call.
pub(crate) enum Teardown {
    /// Still waiting.
    Waiting(Ending),
    /// Finished: the flow turns the draft into the outcome.
    Done(EndDraft),
}

impl Ending {
    /// Waits for the result of `request`, which the caller has just emitted.
    pub fn after_graph(draft: EndDraft, request: GraphRequestKind, deadline: Instant) -> Self {
        Self {
            draft,
            awaiting: Awaiting::Graph(request),
            deadline,
        }
    }

    /// Waits for the call id, then terminates (BIC ended while `connect` was in flight).
    pub fn before_call_id(draft: EndDraft, deadline: Instant) -> Self {
        Self {
            draft,
            awaiting: Awaiting::CallIdThenTerminate,
            deadline,
        }
    }

    /// When to give up waiting.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Feeds one input.
    pub fn handle(mut self, now: Instant, input: Input, out: &mut Vec<Action>) -> Teardown {
        match (self.awaiting, input) {
            (Awaiting::Graph(kind), Input::GraphDone { request, result }) if request == kind => {
                if let Err(failure) = result {
                    if self.draft.meta_error_code.is_none() {
                        self.draft.meta_error_code = failure.code;
                    }
                    out.push(Action::Record(Step::GraphFailed {
                        request,
                        code: failure.code,
                        message: failure.message,
                    }));
                } else {
                    out.push(Action::Record(Step::GraphOk(request)));
                }
                Teardown::Done(self.draft)
            }
            (
                Awaiting::CallIdThenTerminate,
                Input::GraphDone {
                    request: GraphRequestKind::Connect,
                    result,
                },
            ) => match result {
                Ok(success) => match success.call_id {
                    Some(call_id) => self.terminate(call_id, out),
                    None => Teardown::Done(
                        self.draft
                            .detail("connect succeeded without a call id; nothing to terminate"),
                    ),
                },
                Err(failure) => {
                    out.push(Action::Record(Step::GraphFailed {
                        request: GraphRequestKind::Connect,
                        code: failure.code,
                        message: failure.message,
                    }));
                    Teardown::Done(self.draft)
                }
            },
            (Awaiting::CallIdThenTerminate, Input::MetaConnect { call_id, .. }) => {
                self.terminate(call_id, out)
            }
            (
                awaiting,
                Input::MetaTerminate {
                    error_code,
                    duration_secs,
                    ..
                },
            ) => {
                out.push(Action::Record(Step::MetaTerminated { error_code }));
                if self.draft.meta_duration_secs.is_none() {
                    self.draft.meta_duration_secs = duration_secs;
                }
                match awaiting {
                    // Meta ended it: nothing left to terminate.
                    Awaiting::CallIdThenTerminate => Teardown::Done(self.draft),
                    Awaiting::Graph(_) => Teardown::Waiting(self),
                }
            }
            (awaiting, Input::Timeout) if now >= self.deadline => {
                let kind = match awaiting {
                    Awaiting::Graph(kind) => kind,
                    Awaiting::CallIdThenTerminate => GraphRequestKind::Connect,
                };
                out.push(Action::Record(Step::TeardownTimedOut(kind)));
                Teardown::Done(self.draft)
            }
            (_, Input::Timeout) => Teardown::Waiting(self),
            (_, other) => {
                ignore(out, &other, "ending");
                Teardown::Waiting(self)
            }
        }
    }

    fn terminate(mut self, call_id: String, out: &mut Vec<Action>) -> Teardown {
        out.push(Action::Graph(GraphRequest::Terminate { call_id }));
        self.awaiting = Awaiting::Graph(GraphRequestKind::Terminate);
        Teardown::Waiting(self)
    }
}

/// Records that `input` meant nothing in `state`.
pub(crate) fn ignore(out: &mut Vec<Action>, input: &Input, state: &'static str) {
    out.push(Action::Record(Step::Ignored {
        input: input.name(),
        state,
    }));
}
