//! The PBX's own requests inside the leg's dialog: BYE (answered 200, reported), re-INVITE
//! and UPDATE (answered 200 here with our media; hold/resume and media moves reported, never
//! forwarded), CANCEL, OPTIONS/INFO (an INFO's DTMF is reported), and 481 for anything
//! outside the dialog.

use std::time::Instant;

use callgate_sip::dialog::{DialogError, RemoteRequest};
use callgate_sip::message;
use callgate_sip::rsip::{Method, Request, Response};
use callgate_sip::sdp_negotiation::Negotiated;
use callgate_sip::transaction::TransactionKey;

use super::{PbxEvent, PbxLeg, State};
use crate::call::PbxFailure;
use crate::pbx::transport::ALLOW;

impl PbxLeg {
    pub(super) fn respond(&mut self, now: Instant, key: &TransactionKey, resp: Response) {
        if let Err(e) = self.txl.send_response(now, key, resp) {
            tracing::debug!(error = %e, "cannot answer the PBX's request");
        }
    }

    pub(super) fn on_request(&mut self, now: Instant, key: TransactionKey, req: Request) {
        if req.method == Method::Ack {
            self.on_ack(&req);
            return;
        }
        let live = matches!(
            self.state,
            State::Proceeding | State::Answered | State::Cancelling
        );
        let Some(d) = self.dialog.as_mut().filter(|_| live) else {
            let code = if req.method == Method::Bye && self.state == State::Ending {
                200
            } else {
                481
            };
            self.respond(now, &key, message::response_to(&req, code, None, None));
            return;
        };
        if req.method == Method::Cancel {
            // Our answers to the PBX's requests are immediate: nothing left to cancel.
            let code = if d.matches(&req, true) { 200 } else { 481 };
            self.respond(now, &key, message::response_to(&req, code, None, None));
            return;
        }
        let kind = match d.handle_request(&req) {
            Ok(k) => k,
            Err(e) => {
                let code = status_for(&e);
                self.respond(now, &key, message::response_to(&req, code, None, None));
                return;
            }
        };
        match kind {
            RemoteRequest::Bye => {
                let resp = d.response(&req, 200, None);
                self.respond(now, &key, resp);
                if self.state == State::Answered {
                    self.events.push_back(PbxEvent::RemoteHangup);
                } else {
                    self.fail(PbxFailure::Declined);
                }
                self.state = State::Done;
            }
            RemoteRequest::ReInvite | RemoteRequest::Update => self.on_offer(now, key, req),
            _ => {
                let resp = other_request(d, &req);
                self.respond(now, &key, resp);
                self.events.extend(info_digit(&req));
            }
        }
    }

    /// An ACK from the PBX: after its offerless re-INVITE it answers the offer in our 200 OK.
    /// Without a usable answer the media stays as it was.
    fn on_ack(&mut self, ack: &Request) {
        let Some(expected) = self.offer_in_ack else {
            return;
        };
        if message::cseq(ack).ok().map(|(n, _)| n) != Some(expected) {
            return;
        }
        self.offer_in_ack = None;
        let Some(media) = self.media.as_ref() else {
            return;
        };
        let answer = sdp_body(ack)
            .ok_or_else(|| "no SDP".to_string())
            .and_then(|sdp| {
                let n = media.parse_answer(&sdp).map_err(|e| e.to_string())?;
                Ok((n, sdp))
            });
        match answer {
            Ok((n, sdp)) => {
                let update = media_update(&mut self.held, self.negotiated.as_ref(), &n, sdp);
                self.events.extend(update);
                self.negotiated = Some(n);
            }
            Err(why) => tracing::info!(
                call_id = %self.call_id,
                %why,
                "the PBX's ACK did not answer our re-offer: keeping its media as it was"
            ),
        }
    }

    /// A re-INVITE or UPDATE from the PBX: answered here with our media.
    fn on_offer(&mut self, now: Instant, key: TransactionKey, req: Request) {
        let Some(d) = self.dialog.as_ref() else {
            return;
        };
        let Some(media) = self.media.as_mut() else {
            let resp = d.response(&req, 488, None);
            self.respond(now, &key, resp);
            return;
        };
        if req.body.is_empty() {
            // Offerless re-INVITE: our 200 carries a fresh offer, the ACK the answer.
            let body = (req.method == Method::Invite).then(|| {
                self.offer_in_ack = message::cseq(&req).ok().map(|(n, _)| n);
                ("application/sdp", media.reoffer().into_bytes())
            });
            let resp = d.response(&req, 200, body);
            self.respond(now, &key, resp);
            return;
        }
        let offer = String::from_utf8_lossy(&req.body).into_owned();
        match media.answer(&offer) {
            Ok((sdp, n)) => {
                let resp = d.response(&req, 200, Some(("application/sdp", sdp.into_bytes())));
                self.respond(now, &key, resp);
                let update = media_update(&mut self.held, self.negotiated.as_ref(), &n, offer);
                self.events.extend(update);
                self.negotiated = Some(n);
            }
            Err(e) => {
                tracing::info!(call_id = %self.call_id, error = %e, "refusing the PBX's new SDP offer");
                let resp = d.response(&req, 488, None);
                self.respond(now, &key, resp);
            }
        }
    }
}

/// What the peer's new media (after its re-INVITE or UPDATE, or the ACK answering our re-offer)
/// means for the call: hold, resume or a move (`sdp`: its side); `None` for a refresh that
/// changes nothing. Updates `held`.
pub(in crate::pbx) fn media_update(
    held: &mut bool,
    old: Option<&Negotiated>,
    n: &Negotiated,
    sdp: String,
) -> Option<PbxEvent> {
    if n.remote_hold != *held {
        *held = n.remote_hold;
        return Some(PbxEvent::Hold(n.remote_hold));
    }
    old.is_none_or(|old| (!n.remote_hold && old.remote != n.remote) || old.codec != n.codec)
        .then_some(PbxEvent::MediaChanged(sdp))
}

/// The SDP a request carries: its body, unless empty or of another type than
/// `application/sdp` (a body without `Content-Type` counts as SDP).
pub(in crate::pbx) fn sdp_body(req: &Request) -> Option<String> {
    if req.body.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    let is_sdp = message::header_value(req, "Content-Type").is_none_or(|t| {
        t.trim_start()
            .to_ascii_lowercase()
            .starts_with("application/sdp")
    });
    is_sdp.then(|| String::from_utf8_lossy(&req.body).into_owned())
}

/// The status answering an in-dialog request the dialog refused.
pub(in crate::pbx) fn status_for(e: &DialogError) -> u16 {
    match e {
        DialogError::NotThisDialog => 481,
        DialogError::CSeqOutOfOrder { .. } => 500,
        _ => 400,
    }
}

/// The key press of an in-dialog INFO (DTMF as SIP INFO), as an event to relay.
pub(in crate::pbx) fn info_digit(req: &Request) -> Option<PbxEvent> {
    if req.method != Method::Info {
        return None;
    }
    let (digit, duration) = crate::pbx::info_dtmf::digit(req)?;
    Some(PbxEvent::Dtmf { digit, duration })
}

/// The answer to an in-dialog request other than BYE, re-INVITE or UPDATE: 200 to OPTIONS and
/// INFO, 501 to the rest, with our `Allow`.
pub(in crate::pbx) fn other_request(d: &callgate_sip::dialog::Dialog, req: &Request) -> Response {
    let code = if matches!(req.method, Method::Options | Method::Info) {
        200
    } else {
        501
    };
    let mut resp = d.response(req, code, None);
    resp.headers.push(message::raw_header("Allow", ALLOW));
    resp
}
