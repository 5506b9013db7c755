//! The sandbox's `GET|POST /{ver}/{pnid}/settings` with Meta's validation: `status` and
//! `callback_permission_status` ENABLED/DISABLED, `call_icon_visibility` DEFAULT/DISABLE_ALL/
//! HIDE_IN_CHAT, an enabled SIP needs a server, and `call_hours` checked by Meta's rules
//! ([`CallHours::validate_for_meta`], the same rules callgate applies before a push, so both
//! refuse with the same reason). Each posted `calling` key replaces the stored one (`call_hours`
//! wholesale). A change to a key Meta watches (`status`, `call_icon_visibility`,
//! `callback_permission_status`, `sip.status`, `srtp_key_exchange_protocol`) sends the
//! `account_settings_update` webhook with the whole `calling` object, as Meta does.

use axum::http::HeaderMap;
use jiff::Timestamp;
use serde_json::{Value, json};

use super::Sandbox;
use super::meta_error::MetaError;
use super::state::unix_now;
use crate::policy::hours::CallHours;

type GraphResult = Result<Value, MetaError>;

const ICON: &[&str] = &["DEFAULT", "DISABLE_ALL", "HIDE_IN_CHAT"];

/// The `calling` keys whose changes Meta reports with `account_settings_update`.
fn watched(calling: &Value) -> [Value; 5] {
    [
        calling["status"].clone(),
        calling["call_icon_visibility"].clone(),
        calling["callback_permission_status"].clone(),
        calling["sip"]["status"].clone(),
        calling["srtp_key_exchange_protocol"].clone(),
    ]
}

/// Meta's checks of a posted `calling` object.
fn check(calling: &serde_json::Map<String, Value>, now: Timestamp) -> Result<(), MetaError> {
    for (key, allowed) in [
        ("status", &["ENABLED", "DISABLED"][..]),
        ("callback_permission_status", &["ENABLED", "DISABLED"][..]),
        ("call_icon_visibility", ICON),
    ] {
        if let Some(v) = calling.get(key)
            && !v.as_str().is_some_and(|s| allowed.contains(&s))
        {
            return Err(MetaError::invalid_parameter(format!(
                "calling.{key} must be one of {}",
                allowed.join(", ")
            )));
        }
    }
    if let Some(sip) = calling.get("sip") {
        let servers = sip["servers"].as_array().map_or(0, Vec::len);
        if sip["status"] == "ENABLED" && servers == 0 {
            return Err(MetaError::invalid_parameter(
                "calling.sip.status ENABLED needs at least one server in calling.sip.servers",
            ));
        }
    }
    if let Some(hours) = calling.get("call_hours") {
        let hours: CallHours = serde_json::from_value(hours.clone()).map_err(|e| {
            MetaError::invalid_parameter(format!("Invalid schedule for call_hours: {e}"))
        })?;
        hours
            .validate_for_meta(now)
            .map_err(|e| MetaError::invalid_parameter(e.to_string()))?;
    }
    Ok(())
}

/// The `account_settings_update` webhook for `pnid` carrying `calling`.
pub fn account_settings_update(waba_id: &str, pnid: &str, calling: &Value, at: u64) -> Value {
    json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": waba_id, "time": at, "changes": [{
            "field": "account_settings_update",
            "value": {
                "messaging_product": "whatsapp",
                "timestamp": at.to_string(),
                "type": "phone_number_settings",
                "phone_number_settings": {"phone_number_id": pnid, "calling": calling},
            },
        }]}],
    })
}

impl Sandbox {
    /// `GET /{ver}/{pnid}/settings`.
    pub(super) fn handle_get_settings(&self, headers: &HeaderMap, pnid: &str) -> GraphResult {
        self.authorize(headers, pnid)?;
        Ok(self.lock().settings.get(pnid).cloned().unwrap_or_default())
    }

    /// `POST /{ver}/{pnid}/settings`.
    pub(super) fn handle_post_settings(
        &self,
        headers: &HeaderMap,
        pnid: &str,
        raw: &[u8],
    ) -> GraphResult {
        self.authorize(headers, pnid)?;
        let body = match serde_json::from_slice::<Value>(raw) {
            Ok(v @ Value::Object(_)) => v,
            _ => {
                return Err(MetaError::invalid_parameter(
                    "The request body must be a JSON object",
                ));
            }
        };
        let calling = body
            .get("calling")
            .and_then(Value::as_object)
            .ok_or_else(|| MetaError::new(100, "(#100) The parameter calling is required."))?;
        check(calling, Timestamp::now())?;
        let (before, after) = {
            let mut st = self.lock();
            let stored = st
                .settings
                .entry(pnid.to_string())
                .or_insert_with(|| json!({}));
            if !stored["calling"].is_object() {
                stored["calling"] = json!({});
            }
            let before = stored["calling"].clone();
            for (k, v) in calling {
                stored["calling"][k] = v.clone();
            }
            (before, stored["calling"].clone())
        };
        if watched(&before) != watched(&after) {
            let waba = self.config().waba_id.clone();
            let body = account_settings_update(&waba, pnid, &after, unix_now());
            self.webhooks().send("account_settings_update", None, body);
        }
        Ok(json!({"success": true}))
    }
}
