//! Environment overrides: `CALLGATE_<SECTION>_<KEY>` replaces `[section] key`, so secrets can stay
//! out of the file (`CALLGATE_META_APP_SECRET`, `CALLGATE_META_ACCESS_TOKEN`, ...). Lists take
//! comma-separated values (`CALLGATE_API_TOKENS=a,b`). An unknown `CALLGATE_*` variable is a
//! problem, not silently ignored.

use super::{Config, ConfigProblem, Secret};
use std::str::FromStr;

/// Applies every `CALLGATE_*` variable of `vars` to `cfg`; returns the problems found.
pub(super) fn apply(
    cfg: &mut Config,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Vec<ConfigProblem> {
    let mut problems = Vec::new();
    for (name, value) in vars {
        let Some(rest) = name.strip_prefix("CALLGATE_") else {
            continue;
        };
        if let Err(message) = set(cfg, &rest.to_ascii_lowercase(), &value) {
            problems.push(ConfigProblem {
                line: None,
                key: name.clone(),
                message,
            });
        }
    }
    problems
}

fn parse<T: FromStr>(value: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    value
        .trim()
        .parse()
        .map_err(|e| format!("cannot use {value:?}: {e}"))
}

fn set(cfg: &mut Config, key: &str, value: &str) -> Result<(), String> {
    match key {
        "http_listen" => cfg.http.listen = parse(value)?,
        "http_max_body_bytes" => cfg.http.max_body_bytes = parse(value)?,
        "meta_graph_base_url" => cfg.meta.graph_base_url = value.to_string(),
        "meta_access_token" => cfg.meta.access_token = Secret::new(value),
        "meta_app_secret" => cfg.meta.app_secret = Secret::new(value),
        "meta_verify_token" => cfg.meta.verify_token = Secret::new(value),
        "meta_api_version" => cfg.meta.api_version = value.to_string(),
        "meta_request_timeout_s" => cfg.meta.request_timeout_s = parse(value)?,
        "meta_max_retries" => cfg.meta.max_retries = parse(value)?,
        "api_tokens" => {
            cfg.api.tokens = value
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(Secret::new)
                .collect()
        }
        "store_path" => cfg.store.path = value.into(),
        "calls_answer_window_s" => cfg.calls.answer_window_s = parse(value)?,
        "calls_pbx_ring_timeout_s" => cfg.calls.pbx_ring_timeout_s = parse(value)?,
        "sandbox_enabled" => cfg.sandbox.enabled = parse(value)?,
        "sandbox_listen" => cfg.sandbox.listen = parse(value)?,
        "sandbox_duplicate_deliveries" => cfg.sandbox.duplicate_deliveries = parse(value)?,
        "sandbox_reorder_deliveries" => cfg.sandbox.reorder_deliveries = parse(value)?,
        "sip_listen" => cfg.sip.listen = parse(value)?,
        "sip_setup_timeout_s" => cfg.sip.setup_timeout_s = parse(value)?,
        "sip_rtp_timeout_s" => cfg.sip.rtp_timeout_s = parse(value)?,
        "sip_username" => cfg.sip.username = Some(value.trim().to_string()),
        "sip_password" => cfg.sip.password = Some(Secret::new(value)),
        "media_public_ip" => cfg.media.public_ip = parse(value)?,
        "media_port_min" => cfg.media.port_min = parse(value)?,
        "media_port_max" => cfg.media.port_max = parse(value)?,
        "media_opus_complexity" => cfg.media.opus_complexity = parse(value)?,
        "routing_default" => {
            cfg.routing.default = Some(value.trim().to_string()).filter(|v| !v.is_empty())
        }
        "media_bind_ip" => cfg.media.bind_ip = Some(parse(value)?),
        "permissions_connected_calls_per_day" => {
            cfg.permissions.connected_calls_per_day = parse(value)?
        }
        "permissions_cache_ttl_s" => cfg.permissions.cache_ttl_s = parse(value)?,
        "permissions_request_template" => {
            cfg.permissions.request_template = Some(value.trim().to_string())
        }
        "sip_phones_username" => cfg.sip_phones.username = Some(value.trim().to_string()),
        "sip_phones_password" => cfg.sip_phones.password = Some(Secret::new(value)),
        "sip_phones_from_number" => cfg.sip_phones.from_number = Some(value.trim().to_string()),
        "sip_phones_allow" => {
            cfg.sip_phones.allow = value
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(String::from)
                .collect()
        }
        _ => {
            return Err(
                "names no configuration key (CALLGATE_<SECTION>_<KEY>, e.g. CALLGATE_META_APP_SECRET)"
                    .into(),
            );
        }
    }
    Ok(())
}
