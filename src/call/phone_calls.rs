//! Calls SIP phones place through callgate: an INVITE whose Request-URI user is a WhatsApp
//! number (E.164, with or without `+`) becomes a business-initiated call. Before anything
//! reaches Meta the INVITE must come from an allowed network and, when credentials are set,
//! pass digest authentication (401 challenge, MD5, qop=auth); every refusal says why in
//! `Reason`/`Warning` headers. An accepted INVITE gets its leg ([`InboundLeg`], 100 Trying), an
//! RTP port and a call task; the call's permission check and Meta's answers decide the rest.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use callgate_sip::digest::Algorithm;
use callgate_sip::digest_server::{DigestServer, Verdict};
use callgate_sip::message::{self, raw_header};
use callgate_sip::rsip::Method;
use tokio::sync::mpsc;

use super::legs::{LegsEnv, PhoneLeg};
use super::{BicOrigin, BusinessCallParams, Registry};
use crate::config::{Config, Secret};
use crate::pbx::{InboundLeg, NewCall, PbxMedia};

/// The header a PBX sets to choose which business number calls the user (the display number,
/// with or without `+`, or Meta's phone number id); absent: `[sip_phones] from_number`.
pub const BUSINESS_NUMBER_HEADER: &str = "X-WA-Business-Number";

/// How long a digest nonce stays valid.
const NONCE_TTL: Duration = Duration::from_secs(300);
/// INVITE Call-IDs remembered to ignore retransmissions that arrive before the call registered.
const RECENT: usize = 256;

/// Who may place calls, and from which business number.
pub struct PhoneCallsConfig {
    /// Allowed source networks (empty: any).
    pub allow: Vec<ipnet::IpNet>,
    /// Digest credentials (user, password), if required.
    pub credentials: Option<(String, Secret)>,
    /// Digest realm.
    pub realm: String,
    /// The business number calls go out from unless the INVITE names another in
    /// [`BUSINESS_NUMBER_HEADER`]: (phone number id, display number).
    pub from: (String, String),
    /// Every configured business number: (phone number id, display number).
    pub numbers: Vec<(String, String)>,
    /// Concurrent calls at most (further INVITEs get 503).
    pub max_calls: usize,
}

impl PhoneCallsConfig {
    /// From `[sip_phones]` and `[[numbers]]` (validated already).
    pub fn from_config(cfg: &Config) -> Option<Self> {
        let p = &cfg.sip_phones;
        let from = match &p.from_number {
            Some(f) => {
                let f = f.trim_start_matches('+');
                cfg.numbers.iter().find(|n| {
                    n.phone_number_id == f || n.display_phone_number.trim_start_matches('+') == f
                })
            }
            None => cfg.numbers.first(),
        }?;
        Some(Self {
            allow: p
                .allow
                .iter()
                .filter_map(|n| crate::config::parse_net(n))
                .collect(),
            credentials: p.username.clone().zip(p.password.clone()),
            realm: p.realm.clone(),
            from: (
                from.phone_number_id.clone(),
                from.display_phone_number.clone(),
            ),
            numbers: cfg
                .numbers
                .iter()
                .map(|n| (n.phone_number_id.clone(), n.display_phone_number.clone()))
                .collect(),
            max_calls: cfg.calls.max_concurrent,
        })
    }
}

/// Takes phones' INVITEs until the transport stops.
pub async fn serve(
    mut new_calls: mpsc::Receiver<NewCall>,
    cfg: PhoneCallsConfig,
    env: Arc<LegsEnv>,
    registry: Registry,
) {
    let mut digest = DigestServer::new(&cfg.realm, Algorithm::Md5, NONCE_TTL);
    let mut recent: VecDeque<String> = VecDeque::new();
    while let Some(call) = new_calls.recv().await {
        let Ok(call_id) = message::call_id(&call.request) else {
            let _ = call.reject(400).await;
            continue;
        };
        if call.request.method != Method::Invite {
            let _ = call.reject(481).await;
            continue;
        }
        if recent.contains(&call_id) {
            continue; // a retransmission of an INVITE being taken
        }
        let taken = take(&call, &cfg, &mut digest, &env, &registry).await;
        if taken {
            recent.push_back(call_id);
            if recent.len() > RECENT {
                recent.pop_front();
            }
        }
    }
}

/// Refuses statelessly with headers saying why.
async fn refuse(call: &NewCall, status: u16, why: &str, retry_after: Option<u64>) {
    tracing::info!(status, why, from = %call.from.addr, "phone's call refused");
    let mut resp = message::response_to(&call.request, status, None, Some(&message::new_tag()));
    let text = why.replace(['"', '\r', '\n'], "'");
    resp.headers.push(raw_header(
        "Reason",
        format!("SIP ;cause={status} ;text=\"{text}\""),
    ));
    resp.headers
        .push(raw_header("Warning", format!("399 callgate \"{text}\"")));
    if let Some(s) = retry_after {
        resp.headers.push(raw_header("Retry-After", s.to_string()));
    }
    let _ = call.respond(resp).await;
}

/// Checks one INVITE and starts its call; true when a call was started.
async fn take(
    call: &NewCall,
    cfg: &PhoneCallsConfig,
    digest: &mut DigestServer,
    env: &Arc<LegsEnv>,
    registry: &Registry,
) -> bool {
    let ip = call.from.addr.ip();
    if !cfg.allow.is_empty() && !cfg.allow.iter().any(|n| n.contains(&ip)) {
        refuse(
            call,
            403,
            &format!("source address {ip} is not in [sip_phones] allow"),
            None,
        )
        .await;
        return false;
    }
    if let Some((user, password)) = &cfg.credentials {
        let now = Instant::now();
        let verdict = digest.verify_request(now, &call.request, false, |u| {
            (u == user).then(|| password.expose().to_string())
        });
        match verdict {
            Verdict::Authorized { .. } => {}
            Verdict::Missing | Verdict::Stale => {
                let stale = matches!(verdict, Verdict::Stale);
                let resp = digest.challenge_response(now, &call.request, false, stale);
                let _ = call.respond(resp).await;
                return false;
            }
            _ => {
                refuse(call, 403, "wrong SIP user name or password", None).await;
                return false;
            }
        }
    }
    let Some(to) = wa_user(&call.request) else {
        refuse(
            call,
            404,
            "the Request-URI user is not a WhatsApp number in international form",
            None,
        )
        .await;
        return false;
    };
    let from = match business_number(&call.request, cfg) {
        Ok(f) => f,
        Err(why) => {
            refuse(call, 404, &why, None).await;
            return false;
        }
    };
    if registry.active_calls() >= cfg.max_calls {
        refuse(
            call,
            503,
            &format!("callgate carries its maximum of {} calls", cfg.max_calls),
            Some(30),
        )
        .await;
        return false;
    }
    let rtp = match env.ports.bind_pair().await {
        Ok(s) => s,
        Err(e) => {
            refuse(call, 503, &e.to_string(), Some(30)).await;
            return false;
        }
    };
    let port = rtp.rtp.local_addr().map(|a| a.port()).unwrap_or_default();
    let media = PbxMedia::new(env.public_ip, port, &env.codecs);
    let (leg, out) = match InboundLeg::from_invite(
        Instant::now(),
        call.request.clone(),
        call.from,
        media,
        &env.leg_config,
    ) {
        Ok(v) => v,
        Err(u) => {
            refuse(call, u.status, &u.error.to_string(), None).await;
            return false;
        }
    };
    let inbox = env.sip.register(leg.call_id());
    let sender = env.sip.sender();
    for t in &out {
        if let Err(e) = sender.send_transmit(t).await {
            tracing::info!(error = %e, "cannot answer the phone");
        }
    }
    let params = BusinessCallParams {
        phone_number_id: from.0.clone(),
        to,
        biz_opaque: None,
        origin: BicOrigin::SipPhone,
        agent: None,
    };
    let key = registry
        .start_phone_call(params, Some(from.1.clone()), PhoneLeg { leg, inbox, rtp })
        .await;
    tracing::info!(call = %key, from = %call.from.addr, "SIP phone's call to WhatsApp started");
    true
}

/// The business number the INVITE chose in [`BUSINESS_NUMBER_HEADER`], else the default; an
/// error (saying why) when it names no configured number.
fn business_number<'a>(
    req: &callgate_sip::rsip::Request,
    cfg: &'a PhoneCallsConfig,
) -> Result<&'a (String, String), String> {
    let Some(wanted) = message::header_value(req, BUSINESS_NUMBER_HEADER) else {
        return Ok(&cfg.from);
    };
    let wanted = wanted.trim().trim_start_matches('+');
    cfg.numbers
        .iter()
        .find(|(id, display)| id == wanted || display.trim_start_matches('+') == wanted)
        .ok_or_else(|| {
            format!(
                "{BUSINESS_NUMBER_HEADER} {wanted:?} is not a business number of this gateway \
                 ([[numbers]] display_phone_number or phone_number_id)"
            )
        })
}

/// The WhatsApp number in the Request-URI's user part (`+15551234567`, `15551234567`).
fn wa_user(req: &callgate_sip::rsip::Request) -> Option<String> {
    let uri = req.uri.to_string();
    let rest = uri.split_once(':')?.1;
    let user = rest.split_once('@')?.0;
    let user = user.split(';').next()?;
    super::wa_number(user)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> PhoneCallsConfig {
        let sales = ("100000000000001".to_string(), "15550000001".to_string());
        let support = ("100000000000002".to_string(), "15550000002".to_string());
        PhoneCallsConfig {
            allow: Vec::new(),
            credentials: None,
            realm: "callgate".into(),
            from: sales.clone(),
            numbers: vec![sales, support],
            max_calls: 10,
        }
    }

    fn invite(header: Option<&str>) -> callgate_sip::rsip::Request {
        let extra = header.map_or(String::new(), |v| format!("X-WA-Business-Number: {v}\r\n"));
        let text = format!(
            "INVITE sip:+16315553602@127.0.0.1:5070 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK1\r\n\
             From: <sip:agent7@127.0.0.1>;tag=a\r\nTo: <sip:+16315553602@127.0.0.1>\r\n\
             Call-ID: c1\r\nCSeq: 1 INVITE\r\n{extra}Content-Length: 0\r\n\r\n"
        );
        callgate_sip::rsip::Request::try_from(text.as_bytes()).unwrap()
    }

    #[test]
    fn the_pbx_chooses_the_business_number_by_display_number_or_id_else_the_default() {
        let cfg = cfg();
        let pnid = |h| business_number(&invite(h), &cfg).map(|n| n.0.as_str());
        assert_eq!(pnid(None), Ok("100000000000001"));
        assert_eq!(pnid(Some("+15550000002")), Ok("100000000000002"));
        assert_eq!(pnid(Some("15550000002")), Ok("100000000000002"));
        assert_eq!(pnid(Some("100000000000002")), Ok("100000000000002"));
        let err = pnid(Some("+15559999999")).unwrap_err();
        assert!(
            err.contains("15559999999") && err.contains("[[numbers]]"),
            "{err}"
        );
    }
}
