//! Bridge scenario tests: tones through every chain, DTMF mapping both ways, continuity,
//! the accept gate and comfort silence, stats and RTCP.

use std::time::{Duration, Instant};

use super::*;
use crate::media::analysis::{dominant_frequency, goertzel_power, rms_dbfs, tone::sine};
use crate::media::codec::{G722Decoder, G722Encoder, OPUS_SILENCE_FRAME, OpusDecoder, g711};
use crate::media::dtmf::{DtmfDigit, TelephoneEvent};
use crate::media::rtcp::{ReportBlock, ntp_compact, ntp_from_unix, write_report};
use crate::media::rtp::{RtpHeader, RtpPacket};

const WA_TONE: f64 = 440.0;
const PBX_TONE: f64 = 1000.0;
const FRAMES: usize = 50; // one second
const SETTLE: usize = 10; // codec warm-up frames left out of the analysis

fn config(codec: PbxCodec) -> BridgeConfig {
    BridgeConfig {
        pbx_codec: codec,
        ..BridgeConfig::default()
    }
}

fn bridge(codec: PbxCodec) -> Bridge {
    Bridge::with_stream(
        config(codec),
        OutboundStream::new(0x1111, 65_500, 4_000_000_000),
        90_000,
    )
    .unwrap()
}

/// What WhatsApp sends: a 48 kHz Opus stream of `freq`.
fn wa_opus_frames(freq: f64, frames: usize) -> Vec<Vec<u8>> {
    let mut enc =
        ::opus::Encoder::new(48_000, ::opus::Channels::Mono, ::opus::Application::Voip).unwrap();
    (0..frames)
        .map(|k| {
            let pcm = sine(freq, 48_000, 0.5, k * 960, 960);
            enc.encode_vec(&pcm, 1275).unwrap()
        })
        .collect()
}

/// What the PBX sends: RTP packets of `freq` in `codec`, 20 ms each.
fn pbx_packets(codec: PbxCodec, freq: f64, frames: usize, ssrc: u32, seq0: u16) -> Vec<Vec<u8>> {
    let rate = codec.audio_rate();
    let n = rate as usize / 50;
    let mut g722 = G722Encoder::new();
    (0..frames)
        .map(|k| {
            let pcm = sine(freq, rate, 0.5, k * n, n);
            let mut payload = vec![0u8; n];
            let len = match codec {
                PbxCodec::Pcmu => g711::encode_ulaw(&pcm, &mut payload),
                PbxCodec::Pcma => g711::encode_alaw(&pcm, &mut payload),
                PbxCodec::G722 => g722.encode(&pcm, &mut payload).unwrap(),
                PbxCodec::Opus { .. } => unreachable!("use wa_opus_frames"),
            };
            rtp(
                codec.payload_type(),
                seq0.wrapping_add(k as u16),
                (k as u32) * 160,
                ssrc,
                &payload[..len],
            )
        })
        .collect()
}

fn rtp(pt: u8, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; 12 + payload.len()];
    RtpHeader {
        marker: false,
        payload_type: pt,
        sequence: seq,
        timestamp: ts,
        ssrc,
    }
    .write(payload, &mut buf)
    .unwrap();
    buf
}

/// Decodes what the PBX receives back to PCM at the codec's audio rate.
fn decode_pbx(codec: PbxCodec, packets: &[Vec<u8>]) -> Vec<i16> {
    let mut g722 = G722Decoder::new();
    let mut opus = OpusDecoder::new(48_000).unwrap();
    let mut pcm = Vec::new();
    for d in packets {
        let p = RtpPacket::parse(d).unwrap();
        let mut out = vec![0i16; 5760];
        let n = match codec {
            PbxCodec::Pcmu => g711::decode_ulaw(p.payload, &mut out),
            PbxCodec::Pcma => g711::decode_alaw(p.payload, &mut out),
            PbxCodec::G722 => g722.decode(p.payload, &mut out).unwrap(),
            PbxCodec::Opus { .. } => opus.decode(p.payload, &mut out).unwrap(),
        };
        pcm.extend_from_slice(&out[..n]);
    }
    pcm
}

/// Decodes what WhatsApp receives (Opus) at 48 kHz.
fn decode_wa(frames: &[Vec<u8>]) -> Vec<i16> {
    let mut dec = OpusDecoder::new(48_000).unwrap();
    let mut pcm = Vec::new();
    for f in frames {
        let mut out = [0i16; 5760];
        let n = dec.decode(f, &mut out).unwrap();
        pcm.extend_from_slice(&out[..n]);
    }
    pcm
}

fn assert_tone(pcm: &[i16], rate: u32, freq: f64) {
    let f = dominant_frequency(pcm, rate).expect("audio, not silence");
    assert!((f - freq).abs() <= 10.0, "dominant {f} Hz, want {freq} Hz");
    let level = rms_dbfs(pcm);
    // the input is a -9 dBFS sine; allow codec gain error
    assert!((-13.0..=-6.0).contains(&level), "level {level} dBFS");
}

fn wa_to_pbx(codec: PbxCodec) -> Vec<Vec<u8>> {
    let mut b = bridge(codec);
    let out: Vec<Vec<u8>> = wa_opus_frames(WA_TONE, FRAMES)
        .iter()
        .map(|f| {
            b.on_wa_audio(f)
                .expect("one PBX packet per WA frame")
                .to_vec()
        })
        .collect();
    for (k, d) in out.iter().enumerate() {
        let p = RtpPacket::parse(d).unwrap();
        assert_eq!(p.payload_type, codec.payload_type());
        assert_eq!(p.ssrc, 0x1111);
        assert_eq!(p.sequence, 65_500u16.wrapping_add(k as u16));
        let ts = 4_000_000_000u32.wrapping_add(k as u32 * codec.frame_ticks());
        assert_eq!(p.timestamp, ts);
        assert_eq!(p.marker, k == 0);
    }
    out
}

fn check_wa_to_pbx(codec: PbxCodec) {
    let out = wa_to_pbx(codec);
    let pcm = decode_pbx(codec, &out[SETTLE..]);
    assert_eq!(
        pcm.len(),
        (FRAMES - SETTLE) * codec.audio_rate() as usize / 50
    );
    assert_tone(&pcm, codec.audio_rate(), WA_TONE);
}

fn pbx_to_wa(codec: PbxCodec, inputs: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut b = bridge(codec);
    b.set_wa_accepted(true);
    let t0 = Instant::now();
    let mut frames = Vec::new();
    for (k, d) in inputs.iter().enumerate() {
        let now = t0 + Duration::from_millis(20 * k as u64);
        assert_eq!(b.on_pbx_rtp(d, now), BridgeIn::Audio);
        let f = b.tick();
        assert_eq!(f.kind, WaKind::Audio, "frame {k}");
        assert_eq!(f.payload_type, 111);
        assert_eq!(f.rtp_time, 90_000 + 960 * k as u32);
        frames.push(f.payload.to_vec());
    }
    frames
}

fn check_pbx_to_wa(codec: PbxCodec) {
    let inputs = pbx_packets(codec, PBX_TONE, FRAMES, 0xAB, 7);
    let frames = pbx_to_wa(codec, &inputs);
    assert_tone(&decode_wa(&frames[SETTLE..]), 48_000, PBX_TONE);
}

#[test]
fn opus_to_pcmu_keeps_440_hz() {
    check_wa_to_pbx(PbxCodec::Pcmu);
}

#[test]
fn opus_to_pcma_keeps_440_hz() {
    check_wa_to_pbx(PbxCodec::Pcma);
}

#[test]
fn opus_to_g722_keeps_440_hz_at_16k_on_an_8000_clock() {
    check_wa_to_pbx(PbxCodec::G722);
}

#[test]
fn pcmu_to_opus_keeps_1000_hz() {
    check_pbx_to_wa(PbxCodec::Pcmu);
}

#[test]
fn pcma_to_opus_keeps_1000_hz() {
    check_pbx_to_wa(PbxCodec::Pcma);
}

#[test]
fn g722_to_opus_keeps_1000_hz() {
    check_pbx_to_wa(PbxCodec::G722);
}

#[test]
fn opus_passthrough_forwards_frames_unchanged_both_ways() {
    let codec = PbxCodec::Opus { pt: 96 };
    let wa = wa_opus_frames(WA_TONE, FRAMES);
    let out = wa_to_pbx(codec);
    for (sent, got) in wa.iter().zip(&out) {
        assert_eq!(RtpPacket::parse(got).unwrap().payload, &sent[..]);
    }
    assert_tone(&decode_pbx(codec, &out[SETTLE..]), 48_000, WA_TONE);

    let pbx_side = wa_opus_frames(PBX_TONE, FRAMES);
    let inputs: Vec<_> = pbx_side
        .iter()
        .enumerate()
        .map(|(k, f)| rtp(96, k as u16, k as u32 * 960, 5, f))
        .collect();
    let frames = pbx_to_wa(codec, &inputs);
    assert_eq!(frames, pbx_side);
    assert_tone(&decode_wa(&frames[SETTLE..]), 48_000, PBX_TONE);
}

#[test]
fn no_pbx_audio_reaches_whatsapp_before_accept() {
    let mut b = bridge(PbxCodec::Pcmu);
    let inputs = pbx_packets(PbxCodec::Pcmu, PBX_TONE, 20, 1, 0);
    let t0 = Instant::now();
    for (k, d) in inputs.iter().enumerate().take(10) {
        b.on_pbx_rtp(d, t0 + Duration::from_millis(20 * k as u64));
        let f = b.tick();
        assert_eq!(
            (f.kind, f.payload),
            (WaKind::Silence, &OPUS_SILENCE_FRAME[..])
        );
    }
    b.set_wa_accepted(true);
    // nothing buffered from before the accept leaks out
    assert_eq!(b.tick().kind, WaKind::Silence);
    b.on_pbx_rtp(&inputs[10], t0 + Duration::from_millis(200));
    assert_eq!(b.tick().kind, WaKind::Audio);
}

#[test]
fn tick_without_pbx_audio_sends_comfort_silence_also_on_hold() {
    let mut b = bridge(PbxCodec::Pcma);
    b.set_wa_accepted(true);
    let first = b.tick();
    assert_eq!((first.kind, first.rtp_time), (WaKind::Silence, 90_000));
    assert_eq!(first.payload, &OPUS_SILENCE_FRAME);
    let inputs = pbx_packets(PbxCodec::Pcma, PBX_TONE, 3, 1, 0);
    let t0 = Instant::now();
    for d in &inputs {
        b.on_pbx_rtp(d, t0);
        assert_eq!(b.tick().kind, WaKind::Audio);
    }
    // PBX puts the call on hold: no packets, but a frame every tick, timeline continuous
    for k in 0..1500u32 {
        let f = b.tick();
        assert_eq!(f.kind, WaKind::Silence);
        assert_eq!(f.rtp_time, 90_000 + 960 * (4 + k));
    }
    let stats = b.stats();
    assert_eq!(stats.wa_tx.packets, 1504);
    assert_eq!(stats.wa_silence_frames, 1501);
}

/// Feeds WhatsApp DTMF `digit` for `slots` slots (start + continuations), then 3 end packets,
/// interleaved with WhatsApp audio; returns every PBX datagram.
fn wa_digit_to_pbx(b: &mut Bridge, event: u8, slots: u16) -> Vec<Vec<u8>> {
    let audio = wa_opus_frames(WA_TONE, 4 + usize::from(slots) + 3 + 4);
    let mut frames = audio.iter();
    let mut out = Vec::new();
    let t0 = Instant::now();
    let mut send = |b: &mut Bridge, out: &mut Vec<Vec<u8>>| {
        out.push(b.on_wa_audio(frames.next().unwrap()).unwrap().to_vec());
    };
    for _ in 0..4 {
        send(b, &mut out);
    }
    for k in 1..=slots + 3 {
        let end = k > slots;
        let te = TelephoneEvent {
            event,
            end,
            volume: 10,
            duration: 160 * k.min(slots),
        };
        let at = t0 + Duration::from_millis(20 * u64::from(k));
        b.on_wa_dtmf(&te.to_bytes(), 555_000, at);
        send(b, &mut out);
    }
    for _ in 0..4 {
        send(b, &mut out);
    }
    out
}

#[test]
fn wa_digit_sent_instead_of_audio_is_relayed_on_the_call_clock_with_a_start_packet() {
    // As WhatsApp does: the digit's packets replace audio frames, start and end reports
    // arrive with no audio in between, and the call's 20 ms clock paces the PBX packets.
    let mut b = bridge(PbxCodec::Pcmu);
    let audio = wa_opus_frames(WA_TONE, 4);
    for f in &audio {
        assert!(b.on_wa_audio(f).is_some());
        assert!(b.pbx_dtmf_tick().is_none(), "audio filled the slot");
    }
    let t0 = Instant::now();
    let start = TelephoneEvent {
        event: 5,
        end: false,
        volume: 10,
        duration: 160,
    };
    b.on_wa_dtmf(&start.to_bytes(), 777_000, t0);
    let mut out: Vec<Vec<u8>> = Vec::new();
    for _ in 0..3 {
        out.extend(b.pbx_dtmf_tick().map(<[u8]>::to_vec));
    }
    let end = TelephoneEvent {
        end: true,
        duration: 640,
        ..start
    };
    b.on_wa_dtmf(&end.to_bytes(), 777_000, t0 + Duration::from_millis(80));
    for _ in 0..5 {
        out.extend(b.pbx_dtmf_tick().map(<[u8]>::to_vec));
    }
    let te: Vec<TelephoneEvent> = out
        .iter()
        .map(|d| TelephoneEvent::parse(RtpPacket::parse(d).unwrap().payload).unwrap())
        .collect();
    assert!(te.iter().all(|t| t.event == 5));
    let ends: Vec<bool> = te.iter().map(|t| t.end).collect();
    assert_eq!(ends, vec![false, false, false, true, true, true], "{te:?}");
    assert_eq!(b.stats().dtmf_to_pbx, 1);
}

fn assert_continuous(packets: &[Vec<u8>], frame_ticks: u32) {
    let parsed: Vec<_> = packets
        .iter()
        .map(|d| RtpPacket::parse(d).unwrap())
        .collect();
    for w in parsed.windows(2) {
        assert_eq!(w[1].sequence, w[0].sequence.wrapping_add(1), "sequence gap");
        assert_eq!(w[1].ssrc, w[0].ssrc);
    }
    // every slot advances the clock: audio after an event resumes at start + elapsed
    let audio_pt = parsed[0].payload_type;
    let first_ts = parsed[0].timestamp;
    for (k, p) in parsed.iter().enumerate() {
        if p.payload_type == audio_pt {
            assert_eq!(
                p.timestamp,
                first_ts.wrapping_add(k as u32 * frame_ticks),
                "slot {k}"
            );
        }
    }
}

#[test]
fn wa_dtmf_is_relayed_to_pbx_on_its_pt_with_8k_durations_and_continuity() {
    let mut b = bridge(PbxCodec::Pcmu);
    let out = wa_digit_to_pbx(&mut b, 5, 5);
    assert_continuous(&out, 160);
    let parsed: Vec<_> = out.iter().map(|d| RtpPacket::parse(d).unwrap()).collect();
    let dtmf: Vec<_> = parsed.iter().filter(|p| p.payload_type == 101).collect();
    // slots 5..=12 carry DTMF: 5 growing, the end seen -> 3 end packets
    let start_ts = parsed[4].timestamp;
    assert_eq!(dtmf.len(), 5 + 3);
    assert!(dtmf.iter().all(|p| p.timestamp == start_ts));
    assert!(dtmf[0].marker && dtmf[1..].iter().all(|p| !p.marker));
    let te: Vec<_> = dtmf
        .iter()
        .map(|p| TelephoneEvent::parse(p.payload).unwrap())
        .collect();
    assert!(te.iter().all(|t| t.event == 5));
    let durs: Vec<_> = te.iter().map(|t| (t.duration, t.end)).collect();
    assert_eq!(
        durs,
        vec![
            (160, false),
            (320, false),
            (480, false),
            (640, false),
            (800, false),
            (800, true),
            (800, true),
            (800, true)
        ]
    );
    assert_eq!(b.stats().dtmf_to_pbx, 1);
}

#[test]
fn wa_dtmf_to_pbx_telephone_event_48000_counts_in_48k_units() {
    let mut b = Bridge::with_stream(
        BridgeConfig {
            pbx_te_pt: Some(110),
            pbx_te_clock: 48_000,
            ..config(PbxCodec::Opus { pt: 96 })
        },
        OutboundStream::new(1, 0, 0),
        0,
    )
    .unwrap();
    let out = wa_digit_to_pbx(&mut b, 11, 3);
    assert_continuous(&out, 960);
    let te: Vec<_> = out
        .iter()
        .map(|d| RtpPacket::parse(d).unwrap())
        .filter(|p| p.payload_type == 110)
        .map(|p| TelephoneEvent::parse(p.payload).unwrap().duration)
        .collect();
    assert_eq!(te, vec![960, 1920, 2880, 2880, 2880, 2880]);
}

/// The PBX sends `event` with `step` duration units per 20 ms packet on PT 101.
fn pbx_digit(
    b: &mut Bridge,
    event: u8,
    step: u16,
    packets: u16,
    seq0: u16,
    t0: Instant,
) -> Vec<BridgeIn> {
    let mut r = Vec::new();
    for k in 1..=packets + 3 {
        let te = TelephoneEvent {
            event,
            end: k > packets,
            volume: 10,
            duration: step * k.min(packets),
        };
        let d = rtp(101, seq0 + k, 48_000, 0xAB, &te.to_bytes());
        r.push(b.on_pbx_rtp(&d, t0 + Duration::from_millis(20 * u64::from(k))));
    }
    r
}

fn wa_dtmf_frames(b: &mut Bridge, ticks: usize) -> Vec<(TelephoneEvent, u32, bool)> {
    (0..ticks)
        .filter_map(|_| {
            let f = b.tick();
            (f.kind == WaKind::Dtmf).then(|| {
                assert_eq!(f.payload_type, 126);
                (
                    TelephoneEvent::parse(f.payload).unwrap(),
                    f.rtp_time,
                    f.marker,
                )
            })
        })
        .collect()
}

fn check_pbx_digit_reaches_wa_in_8k_units(te_clock: u32, step: u16) {
    let cfg = BridgeConfig {
        pbx_te_clock: te_clock,
        ..config(PbxCodec::Pcmu)
    };
    let mut b = Bridge::with_stream(cfg, OutboundStream::new(1, 0, 0), 90_000).unwrap();
    b.set_wa_accepted(true);
    b.tick();
    let results = pbx_digit(&mut b, 12, step, 10, 0, Instant::now());
    let ends: Vec<_> = results
        .iter()
        .filter_map(|r| match r {
            BridgeIn::Dtmf(ev) => ev.into_iter().find(|e| matches!(e, DtmfEvent::End(_))),
            _ => None,
        })
        .collect();
    assert_eq!(
        ends,
        vec![DtmfEvent::End(DtmfDigit {
            digit: 'A',
            duration: Duration::from_millis(200)
        })],
        "one end for three end packets, 200 ms"
    );
    // All packets arrived before these ticks: the relay starts with the first tick and runs
    // until the end that was already seen, so the WA side shows start, marker and 3 ends.
    let frames = wa_dtmf_frames(&mut b, 10);
    assert!(
        frames
            .iter()
            .all(|(t, ts, _)| t.event == 12 && *ts == 90_960)
    );
    assert!(frames[0].2);
    assert_eq!(frames.iter().filter(|(t, _, _)| t.end).count(), 3);
    // WhatsApp always gets 8 kHz units: 20 ms per tick = 160
    assert_eq!(frames[0].0.duration, 160);
    assert_eq!(b.stats().dtmf_to_wa, 1);
}

#[test]
fn pbx_dtmf_in_48k_units_under_8000_rtpmap_reaches_wa_in_8k_units() {
    check_pbx_digit_reaches_wa_in_8k_units(8000, 960);
}

#[test]
fn pbx_dtmf_at_telephone_event_48000_reaches_wa_in_8k_units() {
    check_pbx_digit_reaches_wa_in_8k_units(48_000, 960);
}

#[test]
fn pbx_dtmf_at_8000_reaches_wa_in_8k_units() {
    check_pbx_digit_reaches_wa_in_8k_units(8000, 160);
}

#[test]
fn pbx_dtmf_relayed_live_keeps_wa_timeline_continuous() {
    let mut b = bridge(PbxCodec::Pcmu);
    b.set_wa_accepted(true);
    let t0 = Instant::now();
    let mut frames = Vec::new();
    for k in 1..=8u16 {
        let te = TelephoneEvent {
            event: 1,
            end: k > 5,
            volume: 10,
            duration: 160 * k.min(5),
        };
        b.on_pbx_rtp(&rtp(101, k, 1000, 9, &te.to_bytes()), t0);
        let f = b.tick();
        frames.push((f.kind, f.rtp_time, f.marker));
    }
    let f = b.tick();
    frames.push((f.kind, f.rtp_time, f.marker));
    let start = 90_000;
    for (k, (kind, ts, marker)) in frames.iter().enumerate() {
        if k < 8 {
            assert_eq!(
                (*kind, *ts, *marker),
                (WaKind::Dtmf, start, k == 0),
                "tick {k}"
            );
        } else {
            assert_eq!((*kind, *ts), (WaKind::Silence, start + 960 * k as u32));
        }
    }
}

#[test]
fn pbx_bound_stream_stays_continuous_across_ssrc_change_restart_and_codec_change() {
    let mut b = bridge(PbxCodec::Pcmu);
    let wa = wa_opus_frames(WA_TONE, 12);
    let mut out = Vec::new();
    for f in &wa[..4] {
        out.push(b.on_wa_audio(f).unwrap().to_vec());
    }
    // WhatsApp restarted its encoder / changed SSRC (str0m hands us the same payloads)
    b.restart_transcoder().unwrap();
    for f in &wa[4..8] {
        out.push(b.on_wa_audio(f).unwrap().to_vec());
    }
    assert_continuous(&out, 160);
    // a re-INVITE switches to G.722: same SSRC, next sequence, timestamp one frame later
    let last = RtpPacket::parse(out.last().unwrap()).unwrap();
    b.set_pbx_codec(PbxCodec::G722).unwrap();
    let next = b.on_wa_audio(&wa[8]).unwrap().to_vec();
    let p = RtpPacket::parse(&next).unwrap();
    assert_eq!((p.ssrc, p.payload_type), (last.ssrc, 9));
    assert_eq!(p.sequence, last.sequence.wrapping_add(1));
    assert_eq!(p.timestamp, last.timestamp.wrapping_add(160));
}

#[test]
fn wa_timeline_is_continuous_across_pbx_ssrc_change() {
    let mut b = bridge(PbxCodec::Pcmu);
    b.set_wa_accepted(true);
    let t0 = Instant::now();
    let a = pbx_packets(PbxCodec::Pcmu, PBX_TONE, 5, 0x1, 100);
    let c = pbx_packets(PbxCodec::Pcmu, PBX_TONE, 5, 0x2, 9);
    let mut times = Vec::new();
    for (k, d) in a.iter().chain(&c).enumerate() {
        assert_eq!(
            b.on_pbx_rtp(d, t0 + Duration::from_millis(20 * k as u64)),
            BridgeIn::Audio
        );
        let f = b.tick();
        assert_eq!(f.kind, WaKind::Audio);
        times.push(f.rtp_time);
    }
    assert!(times.windows(2).all(|w| w[1] == w[0] + 960));
    // a new SSRC is not loss
    assert_eq!(b.stats().pbx_rx.lost, 0);
}

#[test]
fn pbx_loss_and_jitter_are_measured_on_a_known_sequence() {
    let mut b = bridge(PbxCodec::Pcmu);
    let inputs = pbx_packets(PbxCodec::Pcmu, PBX_TONE, 10, 3, 0);
    let t0 = Instant::now();
    for (k, d) in inputs.iter().enumerate() {
        if k == 4 || k == 7 {
            continue; // lost
        }
        // every other packet 4 ms late
        let ms = 20 * k as u64 + if k % 2 == 1 { 4 } else { 0 };
        b.on_pbx_rtp(d, t0 + Duration::from_millis(ms));
    }
    let s = b.stats();
    assert_eq!((s.pbx_rx.packets, s.pbx_rx.lost), (8, 2));
    assert!((s.pbx_rx.loss_percent - 20.0).abs() < 1e-9);
    assert!(
        s.pbx_rx.jitter_ms > 0.5 && s.pbx_rx.jitter_ms < 4.0,
        "{}",
        s.pbx_rx.jitter_ms
    );
    assert!(s.mos < 4.0, "20 % loss must hurt: {}", s.mos);
    assert!(serde_json::to_string(&s).unwrap().contains("\"jitter_ms\""));
}

#[test]
fn rtt_comes_from_the_pbx_receiver_report_on_our_sender_report() {
    let mut b = bridge(PbxCodec::Pcmu);
    let wa = wa_opus_frames(WA_TONE, 3);
    for f in &wa {
        b.on_wa_audio(f);
    }
    let t0 = Instant::now();
    let wall = Duration::from_secs(1_700_000_000);
    let mut buf = [0u8; 256];
    let n = b.pbx_rtcp_report(t0, wall, &mut buf).unwrap();
    let sr = rtcp::parse_compound(&buf[..n]).next().unwrap().unwrap();
    let RtcpPacket::SenderReport { ssrc, info, .. } = sr else {
        panic!("we sent media: expected an SR, got {sr:?}")
    };
    assert_eq!((ssrc, info.packets), (0x1111, 3));
    // the PBX holds the SR 30 ms, the network adds 40 ms round trip
    let block = ReportBlock {
        ssrc: 0x1111,
        lsr: ntp_compact(ntp_from_unix(wall)),
        dlsr: 65_536 * 30 / 1000,
        ..ReportBlock::default()
    };
    let n = write_report(&mut buf, 0xAB, None, Some(block), "pbx").unwrap();
    assert_eq!(
        b.on_pbx_rtp(&buf[..n], t0 + Duration::from_millis(70)),
        BridgeIn::Rtcp
    );
    let rtt = b.pbx_rtt().unwrap();
    assert!((rtt.as_secs_f64() - 0.040).abs() < 0.001, "{rtt:?}");
    assert!((b.stats().pbx_rtt_ms.unwrap() - 40.0).abs() < 1.0);
    // On loopback a PBX that counts its hold in whole milliseconds (baresip) can report 2 ms
    // held when only 1.5 ms passed: a round trip of zero, not none.
    let block = ReportBlock {
        dlsr: 65_536 * 2 / 1000,
        ..block
    };
    let n = write_report(&mut buf, 0xAB, None, Some(block), "pbx").unwrap();
    b.on_pbx_rtp(&buf[..n], t0 + Duration::from_micros(1500));
    assert_eq!(b.pbx_rtt(), Some(Duration::ZERO));
}

#[test]
fn lost_wa_frame_is_concealed_when_transcoding_and_skipped_in_passthrough() {
    let wa = wa_opus_frames(WA_TONE, 3);
    let mut b = bridge(PbxCodec::Pcmu);
    let a = RtpPacket::parse(b.on_wa_audio(&wa[0]).unwrap()).unwrap();
    let (seq, ts) = (a.sequence, a.timestamp);
    let plc = RtpPacket::parse(b.on_wa_lost().expect("a concealed frame")).unwrap();
    assert_eq!(
        (plc.sequence, plc.timestamp),
        (seq.wrapping_add(1), ts.wrapping_add(160))
    );
    assert_eq!(plc.payload.len(), 160);

    let mut b = bridge(PbxCodec::Opus { pt: 96 });
    let a = RtpPacket::parse(b.on_wa_audio(&wa[0]).unwrap()).unwrap();
    let (seq, ts) = (a.sequence, a.timestamp);
    assert!(b.on_wa_lost().is_none());
    let c = RtpPacket::parse(b.on_wa_audio(&wa[2]).unwrap()).unwrap();
    // no sequence gap (nothing was sent), a one-frame timestamp gap (time went on)
    assert_eq!(
        (c.sequence, c.timestamp),
        (seq.wrapping_add(1), ts.wrapping_add(1920))
    );
}

#[test]
fn wa_digit_is_played_in_band_when_the_pbx_has_no_telephone_event() {
    let cfg = BridgeConfig {
        pbx_te_pt: None,
        ..config(PbxCodec::Pcma)
    };
    let mut b = Bridge::with_stream(cfg, OutboundStream::new(1, 0, 0), 0).unwrap();
    let out = wa_digit_to_pbx(&mut b, 3, 3);
    assert!(
        out.iter()
            .all(|d| RtpPacket::parse(d).unwrap().payload_type == 8),
        "only audio packets"
    );
    assert_continuous(&out, 160);
    assert_eq!(b.stats().dtmf_to_pbx, 1);
    // Digit 3 is 697 + 1477 Hz, in the frames the user's 440 Hz had: 80 ms at least.
    let pcm = decode_pbx(PbxCodec::Pcma, &out[4..8]);
    let p = |hz| goertzel_power(&pcm, 8000, hz);
    assert!(p(697.0) > 20.0 * p(WA_TONE) && p(1477.0) > 20.0 * p(WA_TONE));
    assert!(p(697.0) > 20.0 * p(770.0) && p(1477.0) > 20.0 * p(1336.0));
    // Before and long after the digit: the user's voice.
    assert_tone(&decode_pbx(PbxCodec::Pcma, &out[..4]), 8000, WA_TONE);
}

#[test]
fn wa_digit_is_dropped_with_opus_passthrough_and_no_telephone_event() {
    let cfg = BridgeConfig {
        pbx_te_pt: None,
        ..config(PbxCodec::Opus { pt: 107 })
    };
    let mut b = Bridge::with_stream(cfg, OutboundStream::new(1, 0, 0), 0).unwrap();
    let out = wa_digit_to_pbx(&mut b, 3, 3);
    assert!(
        out.iter()
            .all(|d| RtpPacket::parse(d).unwrap().payload_type == 107)
    );
    assert_eq!(b.stats().dtmf_to_pbx, 0);
}
