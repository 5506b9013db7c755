//! Ringback on the legs (see [`crate::media::ringback`]): a business call's waiting party hears
//! the configured tone while the other one rings, until both are on the line
//! ([`Legs::start_audio`]) or the call ends.
//!
//! - Toward the PBX (`agent_first`: the agent has answered, the user's phone rings): one frame
//!   in the PBX codec per tick of the frame clock, which runs from here on even though the
//!   WhatsApp leg is not up yet. The frames use the PBX stream the bridge takes over later
//!   (one SSRC, continuous sequence and timestamps from ringback to voice).
//! - Toward WhatsApp (`user_first`: the user is on the line, the agent's phone rings): the tone
//!   takes the place of the comfort-silence frames.

use serde_json::json;
use tokio::time::Instant;

use super::{LegOutput, Legs, pbx_codec, send_udp};
use crate::call::RingbackTo;
use crate::media::codec::MAX_OPUS_PACKET;
use crate::media::ringback::Ringback;
use crate::media::rtp::{OutboundStream, RtpHeader};

/// A ringback being played.
pub(super) struct Ringing {
    to: RingbackTo,
    tone: Ringback,
    /// The PBX leg's payload type (toward the PBX).
    pt: u8,
    /// The latest encoded frame.
    frame: Vec<u8>,
}

impl Ringing {
    /// Encodes the next frame; `None` when it could not be.
    fn next(&mut self) -> Option<&[u8]> {
        self.frame.resize(MAX_OPUS_PACKET, 0);
        match self.tone.next_frame(&mut self.frame) {
            Ok(n) => Some(&self.frame[..n]),
            Err(e) => {
                tracing::debug!(error = %e, "ringback frame not encoded");
                None
            }
        }
    }

    /// The next frame toward WhatsApp, if this ringback plays there.
    pub(super) fn next_for_whatsapp(&mut self) -> Option<&[u8]> {
        if self.to != RingbackTo::WhatsApp {
            return None;
        }
        self.next()
    }
}

impl Legs {
    /// BIC: the party on the line hears ringback toward `to` (once; ignored when both parties
    /// are already on the line or the PBX leg has no media yet).
    pub fn start_ringback(&mut self, to: RingbackTo) -> Vec<LegOutput> {
        if self.accepted || self.ringing.as_ref().is_some_and(|r| r.to == to) {
            return Vec::new();
        }
        let (style, complexity) = (self.env.ringback, self.env.opus_complexity);
        let (made, pt) = match to {
            RingbackTo::WhatsApp => (Ringback::for_whatsapp(style, complexity), 0),
            RingbackTo::Pbx => {
                let Some(codec) = self.negotiated().and_then(|n| pbx_codec(&n).ok()) else {
                    return Vec::new();
                };
                let made = Ringback::for_pbx(style, codec, complexity);
                (made, codec.payload_type())
            }
        };
        let side = match to {
            RingbackTo::Pbx => "pbx",
            RingbackTo::WhatsApp => "whatsapp",
        };
        match made {
            Ok(Some(tone)) => {
                self.ringing = Some(Ringing {
                    to,
                    tone,
                    pt,
                    frame: Vec::new(),
                });
                if to == RingbackTo::Pbx {
                    self.clock.start(Instant::now());
                }
                vec![LegOutput::Note("ringback", json!({"to": side}))]
            }
            Ok(None) => Vec::new(),
            Err(e) => vec![LegOutput::Note(
                "ringback.failed",
                json!({"to": side, "detail": e.to_string()}),
            )],
        }
    }

    /// Ends the ringback (both parties are on the line, or the call is over).
    pub(super) fn stop_ringback(&mut self) {
        self.ringing = None;
    }

    /// The clock ticked: the next ringback frame toward the PBX, if one plays.
    pub(super) fn ringback_to_pbx(&mut self) {
        let Some(r) = self.ringing.as_mut().filter(|r| r.to == RingbackTo::Pbx) else {
            return;
        };
        let Some(rtp) = &self.rtp else { return };
        let Some(to) = rtp.remote else { return };
        let (ticks, pt) = (r.tone.frame_ticks(), r.pt);
        let Some(payload) = r.next() else { return };
        if let Some(b) = &mut self.bridge {
            if let Some(d) = b.pbx_ringback(payload, ticks) {
                send_udp(&rtp.socket, d, to);
            }
            return;
        }
        let stream = self.pbx_stream.get_or_insert_with(new_pbx_stream);
        let first = stream.packets() == 0;
        let header = stream.audio(pt, first, ticks);
        let mut datagram = [0u8; RtpHeader::LEN + MAX_OPUS_PACKET];
        if let Ok(len) = header.write(payload, &mut datagram) {
            send_udp(&rtp.socket, &datagram[..len], to);
        }
    }
}

/// A PBX-bound RTP stream with a random SSRC, sequence and timestamp (RFC 3550 section 5.1).
pub(super) fn new_pbx_stream() -> OutboundStream {
    OutboundStream::new(rand::random(), rand::random(), rand::random())
}
