//! Server transactions (RFC 3261 17.2): INVITE (timers G, H, I; RFC 6026 L; 100 Trying; 2xx
//! retransmitted over UDP until the ACK) and non-INVITE (timer J). Slot use: `retransmit_at` =
//! G (or the 2xx retransmission), `timeout_at` = H (or L after a 2xx), `linger_at` = I/J.

use std::time::{Duration, Instant};

use rsip::Response;

use super::{Ctx, Kind, State, TimeoutKind, Transaction, TransactionError, TransactionEvent};
use crate::message;

/// A new server transaction: the INVITE one answers 100 Trying at once (if configured).
pub(crate) fn start(tx: &mut Transaction, ctx: &mut Ctx<'_>) {
    tx.state = State::Proceeding;
    if tx.kind == Kind::InviteServer {
        if ctx.cfg.send_100_trying {
            let trying = message::response_to(&tx.request, 100, None, None);
            ctx.send(tx.peer, trying.clone());
            tx.last_response = Some(trying);
        }
    } else {
        tx.state = State::Trying;
    }
}

/// The TU sends a response.
pub(crate) fn respond(
    tx: &mut Transaction,
    now: Instant,
    resp: Response,
    ctx: &mut Ctx<'_>,
) -> Result<(), TransactionError> {
    let code = resp.status_code.code();
    let t1 = ctx.cfg.t1;
    match (tx.kind, tx.state) {
        (Kind::InviteServer, State::Proceeding) => {
            ctx.send(tx.peer, resp.clone());
            tx.last_response = Some(resp);
            if (200..300).contains(&code) {
                tx.state = State::Accepted;
                tx.timeout_at = Some(now + 64 * t1); // timer L
                if !tx.reliable() {
                    tx.interval = t1;
                    tx.retransmit_at = Some(now + t1);
                }
            } else if code >= 300 {
                tx.state = State::Completed;
                tx.timeout_at = Some(now + 64 * t1); // timer H
                if !tx.reliable() {
                    tx.interval = t1;
                    tx.retransmit_at = Some(now + t1); // timer G
                }
            }
        }
        (Kind::InviteServer, State::Accepted) if (200..300).contains(&code) => {
            ctx.send(tx.peer, resp.clone());
            tx.last_response = Some(resp);
        }
        (Kind::NonInviteServer, State::Trying | State::Proceeding) => {
            ctx.send(tx.peer, resp.clone());
            tx.last_response = Some(resp);
            if code < 200 {
                tx.state = State::Proceeding;
            } else {
                tx.state = State::Completed;
                let j = if tx.reliable() {
                    Duration::ZERO
                } else {
                    64 * t1
                };
                tx.linger(now, j);
            }
        }
        _ => return Err(TransactionError::InvalidState { status: code }),
    }
    Ok(())
}

/// The request arrived again: resend the last response where the RFC says so.
pub(crate) fn on_retransmission(tx: &mut Transaction, ctx: &mut Ctx<'_>) {
    let resend = match (tx.kind, tx.state) {
        (Kind::InviteServer, State::Proceeding | State::Completed) => true,
        (Kind::NonInviteServer, State::Proceeding | State::Completed) => true,
        // Trying: no response yet; Accepted/Confirmed: absorbed (RFC 6026, RFC 3261 17.2.1).
        _ => false,
    };
    if resend && let Some(r) = tx.last_response.clone() {
        ctx.send(tx.peer, r);
    }
}

/// An ACK matched this INVITE server transaction. Returns whether the TU must see it (the ACK
/// for a 2xx is the TU's business; the ACK for a non-2xx is absorbed here).
pub(crate) fn on_ack(tx: &mut Transaction, now: Instant, ctx: &mut Ctx<'_>) -> bool {
    match tx.state {
        State::Completed => {
            tx.state = State::Confirmed;
            let i = if tx.reliable() {
                Duration::ZERO
            } else {
                ctx.cfg.t4
            };
            tx.linger(now, i);
            false
        }
        State::Accepted => {
            let first = !tx.acked;
            tx.acked = true;
            tx.retransmit_at = None;
            first
        }
        _ => false,
    }
}

/// The earliest timer, due at `deadline`, fired.
pub(crate) fn on_timer(tx: &mut Transaction, deadline: Instant, ctx: &mut Ctx<'_>) {
    if tx.timeout_at == Some(deadline) {
        tx.timeout_at = None;
        if !tx.acked && matches!(tx.state, State::Completed | State::Accepted) {
            ctx.event(TransactionEvent::Timeout {
                key: tx.key.clone(),
                kind: TimeoutKind::NoAck,
            });
        }
        tx.state = State::Terminated;
    } else if tx.linger_at == Some(deadline) {
        tx.linger_at = None;
        tx.state = State::Terminated;
    } else if tx.retransmit_at == Some(deadline) {
        if let Some(r) = tx.last_response.clone() {
            ctx.send(tx.peer, r);
        }
        tx.interval = (tx.interval * 2).min(ctx.cfg.t2);
        tx.retransmit_at = Some(deadline + tx.interval);
    }
}
