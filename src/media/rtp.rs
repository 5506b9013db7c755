//! Plain RTP (RFC 3550 §5) for the PBX leg: a zero-copy parser, a header writer into
//! caller-provided buffers, the outbound stream state (SSRC, sequence, timestamp) and a
//! [`SeqTsRewriter`] that maps any input stream onto one continuous output stream across
//! upstream SSRC changes and transcoder restarts.

/// Errors from parsing RTP/RTCP datagrams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RtpError {
    /// The datagram is shorter than its headers claim; the peer sends truncated packets.
    #[error("RTP/RTCP datagram truncated ({len} bytes); check the PBX's media path (MTU, NAT)")]
    Truncated {
        /// Datagram length.
        len: usize,
    },
    /// The version field is not 2; this is not RTP (STUN, a misrouted port, or garbage).
    #[error("not RTP version 2 (got {version}); is something else sending to the media port?")]
    BadVersion {
        /// Version bits found.
        version: u8,
    },
    /// The padding count is zero or exceeds the payload.
    #[error("invalid RTP padding; the peer's RTP stack is broken")]
    BadPadding,
    /// The output buffer cannot hold the packet (a programming error in the bridge).
    #[error("RTP output buffer too small: need {need} bytes")]
    BufferTooSmall {
        /// Bytes needed.
        need: usize,
    },
}

/// A parsed RTP packet borrowing from the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    /// Marker bit.
    pub marker: bool,
    /// Payload type (7 bits).
    pub payload_type: u8,
    /// Sequence number.
    pub sequence: u16,
    /// RTP timestamp.
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: u32,
    /// Number of CSRC identifiers present (values skipped).
    pub csrc_count: u8,
    /// Header extension `(profile, data)` when the X bit is set.
    pub extension: Option<(u16, &'a [u8])>,
    /// Payload with padding removed.
    pub payload: &'a [u8],
}

/// True when the first bytes look like RTCP (PT 192..=223 per RFC 5761 §4) rather than RTP.
#[must_use]
pub fn looks_like_rtcp(datagram: &[u8]) -> bool {
    datagram.len() >= 2 && datagram[0] >> 6 == 2 && (192..=223).contains(&datagram[1])
}

impl<'a> RtpPacket<'a> {
    /// Parses an RTP datagram without copying or allocating.
    pub fn parse(d: &'a [u8]) -> Result<Self, RtpError> {
        let truncated = RtpError::Truncated { len: d.len() };
        if d.len() < 12 {
            return Err(truncated);
        }
        let version = d[0] >> 6;
        if version != 2 {
            return Err(RtpError::BadVersion { version });
        }
        let padding = d[0] & 0x20 != 0;
        let has_ext = d[0] & 0x10 != 0;
        let csrc_count = d[0] & 0x0F;
        let mut off = 12 + 4 * usize::from(csrc_count);
        if d.len() < off {
            return Err(truncated);
        }
        let extension = if has_ext {
            if d.len() < off + 4 {
                return Err(truncated);
            }
            let profile = u16::from_be_bytes([d[off], d[off + 1]]);
            let words = usize::from(u16::from_be_bytes([d[off + 2], d[off + 3]]));
            let start = off + 4;
            off = start + 4 * words;
            if d.len() < off {
                return Err(truncated);
            }
            Some((profile, &d[start..off]))
        } else {
            None
        };
        let mut end = d.len();
        if padding {
            let pad = usize::from(d[end - 1]);
            if pad == 0 || off + pad > end {
                return Err(RtpError::BadPadding);
            }
            end -= pad;
        }
        Ok(Self {
            marker: d[1] & 0x80 != 0,
            payload_type: d[1] & 0x7F,
            sequence: u16::from_be_bytes([d[2], d[3]]),
            timestamp: u32::from_be_bytes([d[4], d[5], d[6], d[7]]),
            ssrc: u32::from_be_bytes([d[8], d[9], d[10], d[11]]),
            csrc_count,
            extension,
            payload: &d[off..end],
        })
    }
}

/// The fixed 12-byte header of an outgoing packet (we never send CSRCs or extensions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader {
    /// Marker bit.
    pub marker: bool,
    /// Payload type.
    pub payload_type: u8,
    /// Sequence number.
    pub sequence: u16,
    /// Timestamp.
    pub timestamp: u32,
    /// SSRC.
    pub ssrc: u32,
}

impl RtpHeader {
    /// Header length written by [`RtpHeader::write`].
    pub const LEN: usize = 12;

    /// Writes header + payload into `out`; returns the packet length.
    pub fn write(&self, payload: &[u8], out: &mut [u8]) -> Result<usize, RtpError> {
        let need = Self::LEN + payload.len();
        if out.len() < need {
            return Err(RtpError::BufferTooSmall { need });
        }
        out[0] = 0x80;
        out[1] = (u8::from(self.marker) << 7) | (self.payload_type & 0x7F);
        out[2..4].copy_from_slice(&self.sequence.to_be_bytes());
        out[4..8].copy_from_slice(&self.timestamp.to_be_bytes());
        out[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
        out[12..need].copy_from_slice(payload);
        Ok(need)
    }
}

/// The state of one outbound RTP stream. Every 20 ms slot advances the media clock by one
/// frame, whether the slot carried audio or a DTMF packet, so audio resumes after an event at
/// exactly `event start + elapsed` (RFC 4733 §2.5.1.1) and sequence numbers never skip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboundStream {
    ssrc: u32,
    next_seq: u16,
    /// Timestamp of the next 20 ms slot.
    next_ts: u32,
    packets: u64,
}

impl OutboundStream {
    /// A stream with the given SSRC and random-looking initial sequence and timestamp.
    #[must_use]
    pub fn new(ssrc: u32, first_seq: u16, first_ts: u32) -> Self {
        Self {
            ssrc,
            next_seq: first_seq,
            next_ts: first_ts,
            packets: 0,
        }
    }

    /// The SSRC.
    #[must_use]
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// Timestamp the next slot will carry.
    #[must_use]
    pub fn next_timestamp(&self) -> u32 {
        self.next_ts
    }

    /// Sequence number the next packet will carry.
    #[must_use]
    pub fn next_sequence(&self) -> u16 {
        self.next_seq
    }

    /// Packets sent so far.
    #[must_use]
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// Header for an audio packet filling the current slot, then advances by `ticks`.
    pub fn audio(&mut self, payload_type: u8, marker: bool, ticks: u32) -> RtpHeader {
        let h = self.header(payload_type, marker, self.next_ts);
        self.next_ts = self.next_ts.wrapping_add(ticks);
        h
    }

    /// Header for a packet that carries its own timestamp (a DTMF packet stamped with the event
    /// start), filling the current slot, then advances the slot clock by `ticks`.
    pub fn stamped(&mut self, payload_type: u8, marker: bool, ts: u32, ticks: u32) -> RtpHeader {
        let h = self.header(payload_type, marker, ts);
        self.next_ts = self.next_ts.wrapping_add(ticks);
        h
    }

    /// Advances the slot clock without sending (a lost or skipped frame: the receiver sees a
    /// timestamp gap but no sequence gap, so it does not count a loss).
    pub fn skip(&mut self, ticks: u32) {
        self.next_ts = self.next_ts.wrapping_add(ticks);
    }

    fn header(&mut self, payload_type: u8, marker: bool, timestamp: u32) -> RtpHeader {
        let h = RtpHeader {
            marker,
            payload_type,
            sequence: self.next_seq,
            timestamp,
            ssrc: self.ssrc,
        };
        self.next_seq = self.next_seq.wrapping_add(1);
        self.packets += 1;
        h
    }
}

/// Maps `(ssrc, seq, ts)` of an input stream that may change SSRC or restart (a new upstream
/// source, a restarted transcoder) onto one continuous output stream: within one input source,
/// sequence and timestamp deltas are preserved (gaps stay gaps); on a new source or a jump
/// larger than `max_jump`, the output continues at `last + 1` / `last + frame_ticks`.
#[derive(Debug, Clone)]
pub struct SeqTsRewriter {
    frame_ticks: u32,
    /// True until the first packet, and after [`SeqTsRewriter::restart`].
    new_source: bool,
    in_ssrc: u32,
    in_seq: u16,
    seq_offset: u16,
    ts_offset: u32,
    out_seq: u16,
    out_ts: u32,
}

impl SeqTsRewriter {
    /// Sequence jumps beyond this (either direction) are treated as a restart.
    pub const MAX_SEQ_JUMP: u16 = 100;

    /// A rewriter whose output starts at `(first_seq, first_ts)` with `frame_ticks` per packet.
    #[must_use]
    pub fn new(first_seq: u16, first_ts: u32, frame_ticks: u32) -> Self {
        Self {
            frame_ticks,
            new_source: true,
            in_ssrc: 0,
            in_seq: 0,
            seq_offset: 0,
            ts_offset: 0,
            out_seq: first_seq.wrapping_sub(1),
            out_ts: first_ts.wrapping_sub(frame_ticks),
        }
    }

    /// Forces the next packet to be treated as a new source (call after a transcoder restart).
    pub fn restart(&mut self) {
        self.new_source = true;
    }

    /// Maps one input packet to its output `(seq, ts)`.
    pub fn map(&mut self, ssrc: u32, seq: u16, ts: u32) -> (u16, u32) {
        let seq_delta = seq.wrapping_sub(self.in_seq);
        let same_source = !self.new_source
            && ssrc == self.in_ssrc
            && (seq_delta <= Self::MAX_SEQ_JUMP || seq_delta >= u16::MAX - Self::MAX_SEQ_JUMP);
        if !same_source {
            self.seq_offset = self.out_seq.wrapping_add(1).wrapping_sub(seq);
            self.ts_offset = self.out_ts.wrapping_add(self.frame_ticks).wrapping_sub(ts);
        }
        let out = (
            seq.wrapping_add(self.seq_offset),
            ts.wrapping_add(self.ts_offset),
        );
        // Only move the high-water mark forward (late packets keep their mapping).
        if !same_source || (seq_delta != 0 && seq_delta < 0x8000) {
            self.in_seq = seq;
            self.out_seq = out.0;
            self.out_ts = out.1;
        }
        self.in_ssrc = ssrc;
        self.new_source = false;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_skips_csrcs_extension_and_padding() {
        let mut d = vec![
            0xB2,
            0x80 | 9,
            0x12,
            0x34,
            0,
            0,
            1,
            0,
            0xDE,
            0xAD,
            0xBE,
            0xEF,
        ];
        d.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 2]); // 2 CSRCs
        d.extend_from_slice(&[0xBE, 0xDE, 0, 1, 0x10, 0xAA, 0, 0]); // one-byte ext, 1 word
        d.extend_from_slice(&[7, 7, 7]); // payload
        d.extend_from_slice(&[0, 0, 3]); // 3 bytes padding
        let p = RtpPacket::parse(&d).unwrap();
        assert!(p.marker);
        assert_eq!(p.payload_type, 9);
        assert_eq!(p.sequence, 0x1234);
        assert_eq!(p.timestamp, 256);
        assert_eq!(p.ssrc, 0xDEAD_BEEF);
        assert_eq!(p.csrc_count, 2);
        assert_eq!(p.extension, Some((0xBEDE, &[0x10, 0xAA, 0, 0][..])));
        assert_eq!(p.payload, &[7, 7, 7]);
    }

    #[test]
    fn parse_rejects_truncated_wrong_version_and_bad_padding() {
        assert!(matches!(
            RtpPacket::parse(&[0x80; 8]),
            Err(RtpError::Truncated { .. })
        ));
        let mut d = [0u8; 12];
        d[0] = 0x40;
        assert_eq!(
            RtpPacket::parse(&d),
            Err(RtpError::BadVersion { version: 1 })
        );
        let d = [0xA0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 9];
        assert_eq!(RtpPacket::parse(&d), Err(RtpError::BadPadding));
        let d = [0x81, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert!(matches!(
            RtpPacket::parse(&d),
            Err(RtpError::Truncated { .. })
        ));
    }

    #[test]
    fn written_header_parses_back() {
        let h = RtpHeader {
            marker: true,
            payload_type: 101,
            sequence: 65535,
            timestamp: 0xFFFF_FF00,
            ssrc: 42,
        };
        let mut buf = [0u8; 64];
        let n = h.write(&[1, 2, 3, 4], &mut buf).unwrap();
        let p = RtpPacket::parse(&buf[..n]).unwrap();
        assert_eq!(
            (
                p.marker,
                p.payload_type,
                p.sequence,
                p.timestamp,
                p.ssrc,
                p.payload
            ),
            (true, 101, 65535, 0xFFFF_FF00, 42, &[1u8, 2, 3, 4][..])
        );
        assert!(!looks_like_rtcp(&buf[..n]));
        assert!(matches!(
            h.write(&[0; 60], &mut buf),
            Err(RtpError::BufferTooSmall { need: 72 })
        ));
    }

    #[test]
    fn outbound_stream_keeps_slot_clock_across_stamped_packets() {
        let mut s = OutboundStream::new(7, 65534, 1000);
        let a = s.audio(0, false, 160);
        let d1 = s.stamped(101, true, 1160, 160);
        let d2 = s.stamped(101, false, 1160, 160);
        let b = s.audio(0, false, 160);
        assert_eq!((a.sequence, a.timestamp), (65534, 1000));
        assert_eq!((d1.sequence, d1.timestamp), (65535, 1160));
        assert_eq!((d2.sequence, d2.timestamp), (0, 1160));
        assert_eq!((b.sequence, b.timestamp), (1, 1480));
    }

    #[test]
    fn rewriter_continues_across_ssrc_change_and_restart() {
        let mut r = SeqTsRewriter::new(500, 10_000, 160);
        assert_eq!(r.map(1, 7000, 90_000), (500, 10_000));
        assert_eq!(r.map(1, 7001, 90_160), (501, 10_160));
        // a loss inside one source stays a gap
        assert_eq!(r.map(1, 7003, 90_480), (503, 10_480));
        // new upstream SSRC with unrelated numbers continues right after
        assert_eq!(r.map(2, 12, 5), (504, 10_640));
        assert_eq!(r.map(2, 13, 165), (505, 10_800));
        // same SSRC but a transcoder restart
        r.restart();
        assert_eq!(r.map(2, 0, 0), (506, 10_960));
        // a huge sequence jump on the same SSRC is a restart too
        assert_eq!(r.map(2, 30_000, 777), (507, 11_120));
        // a late packet keeps its mapping without moving the high-water mark
        assert_eq!(r.map(2, 29_999, 617), (506, 10_960));
        assert_eq!(r.map(2, 30_001, 937), (508, 11_280));
    }
}
