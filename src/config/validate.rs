//! Semantic checks of a configuration that parsed: values that are well-typed but unusable.

use super::Config;
use super::load::Seg;

fn key(parts: &[&str]) -> Vec<Seg> {
    parts.iter().map(|p| Seg::Key((*p).to_string())).collect()
}

fn number_key(i: usize, field: &str) -> Vec<Seg> {
    vec![
        Seg::Key("numbers".into()),
        Seg::Index(i),
        Seg::Key(field.into()),
    ]
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Every semantic problem of `cfg`, as (key path, message).
pub(super) fn validate(cfg: &Config) -> Vec<(Vec<Seg>, String)> {
    let mut out = Vec::new();
    let mut problem = |path: Vec<Seg>, msg: String| out.push((path, msg));

    match url::Url::parse(&cfg.meta.graph_base_url) {
        Ok(u) if u.scheme() == "https" => {}
        Ok(u) if u.scheme() == "http" && is_loopback_host(&u) => {}
        Ok(_) => problem(
            key(&["meta", "graph_base_url"]),
            "must be an https:// URL (plain http only to a loopback sandbox)".into(),
        ),
        Err(e) => problem(
            key(&["meta", "graph_base_url"]),
            format!("not a URL ({e}); Meta's is https://graph.facebook.com"),
        ),
    }
    let v = &cfg.meta.api_version;
    let version_ok = v
        .strip_prefix('v')
        .and_then(|r| r.split_once('.'))
        .is_some_and(|(a, b)| all_digits(a) && all_digits(b));
    if !version_ok {
        problem(
            key(&["meta", "api_version"]),
            format!("{v:?} is not a Graph API version like \"v23.0\""),
        );
    }
    for (field, secret) in [
        ("access_token", &cfg.meta.access_token),
        ("app_secret", &cfg.meta.app_secret),
        ("verify_token", &cfg.meta.verify_token),
    ] {
        if secret.expose().trim().is_empty() {
            problem(
                key(&["meta", field]),
                format!(
                    "is empty: set it here or in CALLGATE_META_{}",
                    field.to_uppercase()
                ),
            );
        }
    }
    if cfg.meta.request_timeout_s == 0 {
        problem(
            key(&["meta", "request_timeout_s"]),
            "must be at least 1 second".into(),
        );
    }

    if cfg.numbers.is_empty() {
        problem(
            key(&["numbers"]),
            "no [[numbers]] entry: add the WhatsApp business numbers this gateway serves".into(),
        );
    }
    for (i, n) in cfg.numbers.iter().enumerate() {
        if !all_digits(&n.phone_number_id) {
            problem(
                number_key(i, "phone_number_id"),
                format!(
                    "{:?} is not a Meta phone number id (digits only, shown in WhatsApp Manager)",
                    n.phone_number_id
                ),
            );
        }
        if !all_digits(n.display_phone_number.trim_start_matches('+')) {
            problem(
                number_key(i, "display_phone_number"),
                format!(
                    "{:?} is not a phone number in international form (digits, optional leading +)",
                    n.display_phone_number
                ),
            );
        }
        if cfg.numbers[..i]
            .iter()
            .any(|m| m.phone_number_id == n.phone_number_id)
        {
            problem(
                number_key(i, "phone_number_id"),
                "appears twice in [[numbers]]".into(),
            );
        }
    }

    for (i, t) in cfg.api.tokens.iter().enumerate() {
        if t.expose().len() < 16 {
            problem(
                vec![
                    Seg::Key("api".into()),
                    Seg::Key("tokens".into()),
                    Seg::Index(i),
                ],
                "operator API tokens must be at least 16 characters long".into(),
            );
        }
    }

    if cfg.store.path.as_os_str().is_empty() {
        problem(key(&["store", "path"]), "is empty".into());
    }

    let c = &cfg.calls;
    if !(5..=120).contains(&c.answer_window_s) {
        problem(
            key(&["calls", "answer_window_s"]),
            "must be between 5 and 120 seconds (Meta's caller gives up after about 30-60 s)".into(),
        );
    }
    if c.pbx_ring_timeout_s == 0 || c.pbx_ring_timeout_s >= c.answer_window_s {
        problem(
            key(&["calls", "pbx_ring_timeout_s"]),
            format!(
                "must be at least 1 and shorter than calls.answer_window_s ({} s), so the caller \
                 is rejected cleanly before Meta gives up",
                c.answer_window_s
            ),
        );
    }
    if cfg.http.max_body_bytes < 1024 {
        problem(
            key(&["http", "max_body_bytes"]),
            "must be at least 1024 (Meta sends up to 3 MB)".into(),
        );
    }

    let m = &cfg.media;
    if m.port_min == 0 && m.port_max == 0 {
        // Both 0: any free port the OS picks (tests, single-host set-ups without a firewall).
    } else if m.port_min == 0 || m.port_min > m.port_max {
        problem(
            key(&["media", "port_min"]),
            format!(
                "must be at least 1 and not above media.port_max ({})",
                m.port_max
            ),
        );
    } else if m.port_max - m.port_min < 1 {
        problem(
            key(&["media", "port_max"]),
            "the range must hold at least 2 ports (one per call leg)".into(),
        );
    }
    if m.opus_complexity > 10 {
        problem(key(&["media", "opus_complexity"]), "must be 0 to 10".into());
    }
    if m.public_ip.is_unspecified() {
        problem(
            key(&["media", "public_ip"]),
            "must be the address peers send media to, not 0.0.0.0".into(),
        );
    }
    if let Err(e) = crate::pbx::parse_codecs(&cfg.sip.codecs.join(",")) {
        problem(key(&["sip", "codecs"]), e.to_string());
    } else if cfg.sip.codecs.is_empty() {
        problem(
            key(&["sip", "codecs"]),
            "is empty: list at least one of \"opus\", \"g722\", \"pcmu\", \"pcma\"".into(),
        );
    }
    if cfg.sip.setup_timeout_s == 0 || cfg.sip.setup_timeout_s >= c.pbx_ring_timeout_s {
        problem(
            key(&["sip", "setup_timeout_s"]),
            "must be at least 1 and shorter than calls.pbx_ring_timeout_s".into(),
        );
    }
    if let Some(target) = &cfg.routing.default {
        let lower = target.to_ascii_lowercase();
        if !(lower.starts_with("sip:") || lower.starts_with("sips:"))
            || !target.contains('@') && target.len() < 5
        {
            problem(
                key(&["routing", "default"]),
                format!("{target:?} is not a SIP URI like \"sip:agents@pbx.example.com:5060\""),
            );
        }
    }

    if cfg.sip.username.is_some() != cfg.sip.password.is_some() {
        problem(
            key(&["sip", "password"]),
            "username and password go together: set both to answer the PBX's digest challenges, \
             or neither"
                .into(),
        );
    }

    let phones = &cfg.sip_phones;
    for (i, net) in phones.allow.iter().enumerate() {
        if parse_net(net).is_none() {
            problem(
                vec![
                    Seg::Key("sip_phones".into()),
                    Seg::Key("allow".into()),
                    Seg::Index(i),
                ],
                format!("{net:?} is not an address or network like \"10.0.0.0/8\""),
            );
        }
    }
    if phones.username.is_some() != phones.password.is_some() {
        problem(
            key(&["sip_phones", "password"]),
            "username and password go together: set both for digest authentication, or neither"
                .into(),
        );
    }
    if phones.allow.is_empty() && phones.password.is_none() {
        problem(
            key(&["sip_phones", "allow"]),
            "is empty and no password is set: anyone could call WhatsApp users through \
             callgate; list the PBX's networks or set username and password"
                .into(),
        );
    }
    if let Some(from) = &phones.from_number {
        let f = from.trim_start_matches('+');
        if !cfg
            .numbers
            .iter()
            .any(|n| n.phone_number_id == f || n.display_phone_number.trim_start_matches('+') == f)
        {
            problem(
                key(&["sip_phones", "from_number"]),
                format!("{from:?} is not one of [[numbers]]"),
            );
        }
    }

    // Business hours, after-hours actions, routing rules, calling settings (src/policy).
    for (path, msg) in crate::policy::config_problems(cfg) {
        problem(path, msg);
    }

    if cfg.sandbox.enabled {
        let expected = format!("http://{}", cfg.sandbox.listen);
        if cfg.meta.graph_base_url.trim_end_matches('/') != expected {
            problem(
                key(&["meta", "graph_base_url"]),
                format!(
                    "[sandbox] enabled = true, so this must be the sandbox's address {expected:?} \
                     (or set [sandbox] enabled = false to talk to Meta)"
                ),
            );
        }
        if cfg.sandbox.listen == cfg.http.listen && cfg.http.listen.port() != 0 {
            problem(
                key(&["sandbox", "listen"]),
                "must differ from [http] listen".into(),
            );
        }
    }
    out
}

/// A network (`10.0.0.0/8`) or a single address.
pub fn parse_net(s: &str) -> Option<ipnet::IpNet> {
    let s = s.trim();
    s.parse::<ipnet::IpNet>()
        .ok()
        .or_else(|| s.parse::<std::net::IpAddr>().ok().map(ipnet::IpNet::from))
}

fn is_loopback_host(u: &url::Url) -> bool {
    match u.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        None => false,
    }
}
