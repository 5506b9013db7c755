//! The legs' media path, per packet and per frame: WhatsApp audio relayed to the PBX, PBX RTP
//! into the bridge and on to WhatsApp at once, the frame toward WhatsApp (PBX audio, DTMF or
//! comfort silence), RTCP toward the PBX, and what the legs' one timer runs when it fires.

use std::net::SocketAddr;

use serde_json::json;
use tokio::time::Instant;

use super::{FRAME_TICKS_48K, LegOutput, Legs, RTCP_INTERVAL, send_udp};
use crate::media::codec::OPUS_SILENCE_FRAME;
use crate::media::{BridgeIn, DtmfEvent, WaKind};

impl Legs {
    /// The timer fired: runs whatever is due.
    pub(super) async fn on_timer(&mut self, now: Instant, out: &mut Vec<LegOutput>) {
        if let Some(wa) = self.wa.as_mut().filter(|w| w.deadline <= now) {
            wa.leg.handle_timeout(now.into_std());
            self.drain_wa(now, out);
        }
        if self.pbx_deadline.is_some_and(|t| t <= now) {
            if let Some(p) = &mut self.pbx {
                p.handle_timeout().await;
            }
            self.drain_pbx(out);
        }
        if self.clock.take_pbx_slot(now) {
            self.pbx_dtmf_slot();
        }
        if self.clock.due(now) {
            self.ringback_to_pbx();
            self.tick(now);
            self.clock.sent(now, false);
            self.drain_wa(now, out);
        }
        if self.pbx_media.expired(now) {
            let secs = self.pbx_media.timeout().unwrap_or_default().as_secs();
            let detail = format!(
                "no RTP or RTCP from the PBX for {secs} s ([sip] rtp_timeout_s): it is gone \
                 without a BYE (crashed, lost its network, or a NAT dropped its media)"
            );
            tracing::warn!(%detail, "ending the call");
            metrics::counter!("callgate_pbx_rtp_timeouts_total").increment(1);
            out.push(LegOutput::Note(
                "pbx.media_timeout",
                json!({"detail": detail}),
            ));
            out.push(LegOutput::Input(crate::call::Input::MediaFailed {
                reason: detail,
            }));
        }
        if self.ice_grace.is_some_and(|t| t <= now) || self.linger.is_some_and(|t| t <= now) {
            self.on_deadline(now, out);
        }
    }

    pub(super) fn on_wa_audio(&mut self, payload: &[u8], lost: u64) {
        let (Some(b), Some(rtp)) = (&mut self.bridge, &self.rtp) else {
            return;
        };
        let Some(to) = rtp.remote else { return };
        for _ in 0..lost {
            if let Some(d) = b.on_wa_lost() {
                send_udp(&rtp.socket, d, to);
            }
        }
        if let Some(d) = b.on_wa_audio(payload) {
            send_udp(&rtp.socket, d, to);
        }
    }

    /// One frame toward WhatsApp: the bridge's (PBX audio, DTMF or silence) once the PBX
    /// answered, comfort silence before; then RTCP when due.
    fn tick(&mut self, now: Instant) {
        let Some(wa) = &mut self.wa else { return };
        if !wa.leg.is_connected() {
            return;
        }
        let sent = match &mut self.bridge {
            Some(b) => {
                let f = b.tick();
                let diff = i64::from(f.rtp_time.wrapping_sub(self.wa_ts32) as i32);
                let ts = self.wa_ts.wrapping_add_signed(diff);
                match f.kind {
                    WaKind::Dtmf => {
                        wa.leg
                            .send_telephone_event(now.into_std(), f.payload, ts, f.marker)
                    }
                    WaKind::Audio => {
                        self.wa_ts = ts;
                        self.wa_ts32 = f.rtp_time;
                        wa.leg.send_opus(now.into_std(), f.payload, ts)
                    }
                    WaKind::Silence => {
                        self.wa_ts = ts;
                        self.wa_ts32 = f.rtp_time;
                        let payload = silence_or_ringback(&mut self.ringing);
                        wa.leg.send_opus(now.into_std(), payload, ts)
                    }
                }
            }
            None => {
                self.wa_ts += FRAME_TICKS_48K;
                self.wa_ts32 = self.wa_ts32.wrapping_add(FRAME_TICKS_48K as u32);
                let payload = silence_or_ringback(&mut self.ringing);
                wa.leg.send_opus(now.into_std(), payload, self.wa_ts)
            }
        };
        if let Err(e) = sent {
            tracing::debug!(error = %e, "frame to WhatsApp not sent");
        }
        self.send_rtcp(now);
    }

    /// A PBX slot while a WhatsApp digit is relayed: its RFC 4733 packet or in-band tone frame,
    /// unless a WhatsApp frame filled the slot.
    fn pbx_dtmf_slot(&mut self) {
        let Some(b) = &mut self.bridge else {
            self.clock.stop_pbx_slots();
            return;
        };
        if let Some(rtp) = &self.rtp
            && let Some(to) = rtp.remote
            && let Some(d) = b.pbx_dtmf_tick()
        {
            send_udp(&rtp.socket, d, to);
        }
        if !b.pbx_dtmf_active() {
            self.clock.stop_pbx_slots();
        }
    }

    fn send_rtcp(&mut self, now: Instant) {
        let (Some(b), Some(rtp)) = (&mut self.bridge, &self.rtp) else {
            return;
        };
        let Some(remote) = rtp.remote else { return };
        if self.next_rtcp.is_some_and(|t| t > now) || b.pbx_stream().packets() == 0 {
            // The first report waits for our first RTP packet, so it is a sender report whose
            // time the PBX's next receiver report echoes (that gives the round-trip time).
            return;
        }
        self.next_rtcp = Some(now + RTCP_INTERVAL);
        let wallclock = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let mut buf = [0u8; 256];
        if let Ok(n) = b.pbx_rtcp_report(now.into_std(), wallclock, &mut buf) {
            // No rtcp-mux toward the PBX: RTCP goes from our RTP port + 1 to theirs (RFC 3550).
            let to = SocketAddr::new(remote.ip(), remote.port().wrapping_add(1));
            send_udp(&rtp.rtcp, &buf[..n], to);
        }
    }

    /// An RTCP datagram from the PBX (its reports give the PBX leg's round-trip time).
    pub(super) fn on_pbx_rtcp(&mut self, n: usize, now: Instant) {
        let Some(b) = &mut self.bridge else { return };
        self.pbx_media.heard(now);
        if let Err(e) = b.on_pbx_rtcp(&self.rtcp_buf[..n], now.into_std()) {
            tracing::debug!(error = %e, "unreadable RTCP from the PBX");
        }
    }

    pub(super) fn on_pbx_rtp(&mut self, n: usize, now: Instant, out: &mut Vec<LegOutput>) {
        let Some(b) = &mut self.bridge else { return };
        self.pbx_media.heard(now);
        let got = b.on_pbx_rtp(&self.rtp_buf[..n], now.into_std());
        if b.wa_frame_ready() && self.clock.deadline().is_some() {
            // PBX audio or DTMF goes to WhatsApp at once, not at the next clock tick.
            self.tick(now);
            self.clock.sent(now, true);
            self.drain_wa(now, out);
        }
        if let BridgeIn::Dtmf(events) = got {
            for e in events {
                if let DtmfEvent::End(d) = e {
                    out.push(LegOutput::Note(
                        "dtmf.from_pbx",
                        json!({"digit": d.digit.to_string(), "ms": d.duration.as_millis() as u64}),
                    ));
                }
            }
        }
    }
}

/// Comfort silence toward WhatsApp, or the ringback frame when one plays.
fn silence_or_ringback(ringing: &mut Option<super::ringback::Ringing>) -> &[u8] {
    match ringing
        .as_mut()
        .and_then(super::ringback::Ringing::next_for_whatsapp)
    {
        Some(frame) => frame,
        None => &OPUS_SILENCE_FRAME,
    }
}
