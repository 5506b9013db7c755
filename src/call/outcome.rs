//! How a call ended ([`Outcome`], [`EndReason`], [`Side`]) and what it costs
//! ([`billing_pulses`]).

use std::time::{Duration, Instant};

use super::input::{GraphRequestKind, PbxFailure};

/// Who placed the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// A WhatsApp user called the business (free).
    UserInitiated,
    /// The business called a WhatsApp user (billed in 6-second pulses).
    BusinessInitiated,
}

/// Who ended the call (or caused it to end).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The WhatsApp user.
    User,
    /// The PBX, the agent's SIP phone, or the business rules that refused the call.
    Business,
    /// The operator (REST API hang-up, shutdown).
    Operator,
    /// callgate itself (a timer ran out, the media leg failed).
    Gateway,
    /// Meta (a Graph error, or a terminate webhook carrying an error code).
    Meta,
}

/// Why the call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EndReason {
    /// Someone hung up ([`Outcome::by`] says who). Before connect this means the call was
    /// abandoned: the caller gave up, the SIP phone cancelled, or the operator hung up.
    HungUp,
    /// The policy (UIC) or permission check (BIC) refused the call.
    Denied {
        /// The policy's explanation.
        reason: String,
    },
    /// The PBX did not take the call.
    PbxFailed(PbxFailure),
    /// UIC: the PBX did not answer within the answer window, so the call was rejected before
    /// Meta's caller gave up.
    AnswerWindowExpired,
    /// BIC: the user did not answer within the ring timeout.
    NoAnswer,
    /// BIC: the user declined the call.
    Rejected,
    /// The WhatsApp media leg failed.
    MediaFailed {
        /// What the media leg reported.
        reason: String,
    },
    /// A Graph request the call depended on failed; [`Outcome::meta_error_code`] holds the code.
    GraphError {
        /// The failed request.
        request: GraphRequestKind,
    },
    /// Meta ended the call with an error (a terminate webhook carrying `errors[]`, such as
    /// 138021 media receive timeout).
    MetaFailure,
}

/// The end of a call, for its record and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Who placed the call.
    pub direction: Direction,
    /// Why it ended.
    pub reason: EndReason,
    /// Who ended it.
    pub by: Side,
    /// The first Meta error code seen on the way out (a failed Graph request, or the terminate
    /// webhook's `errors[0].code`).
    pub meta_error_code: Option<u32>,
    /// Extra explanation for the operator (e.g. which timer ran out).
    pub detail: Option<String>,
    /// Time from the call's creation to connect, if it connected.
    pub setup_time: Option<Duration>,
    /// Time from connect to the decision to end, if it connected (gateway clock).
    pub duration: Option<Duration>,
    /// Billed 6-second pulses: 0 for user-initiated calls and unanswered calls; for a connected
    /// business-initiated call, [`billing_pulses`] of Meta's reported duration when the terminate
    /// webhook carried one, else of [`Outcome::duration`] rounded to the nearest second.
    pub billing_pulses: u64,
}

/// Meta bills business-initiated calls in 6-second pulses, a partial pulse counting as a whole
/// one: `ceil(duration_secs / 6)` (56 s gives 10).
pub fn billing_pulses(duration_secs: u64) -> u64 {
    // One rule for the whole crate: the store's pricing module owns it.
    crate::store::pulses_for_duration(i64::try_from(duration_secs).unwrap_or(i64::MAX)) as u64
}

/// Rounds a measured duration to whole seconds (nearest, halves up).
pub fn whole_seconds(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_millis() >= 500)
}

/// An outcome decided but not yet final (the machine may still be waiting for the result of its
/// last Graph request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EndDraft {
    pub reason: EndReason,
    pub by: Side,
    pub meta_error_code: Option<u32>,
    pub detail: Option<String>,
    /// When the end was decided: the talk time stops here.
    pub decided_at: Instant,
    /// The `duration` of Meta's terminate webhook, if any.
    pub meta_duration_secs: Option<u64>,
}

impl EndDraft {
    pub fn new(now: Instant, reason: EndReason, by: Side) -> Self {
        Self {
            reason,
            by,
            meta_error_code: None,
            detail: None,
            decided_at: now,
            meta_duration_secs: None,
        }
    }

    pub fn code(mut self, code: Option<u32>) -> Self {
        self.meta_error_code = code;
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Turns the draft into the final outcome.
    pub fn finish(
        self,
        direction: Direction,
        created_at: Instant,
        connected_at: Option<Instant>,
    ) -> Outcome {
        let duration = connected_at.map(|at| self.decided_at.saturating_duration_since(at));
        let billing_pulses = match (direction, duration) {
            (Direction::BusinessInitiated, Some(talk)) => {
                billing_pulses(self.meta_duration_secs.unwrap_or(whole_seconds(talk)))
            }
            _ => 0,
        };
        Outcome {
            direction,
            reason: self.reason,
            by: self.by,
            meta_error_code: self.meta_error_code,
            detail: self.detail,
            setup_time: connected_at.map(|at| at.saturating_duration_since(created_at)),
            duration,
            billing_pulses,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifty_six_seconds_bill_ten_pulses() {
        assert_eq!(billing_pulses(56), 10);
        assert_eq!(billing_pulses(60), 10);
        assert_eq!(billing_pulses(61), 11);
        assert_eq!(billing_pulses(1), 1);
        assert_eq!(billing_pulses(0), 0);
    }

    #[test]
    fn measured_duration_rounds_to_nearest_second() {
        assert_eq!(whole_seconds(Duration::from_millis(56_499)), 56);
        assert_eq!(whole_seconds(Duration::from_millis(56_500)), 57);
    }
}
