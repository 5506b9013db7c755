//! Digest authentication, server side: issue challenges with fresh nonces, verify answers in
//! constant time, expire nonces (answered with `stale=true`) and refuse replayed nonce counts.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rand::Rng;
use rsip::{Request, Response};

use crate::digest::{
    Algorithm, DigestError, DigestInput, compute_response, constant_time_eq, parse_params,
};
use crate::message::{self, raw_header};

/// Result of checking a request's credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// Credentials are valid for this user.
    Authorized {
        /// The authenticated username.
        username: String,
    },
    /// The digest is right but the nonce expired or is unknown: challenge again with
    /// `stale=true` so the client retries without asking its user.
    Stale,
    /// No usable credentials: challenge (first request) or refuse.
    Missing,
    /// Wrong password, unknown user, replayed nonce count or foreign realm: answer 403 or
    /// challenge again.
    Rejected(DigestError),
}

#[derive(Debug, Clone)]
struct NonceState {
    issued: Instant,
    last_nc: u32,
}

/// Issues and checks Digest challenges for one realm.
#[derive(Debug)]
pub struct DigestServer {
    realm: String,
    algorithm: Algorithm,
    nonce_ttl: Duration,
    opaque: String,
    nonces: HashMap<String, NonceState>,
}

fn random_hex(bytes: usize) -> String {
    let mut rng = rand::rng();
    (0..bytes)
        .map(|_| format!("{:02x}", rng.random::<u8>()))
        .collect()
}

impl DigestServer {
    /// A server for `realm` using `algorithm`; nonces live for `nonce_ttl`.
    pub fn new(realm: &str, algorithm: Algorithm, nonce_ttl: Duration) -> Self {
        Self {
            realm: realm.to_string(),
            algorithm,
            nonce_ttl,
            opaque: random_hex(8),
            nonces: HashMap::new(),
        }
    }

    /// A fresh challenge header value (`Digest realm=..., nonce=..., qop="auth"`).
    pub fn challenge(&mut self, now: Instant, stale: bool) -> String {
        let ttl = self.nonce_ttl;
        self.nonces
            .retain(|_, s| now.saturating_duration_since(s.issued) < ttl);
        let nonce = random_hex(16);
        self.nonces.insert(
            nonce.clone(),
            NonceState {
                issued: now,
                last_nc: 0,
            },
        );
        format!(
            "Digest realm=\"{}\", nonce=\"{nonce}\", opaque=\"{}\", algorithm={}, qop=\"auth\"{}",
            self.realm,
            self.opaque,
            self.algorithm.as_str(),
            if stale { ", stale=true" } else { "" }
        )
    }

    /// A 401 (or 407 when `proxy`) carrying a fresh challenge, in answer to `request`.
    pub fn challenge_response(
        &mut self,
        now: Instant,
        request: &Request,
        proxy: bool,
        stale: bool,
    ) -> Response {
        let (code, name) = if proxy {
            (407, "Proxy-Authenticate")
        } else {
            (401, "WWW-Authenticate")
        };
        let mut resp = message::response_to(request, code, None, Some(&message::new_tag()));
        resp.headers
            .push(raw_header(name, self.challenge(now, stale)));
        resp
    }

    /// Checks the `Authorization` (or `Proxy-Authorization` when `proxy`) of `request`;
    /// `password_for(username)` returns the user's password.
    pub fn verify_request(
        &mut self,
        now: Instant,
        request: &Request,
        proxy: bool,
        password_for: impl Fn(&str) -> Option<String>,
    ) -> Verdict {
        let name = if proxy {
            "Proxy-Authorization"
        } else {
            "Authorization"
        };
        let realm = self.realm.clone();
        let header = request
            .headers
            .iter()
            .map(message::header_name_value)
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
            .find(|v| {
                parse_params(v).is_ok_and(|p| p.iter().any(|(n, v)| n == "realm" && *v == realm))
            });
        match header {
            Some(h) => self.verify(now, &request.method.to_string(), &h, password_for),
            None => Verdict::Missing,
        }
    }

    /// Checks one credentials header value for `method`.
    pub fn verify(
        &mut self,
        now: Instant,
        method: &str,
        value: &str,
        password_for: impl Fn(&str) -> Option<String>,
    ) -> Verdict {
        let params = match parse_params(value) {
            Ok(p) => p,
            Err(e) => return Verdict::Rejected(e),
        };
        let get = |n: &str| params.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
        let (Some(username), Some(realm), Some(nonce), Some(uri), Some(response)) = (
            get("username"),
            get("realm"),
            get("nonce"),
            get("uri"),
            get("response"),
        ) else {
            return Verdict::Rejected(DigestError::Malformed(
                "credentials lack a required parameter".into(),
            ));
        };
        if realm != self.realm {
            return Verdict::Rejected(DigestError::Malformed(format!(
                "realm {realm:?} is not ours"
            )));
        }
        let algorithm = match get("algorithm").map(Algorithm::parse).transpose() {
            Ok(a) => a.unwrap_or(Algorithm::Md5),
            Err(e) => return Verdict::Rejected(e),
        };
        let qop = get("qop");
        if qop.is_some_and(|q| !q.eq_ignore_ascii_case("auth")) {
            return Verdict::Rejected(DigestError::Unsupported(format!(
                "qop {}",
                qop.unwrap_or("")
            )));
        }
        let nc_cnonce = match (qop, get("nc"), get("cnonce")) {
            (Some(_), Some(nc), Some(cn)) => Some((nc, cn)),
            (Some(_), _, _) => {
                return Verdict::Rejected(DigestError::Malformed(
                    "qop=auth without nc/cnonce".into(),
                ));
            }
            (None, _, _) => None,
        };
        let Some(password) = password_for(username) else {
            return Verdict::Rejected(DigestError::WrongCredentials {
                realm: realm.to_string(),
            });
        };
        let expected = compute_response(&DigestInput {
            algorithm,
            username,
            realm,
            password: &password,
            method,
            uri,
            nonce,
            qop_auth: nc_cnonce,
        });
        if !constant_time_eq(
            expected.as_bytes(),
            response.to_ascii_lowercase().as_bytes(),
        ) {
            return Verdict::Rejected(DigestError::WrongCredentials {
                realm: realm.to_string(),
            });
        }
        let ttl = self.nonce_ttl;
        let Some(state) = self.nonces.get_mut(nonce) else {
            return Verdict::Stale;
        };
        if now.saturating_duration_since(state.issued) >= ttl {
            self.nonces.remove(nonce);
            return Verdict::Stale;
        }
        if let Some((nc, _)) = nc_cnonce {
            let Ok(n) = u32::from_str_radix(nc, 16) else {
                return Verdict::Rejected(DigestError::Malformed(format!("nc {nc:?} is not hex")));
            };
            if n <= state.last_nc {
                return Verdict::Rejected(DigestError::Malformed(format!(
                    "nonce count {nc} replayed"
                )));
            }
            state.last_nc = n;
        }
        Verdict::Authorized {
            username: username.to_string(),
        }
    }
}
