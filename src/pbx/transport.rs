//! The SIP transport on `[sip] listen`: one UDP socket and one TCP listener on the same port,
//! reader tasks that parse what arrives (TCP cut by `callgate_sip::framing`), and a router
//! task that hands each message to the call owning its Call-ID ([`SipTransport::register`]).
//! What belongs to no call is answered here: 481 to in-dialog requests, 200 to out-of-dialog
//! OPTIONS (keep-alive pings), new INVITEs go to [`SipTransport::take_new_calls`] (answered 501
//! while nobody takes them); stray responses and ACKs are dropped.
//!
//! [`SipSender`] is the cloneable send handle: the UDP socket is shared, TCP connections are
//! kept per peer (the ones we open and the ones the PBX opens to us), so a response or an
//! in-dialog request goes back over the connection the peer already uses.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use callgate_sip::framing::{Frame, StreamFramer};
use callgate_sip::message::{self, raw_header};
use callgate_sip::rsip::{Method, Request, SipMessage};
use callgate_sip::transaction::{Peer, Transmit, Transport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};

use super::PbxError;
use crate::config::SipConfig;

/// Methods the gateway's SIP side understands (for `Allow`).
pub const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO";

/// Messages queued per call before the router drops (UDP-like) instead of waiting.
const INBOX_DEPTH: usize = 64;
/// How long opening a TCP connection to a peer may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A parsed SIP message and where it came from.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// The message.
    pub message: SipMessage,
    /// Sender address and transport.
    pub from: Peer,
}

/// A new INVITE from the PBX side (a business-initiated call from a SIP phone).
#[derive(Debug)]
pub struct NewCall {
    /// The INVITE.
    pub request: Request,
    /// Where it came from.
    pub from: Peer,
    sender: SipSender,
}

impl NewCall {
    /// Refuses the call with `status` (e.g. 403 or 501), statelessly.
    pub async fn reject(self, status: u16) -> Result<(), PbxError> {
        let resp = message::response_to(&self.request, status, None, Some(&message::new_tag()));
        self.respond(resp).await
    }

    /// Answers the INVITE statelessly with `resp` (a refusal with explanatory headers, a
    /// digest challenge).
    pub async fn respond(&self, resp: callgate_sip::rsip::Response) -> Result<(), PbxError> {
        self.sender
            .send(self.from, &message::to_bytes(&resp.into()))
            .await
    }
}

enum Command {
    Register(String, mpsc::Sender<Incoming>),
    Unregister(String),
    NewCalls(mpsc::Sender<NewCall>),
}

/// What a call task receives: every message with its Call-ID. Dropping it unregisters.
#[derive(Debug)]
pub struct CallInbox {
    call_id: String,
    rx: mpsc::Receiver<Incoming>,
    commands: mpsc::UnboundedSender<Command>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Register(c, _) => write!(f, "Register({c})"),
            Command::Unregister(c) => write!(f, "Unregister({c})"),
            Command::NewCalls(_) => write!(f, "NewCalls"),
        }
    }
}

impl CallInbox {
    /// The next message for this call; `None` once the transport has stopped.
    pub async fn recv(&mut self) -> Option<Incoming> {
        self.rx.recv().await
    }

    /// The Call-ID this inbox receives.
    pub fn call_id(&self) -> &str {
        &self.call_id
    }
}

impl Drop for CallInbox {
    fn drop(&mut self) {
        // Closed first, so the router can tell this registration from a newer one.
        self.rx.close();
        let _ = self
            .commands
            .send(Command::Unregister(std::mem::take(&mut self.call_id)));
    }
}

type Conns = Arc<Mutex<HashMap<SocketAddr, mpsc::UnboundedSender<Vec<u8>>>>>;
type NewConn = (TcpStream, SocketAddr, mpsc::UnboundedReceiver<Vec<u8>>);

/// Cloneable handle to send SIP bytes to a peer.
#[derive(Clone)]
pub struct SipSender {
    udp: Arc<UdpSocket>,
    conns: Conns,
    spawn: mpsc::UnboundedSender<NewConn>,
}

impl std::fmt::Debug for SipSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SipSender")
            .field("udp", &self.udp.local_addr().ok())
            .finish()
    }
}

impl SipSender {
    /// Sends `bytes` to `to`: a datagram over UDP; over TCP on the connection to that peer,
    /// opening one when there is none.
    pub async fn send(&self, to: Peer, bytes: &[u8]) -> Result<(), PbxError> {
        let err = |source| PbxError::Send {
            addr: to.addr,
            source,
        };
        match to.transport {
            Transport::Udp => self
                .udp
                .send_to(bytes, to.addr)
                .await
                .map(|_| ())
                .map_err(err),
            _ => {
                let existing = self
                    .conns
                    .lock()
                    .expect("conns lock")
                    .get(&to.addr)
                    .cloned();
                if let Some(tx) = existing
                    && tx.send(bytes.to_vec()).is_ok()
                {
                    return Ok(());
                }
                let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(to.addr))
                    .await
                    .map_err(|_| err(std::io::ErrorKind::TimedOut.into()))?
                    .map_err(err)?;
                let _ = stream.set_nodelay(true);
                let (tx, rx) = mpsc::unbounded_channel();
                tx.send(bytes.to_vec()).expect("receiver alive");
                self.conns.lock().expect("conns lock").insert(to.addr, tx);
                self.spawn
                    .send((stream, to.addr, rx))
                    .map_err(|_| err(std::io::ErrorKind::BrokenPipe.into()))
            }
        }
    }

    /// Sends what a transaction layer asked for.
    pub async fn send_transmit(&self, t: &Transmit) -> Result<(), PbxError> {
        self.send(t.to, &t.bytes()).await
    }
}

/// The bound SIP sockets and their tasks; dropping it stops them.
#[derive(Debug)]
pub struct SipTransport {
    local: SocketAddr,
    sender: SipSender,
    commands: mpsc::UnboundedSender<Command>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for SipTransport {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl SipTransport {
    /// Binds UDP and TCP on `[sip] listen` (port 0: one free port for both) and starts the
    /// reader and router tasks.
    pub async fn bind(cfg: &SipConfig) -> Result<Self, PbxError> {
        let bind_err = |addr, source| PbxError::Bind { addr, source };
        let mut last = None;
        for _ in 0..20 {
            let udp = UdpSocket::bind(cfg.listen)
                .await
                .map_err(|e| bind_err(cfg.listen, e))?;
            let local = udp.local_addr().map_err(|e| bind_err(cfg.listen, e))?;
            match TcpListener::bind(local).await {
                Ok(tcp) => return Ok(Self::start(udp, tcp, local)),
                Err(e) if cfg.listen.port() == 0 && e.kind() == std::io::ErrorKind::AddrInUse => {
                    last = Some(e);
                }
                Err(e) => return Err(bind_err(local, e)),
            }
        }
        Err(bind_err(
            cfg.listen,
            last.unwrap_or_else(|| std::io::ErrorKind::AddrInUse.into()),
        ))
    }

    fn start(udp: UdpSocket, tcp: TcpListener, local: SocketAddr) -> Self {
        let udp = Arc::new(udp);
        let conns: Conns = Arc::default();
        let (spawn_tx, spawn_rx) = mpsc::unbounded_channel();
        let (in_tx, in_rx) = mpsc::unbounded_channel();
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let sender = SipSender {
            udp: udp.clone(),
            conns: conns.clone(),
            spawn: spawn_tx,
        };
        let tasks = vec![
            tokio::spawn(udp_reader(udp, in_tx.clone())),
            tokio::spawn(tcp_manager(tcp, spawn_rx, conns, in_tx)),
            tokio::spawn(
                Router {
                    calls: HashMap::new(),
                    new_calls: None,
                    sender: sender.clone(),
                }
                .run(cmd_rx, in_rx),
            ),
        ];
        Self {
            local,
            sender,
            commands: cmd_tx,
            tasks,
        }
    }

    /// The bound address (UDP and TCP).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// A handle to send with.
    pub fn sender(&self) -> SipSender {
        self.sender.clone()
    }

    /// Routes every message with `call_id` to the returned inbox until it is dropped. Register
    /// before sending the first request of the call.
    pub fn register(&self, call_id: &str) -> CallInbox {
        let (tx, rx) = mpsc::channel(INBOX_DEPTH);
        let _ = self
            .commands
            .send(Command::Register(call_id.to_string(), tx));
        CallInbox {
            call_id: call_id.to_string(),
            rx,
            commands: self.commands.clone(),
        }
    }

    /// New INVITEs from now on go to the returned receiver (previously: answered 501). When
    /// the receiver is dropped, the transport answers 501 again.
    pub fn take_new_calls(&self) -> mpsc::Receiver<NewCall> {
        let (tx, rx) = mpsc::channel(INBOX_DEPTH);
        let _ = self.commands.send(Command::NewCalls(tx));
        rx
    }
}

async fn udp_reader(udp: Arc<UdpSocket>, out: mpsc::UnboundedSender<Incoming>) {
    let mut buf = vec![0u8; 65536];
    loop {
        let (n, addr) = match udp.recv_from(&mut buf).await {
            Ok(r) => r,
            // ICMP errors surface here on some systems; the socket stays usable.
            Err(e) => {
                tracing::debug!(error = %e, "SIP UDP receive error");
                continue;
            }
        };
        let from = Peer {
            transport: Transport::Udp,
            addr,
        };
        if let Some(message) = parse(&buf[..n], from)
            && out.send(Incoming { message, from }).is_err()
        {
            return;
        }
    }
}

fn parse(bytes: &[u8], from: Peer) -> Option<SipMessage> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return None; // CRLF keep-alive
    }
    match message::parse_message(bytes) {
        Ok(m) => Some(m),
        Err(e) => {
            tracing::warn!(peer = %from.addr, error = %e, "dropping unparseable SIP message");
            None
        }
    }
}

async fn tcp_manager(
    listener: TcpListener,
    mut spawn: mpsc::UnboundedReceiver<NewConn>,
    conns: Conns,
    out: mpsc::UnboundedSender<Incoming>,
) {
    let mut set = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, addr)) => {
                    let _ = stream.set_nodelay(true);
                    let (tx, rx) = mpsc::unbounded_channel();
                    conns.lock().expect("conns lock").insert(addr, tx);
                    set.spawn(connection(stream, addr, rx, conns.clone(), out.clone()));
                }
                Err(e) => tracing::warn!(error = %e, "SIP TCP accept failed"),
            },
            Some((stream, addr, rx)) = spawn.recv() => {
                set.spawn(connection(stream, addr, rx, conns.clone(), out.clone()));
            }
            Some(_) = set.join_next(), if !set.is_empty() => {}
        }
    }
}

async fn connection(
    stream: TcpStream,
    addr: SocketAddr,
    mut rx: mpsc::UnboundedReceiver<Vec<u8>>,
    conns: Conns,
    out: mpsc::UnboundedSender<Incoming>,
) {
    let (mut rd, mut wr) = stream.into_split();
    let mut framer = StreamFramer::default();
    let mut buf = vec![0u8; 16384];
    let from = Peer {
        transport: Transport::Tcp,
        addr,
    };
    'conn: loop {
        tokio::select! {
            read = rd.read(&mut buf) => {
                let n = match read { Ok(0) | Err(_) => break 'conn, Ok(n) => n };
                framer.push(&buf[..n]);
                loop {
                    match framer.next_frame() {
                        Ok(Some(Frame::Message(bytes))) => {
                            if let Some(message) = parse(&bytes, from) {
                                let _ = out.send(Incoming { message, from });
                            }
                        }
                        Ok(Some(Frame::KeepAlive)) => {
                            if wr.write_all(b"\r\n").await.is_err() { break 'conn; }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            tracing::warn!(peer = %addr, error = %e, "closing SIP TCP connection");
                            break 'conn;
                        }
                    }
                }
            }
            bytes = rx.recv() => match bytes {
                Some(b) => if wr.write_all(&b).await.is_err() { break 'conn },
                None => break 'conn,
            },
        }
    }
    // Our sender in the table is now closed; a newer connection to the same peer is kept.
    rx.close();
    drop(rx);
    let mut map = conns.lock().expect("conns lock");
    if map.get(&addr).is_some_and(|tx| tx.is_closed()) {
        map.remove(&addr);
    }
}

struct Router {
    calls: HashMap<String, mpsc::Sender<Incoming>>,
    new_calls: Option<mpsc::Sender<NewCall>>,
    sender: SipSender,
}

impl Router {
    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut inbound: mpsc::UnboundedReceiver<Incoming>,
    ) {
        loop {
            // Commands first: a call registers before it sends, so its answers find it.
            tokio::select! {
                biased;
                cmd = commands.recv() => match cmd {
                    Some(Command::Register(id, tx)) => { self.calls.insert(id, tx); }
                    Some(Command::Unregister(id)) => {
                        if self.calls.get(&id).is_some_and(|tx| tx.is_closed()) {
                            self.calls.remove(&id);
                        }
                    }
                    Some(Command::NewCalls(tx)) => self.new_calls = Some(tx),
                    None => return,
                },
                msg = inbound.recv() => match msg {
                    Some(m) => self.route(m).await,
                    None => return,
                },
            }
        }
    }

    async fn route(&mut self, incoming: Incoming) {
        let Ok(call_id) = message::call_id(&incoming.message) else {
            tracing::debug!(peer = %incoming.from.addr, "dropping SIP message without Call-ID");
            return;
        };
        let incoming = match self.calls.get(&call_id) {
            Some(tx) => match tx.try_send(incoming) {
                Ok(()) => return,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    tracing::warn!(%call_id, "call is not reading SIP; dropping a message");
                    return;
                }
                Err(mpsc::error::TrySendError::Closed(m)) => {
                    self.calls.remove(&call_id);
                    m
                }
            },
            None => incoming,
        };
        let from = incoming.from;
        let SipMessage::Request(req) = incoming.message else {
            tracing::debug!(%call_id, "dropping SIP response for no call");
            return;
        };
        let in_dialog = message::to_tag(&req).is_some();
        let status = match req.method {
            Method::Ack => return,
            Method::Options if !in_dialog => 200,
            Method::Invite if !in_dialog => {
                let call = NewCall {
                    request: req,
                    from,
                    sender: self.sender.clone(),
                };
                match &self.new_calls {
                    Some(tx) => match tx.try_send(call) {
                        Ok(()) => return,
                        Err(
                            mpsc::error::TrySendError::Full(c)
                            | mpsc::error::TrySendError::Closed(c),
                        ) => {
                            if tx.is_closed() {
                                self.new_calls = None;
                            }
                            let _ = c.reject(501).await;
                            return;
                        }
                    },
                    None => {
                        let _ = call.reject(501).await;
                        return;
                    }
                }
            }
            _ if in_dialog => 481,
            Method::Cancel => 481,
            _ => 501,
        };
        let mut resp = message::response_to(&req, status, None, Some(&message::new_tag()));
        if status == 200 {
            resp.headers.push(raw_header("Allow", ALLOW));
            resp.headers.push(raw_header("Accept", "application/sdp"));
        }
        if let Err(e) = self
            .sender
            .send(from, &message::to_bytes(&resp.into()))
            .await
        {
            tracing::debug!(error = %e, "cannot answer a SIP request for no call");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn bound() -> (SipTransport, tokio::net::UdpSocket) {
        let cfg = SipConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            setup_timeout_s: 2,
            ..SipConfig::default()
        };
        let t = SipTransport::bind(&cfg).await.unwrap();
        let client = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        (t, client)
    }

    fn request(method: &str, call_id: &str, to_tag: Option<&str>) -> String {
        let tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
        format!(
            "{method} sip:callgate@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK{}\r\n\
             From: <sip:pbx@127.0.0.1>;tag=p1\r\nTo: <sip:callgate@127.0.0.1>{tag}\r\n\
             Call-ID: {call_id}\r\nCSeq: 1 {method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            message::new_tag()
        )
    }

    async fn exchange(client: &tokio::net::UdpSocket, to: SocketAddr, msg: &str) -> u16 {
        client.send_to(msg.as_bytes(), to).await.unwrap();
        let mut buf = vec![0u8; 4096];
        let (n, _) = tokio::time::timeout(Duration::from_secs(2), client.recv_from(&mut buf))
            .await
            .expect("an answer")
            .unwrap();
        match message::parse_message(&buf[..n]).unwrap() {
            SipMessage::Response(r) => r.status_code.code(),
            other => panic!("expected a response, got {other}"),
        }
    }

    #[tokio::test]
    async fn requests_for_no_call_are_answered_by_the_transport() {
        let (t, client) = bound().await;
        let to = t.local_addr();
        assert_eq!(
            exchange(&client, to, &request("OPTIONS", "ka", None)).await,
            200
        );
        assert_eq!(
            exchange(&client, to, &request("BYE", "gone", Some("x"))).await,
            481
        );
        assert_eq!(
            exchange(&client, to, &request("OPTIONS", "gone", Some("x"))).await,
            481
        );
        assert_eq!(
            exchange(&client, to, &request("INVITE", "new", None)).await,
            501
        );
        assert_eq!(
            exchange(&client, to, &request("MESSAGE", "m", None)).await,
            501
        );
    }

    #[tokio::test]
    async fn registered_call_receives_its_messages_until_the_inbox_is_dropped() {
        let (t, client) = bound().await;
        let to = t.local_addr();
        let mut inbox = t.register("c1");
        client
            .send_to(request("BYE", "c1", Some("x")).as_bytes(), to)
            .await
            .unwrap();
        let got = tokio::time::timeout(Duration::from_secs(2), inbox.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(matches!(got.message, SipMessage::Request(ref r) if r.method == Method::Bye));
        assert_eq!(got.from.addr, client.local_addr().unwrap());
        drop(inbox);
        assert_eq!(
            exchange(&client, to, &request("BYE", "c1", Some("x"))).await,
            481
        );
    }

    #[tokio::test]
    async fn new_invites_go_to_the_taker_who_can_reject_them() {
        let (t, client) = bound().await;
        let mut calls = t.take_new_calls();
        client
            .send_to(request("INVITE", "n1", None).as_bytes(), t.local_addr())
            .await
            .unwrap();
        let call = tokio::time::timeout(Duration::from_secs(2), calls.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(message::call_id(&call.request).unwrap(), "n1");
        call.reject(403).await.unwrap();
        let mut buf = vec![0u8; 4096];
        let (n, _) = client.recv_from(&mut buf).await.unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("SIP/2.0 403"));
        drop(calls);
        let to = t.local_addr();
        assert_eq!(
            exchange(&client, to, &request("INVITE", "n2", None)).await,
            501
        );
    }

    #[tokio::test]
    async fn tcp_frames_are_routed_and_answered_on_the_same_connection() {
        let (t, _) = bound().await;
        let mut inbox = t.register("tcp1");
        let mut conn = TcpStream::connect(t.local_addr()).await.unwrap();
        let two = format!(
            "{}{}",
            request("OPTIONS", "tcp-ka", None),
            request("BYE", "tcp1", Some("x"))
        );
        conn.write_all(two.as_bytes()).await.unwrap();
        let got = tokio::time::timeout(Duration::from_secs(2), inbox.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.from.transport, Transport::Tcp);
        let mut buf = vec![0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(2), conn.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("SIP/2.0 200"));
        // Our answer to the BYE goes back over the connection the PBX opened.
        t.sender()
            .send(got.from, b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n")
            .await
            .unwrap();
        let n = tokio::time::timeout(Duration::from_secs(2), conn.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("SIP/2.0 200 OK"));
    }
}
