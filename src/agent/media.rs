//! The agent's media for one call, on its own UDP socket, in the codec its answer chose. Tone
//! mode: a tone frame every 20 ms. Every packet received is counted, decoded into the call's
//! recording (up to the limit), checked for RFC 4733 digits, shown to the call's [`RtpTap`], and
//! in echo mode sent straight back.

use std::sync::Arc;
use std::time::{Duration, Instant};

use callgate_sip::sdp_negotiation::Negotiated;
use tokio::net::UdpSocket;

use super::codec::AgentCodec;
use super::{AgentAudio, AgentConfig, Calls, lock};
use crate::media::DtmfEvent;
use crate::media::dtmf::DtmfReceiver;
use crate::media::rtp::{OutboundStream, RtpPacket, looks_like_rtcp};

/// 20 ms at 8 kHz.
const FRAME: usize = 160;
/// In echo mode nothing is sent on a clock: the call's end is only looked for this often.
const ECHO_CHECK: Duration = Duration::from_millis(250);

/// Sees one call's RTP with the time it crossed the agent's socket.
pub trait RtpTap: Send + Sync {
    /// An RTP packet arrived from the caller.
    fn received(&self, packet: &RtpPacket<'_>, at: Instant);
    /// An RTP packet carrying `payload` is about to leave for the caller (called before the
    /// send, so that a reply cannot overtake it).
    fn sent(&self, payload: &[u8], at: Instant);
}

/// Runs the media of `call_id` until the call has ended.
pub(super) async fn run(
    socket: UdpSocket,
    negotiated: &Negotiated,
    cfg: AgentConfig,
    call_id: String,
    calls: Calls,
) {
    let remote = negotiated.remote;
    let te_pt = negotiated.telephone_event.map(|t| t.payload_type);
    let pt = negotiated.codec.payload_type;
    let mut codec = AgentCodec::new(negotiated.codec.kind);
    let tap: Option<Arc<dyn RtpTap>> = cfg.taps.as_ref().and_then(|f| {
        let wa_call_id = lock(&calls)
            .get(&call_id)
            .and_then(|c| c.wa_call_id.clone());
        f(wa_call_id.as_deref())
    });
    let limit = (cfg.record_limit.as_millis() as usize) * 8;
    let mut out = OutboundStream::new(rand::random(), rand::random(), rand::random());
    let mut dtmf = DtmfReceiver::new(8000);
    let period = match cfg.audio {
        AgentAudio::Echo => ECHO_CHECK,
        AgentAudio::Tone(_) => Duration::from_millis(20),
    };
    let mut ticker = tokio::time::interval(period);
    let mut buf = vec![0u8; 2048];
    let mut pcm = [0i16; 1024];
    let mut tx = [0u8; 1500];
    let mut payload = [0u8; 1500];
    let mut phase = 0usize;
    loop {
        tokio::select! {
            r = socket.recv_from(&mut buf) => {
                let Ok((n, from)) = r else { continue };
                let at = Instant::now();
                if looks_like_rtcp(&buf[..n]) {
                    continue;
                }
                let Ok(p) = RtpPacket::parse(&buf[..n]) else { continue };
                if let Some(t) = &tap {
                    t.received(&p, at);
                }
                let mut calls = lock(&calls);
                let Some(c) = calls.get_mut(&call_id) else { return };
                c.packets_in += 1;
                if p.payload_type == pt && c.heard.len() < limit {
                    let k = codec.decode(p.payload, &mut pcm);
                    let room = limit.saturating_sub(c.heard.len()).min(k);
                    c.heard.extend_from_slice(&pcm[..room]);
                } else if Some(p.payload_type) == te_pt
                    && let Ok(events) = dtmf.on_packet(p.sequence, p.timestamp, p.payload, at)
                {
                    for e in events {
                        if let DtmfEvent::End(d) = e {
                            c.digits.push(d.digit);
                        }
                    }
                }
                if cfg.audio == AgentAudio::Echo {
                    // Shown to the tap before it leaves: the reply may come back first.
                    if let Some(t) = &tap {
                        t.sent(p.payload, Instant::now());
                    }
                    if socket.try_send_to(&buf[..n], from).is_ok() {
                        c.packets_out += 1;
                    }
                }
            }
            _ = ticker.tick() => {
                let mut calls = lock(&calls);
                let Some(c) = calls.get_mut(&call_id) else { return };
                if c.ended {
                    return;
                }
                let (AgentAudio::Tone(hz), Some(to)) = (cfg.audio, remote) else { continue };
                let Some((len, ticks)) = codec.tone_frame(hz, phase, &mut payload) else { continue };
                phase += FRAME;
                let header = out.audio(pt, c.packets_out == 0, ticks);
                if let Ok(n) = header.write(&payload[..len], &mut tx) {
                    if let Some(t) = &tap {
                        t.sent(&payload[..len], Instant::now());
                    }
                    if socket.try_send_to(&tx[..n], to).is_ok() {
                        c.packets_out += 1;
                    }
                }
            }
        }
    }
}
