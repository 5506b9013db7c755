//! The agent's SIP side: one task reads the UDP socket and answers each request by Call-ID:
//! INVITE -> 180, then 200 OK with our SDP after the ring time (retransmitted INVITEs get the
//! last response again); ACK -> nothing; BYE -> 200; CANCEL before the 200 -> 200 and 487;
//! re-INVITE -> 200 with the same SDP; OPTIONS -> 200.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use callgate_sip::message::{self, raw_header};
use callgate_sip::rsip::{Method, Request, SipMessage};
use tokio::net::UdpSocket;

use super::{AgentCall, AgentConfig, Calls, lock, media};
use crate::pbx::PbxMedia;

/// One dialog the agent answers.
struct Dialog {
    invite: Request,
    to_tag: String,
    peer: SocketAddr,
    /// Our SDP answer (also for re-INVITEs).
    answer: String,
    /// The last response to the INVITE, re-sent when the INVITE is retransmitted.
    last: Vec<u8>,
    answered: bool,
    cancelled: bool,
}

type Dialogs = HashMap<String, Arc<Mutex<Dialog>>>;

/// Serves the SIP socket until the task is aborted.
pub(super) async fn serve(socket: Arc<UdpSocket>, cfg: AgentConfig, calls: Calls) {
    let mut dialogs: Dialogs = HashMap::new();
    let mut buf = vec![0u8; 65536];
    loop {
        let Ok((n, from)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        let Ok(SipMessage::Request(req)) = message::parse_message(&buf[..n]) else {
            continue;
        };
        let Ok(call_id) = message::call_id(&req) else {
            continue;
        };
        match req.method {
            Method::Invite => {
                on_invite(&socket, &cfg, &calls, &mut dialogs, call_id, req, from).await;
            }
            Method::Bye => {
                reply(&socket, &req, 200, from).await;
                end_call(&calls, &call_id);
            }
            Method::Cancel => {
                reply(&socket, &req, 200, from).await;
                if let Some(d) = dialogs.get(&call_id) {
                    let terminated = {
                        let mut d = lock_dialog(d);
                        (!d.answered).then(|| {
                            d.cancelled = true;
                            let r = message::response_to(&d.invite, 487, None, Some(&d.to_tag));
                            message::to_bytes(&r.into())
                        })
                    };
                    if let Some(bytes) = terminated {
                        let _ = socket.send_to(&bytes, from).await;
                        end_call(&calls, &call_id);
                    }
                }
            }
            Method::Ack => {}
            _ => reply(&socket, &req, 200, from).await,
        }
    }
}

async fn on_invite(
    socket: &Arc<UdpSocket>,
    cfg: &AgentConfig,
    calls: &Calls,
    dialogs: &mut Dialogs,
    call_id: String,
    req: Request,
    from: SocketAddr,
) {
    if let Some(d) = dialogs.get(&call_id) {
        let (retransmission, bytes) = {
            let d = lock_dialog(d);
            let retransmission = message::cseq(&req).ok() == message::cseq(&d.invite).ok();
            let bytes = if retransmission {
                d.last.clone()
            } else {
                // A re-INVITE (hold, refresh): answer with the same media.
                ok_with_sdp(&req, &d.to_tag, socket, &d.answer)
            };
            (retransmission, bytes)
        };
        let _ = socket.send_to(&bytes, from).await;
        if retransmission {
            tracing::debug!(%call_id, "agent: INVITE retransmission answered again");
        }
        return;
    }
    let rtp = match UdpSocket::bind(SocketAddr::new(cfg.ip, 0)).await {
        Ok(s) => s,
        Err(_) => return reply(socket, &req, 500, from).await,
    };
    let port = rtp.local_addr().map(|a| a.port()).unwrap_or_default();
    let offer = String::from_utf8_lossy(&req.body).into_owned();
    let mut media = PbxMedia::new(cfg.ip, port, &cfg.codecs);
    let Ok((answer, negotiated)) = media.answer(&offer) else {
        return reply(socket, &req, 488, from).await;
    };
    let to_tag = message::new_tag();
    let ringing = message::to_bytes(&message::response_to(&req, 180, None, Some(&to_tag)).into());
    let _ = socket.send_to(&ringing, from).await;
    lock(calls).insert(
        call_id.clone(),
        AgentCall {
            call_id: call_id.clone(),
            from: message::header_value(&req, "From").unwrap_or_default(),
            wa_call_id: message::header_value(&req, "X-WA-Call-Id"),
            ..AgentCall::default()
        },
    );
    let dialog = Arc::new(Mutex::new(Dialog {
        invite: req,
        to_tag,
        peer: from,
        answer,
        last: ringing,
        answered: false,
        cancelled: false,
    }));
    dialogs.insert(call_id.clone(), dialog.clone());

    let (socket, cfg, calls) = (socket.clone(), cfg.clone(), calls.clone());
    tokio::spawn(async move {
        tokio::time::sleep(cfg.ring).await;
        let (bytes, peer) = {
            let mut d = lock_dialog(&dialog);
            if d.cancelled {
                return;
            }
            d.answered = true;
            d.last = ok_with_sdp(&d.invite, &d.to_tag, &socket, &d.answer);
            (d.last.clone(), d.peer)
        };
        let _ = socket.send_to(&bytes, peer).await;
        if let Some(c) = lock(&calls).get_mut(&call_id) {
            c.answered = true;
        }
        media::run(rtp, &negotiated, cfg, call_id, calls).await;
    });
}

/// A 200 OK to `req` carrying our SDP and Contact.
fn ok_with_sdp(req: &Request, to_tag: &str, socket: &UdpSocket, sdp: &str) -> Vec<u8> {
    let mut ok = message::response_to(req, 200, None, Some(to_tag));
    if let Ok(local) = socket.local_addr() {
        ok.headers
            .push(raw_header("Contact", format!("<sip:agent@{local}>")));
    }
    message::set_body(&mut ok, "application/sdp", sdp.as_bytes().to_vec());
    message::to_bytes(&ok.into())
}

async fn reply(socket: &UdpSocket, req: &Request, code: u16, to: SocketAddr) {
    let resp = message::response_to(req, code, None, Some(&message::new_tag()));
    let _ = socket.send_to(&message::to_bytes(&resp.into()), to).await;
}

fn end_call(calls: &Calls, call_id: &str) {
    if let Some(c) = lock(calls).get_mut(call_id) {
        c.ended = true;
    }
}

fn lock_dialog(d: &Mutex<Dialog>) -> std::sync::MutexGuard<'_, Dialog> {
    d.lock().unwrap_or_else(|p| p.into_inner())
}
