//! A string that must never reach a log line: tokens, the app secret, SIP passwords.

use serde::Deserialize;
use std::fmt;

/// A secret configuration value. `Debug` and `Display` print `***`; use [`Secret::expose`] where
/// the value is really needed (an HTTP header, an HMAC key).
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints_its_value() {
        let s = Secret::new("EAAG-very-secret");
        assert_eq!(format!("{s}"), "***");
        assert!(!format!("{s:?}").contains("EAAG"));
        assert_eq!(s.expose(), "EAAG-very-secret");
    }
}
