//! Client transactions (RFC 3261 17.1): INVITE (timers A, B, D; RFC 6026 M) and non-INVITE
//! (timers E, F, K). Slot use: `retransmit_at` = A/E, `timeout_at` = B/F (or M once a 2xx was
//! accepted), `linger_at` = D/K.

use std::time::Instant;

use rsip::headers::Header;
use rsip::{Method, Request, Response};

use super::{Ctx, Kind, State, TimeoutKind, Transaction, TransactionEvent};
use crate::message::{self, raw_header};

/// Sends the request and arms the timers.
pub(crate) fn start(tx: &mut Transaction, now: Instant, ctx: &mut Ctx<'_>) {
    let t1 = ctx.cfg.t1;
    tx.state = if tx.kind == Kind::InviteClient {
        State::Calling
    } else {
        State::Trying
    };
    ctx.send(tx.peer, tx.request.clone());
    if !tx.reliable() {
        tx.interval = t1;
        tx.retransmit_at = Some(now + t1);
    }
    tx.timeout_at = Some(now + 64 * t1);
}

/// A response whose branch and CSeq method matched this transaction.
pub(crate) fn on_response(tx: &mut Transaction, now: Instant, resp: Response, ctx: &mut Ctx<'_>) {
    let code = resp.status_code.code();
    let key = tx.key.clone();
    match (tx.kind, tx.state) {
        (Kind::InviteClient, State::Calling | State::Proceeding) => {
            tx.retransmit_at = None;
            if code < 200 {
                tx.state = State::Proceeding;
                tx.timeout_at = None; // timer B only runs in Calling
            } else if code < 300 {
                // RFC 6026: Accepted, so 2xx retransmissions still reach the TU for 64*T1.
                tx.state = State::Accepted;
                tx.timeout_at = Some(now + 64 * ctx.cfg.t1);
            } else {
                let ack = ack_for_non_2xx(&tx.request, &resp);
                ctx.send(tx.peer, ack.clone());
                tx.ack = Some(ack);
                tx.state = State::Completed;
                let d = if tx.reliable() {
                    std::time::Duration::ZERO
                } else {
                    std::time::Duration::from_secs(32).max(64 * ctx.cfg.t1 / 2)
                };
                tx.linger(now, d);
            }
            ctx.event(TransactionEvent::Response {
                key,
                response: resp,
            });
        }
        (Kind::InviteClient, State::Accepted) if (200..300).contains(&code) => {
            ctx.event(TransactionEvent::Response {
                key,
                response: resp,
            });
        }
        (Kind::InviteClient, State::Completed) => {
            if code >= 300
                && let Some(ack) = tx.ack.clone()
            {
                ctx.send(tx.peer, ack);
            }
        }
        (Kind::NonInviteClient, State::Trying | State::Proceeding) => {
            if code < 200 {
                tx.state = State::Proceeding;
            } else {
                tx.state = State::Completed;
                let k = if tx.reliable() {
                    std::time::Duration::ZERO
                } else {
                    ctx.cfg.t4
                };
                tx.linger(now, k);
            }
            ctx.event(TransactionEvent::Response {
                key,
                response: resp,
            });
        }
        _ => {}
    }
}

/// The earliest timer, due at `deadline`, fired.
pub(crate) fn on_timer(tx: &mut Transaction, deadline: Instant, ctx: &mut Ctx<'_>) {
    if tx.timeout_at == Some(deadline) {
        tx.timeout_at = None;
        if matches!(tx.state, State::Calling | State::Trying | State::Proceeding) {
            ctx.event(TransactionEvent::Timeout {
                key: tx.key.clone(),
                kind: TimeoutKind::NoResponse,
            });
        }
        tx.state = State::Terminated;
    } else if tx.linger_at == Some(deadline) {
        tx.linger_at = None;
        tx.state = State::Terminated;
    } else if tx.retransmit_at == Some(deadline) {
        ctx.send(tx.peer, tx.request.clone());
        tx.interval = match (tx.kind, tx.state) {
            (Kind::InviteClient, _) => tx.interval * 2,
            (_, State::Proceeding) => ctx.cfg.t2,
            _ => (tx.interval * 2).min(ctx.cfg.t2),
        };
        tx.retransmit_at = Some(deadline + tx.interval);
    }
}

/// The ACK a client INVITE transaction sends for a 3xx-6xx (RFC 3261 17.1.1.3): same
/// Request-URI, Call-ID, From, CSeq number and top Via as the INVITE, To from the response,
/// and the INVITE's Route headers.
pub fn ack_for_non_2xx(invite: &Request, resp: &Response) -> Request {
    let mut headers: Vec<Header> = Vec::new();
    if let Some(via) = message::top_via(invite) {
        headers.push(raw_header("Via", via));
    }
    for route in message::routes(invite) {
        headers.push(raw_header("Route", route));
    }
    headers.push(raw_header("Max-Forwards", "70"));
    if let Some(from) = message::header_value(invite, "From") {
        headers.push(raw_header("From", from));
    }
    if let Some(to) = message::header_value(resp, "To") {
        headers.push(raw_header("To", to));
    }
    if let Ok(call_id) = message::call_id(invite) {
        headers.push(raw_header("Call-ID", call_id));
    }
    let num = message::cseq(invite).map(|c| c.0).unwrap_or(0);
    headers.push(raw_header("CSeq", format!("{num} ACK")));
    message::build_request(Method::Ack, invite.uri.clone(), headers, Vec::new())
}
