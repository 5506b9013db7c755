//! Typed Graph API payloads: call permissions (tolerant of every documented variant), the success
//! shapes of `/calls` and `/messages`, and SDP line-end normalisation.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// The user's call permission status as reported by `GET /{pnid}/call_permissions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
#[non_exhaustive]
pub enum PermissionStatus {
    /// `no_permission`: calling the user fails with 138006.
    NoPermission,
    /// `temporary`: granted with an expiry (7 days).
    Temporary,
    /// `permanent`: granted without expiry.
    Permanent,
    /// `granted` (API reference examples).
    Granted,
    /// `pending` (API reference examples): a request is awaiting the user's answer.
    Pending,
    /// `denied` (API reference examples).
    Denied,
    /// Any other value, kept verbatim.
    Other(String),
}

impl PermissionStatus {
    /// Whether this status lets the business place a call.
    pub fn allows_calls(&self) -> bool {
        matches!(
            self,
            PermissionStatus::Temporary | PermissionStatus::Permanent | PermissionStatus::Granted
        )
    }

    /// The wire form.
    pub fn as_str(&self) -> &str {
        match self {
            PermissionStatus::NoPermission => "no_permission",
            PermissionStatus::Temporary => "temporary",
            PermissionStatus::Permanent => "permanent",
            PermissionStatus::Granted => "granted",
            PermissionStatus::Pending => "pending",
            PermissionStatus::Denied => "denied",
            PermissionStatus::Other(s) => s,
        }
    }
}

impl From<&str> for PermissionStatus {
    fn from(s: &str) -> Self {
        match s.to_ascii_lowercase().as_str() {
            "no_permission" => PermissionStatus::NoPermission,
            "temporary" => PermissionStatus::Temporary,
            "permanent" => PermissionStatus::Permanent,
            "granted" => PermissionStatus::Granted,
            "pending" => PermissionStatus::Pending,
            "denied" => PermissionStatus::Denied,
            _ => PermissionStatus::Other(s.to_string()),
        }
    }
}

impl From<PermissionStatus> for String {
    fn from(s: PermissionStatus) -> String {
        s.as_str().to_string()
    }
}

impl<'de> Deserialize<'de> for PermissionStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(PermissionStatus::from(s.as_str()))
    }
}

/// The `permission` object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Permission {
    /// The status.
    pub status: PermissionStatus,
    /// Expiry in UNIX seconds (`expiration_time`, or `expiration` as the docs' text names it).
    pub expiration_time: Option<i64>,
}

impl<'de> Deserialize<'de> for Permission {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Raw {
            status: PermissionStatus,
            #[serde(default)]
            expiration_time: Option<Value>,
            #[serde(default)]
            expiration: Option<Value>,
        }
        let raw = Raw::deserialize(d)?;
        let expiration_time = raw
            .expiration_time
            .as_ref()
            .and_then(lenient_i64)
            .or_else(|| raw.expiration.as_ref().and_then(lenient_i64));
        Ok(Permission {
            status: raw.status,
            expiration_time,
        })
    }
}

/// One rolling limit of an action (`PT24H`, `P7D`, or `24h` in the API reference).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct ActionLimit {
    /// The window, verbatim (`PT24H`, `P7D`, `24h`).
    pub time_period: String,
    /// How many are allowed in the window.
    pub max_allowed: Option<u64>,
    /// How many were used.
    pub current_usage: Option<u64>,
    /// When the exhausted limit frees up (UNIX seconds); only present when exhausted.
    pub limit_expiration_time: Option<i64>,
}

/// What the business may do next with this user (`start_call`, `send_call_permission_request`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermissionAction {
    /// `start_call` or `send_call_permission_request`.
    pub action_name: String,
    /// Whether the action is allowed now.
    #[serde(default)]
    pub can_perform_action: bool,
    /// The rolling limits (absent, `""` or an array in Meta's samples: all accepted).
    #[serde(default, deserialize_with = "lenient_limits")]
    pub limits: Vec<ActionLimit>,
}

/// The answer of `GET /{pnid}/call_permissions?user_wa_id=...`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallPermissions {
    /// The permission.
    pub permission: Permission,
    /// The actions and their limits.
    #[serde(default)]
    pub actions: Vec<PermissionAction>,
}

impl CallPermissions {
    /// The named action, if Meta listed it.
    pub fn action(&self, name: &str) -> Option<&PermissionAction> {
        self.actions.iter().find(|a| a.action_name == name)
    }

    /// `start_call.can_perform_action`, or, when Meta did not list it, whether the status allows calls.
    pub fn can_start_call(&self) -> bool {
        self.action("start_call")
            .map(|a| a.can_perform_action)
            .unwrap_or_else(|| self.permission.status.allows_calls())
    }

    /// `send_call_permission_request.can_perform_action` (`None` when not listed).
    pub fn can_request_permission(&self) -> Option<bool> {
        self.action("send_call_permission_request")
            .map(|a| a.can_perform_action)
    }
}

fn lenient_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn lenient_u64(v: Option<&Value>) -> Option<u64> {
    v.and_then(lenient_i64).and_then(|n| u64::try_from(n).ok())
}

fn lenient_limits<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ActionLimit>, D::Error> {
    let v = Value::deserialize(d)?;
    let Value::Array(items) = v else {
        return Ok(Vec::new());
    };
    Ok(items
        .iter()
        .filter_map(|item| {
            let obj = item.as_object()?;
            Some(ActionLimit {
                time_period: obj
                    .get("time_period")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                max_allowed: lenient_u64(obj.get("max_allowed")),
                current_usage: lenient_u64(obj.get("current_usage")),
                limit_expiration_time: obj.get("limit_expiration_time").and_then(lenient_i64),
            })
        })
        .collect())
}

/// Rewrites an SDP with CRLF line ends (Meta wants RFC 8866 CRLF), dropping empty lines and
/// ending with a CRLF.
pub fn normalize_sdp(sdp: &str) -> String {
    let mut out = String::with_capacity(sdp.len() + 64);
    for line in sdp.lines().filter(|l| !l.is_empty()) {
        out.push_str(line);
        out.push_str("\r\n");
    }
    out
}

/// Extracts the call id from a `connect` success body (`{"calls":[{"id":...}]}`).
pub(crate) fn call_id_from_connect(body: &Value) -> Option<String> {
    body.get("calls")?
        .as_array()?
        .first()?
        .get("id")?
        .as_str()
        .map(str::to_string)
}

/// Extracts the message id from a `/messages` success body (`{"messages":[{"id":...}]}`).
pub(crate) fn message_id(body: &Value) -> Option<String> {
    body.get("messages")?
        .as_array()?
        .first()?
        .get("id")?
        .as_str()
        .map(str::to_string)
}

/// Whether a body says `"success": true` (with or without `messaging_product`).
pub(crate) fn is_success(body: &Value) -> bool {
    body.get("success").and_then(Value::as_bool) == Some(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Value {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn documented_permissions_sample_parses_with_limits() {
        let p: CallPermissions =
            serde_json::from_value(fixture("graph-call-permissions-response.json")).unwrap();
        assert_eq!(p.permission.status, PermissionStatus::Temporary);
        assert_eq!(p.permission.expiration_time, Some(1745343479));
        assert!(!p.can_start_call());
        assert_eq!(p.can_request_permission(), Some(true));
        let start = p.action("start_call").unwrap();
        assert_eq!(start.limits[0].time_period, "PT24H");
        assert_eq!(start.limits[0].max_allowed, Some(5));
        assert_eq!(start.limits[0].limit_expiration_time, Some(1745622600));
    }

    #[test]
    fn apiref_permission_examples_parse_including_empty_string_limits() {
        let all = fixture("graph-call-permissions-response-apiref-examples.json");
        let granted: CallPermissions =
            serde_json::from_value(all["Granted Permission"]["value"].clone()).unwrap();
        assert_eq!(granted.permission.status, PermissionStatus::Granted);
        assert!(granted.can_start_call());
        assert!(
            granted
                .action("send_call_permission_request")
                .unwrap()
                .limits
                .is_empty()
        );
        let pending: CallPermissions =
            serde_json::from_value(all["Pending Permission"]["value"].clone()).unwrap();
        assert_eq!(pending.permission.status, PermissionStatus::Pending);
        assert_eq!(pending.permission.expiration_time, None);
        let denied: CallPermissions =
            serde_json::from_value(all["Denied Permission"]["value"].clone()).unwrap();
        assert_eq!(denied.permission.status, PermissionStatus::Denied);
        assert_eq!(denied.can_request_permission(), Some(true));
    }

    #[test]
    fn expiration_named_in_text_is_accepted_as_string_or_number() {
        let p: Permission =
            serde_json::from_str(r#"{"status":"temporary","expiration":"1745343479"}"#).unwrap();
        assert_eq!(p.expiration_time, Some(1745343479));
        let p: Permission =
            serde_json::from_str(r#"{"status":"PERMANENT","expiration":1}"#).unwrap();
        assert_eq!(p.status, PermissionStatus::Permanent);
        assert_eq!(p.expiration_time, Some(1));
    }

    #[test]
    fn sdp_with_lf_is_rewritten_with_crlf_and_final_crlf() {
        assert_eq!(normalize_sdp("v=0\no=- 1\n"), "v=0\r\no=- 1\r\n");
        assert_eq!(normalize_sdp("v=0\r\no=- 1"), "v=0\r\no=- 1\r\n");
        assert_eq!(normalize_sdp("v=0\r\n\r\ns=-\n\n"), "v=0\r\ns=-\r\n");
    }

    #[test]
    fn success_and_ids_are_parsed_leniently() {
        assert!(is_success(&serde_json::json!({"success": true})));
        assert!(is_success(
            &serde_json::json!({"messaging_product":"whatsapp","success": true})
        ));
        assert!(!is_success(&serde_json::json!({"success": false})));
        assert_eq!(
            call_id_from_connect(&fixture("graph-calls-connect-response.json")).as_deref(),
            Some("wacid.ABGGFjFVU2AfAgo6V")
        );
        assert_eq!(
            message_id(&serde_json::json!({"messages":[{"id":"wamid.X"}]})).as_deref(),
            Some("wamid.X")
        );
    }
}
