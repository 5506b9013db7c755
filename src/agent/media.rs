//! The agent's media for one call: PCMU on its own UDP socket. Every 20 ms it sends a tone
//! frame (tone mode); every packet received is counted, decoded into the call's recording (up
//! to the limit), checked for RFC 4733 digits, and in echo mode sent straight back.

use std::net::SocketAddr;
use std::time::Instant;

use tokio::net::UdpSocket;

use super::{AgentAudio, AgentConfig, Calls, lock};
use crate::media::DtmfEvent;
use crate::media::codec::g711;
use crate::media::dtmf::DtmfReceiver;
use crate::media::rtp::{OutboundStream, RtpPacket};

/// PCMU: 20 ms = 160 samples.
const FRAME: usize = 160;

/// Runs the media of `call_id` until the call has ended.
pub(super) async fn run(
    socket: UdpSocket,
    remote: Option<SocketAddr>,
    te_pt: Option<u8>,
    cfg: AgentConfig,
    call_id: String,
    calls: Calls,
) {
    let limit = (cfg.record_limit.as_millis() as usize) * 8;
    let mut out = OutboundStream::new(rand::random(), rand::random(), rand::random());
    let mut dtmf = DtmfReceiver::new(8000);
    let mut ticker = tokio::time::interval(std::time::Duration::from_millis(20));
    let mut buf = vec![0u8; 2048];
    let mut pcm = [0i16; 1024];
    let mut tx = [0u8; 12 + FRAME];
    let mut phase = 0usize;
    loop {
        tokio::select! {
            r = socket.recv_from(&mut buf) => {
                let Ok((n, from)) = r else { continue };
                let Ok(p) = RtpPacket::parse(&buf[..n]) else { continue };
                let mut calls = lock(&calls);
                let Some(c) = calls.get_mut(&call_id) else { return };
                c.packets_in += 1;
                if p.payload_type == 0 {
                    let k = g711::decode_ulaw(p.payload, &mut pcm);
                    let room = limit.saturating_sub(c.heard.len()).min(k);
                    c.heard.extend_from_slice(&pcm[..room]);
                } else if Some(p.payload_type) == te_pt
                    && let Ok(events) = dtmf.on_packet(p.sequence, p.timestamp, p.payload, Instant::now())
                {
                    for e in events {
                        if let DtmfEvent::End(d) = e {
                            c.digits.push(d.digit);
                        }
                    }
                }
                if cfg.audio == AgentAudio::Echo && socket.try_send_to(&buf[..n], from).is_ok() {
                    c.packets_out += 1;
                }
            }
            _ = ticker.tick() => {
                let mut calls = lock(&calls);
                let Some(c) = calls.get_mut(&call_id) else { return };
                if c.ended {
                    return;
                }
                let (AgentAudio::Tone(hz), Some(to)) = (cfg.audio, remote) else { continue };
                let samples = crate::media::analysis::tone::sine(hz, 8000, 0.5, phase, FRAME);
                phase += FRAME;
                let header = out.audio(0, c.packets_out == 0, FRAME as u32);
                let mut payload = [0u8; FRAME];
                g711::encode_ulaw(&samples, &mut payload);
                if let Ok(len) = header.write(&payload, &mut tx)
                    && socket.try_send_to(&tx[..len], to).is_ok()
                {
                    c.packets_out += 1;
                }
            }
        }
    }
}
