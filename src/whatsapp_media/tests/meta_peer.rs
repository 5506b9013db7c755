//! A Meta-like WebRTC peer for the tests: a str0m `Rtc` configured as the sandbox phone
//! (ICE-lite, Opus 111 and telephone-event/8000 on 126, no RTP header extensions) with one host
//! candidate, whose SDP is reshaped into Meta's (`str0m-meta.md` §1/§3). Like Meta it sends media
//! only after it has received some, and it writes DTMF the libwebrtc way (48 kHz base on the 8 kHz
//! PT).

use std::net::SocketAddr;
use std::time::Instant;

use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::CodecExtra;
use str0m::media::{Direction, Frequency, MediaKind, MediaTime, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};

use crate::sandbox::phone::meta_rtc_config;
use crate::whatsapp_media::dtmf::{DtmfReceiver, DtmfSender};
use crate::whatsapp_media::{WaEvent, normalise_candidates};

/// Meta's Opus fmtp (real 2025-10-17 offer).
const META_FMTP: &str = "a=fmtp:111 maxaveragebitrate=20000;maxplaybackrate=16000;minptime=20;sprop-maxcapturerate=16000;useinbandfec=1";

pub struct MetaPeer {
    pub rtc: Rtc,
    pub addr: SocketAddr,
    mid: Option<Mid>,
    pending: Option<SdpPendingOffer>,
    pub connected_at: Option<Instant>,
    pub audio_in: u64,
    pub audio_out: u64,
    /// Deduplicated DTMF heard: (event, end).
    pub dtmf_in: Vec<(u8, bool)>,
    dtmf_rx: DtmfReceiver,
    pub dtmf_out: DtmfSender,
    ts: u64,
}

impl MetaPeer {
    fn new(now: Instant, addr: SocketAddr) -> MetaPeer {
        let mut rtc = meta_rtc_config().build(now);
        rtc.add_local_candidate(Candidate::host(addr, "udp").unwrap())
            .unwrap();
        MetaPeer {
            rtc,
            addr,
            mid: None,
            pending: None,
            connected_at: None,
            audio_in: 0,
            audio_out: 0,
            dtmf_in: Vec::new(),
            dtmf_rx: DtmfReceiver::default(),
            dtmf_out: DtmfSender::default(),
            ts: 48_000,
        }
    }

    /// UIC: Meta offers. Returns the peer and its offer in Meta's shape (mid `audio`).
    pub fn offering(now: Instant, addr: SocketAddr) -> (MetaPeer, String) {
        let mut p = MetaPeer::new(now, addr);
        let mut api = p.rtc.sdp_api();
        let stream = Some("c3867497-e6f7-4408-82b7-80dbd11b94cf".to_owned());
        let track = Some("WhatsAppTrack1".to_owned());
        let mid = api.add_media(MediaKind::Audio, Direction::SendRecv, stream, track, None);
        let (offer, pending) = api.apply().unwrap();
        p.mid = Some(mid);
        p.pending = Some(pending);
        let text = rename_mid(&offer.to_sdp_string(), &mid.to_string(), "audio");
        let mut out = String::new();
        for line in text.lines() {
            if line.starts_with("a=ice-options:") || line.starts_with("a=extmap-allow-mixed") {
                continue;
            }
            if line.starts_with("a=fmtp:111 ") {
                out.push_str(META_FMTP);
                out.push_str("\r\na=maxptime:20\r\na=ptime:20\r\n");
                continue;
            }
            out.push_str(line);
            out.push_str("\r\n");
        }
        (p, out)
    }

    /// UIC: takes the gateway's answer (mid `audio`, as Meta's own offer said).
    pub fn accept_answer(&mut self, answer: &str) {
        let mid = self.mid.unwrap().to_string();
        let text = rename_mid(answer, "audio", &mid);
        let answer = SdpAnswer::from_sdp_string(&text).unwrap();
        let pending = self.pending.take().unwrap();
        self.rtc.sdp_api().accept_answer(pending, answer).unwrap();
    }

    /// BIC: Meta answers the gateway's offer: `a=ice-lite`, `setup:active` (Meta is DTLS
    /// client), ICE-controlled.
    pub fn answering(now: Instant, addr: SocketAddr, offer: &str) -> (MetaPeer, String) {
        let mut p = MetaPeer::new(now, addr);
        let offer = SdpOffer::from_sdp_string(&normalise_candidates(offer)).unwrap();
        p.rtc.direct_api().start_dtls(true).unwrap();
        let answer = p.rtc.sdp_api().accept_offer(offer).unwrap();
        p.rtc.direct_api().set_ice_controlling(false);
        let text = answer.to_sdp_string();
        p.mid = crate::whatsapp_media::sdp_text::first_mid(&text).map(|m| Mid::from(m.as_str()));
        (p, text)
    }

    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        let r = Receive::new(Protocol::Udp, from, self.addr, bytes).unwrap();
        let input = Input::Receive(now, r);
        if self.rtc.accepts(&input) {
            self.rtc.handle_input(input).unwrap();
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.rtc.handle_input(Input::Timeout(now)).unwrap();
    }

    /// Next output: a datagram to send, or the timeout once drained.
    pub fn poll(&mut self, now: Instant) -> Result<(SocketAddr, Vec<u8>), Instant> {
        loop {
            match self.rtc.poll_output().unwrap() {
                Output::Timeout(t) => return Err(t),
                Output::Transmit(t) => return Ok((t.destination, t.contents.into())),
                Output::Event(Event::Connected) => self.connected_at = Some(now),
                Output::Event(Event::MediaData(d)) => match d.codec_extra {
                    CodecExtra::Tele(t) => {
                        for ev in self.dtmf_rx.on_report(d.time.numer(), &t) {
                            if let WaEvent::Dtmf { event, end, .. } = ev {
                                self.dtmf_in.push((event, end));
                            }
                        }
                    }
                    _ => self.audio_in += 1,
                },
                Output::Event(_) => {}
            }
        }
    }

    /// The 20 ms tick: Meta speaks only once it has heard us.
    pub fn tick(&mut self, now: Instant) {
        let Some(mid) = self.mid else { return };
        if self.connected_at.is_none() || self.audio_in == 0 {
            return;
        }
        let ts = self.ts;
        self.ts += 960;
        let writer = self.rtc.writer(mid).unwrap();
        if let Some(p) = self.dtmf_out.tick(ts) {
            let bytes = p.report.to_bytes(Frequency::EIGHT_KHZ).unwrap().to_vec();
            let t = MediaTime::new(p.rtp_ts, Frequency::EIGHT_KHZ);
            let w = writer.start_of_talkspurt(p.first);
            w.write(126.into(), now, t, bytes).unwrap();
        } else {
            let t = MediaTime::new(ts, Frequency::FORTY_EIGHT_KHZ);
            writer.write(111.into(), now, t, vec![0xfc; 60]).unwrap();
            self.audio_out += 1;
        }
    }
}

/// Renames the media section's mid (its `a=mid:` and `a=group:BUNDLE` lines).
pub fn rename_mid(sdp: &str, from: &str, to: &str) -> String {
    sdp.replace(&format!("a=mid:{from}\r\n"), &format!("a=mid:{to}\r\n"))
        .replace(&format!("a=mid:{from}\n"), &format!("a=mid:{to}\n"))
        .replace(
            &format!("a=group:BUNDLE {from}"),
            &format!("a=group:BUNDLE {to}"),
        )
}

/// Fits a fixture offer to a live peer: the fixture's ICE credentials, fingerprint, IPv4 host
/// candidate and SSRC are swapped for the peer's (from its Meta-shaped `live` offer), everything
/// else (line order, extensions, fmtp, line endings) stays as in the fixture.
pub fn fixture_with_peer(fixture: &str, live: &str, ssrc: Option<u32>) -> String {
    let attr = |sdp: &str, key: &str| -> String {
        sdp.lines()
            .find_map(|l| l.trim_end().strip_prefix(key).map(str::to_owned))
            .unwrap_or_else(|| panic!("no {key}"))
    };
    let ipv4_cand = |sdp: &str| -> (String, String) {
        let line = sdp
            .lines()
            .filter(|l| l.starts_with("a=candidate:"))
            .find(|l| !l.split_whitespace().nth(4).unwrap().contains(':'))
            .unwrap()
            .to_owned();
        let t: Vec<&str> = line.split_whitespace().collect();
        (t[4].to_owned(), t[5].to_owned())
    };
    let mut out = fixture.to_owned();
    for key in ["a=ice-ufrag:", "a=ice-pwd:", "a=fingerprint:"] {
        out = out.replace(&attr(fixture, key), &attr(live, key));
    }
    let (fa, fp) = ipv4_cand(fixture);
    let (la, lp) = ipv4_cand(live);
    out = out.replace(&format!("{fa} {fp} typ"), &format!("{la} {lp} typ"));
    let fixture_ssrc = attr(fixture, "a=ssrc:");
    let fixture_ssrc = fixture_ssrc.split_whitespace().next().unwrap();
    let live_ssrc = attr(live, "a=ssrc:");
    let live_ssrc: u32 = live_ssrc
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let ssrc = ssrc.unwrap_or(live_ssrc);
    out.replace(
        &format!("a=ssrc:{fixture_ssrc} "),
        &format!("a=ssrc:{ssrc} "),
    )
}

/// The SSRC announced in an SDP.
pub fn announced_ssrc(sdp: &str) -> u32 {
    let l = sdp.lines().find_map(|l| l.strip_prefix("a=ssrc:")).unwrap();
    l.split_whitespace().next().unwrap().parse().unwrap()
}
