//! The RFC 3261 section 17 transaction layer, sans-IO: [`TransactionLayer`] matches incoming
//! messages to client and server transactions (17.1.3 / 17.2.3), runs their timers (A-K, plus
//! RFC 6026's L and M) on the `Instant`s it is given, retransmits over unreliable transports,
//! and reports what to send ([`Transmit`]) and what happened ([`TransactionEvent`]).
//!
//! Run loop: feed [`TransactionLayer::handle_message`], [`TransactionLayer::send_request`],
//! [`TransactionLayer::send_response`], [`TransactionLayer::handle_transport_error`] and
//! [`TransactionLayer::handle_timeout`]; then drain [`TransactionLayer::poll_output`] until it
//! returns `None`; then sleep until [`TransactionLayer::poll_timeout`] (or the next input).
//!
//! Choices beyond RFC 3261, each documented where it is made:
//! - INVITE transactions use RFC 6026's Accepted state, so 2xx retransmissions reach the TU
//!   (client side) and stray INVITE retransmissions after a 2xx are absorbed (server side).
//! - The INVITE server transaction also retransmits its 2xx over UDP until the ACK arrives
//!   (the UAS core duty of RFC 3261 13.3.1.4) and reports [`TimeoutKind::NoAck`] after 64*T1:
//!   that is Meta's "call dies at ~32 s" failure made visible.
//! - Responses go back to the address the request came from (symmetric response routing, as
//!   with `rport`), over the same transport.

mod client;
mod server;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rsip::{Method, Request, Response, SipMessage};

use crate::message::{self, MessageError};

/// The transport a message travels over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Transport {
    /// UDP: unreliable, so the transaction layer retransmits.
    Udp,
    /// TCP: reliable, no retransmissions.
    Tcp,
    /// TLS over TCP: reliable, no retransmissions.
    Tls,
}

impl Transport {
    /// Whether the transport delivers reliably (no retransmission needed).
    pub fn is_reliable(self) -> bool {
        !matches!(self, Transport::Udp)
    }
}

/// The remote end of a message: where it came from or where to send it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Peer {
    /// Transport in use.
    pub transport: Transport,
    /// Remote socket address (for TCP/TLS the driver maps it to its connection).
    pub addr: SocketAddr,
}

/// RFC 3261 timer base values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerConfig {
    /// RTT estimate (default 500 ms).
    pub t1: Duration,
    /// Maximum retransmit interval for non-INVITE requests and INVITE responses (default 4 s).
    pub t2: Duration,
    /// Maximum time a message stays in the network (default 5 s).
    pub t4: Duration,
    /// Send `100 Trying` as soon as an INVITE server transaction is created (default true).
    pub send_100_trying: bool,
}

impl Default for TimerConfig {
    fn default() -> Self {
        Self {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
            send_100_trying: true,
        }
    }
}

/// Which side of the transaction we are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// We sent the request.
    Client,
    /// We received the request.
    Server,
}

/// Identifies a transaction: top Via branch plus CSeq method (ACK maps to INVITE on the
/// server side, RFC 3261 17.2.3), and our role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionKey {
    /// Our role.
    pub role: Role,
    /// Top Via branch (or a synthetic key for RFC 2543 peers that send none).
    pub branch: String,
    /// Request method (CANCEL has its own transaction with the INVITE's branch).
    pub method: Method,
}

impl Hash for TransactionKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.role.hash(state);
        self.branch.hash(state);
        self.method.to_string().hash(state);
    }
}

impl TransactionKey {
    /// For a CANCEL server transaction: the key of the INVITE it cancels (RFC 3261 9.2).
    pub fn cancelled_invite(&self) -> Option<TransactionKey> {
        (self.method == Method::Cancel).then(|| TransactionKey {
            role: self.role,
            branch: self.branch.clone(),
            method: Method::Invite,
        })
    }

    fn of(role: Role, msg: &SipMessage) -> Result<Self, MessageError> {
        let (num, mut method) = message::cseq(msg)?;
        if role == Role::Server && method == Method::Ack {
            method = Method::Invite;
        }
        let branch = match message::via_branch(msg) {
            Some(b) => b,
            None => format!(
                "rfc2543:{}:{}:{}",
                message::call_id(msg)?,
                num,
                message::from_tag(msg).unwrap_or_default()
            ),
        };
        Ok(Self {
            role,
            branch,
            method,
        })
    }
}

/// A message to put on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Destination.
    pub to: Peer,
    /// The message.
    pub message: SipMessage,
}

impl Transmit {
    /// Wire bytes of the message.
    pub fn bytes(&self) -> Vec<u8> {
        message::to_bytes(&self.message)
    }
}

/// What timed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeoutKind {
    /// No final response to our request (timer B or F): treat as 408.
    NoResponse,
    /// No ACK for our final response (timer H, or timer L after a 2xx): for a 2xx the UAS
    /// should end the dialog with BYE.
    NoAck,
}

/// What the transaction layer tells its user (the TU: dialog / call logic).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransactionEvent {
    /// A new request arrived. Answer it with [`TransactionLayer::send_response`] using `key`,
    /// except ACK (method ACK: a 2xx's ACK, never answered).
    Request {
        /// Server transaction key.
        key: TransactionKey,
        /// The request.
        request: Request,
        /// Where it came from.
        from: Peer,
    },
    /// A response to one of our requests (provisional, final, or a retransmitted 2xx of an
    /// INVITE, which the TU answers with the same ACK again).
    Response {
        /// Client transaction key.
        key: TransactionKey,
        /// The response.
        response: Response,
    },
    /// A timer expired without the expected message.
    Timeout {
        /// Transaction concerned.
        key: TransactionKey,
        /// What was missing.
        kind: TimeoutKind,
    },
    /// The driver reported that sending failed; the transaction is over.
    TransportError {
        /// Transaction concerned.
        key: TransactionKey,
    },
    /// The transaction ended and was removed.
    Terminated {
        /// Transaction concerned.
        key: TransactionKey,
    },
}

/// One output of [`TransactionLayer::poll_output`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send this.
    Transmit(Transmit),
    /// Tell the TU this.
    Event(TransactionEvent),
}

/// Errors from the TU's calls into the transaction layer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransactionError {
    /// The request or response is missing a header the layer needs (Via branch, CSeq...).
    #[error("cannot run a SIP transaction: {0}")]
    Message(#[from] MessageError),
    /// A client transaction with the same branch and method already exists.
    #[error(
        "a SIP transaction with branch {0} already exists; generate a fresh branch per request"
    )]
    Duplicate(String),
    /// No such transaction (it ended, or the key is wrong).
    #[error("no SIP transaction {0:?}; it has ended (timeout or final response already sent)")]
    Unknown(TransactionKey),
    /// The transaction cannot send this response in its current state.
    #[error("SIP transaction cannot send status {status} now: a final response was already sent")]
    InvalidState {
        /// Status code that was refused.
        status: u16,
    },
    /// ACK is not sent in a transaction: use [`TransactionLayer::send_stateless`].
    #[error("ACK is not sent through a transaction; send it with send_stateless")]
    AckNotTransaction,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    InviteClient,
    NonInviteClient,
    InviteServer,
    NonInviteServer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    Calling,
    Trying,
    Proceeding,
    Completed,
    Confirmed,
    Accepted,
    Terminated,
}

/// One transaction's state; the timer slots mean different RFC timers per kind (see client.rs
/// and server.rs).
#[derive(Debug)]
pub(crate) struct Transaction {
    pub key: TransactionKey,
    pub kind: Kind,
    pub state: State,
    pub peer: Peer,
    pub request: Request,
    pub last_response: Option<Response>,
    pub ack: Option<Request>,
    pub acked: bool,
    pub retransmit_at: Option<Instant>,
    pub interval: Duration,
    pub timeout_at: Option<Instant>,
    pub linger_at: Option<Instant>,
}

impl Transaction {
    fn next_deadline(&self) -> Option<Instant> {
        [self.retransmit_at, self.timeout_at, self.linger_at]
            .into_iter()
            .flatten()
            .min()
    }

    pub(crate) fn reliable(&self) -> bool {
        self.peer.transport.is_reliable()
    }

    /// Starts the linger timer (D, I, J, K); zero means terminate now.
    pub(crate) fn linger(&mut self, now: Instant, d: Duration) {
        self.retransmit_at = None;
        self.timeout_at = None;
        if d.is_zero() {
            self.state = State::Terminated;
        } else {
            self.linger_at = Some(now + d);
        }
    }
}

/// Context the state machines write into.
pub(crate) struct Ctx<'a> {
    pub cfg: &'a TimerConfig,
    pub out: &'a mut VecDeque<Output>,
}

impl Ctx<'_> {
    pub(crate) fn send(&mut self, to: Peer, message: impl Into<SipMessage>) {
        self.out.push_back(Output::Transmit(Transmit {
            to,
            message: message.into(),
        }));
    }
    pub(crate) fn event(&mut self, e: TransactionEvent) {
        self.out.push_back(Output::Event(e));
    }
}

/// All transactions of one SIP endpoint (or of one call, when each call task owns its own).
#[derive(Debug, Default)]
pub struct TransactionLayer {
    cfg: TimerConfig,
    transactions: HashMap<TransactionKey, Transaction>,
    out: VecDeque<Output>,
}

impl TransactionLayer {
    /// An empty layer with the given timer values.
    pub fn new(cfg: TimerConfig) -> Self {
        Self {
            cfg,
            transactions: HashMap::new(),
            out: VecDeque::new(),
        }
    }

    /// The timer values in use.
    pub fn config(&self) -> &TimerConfig {
        &self.cfg
    }

    /// Number of live transactions.
    pub fn len(&self) -> usize {
        self.transactions.len()
    }

    /// Whether no transaction is live.
    pub fn is_empty(&self) -> bool {
        self.transactions.is_empty()
    }

    /// Starts a client transaction for `request` (which must carry a top Via with a fresh
    /// branch, and a CSeq) and sends it to `to`.
    pub fn send_request(
        &mut self,
        now: Instant,
        request: Request,
        to: Peer,
    ) -> Result<TransactionKey, TransactionError> {
        if request.method == Method::Ack {
            return Err(TransactionError::AckNotTransaction);
        }
        let key = TransactionKey::of(Role::Client, &SipMessage::Request(request.clone()))?;
        if self.transactions.contains_key(&key) {
            return Err(TransactionError::Duplicate(key.branch));
        }
        let kind = if request.method == Method::Invite {
            Kind::InviteClient
        } else {
            Kind::NonInviteClient
        };
        let mut tx = Transaction::new(key.clone(), kind, to, request);
        client::start(
            &mut tx,
            now,
            &mut Ctx {
                cfg: &self.cfg,
                out: &mut self.out,
            },
        );
        self.transactions.insert(key.clone(), tx);
        Ok(key)
    }

    /// Sends a message outside any transaction (the ACK for a 2xx, or a stateless reply).
    pub fn send_stateless(&mut self, message: impl Into<SipMessage>, to: Peer) {
        self.out.push_back(Output::Transmit(Transmit {
            to,
            message: message.into(),
        }));
    }

    /// Sends a response in the server transaction `key`.
    pub fn send_response(
        &mut self,
        now: Instant,
        key: &TransactionKey,
        response: Response,
    ) -> Result<(), TransactionError> {
        let tx = self
            .transactions
            .get_mut(key)
            .ok_or_else(|| TransactionError::Unknown(key.clone()))?;
        server::respond(
            tx,
            now,
            response,
            &mut Ctx {
                cfg: &self.cfg,
                out: &mut self.out,
            },
        )?;
        self.reap(key);
        Ok(())
    }

    /// Parses a datagram or stream frame and handles it; the parse error is returned so the
    /// driver can log it (a malformed message is otherwise dropped, RFC 3261 18.1.2 / 18.2.1).
    pub fn handle_bytes(
        &mut self,
        now: Instant,
        bytes: &[u8],
        from: Peer,
    ) -> Result<(), MessageError> {
        let msg = message::parse_message(bytes)?;
        self.handle_message(now, msg, from)
    }

    /// Handles a message received from `from`.
    pub fn handle_message(
        &mut self,
        now: Instant,
        msg: SipMessage,
        from: Peer,
    ) -> Result<(), MessageError> {
        let mut ctx = Ctx {
            cfg: &self.cfg,
            out: &mut self.out,
        };
        match msg {
            SipMessage::Response(resp) => {
                let key = TransactionKey::of(Role::Client, &SipMessage::Response(resp.clone()))?;
                // RFC 3261 17.1.3: a response matching no transaction is dropped.
                if let Some(tx) = self.transactions.get_mut(&key) {
                    client::on_response(tx, now, resp, &mut ctx);
                    self.reap(&key);
                }
            }
            SipMessage::Request(req) => {
                let key = TransactionKey::of(Role::Server, &SipMessage::Request(req.clone()))?;
                if req.method == Method::Ack {
                    let tx = match self.transactions.get_mut(&key) {
                        Some(tx) => Some(tx),
                        None => find_accepted_invite(&mut self.transactions, &req),
                    };
                    let pass_up = match tx {
                        Some(tx) => server::on_ack(tx, now, &mut ctx),
                        None => true,
                    };
                    if pass_up {
                        let key = TransactionKey {
                            method: Method::Ack,
                            ..key
                        };
                        ctx.event(TransactionEvent::Request {
                            key,
                            request: req,
                            from,
                        });
                    }
                    return Ok(());
                }
                if let Some(tx) = self.transactions.get_mut(&key) {
                    server::on_retransmission(tx, &mut ctx);
                    return Ok(());
                }
                let kind = if req.method == Method::Invite {
                    Kind::InviteServer
                } else {
                    Kind::NonInviteServer
                };
                let mut tx = Transaction::new(key.clone(), kind, from, req.clone());
                server::start(&mut tx, &mut ctx);
                ctx.event(TransactionEvent::Request {
                    key: key.clone(),
                    request: req,
                    from,
                });
                self.transactions.insert(key, tx);
            }
        }
        Ok(())
    }

    /// The driver failed to send for transaction `key` (ICMP error, connection refused or
    /// closed): the transaction ends with [`TransactionEvent::TransportError`].
    pub fn handle_transport_error(&mut self, key: &TransactionKey) {
        if let Some(mut tx) = self.transactions.remove(key) {
            tx.state = State::Terminated;
            self.out
                .push_back(Output::Event(TransactionEvent::TransportError {
                    key: key.clone(),
                }));
            self.out
                .push_back(Output::Event(TransactionEvent::Terminated { key: tx.key }));
        }
    }

    /// Runs every timer due at or before `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<TransactionKey> = self
            .transactions
            .values()
            .filter(|t| t.next_deadline().is_some_and(|d| d <= now))
            .map(|t| t.key.clone())
            .collect();
        for key in due {
            if let Some(tx) = self.transactions.get_mut(&key) {
                let mut ctx = Ctx {
                    cfg: &self.cfg,
                    out: &mut self.out,
                };
                while let Some(deadline) = tx.next_deadline().filter(|d| *d <= now) {
                    match tx.kind {
                        Kind::InviteClient | Kind::NonInviteClient => {
                            client::on_timer(tx, deadline, &mut ctx)
                        }
                        Kind::InviteServer | Kind::NonInviteServer => {
                            server::on_timer(tx, deadline, &mut ctx)
                        }
                    }
                    if tx.state == State::Terminated {
                        break;
                    }
                }
            }
            self.reap(&key);
        }
    }

    /// When [`Self::handle_timeout`] must next be called, if any timer runs.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.transactions
            .values()
            .filter_map(Transaction::next_deadline)
            .min()
    }

    /// The next output; call until `None` after every input.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    fn reap(&mut self, key: &TransactionKey) {
        if self
            .transactions
            .get(key)
            .is_some_and(|t| t.state == State::Terminated)
        {
            self.transactions.remove(key);
            self.out
                .push_back(Output::Event(TransactionEvent::Terminated {
                    key: key.clone(),
                }));
        }
    }
}

impl Transaction {
    fn new(key: TransactionKey, kind: Kind, peer: Peer, request: Request) -> Self {
        Self {
            key,
            kind,
            state: State::Trying,
            peer,
            request,
            last_response: None,
            ack: None,
            acked: false,
            retransmit_at: None,
            interval: Duration::ZERO,
            timeout_at: None,
            linger_at: None,
        }
    }
}

/// The ACK for a 2xx carries a new branch: match it to the INVITE server transaction in the
/// Accepted state by Call-ID, CSeq number and From tag (RFC 3261 17.2.3 leaves this to the TU).
fn find_accepted_invite<'a>(
    txs: &'a mut HashMap<TransactionKey, Transaction>,
    ack: &Request,
) -> Option<&'a mut Transaction> {
    let call_id = message::call_id(ack).ok()?;
    let (num, _) = message::cseq(ack).ok()?;
    let tag = message::from_tag(ack);
    txs.values_mut().find(|t| {
        t.kind == Kind::InviteServer
            && t.state == State::Accepted
            && message::call_id(&t.request).ok().as_ref() == Some(&call_id)
            && message::cseq(&t.request).ok().map(|c| c.0) == Some(num)
            && message::from_tag(&t.request) == tag
    })
}
