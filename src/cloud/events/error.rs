//! Why a webhook body could not be turned into events ([`WebhookParseError`]).

/// A webhook body that is not a WhatsApp webhook callgate can read. The handler should still answer
/// 200 (Meta would only resend the same bytes) and log the error with the body's size, not its text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookParseError {
    /// The body is not JSON, or not the envelope `{"object", "entry": [{"id", "changes": [{"field",
    /// "value"}]}]}`. `line`/`column` point into the body (1-based line; column 0 at end of input).
    #[error(
        "webhook body is not a WhatsApp webhook envelope (line {line}, column {column}): {detail}; \
         check that the URL receives only Meta webhook POSTs"
    )]
    InvalidJson {
        /// 1-based line of the problem in the body.
        line: usize,
        /// 1-based column of the problem (0 when the body ended early).
        column: usize,
        /// What serde found wrong, without the position.
        detail: String,
    },
    /// The envelope's `object` is not `whatsapp_business_account`: the app is subscribed to another
    /// product (page, instagram, ...) on this callback URL.
    #[error(
        "webhook object is {object:?}, expected \"whatsapp_business_account\": remove that \
         product's webhook subscription from this callback URL"
    )]
    NotWhatsApp {
        /// The `object` value received.
        object: String,
    },
    /// A `calls` or `messages` change does not have the shape Meta documents (a required field such
    /// as a call `id`, `event` or `timestamp` is missing or has the wrong type). Meta may have
    /// changed the format: report it with the payload to the callgate maintainers.
    #[error(
        "webhook entry[{entry}].changes[{change}] (field {field:?}) has an unexpected shape: \
         {detail}; Meta may have changed the payload format, please report it"
    )]
    InvalidChange {
        /// Index in `entry[]`.
        entry: usize,
        /// Index in that entry's `changes[]`.
        change: usize,
        /// The change's `field` (`calls` or `messages`).
        field: String,
        /// What serde found wrong.
        detail: String,
    },
}

impl WebhookParseError {
    /// Builds [`Self::InvalidJson`] from a serde error on the raw body, splitting off the position.
    pub(super) fn invalid_json(err: &serde_json::Error) -> Self {
        let (line, column) = (err.line(), err.column());
        let full = err.to_string();
        let suffix = format!(" at line {line} column {column}");
        let detail = full.strip_suffix(&suffix).unwrap_or(&full).to_owned();
        Self::InvalidJson {
            line,
            column,
            detail,
        }
    }
}
