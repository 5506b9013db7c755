//! [`SettingsUpdate`]: the `account_settings_update` change (`value.type: phone_number_settings`),
//! sent when a number's settings change at Meta, callgate's own changes included. Its
//! `phone_number_settings.calling` has the shape of the settings GET (spec section 8).

use serde_json::Value;

/// A number's settings changed at Meta.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsUpdate {
    /// `entry[].id`: the WhatsApp Business Account id.
    pub waba_id: String,
    /// `phone_number_settings.phone_number_id`.
    pub phone_number_id: String,
    /// `phone_number_settings.calling` (`None`: the change was not about calling).
    pub calling: Option<Value>,
    /// `value.timestamp` (UNIX seconds), when present.
    pub timestamp: Option<u64>,
}

impl SettingsUpdate {
    /// `settings:{phone_number_id}:{timestamp}:{FNV-1a of the calling JSON}`: a redelivery has
    /// the same key, two changes within one second do not. `None` without a timestamp.
    pub fn dedupe_key(&self) -> Option<String> {
        let text = self
            .calling
            .as_ref()
            .map(Value::to_string)
            .unwrap_or_default();
        let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        Some(format!(
            "settings:{}:{}:{hash:016x}",
            self.phone_number_id, self.timestamp?
        ))
    }

    /// Reads an `account_settings_update` change value; `None` when it is not about a phone
    /// number's settings (another `type`, or no `phone_number_id`).
    pub(super) fn from_value(waba_id: &str, value: &Value) -> Option<SettingsUpdate> {
        // Meta documents `PHONE_NUMBER_SETTINGS`; its sample writes `[phone_number_settings]`.
        let kind = value["type"]
            .as_str()
            .map(|t| t.trim_matches(['[', ']']).to_ascii_lowercase());
        if kind.is_some_and(|k| k != "phone_number_settings") {
            return None;
        }
        let settings = &value["phone_number_settings"];
        let phone_number_id = settings["phone_number_id"]
            .as_str()
            .or_else(|| value.pointer("/metadata/phone_number_id")?.as_str())?
            .to_string();
        let timestamp = match &value["timestamp"] {
            Value::String(s) => s.parse().ok(),
            v => v.as_u64(),
        };
        Some(SettingsUpdate {
            waba_id: waba_id.to_string(),
            phone_number_id,
            calling: Some(settings["calling"].clone()).filter(|c| c.is_object()),
            timestamp,
        })
    }
}
