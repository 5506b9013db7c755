//! Tests of the RFC 4733 receiver normalisation and sender.

use super::*;

fn te(event: u8, end: bool, duration: u16) -> [u8; 4] {
    TelephoneEvent {
        event,
        end,
        volume: 10,
        duration,
    }
    .to_bytes()
}

/// Feeds a digit the way a sender does: growing duration every 20 ms, then three end packets.
#[allow(clippy::too_many_arguments)]
fn feed_digit(
    rx: &mut DtmfReceiver,
    seq: &mut u16,
    ts: u32,
    event: u8,
    step: u16,
    packets: u16,
    t0: Instant,
    spacing: Duration,
) -> Vec<DtmfEvent> {
    let mut out = Vec::new();
    let mut at = t0;
    for k in 1..=packets {
        out.extend(
            rx.on_packet(*seq, ts, &te(event, false, step * k), at)
                .unwrap(),
        );
        *seq = seq.wrapping_add(1);
        at += spacing;
    }
    for _ in 0..3 {
        let d = step * packets;
        out.extend(rx.on_packet(*seq, ts, &te(event, true, d), at).unwrap());
        *seq = seq.wrapping_add(1);
    }
    out
}

#[test]
fn payload_round_trips() {
    let t = TelephoneEvent {
        event: 11,
        end: true,
        volume: 63,
        duration: 1234,
    };
    assert_eq!(TelephoneEvent::parse(&t.to_bytes()).unwrap(), t);
    assert_eq!(
        TelephoneEvent::parse(&[1, 2]),
        Err(DtmfError::Truncated { len: 2 })
    );
}

#[test]
fn digit_codes_map_both_ways() {
    for (d, e) in [
        ('0', 0),
        ('9', 9),
        ('*', 10),
        ('#', 11),
        ('A', 12),
        ('D', 15),
    ] {
        assert_eq!(digit_to_event(d), Some(e));
        assert_eq!(event_to_digit(e), Some(d));
    }
    assert_eq!(event_to_digit(16), None);
    assert_eq!(digit_to_event('x'), None);
}

#[test]
fn three_end_packets_give_one_start_and_one_end() {
    let mut rx = DtmfReceiver::new(8000);
    let mut seq = 100;
    let ev = feed_digit(
        &mut rx,
        &mut seq,
        8000,
        5,
        160,
        10,
        Instant::now(),
        Duration::from_millis(20),
    );
    assert_eq!(
        ev,
        vec![
            DtmfEvent::Start { digit: '5' },
            DtmfEvent::End(DtmfDigit {
                digit: '5',
                duration: Duration::from_millis(200)
            })
        ]
    );
    assert!(!rx.durations_in_48k_units());
}

#[test]
fn durations_in_48k_units_under_8000_rtpmap_are_detected_by_arrival_spacing() {
    let mut rx = DtmfReceiver::new(8000);
    let mut seq = 1;
    let ev = feed_digit(
        &mut rx,
        &mut seq,
        48_000,
        1,
        960,
        10,
        Instant::now(),
        Duration::from_millis(20),
    );
    assert!(rx.durations_in_48k_units());
    assert_eq!(
        ev.last(),
        Some(&DtmfEvent::End(DtmfDigit {
            digit: '1',
            duration: Duration::from_millis(200)
        }))
    );
}

#[test]
fn durations_in_48k_units_are_detected_in_a_burst_by_sequence_step() {
    let mut rx = DtmfReceiver::new(8000);
    let mut seq = 65_534; // wraps
    let ev = feed_digit(
        &mut rx,
        &mut seq,
        7,
        2,
        960,
        5,
        Instant::now(),
        Duration::ZERO,
    );
    assert!(rx.durations_in_48k_units());
    assert_eq!(
        ev.last(),
        Some(&DtmfEvent::End(DtmfDigit {
            digit: '2',
            duration: Duration::from_millis(100)
        }))
    );
}

#[test]
fn bursty_8k_units_are_not_mistaken_for_48k() {
    let mut rx = DtmfReceiver::new(8000);
    let mut seq = 0;
    feed_digit(
        &mut rx,
        &mut seq,
        7,
        2,
        160,
        5,
        Instant::now(),
        Duration::ZERO,
    );
    feed_digit(
        &mut rx,
        &mut seq,
        900,
        3,
        400,
        3,
        Instant::now(),
        Duration::from_millis(50),
    );
    assert!(!rx.durations_in_48k_units());
}

#[test]
fn telephone_event_48000_durations_convert_to_time() {
    let mut rx = DtmfReceiver::new(48_000);
    let mut seq = 0;
    let ev = feed_digit(
        &mut rx,
        &mut seq,
        0,
        11,
        960,
        8,
        Instant::now(),
        Duration::from_millis(20),
    );
    assert_eq!(
        ev.last(),
        Some(&DtmfEvent::End(DtmfDigit {
            digit: '#',
            duration: Duration::from_millis(160)
        }))
    );
}

#[test]
fn lost_end_packets_end_the_event_on_the_next_event_or_timeout() {
    let t0 = Instant::now();
    let mut rx = DtmfReceiver::new(8000);
    assert!(
        !rx.on_packet(1, 100, &te(4, false, 160), t0)
            .unwrap()
            .is_empty()
    );
    let ev: Vec<_> = rx
        .on_packet(2, 900, &te(6, false, 160), t0)
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(
        ev,
        vec![
            DtmfEvent::End(DtmfDigit {
                digit: '4',
                duration: Duration::from_millis(20)
            }),
            DtmfEvent::Start { digit: '6' }
        ]
    );
    assert_eq!(rx.poll_timeout(t0 + Duration::from_millis(100)), None);
    assert!(matches!(
        rx.poll_timeout(t0 + EVENT_TIMEOUT),
        Some(DtmfEvent::End(DtmfDigit { digit: '6', .. }))
    ));
}

#[test]
fn sender_emits_marker_start_continuations_and_three_ends_at_event_start_ts() {
    let mut tx = DtmfSender::new(101, 8000);
    assert!(tx.start('7', 4242, Some(Duration::from_millis(100))));
    let mut packets = Vec::new();
    while let Some(p) = tx.next_packet() {
        packets.push(p);
    }
    assert_eq!(
        packets.len(),
        5 + 2,
        "five packets up to 100 ms (the fifth is the first end), then two more ends"
    );
    assert!(packets[0].marker && packets.iter().skip(1).all(|p| !p.marker));
    assert!(packets.iter().all(|p| p.timestamp == 4242));
    let durs: Vec<u16> = packets
        .iter()
        .map(|p| TelephoneEvent::parse(&p.payload).unwrap().duration)
        .collect();
    assert_eq!(durs, vec![160, 320, 480, 640, 800, 800, 800]);
    assert_eq!(packets.iter().filter(|p| p.end).count(), 3);
    assert!(!tx.is_active());
}

#[test]
fn sender_counts_in_the_target_clock_and_stops_on_request() {
    let mut tx = DtmfSender::new(126, 48_000);
    tx.start('#', 0, None);
    let a = tx.next_packet().unwrap();
    let b = tx.next_packet().unwrap();
    tx.stop();
    let ends: Vec<_> = std::iter::from_fn(|| tx.next_packet()).collect();
    let dur = |p: &DtmfPacket| TelephoneEvent::parse(&p.payload).unwrap().duration;
    assert_eq!((dur(&a), dur(&b)), (960, 1920));
    assert_eq!(ends.len(), 3);
    assert!(ends.iter().all(|p| p.end && dur(p) == 1920));
}

#[test]
fn sender_stopped_before_its_first_packet_still_announces_the_event() {
    // A relayed digit whose start and end both arrived within one 20 ms slot: the first packet
    // must not carry the end bit, or receivers such as baresip drop the whole digit.
    let mut tx = DtmfSender::new(101, 8000);
    tx.start('2', 1000, None);
    tx.stop();
    let packets: Vec<_> = std::iter::from_fn(|| tx.next_packet()).collect();
    let ends: Vec<bool> = packets.iter().map(|p| p.end).collect();
    assert_eq!(ends, vec![false, true, true, true]);
    assert!(packets[0].marker);
}

#[test]
fn sender_output_round_trips_through_receiver() {
    let mut tx = DtmfSender::new(101, 8000);
    tx.start('9', 777, Some(Duration::from_millis(120)));
    let mut rx = DtmfReceiver::new(8000);
    let t0 = Instant::now();
    let mut seq = 0u16;
    let mut events = Vec::new();
    while let Some(p) = tx.next_packet() {
        let at = t0 + Duration::from_millis(20 * u64::from(seq));
        events.extend(rx.on_packet(seq, p.timestamp, &p.payload, at).unwrap());
        seq += 1;
    }
    assert_eq!(
        events,
        vec![
            DtmfEvent::Start { digit: '9' },
            DtmfEvent::End(DtmfDigit {
                digit: '9',
                duration: Duration::from_millis(120)
            })
        ]
    );
}
