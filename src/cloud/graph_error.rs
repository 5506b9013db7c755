//! Meta's Graph error codes for WhatsApp calling (spec 1.3), each with the HTTP status Meta documents,
//! an operator-facing explanation saying what to do, and whether retrying the same request can help.

use std::fmt;

/// A Meta Graph / WhatsApp calling error code (`error.code` in a Graph error body, or `errors[].code`
/// in a `terminate` webhook). Codes not in the calling table are kept as [`MetaErrorCode::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MetaErrorCode {
    /// 100: invalid parameter; SDP validation details come in `error_data`.
    InvalidParameter,
    /// 190: the access token is invalid or expired.
    InvalidAccessToken,
    /// 613: rate limit of the call-permission GET (100 requests/s).
    RateLimitHit,
    /// 131009: interactive `voice_call` not supported for the sender's country.
    ParameterValueNotSupported,
    /// 131026: the message could not be delivered (e.g. the user's client is too old for a call
    /// permission request).
    MessageUndeliverable,
    /// 131030: recipient not in the allowed list (test numbers only).
    RecipientNotAllowed,
    /// 131044: no valid payment method on the WhatsApp Business Account.
    PaymentMethodMissing,
    /// 131055: the Graph calling API is not allowed because SIP is enabled on the number.
    SipModeEnabled,
    /// 138000: calling is not enabled on the number.
    CallingNotEnabled,
    /// 138001: the receiver cannot be called (not on WhatsApp, ToS not accepted, unsupported client).
    ReceiverUncallable,
    /// 138002: concurrent-call limit (1000 per number) reached.
    ConcurrentCallLimit,
    /// 138003: a call with this user is already ongoing.
    DuplicateCall,
    /// 138004: connection error on Meta's side.
    ConnectionError,
    /// 138005: call rate limit for the number reached.
    CallRateLimit,
    /// 138006: no approved call permission from the user.
    NoCallPermission,
    /// 138007: connect timeout: the business did not apply the SDP in time.
    ConnectTimeout,
    /// 138009: permission-request limit for this business+user pair reached.
    PermissionRequestLimit,
    /// 138011: development/testing restriction (conversation-related, FAQ only).
    ConversationRestriction,
    /// 138012: business-initiated connected-call limit per 24 h reached.
    ConnectedCallLimit,
    /// 138013: business-initiated calling is not available for this number (country).
    BicNotAvailable,
    /// 138014: calling temporarily disabled because of low call quality / negative feedback.
    CallingTemporarilyDisabled,
    /// 138015: calling cannot be enabled (messaging limit below 2000).
    CannotEnableCalling,
    /// 138017: permission request refused: a permanent permission already exists.
    PermanentPermissionExists,
    /// 138018: technical prerequisites unmet (no SIP and no app with a `calls` subscription).
    PrerequisitesUnmet,
    /// 138019: the client's call setup failed (terminate webhook).
    ClientCallSetupFailed,
    /// 138020: relay connection failed (terminate webhook).
    RelayConnectionFailed,
    /// 138021: media receive timeout (terminate webhook).
    MediaReceiveTimeout,
    /// 138022: media transmit timeout (terminate webhook).
    MediaTransmitTimeout,
    /// 138023: the call was accepted but ended without media signals (terminate webhook).
    NoMediaSignals,
    /// 138024: health status: SIP not enabled on the phone number.
    SipNotEnabled,
    /// 138025: health status: this app has no SIP server configured.
    AppHasNoSipServer,
    /// Any code not listed above.
    Other(u32),
}

/// Every known code, in table order (used by tests and documentation generators).
pub const KNOWN_CODES: &[u32] = &[
    100, 190, 613, 131009, 131026, 131030, 131044, 131055, 138000, 138001, 138002, 138003, 138004,
    138005, 138006, 138007, 138009, 138011, 138012, 138013, 138014, 138015, 138017, 138018, 138019,
    138020, 138021, 138022, 138023, 138024, 138025,
];

impl MetaErrorCode {
    /// Maps a numeric code; unknown codes become [`MetaErrorCode::Other`].
    pub fn from_code(code: u32) -> Self {
        use MetaErrorCode::*;
        match code {
            100 => InvalidParameter,
            190 => InvalidAccessToken,
            613 => RateLimitHit,
            131009 => ParameterValueNotSupported,
            131026 => MessageUndeliverable,
            131030 => RecipientNotAllowed,
            131044 => PaymentMethodMissing,
            131055 => SipModeEnabled,
            138000 => CallingNotEnabled,
            138001 => ReceiverUncallable,
            138002 => ConcurrentCallLimit,
            138003 => DuplicateCall,
            138004 => ConnectionError,
            138005 => CallRateLimit,
            138006 => NoCallPermission,
            138007 => ConnectTimeout,
            138009 => PermissionRequestLimit,
            138011 => ConversationRestriction,
            138012 => ConnectedCallLimit,
            138013 => BicNotAvailable,
            138014 => CallingTemporarilyDisabled,
            138015 => CannotEnableCalling,
            138017 => PermanentPermissionExists,
            138018 => PrerequisitesUnmet,
            138019 => ClientCallSetupFailed,
            138020 => RelayConnectionFailed,
            138021 => MediaReceiveTimeout,
            138022 => MediaTransmitTimeout,
            138023 => NoMediaSignals,
            138024 => SipNotEnabled,
            138025 => AppHasNoSipServer,
            other => Other(other),
        }
    }

    /// The numeric code.
    pub fn code(&self) -> u32 {
        use MetaErrorCode::*;
        match self {
            InvalidParameter => 100,
            InvalidAccessToken => 190,
            RateLimitHit => 613,
            ParameterValueNotSupported => 131009,
            MessageUndeliverable => 131026,
            RecipientNotAllowed => 131030,
            PaymentMethodMissing => 131044,
            SipModeEnabled => 131055,
            CallingNotEnabled => 138000,
            ReceiverUncallable => 138001,
            ConcurrentCallLimit => 138002,
            DuplicateCall => 138003,
            ConnectionError => 138004,
            CallRateLimit => 138005,
            NoCallPermission => 138006,
            ConnectTimeout => 138007,
            PermissionRequestLimit => 138009,
            ConversationRestriction => 138011,
            ConnectedCallLimit => 138012,
            BicNotAvailable => 138013,
            CallingTemporarilyDisabled => 138014,
            CannotEnableCalling => 138015,
            PermanentPermissionExists => 138017,
            PrerequisitesUnmet => 138018,
            ClientCallSetupFailed => 138019,
            RelayConnectionFailed => 138020,
            MediaReceiveTimeout => 138021,
            MediaTransmitTimeout => 138022,
            NoMediaSignals => 138023,
            SipNotEnabled => 138024,
            AppHasNoSipServer => 138025,
            Other(code) => *code,
        }
    }

    /// The HTTP status Meta documents for this code. `None` for codes that only appear in webhooks
    /// or health status (138024/138025), for 131026 (a webhook error), for 138011 (named only in the
    /// FAQ, no status documented) and for unknown codes.
    pub fn http_status(&self) -> Option<u16> {
        use MetaErrorCode::*;
        match self {
            InvalidAccessToken | CallingNotEnabled | NoCallPermission => Some(401),
            RateLimitHit | ConcurrentCallLimit | CallRateLimit => Some(429),
            ConnectionError | ConnectTimeout => Some(500),
            SipNotEnabled
            | AppHasNoSipServer
            | MessageUndeliverable
            | ConversationRestriction
            | Other(_) => None,
            _ => Some(400),
        }
    }

    /// Whether repeating the same request later can succeed without the operator changing anything.
    /// Meta's own transient failures (138004 connection error, 138007 connect timeout) and rate
    /// limits (613, 138002, 138005) qualify; retry them with exponential backoff, and never
    /// re-send a `connect` blindly (a second call may ring the user).
    pub fn retry_safe(&self) -> bool {
        use MetaErrorCode::*;
        matches!(
            self,
            RateLimitHit | ConcurrentCallLimit | ConnectionError | CallRateLimit | ConnectTimeout
        )
    }

    /// A short explanation for operators: what happened and what to do about it.
    pub fn explain(&self) -> &'static str {
        use MetaErrorCode::*;
        match self {
            InvalidParameter => {
                "Meta refused a parameter of the request (see error_data.details; often the SDP: \
                 missing fingerprint, wrong sdp_type, or accept SDP differing from pre_accept); this \
                 is a callgate bug or an unknown/ended call id, report it with the fbtrace_id"
            }
            InvalidAccessToken => {
                "the access token is invalid or expired: generate a new system-user token with \
                 whatsapp_business_messaging and update [meta] access_token"
            }
            RateLimitHit => {
                "too many call-permission lookups (limit 100/s): slow down; callgate retries with \
                 backoff and caches permissions"
            }
            ParameterValueNotSupported => {
                "this message type (interactive voice_call) is not supported for the business's \
                 country: use a plain call permission request or a template instead"
            }
            MessageUndeliverable => {
                "the message could not be delivered (for a call permission request: the user's \
                 WhatsApp client is too old); ask the user to update WhatsApp"
            }
            RecipientNotAllowed => {
                "the recipient is not in the allowed list of this test number: add it in the Meta \
                 app dashboard or use a production number"
            }
            PaymentMethodMissing => {
                "the WhatsApp Business Account has no valid payment method: add a credit line or \
                 payment method in Business Manager"
            }
            SipModeEnabled => {
                "this number is in SIP mode: the Graph calling endpoints are disabled; disable SIP \
                 in the number's call settings or configure the number in SIP mode in callgate"
            }
            CallingNotEnabled => {
                "calling is not enabled on this number: set calling.status to ENABLED in the \
                 number's call settings (callgate can post them)"
            }
            ReceiverUncallable => {
                "the user cannot be called (not on WhatsApp, terms not accepted, or an unsupported \
                 client); nothing to retry, tell the agent"
            }
            ConcurrentCallLimit => {
                "the number has reached Meta's concurrent-call limit (1000): wait for calls to end \
                 or spread traffic over more numbers"
            }
            DuplicateCall => {
                "a call with this user is already ongoing: wait for it to end (or terminate it) \
                 before calling again"
            }
            ConnectionError => {
                "Meta reported a connection error: transient, retry with backoff; if it persists \
                 check Meta's status page"
            }
            CallRateLimit => {
                "the number's call rate limit was hit: retry later with backoff and reduce the \
                 rate of new calls"
            }
            NoCallPermission => {
                "the user has not granted call permission: send a call permission request and \
                 wait for the user to accept before calling"
            }
            ConnectTimeout => {
                "Meta timed out waiting for the SDP to be applied: check that callgate's media \
                 address is reachable and that pre_accept/accept were sent promptly"
            }
            PermissionRequestLimit => {
                "the permission-request limit for this user was reached (1 per 24 h, 2 per 7 days): \
                 wait, or get permission another way (the user calls you, or grants it from the \
                 business profile)"
            }
            ConversationRestriction => {
                "a development/testing restriction on this conversation: use a number in Live mode \
                 or open a conversation with the user first"
            }
            ConnectedCallLimit => {
                "the business-initiated connected-call limit for this user in 24 h was reached: \
                 error_data says when the next call is allowed; the permission itself is kept"
            }
            BicNotAvailable => {
                "business-initiated calling is not available for this number's country: only \
                 user-initiated calls are possible"
            }
            CallingTemporarilyDisabled => {
                "calling was temporarily disabled on this number because of low call quality or \
                 user feedback: see the restrictions in the number's settings for the expiry"
            }
            CannotEnableCalling => {
                "calling cannot be enabled: the number's messaging limit is below 2000; raise it \
                 first"
            }
            PermanentPermissionExists => {
                "the user already granted permanent call permission: no request is needed, call \
                 directly"
            }
            PrerequisitesUnmet => {
                "calling prerequisites are unmet: configure SIP, or subscribe an app to the \
                 WABA's calls webhook field"
            }
            ClientCallSetupFailed => {
                "the user's WhatsApp client failed to set up the call; nothing to fix on the \
                 gateway unless it repeats for every call"
            }
            RelayConnectionFailed => {
                "Meta's media relay could not connect: check that callgate's media ports (UDP) \
                 are reachable from the internet"
            }
            MediaReceiveTimeout => {
                "Meta received no media from callgate: check the UDP path, ICE (callgate must be \
                 controlling) and that audio flows from the PBX"
            }
            MediaTransmitTimeout => {
                "media from the user stopped arriving: check the network path and firewall for \
                 inbound UDP"
            }
            NoMediaSignals => {
                "the call was accepted but no media ever flowed: check ICE/DTLS on callgate's \
                 media leg and the firewall"
            }
            SipNotEnabled => {
                "SIP is not enabled on this phone number: enable it in the number's call settings \
                 to use SIP mode"
            }
            AppHasNoSipServer => {
                "this app has no SIP server configured: post calling.sip.servers in the number's \
                 settings"
            }
            Other(_) => {
                "an error code callgate does not know: look it up in Meta's WhatsApp error codes \
                 and report it with the fbtrace_id"
            }
        }
    }
}

impl fmt::Display for MetaErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spec 1.3 table plus 190, 131026 and 138011, with their documented HTTP status.
    const TABLE: &[(u32, Option<u16>)] = &[
        (100, Some(400)),
        (190, Some(401)),
        (613, Some(429)),
        (131009, Some(400)),
        (131026, None),
        (131030, Some(400)),
        (131044, Some(400)),
        (131055, Some(400)),
        (138000, Some(401)),
        (138001, Some(400)),
        (138002, Some(429)),
        (138003, Some(400)),
        (138004, Some(500)),
        (138005, Some(429)),
        (138006, Some(401)),
        (138007, Some(500)),
        (138009, Some(400)),
        (138011, None),
        (138012, Some(400)),
        (138013, Some(400)),
        (138014, Some(400)),
        (138015, Some(400)),
        (138017, Some(400)),
        (138018, Some(400)),
        (138019, Some(400)),
        (138020, Some(400)),
        (138021, Some(400)),
        (138022, Some(400)),
        (138023, Some(400)),
        (138024, None),
        (138025, None),
    ];

    #[test]
    fn every_table_code_maps_to_a_named_variant_and_back() {
        for &(code, _) in TABLE {
            let c = MetaErrorCode::from_code(code);
            assert!(
                !matches!(c, MetaErrorCode::Other(_)),
                "{code} mapped to Other"
            );
            assert_eq!(c.code(), code);
        }
        assert_eq!(TABLE.len(), KNOWN_CODES.len());
    }

    #[test]
    fn every_table_code_has_the_documented_http_status() {
        for &(code, status) in TABLE {
            assert_eq!(
                MetaErrorCode::from_code(code).http_status(),
                status,
                "code {code}"
            );
        }
    }

    #[test]
    fn known_codes_have_distinct_explanations() {
        let mut seen = std::collections::HashSet::new();
        for &code in KNOWN_CODES {
            let text = MetaErrorCode::from_code(code).explain();
            assert!(text.len() > 40, "{code}: explanation too short");
            assert!(seen.insert(text), "{code}: explanation shared");
        }
    }

    #[test]
    fn sip_mode_explanation_tells_the_operator_what_to_do() {
        let text = MetaErrorCode::SipModeEnabled.explain();
        assert!(text.contains("SIP mode"));
        assert!(text.contains("disable SIP"));
    }

    #[test]
    fn unknown_code_is_other_and_round_trips() {
        let c = MetaErrorCode::from_code(12455);
        assert_eq!(c, MetaErrorCode::Other(12455));
        assert_eq!(c.code(), 12455);
        assert_eq!(c.http_status(), None);
        assert!(!c.retry_safe());
    }

    #[test]
    fn only_transient_and_rate_limit_codes_are_retry_safe() {
        let safe: Vec<u32> = KNOWN_CODES
            .iter()
            .copied()
            .filter(|&c| MetaErrorCode::from_code(c).retry_safe())
            .collect();
        assert_eq!(safe, vec![613, 138002, 138004, 138005, 138007]);
    }
}
