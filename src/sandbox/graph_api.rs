//! Meta's Graph calling endpoints as the sandbox serves them, with Meta's validation and errors:
//! `POST /{ver}/{pnid}/calls`, `POST /{ver}/{pnid}/messages`,
//! `GET /{ver}/{pnid}/call_permissions?user_wa_id=`, `GET|POST /{ver}/{pnid}/settings`.

use std::collections::HashMap;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::media::answer_business_offer;
use super::meta_error::MetaError;
use super::state::{
    ActionLogEntry, CallRecord, CallState, Direction, PermissionKind, ReceivedRequest,
    SandboxState, SentMessage, UserPermission, new_id, unix_now,
};
use super::{Sandbox, calling_enabled, key_exchange, sdp, sip_enabled};
use crate::cloud::graph::{BIZ_OPAQUE_MAX_CHARS, normalize_sdp};
use crate::cloud::signature::verify_token_matches;

const DAY: Duration = Duration::from_secs(24 * 3600);
const WEEK: Duration = Duration::from_secs(7 * 24 * 3600);
/// Connected business-initiated calls per user per 24 h (since Dec 19 2025).
const CONNECTED_CALLS_PER_DAY: usize = 100;

type GraphResult = Result<Value, MetaError>;

/// The Graph routes (state: the sandbox).
pub fn routes() -> Router<Sandbox> {
    Router::new()
        .route("/{ver}/{pnid}/calls", graph_post(Sandbox::handle_calls))
        .route(
            "/{ver}/{pnid}/messages",
            graph_post(Sandbox::handle_messages),
        )
        .route("/{ver}/{pnid}/call_permissions", get(call_permissions))
        .route(
            "/{ver}/{pnid}/settings",
            get(get_settings).merge(graph_post(Sandbox::handle_post_settings)),
        )
}

/// What answers a `POST /{ver}/{pnid}/...`: the request headers, the phone number id and the raw
/// body.
type PostHandler = fn(&Sandbox, &HeaderMap, &str, &[u8]) -> GraphResult;

/// The `POST` route of a Graph endpoint answered by `handle`, recorded like every request.
fn graph_post(handle: PostHandler) -> MethodRouter<Sandbox> {
    post(
        move |State(sb): State<Sandbox>,
              Path((_ver, pnid)): Path<(String, String)>,
              uri: Uri,
              headers: HeaderMap,
              body: Bytes| async move {
            let result = handle(&sb, &headers, &pnid, &body);
            sb.finish(Method::POST, &uri, &body, result)
        },
    )
}

async fn call_permissions(
    State(sb): State<Sandbox>,
    Path((_ver, pnid)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let result = sb.handle_call_permissions(&headers, &pnid, query.get("user_wa_id"));
    sb.finish(Method::GET, &uri, &[], result)
}

async fn get_settings(
    State(sb): State<Sandbox>,
    Path((_ver, pnid)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let result = sb.handle_get_settings(&headers, &pnid);
    sb.finish(Method::GET, &uri, &[], result)
}

fn parse_json(raw: &[u8]) -> Result<Value, MetaError> {
    match serde_json::from_slice::<Value>(raw) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(MetaError::invalid_parameter(
            "The request body must be a JSON object",
        )),
    }
}

fn check_messaging_product(body: &Value) -> Result<(), MetaError> {
    match body.get("messaging_product").and_then(Value::as_str) {
        Some("whatsapp") => Ok(()),
        Some(other) => Err(MetaError::invalid_parameter(format!(
            "messaging_product must be \"whatsapp\", got \"{other}\""
        ))),
        None => Err(MetaError::new(
            100,
            "(#100) The parameter messaging_product is required.",
        )),
    }
}

fn required_str<'a>(body: &'a Value, key: &str) -> Result<&'a str, MetaError> {
    body.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| MetaError::new(100, format!("(#100) The parameter {key} is required.")))
}

/// `session.sdp` after checking `session.sdp_type`.
fn session_sdp(body: &Value, action: &str, expected: &str) -> Result<String, MetaError> {
    let session = body
        .get("session")
        .filter(|s| s.is_object())
        .ok_or_else(|| MetaError::new(100, "(#100) The parameter session is required."))?;
    let sdp_type = session
        .get("sdp_type")
        .and_then(Value::as_str)
        .ok_or_else(|| MetaError::new(100, "(#100) The parameter session.sdp_type is required."))?;
    if sdp_type != expected {
        return Err(MetaError::invalid_parameter(format!(
            "session.sdp_type must be \"{expected}\" for action {action}, got \"{sdp_type}\""
        )));
    }
    session
        .get("sdp")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .ok_or_else(|| MetaError::new(100, "(#100) The parameter session.sdp is required."))
}

fn biz_opaque(body: &Value) -> Result<Option<String>, MetaError> {
    match body.get("biz_opaque_callback_data").and_then(Value::as_str) {
        Some(s) if s.chars().count() > BIZ_OPAQUE_MAX_CHARS => Err(MetaError::invalid_parameter(
            format!("biz_opaque_callback_data must be at most {BIZ_OPAQUE_MAX_CHARS} characters"),
        )),
        other => Ok(other.map(str::to_string)),
    }
}

fn not_ringing(call: &CallRecord, action: &str) -> MetaError {
    let what = match call.state {
        CallState::Ended => "has already ended",
        CallState::Accepted => "has already been accepted",
        _ => "is not in a state that allows this action",
    };
    MetaError::invalid_parameter(format!("Cannot {action} call {}: the call {what}", call.id))
}

fn instant_to_unix(at: Instant, now: Instant) -> u64 {
    unix_now() + at.saturating_duration_since(now).as_secs()
}

impl Sandbox {
    /// Records the request and turns the result into Meta's response.
    fn finish(&self, method: Method, uri: &Uri, raw: &[u8], result: GraphResult) -> Response {
        let body = serde_json::from_slice(raw).unwrap_or(Value::Null);
        let (http_status, error_code) = match &result {
            Ok(_) => (200, None),
            Err(e) => (e.http_status(), Some(e.code.code())),
        };
        self.lock().requests.push(ReceivedRequest {
            method: method.to_string(),
            path: uri.path().to_string(),
            body,
            http_status,
            error_code,
        });
        match result {
            Ok(v) => axum::Json(v).into_response(),
            Err(e) => e.into_response(),
        }
    }

    /// Bearer token (else 401/190), then a known phone number id (else 400/100).
    pub(super) fn authorize(&self, headers: &HeaderMap, pnid: &str) -> Result<(), MetaError> {
        let token = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let valid = token.is_some_and(|t| verify_token_matches(&self.config().access_token, t));
        if !valid {
            return Err(MetaError::new(
                190,
                "Invalid OAuth access token - Cannot parse access token",
            ));
        }
        if self.origin(pnid).is_none() {
            let mut e = MetaError::new(
                100,
                format!(
                    "Unsupported post request. Object with ID '{pnid}' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api"
                ),
            );
            e.subcode = Some(33);
            return Err(e);
        }
        Ok(())
    }

    fn handle_calls(&self, headers: &HeaderMap, pnid: &str, raw: &[u8]) -> GraphResult {
        self.authorize(headers, pnid)?;
        let body = parse_json(raw)?;
        check_messaging_product(&body)?;
        let action = required_str(&body, "action")?;
        if !matches!(
            action,
            "connect" | "pre_accept" | "accept" | "reject" | "terminate"
        ) {
            return Err(MetaError::invalid_parameter(format!(
                "action must be one of connect, pre_accept, accept, reject, terminate; got \"{action}\""
            )));
        }
        let mut st = self.lock();
        if let Some(code) = st.take_fault(action) {
            return Err(MetaError::new(
                code,
                format!("(#{code}) failure injected through the sandbox control API"),
            ));
        }
        let settings = st.settings.get(pnid).cloned().unwrap_or_default();
        if sip_enabled(&settings) {
            return Err(MetaError::new(
                131055,
                "(#131055) Method not allowed: calling Graph API is not allowed while SIP is enabled for this phone number",
            ));
        }
        if !calling_enabled(&settings) {
            return Err(MetaError::new(
                138000,
                "Calling is not enabled for this phone number",
            ));
        }
        if action == "connect" {
            let (result, created) = self.connect(&mut st, pnid, &body, &settings);
            drop(st);
            if let Some((call, answer)) = created {
                self.after_business_connect(&call, &answer);
            }
            return result;
        }
        let call_id = required_str(&body, "call_id")?;
        let result = self.call_action(&mut st, pnid, action, call_id, &body, &settings);
        if let Some(call) = st.calls.get_mut(call_id).filter(|c| c.pnid == pnid) {
            call.actions.push(ActionLogEntry {
                action: action.to_string(),
                body: body.clone(),
                http_status: result.as_ref().map_or_else(|e| e.http_status(), |_| 200),
                error_code: result.as_ref().err().map(|e| e.code.code()),
            });
        }
        result
    }

    /// Business-initiated `connect`. Returns the response and, on success, the new call and Meta's
    /// answer for the follow-up webhooks.
    fn connect(
        &self,
        st: &mut SandboxState,
        pnid: &str,
        body: &Value,
        settings: &Value,
    ) -> (GraphResult, Option<(CallRecord, String)>) {
        let checked = (|| {
            let to = body
                .get("to")
                .or_else(|| body.get("recipient"))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| MetaError::new(100, "(#100) The parameter to is required."))?
                .to_string();
            let offer = session_sdp(body, "connect", "offer")?;
            sdp::validate(&offer, key_exchange(settings)).map_err(MetaError::invalid_parameter)?;
            let opaque = biz_opaque(body)?;
            let now = Instant::now();
            let perm = st.permissions.get(&to).cloned().unwrap_or_default();
            if perm.effective(now).0 == PermissionKind::NoPermission {
                return Err(MetaError::new(
                    138006,
                    "No approved call permission from the recipient",
                ));
            }
            if UserPermission::count_within(&perm.connected_calls, now, DAY)
                >= CONNECTED_CALLS_PER_DAY
            {
                return Err(MetaError::new(
                    138012,
                    "Business initiated connected calls limit for this user reached",
                ));
            }
            if st.user_busy(pnid, &to) {
                return Err(MetaError::new(
                    138003,
                    "Duplicate call: a call with this user is already ongoing",
                ));
            }
            Ok((to, offer, opaque))
        })();
        let (to, offer, opaque) = match checked {
            Ok(v) => v,
            Err(e) => return (Err(e), None),
        };
        let origin = self.origin(pnid).expect("authorized number");
        let (answer, phone) = answer_business_offer(&offer, key_exchange(settings));
        let call = CallRecord {
            meta_answer_sdp: Some(answer.clone()),
            biz_opaque_callback_data: opaque,
            actions: vec![ActionLogEntry {
                action: "connect".into(),
                body: body.clone(),
                http_status: 200,
                error_code: None,
            }],
            ..CallRecord::ringing(
                new_id("wacid"),
                pnid,
                origin.display_number,
                &to,
                Direction::BusinessInitiated,
                Some(offer),
            )
        };
        let response = json!({"messaging_product": "whatsapp", "calls": [{"id": call.id}]});
        if let Some(phone) = phone {
            st.phones.insert(call.id.clone(), phone);
        }
        st.insert_call(call.clone());
        (Ok(response), Some((call, answer)))
    }

    fn call_action(
        &self,
        st: &mut SandboxState,
        pnid: &str,
        action: &str,
        call_id: &str,
        body: &Value,
        settings: &Value,
    ) -> GraphResult {
        let call = st
            .calls
            .get(call_id)
            .filter(|c| c.pnid == pnid)
            .cloned()
            .ok_or_else(|| {
                MetaError::invalid_parameter(format!("Invalid call_id: call {call_id} not found"))
            })?;
        let success = json!({"messaging_product": "whatsapp", "success": true});
        let uic_only = |call: &CallRecord| {
            if call.direction == Direction::UserInitiated {
                Ok(())
            } else {
                Err(MetaError::invalid_parameter(format!(
                    "{action} is only valid for user-initiated calls; call {call_id} is business-initiated"
                )))
            }
        };
        match action {
            "pre_accept" | "accept" => {
                uic_only(&call)?;
                if !matches!(call.state, CallState::Ringing | CallState::PreAccepted) {
                    return Err(not_ringing(&call, action));
                }
                let answer = session_sdp(body, action, "answer")?;
                sdp::validate(&answer, key_exchange(settings))
                    .map_err(MetaError::invalid_parameter)?;
                if let Some(pre) = &call.pre_accept_sdp
                    && normalize_sdp(pre) != normalize_sdp(&answer)
                {
                    return Err(MetaError::invalid_parameter(format!(
                        "The SDP sent with {action} must be the same as the SDP sent with pre_accept"
                    )));
                }
                let opaque = if action == "accept" {
                    biz_opaque(body)?
                } else {
                    None
                };
                // Meta now has the business's answer: the user's phone can connect.
                self.answer_reached_phone(st.phones.get(call_id), &answer);
                let rec = st.calls.get_mut(call_id).expect("found above");
                if action == "pre_accept" {
                    rec.pre_accept_sdp = Some(answer);
                    rec.state = CallState::PreAccepted;
                } else {
                    rec.accept_sdp = Some(answer);
                    rec.state = CallState::Accepted;
                    rec.accepted_unix = Some(unix_now());
                    if opaque.is_some() {
                        rec.biz_opaque_callback_data = opaque;
                    }
                }
                Ok(success)
            }
            "reject" => {
                uic_only(&call)?;
                if !matches!(call.state, CallState::Ringing | CallState::PreAccepted) {
                    return Err(not_ringing(&call, action));
                }
                self.end_call(st, call_id, "FAILED", "business_reject", None);
                Ok(success)
            }
            _ => {
                if call.state == CallState::Ended {
                    return Err(not_ringing(&call, action));
                }
                let status = if call.state == CallState::Accepted {
                    "COMPLETED"
                } else {
                    "FAILED"
                };
                self.end_call(st, call_id, status, "business_terminate", None);
                Ok(success)
            }
        }
    }

    fn handle_messages(&self, headers: &HeaderMap, pnid: &str, raw: &[u8]) -> GraphResult {
        self.authorize(headers, pnid)?;
        let body = parse_json(raw)?;
        check_messaging_product(&body)?;
        let to = required_str(&body, "to")?.to_string();
        let kind = required_str(&body, "type")?;
        let mut st = self.lock();
        if kind == "interactive" && body["interactive"]["type"] == "call_permission_request" {
            if body["interactive"]["action"]["name"] != "call_permission_request" {
                return Err(MetaError::invalid_parameter(
                    "interactive.action.name must be \"call_permission_request\"",
                ));
            }
            let now = Instant::now();
            let perm = st.permissions.entry(to.clone()).or_default();
            if perm.effective(now).0 == PermissionKind::Permanent {
                return Err(MetaError::new(
                    138017,
                    "The user has already granted permanent call permission",
                ));
            }
            if UserPermission::count_within(&perm.requests, now, DAY) >= 1
                || UserPermission::count_within(&perm.requests, now, WEEK) >= 2
            {
                return Err(MetaError::new(
                    138009,
                    "Call permission request limit reached for this user",
                ));
            }
            perm.requests.push(now);
        }
        let id = new_id("wamid");
        st.messages.push(SentMessage {
            id: id.clone(),
            pnid: pnid.to_string(),
            to: to.clone(),
            body,
        });
        Ok(json!({
            "messaging_product": "whatsapp",
            "contacts": [{"input": to, "wa_id": to}],
            "messages": [{"id": id}],
        }))
    }

    fn handle_call_permissions(
        &self,
        headers: &HeaderMap,
        pnid: &str,
        user: Option<&String>,
    ) -> GraphResult {
        self.authorize(headers, pnid)?;
        let user = user
            .filter(|u| !u.is_empty())
            .ok_or_else(|| MetaError::new(100, "(#100) The parameter user_wa_id is required."))?;
        let now = Instant::now();
        let mut st = self.lock();
        if let Some(code) = st.take_fault("call_permissions") {
            return Err(MetaError::new(
                code,
                format!("(#{code}) failure injected through the sandbox control API"),
            ));
        }
        let perm = st
            .permissions
            .get(user.as_str())
            .cloned()
            .unwrap_or_default();
        let (kind, expiry) = perm.effective(now);
        let mut permission = json!({"status": kind.as_str()});
        if let Some(exp) = expiry {
            permission["expiration_time"] = json!(instant_to_unix(exp, now));
        }
        let limit = |list: &[Instant], period: &str, window: Duration, max: usize| {
            let used: Vec<&Instant> = list
                .iter()
                .filter(|&&t| now.saturating_duration_since(t) < window)
                .collect();
            let mut l =
                json!({"time_period": period, "max_allowed": max, "current_usage": used.len()});
            if used.len() >= max
                && let Some(oldest) = used.iter().min()
            {
                l["limit_expiration_time"] = json!(instant_to_unix(**oldest + window, now));
            }
            (l, used.len() < max)
        };
        let (req_day, ok_day) = limit(&perm.requests, "PT24H", DAY, 1);
        let (req_week, ok_week) = limit(&perm.requests, "P7D", WEEK, 2);
        let (calls_day, ok_calls) =
            limit(&perm.connected_calls, "PT24H", DAY, CONNECTED_CALLS_PER_DAY);
        let can_request = ok_day && ok_week && kind != PermissionKind::Permanent;
        let can_call = ok_calls && kind != PermissionKind::NoPermission;
        Ok(json!({
            "messaging_product": "whatsapp",
            "permission": permission,
            "actions": [
                {"action_name": "send_call_permission_request", "can_perform_action": can_request,
                 "limits": [req_day, req_week]},
                {"action_name": "start_call", "can_perform_action": can_call, "limits": [calls_day]},
            ],
        }))
    }
}
