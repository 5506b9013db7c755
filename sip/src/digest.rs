//! HTTP digest authentication for SIP (RFC 3261 22, RFC 2617, RFC 7616, RFC 8760): challenge
//! parsing, response computation (MD5, SHA-256 and their -sess forms; qop=auth or none), the
//! client side ([`DigestClient`]: answers 401/407, detects a rejected password) and the server
//! side ([`DigestServer`](crate::digest_server::DigestServer), in `digest_server.rs`).

use md5::Md5;
use rand::Rng;
use rsip::headers::Header;
use rsip::{Request, Response};
use sha2::{Digest, Sha256};

use crate::message::{self, raw_header};

/// Digest failures, client or server side.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DigestError {
    /// The header is not a Digest challenge/credential or misses a required parameter.
    #[error("malformed Digest header: {0}")]
    Malformed(String),
    /// The peer asks for an algorithm or qop we do not implement.
    #[error("unsupported Digest {0}; configure the peer for MD5 or SHA-256 with qop=auth")]
    Unsupported(String),
    /// The 401/407 carried no challenge we can answer.
    #[error("SIP {0} response carries no Digest challenge we can answer")]
    NoChallenge(u16),
    /// We already answered this realm's challenge and were challenged again (not stale):
    /// the username or password is wrong.
    #[error(
        "SIP credentials for realm {realm:?} were rejected; check the SIP username and password (for Meta: the business number without + and the sip_user_password from the settings API)"
    )]
    WrongCredentials {
        /// Realm that refused us.
        realm: String,
    },
}

/// Digest algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Algorithm {
    /// MD5 (RFC 2617; what Meta uses).
    Md5,
    /// MD5-sess.
    Md5Sess,
    /// SHA-256 (RFC 7616 / RFC 8760).
    Sha256,
    /// SHA-256-sess.
    Sha256Sess,
}

impl Algorithm {
    /// Parses the `algorithm` parameter (absent means MD5).
    pub fn parse(s: &str) -> Result<Self, DigestError> {
        Ok(match s.to_ascii_uppercase().as_str() {
            "MD5" => Self::Md5,
            "MD5-SESS" => Self::Md5Sess,
            "SHA-256" => Self::Sha256,
            "SHA-256-SESS" => Self::Sha256Sess,
            other => return Err(DigestError::Unsupported(format!("algorithm {other}"))),
        })
    }

    /// The token on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Md5 => "MD5",
            Self::Md5Sess => "MD5-sess",
            Self::Sha256 => "SHA-256",
            Self::Sha256Sess => "SHA-256-sess",
        }
    }

    fn strength(self) -> u8 {
        match self {
            Self::Md5 | Self::Md5Sess => 1,
            Self::Sha256 | Self::Sha256Sess => 2,
        }
    }

    fn hash(self, data: &str) -> String {
        match self {
            Self::Md5 | Self::Md5Sess => hex::encode(Md5::digest(data.as_bytes())),
            Self::Sha256 | Self::Sha256Sess => hex::encode(Sha256::digest(data.as_bytes())),
        }
    }

    fn is_sess(self) -> bool {
        matches!(self, Self::Md5Sess | Self::Sha256Sess)
    }
}

/// Splits `Digest k=v, k="v"` into lower-cased names and unquoted values.
pub fn parse_params(value: &str) -> Result<Vec<(String, String)>, DigestError> {
    let v = value.trim();
    let rest = match v.split_once(|c: char| c.is_whitespace()) {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("Digest") => rest,
        _ => return Err(DigestError::Malformed("scheme is not Digest".into())),
    };
    let mut out = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let name: String = chars.by_ref().take_while(|c| *c != '=').collect();
        let name = name.trim().to_ascii_lowercase();
        if name.is_empty() || name.contains([' ', ',']) {
            return Err(DigestError::Malformed(format!(
                "bad parameter near {name:?}"
            )));
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut val = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            let mut closed = false;
            while let Some(c) = chars.next() {
                match c {
                    '\\' => val.extend(chars.next()),
                    '"' => {
                        closed = true;
                        break;
                    }
                    c => val.push(c),
                }
            }
            if !closed {
                return Err(DigestError::Malformed(format!(
                    "unterminated quote in {name}"
                )));
            }
        } else {
            while let Some(c) = chars.peek().copied() {
                if c == ',' {
                    break;
                }
                val.push(c);
                chars.next();
            }
            val = val.trim().to_string();
        }
        out.push((name, val));
    }
    Ok(out)
}

fn get<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// A parsed `WWW-Authenticate` / `Proxy-Authenticate` Digest challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// Realm.
    pub realm: String,
    /// Server nonce.
    pub nonce: String,
    /// Opaque value to echo.
    pub opaque: Option<String>,
    /// Algorithm.
    pub algorithm: Algorithm,
    /// Offered qop values (empty: RFC 2069 style).
    pub qop: Vec<String>,
    /// The previous nonce expired but the credentials were right.
    pub stale: bool,
}

impl Challenge {
    /// Parses a challenge header value.
    pub fn parse(value: &str) -> Result<Self, DigestError> {
        let p = parse_params(value)?;
        let req = |n: &str| {
            get(&p, n)
                .map(str::to_string)
                .ok_or_else(|| DigestError::Malformed(format!("missing {n}")))
        };
        Ok(Self {
            realm: req("realm")?,
            nonce: req("nonce")?,
            opaque: get(&p, "opaque").map(str::to_string),
            algorithm: get(&p, "algorithm")
                .map(Algorithm::parse)
                .transpose()?
                .unwrap_or(Algorithm::Md5),
            qop: get(&p, "qop")
                .map(|q| {
                    q.split(',')
                        .map(|s| s.trim().to_ascii_lowercase())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            stale: get(&p, "stale").is_some_and(|s| s.eq_ignore_ascii_case("true")),
        })
    }
}

/// Inputs of one digest computation.
#[derive(Debug, Clone, Copy)]
pub struct DigestInput<'a> {
    /// Algorithm.
    pub algorithm: Algorithm,
    /// Username.
    pub username: &'a str,
    /// Realm.
    pub realm: &'a str,
    /// Password.
    pub password: &'a str,
    /// Request method.
    pub method: &'a str,
    /// Digest URI (the Request-URI as sent).
    pub uri: &'a str,
    /// Server nonce.
    pub nonce: &'a str,
    /// `Some((nc, cnonce))` for qop=auth, `None` for no qop.
    pub qop_auth: Option<(&'a str, &'a str)>,
}

/// The `response` value (RFC 2617 3.2.2.1, RFC 7616 3.4.1).
pub fn compute_response(i: &DigestInput<'_>) -> String {
    let a = i.algorithm;
    let mut ha1 = a.hash(&format!("{}:{}:{}", i.username, i.realm, i.password));
    if a.is_sess() {
        let cnonce = i.qop_auth.map(|q| q.1).unwrap_or("");
        ha1 = a.hash(&format!("{ha1}:{}:{cnonce}", i.nonce));
    }
    let ha2 = a.hash(&format!("{}:{}", i.method, i.uri));
    match i.qop_auth {
        Some((nc, cnonce)) => a.hash(&format!("{ha1}:{}:{nc}:{cnonce}:auth:{ha2}", i.nonce)),
        None => a.hash(&format!("{ha1}:{}:{ha2}", i.nonce)),
    }
}

/// Constant-time byte comparison (length is not secret).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Username and password for one peer.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Username (for Meta: the business number without +).
    pub username: String,
    /// Password (never logged: `Debug` hides it).
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Client side: answers challenges for one outgoing request chain (e.g. one INVITE and its
/// authenticated retry), counting nonce uses and noticing a rejected password.
#[derive(Debug, Clone)]
pub struct DigestClient {
    creds: Credentials,
    answered: Vec<(String, String, u32)>, // (realm, nonce, nc)
}

impl DigestClient {
    /// A client with these credentials.
    pub fn new(creds: Credentials) -> Self {
        Self {
            creds,
            answered: Vec::new(),
        }
    }

    /// Adds `Authorization` (for 401) or `Proxy-Authorization` (for 407) to `request`
    /// answering `response`, bumps its CSeq and gives it a fresh Via branch (RFC 3261 22.2).
    pub fn authorize(
        &mut self,
        request: &mut Request,
        response: &Response,
    ) -> Result<(), DigestError> {
        let cnonce: String = {
            let mut rng = rand::rng();
            (0..16)
                .map(|_| format!("{:02x}", rng.random::<u8>()))
                .collect()
        };
        self.authorize_with_cnonce(request, response, &cnonce)?;
        bump_for_retry(request);
        Ok(())
    }

    /// As [`Self::authorize`] with a given cnonce and without touching CSeq/Via (for tests
    /// and for callers that manage those themselves).
    pub fn authorize_with_cnonce(
        &mut self,
        request: &mut Request,
        response: &Response,
        cnonce: &str,
    ) -> Result<(), DigestError> {
        let code = response.status_code.code();
        let (challenge_name, answer_name) = match code {
            401 => ("WWW-Authenticate", "Authorization"),
            407 => ("Proxy-Authenticate", "Proxy-Authorization"),
            _ => return Err(DigestError::NoChallenge(code)),
        };
        let challenge = response
            .headers
            .iter()
            .map(message::header_name_value)
            .filter(|(n, _)| n.eq_ignore_ascii_case(challenge_name))
            .filter_map(|(_, v)| Challenge::parse(&v).ok())
            .filter(|c| c.qop.is_empty() || c.qop.iter().any(|q| q == "auth"))
            .max_by_key(|c| c.algorithm.strength())
            .ok_or(DigestError::NoChallenge(code))?;
        if !challenge.stale && self.answered.iter().any(|(r, _, _)| *r == challenge.realm) {
            return Err(DigestError::WrongCredentials {
                realm: challenge.realm,
            });
        }
        let nc = match self
            .answered
            .iter_mut()
            .find(|(r, n, _)| *r == challenge.realm && *n == challenge.nonce)
        {
            Some(e) => {
                e.2 += 1;
                e.2
            }
            None => {
                self.answered.retain(|(r, _, _)| *r != challenge.realm);
                self.answered
                    .push((challenge.realm.clone(), challenge.nonce.clone(), 1));
                1
            }
        };
        let value = self.credentials_value(
            &challenge,
            &request.method.to_string(),
            &request.uri.to_string(),
            nc,
            cnonce,
        );
        request.headers.retain(|h| {
            let (n, v) = message::header_name_value(h);
            !(n.eq_ignore_ascii_case(answer_name)
                && parse_params(&v)
                    .is_ok_and(|p| get(&p, "realm") == Some(challenge.realm.as_str())))
        });
        request.headers.push(raw_header(answer_name, value));
        Ok(())
    }

    fn credentials_value(
        &self,
        c: &Challenge,
        method: &str,
        uri: &str,
        nc: u32,
        cnonce: &str,
    ) -> String {
        let nc_s = format!("{nc:08x}");
        let qop = !c.qop.is_empty();
        let response = compute_response(&DigestInput {
            algorithm: c.algorithm,
            username: &self.creds.username,
            realm: &c.realm,
            password: &self.creds.password,
            method,
            uri,
            nonce: &c.nonce,
            qop_auth: qop.then_some((nc_s.as_str(), cnonce)),
        });
        let mut v = format!(
            "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", response=\"{}\", algorithm={}",
            self.creds.username,
            c.realm,
            c.nonce,
            uri,
            response,
            c.algorithm.as_str()
        );
        if qop {
            v.push_str(&format!(", cnonce=\"{cnonce}\", qop=auth, nc={nc_s}"));
        }
        if let Some(o) = &c.opaque {
            v.push_str(&format!(", opaque=\"{o}\""));
        }
        v
    }
}

/// A re-sent request needs a new CSeq number and a new transaction (branch).
fn bump_for_retry(request: &mut Request) {
    if let Ok((num, method)) = message::cseq(request) {
        request.headers.retain(|h| !matches!(h, Header::CSeq(_)));
        request
            .headers
            .push(raw_header("CSeq", format!("{} {method}", num + 1)));
    }
    let mut replaced = false;
    for h in request.headers.iter_mut() {
        if let Header::Via(v) = h
            && !replaced
        {
            replaced = true;
            let mut vias = message::split_list(rsip::headers::UntypedHeader::value(v));
            if let Some(first) = vias.first_mut() {
                let kept: Vec<&str> = first
                    .split(';')
                    .filter(|p| !p.trim().to_ascii_lowercase().starts_with("branch="))
                    .collect();
                *first = format!("{};branch={}", kept.join(";"), message::new_branch());
            }
            *h = raw_header("Via", vias.join(", "));
        }
    }
}

#[cfg(test)]
#[path = "digest_tests.rs"]
mod tests;
