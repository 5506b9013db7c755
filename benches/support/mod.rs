//! The media hot paths of one call, set up once and stepped one packet (or one 20 ms frame) at a
//! time, shared by the criterion benches (`benches/media.rs`, `benches/sip.rs`) and the
//! callgrind instruction counts (`examples/hot_paths.rs`, `benches/callgrind.sh`).
//!
//! Each path is a struct with `prepare()` (untimed work: the peer's side, inputs) and `step()`
//! (exactly what callgate does per packet on that path, nothing else). The WhatsApp leg runs
//! against the load generator's phone ([`LoadPhone`], Meta's SDP shape, ICE-lite) in memory on
//! a virtual clock, so ICE, DTLS and SRTP are real and no socket is involved.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use callgate::loadtest::phone::{LoadPhone, ToneFrames};
use callgate::media::codec::OPUS_SILENCE_FRAME;
use callgate::media::rtp::OutboundStream;
use callgate::media::{Bridge, BridgeConfig, PbxCodec, WaKind};
use callgate::whatsapp_media::{WaEvent, WaLeg, WaLegConfig, WaOutput};
use callgate_sip::message::{self, parse_message};
use callgate_sip::rsip::SipMessage;
use callgate_sip::transaction::{Output, Peer, TimerConfig, TransactionLayer, Transport};

/// One frame.
pub const FRAME: Duration = Duration::from_millis(20);

/// The gateway's WhatsApp leg and a phone, connected (ICE, DTLS, SRTP) in memory.
pub struct Sim {
    pub now: Instant,
    pub gw: WaLeg,
    pub phone: LoadPhone,
    gw_addr: SocketAddr,
    phone_addr: SocketAddr,
    gw_timeout: Instant,
    phone_timeout: Instant,
    to_phone: Vec<Vec<u8>>,
    wa_ts: u64,
}

impl Sim {
    /// A call answered the way callgate answers Meta, run until audio flows both ways.
    pub fn connected() -> Sim {
        let now = Instant::now();
        let gw_addr: SocketAddr = "10.0.0.1:40000".parse().unwrap();
        let phone_addr: SocketAddr = "10.0.0.2:3484".parse().unwrap();
        let tone = Arc::new(ToneFrames::encode(440.0).unwrap());
        let (mut phone, offer) = LoadPhone::offer(now, phone_addr, tone, None, None).unwrap();
        let (gw, answer) = WaLeg::answer(now, &offer, WaLegConfig::new(gw_addr)).unwrap();
        phone.apply_answer(&answer).unwrap();
        let mut sim = Sim {
            now,
            gw,
            phone,
            gw_addr,
            phone_addr,
            gw_timeout: now,
            phone_timeout: now,
            to_phone: Vec::new(),
            wa_ts: 960,
        };
        sim.gw.kick_dtls();
        for _ in 0..5000 {
            sim.advance(Duration::from_millis(1));
            sim.gw_frame(&OPUS_SILENCE_FRAME);
            let sent = !sim.phone_frame().is_empty();
            sim.drain_gw(|_| {});
            sim.deliver_to_phone();
            if sent && sim.gw.is_connected() {
                return sim;
            }
        }
        panic!(
            "the in-memory call did not connect: gateway {}, phone {:?}",
            sim.gw.is_connected(),
            sim.phone.report()
        );
    }

    /// Moves the clock on and runs both sides' due timers.
    pub fn advance(&mut self, by: Duration) {
        self.now += by;
        if self.phone_timeout <= self.now {
            self.phone.handle_timeout(self.now);
        }
        if self.gw_timeout <= self.now {
            self.gw.handle_timeout(self.now);
        }
    }

    /// The phone sends its next frame; returns every datagram it sent toward the gateway.
    pub fn phone_frame(&mut self) -> Vec<Vec<u8>> {
        self.phone.send_frame(self.now);
        let mut out = Vec::new();
        self.phone_timeout = self.phone.poll(|_, d| out.push(d.to_vec()));
        out
    }

    /// The gateway's 20 ms frame toward the phone as the call task sends it: `send_opus`, a
    /// drain, and the timeout str0m asks for if it is already due (the task's next wake-up).
    pub fn gw_frame(&mut self, payload: &[u8]) {
        if self.gw.is_connected() {
            let _ = self.gw.send_opus(self.now, payload, self.wa_ts);
            self.wa_ts += 960;
            self.drain_gw(|_| {});
            if self.gw_timeout <= self.now {
                self.gw.handle_timeout(self.now);
            }
        }
    }

    /// Feeds datagrams from the phone to the gateway.
    pub fn gw_receive(&mut self, datagrams: &[Vec<u8>]) {
        for d in datagrams {
            self.gw.handle_datagram(self.now, self.phone_addr, d);
        }
    }

    /// Drains the gateway: datagrams queue for the phone, events go to `on_event`.
    pub fn drain_gw(&mut self, mut on_event: impl FnMut(WaEvent)) {
        loop {
            match self.gw.poll_output() {
                WaOutput::Transmit { bytes, .. } => self.to_phone.push(bytes),
                WaOutput::Event(e) => on_event(e),
                WaOutput::Timeout(t) => {
                    self.gw_timeout = t;
                    return;
                }
            }
        }
    }

    /// Delivers what the gateway sent to the phone.
    pub fn deliver_to_phone(&mut self) {
        for d in std::mem::take(&mut self.to_phone) {
            self.phone.handle_datagram(self.now, self.gw_addr, &d);
        }
        let mut back = Vec::new();
        self.phone_timeout = self.phone.poll(|_, d| back.push(d.to_vec()));
        self.gw_receive(&back);
    }
}

/// A bridge as callgate builds it for `codec`, with `accept` done.
pub fn bridge(codec: PbxCodec, opus_complexity: i32) -> Bridge {
    let cfg = BridgeConfig {
        pbx_codec: codec,
        opus_complexity,
        ..BridgeConfig::default()
    };
    let mut b = Bridge::with_stream(cfg, OutboundStream::new(1, 1, 1), 960).unwrap();
    b.set_wa_accepted(true);
    b
}

/// WhatsApp -> PBX passthrough: one SRTP datagram in (decrypt, str0m), the Opus frame out as
/// a PBX RTP datagram (header rewrite).
pub struct SrtpToRtp {
    pub sim: Sim,
    pub bridge: Bridge,
    packets: Vec<Vec<u8>>,
}

impl SrtpToRtp {
    pub fn new() -> Self {
        Self {
            sim: Sim::connected(),
            bridge: bridge(PbxCodec::Opus { pt: 111 }, 5),
            packets: Vec::new(),
        }
    }

    /// Untimed: 20 ms pass; the phone's frame is ready for [`Self::step`].
    pub fn prepare(&mut self) {
        self.sim.deliver_to_phone();
        self.sim.advance(FRAME);
        self.packets = self.sim.phone_frame();
    }

    /// Timed: what callgate does with the datagram. Returns the PBX datagram's length.
    pub fn step(&mut self) -> usize {
        let packets = std::mem::take(&mut self.packets);
        self.sim.gw_receive(&packets);
        let mut len = 0;
        let bridge = &mut self.bridge;
        self.sim.drain_gw(|e| {
            if let WaEvent::Audio { payload, .. } = e {
                len += bridge.on_wa_audio(&payload).map_or(0, <[u8]>::len);
            }
        });
        len
    }
}

/// PBX -> WhatsApp passthrough: one PBX RTP datagram in, its Opus frame out as SRTP (the tick).
pub struct RtpToSrtp {
    pub sim: Sim,
    pub bridge: Bridge,
    pbx: OutboundStream,
    datagram: Vec<u8>,
    opus: Vec<u8>,
}

impl RtpToSrtp {
    pub fn new() -> Self {
        let tone = ToneFrames::encode(440.0).unwrap();
        Self {
            sim: Sim::connected(),
            bridge: bridge(PbxCodec::Opus { pt: 111 }, 5),
            pbx: OutboundStream::new(7, 1, 1),
            datagram: vec![0; 1500],
            opus: tone.frame(3).to_vec(),
        }
    }

    /// Untimed: 20 ms pass; the PBX's next datagram is ready.
    pub fn prepare(&mut self) {
        self.sim.deliver_to_phone();
        self.sim.advance(FRAME);
        let h = self.pbx.audio(111, false, 960);
        self.datagram.resize(1500, 0);
        let n = h.write(&self.opus, &mut self.datagram).unwrap();
        self.datagram.truncate(n);
    }

    /// Timed: the datagram through the bridge, the tick's frame through str0m (SRTP).
    pub fn step(&mut self) -> usize {
        let now = self.sim.now;
        self.bridge.on_pbx_rtp(&self.datagram, now);
        let f = self.bridge.tick();
        debug_assert_eq!(f.kind, WaKind::Audio);
        let len = f.payload.len();
        self.sim.gw_frame(f.payload);
        self.sim.drain_gw(|_| {});
        len
    }
}

/// Transcoding, one 20 ms frame each way: WhatsApp Opus -> PBX codec, and PBX codec -> Opus.
pub struct Transcode {
    pub bridge: Bridge,
    codec: PbxCodec,
    wa_frames: ToneFrames,
    n: usize,
    pbx: OutboundStream,
    datagram: Vec<u8>,
    payload: Vec<u8>,
}

impl Transcode {
    /// `codec` is PCMU, PCMA or G.722.
    pub fn new(codec: PbxCodec, opus_complexity: i32) -> Self {
        // A PBX-side payload: the same tone, encoded by a second bridge.
        let mut enc = bridge(codec, opus_complexity);
        let wa_frames = ToneFrames::encode(440.0).unwrap();
        let pbx_datagram = enc.on_wa_audio(wa_frames.frame(10)).unwrap().to_vec();
        let payload = pbx_datagram[12..].to_vec();
        Self {
            bridge: bridge(codec, opus_complexity),
            codec,
            wa_frames,
            n: 0,
            pbx: OutboundStream::new(9, 1, 1),
            datagram: vec![0; 1500],
            payload,
        }
    }

    /// Timed: one WhatsApp Opus frame decoded and re-encoded into a PBX datagram.
    pub fn wa_to_pbx(&mut self) -> usize {
        self.n += 1;
        let frame = self.wa_frames.frame(self.n);
        self.bridge.on_wa_audio(frame).map_or(0, <[u8]>::len)
    }

    /// Untimed: the PBX's next datagram.
    pub fn prepare_pbx(&mut self) {
        let h = self.pbx.audio(self.codec.payload_type(), false, 160);
        self.datagram.resize(1500, 0);
        let n = h.write(&self.payload, &mut self.datagram).unwrap();
        self.datagram.truncate(n);
    }

    /// Timed: one PBX datagram decoded and encoded to Opus for WhatsApp (the tick).
    pub fn pbx_to_wa(&mut self, now: Instant) -> usize {
        self.bridge.on_pbx_rtp(&self.datagram, now);
        self.bridge.tick().payload.len()
    }
}

/// RFC 4733 relaying: one WhatsApp telephone-event report -> one PBX packet, and one PBX
/// telephone-event datagram -> one WhatsApp packet.
pub struct Dtmf {
    pub bridge: Bridge,
    n: u32,
    pbx: OutboundStream,
    datagram: Vec<u8>,
}

impl Dtmf {
    pub fn new() -> Self {
        Self {
            bridge: bridge(PbxCodec::Pcmu, 5),
            n: 0,
            pbx: OutboundStream::new(11, 1, 1),
            datagram: vec![0; 64],
        }
    }

    /// The n-th report of an endless run of 200 ms digits (10 reports each, 3 end reports).
    fn report(n: u32) -> ([u8; 4], u32) {
        let digit = n / 13;
        let k = n % 13;
        let end = k >= 10;
        let duration = (k.min(9) + 1) * 160;
        let payload = [
            (digit % 10) as u8,
            if end { 0x80 | 10 } else { 10 },
            (duration >> 8) as u8,
            duration as u8,
        ];
        (payload, digit * 13 * 160)
    }

    /// Timed: a WhatsApp report relayed toward the PBX.
    pub fn wa_to_pbx(&mut self, now: Instant) -> usize {
        self.n += 1;
        let (payload, ts) = Self::report(self.n);
        self.bridge.on_wa_dtmf(&payload, ts, now);
        self.bridge.pbx_dtmf_tick().map_or(0, <[u8]>::len)
    }

    /// Untimed: the PBX's next telephone-event datagram.
    pub fn prepare_pbx(&mut self) {
        self.n += 1;
        let (payload, ts) = Self::report(self.n);
        let h = self.pbx.stamped(101, self.n.is_multiple_of(13), ts, 160);
        self.datagram.resize(64, 0);
        let n = h.write(&payload, &mut self.datagram).unwrap();
        self.datagram.truncate(n);
    }

    /// Timed: a PBX telephone-event datagram relayed toward WhatsApp (the tick).
    pub fn pbx_to_wa(&mut self, now: Instant) -> usize {
        self.bridge.on_pbx_rtp(&self.datagram, now);
        self.bridge.tick().payload.len()
    }
}

/// Answering Meta's offer (a real captured one) as callgate does before `pre_accept`: SDP
/// workarounds, a str0m `Rtc` with its DTLS instance, the answer SDP.
pub fn answer_meta_offer(now: Instant) -> usize {
    const OFFER: &str = include_str!("../../tests/fixtures/meta-uic-offer-real-2025-10-17.sdp");
    let cfg = WaLegConfig::new("10.0.0.1:40000".parse().unwrap());
    let (_leg, answer) = WaLeg::answer(now, OFFER, cfg).unwrap();
    answer.len()
}

/// The PBX leg's answer: a 200 OK with SDP parsed and run through the INVITE client transaction.
pub struct SipAnswer {
    layer: TransactionLayer,
    ok: Vec<u8>,
    n: u64,
}

const PBX: &str = "192.0.2.10:5060";

impl SipAnswer {
    pub fn new() -> Self {
        Self {
            layer: TransactionLayer::new(TimerConfig::default()),
            ok: Vec::new(),
            n: 0,
        }
    }

    /// Untimed: a fresh INVITE client transaction and the PBX's 200 OK to it.
    pub fn prepare(&mut self, now: Instant) {
        self.n += 1;
        self.layer = TransactionLayer::new(TimerConfig::default());
        let invite = invite(self.n);
        let SipMessage::Request(req) = parse_message(invite.as_bytes()).unwrap() else {
            unreachable!()
        };
        let peer = Peer {
            transport: Transport::Udp,
            addr: PBX.parse().unwrap(),
        };
        self.layer.send_request(now, req.clone(), peer).unwrap();
        while self.layer.poll_output().is_some() {}
        let mut ok = message::response_to(&req, 200, None, Some("pbx-tag-1"));
        message::set_body(&mut ok, "application/sdp", PBX_SDP.as_bytes().to_vec());
        self.ok = message::to_bytes(&ok.into());
    }

    /// Timed: parse the 200 OK, one transaction step, drain the layer. Returns the outputs.
    pub fn step(&mut self, now: Instant) -> usize {
        let peer = Peer {
            transport: Transport::Udp,
            addr: PBX.parse().unwrap(),
        };
        self.layer.handle_bytes(now, &self.ok, peer).unwrap();
        let mut n = 0;
        while let Some(o) = self.layer.poll_output() {
            n += matches!(o, Output::Event(_)) as usize + 1;
        }
        n
    }
}

fn invite(n: u64) -> String {
    let sdp = "v=0\r\no=callgate 1 1 IN IP4 127.0.0.1\r\ns=callgate\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40002 RTP/AVP 111 0 8 9 101\r\na=rtpmap:111 opus/48000/2\r\na=fmtp:111 useinbandfec=1\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:9 G722/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n";
    format!(
        "INVITE sip:agents@192.0.2.10:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-bench-{n};rport\r\nMax-Forwards: 70\r\nFrom: \"16315553602\" <sip:16315553602@127.0.0.1>;tag=cg-{n}\r\nTo: <sip:agents@192.0.2.10>\r\nCall-ID: bench-{n}@127.0.0.1\r\nCSeq: 1 INVITE\r\nContact: <sip:callgate@127.0.0.1:5070>\r\nX-WA-Call-Id: wacid.HBgLMTYzMTU1NTM2MDIVAgARGCA{n}\r\nX-WA-Caller: 16315553602\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
}

const PBX_SDP: &str = "v=0\r\no=- 3891 3892 IN IP4 192.0.2.10\r\ns=pbx\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 12000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n";
