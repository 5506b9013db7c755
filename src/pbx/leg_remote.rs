//! The PBX's own requests inside the leg's dialog: BYE (answered 200, reported), re-INVITE
//! and UPDATE (answered 200 here with our media; hold/resume and media moves reported, never
//! forwarded), CANCEL, OPTIONS/INFO (an INFO's DTMF is reported), and 481 for anything
//! outside the dialog.

use std::time::Instant;

use callgate_sip::dialog::{DialogError, RemoteRequest};
use callgate_sip::message;
use callgate_sip::rsip::{Method, Request, Response};
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
            let body = (req.method == Method::Invite)
                .then(|| ("application/sdp", media.reoffer().into_bytes()));
            let resp = d.response(&req, 200, body);
            self.respond(now, &key, resp);
            return;
        }
        let offer = String::from_utf8_lossy(&req.body).into_owned();
        match media.answer(&offer) {
            Ok((sdp, n)) => {
                let resp = d.response(&req, 200, Some(("application/sdp", sdp.into_bytes())));
                self.respond(now, &key, resp);
                if n.remote_hold != self.held {
                    self.held = n.remote_hold;
                    self.events.push_back(PbxEvent::Hold(n.remote_hold));
                } else if self.negotiated.as_ref().is_none_or(|old| {
                    (!n.remote_hold && old.remote != n.remote) || old.codec != n.codec
                }) {
                    self.events.push_back(PbxEvent::MediaChanged(offer));
                }
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
