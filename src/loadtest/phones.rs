//! [`Phones`]: the load run's simulated WhatsApp users, [`LoadPhone`]s spread over a few worker
//! tasks. A worker owns its phones and ONE UDP socket (all its phones share that address as
//! their host candidate, as many users behind one carrier NAT would), demultiplexes datagrams by
//! source address (str0m's `Rtc::accepts` for the first STUN request of a call), and runs one
//! 1 ms clock for all its phones: each phone sends a frame every 20 ms at its own phase, so the
//! load reaches callgate spread over time as real calls do, not in bursts.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use str0m::config::DtlsCert;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::time::MissedTickBehavior;

use super::phone::{LoadPhone, PhoneReport, ToneFrames};
use super::probe::CallProbe;

/// One audio frame.
const FRAME: Duration = Duration::from_millis(20);
/// The workers' clock.
const CLOCK: Duration = Duration::from_millis(1);
/// Largest datagram read.
const MAX_DATAGRAM: usize = 2048;

/// A phone's address: its worker and its slot there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhoneId {
    worker: usize,
    slot: usize,
}

enum Cmd {
    New {
        probe: CallProbe,
        reply: oneshot::Sender<Result<(usize, String), String>>,
    },
    Answer {
        slot: usize,
        sdp: String,
    },
    HangUp {
        slot: usize,
        reply: oneshot::Sender<PhoneReport>,
    },
}

/// The phones of a load run. Cheap to clone.
#[derive(Clone)]
pub struct Phones {
    workers: Arc<Vec<mpsc::UnboundedSender<Cmd>>>,
    next: Arc<AtomicUsize>,
}

impl Phones {
    /// Starts `workers` worker tasks with sockets on `ip`, all phones playing `tone`.
    pub async fn start(ip: IpAddr, workers: usize, tone: Arc<ToneFrames>) -> std::io::Result<Self> {
        let cert = str0m::crypto::from_feature_flags()
            .dtls_provider
            .generate_certificate();
        let mut senders = Vec::new();
        for _ in 0..workers.max(1) {
            let socket = bind_large(SocketAddr::new(ip, 0))?;
            let (tx, rx) = mpsc::unbounded_channel();
            let w = Worker {
                local: socket.local_addr()?,
                socket,
                tone: tone.clone(),
                cert: cert.clone(),
                phones: Vec::new(),
                by_remote: HashMap::new(),
            };
            tokio::spawn(w.run(rx));
            senders.push(tx);
        }
        Ok(Self {
            workers: Arc::new(senders),
            next: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// A new calling phone reporting to `probe`, and its Meta-shaped offer.
    pub async fn new_phone(&self, probe: CallProbe) -> Result<(PhoneId, String), String> {
        let worker = self.next.fetch_add(1, Ordering::Relaxed) % self.workers.len();
        let (reply, rx) = oneshot::channel();
        self.send(worker, Cmd::New { probe, reply })?;
        let (slot, sdp) = rx.await.map_err(|_| gone())??;
        Ok((PhoneId { worker, slot }, sdp))
    }

    /// Gives a phone the business's answer.
    pub fn answer(&self, id: PhoneId, sdp: String) -> Result<(), String> {
        self.send(id.worker, Cmd::Answer { slot: id.slot, sdp })
    }

    /// Hangs a phone up and returns what it saw.
    pub async fn hang_up(&self, id: PhoneId) -> Result<PhoneReport, String> {
        let (reply, rx) = oneshot::channel();
        self.send(
            id.worker,
            Cmd::HangUp {
                slot: id.slot,
                reply,
            },
        )?;
        rx.await.map_err(|_| gone())
    }

    fn send(&self, worker: usize, cmd: Cmd) -> Result<(), String> {
        self.workers[worker].send(cmd).map_err(|_| gone())
    }
}

fn gone() -> String {
    "the phone worker has stopped".into()
}

struct Entry {
    phone: LoadPhone,
    timeout: Instant,
    next_frame: Instant,
}

struct Worker {
    socket: UdpSocket,
    local: SocketAddr,
    tone: Arc<ToneFrames>,
    cert: Option<DtlsCert>,
    phones: Vec<Option<Entry>>,
    by_remote: HashMap<SocketAddr, usize>,
}

impl Worker {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Cmd>) {
        let mut clock = tokio::time::interval(CLOCK);
        clock.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let mut buf = vec![0u8; MAX_DATAGRAM];
        loop {
            tokio::select! {
                r = self.socket.readable() => {
                    if r.is_err() {
                        tokio::time::sleep(CLOCK).await;
                        continue;
                    }
                    self.receive_all(&mut buf);
                }
                cmd = rx.recv() => match cmd {
                    Some(cmd) => self.command(cmd),
                    None => return,
                },
                _ = clock.tick() => self.clock(Instant::now()),
            }
        }
    }

    /// Reads every datagram waiting on the socket.
    fn receive_all(&mut self, buf: &mut [u8]) {
        loop {
            let (n, from) = match self.socket.try_recv_from(buf) {
                Ok(r) => r,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(_) => continue,
            };
            let now = Instant::now();
            let bytes = &buf[..n];
            let Some(slot) = self.find(now, from, bytes) else {
                continue;
            };
            let Some(e) = self.phones[slot].as_mut() else {
                continue;
            };
            e.phone.handle_datagram(now, from, bytes);
            e.timeout = e.phone.poll(|to, d| send(&self.socket, to, d));
        }
    }

    /// The phone `from` belongs to: known by address, else asked (the first STUN of a call).
    fn find(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) -> Option<usize> {
        if let Some(&slot) = self.by_remote.get(&from)
            && self.phones[slot].is_some()
        {
            return Some(slot);
        }
        let slot = self.phones.iter().position(|e| {
            e.as_ref()
                .is_some_and(|e| e.phone.accepts(now, from, bytes))
        })?;
        self.by_remote.insert(from, slot);
        Some(slot)
    }

    fn command(&mut self, cmd: Cmd) {
        let now = Instant::now();
        match cmd {
            Cmd::New { probe, reply } => {
                let made = LoadPhone::offer(
                    now,
                    self.local,
                    self.tone.clone(),
                    self.cert.clone(),
                    Some(probe),
                );
                let answer = made.map(|(phone, sdp)| {
                    // Spread the phones' frames over the 20 ms period.
                    let phase = Duration::from_micros(rand::random_range(0..20_000));
                    let e = Entry {
                        phone,
                        timeout: now,
                        next_frame: now + phase,
                    };
                    let slot = match self.phones.iter().position(Option::is_none) {
                        Some(s) => {
                            self.phones[s] = Some(e);
                            s
                        }
                        None => {
                            self.phones.push(Some(e));
                            self.phones.len() - 1
                        }
                    };
                    (slot, sdp)
                });
                let _ = reply.send(answer);
            }
            Cmd::Answer { slot, sdp } => {
                if let Some(e) = self.phones.get_mut(slot).and_then(Option::as_mut) {
                    if let Err(err) = e.phone.apply_answer(&sdp) {
                        tracing::warn!(error = %err, "load phone: answer refused");
                    }
                    e.timeout = e.phone.poll(|to, d| send(&self.socket, to, d));
                }
            }
            Cmd::HangUp { slot, reply } => {
                if let Some(mut e) = self.phones.get_mut(slot).and_then(Option::take) {
                    let report = e.phone.report();
                    e.phone.hang_up();
                    self.by_remote.retain(|_, s| *s != slot);
                    let _ = reply.send(report);
                }
            }
        }
    }

    /// Every millisecond: frames that are due, timers that are due.
    fn clock(&mut self, now: Instant) {
        for e in self.phones.iter_mut().flatten() {
            let mut touched = false;
            if e.next_frame <= now {
                e.next_frame += FRAME;
                if e.next_frame < now {
                    // The worker fell behind (an overloaded machine): skip, keep the phase.
                    e.next_frame = now + FRAME;
                }
                touched |= e.phone.send_frame(now);
            }
            if e.timeout <= now {
                e.phone.handle_timeout(now);
                touched = true;
            }
            if touched {
                e.timeout = e.phone.poll(|to, d| send(&self.socket, to, d));
            }
        }
    }
}

/// Receive buffer of a worker's socket: hundreds of calls' packets arrive on it, and a stall
/// of the generator must not drop them (the OS caps it at `net.core.rmem_max`).
const RECV_BUFFER: usize = 4 << 20;

/// A UDP socket on `addr` with a [`RECV_BUFFER`] receive buffer.
pub(super) fn bind_large(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let socket = std::net::UdpSocket::bind(addr)?;
    socket2::SockRef::from(&socket).set_recv_buffer_size(RECV_BUFFER)?;
    socket.set_nonblocking(true)?;
    UdpSocket::from_std(socket)
}

fn send(socket: &UdpSocket, to: SocketAddr, bytes: &[u8]) {
    if let Err(e) = socket.try_send_to(bytes, to)
        && e.kind() != std::io::ErrorKind::WouldBlock
    {
        tracing::debug!(error = %e, %to, "load phone: send failed");
    }
}
