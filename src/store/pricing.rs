//! Billing pulses (spec section 7): business-initiated calls are billed in 6-second pulses, a partial
//! pulse counting as whole (56 s -> 10 pulses); user-initiated calls are free; an unanswered call
//! has no billable duration.

use super::Direction;

/// Length of one billing pulse in seconds.
pub const PULSE_SECONDS: i64 = 6;

/// `ceil(duration_s / 6)`; a negative duration (clock skew) counts as 0.
pub fn pulses_for_duration(duration_s: i64) -> i64 {
    let d = duration_s.max(0);
    d / PULSE_SECONDS + i64::from(d % PULSE_SECONDS != 0)
}

/// The pulses a call is billed: `None` when it was never answered (`duration_s` is `None`),
/// `Some(0)` for an answered user-initiated call, `Some(ceil(duration_s / 6))` for an answered
/// business-initiated call.
pub fn billing_pulses(direction: Direction, duration_s: Option<i64>) -> Option<i64> {
    let duration_s = duration_s?;
    Some(match direction {
        Direction::UserInitiated => 0,
        Direction::BusinessInitiated => pulses_for_duration(duration_s),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_pulse_counts_as_whole() {
        assert_eq!(pulses_for_duration(56), 10);
        assert_eq!(pulses_for_duration(60), 10);
        assert_eq!(pulses_for_duration(61), 11);
        assert_eq!(pulses_for_duration(1), 1);
        assert_eq!(pulses_for_duration(0), 0);
    }

    #[test]
    fn negative_duration_bills_nothing() {
        assert_eq!(pulses_for_duration(-5), 0);
    }

    #[test]
    fn user_initiated_calls_are_free() {
        assert_eq!(billing_pulses(Direction::UserInitiated, Some(56)), Some(0));
    }

    #[test]
    fn business_initiated_calls_are_billed_by_pulse() {
        assert_eq!(
            billing_pulses(Direction::BusinessInitiated, Some(56)),
            Some(10)
        );
        assert_eq!(
            billing_pulses(Direction::BusinessInitiated, Some(0)),
            Some(0)
        );
    }

    #[test]
    fn unanswered_calls_have_no_pulses() {
        assert_eq!(billing_pulses(Direction::BusinessInitiated, None), None);
        assert_eq!(billing_pulses(Direction::UserInitiated, None), None);
    }
}
