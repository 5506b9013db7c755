//! Per-call timing knobs ([`CallConfig`]) and their validation ([`ConfigError`]).

use std::time::Duration;

/// Timers and switches that shape one call. One value is shared by all calls of a gateway; the
/// defaults follow Meta's documented budgets (spec sections 1.2 and 3.8).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallConfig {
    /// User-initiated calls: time from the connect webhook to `accept`/`reject`. Meta's caller
    /// gives up after about 30 s ("Not Answered"), so the gateway rejects itself at this point
    /// and the outcome says why. Default 30 s.
    pub answer_window: Duration,
    /// User-initiated calls: how long the PBX may ring (counted from the INVITE) before the
    /// gateway cancels it and rejects the call. Must be shorter than `answer_window` so the
    /// caller hears a clean reject rather than Meta's timeout. Default 25 s.
    pub pbx_ring_timeout: Duration,
    /// User-initiated calls: how long to wait for any response (provisional or final) to the
    /// INVITE before the PBX is declared unreachable. Default 5 s.
    pub pbx_setup_timeout: Duration,
    /// Business-initiated calls: how long the WhatsApp user may take to answer (counted from the
    /// Graph `connect`) before the gateway terminates the call. Default 60 s.
    pub bic_ring_timeout: Duration,
    /// Once the machine has decided to end a call it waits for the result of its last Graph
    /// request (`reject`/`terminate`) so an error can be recorded. This bounds that wait in case
    /// the driver never delivers the result. Default 10 s.
    pub teardown_timeout: Duration,
    /// User-initiated calls: also wait for the WhatsApp media leg (ICE + DTLS) to be up before
    /// sending `accept` (spec 3.8). Turn off only if a deployment shows DTLS completing only after
    /// `accept`. Default true.
    pub accept_requires_media: bool,
}

impl Default for CallConfig {
    fn default() -> Self {
        Self {
            answer_window: Duration::from_secs(30),
            pbx_ring_timeout: Duration::from_secs(25),
            pbx_setup_timeout: Duration::from_secs(5),
            bic_ring_timeout: Duration::from_secs(60),
            teardown_timeout: Duration::from_secs(10),
            accept_requires_media: true,
        }
    }
}

/// A [`CallConfig`] whose timers contradict each other.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The PBX ring timeout would fire after Meta's caller has already given up.
    #[error(
        "pbx_ring_timeout ({ring:?}) must be shorter than answer_window ({window:?}); \
         lower the ring timeout so the gateway rejects before Meta times the caller out"
    )]
    RingOutlastsAnswerWindow {
        /// The configured PBX ring timeout.
        ring: Duration,
        /// The configured answer window.
        window: Duration,
    },
    /// The PBX setup timeout is not shorter than its ring timeout, so it can never fire.
    #[error(
        "pbx_setup_timeout ({setup:?}) must be shorter than pbx_ring_timeout ({ring:?}); \
         a few seconds is enough to notice a PBX that does not answer at all"
    )]
    SetupOutlastsRing {
        /// The configured PBX setup timeout.
        setup: Duration,
        /// The configured PBX ring timeout.
        ring: Duration,
    },
    /// A timer is zero, which would end every call at once.
    #[error("{name} is zero; set it to a positive duration (see the defaults in CallConfig)")]
    ZeroTimer {
        /// The field name of the zero timer.
        name: &'static str,
    },
}

impl CallConfig {
    /// Checks that the timers are usable together (the machine itself tolerates any values: with
    /// a ring timeout past the answer window the answer window simply fires first).
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (name, value) in [
            ("answer_window", self.answer_window),
            ("pbx_ring_timeout", self.pbx_ring_timeout),
            ("pbx_setup_timeout", self.pbx_setup_timeout),
            ("bic_ring_timeout", self.bic_ring_timeout),
            ("teardown_timeout", self.teardown_timeout),
        ] {
            if value.is_zero() {
                return Err(ConfigError::ZeroTimer { name });
            }
        }
        if self.pbx_ring_timeout >= self.answer_window {
            return Err(ConfigError::RingOutlastsAnswerWindow {
                ring: self.pbx_ring_timeout,
                window: self.answer_window,
            });
        }
        if self.pbx_setup_timeout >= self.pbx_ring_timeout {
            return Err(ConfigError::SetupOutlastsRing {
                setup: self.pbx_setup_timeout,
                ring: self.pbx_ring_timeout,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_timers_are_consistent() {
        assert_eq!(CallConfig::default().validate(), Ok(()));
    }

    #[test]
    fn ring_timeout_past_the_answer_window_is_refused() {
        let config = CallConfig {
            pbx_ring_timeout: Duration::from_secs(40),
            ..CallConfig::default()
        };
        assert!(matches!(
            config.validate(),
            Err(ConfigError::RingOutlastsAnswerWindow { .. })
        ));
    }
}
