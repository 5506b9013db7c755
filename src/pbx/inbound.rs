//! [`InboundLeg`]: the SIP leg of a call an agent's phone (or the PBX) places through callgate
//! to a WhatsApp user, as UAS, sans-IO. It holds the phone's INVITE (server transaction), our
//! SDP answer prepared from the phone's offer, and on command sends 180 Ringing, the 200 OK with
//! our SDP (retransmitted by the transaction layer until the ACK), a final error with `Reason`,
//! `Warning` and `Retry-After` headers that say why, or a BYE. It answers the phone's requests
//! itself: CANCEL (200, then 487 to the INVITE), BYE (200), re-INVITE/UPDATE (hold, refresh)
//! answered with our media and never forwarded, OPTIONS/INFO.
//!
//! Delayed offer (RFC 3261 13.2.1, Cisco CUCM's default): an INVITE without SDP gets our
//! *offer* in the 200 OK (the 180 carries none: no 100rel), and the phone's ACK carries its
//! answer; the phone's media is known only then ([`PbxEvent::OfferAnswered`]). An ACK without a
//! usable answer ends the call: BYE and [`PbxEvent::MediaFailed`]. A re-INVITE without SDP is
//! answered the same way, its ACK's answer reported like a re-INVITE's offer.

use std::collections::VecDeque;
use std::time::Instant;

use callgate_sip::dialog::{Dialog, RemoteRequest};
use callgate_sip::message::{self, raw_header};
use callgate_sip::rsip::{Method, Request, Response, SipMessage};
use callgate_sip::sdp_negotiation::Negotiated;
use callgate_sip::transaction::{
    Output, Peer, TransactionEvent, TransactionKey, TransactionLayer, Transmit,
};

use super::PbxError;
use super::invite::local_via;
use super::leg::remote::{media_update, sdp_body};
use super::leg::{LegConfig, PbxEvent};
use super::sdp::PbxMedia;
use super::transport::Incoming;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// INVITE received, no final response yet.
    Proceeding,
    /// 200 OK sent; waiting for the ACK.
    Answered,
    /// ACK received.
    Confirmed,
    /// BYE sent; waiting for its response.
    Ending,
    /// Nothing left to do.
    Done,
}

/// Why callgate refuses the phone's call, for the final response's headers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Refusal {
    /// The explanation (`Warning: 399 callgate "<text>"` and `Reason: SIP ;cause=..;text=".."`).
    pub text: String,
    /// Seconds after which the call may succeed (`Retry-After`).
    pub retry_after_s: Option<u64>,
}

/// The phone's leg of a business-initiated call placed from SIP (see the module docs).
#[derive(Debug)]
pub struct InboundLeg {
    txl: TransactionLayer,
    peer: Peer,
    call_id: String,
    invite: Request,
    invite_key: TransactionKey,
    dialog: Dialog,
    media: PbxMedia,
    /// What our 200 OK carries: our answer to the INVITE's offer, or our offer when the INVITE
    /// had none (delayed offer).
    local_sdp: String,
    /// The phone's media: from the INVITE's offer, or from the ACK's answer to ours.
    negotiated: Option<Negotiated>,
    /// The CSeq number of the INVITE whose 200 OK carries our offer: its ACK has the answer.
    offer_in_ack: Option<u32>,
    held: bool,
    state: State,
    bye: Option<TransactionKey>,
    events: VecDeque<PbxEvent>,
    out: Vec<Transmit>,
}

/// An INVITE that cannot become a call, with the status to refuse it.
#[derive(Debug)]
pub struct Unusable {
    /// The SIP status to answer (400, 488).
    pub status: u16,
    /// Why.
    pub error: PbxError,
}

impl InboundLeg {
    /// Takes the phone's INVITE (received from `from`): prepares our answer to its SDP offer with
    /// `media` (our RTP address and codecs), or our offer when the INVITE has no SDP (delayed
    /// offer), and sends 100 Trying. An INVITE whose offer we cannot answer is refused with the
    /// returned status.
    pub fn from_invite(
        now: Instant,
        invite: Request,
        from: Peer,
        mut media: PbxMedia,
        cfg: &LegConfig,
    ) -> Result<(InboundLeg, Vec<Transmit>), Unusable> {
        let bad = |error: PbxError| Unusable { status: 400, error };
        let call_id =
            message::call_id(&invite).map_err(|e| bad(PbxError::LocalOffer(e.to_string())))?;
        let (local_sdp, negotiated) = match sdp_body(&invite) {
            Some(offer) => {
                let (answer, n) = media
                    .answer(&offer)
                    .map_err(|error| Unusable { status: 488, error })?;
                (answer, Some(n))
            }
            None => (media.offer(), None),
        };
        let via = local_via(cfg.local, from.transport);
        let contact = format!("<sip:callgate@{}>", cfg.local);
        let dialog = Dialog::uas(&invite, &message::new_tag(), &contact, &via)
            .map_err(|e| bad(PbxError::LocalOffer(e.to_string())))?;
        let mut txl = TransactionLayer::new(cfg.timers);
        txl.handle_message(now, SipMessage::Request(invite.clone()), from)
            .map_err(|e| bad(PbxError::LocalOffer(e.to_string())))?;
        let mut invite_key = None;
        while let Some(o) = txl.poll_output() {
            if let Output::Event(TransactionEvent::Request { key, .. }) = o {
                invite_key = Some(key);
            }
        }
        let invite_key = invite_key.ok_or_else(|| {
            bad(PbxError::LocalOffer(
                "the INVITE opened no server transaction".into(),
            ))
        })?;
        let mut leg = InboundLeg {
            txl,
            peer: from,
            call_id,
            invite,
            invite_key,
            dialog,
            media,
            local_sdp,
            negotiated,
            offer_in_ack: None,
            held: false,
            state: State::Proceeding,
            bye: None,
            events: VecDeque::new(),
            out: Vec::new(),
        };
        let trying = message::response_to(&leg.invite, 100, None, None);
        leg.respond(now, &leg.invite_key.clone(), trying);
        leg.drain(now);
        let out = std::mem::take(&mut leg.out);
        Ok((leg, out))
    }

    /// The SIP Call-ID (register it with the transport).
    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    /// The phone's media as negotiated (codec, telephone-event, where to send RTP): known from
    /// the INVITE's offer, or once the ACK answered our offer (delayed offer; `None` before).
    pub fn negotiated(&self) -> Option<&Negotiated> {
        self.negotiated.as_ref()
    }

    /// Whether the leg has nothing left to do.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// When [`Self::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.txl.poll_timeout()
    }

    /// The next event: [`PbxEvent::Cancelled`], [`PbxEvent::RemoteHangup`], [`PbxEvent::Hold`],
    /// [`PbxEvent::MediaChanged`], [`PbxEvent::OfferAnswered`], [`PbxEvent::MediaFailed`].
    pub fn poll_event(&mut self) -> Option<PbxEvent> {
        self.events.pop_front()
    }

    /// The WhatsApp user is ringing: 180 Ringing.
    pub fn progress(&mut self, now: Instant) -> Vec<Transmit> {
        if self.state == State::Proceeding {
            let resp = self.dialog.response(&self.invite, 180, None);
            self.respond(now, &self.invite_key.clone(), resp);
        }
        self.finish(now)
    }

    /// The WhatsApp user is connected: 200 OK with our SDP (our offer after a delayed offer:
    /// the ACK must answer it).
    pub fn answer(&mut self, now: Instant) -> Vec<Transmit> {
        if self.state == State::Proceeding {
            if self.negotiated.is_none() {
                self.offer_in_ack = message::cseq(&self.invite).ok().map(|(n, _)| n);
            }
            let body = ("application/sdp", self.local_sdp.clone().into_bytes());
            let resp = self.dialog.response(&self.invite, 200, Some(body));
            self.respond(now, &self.invite_key.clone(), resp);
            let _ = self.dialog.confirm(None);
            self.state = State::Answered;
        }
        self.finish(now)
    }

    /// Refuses the call with `status` and headers saying why.
    pub fn reject(&mut self, now: Instant, status: u16, why: &Refusal) -> Vec<Transmit> {
        if self.state == State::Proceeding {
            let mut resp = self.dialog.response(&self.invite, status, None);
            if !why.text.is_empty() {
                let text = why.text.replace(['"', '\r', '\n'], "'");
                resp.headers.push(raw_header(
                    "Reason",
                    format!("SIP ;cause={status} ;text=\"{text}\""),
                ));
                resp.headers
                    .push(raw_header("Warning", format!("399 callgate \"{text}\"")));
            }
            if let Some(s) = why.retry_after_s {
                resp.headers.push(raw_header("Retry-After", s.to_string()));
            }
            self.respond(now, &self.invite_key.clone(), resp);
            self.state = State::Done;
        }
        self.finish(now)
    }

    /// Ends the call: BYE once answered, 487 before.
    pub fn hang_up(&mut self, now: Instant) -> Vec<Transmit> {
        match self.state {
            State::Proceeding => {
                let resp = self.dialog.response(&self.invite, 487, None);
                self.respond(now, &self.invite_key.clone(), resp);
                self.state = State::Done;
            }
            State::Answered | State::Confirmed => self.send_bye(now),
            _ => {}
        }
        self.finish(now)
    }

    /// A message the transport delivered for this Call-ID.
    pub fn handle(&mut self, now: Instant, incoming: Incoming) -> Vec<Transmit> {
        if let Err(e) = self
            .txl
            .handle_message(now, incoming.message, incoming.from)
        {
            tracing::debug!(call_id = %self.call_id, error = %e, "unusable SIP message from the phone");
        }
        self.finish(now)
    }

    /// The clock reached [`Self::poll_timeout`].
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<Transmit> {
        self.txl.handle_timeout(now);
        self.finish(now)
    }

    /// Sending failed (TCP connection gone): the leg is over.
    pub fn handle_send_error(&mut self, now: Instant) -> Vec<Transmit> {
        if self.state != State::Done {
            self.events.push_back(PbxEvent::RemoteHangup);
            self.state = State::Done;
        }
        self.finish(now)
    }

    // -----------------------------------------------------------------------------------------

    fn finish(&mut self, now: Instant) -> Vec<Transmit> {
        self.drain(now);
        std::mem::take(&mut self.out)
    }

    fn respond(&mut self, now: Instant, key: &TransactionKey, resp: Response) {
        if let Err(e) = self.txl.send_response(now, key, resp) {
            tracing::debug!(call_id = %self.call_id, error = %e, "cannot answer the phone");
        }
    }

    fn send_bye(&mut self, now: Instant) {
        let req = match self
            .dialog
            .new_request(Method::Bye, &message::new_branch(), None)
        {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(call_id = %self.call_id, error = %e, "cannot build the BYE");
                self.state = State::Done;
                return;
            }
        };
        match self.txl.send_request(now, req, self.peer) {
            Ok(key) => {
                self.bye = Some(key);
                self.state = State::Ending;
            }
            Err(e) => {
                tracing::warn!(call_id = %self.call_id, error = %e, "cannot send the BYE");
                self.state = State::Done;
            }
        }
    }

    fn drain(&mut self, now: Instant) {
        while let Some(o) = self.txl.poll_output() {
            match o {
                Output::Transmit(t) => self.out.push(t),
                Output::Event(e) => self.on_event(now, e),
            }
        }
    }

    fn on_event(&mut self, now: Instant, e: TransactionEvent) {
        match e {
            TransactionEvent::Request { key, request, .. } => self.on_request(now, key, request),
            TransactionEvent::Response { key, .. } if Some(&key) == self.bye.as_ref() => {
                self.state = State::Done;
            }
            TransactionEvent::Timeout { key, .. } | TransactionEvent::TransportError { key } => {
                if Some(&key) == self.bye.as_ref() {
                    self.state = State::Done;
                } else if key == self.invite_key && self.state == State::Answered {
                    // Our 200 was never ACKed (64*T1): the phone is gone.
                    tracing::warn!(call_id = %self.call_id, "the phone never ACKed our 200 OK");
                    self.events.push_back(PbxEvent::RemoteHangup);
                    self.send_bye(now);
                }
            }
            _ => {}
        }
    }

    fn on_request(&mut self, now: Instant, key: TransactionKey, req: Request) {
        match req.method {
            Method::Ack => {
                if self.state == State::Answered {
                    self.state = State::Confirmed;
                }
                self.on_ack(now, &req);
                return;
            }
            Method::Cancel => {
                let ok = message::response_to(&req, 200, None, None);
                self.respond(now, &key, ok);
                if self.state == State::Proceeding {
                    let resp = self.dialog.response(&self.invite, 487, None);
                    self.respond(now, &self.invite_key.clone(), resp);
                    self.state = State::Done;
                    self.events.push_back(PbxEvent::Cancelled);
                }
                return;
            }
            _ => {}
        }
        if matches!(self.state, State::Done) {
            let resp = message::response_to(&req, 481, None, None);
            self.respond(now, &key, resp);
            return;
        }
        let kind = match self.dialog.handle_request(&req) {
            Ok(k) => k,
            Err(e) => {
                let code = super::leg::remote::status_for(&e);
                let resp = message::response_to(&req, code, None, None);
                self.respond(now, &key, resp);
                return;
            }
        };
        match kind {
            RemoteRequest::Bye => {
                let resp = self.dialog.response(&req, 200, None);
                self.respond(now, &key, resp);
                self.events.push_back(PbxEvent::RemoteHangup);
                self.state = State::Done;
            }
            RemoteRequest::ReInvite | RemoteRequest::Update => self.on_offer(now, key, req),
            _ => {
                let resp = super::leg::remote::other_request(&self.dialog, &req);
                self.respond(now, &key, resp);
                self.events.extend(super::leg::remote::info_digit(&req));
            }
        }
    }

    /// An ACK from the phone: when it acknowledges a 200 OK that carried our offer, it carries
    /// the phone's answer. Without a usable one the call cannot have media: after the INVITE the
    /// leg sends BYE and reports why; after a re-INVITE the media stays as it was.
    fn on_ack(&mut self, now: Instant, ack: &Request) {
        let Some(expected) = self.offer_in_ack else {
            return;
        };
        let cseq = message::cseq(ack).ok().map(|(n, _)| n);
        if self.state != State::Confirmed || cseq != Some(expected) {
            return;
        }
        self.offer_in_ack = None;
        let answer = match sdp_body(ack) {
            None => Err("the phone's ACK carried no SDP answer to the offer in our 200 OK".into()),
            Some(sdp) => match self.media.parse_answer(&sdp) {
                Ok(n) => Ok((n, sdp)),
                Err(e) => Err(format!(
                    "the phone's SDP answer in its ACK is unusable ({e})"
                )),
            },
        };
        match (answer, self.negotiated.is_some()) {
            (Ok((n, sdp)), true) => self.renegotiated(n, sdp),
            (Ok((n, _)), false) => {
                let hold = n.remote_hold;
                self.negotiated = Some(n);
                self.events.push_back(PbxEvent::OfferAnswered);
                if hold {
                    // Answered on hold: the call starts held.
                    self.held = true;
                    self.events.push_back(PbxEvent::Hold(true));
                }
            }
            (Err(why), true) => {
                tracing::info!(call_id = %self.call_id, %why, "keeping the phone's media as it was");
            }
            (Err(why), false) => {
                let why = format!(
                    "{why}; its INVITE had no SDP (delayed offer), so the ACK must answer our \
                     offer with one of the codecs in [sip] codecs: check the phone's or PBX \
                     trunk's codec settings, or make it send its offer in the INVITE"
                );
                tracing::warn!(call_id = %self.call_id, %why, "hanging up the phone's call");
                self.events.push_back(PbxEvent::MediaFailed(why));
                self.send_bye(now);
            }
        }
    }

    /// A re-INVITE or UPDATE from the phone: answered here with our media (our offer, when it
    /// has no SDP: the ACK of a re-INVITE answers it).
    fn on_offer(&mut self, now: Instant, key: TransactionKey, req: Request) {
        let Some(offer) = sdp_body(&req) else {
            let body = (req.method == Method::Invite).then(|| {
                self.offer_in_ack = message::cseq(&req).ok().map(|(n, _)| n);
                ("application/sdp", self.media.reoffer().into_bytes())
            });
            let resp = self.dialog.response(&req, 200, body);
            self.respond(now, &key, resp);
            return;
        };
        match self.media.answer(&offer) {
            Ok((sdp, n)) => {
                let resp =
                    self.dialog
                        .response(&req, 200, Some(("application/sdp", sdp.into_bytes())));
                self.respond(now, &key, resp);
                self.renegotiated(n, offer);
            }
            Err(e) => {
                tracing::info!(call_id = %self.call_id, error = %e, "refusing the phone's new SDP offer");
                let resp = self.dialog.response(&req, 488, None);
                self.respond(now, &key, resp);
            }
        }
    }

    /// The phone's media after a re-INVITE or UPDATE (`sdp`: its side): hold, resume and moves
    /// reported.
    fn renegotiated(&mut self, n: Negotiated, sdp: String) {
        let update = media_update(&mut self.held, self.negotiated.as_ref(), &n, sdp);
        self.events.extend(update);
        self.negotiated = Some(n);
    }
}

#[cfg(test)]
#[path = "inbound_tests.rs"]
mod tests;
