//! The UDP port allocator over `[media] port_min..=port_max`: binds a socket on a free port of
//! the range (skipping ports in use), for both media legs of a call. The only shared state is
//! an atomic cursor, so successive calls spread over the range instead of racing for the
//! lowest port.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};

use tokio::net::UdpSocket;

use super::PbxError;
use crate::config::MediaConfig;

/// Hands out bound UDP sockets from a port range.
#[derive(Debug)]
pub struct PortAllocator {
    bind_ip: IpAddr,
    min: u16,
    max: u16,
    cursor: AtomicU32,
}

impl PortAllocator {
    /// Sockets bound on `bind_ip` (the local interface address, which may differ from
    /// `[media] public_ip` behind NAT) with ports in `min..=max` (swapped if reversed).
    pub fn new(bind_ip: IpAddr, min: u16, max: u16) -> Self {
        let (min, max) = if min <= max { (min, max) } else { (max, min) };
        Self {
            bind_ip,
            min,
            max,
            cursor: AtomicU32::new(0),
        }
    }

    /// The allocator for `[media]`, binding on `bind_ip`.
    pub fn from_config(cfg: &MediaConfig, bind_ip: IpAddr) -> Self {
        Self::new(bind_ip, cfg.port_min, cfg.port_max)
    }

    /// Binds a UDP socket on the next free port of the range; a port in use (EADDRINUSE) is
    /// skipped, any other error is returned. A `0..=0` range binds any free port.
    pub async fn bind(&self) -> Result<UdpSocket, PbxError> {
        if self.min == 0 && self.max == 0 {
            // No range configured: any free port.
            return self
                .bind_port(0)
                .await?
                .ok_or(PbxError::NoFreePort { min: 0, max: 0 });
        }
        let span = u32::from(self.max - self.min) + 1;
        let start = self.cursor.fetch_add(1, Ordering::Relaxed) % span;
        for i in 0..span {
            let port = self.min + ((start + i) % span) as u16;
            if let Some(sock) = self.bind_port(port).await? {
                self.cursor.store(start + i + 1, Ordering::Relaxed);
                return Ok(sock);
            }
        }
        Err(self.exhausted())
    }

    /// Binds an RTP socket on an even port and its RTCP socket on the next one (RFC 3550
    /// section 11), for a leg whose peer does not multiplex RTCP (most PBXes and SIP phones).
    pub async fn bind_pair(&self) -> Result<RtpPair, PbxError> {
        if self.min == 0 && self.max == 0 {
            // Any free even port whose neighbour is free too.
            for _ in 0..ANY_PAIR_TRIES {
                let Some(first) = self.bind_port(0).await? else {
                    continue;
                };
                let port = first.local_addr().map_err(|e| self.bind_error(e))?.port();
                let pair = if port % 2 == 0 {
                    self.bind_port(port.wrapping_add(1))
                        .await?
                        .map(|rtcp| RtpPair { rtp: first, rtcp })
                } else {
                    self.bind_port(port - 1)
                        .await?
                        .map(|rtp| RtpPair { rtp, rtcp: first })
                };
                if let Some(pair) = pair {
                    return Ok(pair);
                }
            }
            return Err(self.exhausted());
        }
        let first_even = self.min + self.min % 2;
        if first_even >= self.max {
            return Err(self.exhausted());
        }
        let pairs = u32::from(self.max - first_even).div_ceil(2);
        let start = self.cursor.fetch_add(1, Ordering::Relaxed) % pairs;
        for i in 0..pairs {
            let port = first_even + 2 * ((start + i) % pairs) as u16;
            let Some(rtp) = self.bind_port(port).await? else {
                continue;
            };
            if let Some(rtcp) = self.bind_port(port + 1).await? {
                self.cursor.store(start + i + 1, Ordering::Relaxed);
                return Ok(RtpPair { rtp, rtcp });
            }
        }
        Err(self.exhausted())
    }

    /// `Ok(None)` when `port` is in use.
    async fn bind_port(&self, port: u16) -> Result<Option<UdpSocket>, PbxError> {
        match UdpSocket::bind(SocketAddr::new(self.bind_ip, port)).await {
            Ok(sock) => Ok(Some(sock)),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Ok(None),
            Err(e) => Err(self.bind_error(e)),
        }
    }

    fn bind_error(&self, source: std::io::Error) -> PbxError {
        PbxError::MediaBind {
            ip: self.bind_ip,
            source,
        }
    }

    fn exhausted(&self) -> PbxError {
        PbxError::NoFreePort {
            min: self.min,
            max: self.max,
        }
    }
}

/// Attempts at an even/odd pair of free ports when no range is configured.
const ANY_PAIR_TRIES: usize = 64;

/// A PBX leg's media sockets: RTP on an even port, RTCP on the next.
#[derive(Debug)]
pub struct RtpPair {
    /// The RTP socket (the port our SDP announces).
    pub rtp: UdpSocket,
    /// The RTCP socket, on the RTP port + 1.
    pub rtcp: UdpSocket,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A range of `n` consecutive ports that were free a moment ago.
    fn free_range(n: u16) -> u16 {
        for _ in 0..50 {
            let probe = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            let base = probe.local_addr().unwrap().port();
            drop(probe);
            if base > 65535 - n {
                continue;
            }
            let all_free =
                (base..base + n).all(|p| std::net::UdpSocket::bind(("127.0.0.1", p)).is_ok());
            if all_free {
                return base;
            }
        }
        panic!("no free port range");
    }

    #[tokio::test]
    async fn binds_inside_the_range_and_skips_ports_in_use() {
        let base = free_range(3);
        let busy = std::net::UdpSocket::bind(("127.0.0.1", base)).unwrap();
        let alloc = PortAllocator::new("127.0.0.1".parse().unwrap(), base, base + 2);
        let a = alloc.bind().await.unwrap();
        let b = alloc.bind().await.unwrap();
        let pa = a.local_addr().unwrap().port();
        let pb = b.local_addr().unwrap().port();
        assert_ne!(pa, base);
        assert_ne!(pb, base);
        assert_ne!(pa, pb);
        assert!((base..=base + 2).contains(&pa) && (base..=base + 2).contains(&pb));
        drop(busy);
    }

    #[tokio::test]
    async fn rtp_pairs_take_an_even_port_and_the_next_skipping_half_free_pairs() {
        // An odd start (its first port cannot be RTP) and room for three pairs.
        let base = free_range(8) | 1;
        let (first_even, max) = (base + 1, base + 6);
        // The first pair's RTCP port is taken: the pair is skipped as a whole.
        let busy = std::net::UdpSocket::bind(("127.0.0.1", first_even + 1)).unwrap();
        let alloc = PortAllocator::new("127.0.0.1".parse().unwrap(), base, max);
        let a = alloc.bind_pair().await.unwrap();
        let b = alloc.bind_pair().await.unwrap();
        for p in [&a, &b] {
            let rtp = p.rtp.local_addr().unwrap().port();
            assert_eq!(rtp % 2, 0, "RTP on an even port");
            assert_eq!(p.rtcp.local_addr().unwrap().port(), rtp + 1);
            assert_ne!(rtp, first_even);
            assert!(rtp > base && rtp < max);
        }
        assert!(matches!(
            alloc.bind_pair().await,
            Err(PbxError::NoFreePort { .. })
        ));
        drop(busy);
    }

    #[tokio::test]
    async fn rtp_pairs_without_a_range_are_even_and_adjacent() {
        let alloc = PortAllocator::new("127.0.0.1".parse().unwrap(), 0, 0);
        for _ in 0..5 {
            let p = alloc.bind_pair().await.unwrap();
            let rtp = p.rtp.local_addr().unwrap().port();
            assert_eq!(rtp % 2, 0);
            assert_eq!(p.rtcp.local_addr().unwrap().port(), rtp + 1);
        }
    }

    #[tokio::test]
    async fn full_range_reports_no_free_port() {
        let base = free_range(2);
        let _a = std::net::UdpSocket::bind(("127.0.0.1", base)).unwrap();
        let _b = std::net::UdpSocket::bind(("127.0.0.1", base + 1)).unwrap();
        let alloc = PortAllocator::new("127.0.0.1".parse().unwrap(), base, base + 1);
        assert!(matches!(
            alloc.bind().await,
            Err(PbxError::NoFreePort { min, max }) if min == base && max == base + 1
        ));
    }
}
