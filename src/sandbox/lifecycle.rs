//! What the simulated WhatsApp users and Meta do on their own: a user calls the business, hangs
//! up, picks up or declines a business call; ringing calls expire after the answer window;
//! permissions are granted or revoked (with the `call_permission_reply` webhook).

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use tokio::time::Instant;

use super::media::DEFAULT_TONE_HZ;
use super::phone::AudioSpec;
use super::state::{
    CallRecord, CallState, Direction, PermissionKind, SandboxState, new_id, unix_now,
};
use super::webhooks::{self, PermissionReply};
use super::{Sandbox, SandboxError, callback_permission_enabled, calling_enabled, sip_enabled};

/// How long a temporary permission lasts (7 days).
pub const TEMPORARY_PERMISSION: Duration = Duration::from_secs(7 * 24 * 3600);
/// Business-initiated calls in a row the user leaves unanswered before Meta revokes the permission.
pub const UNANSWERED_REVOKE: u32 = 4;

/// A WhatsApp user calling a business number (body of `POST /sandbox/calls`).
#[derive(Debug, Clone, Deserialize)]
pub struct UserCall {
    /// The caller's wa_id.
    pub from: String,
    /// The business phone number id called.
    pub to_pnid: String,
    /// Meta's offer; default: a fresh Meta-shaped offer.
    #[serde(default)]
    pub offer_sdp: Option<String>,
    /// Set when the call came from a call button carrying a payload.
    #[serde(default)]
    pub cta_payload: Option<String>,
    /// Set when the call came from a deep link carrying a payload.
    #[serde(default)]
    pub deeplink_payload: Option<String>,
    /// The caller's profile name in `contacts[]`.
    #[serde(default)]
    pub contact_name: Option<String>,
    /// Without `offer_sdp`: the simulated phone plays this tone (Hz; default 440).
    #[serde(default)]
    pub tone_hz: Option<f64>,
    /// Without `offer_sdp`: the simulated phone plays this WAV file (looped) instead of a tone.
    #[serde(default)]
    pub wav: Option<PathBuf>,
}

impl UserCall {
    /// A plain call from `from` to `to_pnid` with the default offer.
    pub fn new(from: impl Into<String>, to_pnid: impl Into<String>) -> Self {
        UserCall {
            from: from.into(),
            to_pnid: to_pnid.into(),
            offer_sdp: None,
            cta_payload: None,
            deeplink_payload: None,
            contact_name: None,
            tone_hz: None,
            wav: None,
        }
    }

    /// What the simulated phone plays: the WAV if given, else the tone (default 440 Hz).
    pub fn audio(&self) -> AudioSpec {
        match (&self.wav, self.tone_hz) {
            (Some(path), _) => AudioSpec::Wav(path.clone()),
            (None, hz) => AudioSpec::Tone(hz.unwrap_or(DEFAULT_TONE_HZ)),
        }
    }
}

impl Sandbox {
    /// A WhatsApp user calls: creates the ringing call, sends the `connect` webhook (Meta's offer)
    /// and starts the answer window. Returns the call id. Without `offer_sdp`, a simulated phone
    /// with real media ([`super::phone::MetaPhone`]) makes the offer; the business's `pre_accept`
    /// or `accept` answer is applied to it.
    pub fn simulate_user_call(&self, call: UserCall) -> Result<String, SandboxError> {
        let origin = self
            .origin(&call.to_pnid)
            .ok_or_else(|| SandboxError::UnknownNumber(call.to_pnid.clone()))?;
        let mut st = self.lock();
        let settings = st.settings.get(&call.to_pnid).cloned().unwrap_or_default();
        if sip_enabled(&settings) {
            return Err(SandboxError::SipMode(call.to_pnid));
        }
        if !calling_enabled(&settings) {
            return Err(SandboxError::CallingDisabled(call.to_pnid));
        }
        if st.user_busy(&call.to_pnid, &call.from) {
            return Err(SandboxError::UserBusy(call.from));
        }
        let (offer_sdp, phone) = match call.offer_sdp.clone() {
            Some(sdp) => (sdp, None),
            None => {
                let (phone, sdp) = self.new_offering_phone(call.audio())?;
                (sdp, Some(phone))
            }
        };
        let record = CallRecord {
            cta_payload: call.cta_payload,
            deeplink_payload: call.deeplink_payload,
            ..CallRecord::ringing(
                new_id("wacid"),
                &call.to_pnid,
                origin.display_number,
                &call.from,
                Direction::UserInitiated,
                Some(offer_sdp),
            )
        };
        let now = record.created_unix;
        let id = record.id.clone();
        let name = call.contact_name.as_deref().unwrap_or("Sandbox User");
        let body = webhooks::connect_user_initiated(&origin, &record, name, now);
        if let Some(phone) = phone {
            st.phones.insert(id.clone(), phone);
        }
        st.insert_call(record);
        self.webhooks().send("connect", Some(&id), body);
        // Automatic callback permission (spec 4 (b)) when the number has it enabled.
        if callback_permission_enabled(&settings) {
            let perm = st.permissions.entry(call.from.clone()).or_default();
            if perm.effective(Instant::now()).0 == PermissionKind::NoPermission {
                perm.grant = Some((
                    PermissionKind::Temporary,
                    Some(Instant::now() + TEMPORARY_PERMISSION),
                ));
                let reply = PermissionReply {
                    user: &call.from,
                    accept: true,
                    permanent: false,
                    expiration: Some(now + TEMPORARY_PERMISSION.as_secs()),
                    context_id: Some(&id),
                    source: "automatic",
                };
                let body = webhooks::permission_reply(&origin, &reply, now);
                self.webhooks().send("permission_reply", None, body);
            }
        }
        drop(st);
        self.start_answer_window(&id);
        Ok(id)
    }

    /// The user hangs up: the call ends (`COMPLETED` if it was answered, else `FAILED`) and the
    /// terminate webhook is sent.
    pub fn hangup(&self, call_id: &str) -> Result<(), SandboxError> {
        let mut st = self.lock();
        let call = st
            .calls
            .get(call_id)
            .ok_or_else(|| SandboxError::UnknownCall(call_id.into()))?;
        if call.state == CallState::Ended {
            return Err(SandboxError::AlreadyEnded(call_id.into()));
        }
        let status = if call.state == CallState::Accepted {
            "COMPLETED"
        } else {
            "FAILED"
        };
        self.end_call(&mut st, call_id, status, "user_hangup", None);
        Ok(())
    }

    /// The user picks up a business-initiated call: the phone starts answering (ICE, DTLS,
    /// media), and the `ACCEPTED` status webhook follows once media is up (as on Meta, where it
    /// arrives after media and is for auditing), or after 2 s at the latest.
    pub fn answer(&self, call_id: &str) -> Result<(), SandboxError> {
        let mut st = self.lock();
        let call = ringing_bic(&mut st, call_id)?;
        call.state = CallState::Accepted;
        call.accepted_unix = Some(unix_now());
        let call = call.clone();
        let perm = st.permissions.entry(call.user.clone()).or_default();
        perm.connected_calls.push(Instant::now());
        perm.unanswered_in_a_row = 0;
        let phone = st.phones.get(call_id).cloned();
        drop(st);
        if let Some(p) = &phone {
            let _ = p.pick_up();
        }
        let sandbox = self.clone();
        let id = call_id.to_string();
        tokio::spawn(async move {
            let end = Instant::now() + Duration::from_secs(2);
            while let Some(p) = &phone
                && Instant::now() < end
                && !p.report().await.is_ok_and(|r| r.connected)
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let mut st = sandbox.lock();
            sandbox.send_accepted(&mut st, &id);
        });
        Ok(())
    }

    /// Sends the `ACCEPTED` status of a picked-up call, once.
    fn send_accepted(&self, st: &mut SandboxState, call_id: &str) {
        let Some(call) = st.calls.get_mut(call_id) else {
            return;
        };
        let picked_up_bic =
            call.direction == Direction::BusinessInitiated && call.accepted_unix.is_some();
        if !picked_up_bic || call.accepted_sent {
            return;
        }
        call.accepted_sent = true;
        let call = call.clone();
        if let Some(origin) = self.origin(&call.pnid) {
            let body = webhooks::call_status(&origin, &call, "ACCEPTED", unix_now());
            self.webhooks().send("status:ACCEPTED", Some(call_id), body);
        }
    }

    /// The user declines a business-initiated call: `REJECTED` status, then terminate (`FAILED`).
    pub fn decline(&self, call_id: &str) -> Result<(), SandboxError> {
        let mut st = self.lock();
        let call = ringing_bic(&mut st, call_id)?.clone();
        if let Some(origin) = self.origin(&call.pnid) {
            let body = webhooks::call_status(&origin, &call, "REJECTED", unix_now());
            self.webhooks().send("status:REJECTED", Some(call_id), body);
        }
        self.end_call(&mut st, call_id, "FAILED", "user_declined", None);
        self.count_unanswered(&mut st, &call);
        Ok(())
    }

    /// A business-initiated call ended unanswered or declined: after 4 in a row Meta revokes
    /// the user's permission and says so with an automatic reject reply.
    pub(crate) fn count_unanswered(&self, st: &mut SandboxState, call: &CallRecord) {
        let perm = st.permissions.entry(call.user.clone()).or_default();
        perm.unanswered_in_a_row += 1;
        if perm.unanswered_in_a_row < UNANSWERED_REVOKE
            || perm.effective(Instant::now()).0 == PermissionKind::NoPermission
        {
            return;
        }
        perm.grant = None;
        perm.unanswered_in_a_row = 0;
        if let Some(origin) = self.origin(&call.pnid) {
            let reply = PermissionReply {
                user: &call.user,
                accept: false,
                permanent: false,
                expiration: None,
                context_id: None,
                source: "automatic",
            };
            let body = webhooks::permission_reply(&origin, &reply, unix_now());
            self.webhooks().send("permission_reply", None, body);
        }
    }

    /// Sets a user's permission; with `notify`, sends the `call_permission_reply` webhook the
    /// user's choice would produce (replying to the last permission request, if any).
    pub fn set_permission(
        &self,
        wa_id: &str,
        kind: PermissionKind,
        expires_in: Option<Duration>,
        notify: bool,
    ) {
        let now = Instant::now();
        let expires_in = match kind {
            PermissionKind::Temporary => Some(expires_in.unwrap_or(TEMPORARY_PERMISSION)),
            _ => None,
        };
        let mut st = self.lock();
        let perm = st.permissions.entry(wa_id.to_string()).or_default();
        perm.grant = match kind {
            PermissionKind::NoPermission => None,
            k => Some((k, expires_in.map(|d| now + d))),
        };
        if !notify {
            return;
        }
        let last_request = st
            .messages
            .iter()
            .rev()
            .find(|m| m.to == wa_id && m.body["interactive"]["type"] == "call_permission_request")
            .map(|m| (m.pnid.clone(), m.id.clone()));
        let pnid = last_request
            .as_ref()
            .map(|(p, _)| p.clone())
            .or_else(|| self.config().numbers.first().map(|(p, _)| p.clone()));
        let Some(origin) = pnid.as_deref().and_then(|p| self.origin(p)) else {
            return;
        };
        let ts = unix_now();
        let reply = PermissionReply {
            user: wa_id,
            accept: kind != PermissionKind::NoPermission,
            permanent: kind == PermissionKind::Permanent,
            expiration: expires_in.map(|d| ts + d.as_secs()),
            context_id: last_request.as_ref().map(|(_, id)| id.as_str()),
            source: "user_action",
        };
        let body = webhooks::permission_reply(&origin, &reply, ts);
        self.webhooks().send("permission_reply", None, body);
    }

    /// Ends a call (if not already ended) and sends its terminate webhook.
    pub(crate) fn end_call(
        &self,
        st: &mut SandboxState,
        call_id: &str,
        status: &str,
        reason: &str,
        error: Option<(u32, &str)>,
    ) {
        let Some(call) = st.calls.get_mut(call_id) else {
            return;
        };
        if call.state == CallState::Ended {
            return;
        }
        // A picked-up call ended before its media came up: its ACCEPTED still comes first.
        self.send_accepted(st, call_id);
        let now = unix_now();
        if let Some(phone) = st.phones.get(call_id) {
            phone.hang_up();
        }
        let Some(call) = st.calls.get_mut(call_id) else {
            return;
        };
        call.state = CallState::Ended;
        call.end_status = Some(status.to_string());
        call.end_reason = Some(reason.to_string());
        call.ended_unix = Some(now);
        let call = call.clone();
        if let Some(origin) = self.origin(&call.pnid) {
            let body = webhooks::terminate(&origin, &call, status, now, error);
            self.webhooks().send("terminate", Some(call_id), body);
        }
    }

    /// After the answer window, a call still ringing ends `FAILED`.
    pub(crate) fn start_answer_window(&self, call_id: &str) {
        let sandbox = self.clone();
        let call_id = call_id.to_string();
        let window = self.config().answer_window;
        tokio::spawn(async move {
            tokio::time::sleep(window).await;
            let mut st = sandbox.lock();
            let ringing = st
                .calls
                .get(&call_id)
                .filter(|c| matches!(c.state, CallState::Ringing | CallState::PreAccepted))
                .cloned();
            if let Some(call) = ringing {
                sandbox.end_call(&mut st, &call_id, "FAILED", "answer_window_expired", None);
                if call.direction == Direction::BusinessInitiated {
                    sandbox.count_unanswered(&mut st, &call);
                }
            }
        });
    }

    /// Business call placed: RINGING status and the connect webhook with Meta's answer; optional
    /// automatic pick-up.
    pub(crate) fn after_business_connect(&self, call: &CallRecord, answer_sdp: &str) {
        let Some(origin) = self.origin(&call.pnid) else {
            return;
        };
        let now = unix_now();
        let ringing = webhooks::call_status(&origin, call, "RINGING", now);
        self.webhooks()
            .send("status:RINGING", Some(&call.id), ringing);
        let connect = webhooks::connect_business_initiated(&origin, call, answer_sdp, now);
        self.webhooks().send("connect", Some(&call.id), connect);
        self.start_answer_window(&call.id);
        if let Some(delay) = self.config().bic_auto_answer_after {
            let sandbox = self.clone();
            let id = call.id.clone();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let _ = sandbox.answer(&id);
            });
        }
    }
}

fn ringing_bic<'a>(
    st: &'a mut SandboxState,
    call_id: &str,
) -> Result<&'a mut CallRecord, SandboxError> {
    let call = st
        .calls
        .get_mut(call_id)
        .ok_or_else(|| SandboxError::UnknownCall(call_id.into()))?;
    if call.direction != Direction::BusinessInitiated {
        return Err(SandboxError::WrongDirection(
            call_id.into(),
            "business-initiated",
        ));
    }
    match call.state {
        CallState::Ended => Err(SandboxError::AlreadyEnded(call_id.into())),
        CallState::Ringing => Ok(call),
        _ => Err(SandboxError::NotRinging(call_id.into())),
    }
}
