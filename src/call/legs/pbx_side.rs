//! [`PbxSide`]: one call's SIP leg with its transport inbox and sender: an INVITE we place to
//! the PBX or an agent ([`PbxLeg`], resolving a host-name target first), or a phone's INVITE we
//! answer ([`InboundLeg`]). It sends what the leg returns, turning send failures back into it.

use std::time::Instant;

use callgate_sip::sdp_negotiation::Negotiated;
use callgate_sip::transaction::{Peer, Transmit};

use super::LegsEnv;
use crate::call::PbxRing;
use crate::pbx::{
    CallInbox, InboundLeg, Incoming, PbxError, PbxEvent, PbxLeg, PbxMedia, Refusal, SipSender,
    Target,
};

/// The SIP leg: placed by us or answered by us.
pub(super) enum SipLeg {
    /// Our INVITE to the PBX or an agent (boxed, like the other: both are large).
    Out(Box<PbxLeg>),
    /// A phone's INVITE to a WhatsApp user.
    In(Box<InboundLeg>),
}

/// The SIP leg of one call and its transport handles.
pub(super) struct PbxSide {
    pub leg: SipLeg,
    pub inbox: CallInbox,
    /// False once the transport has stopped delivering (shutdown).
    pub inbox_open: bool,
    sender: SipSender,
}

impl PbxSide {
    /// Sends the INVITE for `ring` to `target`, offering our media on `rtp_port`.
    pub async fn invite(
        env: &LegsEnv,
        target: &str,
        ring: &PbxRing,
        rtp_port: u16,
    ) -> Result<PbxSide, PbxError> {
        let media = PbxMedia::new(env.public_ip, rtp_port, &env.codecs);
        let mut cfg = env.leg_config.clone();
        let t = Target::parse(target)?;
        if t.peer().is_none() {
            cfg.next_hop = Some(resolve(&t).await?);
        }
        let (leg, out) = PbxLeg::invite(Instant::now(), target, ring, media.offer(), &cfg)?;
        let inbox = env.sip.register(leg.call_id());
        let mut side = PbxSide {
            leg: SipLeg::Out(Box::new(leg)),
            inbox,
            inbox_open: true,
            sender: env.sip.sender(),
        };
        side.send(out).await;
        Ok(side)
    }

    /// A phone's leg, already registered with the transport (its 100 Trying sent).
    pub fn inbound(leg: InboundLeg, inbox: CallInbox, sender: SipSender) -> PbxSide {
        PbxSide {
            leg: SipLeg::In(Box::new(leg)),
            inbox,
            inbox_open: true,
            sender,
        }
    }

    /// Sends `out`; a message that cannot be sent is reported to the leg, whose answer (if
    /// any) is sent in turn.
    pub async fn send(&mut self, mut out: Vec<Transmit>) {
        while !out.is_empty() {
            let mut failed = false;
            for t in &out {
                if let Err(e) = self.sender.send_transmit(t).await {
                    tracing::info!(error = %e, "SIP message not sent");
                    failed = true;
                }
            }
            out = if failed {
                let now = Instant::now();
                match &mut self.leg {
                    SipLeg::Out(l) => l.handle_send_error(now),
                    SipLeg::In(l) => l.handle_send_error(now),
                }
            } else {
                Vec::new()
            };
        }
    }

    /// Feeds a message from the transport and sends the answers.
    pub async fn handle(&mut self, incoming: Incoming) {
        let now = Instant::now();
        let out = match &mut self.leg {
            SipLeg::Out(l) => l.handle(now, incoming),
            SipLeg::In(l) => l.handle(now, incoming),
        };
        self.send(out).await;
    }

    /// Advances the leg's timers and sends what they produce.
    pub async fn handle_timeout(&mut self) {
        let now = Instant::now();
        let out = match &mut self.leg {
            SipLeg::Out(l) => l.handle_timeout(now),
            SipLeg::In(l) => l.handle_timeout(now),
        };
        self.send(out).await;
    }

    /// CANCEL (placed leg) or 487 (phone's leg) before an answer; BYE after.
    pub async fn cancel(&mut self) {
        let now = Instant::now();
        let out = match &mut self.leg {
            SipLeg::Out(l) => l.cancel(now),
            SipLeg::In(l) => l.hang_up(now),
        };
        self.send(out).await;
    }

    /// BYE once answered (CANCEL or 487 before).
    pub async fn hang_up(&mut self) {
        let now = Instant::now();
        let out = match &mut self.leg {
            SipLeg::Out(l) => l.hang_up(now),
            SipLeg::In(l) => l.hang_up(now),
        };
        self.send(out).await;
    }

    /// Phone's leg: 180 Ringing.
    pub async fn progress(&mut self) {
        if let SipLeg::In(l) = &mut self.leg {
            let out = l.progress(Instant::now());
            self.send(out).await;
        }
    }

    /// Phone's leg: 200 OK with our SDP.
    pub async fn answer(&mut self) {
        if let SipLeg::In(l) = &mut self.leg {
            let out = l.answer(Instant::now());
            self.send(out).await;
        }
    }

    /// Phone's leg: a final error that says why.
    pub async fn reject(&mut self, status: u16, why: &Refusal) {
        if let SipLeg::In(l) = &mut self.leg {
            let out = l.reject(Instant::now(), status, why);
            self.send(out).await;
        }
    }

    /// When the leg's timer is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.leg {
            SipLeg::Out(l) => l.poll_timeout(),
            SipLeg::In(l) => l.poll_timeout(),
        }
    }

    /// The leg's next event.
    pub fn poll_event(&mut self) -> Option<PbxEvent> {
        match &mut self.leg {
            SipLeg::Out(l) => l.poll_event(),
            SipLeg::In(l) => l.poll_event(),
        }
    }

    /// Whether the leg has nothing left to do.
    pub fn is_done(&self) -> bool {
        match &self.leg {
            SipLeg::Out(l) => l.is_done(),
            SipLeg::In(l) => l.is_done(),
        }
    }

    /// The negotiated media: once answered (placed leg); from the start, or once the ACK
    /// answered our offer when the INVITE had none (phone's leg).
    pub fn negotiated(&self) -> Option<Negotiated> {
        match &self.leg {
            SipLeg::Out(l) => l.negotiated().cloned(),
            SipLeg::In(l) => l.negotiated().cloned(),
        }
    }
}

/// Resolves a target whose host is a name (first address; SRV/NAPTR are not used).
async fn resolve(t: &Target) -> Result<Peer, PbxError> {
    let mut addrs = tokio::net::lookup_host((t.host.as_str(), t.port))
        .await
        .map_err(|_| PbxError::Unresolved(t.host.clone()))?;
    let addr = addrs
        .next()
        .ok_or_else(|| PbxError::Unresolved(t.host.clone()))?;
    Ok(Peer {
        transport: t.transport,
        addr,
    })
}
