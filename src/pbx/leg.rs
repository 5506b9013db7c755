//! [`PbxLeg`]: the SIP leg toward the PBX for one call, sans-IO. It places the INVITE, follows
//! provisional and final responses (ACK for 2xx, digest retry on 401/407), reports what the
//! call needs ([`PbxEvent`]), cancels or hangs up on command, and answers the PBX's in-dialog
//! requests itself: BYE, and re-INVITE/UPDATE (hold, resume, session refresh) answered 200
//! with our media, never forwarded anywhere. It owns its own `TransactionLayer` and `Dialog`;
//! the call task feeds it messages and the clock, and sends the [`Transmit`]s it returns.
//!
//! Timing: with no response at all within `[sip] setup_timeout_s` (or on timer B, or when
//! sending fails) the leg fails as [`PbxFailure::Unreachable`] and stops retransmitting.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use callgate_sip::dialog::{self, Dialog};
use callgate_sip::digest::{Credentials, DigestClient};
use callgate_sip::message;
use callgate_sip::rsip::{Method, Request, Response, SipMessage};
use callgate_sip::sdp_negotiation::Negotiated;
use callgate_sip::transaction::{
    Output, Peer, TimerConfig, TransactionEvent, TransactionKey, TransactionLayer, Transmit,
};

use super::PbxError;
use super::invite::{InviteParts, Target, build_invite, local_via};
use super::sdp::PbxMedia;
use super::transport::Incoming;
use crate::call::{PbxFailure, PbxRing};
use crate::config::SipConfig;

/// How the leg talks SIP.
#[derive(Debug, Clone)]
pub struct LegConfig {
    /// Our SIP address as the PBX should see it (Via, Contact, From host): the transport's
    /// bound address, or the public address when `[sip] listen` is a wildcard.
    pub local: SocketAddr,
    /// No response at all to the INVITE within this: the PBX is unreachable.
    pub setup_timeout: Duration,
    /// Digest credentials for when the PBX challenges (401/407); none: a challenge fails the
    /// leg with [`PbxEvent::AuthFailed`].
    pub credentials: Option<Credentials>,
    /// RFC 3261 timers.
    pub timers: TimerConfig,
    /// `User-Agent` header value.
    pub user_agent: String,
    /// Where to send when the target's host is a name (resolved by the caller); ignored for
    /// IP-literal targets.
    pub next_hop: Option<Peer>,
}

impl LegConfig {
    /// From `[sip]` with our advertised address.
    pub fn new(sip: &SipConfig, local: SocketAddr) -> Self {
        Self {
            local,
            setup_timeout: Duration::from_secs(sip.setup_timeout_s.max(1)),
            credentials: sip
                .username
                .clone()
                .zip(sip.password.as_ref())
                .map(|(username, p)| Credentials {
                    username,
                    password: p.expose().to_string(),
                }),
            timers: TimerConfig::default(),
            user_agent: format!("callgate/{}", env!("CARGO_PKG_VERSION")),
            next_hop: None,
        }
    }
}

/// What happened on the PBX leg.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PbxEvent {
    /// 180/183 (any 101-199): the PBX is ringing or playing early media.
    Progress {
        /// Status code.
        status: u16,
        /// SDP of the provisional response, if any.
        early_sdp: Option<String>,
    },
    /// 2xx: the call is answered and ACKed (the body is the PBX's SDP answer; empty if it
    /// sent none).
    Answered {
        /// The PBX's SDP.
        remote_sdp: String,
    },
    /// The INVITE failed; the leg is over.
    Failed(PbxFailure),
    /// The PBX sent BYE (answered 200); the leg is over.
    RemoteHangup,
    /// The PBX put us on hold (`true`) or resumed (`false`) with a re-INVITE/UPDATE, which the
    /// leg answered.
    Hold(bool),
    /// The PBX changed its media (address or codec) with a re-INVITE/UPDATE, which the leg
    /// answered; the new SDP.
    MediaChanged(String),
    /// The PBX challenged and we have no (or wrong) credentials; the leg is over.
    AuthFailed,
    /// The phone cancelled its INVITE before we answered (inbound legs); the leg is over.
    Cancelled,
    /// The phone's ACK answered the SDP offer of our 200 OK (its INVITE had none: delayed
    /// offer); its media is known from now on (inbound legs).
    OfferAnswered,
    /// The phone's ACK carried no usable answer to the SDP offer of our 200 OK (its INVITE had
    /// none), so the call cannot have media; the leg sent BYE (inbound legs). Why, for the
    /// call record.
    MediaFailed(String),
    /// The PBX sent a key press as SIP INFO (answered 200): relay it to WhatsApp.
    Dtmf {
        /// The key.
        digit: char,
        /// How long it was held.
        duration: std::time::Duration,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// INVITE sent, nothing heard.
    Calling,
    /// A provisional response arrived.
    Proceeding,
    /// Cancelled before any response: the INVITE transaction is dropped; late responses are
    /// still handled (1xx: CANCEL, 2xx: ACK and BYE) until the linger deadline.
    Abandoned,
    /// CANCEL sent; waiting for the INVITE's final response.
    Cancelling,
    /// 2xx received and ACKed.
    Answered,
    /// BYE sent; waiting for its response.
    Ending,
    /// Nothing left to do.
    Done,
}

/// The SIP leg toward the PBX (see the module docs).
#[derive(Debug)]
pub struct PbxLeg {
    cfg: LegConfig,
    txl: TransactionLayer,
    peer: Peer,
    call_id: String,
    via: String,
    invite: Request,
    invite_key: TransactionKey,
    dialog: Option<Dialog>,
    ack: Option<(Request, Peer)>,
    media: Option<PbxMedia>,
    negotiated: Option<Negotiated>,
    held: bool,
    /// CSeq of the PBX's offerless re-INVITE whose ACK must answer the offer in our 200 OK.
    offer_in_ack: Option<u32>,
    digest: Option<DigestClient>,
    state: State,
    cancel_sent: bool,
    /// The INVITE client transaction was dropped (abandoned or given up): INVITE responses
    /// are handled without it.
    invite_dropped: bool,
    deadline: Option<Instant>,
    bye: Option<(TransactionKey, Request, Peer)>,
    events: VecDeque<PbxEvent>,
    out: Vec<Transmit>,
}

impl PbxLeg {
    /// Builds and sends the INVITE to `target` (a `sip:` URI; `;transport=tcp` for TCP) for
    /// `ring`, offering `local_sdp_offer` (built by [`PbxMedia::offer`]). Register the leg's
    /// [`Self::call_id`] with the transport before sending the returned messages.
    pub fn invite(
        now: Instant,
        target: &str,
        ring: &PbxRing,
        local_sdp_offer: String,
        cfg: &LegConfig,
    ) -> Result<(PbxLeg, Vec<Transmit>), PbxError> {
        let t = Target::parse(target)?;
        let peer = match (t.peer(), cfg.next_hop) {
            (Some(p), _) => p,
            (None, Some(hop)) => hop,
            (None, None) => return Err(PbxError::Unresolved(t.host)),
        };
        let call_id = message::new_call_id(&cfg.local.ip().to_string());
        let invite = build_invite(
            &InviteParts {
                target,
                local: cfg.local,
                transport: peer.transport,
                call_id: &call_id,
                from_tag: &message::new_tag(),
                branch: &message::new_branch(),
                user_agent: &cfg.user_agent,
                sdp: &local_sdp_offer,
            },
            ring,
        )?;
        let mut txl = TransactionLayer::new(cfg.timers);
        let invite_key = txl
            .send_request(now, invite.clone(), peer)
            .expect("a fresh INVITE has a Via branch and a CSeq");
        let mut leg = PbxLeg {
            cfg: cfg.clone(),
            txl,
            peer,
            call_id,
            via: local_via(cfg.local, peer.transport),
            invite,
            invite_key,
            dialog: None,
            ack: None,
            media: PbxMedia::from_offer(&local_sdp_offer).ok(),
            negotiated: None,
            held: false,
            offer_in_ack: None,
            digest: cfg.credentials.clone().map(DigestClient::new),
            state: State::Calling,
            cancel_sent: false,
            invite_dropped: false,
            deadline: Some(now + cfg.setup_timeout),
            bye: None,
            events: VecDeque::new(),
            out: Vec::new(),
        };
        leg.drain(now);
        let out = std::mem::take(&mut leg.out);
        Ok((leg, out))
    }

    /// The SIP Call-ID of the leg (register it with the transport).
    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    /// Where the INVITE goes.
    pub fn peer(&self) -> Peer {
        self.peer
    }

    /// The negotiated media once answered (or re-negotiated), when our offer came from
    /// [`PbxMedia`].
    pub fn negotiated(&self) -> Option<&Negotiated> {
        self.negotiated.as_ref()
    }

    /// Whether the leg has nothing left to do (failed, hung up, cancelled and settled).
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// A message the transport delivered for this Call-ID.
    pub fn handle(&mut self, now: Instant, incoming: Incoming) -> Vec<Transmit> {
        if self.invite_dropped
            && let SipMessage::Response(resp) = &incoming.message
            && message::cseq(resp).is_ok_and(|(_, m)| m == Method::Invite)
        {
            self.on_abandoned_response(now, resp.clone());
        } else if let Err(e) = self
            .txl
            .handle_message(now, incoming.message, incoming.from)
        {
            tracing::debug!(call_id = %self.call_id, error = %e, "unusable SIP message from the PBX");
        }
        self.drain(now);
        std::mem::take(&mut self.out)
    }

    /// Sending one of our messages failed (TCP connect refused...): an unanswered INVITE
    /// fails as unreachable, a BYE ends the leg.
    pub fn handle_send_error(&mut self, now: Instant) -> Vec<Transmit> {
        if matches!(self.state, State::Calling | State::Abandoned) {
            self.stop_invite();
            if self.state == State::Calling {
                self.fail(PbxFailure::Unreachable);
            }
            self.state = State::Done;
        } else if let Some((key, _, _)) = self.bye.clone() {
            self.txl.handle_transport_error(&key);
        }
        self.drain(now);
        std::mem::take(&mut self.out)
    }

    /// The clock reached [`Self::poll_timeout`].
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<Transmit> {
        if self.deadline.is_some_and(|d| d <= now) {
            self.deadline = None;
            match self.state {
                State::Calling => {
                    tracing::info!(call_id = %self.call_id, peer = %self.peer.addr, "no SIP response within the setup timeout");
                    self.stop_invite();
                    self.fail(PbxFailure::Unreachable);
                    self.state = State::Done;
                }
                State::Abandoned | State::Cancelling => self.state = State::Done,
                _ => {}
            }
        }
        self.txl.handle_timeout(now);
        self.drain(now);
        std::mem::take(&mut self.out)
    }

    /// When [`Self::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.txl.poll_timeout(), self.deadline]
            .into_iter()
            .flatten()
            .min()
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<PbxEvent> {
        self.events.pop_front()
    }

    /// The caller gave up: CANCEL when the PBX has answered provisionally; before any response
    /// the INVITE is abandoned (no more retransmissions; a late 1xx still gets a CANCEL and a
    /// late 2xx an ACK and a BYE); after a 2xx this is [`Self::hang_up`].
    pub fn cancel(&mut self, now: Instant) -> Vec<Transmit> {
        match self.state {
            State::Calling => {
                self.stop_invite();
                self.state = State::Abandoned;
                self.deadline = Some(now + self.cfg.setup_timeout);
            }
            State::Proceeding => self.send_cancel(now),
            State::Answered => return self.hang_up(now),
            _ => {}
        }
        self.drain(now);
        std::mem::take(&mut self.out)
    }

    /// Ends the call: BYE once answered, CANCEL before.
    pub fn hang_up(&mut self, now: Instant) -> Vec<Transmit> {
        match self.state {
            State::Answered => {
                self.send_bye(now);
                self.drain(now);
                std::mem::take(&mut self.out)
            }
            State::Calling | State::Proceeding => self.cancel(now),
            _ => Vec::new(),
        }
    }

    // -----------------------------------------------------------------------------------------

    fn fail(&mut self, f: PbxFailure) {
        self.events.push_back(PbxEvent::Failed(f));
    }

    /// Forgets the INVITE client transaction (stops its retransmissions): a fresh layer,
    /// since nothing else runs before a response.
    fn stop_invite(&mut self) {
        self.invite_dropped = true;
        self.txl = TransactionLayer::new(self.cfg.timers);
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
            TransactionEvent::Response { key, response } => {
                if key == self.invite_key {
                    self.on_invite_response(now, response);
                } else if self.bye.as_ref().is_some_and(|b| b.0 == key) {
                    self.on_bye_response(now, response);
                }
            }
            TransactionEvent::Request { key, request, .. } => self.on_request(now, key, request),
            TransactionEvent::Timeout { key, .. } | TransactionEvent::TransportError { key } => {
                self.on_no_response(&key)
            }
            _ => {}
        }
    }

    fn on_no_response(&mut self, key: &TransactionKey) {
        if *key == self.invite_key {
            match self.state {
                State::Calling | State::Proceeding => {
                    self.fail(PbxFailure::Unreachable);
                    self.state = State::Done;
                }
                State::Cancelling => self.state = State::Done,
                _ => {}
            }
        } else if self.bye.as_ref().is_some_and(|b| &b.0 == key) {
            self.state = State::Done;
        }
    }

    fn on_invite_response(&mut self, now: Instant, resp: Response) {
        let code = resp.status_code.code();
        if self.state == State::Calling {
            self.deadline = None;
            self.state = State::Proceeding;
        }
        match code {
            100..=199 => self.on_provisional(now, resp),
            200..=299 => self.on_success(now, resp),
            _ => self.on_final_failure(now, resp),
        }
    }

    fn on_provisional(&mut self, now: Instant, resp: Response) {
        let code = resp.status_code.code();
        if code > 100
            && message::to_tag(&resp).is_some()
            && self.dialog.as_ref().is_none_or(|d| {
                d.state == dialog::DialogState::Early
                    && Some(&d.remote_tag) != message::to_tag(&resp).as_ref()
            })
        {
            self.dialog = Dialog::uac(&self.invite, &resp, &self.via).ok();
        }
        if self.state == State::Proceeding && code > 100 {
            let early_sdp =
                (!resp.body.is_empty()).then(|| String::from_utf8_lossy(&resp.body).into_owned());
            // Early media: the answer in the 183 is the media until the 2xx says otherwise.
            if let Some(n) = early_sdp
                .as_deref()
                .and_then(|sdp| self.media.as_ref()?.parse_answer(sdp).ok())
            {
                self.negotiated = Some(n);
            }
            self.events.push_back(PbxEvent::Progress {
                status: code,
                early_sdp,
            });
        }
        if self.state == State::Cancelling && !self.cancel_sent {
            self.send_cancel(now);
        }
    }

    fn on_success(&mut self, now: Instant, resp: Response) {
        let tag = message::to_tag(&resp);
        if let Some(d) = &self.dialog
            && d.state != dialog::DialogState::Early
        {
            if Some(&d.remote_tag) == tag.as_ref() {
                // A retransmitted 2xx: the same ACK again.
                if let Some((ack, to)) = self.ack.clone() {
                    self.txl.send_stateless(ack, to);
                }
            } else {
                // A second fork answered: ACK it and hang it up at once.
                self.ack_and_bye_stray(now, &resp);
            }
            return;
        }
        let dialog = match self.dialog.take() {
            Some(mut d) if tag.as_ref() == Some(&d.remote_tag) => d.confirm(Some(&resp)).map(|_| d),
            _ => Dialog::uac(&self.invite, &resp, &self.via),
        };
        let dialog = match dialog {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(call_id = %self.call_id, error = %e, "PBX answered with an unusable 2xx");
                self.fail(PbxFailure::ServerError(502));
                self.state = State::Done;
                return;
            }
        };
        let cseq = message::cseq(&self.invite).map(|c| c.0).unwrap_or(1);
        let to = self.hop(&dialog);
        match dialog.ack(cseq, &message::new_branch(), None) {
            Ok(ack) => {
                self.txl.send_stateless(ack.clone(), to);
                self.ack = Some((ack, to));
            }
            Err(e) => tracing::warn!(call_id = %self.call_id, error = %e, "cannot build ACK"),
        }
        self.dialog = Some(dialog);
        if matches!(self.state, State::Cancelling | State::Abandoned) {
            // The 2xx crossed our CANCEL: the call was wanted no more.
            self.state = State::Answered;
            self.send_bye(now);
            return;
        }
        self.state = State::Answered;
        let remote_sdp = String::from_utf8_lossy(&resp.body).into_owned();
        let answer = self
            .media
            .as_ref()
            .and_then(|m| m.parse_answer(&remote_sdp).ok());
        // A 2xx without SDP keeps the answer of the 183 before it (without 100rel that answer
        // is not binding, but PBXes that send one mean it).
        if answer.is_some() {
            self.negotiated = answer;
        }
        self.events.push_back(PbxEvent::Answered { remote_sdp });
    }

    fn on_final_failure(&mut self, now: Instant, resp: Response) {
        let code = resp.status_code.code();
        let cancelling = matches!(self.state, State::Cancelling | State::Abandoned);
        if matches!(code, 401 | 407) && !cancelling {
            match self.digest.as_mut() {
                Some(d) => {
                    let mut retry = self.invite.clone();
                    match d.authorize(&mut retry, &resp) {
                        Ok(()) => match self.txl.send_request(now, retry.clone(), self.peer) {
                            Ok(key) => {
                                self.invite = retry;
                                self.invite_key = key;
                                self.dialog = None;
                                self.state = State::Calling;
                                self.deadline = Some(now + self.cfg.setup_timeout);
                                return;
                            }
                            Err(e) => tracing::warn!(error = %e, "cannot resend the INVITE"),
                        },
                        Err(e) => {
                            tracing::warn!(call_id = %self.call_id, error = %e, "PBX refused our SIP credentials")
                        }
                    }
                }
                None => tracing::warn!(
                    call_id = %self.call_id,
                    "PBX asks for SIP authentication and no credentials are configured"
                ),
            }
            self.events.push_back(PbxEvent::AuthFailed);
            self.state = State::Done;
            return;
        }
        if !cancelling {
            self.fail(failure_for(code));
        }
        self.state = State::Done;
    }

    /// An INVITE response after the transaction was dropped: the call is not wanted (any
    /// more), so a 1xx gets a CANCEL, a 2xx an ACK and a BYE, an error its ACK.
    fn on_abandoned_response(&mut self, now: Instant, resp: Response) {
        let done = self.state == State::Done;
        match resp.status_code.code() {
            100..=199 => {
                if !self.cancel_sent {
                    self.send_cancel(now);
                    if done {
                        self.state = State::Done;
                    }
                }
            }
            200..=299 if done => {
                if self.ack.is_none() {
                    self.ack_and_bye_stray(now, &resp);
                }
            }
            200..=299 => self.on_success(now, resp),
            _ => {
                let ack = ack_for_non_2xx(&self.invite, &resp);
                self.txl.send_stateless(ack, self.peer);
                self.state = State::Done;
            }
        }
    }

    fn on_bye_response(&mut self, now: Instant, resp: Response) {
        let code = resp.status_code.code();
        if code < 200 {
            return;
        }
        if matches!(code, 401 | 407)
            && let (Some(d), Some((_, bye, to))) = (self.digest.as_mut(), self.bye.clone())
        {
            let mut retry = bye;
            if d.authorize(&mut retry, &resp).is_ok()
                && let Ok(key) = self.txl.send_request(now, retry.clone(), to)
            {
                self.bye = Some((key, retry, to));
                return;
            }
        }
        self.state = State::Done;
    }

    fn send_cancel(&mut self, now: Instant) {
        self.state = State::Cancelling;
        if self.cancel_sent {
            return;
        }
        match dialog::cancel_for(&self.invite) {
            Ok(cancel) => {
                if let Err(e) = self.txl.send_request(now, cancel, self.peer) {
                    tracing::warn!(error = %e, "cannot send CANCEL");
                }
                self.cancel_sent = true;
                // RFC 3261 9.1: give up on a final response after 64*T1.
                self.deadline = Some(now + 64 * self.cfg.timers.t1);
            }
            Err(e) => tracing::warn!(error = %e, "cannot build CANCEL"),
        }
    }

    fn send_bye(&mut self, now: Instant) {
        let Some(mut d) = self.dialog.take() else {
            self.state = State::Done;
            return;
        };
        let to = self.hop(&d);
        match d.new_request(Method::Bye, &message::new_branch(), None) {
            Ok(bye) => match self.txl.send_request(now, bye.clone(), to) {
                Ok(key) => {
                    self.bye = Some((key, bye, to));
                    self.state = State::Ending;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot send BYE");
                    self.state = State::Done;
                }
            },
            Err(e) => {
                tracing::warn!(error = %e, "cannot build BYE");
                self.state = State::Done;
            }
        }
        self.dialog = Some(d);
    }

    fn ack_and_bye_stray(&mut self, now: Instant, resp: &Response) {
        let Ok(mut stray) = Dialog::uac(&self.invite, resp, &self.via) else {
            return;
        };
        let cseq = message::cseq(&self.invite).map(|c| c.0).unwrap_or(1);
        let to = self.hop(&stray);
        if let Ok(ack) = stray.ack(cseq, &message::new_branch(), None) {
            self.txl.send_stateless(ack, to);
        }
        if let Ok(bye) = stray.new_request(Method::Bye, &message::new_branch(), None) {
            let _ = self.txl.send_request(now, bye, to);
        }
    }

    /// Where in-dialog requests go: the first route or the remote target when it is an IP
    /// literal, else where the INVITE went.
    fn hop(&self, d: &Dialog) -> Peer {
        Target::parse(&d.next_hop())
            .ok()
            .and_then(|t| t.peer())
            .map(|mut p| {
                if p.transport != self.peer.transport && !d.next_hop().contains("transport=") {
                    p.transport = self.peer.transport;
                }
                p
            })
            .unwrap_or(self.peer)
    }
}

/// The ACK for a final error response to `invite` (RFC 3261 17.1.1.3), for a response that
/// arrives after the INVITE transaction was dropped. (`callgate_sip` has the same function,
/// but in a private module.)
fn ack_for_non_2xx(invite: &Request, resp: &Response) -> Request {
    use callgate_sip::message::raw_header;
    let mut headers = Vec::new();
    if let Some(via) = message::top_via(invite) {
        headers.push(raw_header("Via", via));
    }
    headers.push(raw_header("Max-Forwards", "70"));
    for (name, from) in [("From", false), ("To", true)] {
        let v = if from {
            message::header_value(resp, name)
        } else {
            message::header_value(invite, name)
        };
        if let Some(v) = v {
            headers.push(raw_header(name, v));
        }
    }
    if let Ok(c) = message::call_id(invite) {
        headers.push(raw_header("Call-ID", c));
    }
    let num = message::cseq(invite).map(|c| c.0).unwrap_or(1);
    headers.push(raw_header("CSeq", format!("{num} ACK")));
    message::build_request(Method::Ack, invite.uri.clone(), headers, Vec::new())
}

/// How a final error status maps to the call's failure kinds.
pub fn failure_for(code: u16) -> PbxFailure {
    match code {
        486 | 600 => PbxFailure::Busy,
        603 => PbxFailure::Declined,
        404 | 484 | 604 => PbxFailure::NotFound,
        408 | 480 => PbxFailure::Timeout,
        500..=599 => PbxFailure::ServerError(code),
        300..=399 => PbxFailure::NotFound,
        _ => PbxFailure::Declined,
    }
}

#[path = "leg_remote.rs"]
pub(super) mod remote;

#[cfg(test)]
#[path = "leg_tests.rs"]
mod tests;
