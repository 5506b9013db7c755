//! [`PbxSide`]: one call's SIP leg toward the PBX ([`PbxLeg`]) with its transport inbox and
//! sender: places the INVITE (resolving a host name target first) and sends what the leg
//! returns, turning send failures back into the leg.

use std::time::Instant;

use callgate_sip::transaction::{Peer, Transmit};

use super::LegsEnv;
use crate::call::PbxRing;
use crate::pbx::{CallInbox, PbxError, PbxLeg, PbxMedia, SipSender, Target};

/// The PBX leg of one call.
pub(super) struct PbxSide {
    pub leg: PbxLeg,
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
            leg,
            inbox,
            inbox_open: true,
            sender: env.sip.sender(),
        };
        side.send(out).await;
        Ok(side)
    }

    /// Sends `out`; a message that cannot be sent is reported to the leg, whose answer (if
    /// any) is sent in turn.
    pub async fn send(&mut self, mut out: Vec<Transmit>) {
        while !out.is_empty() {
            let mut failed = false;
            for t in &out {
                if let Err(e) = self.sender.send_transmit(t).await {
                    tracing::info!(error = %e, "SIP message to the PBX not sent");
                    failed = true;
                }
            }
            out = if failed {
                self.leg.handle_send_error(Instant::now())
            } else {
                Vec::new()
            };
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
