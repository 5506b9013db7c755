//! Digest vectors (RFC 2617 3.5, RFC 7616 3.9.1), Meta's 407, client/server round trips.

use std::time::{Duration, Instant};

use super::*;
use crate::digest_server::{DigestServer, Verdict};
use crate::message::tests::fixture;
use crate::message::{self, parse_message};
use rsip::SipMessage;

#[test]
fn rfc2617_section_3_5_example_vector() {
    let r = compute_response(&DigestInput {
        algorithm: Algorithm::Md5,
        username: "Mufasa",
        realm: "testrealm@host.com",
        password: "Circle Of Life",
        method: "GET",
        uri: "/dir/index.html",
        nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
        qop_auth: Some(("00000001", "0a4f113b")),
    });
    assert_eq!(r, "6629fae49393a05397450978507c4ef1");
}

fn rfc7616(algorithm: Algorithm) -> String {
    compute_response(&DigestInput {
        algorithm,
        username: "Mufasa",
        realm: "http-auth@example.org",
        password: "Circle of Life",
        method: "GET",
        uri: "/dir/index.html",
        nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
        qop_auth: Some(("00000001", "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ")),
    })
}

#[test]
fn rfc7616_section_3_9_1_md5_and_sha256_vectors() {
    assert_eq!(rfc7616(Algorithm::Md5), "8ca523f5e9506fed4657c9700eebdbec");
    assert_eq!(
        rfc7616(Algorithm::Sha256),
        "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
    );
}

fn request(m: SipMessage) -> Request {
    match m {
        SipMessage::Request(r) => r,
        _ => panic!(),
    }
}

fn response(m: SipMessage) -> Response {
    match m {
        SipMessage::Response(r) => r,
        _ => panic!(),
    }
}

fn creds() -> Credentials {
    Credentials {
        username: "17125550259".into(),
        password: "s3cret".into(),
    }
}

#[test]
fn answers_metas_407_with_proxy_authorization_md5_qop_auth_and_opaque() {
    let challenge = response(fixture("meta-sip-bic-407.sip"));
    let mut invite = request(fixture("partner-sip-bic-invite-initial.sip"));
    let mut client = DigestClient::new(creds());
    client
        .authorize_with_cnonce(&mut invite, &challenge, "abcdef0123456789")
        .unwrap();
    let value = message::header_value(&invite, "Proxy-Authorization").unwrap();
    let p = parse_params(&value).unwrap();
    let get = |n: &str| {
        p.iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    assert_eq!(get("username"), "17125550259");
    assert_eq!(get("realm"), "wa.meta.vc");
    assert_eq!(get("nonce"), "419ac2415577f8e1");
    assert_eq!(get("opaque"), "440badfc05072367");
    assert_eq!(get("algorithm"), "MD5");
    assert_eq!(get("qop"), "auth");
    assert_eq!(get("nc"), "00000001");
    assert_eq!(get("cnonce"), "abcdef0123456789");
    // Recompute independently from RFC 2617's formula.
    let md5 = |s: String| hex::encode(Md5::digest(s.as_bytes()));
    let ha1 = md5("17125550259:wa.meta.vc:s3cret".to_string());
    let ha2 = md5(format!("INVITE:{}", get("uri")));
    let expected = md5(format!(
        "{ha1}:419ac2415577f8e1:00000001:abcdef0123456789:auth:{ha2}"
    ));
    assert_eq!(get("response"), expected);
    assert_eq!(get("uri"), invite.uri.to_string());
}

#[test]
fn second_challenge_after_answer_means_wrong_credentials() {
    let challenge = response(fixture("meta-sip-bic-407.sip"));
    let mut invite = request(fixture("partner-sip-bic-invite-initial.sip"));
    let mut client = DigestClient::new(creds());
    client.authorize(&mut invite, &challenge).unwrap();
    assert_eq!(
        client.authorize(&mut invite, &challenge),
        Err(DigestError::WrongCredentials {
            realm: "wa.meta.vc".into()
        })
    );
}

#[test]
fn authorize_bumps_cseq_and_branch_for_the_retry() {
    let challenge = response(fixture("meta-sip-bic-407.sip"));
    let mut invite = request(fixture("partner-sip-bic-invite-initial.sip"));
    let before = message::via_branch(&invite);
    DigestClient::new(creds())
        .authorize(&mut invite, &challenge)
        .unwrap();
    assert_eq!(message::cseq(&invite).unwrap().0, 96743477);
    assert_ne!(message::via_branch(&invite), before);
    assert_eq!(
        message::header_list(&invite, "Via").len(),
        2,
        "lower Vias kept"
    );
}

#[test]
fn stale_challenge_is_answered_again_with_new_nonce() {
    let (t0, mut server) = (
        Instant::now(),
        DigestServer::new("gw.example", Algorithm::Md5, Duration::from_secs(30)),
    );
    let mut invite = request(fixture("partner-sip-bic-invite-initial.sip"));
    let mut client = DigestClient::new(creds());
    let c1 = server.challenge_response(t0, &invite, false, false);
    client.authorize(&mut invite, &c1).unwrap();
    let c2 = server.challenge_response(t0, &invite, false, true);
    assert!(
        client.authorize(&mut invite, &c2).is_ok(),
        "stale=true is not a password failure"
    );
}

#[test]
fn sha256_is_preferred_when_offered_beside_md5() {
    let invite = request(fixture("partner-sip-bic-invite-initial.sip"));
    let mut resp = message::response_to(&invite, 401, None, Some("x"));
    resp.headers.push(message::raw_header(
        "WWW-Authenticate",
        "Digest realm=\"r\", nonce=\"n1\", algorithm=MD5, qop=\"auth\"",
    ));
    resp.headers.push(message::raw_header(
        "WWW-Authenticate",
        "Digest realm=\"r\", nonce=\"n2\", algorithm=SHA-256, qop=\"auth\"",
    ));
    let mut req = invite.clone();
    DigestClient::new(creds())
        .authorize_with_cnonce(&mut req, &resp, "c")
        .unwrap();
    let v = message::header_value(&req, "Authorization").unwrap();
    assert!(
        v.contains("algorithm=SHA-256") && v.contains("nonce=\"n2\""),
        "{v}"
    );
}

#[test]
fn server_accepts_client_answer_and_refuses_wrong_password_replay_and_expiry() {
    for algorithm in [Algorithm::Md5, Algorithm::Sha256] {
        let t0 = Instant::now();
        let mut server = DigestServer::new("gw.example", algorithm, Duration::from_secs(30));
        let invite = request(fixture("meta-sip-uic-invite-digest-1.sip"));
        let challenge = server.challenge_response(t0, &invite, true, false);
        assert_eq!(challenge.status_code.code(), 407);
        let pw = |u: &str| (u == "12145551869").then(|| "pw".to_string());
        assert_eq!(
            server.verify_request(t0, &invite, true, pw),
            Verdict::Missing
        );

        let mut good = invite.clone();
        DigestClient::new(Credentials {
            username: "12145551869".into(),
            password: "pw".into(),
        })
        .authorize_with_cnonce(&mut good, &challenge, "cn")
        .unwrap();
        assert_eq!(
            server.verify_request(t0 + Duration::from_secs(1), &good, true, pw),
            Verdict::Authorized {
                username: "12145551869".into()
            }
        );
        // The same nc again is a replay.
        assert!(matches!(
            server.verify_request(t0, &good, true, pw),
            Verdict::Rejected(_)
        ));

        let mut bad = invite.clone();
        DigestClient::new(Credentials {
            username: "12145551869".into(),
            password: "nope".into(),
        })
        .authorize_with_cnonce(&mut bad, &challenge, "cn")
        .unwrap();
        assert!(matches!(
            server.verify_request(t0, &bad, true, pw),
            Verdict::Rejected(DigestError::WrongCredentials { .. })
        ));

        // A fresh nonce used after its lifetime is stale.
        let challenge = server.challenge_response(t0, &invite, true, false);
        let mut late = invite.clone();
        DigestClient::new(Credentials {
            username: "12145551869".into(),
            password: "pw".into(),
        })
        .authorize_with_cnonce(&mut late, &challenge, "cn")
        .unwrap();
        assert_eq!(
            server.verify_request(t0 + Duration::from_secs(31), &late, true, pw),
            Verdict::Stale
        );
    }
}

#[test]
fn metas_own_proxy_authorization_sample_parses() {
    let invite = request(fixture("meta-sip-uic-invite-digest-2-auth.sip"));
    let v = message::header_value(&invite, "Proxy-Authorization").unwrap();
    let p = parse_params(&v).unwrap();
    assert!(p.contains(&("username".into(), "12145551869".into())));
    assert!(p.contains(&("qop".into(), "auth".into())));
    assert!(p.contains(&("nc".into(), "00000001".into())));
    // Unknown nonce with a wrong digest is rejected, not stale.
    let mut server = DigestServer::new("sip.twilio.com", Algorithm::Md5, Duration::from_secs(30));
    assert!(matches!(
        server.verify_request(Instant::now(), &invite, true, |_| Some("x".into())),
        Verdict::Rejected(_)
    ));
}

#[test]
fn malformed_challenges_are_errors_not_panics() {
    for v in [
        "Basic realm=\"x\"",
        "Digest",
        "Digest realm=\"unterminated",
        "Digest nonce=1",
        "Digest realm=a, nonce=b, algorithm=SHA-512-256",
        "Digest ,,,=,",
    ] {
        assert!(Challenge::parse(v).is_err(), "{v}");
    }
    let c = Challenge::parse("Digest realm=\"wa.meta.vc\",nonce=\"419ac2415577f8e1\",opaque=\"440badfc05072367\",algorithm=MD5,qop=\"auth\"").unwrap();
    assert_eq!(
        (c.algorithm, c.qop, c.opaque.as_deref()),
        (
            Algorithm::Md5,
            vec!["auth".to_string()],
            Some("440badfc05072367")
        )
    );
    let _ = parse_message(b"x");
}

#[test]
fn constant_time_eq_compares_content_and_length() {
    assert!(constant_time_eq(b"abc", b"abc"));
    assert!(!constant_time_eq(b"abc", b"abd"));
    assert!(!constant_time_eq(b"abc", b"ab"));
}

#[test]
fn credentials_debug_hides_the_password() {
    assert!(!format!("{:?}", creds()).contains("s3cret"));
}
