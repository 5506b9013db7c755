//! RTCP (RFC 3550 §6.4) for the PBX leg: enough of SR/RR parsing to read report blocks and
//! compute the round-trip time from LSR/DLSR (§6.4.1), and building one SR or RR (plus the
//! mandatory SDES CNAME) per report interval. Times are NTP-based and passed in by the caller.

use std::time::Duration;

use super::rtp::RtpError;

/// Seconds between the NTP epoch (1900) and the UNIX epoch (1970).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// Converts a time since the UNIX epoch to a 64-bit NTP timestamp.
#[must_use]
pub fn ntp_from_unix(since_epoch: Duration) -> u64 {
    let secs = since_epoch.as_secs() + NTP_UNIX_OFFSET;
    let frac = (u64::from(since_epoch.subsec_nanos()) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

/// The middle 32 bits of an NTP timestamp (units of 1/65536 s), as used by LSR and DLSR.
#[must_use]
pub fn ntp_compact(ntp: u64) -> u32 {
    (ntp >> 16) as u32
}

/// Round-trip time from a report block received at `arrival` (compact NTP): `A - LSR - DLSR`.
/// `None` when the peer has not received an SR from us yet (LSR = 0) or the result is negative.
#[must_use]
pub fn rtt_from_report(arrival_compact: u32, lsr: u32, dlsr: u32) -> Option<Duration> {
    if lsr == 0 {
        return None;
    }
    let rtt = arrival_compact.wrapping_sub(lsr).wrapping_sub(dlsr);
    if rtt > 0x8000_0000 {
        return None;
    }
    Some(Duration::from_micros(u64::from(rtt) * 1_000_000 / 65_536))
}

/// One reception report block (24 bytes on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlock {
    /// SSRC of the stream this block reports on.
    pub ssrc: u32,
    /// Fraction lost since the previous report, in 1/256.
    pub fraction_lost: u8,
    /// Cumulative packets lost (24-bit signed on the wire, clamped).
    pub cumulative_lost: i32,
    /// Extended highest sequence number received.
    pub highest_seq: u32,
    /// Interarrival jitter in timestamp units.
    pub jitter: u32,
    /// Last SR timestamp (compact NTP), 0 if none.
    pub lsr: u32,
    /// Delay since last SR, in 1/65536 s.
    pub dlsr: u32,
}

impl ReportBlock {
    fn parse(b: &[u8]) -> Self {
        let word = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let lost24 = word(4) & 0x00FF_FFFF;
        let cumulative_lost = ((lost24 << 8) as i32) >> 8; // sign-extend 24 bits
        Self {
            ssrc: word(0),
            fraction_lost: b[4],
            cumulative_lost,
            highest_seq: word(8),
            jitter: word(12),
            lsr: word(16),
            dlsr: word(20),
        }
    }

    fn write(&self, out: &mut [u8]) {
        out[0..4].copy_from_slice(&self.ssrc.to_be_bytes());
        let lost = (self.cumulative_lost.clamp(-0x80_0000, 0x7F_FFFF) as u32) & 0x00FF_FFFF;
        out[4..8].copy_from_slice(&((u32::from(self.fraction_lost) << 24) | lost).to_be_bytes());
        out[8..12].copy_from_slice(&self.highest_seq.to_be_bytes());
        out[12..16].copy_from_slice(&self.jitter.to_be_bytes());
        out[16..20].copy_from_slice(&self.lsr.to_be_bytes());
        out[20..24].copy_from_slice(&self.dlsr.to_be_bytes());
    }
}

/// Sender information of an SR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderInfo {
    /// NTP timestamp of the report.
    pub ntp: u64,
    /// RTP timestamp corresponding to `ntp`.
    pub rtp_ts: u32,
    /// Packets sent.
    pub packets: u32,
    /// Payload octets sent.
    pub octets: u32,
}

/// One RTCP packet of a compound datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtcpPacket<'a> {
    /// Sender report (PT 200).
    SenderReport {
        /// Sender SSRC.
        ssrc: u32,
        /// Sender information.
        info: SenderInfo,
        /// Raw report blocks (iterate with [`report_blocks`]).
        blocks: &'a [u8],
    },
    /// Receiver report (PT 201).
    ReceiverReport {
        /// Reporter SSRC.
        ssrc: u32,
        /// Raw report blocks (iterate with [`report_blocks`]).
        blocks: &'a [u8],
    },
    /// Any other packet type (SDES, BYE, APP, feedback), skipped.
    Other {
        /// Packet type.
        packet_type: u8,
    },
}

/// Iterates the report blocks of an SR/RR.
pub fn report_blocks(blocks: &[u8]) -> impl Iterator<Item = ReportBlock> + '_ {
    blocks.chunks_exact(24).map(ReportBlock::parse)
}

/// Iterates the packets of a compound RTCP datagram without allocating.
pub fn parse_compound(d: &[u8]) -> impl Iterator<Item = Result<RtcpPacket<'_>, RtpError>> + '_ {
    let mut off = 0usize;
    std::iter::from_fn(move || {
        if off >= d.len() {
            return None;
        }
        let rest = &d[off..];
        if rest.len() < 4 {
            off = d.len();
            return Some(Err(RtpError::Truncated { len: d.len() }));
        }
        let version = rest[0] >> 6;
        if version != 2 {
            off = d.len();
            return Some(Err(RtpError::BadVersion { version }));
        }
        let count = usize::from(rest[0] & 0x1F);
        let packet_type = rest[1];
        let len = (usize::from(u16::from_be_bytes([rest[2], rest[3]])) + 1) * 4;
        if rest.len() < len {
            off = d.len();
            return Some(Err(RtpError::Truncated { len: d.len() }));
        }
        let p = &rest[..len];
        off += len;
        let word = |i: usize| u32::from_be_bytes([p[i], p[i + 1], p[i + 2], p[i + 3]]);
        let blocks_in = |start: usize| -> Result<&[u8], RtpError> {
            let end = start + 24 * count;
            if p.len() < end {
                return Err(RtpError::Truncated { len: p.len() });
            }
            Ok(&p[start..end])
        };
        Some(match packet_type {
            200 if len >= 28 => blocks_in(28).map(|blocks| RtcpPacket::SenderReport {
                ssrc: word(4),
                info: SenderInfo {
                    ntp: (u64::from(word(8)) << 32) | u64::from(word(12)),
                    rtp_ts: word(16),
                    packets: word(20),
                    octets: word(24),
                },
                blocks,
            }),
            201 if len >= 8 => blocks_in(8).map(|blocks| RtcpPacket::ReceiverReport {
                ssrc: word(4),
                blocks,
            }),
            200 | 201 => Err(RtpError::Truncated { len: p.len() }),
            _ => Ok(RtcpPacket::Other { packet_type }),
        })
    })
}

/// Writes a compound RTCP report into `out`: an SR when `sender` is `Some` (we sent media since
/// the last report), else an RR; at most one report block; then SDES with `cname`. Returns the
/// datagram length.
pub fn write_report(
    out: &mut [u8],
    ssrc: u32,
    sender: Option<SenderInfo>,
    block: Option<ReportBlock>,
    cname: &str,
) -> Result<usize, RtpError> {
    let cname = &cname.as_bytes()[..cname.len().min(255)];
    let rc = usize::from(block.is_some());
    let report_len = if sender.is_some() { 28 } else { 8 } + 24 * rc;
    // SDES: header 4 + SSRC 4 + item (2 + cname) + end byte, padded to a multiple of 4.
    let sdes_len = (8 + 2 + cname.len() + 1).div_ceil(4) * 4;
    let need = report_len + sdes_len;
    if out.len() < need {
        return Err(RtpError::BufferTooSmall { need });
    }
    out[..need].fill(0);
    out[0] = 0x80 | rc as u8;
    out[1] = if sender.is_some() { 200 } else { 201 };
    out[2..4].copy_from_slice(&((report_len / 4 - 1) as u16).to_be_bytes());
    out[4..8].copy_from_slice(&ssrc.to_be_bytes());
    let mut off = 8;
    if let Some(s) = sender {
        out[8..16].copy_from_slice(&s.ntp.to_be_bytes());
        out[16..20].copy_from_slice(&s.rtp_ts.to_be_bytes());
        out[20..24].copy_from_slice(&s.packets.to_be_bytes());
        out[24..28].copy_from_slice(&s.octets.to_be_bytes());
        off = 28;
    }
    if let Some(b) = block {
        b.write(&mut out[off..off + 24]);
    }
    let s = &mut out[report_len..need];
    s[0] = 0x81;
    s[1] = 202;
    s[2..4].copy_from_slice(&((sdes_len / 4 - 1) as u16).to_be_bytes());
    s[4..8].copy_from_slice(&ssrc.to_be_bytes());
    s[8] = 1; // CNAME
    s[9] = cname.len() as u8;
    s[10..10 + cname.len()].copy_from_slice(cname);
    Ok(need)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sr_with_block_round_trips_and_rr_follows_sdes() {
        let block = ReportBlock {
            ssrc: 0xABCD,
            fraction_lost: 12,
            cumulative_lost: -3,
            highest_seq: 70_000,
            jitter: 44,
            lsr: 0x1234_5678,
            dlsr: 65_536,
        };
        let info = SenderInfo {
            ntp: ntp_from_unix(Duration::from_secs(1_700_000_000)),
            rtp_ts: 160,
            packets: 5,
            octets: 800,
        };
        let mut buf = [0u8; 128];
        let n = write_report(&mut buf, 99, Some(info), Some(block), "callgate").unwrap();
        let packets: Vec<_> = parse_compound(&buf[..n]).collect::<Result<_, _>>().unwrap();
        assert_eq!(packets.len(), 2);
        let RtcpPacket::SenderReport {
            ssrc,
            info: got,
            blocks,
        } = packets[0]
        else {
            panic!("expected SR, got {:?}", packets[0]);
        };
        assert_eq!((ssrc, got), (99, info));
        assert_eq!(report_blocks(blocks).collect::<Vec<_>>(), vec![block]);
        assert_eq!(packets[1], RtcpPacket::Other { packet_type: 202 });

        let n = write_report(&mut buf, 7, None, None, "x").unwrap();
        let first = parse_compound(&buf[..n]).next().unwrap().unwrap();
        assert!(
            matches!(first, RtcpPacket::ReceiverReport { ssrc: 7, blocks } if blocks.is_empty())
        );
    }

    #[test]
    fn truncated_compound_reports_an_error() {
        let mut buf = [0u8; 128];
        let n = write_report(&mut buf, 1, None, Some(ReportBlock::default()), "c").unwrap();
        let cut = &buf[..20];
        assert!(n > 20);
        assert!(parse_compound(cut).any(|r| r.is_err()));
    }

    #[test]
    fn rtt_is_arrival_minus_lsr_minus_dlsr() {
        let sent = ntp_compact(ntp_from_unix(Duration::from_millis(1_700_000_000_000)));
        let arrival = ntp_compact(ntp_from_unix(Duration::from_millis(1_700_000_000_250)));
        // the peer held our SR for 150 ms before reporting: RTT = 100 ms
        let dlsr = 65_536 * 150 / 1000;
        let rtt = rtt_from_report(arrival, sent, dlsr).unwrap();
        assert!((rtt.as_secs_f64() - 0.100).abs() < 0.001, "{rtt:?}");
        assert_eq!(rtt_from_report(arrival, 0, dlsr), None);
        assert_eq!(rtt_from_report(sent, arrival, 0), None);
    }
}
