//! Webhook authenticity: Meta's `X-Hub-Signature-256` (HMAC-SHA256 of the raw body, keyed with the
//! app secret) and the `hub.verify_token` of the subscription handshake, both compared in constant time.

use aws_lc_rs::{constant_time, hmac};

/// The header Meta signs every webhook POST with.
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";

/// Why a webhook signature was refused. Every variant means "not from Meta (or not for this app)".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The request carried no `X-Hub-Signature-256` header.
    #[error("missing X-Hub-Signature-256 header: the request was not signed by Meta")]
    Missing,
    /// The header is not `sha256=<64 hex digits>`.
    #[error("malformed X-Hub-Signature-256 header: expected sha256=<hex>")]
    Malformed,
    /// The HMAC does not match: a forged body, or `[meta] app_secret` is not this app's secret.
    #[error(
        "X-Hub-Signature-256 does not match the body: forged request, or [meta] app_secret is not the secret of the app Meta sends for"
    )]
    Mismatch,
}

/// Computes the header value Meta would send for `body`: `sha256=<lowercase hex>`.
pub fn sign(app_secret: &[u8], body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, app_secret);
    format!("sha256={}", hex::encode(hmac::sign(&key, body).as_ref()))
}

/// Verifies `header` (the value of `X-Hub-Signature-256`, if present) against the raw `body`.
pub fn verify(app_secret: &[u8], body: &[u8], header: Option<&[u8]>) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let hex_part = header
        .strip_prefix(b"sha256=")
        .ok_or(SignatureError::Malformed)?;
    let tag = hex::decode(hex_part.trim_ascii()).map_err(|_| SignatureError::Malformed)?;
    if tag.len() != 32 {
        return Err(SignatureError::Malformed);
    }
    let key = hmac::Key::new(hmac::HMAC_SHA256, app_secret);
    hmac::verify(&key, body, &tag).map_err(|_| SignatureError::Mismatch)
}

/// Constant-time comparison of the subscription `hub.verify_token` with the configured one.
pub fn verify_token_matches(configured: &str, offered: &str) -> bool {
    constant_time::verify_slices_are_equal(configured.as_bytes(), offered.as_bytes()).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"app-secret";
    const BODY: &[u8] = br#"{"object":"whatsapp_business_account","entry":[]}"#;

    #[test]
    fn signature_made_by_sign_verifies() {
        let h = sign(SECRET, BODY);
        assert_eq!(verify(SECRET, BODY, Some(h.as_bytes())), Ok(()));
    }

    #[test]
    fn known_vector_matches_hmac_sha256() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn missing_signature_is_refused() {
        assert_eq!(verify(SECRET, BODY, None), Err(SignatureError::Missing));
    }

    #[test]
    fn wrong_secret_is_refused() {
        let h = sign(b"other-secret", BODY);
        assert_eq!(
            verify(SECRET, BODY, Some(h.as_bytes())),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn body_changed_by_one_byte_is_refused() {
        let h = sign(SECRET, BODY);
        let mut body = BODY.to_vec();
        body[10] ^= 1;
        assert_eq!(
            verify(SECRET, &body, Some(h.as_bytes())),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn header_without_prefix_or_bad_hex_is_malformed() {
        assert_eq!(
            verify(SECRET, BODY, Some(b"abcdef")),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(SECRET, BODY, Some(b"sha256=zz")),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(SECRET, BODY, Some(b"sha256=abcd")),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn verify_token_compares_whole_value() {
        assert!(verify_token_matches("tok", "tok"));
        assert!(!verify_token_matches("tok", "to"));
        assert!(!verify_token_matches("tok", "tok2"));
        assert!(!verify_token_matches("tok", ""));
    }
}
