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
            return UdpSocket::bind(SocketAddr::new(self.bind_ip, 0))
                .await
                .map_err(|source| PbxError::MediaBind {
                    ip: self.bind_ip,
                    source,
                });
        }
        let span = u32::from(self.max - self.min) + 1;
        let start = self.cursor.fetch_add(1, Ordering::Relaxed) % span;
        for i in 0..span {
            let port = self.min + ((start + i) % span) as u16;
            match UdpSocket::bind(SocketAddr::new(self.bind_ip, port)).await {
                Ok(sock) => {
                    self.cursor.store(start + i + 1, Ordering::Relaxed);
                    return Ok(sock);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => continue,
                Err(source) => {
                    return Err(PbxError::MediaBind {
                        ip: self.bind_ip,
                        source,
                    });
                }
            }
        }
        Err(PbxError::NoFreePort {
            min: self.min,
            max: self.max,
        })
    }
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
