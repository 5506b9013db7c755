//! The media-carrying legs of one call, owned by its task: the WhatsApp WebRTC leg
//! ([`WaLeg`] on its own UDP socket), the PBX leg ([`PbxLeg`] over the shared SIP transport,
//! with its RTP socket) and the [`Bridge`] between them, with a 20 ms frame clock toward
//! WhatsApp ([`clock`]).
//!
//! # Run-loop contract
//!
//! The call driver awaits [`Legs::wait`] next to its own channel and timer. `wait` only waits
//! (every branch is cancel-safe and nothing is lost when another branch of the driver wins);
//! the driver then passes the [`Wake`] to [`Legs::handle`], which does the work and returns
//! [`LegOutput`]s: inputs for the call machine and notes for the call's timeline. The machine's
//! media and SIP actions go to the methods named after them ([`Legs::prepare_media`],
//! [`Legs::ring_pbx`], ...).
//!
//! # Media rules (spec section 3, str0m-meta.md)
//!
//! - From the moment ICE and DTLS are up, WhatsApp gets a frame every 20 ms: comfort silence
//!   until the PBX has answered and `accept` succeeded, then PBX audio, sent the moment it
//!   arrives (or silence while the PBX holds or says nothing), so Meta's no-media timeouts never
//!   fire.
//! - No PBX audio or DTMF reaches the WhatsApp user before `accept` returned HTTP 200
//!   ([`Legs::start_audio`]).
//! - After `pre_accept` succeeded the DTLS flight is re-sent at once (L5, [`Legs::pre_accepted`]).

mod clock;
mod env;
mod frames;
mod pbx_side;
mod retire;
mod ringback;
mod wa_side;

pub use env::LegsEnv;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::net::UdpSocket;
use tokio::time::Instant;

use super::{Input, PbxFailure, PbxRing};
use crate::media::Bridge;
use crate::media::{BridgeConfig, PbxCodec};
use crate::pbx::{PbxEvent, RtpPair};
use crate::whatsapp_media::WaLegConfig;
use callgate_sip::sdp_negotiation::{CodecKind, Negotiated};
use clock::{FrameClock, LegTimer, MediaWatch};
use pbx_side::PbxSide;
use wa_side::WaSide;

/// 20 ms at 48 kHz.
const FRAME_TICKS_48K: u64 = 960;
/// How long ICE may stay disconnected from Meta before the call is ended as a media failure
/// (Meta itself gives up after 20 s without media).
const ICE_GRACE: Duration = Duration::from_secs(10);
/// How long an ended call waits for its PBX leg to finish (BYE/CANCEL answered) at most.
const PBX_LINGER: Duration = Duration::from_secs(5);
/// STUN retransmits of a business-initiated call's WhatsApp leg: Meta may answer checks only
/// once the user picks up, and the user may ring for up to a minute (160 x 500 ms = 80 s).
const BIC_STUN_RETRANSMITS: usize = 160;
/// Interval of our RTCP reports to the PBX.
const RTCP_INTERVAL: Duration = Duration::from_secs(5);
/// Largest datagram read from a media socket.
const MAX_DATAGRAM: usize = 2048;

/// What woke [`Legs::wait`]; hand it to [`Legs::handle`].
#[derive(Debug)]
pub enum Wake {
    /// A datagram arrived on the WhatsApp socket (length, sender).
    WaDatagram(usize, SocketAddr),
    /// A SIP message for the PBX leg (`None`: the transport stopped).
    Sip(Option<Box<crate::pbx::Incoming>>),
    /// A datagram arrived on the PBX RTP socket (length, sender).
    Rtp(usize, SocketAddr),
    /// A datagram arrived on the PBX RTCP socket (length).
    Rtcp(usize),
    /// The legs' timer fired: str0m's or the PBX leg's timeout, the frame clock, the
    /// ICE-disconnect grace period or the PBX linger time (whichever are due).
    Timer,
    /// A media socket failed to receive (logged, nothing to do).
    SocketError,
}

/// What [`Legs::handle`] and the action methods produce.
#[derive(Debug, Clone, PartialEq)]
pub enum LegOutput {
    /// Feed this to the call machine.
    Input(Input),
    /// Append this to the call's timeline (kind, detail).
    Note(&'static str, Value),
}

/// The legs of one call (see the module docs).
pub struct Legs {
    env: Arc<LegsEnv>,
    route: Option<String>,
    wa: Option<WaSide>,
    pbx: Option<PbxSide>,
    rtp: Option<RtpSide>,
    bridge: Option<Bridge>,
    clock: FrameClock,
    timer: LegTimer,
    /// The PBX leg's next SIP timer (kept, not asked for on every wake-up).
    pbx_deadline: Option<Instant>,
    /// Extended 48 kHz timestamp of the last audio/silence frame sent to WhatsApp.
    wa_ts: u64,
    /// Its low 32 bits as the bridge counts them.
    wa_ts32: u32,
    accepted: bool,
    ice_grace: Option<Instant>,
    linger: Option<Instant>,
    next_rtcp: Option<Instant>,
    wa_buf: Vec<u8>,
    rtp_buf: Vec<u8>,
    rtcp_buf: Vec<u8>,
    /// The ringback being played, if any.
    ringing: Option<ringback::Ringing>,
    /// Whether the answered PBX leg still sends media.
    pbx_media: MediaWatch,
    /// The PBX-bound RTP stream before the bridge takes it over (ringback toward the PBX).
    pbx_stream: Option<crate::media::rtp::OutboundStream>,
    media_stats: Option<Value>,
}

/// A SIP phone's call handed to the call task: the phone's leg (100 Trying sent), its inbox on
/// the transport, and the RTP socket our SDP answer announces.
pub struct PhoneLeg {
    /// The phone's INVITE, as UAS.
    pub leg: crate::pbx::InboundLeg,
    /// Messages for its Call-ID.
    pub inbox: crate::pbx::CallInbox,
    /// Our RTP and RTCP sockets toward the phone.
    pub rtp: RtpPair,
}

/// The PBX-side RTP and RTCP sockets and where to send.
struct RtpSide {
    socket: UdpSocket,
    rtcp: UdpSocket,
    remote: Option<SocketAddr>,
}

impl Legs {
    /// Legs with nothing open yet.
    pub fn new(env: Arc<LegsEnv>) -> Self {
        let start: u32 = rand::random();
        let pbx_media = MediaWatch::new(env.rtp_timeout);
        Self {
            env,
            route: None,
            wa: None,
            pbx: None,
            rtp: None,
            bridge: None,
            clock: FrameClock::default(),
            timer: LegTimer::default(),
            pbx_deadline: None,
            wa_ts: u64::from(start),
            wa_ts32: start,
            accepted: false,
            ice_grace: None,
            linger: None,
            next_rtcp: None,
            wa_buf: vec![0; MAX_DATAGRAM],
            rtp_buf: vec![0; MAX_DATAGRAM],
            rtcp_buf: vec![0; MAX_DATAGRAM],
            ringing: None,
            pbx_media,
            pbx_stream: None,
            media_stats: None,
        }
    }

    /// The SIP URI the PBX leg will ring (from the policy decision).
    pub fn set_route(&mut self, target: Option<String>) {
        self.route = target;
    }

    /// The SIP URI the PBX leg rings, once the policy chose one.
    pub fn route(&self) -> Option<&str> {
        self.route.as_deref()
    }

    /// Waits for the next thing to do. Cancel-safe.
    pub async fn wait(&mut self) -> Wake {
        let deadline = [
            self.wa.as_ref().map(|w| w.deadline),
            self.pbx_deadline,
            self.clock.deadline(),
            self.clock.pbx_slot_deadline(),
            self.pbx_media.deadline(),
            self.ice_grace,
            self.linger,
        ]
        .into_iter()
        .flatten()
        .min();
        self.timer.arm(deadline);
        let wa_sock = self.wa.as_ref().map(|w| &w.socket);
        let rtp_sock = self.rtp.as_ref().map(|r| &r.socket);
        let rtcp_sock = self.rtp.as_ref().map(|r| &r.rtcp);
        let inbox = self.pbx.as_mut().filter(|p| p.inbox_open);
        tokio::select! {
            r = recv_on(wa_sock, &mut self.wa_buf) => match r {
                Ok((n, from)) => Wake::WaDatagram(n, from),
                Err(e) => { tracing::debug!(error = %e, "WhatsApp media socket error"); Wake::SocketError }
            },
            m = inbox_recv(inbox) => Wake::Sip(m.map(Box::new)),
            r = recv_on(rtp_sock, &mut self.rtp_buf) => match r {
                Ok((n, from)) => Wake::Rtp(n, from),
                Err(e) => { tracing::debug!(error = %e, "PBX RTP socket error"); Wake::SocketError }
            },
            r = recv_on(rtcp_sock, &mut self.rtcp_buf) => match r {
                Ok((n, _)) => Wake::Rtcp(n),
                Err(e) => { tracing::debug!(error = %e, "PBX RTCP socket error"); Wake::SocketError }
            },
            _ = self.timer.wait() => Wake::Timer,
        }
    }

    /// Does the work `wake` calls for.
    pub async fn handle(&mut self, wake: Wake) -> Vec<LegOutput> {
        let now = Instant::now();
        let mut out = Vec::new();
        match wake {
            Wake::WaDatagram(n, from) => {
                if let Some(wa) = &mut self.wa {
                    wa.leg
                        .handle_datagram(now.into_std(), from, &self.wa_buf[..n]);
                }
                self.drain_wa(now, &mut out);
            }
            Wake::Sip(Some(incoming)) => {
                if let Some(p) = &mut self.pbx {
                    p.handle(*incoming).await;
                }
                self.drain_pbx(&mut out);
            }
            Wake::Sip(None) => {
                if let Some(p) = &mut self.pbx {
                    p.inbox_open = false;
                }
            }
            Wake::Rtp(n, _from) => self.on_pbx_rtp(n, now, &mut out),
            Wake::Rtcp(n) => self.on_pbx_rtcp(n, now),
            Wake::Timer => self.on_timer(now, &mut out).await,
            Wake::SocketError => {}
        }
        out
    }

    // ---------------------------------------------------------------------------------------
    // Actions of the call machine.

    /// UIC: binds the WhatsApp media socket and answers Meta's offer. Returns
    /// [`Input::MediaPrepared`] with the answer, or [`Input::MediaFailed`].
    pub async fn prepare_media(&mut self, offer: &str) -> Vec<LegOutput> {
        let (socket, cfg) = match self.bind_wa(None).await {
            Ok(v) => v,
            Err(e) => return vec![media_failed(e)],
        };
        let now = Instant::now();
        match WaSide::answer(now, offer, cfg, socket) {
            Ok((side, answer)) => {
                self.wa = Some(side);
                let mut out = vec![LegOutput::Input(Input::MediaPrepared {
                    answer_sdp: answer,
                })];
                // Start ICE at once: str0m's first checks are due now.
                self.drain_wa(now, &mut out);
                out
            }
            Err(e) => vec![media_failed(e.to_string())],
        }
    }

    /// A UDP socket for the WhatsApp leg and the leg's configuration (host candidate
    /// `public_ip:port`), with `stun_retransmits` when given.
    async fn bind_wa(
        &mut self,
        stun_retransmits: Option<usize>,
    ) -> Result<(UdpSocket, WaLegConfig), String> {
        let socket = self.env.ports.bind().await.map_err(|e| e.to_string())?;
        let port = socket.local_addr().map_err(|e| e.to_string())?.port();
        let mut cfg = WaLegConfig::new(SocketAddr::new(self.env.public_ip, port));
        cfg.workarounds = self.env.workarounds;
        if let Some(n) = stun_retransmits {
            cfg.max_stun_retransmits = n;
        }
        Ok((socket, cfg))
    }

    /// BIC: binds the WhatsApp media socket and builds our offer. Returns
    /// [`Input::OfferCreated`] or [`Input::MediaFailed`].
    pub async fn create_offer(&mut self) -> Vec<LegOutput> {
        let (socket, cfg) = match self.bind_wa(Some(BIC_STUN_RETRANSMITS)).await {
            Ok(v) => v,
            Err(e) => return vec![media_failed(e)],
        };
        match WaSide::offer(Instant::now(), cfg, socket) {
            Ok((side, sdp)) => {
                self.wa = Some(side);
                vec![LegOutput::Input(Input::OfferCreated { sdp })]
            }
            Err(e) => vec![media_failed(e.to_string())],
        }
    }

    /// BIC: applies the user's answer from the connect webhook; ICE and DTLS start.
    pub fn apply_answer(&mut self, sdp: &str) -> Vec<LegOutput> {
        let mut out = Vec::new();
        match &mut self.wa {
            Some(wa) => {
                if let Err(e) = wa.leg.apply_answer(sdp) {
                    return vec![media_failed(e.to_string())];
                }
            }
            None => {
                return vec![media_failed(
                    "no WhatsApp media leg to apply the answer to".into(),
                )];
            }
        }
        self.ensure_bridge(&mut out);
        self.drain_wa(Instant::now(), &mut out);
        out
    }

    /// UIC: `pre_accept` returned HTTP 200, so Meta knows our fingerprint: re-send the DTLS
    /// handshake flight now instead of waiting for its retransmit backoff (L5).
    pub fn pre_accepted(&mut self) -> Vec<LegOutput> {
        let mut out = Vec::new();
        if let Some(wa) = &mut self.wa {
            wa.leg.kick_dtls();
        }
        self.drain_wa(Instant::now(), &mut out);
        out
    }

    /// Sends the INVITE for `ring` to its target (else the route target), with an RTP socket
    /// of our own. A PBX leg already there (failover) is retired first.
    pub async fn ring_pbx(&mut self, ring: &PbxRing) -> Vec<LegOutput> {
        if let Some(old) = self.pbx.take() {
            retire::retire(old);
            self.rtp = None;
            self.bridge = None;
            self.pbx_media.disarm();
        }
        let Some(target) = ring.target.clone().or_else(|| self.route.clone()) else {
            return vec![
                LegOutput::Note("pbx.failed", json!({"detail": "no route to ring"})),
                LegOutput::Input(Input::PbxFailed(PbxFailure::NotFound)),
            ];
        };
        let RtpPair { rtp: socket, rtcp } = match self.env.ports.bind_pair().await {
            Ok(s) => s,
            Err(e) => return pbx_unreachable(e.to_string()),
        };
        let port = match socket.local_addr() {
            Ok(a) => a.port(),
            Err(e) => return pbx_unreachable(e.to_string()),
        };
        let mut out = vec![LegOutput::Note(
            "pbx.invite",
            json!({"target": target, "rtp_port": port}),
        )];
        match PbxSide::invite(&self.env, &target, ring, port).await {
            Ok(side) => {
                self.pbx = Some(side);
                self.rtp = Some(RtpSide {
                    socket,
                    rtcp,
                    remote: None,
                });
                self.drain_pbx(&mut out);
            }
            Err(e) => out.extend(pbx_unreachable(e.to_string())),
        }
        out
    }

    /// Abandons the unanswered INVITE (CANCEL once the PBX has answered provisionally).
    pub async fn cancel_pbx(&mut self) -> Vec<LegOutput> {
        if let Some(p) = &mut self.pbx {
            p.cancel().await;
        }
        let mut out = Vec::new();
        self.drain_pbx(&mut out);
        out
    }

    /// Ends the PBX dialog (BYE; CANCEL if it is still ringing).
    pub async fn hang_up_pbx(&mut self) -> Vec<LegOutput> {
        if let Some(p) = &mut self.pbx {
            p.hang_up().await;
        }
        let mut out = Vec::new();
        self.drain_pbx(&mut out);
        out
    }

    /// A phone's call to a WhatsApp user: its leg (100 Trying already sent), inbox and the RTP
    /// and RTCP sockets our SDP announces (where to send is known once the phone's SDP is).
    pub fn attach_phone(&mut self, phone: PhoneLeg) {
        let side = PbxSide::inbound(phone.leg, phone.inbox, self.env.sip.sender());
        let remote = side.negotiated().and_then(|n| n.remote);
        self.pbx = Some(side);
        self.rtp = Some(RtpSide {
            socket: phone.rtp.rtp,
            rtcp: phone.rtp.rtcp,
            remote,
        });
        self.refresh_pbx_deadline();
    }

    /// The phone's leg: the WhatsApp user rings (180).
    pub async fn progress_pbx(&mut self) {
        if let Some(p) = &mut self.pbx {
            p.progress().await;
        }
        self.refresh_pbx_deadline();
    }

    /// The phone's leg: the WhatsApp user is connected (200 OK with our SDP); the bridge
    /// starts (after a delayed offer: once the phone's ACK has answered ours).
    pub async fn answer_pbx(&mut self) -> Vec<LegOutput> {
        let mut out = Vec::new();
        if let Some(p) = &mut self.pbx {
            p.answer().await;
            out.push(match p.negotiated() {
                Some(n) => LegOutput::Note("pbx.media", negotiated_json(&n)),
                None => LegOutput::Note(
                    "pbx.delayed_offer",
                    json!({"detail": "the phone's INVITE had no SDP: our offer is in the 200 OK, \
                                      its answer is due in the ACK"}),
                ),
            });
        }
        self.ensure_bridge(&mut out);
        self.refresh_pbx_deadline();
        out
    }

    /// The phone's leg: refuse the call with `status` and headers saying why.
    pub async fn reject_pbx(&mut self, status: u16, why: &crate::pbx::Refusal) {
        if let Some(p) = &mut self.pbx {
            p.reject(status, why).await;
        }
        self.drop_finished_pbx();
        self.refresh_pbx_deadline();
    }

    /// `accept` succeeded: PBX audio and DTMF may now reach the WhatsApp user.
    pub fn start_audio(&mut self) {
        self.stop_ringback();
        self.accepted = true;
        if let Some(b) = &mut self.bridge {
            b.set_wa_accepted(true);
        }
    }

    /// The call is over: closes the WhatsApp leg and the RTP socket and keeps the statistics;
    /// the PBX leg stays until its last transaction is answered (see [`Self::settled`]).
    pub fn end(&mut self) {
        if self.media_stats.is_none() {
            self.media_stats = self.stats_json();
        }
        self.wa = None;
        self.stop_ringback();
        self.pbx_media.disarm();
        self.clock.stop();
        self.rtp = None;
        self.bridge = None;
        self.ice_grace = None;
        if self.pbx.is_some() {
            self.linger = Some(Instant::now() + PBX_LINGER);
        }
        self.drop_finished_pbx();
        self.refresh_pbx_deadline();
    }

    /// Whether nothing is left running (the PBX leg finished or was given up).
    pub fn settled(&self) -> bool {
        self.pbx.is_none()
    }

    /// Media statistics of both legs (kept at [`Self::end`]), for the call record.
    pub fn media_stats(&self) -> Option<Value> {
        self.media_stats.clone().or_else(|| self.stats_json())
    }

    // ---------------------------------------------------------------------------------------

    fn stats_json(&self) -> Option<Value> {
        let wa = self.wa.as_ref().map(|w| w.stats_json());
        let bridge = self.bridge.as_ref().map(|b| b.stats());
        if wa.is_none() && bridge.is_none() {
            return None;
        }
        Some(json!({"whatsapp": wa, "bridge": bridge}))
    }

    fn drop_finished_pbx(&mut self) {
        if self.pbx.as_ref().is_some_and(PbxSide::is_done) {
            self.pbx = None;
            self.linger = None;
        }
    }

    fn on_deadline(&mut self, now: Instant, out: &mut Vec<LegOutput>) {
        if self.linger.is_some_and(|t| t <= now) {
            tracing::info!("PBX leg did not finish in time after the call ended; dropping it");
            self.pbx = None;
            self.linger = None;
            self.pbx_deadline = None;
        }
        if self.ice_grace.is_some_and(|t| t <= now) {
            self.ice_grace = None;
            out.push(media_failed(format!(
                "lost ICE connectivity with WhatsApp for {} s",
                ICE_GRACE.as_secs()
            )));
        }
    }

    /// Runs the WhatsApp leg's outputs: datagrams out, events into the bridge and the machine.
    fn drain_wa(&mut self, now: Instant, out: &mut Vec<LegOutput>) {
        loop {
            let Some(wa) = &mut self.wa else { return };
            match wa.poll() {
                wa_side::Polled::Idle => break,
                wa_side::Polled::Connected { first } => {
                    self.ice_grace = None;
                    if first {
                        out.push(LegOutput::Input(Input::MediaConnected));
                        self.clock.start(now);
                    }
                }
                wa_side::Polled::Disconnected => {
                    out.push(LegOutput::Note("whatsapp.ice_disconnected", Value::Null));
                    self.ice_grace.get_or_insert(now + ICE_GRACE);
                }
                wa_side::Polled::Failed(reason) => {
                    self.clock.stop();
                    out.push(media_failed(reason));
                }
                wa_side::Polled::Audio { payload, lost } => {
                    self.on_wa_audio(&payload, lost);
                }
                wa_side::Polled::Dtmf {
                    payload,
                    rtp_ts,
                    digit,
                } => {
                    if let Some(b) = &mut self.bridge {
                        b.on_wa_dtmf(&payload, rtp_ts, now.into_std());
                        if b.pbx_dtmf_active() {
                            self.clock.start_pbx_slots(now);
                        }
                    }
                    if let Some(d) = digit {
                        out.push(LegOutput::Note(
                            "dtmf.from_whatsapp",
                            json!({"digit": d.to_string()}),
                        ));
                    }
                }
            }
        }
        if let Some(wa) = &self.wa
            && self.ice_grace.is_some()
            && wa.leg.is_connected()
        {
            self.ice_grace = None;
        }
    }

    /// Turns the PBX leg's events into machine inputs, setting up the bridge on answer.
    fn drain_pbx(&mut self, out: &mut Vec<LegOutput>) {
        while let Some(e) = self.pbx.as_mut().and_then(PbxSide::poll_event) {
            match e {
                PbxEvent::Progress { status, early_sdp } => {
                    out.push(LegOutput::Input(Input::PbxProgress { status }));
                    if early_sdp.is_some() {
                        self.early_media(out);
                    }
                }
                PbxEvent::Answered { .. } => match self.negotiated() {
                    Some(n) => {
                        if let Some(rtp) = &mut self.rtp {
                            rtp.remote = n.remote;
                        }
                        out.push(LegOutput::Note("pbx.media", negotiated_json(&n)));
                        out.push(LegOutput::Input(Input::PbxAnswered));
                        self.bridge_media(&n, out);
                    }
                    None => out.extend(pbx_media_failed(
                        "the PBX answered without a usable SDP answer".into(),
                    )),
                },
                // A phone's delayed offer: its ACK answered the offer of our 200 OK.
                PbxEvent::OfferAnswered => {
                    if let Some(n) = self.negotiated() {
                        out.push(LegOutput::Note("pbx.media", negotiated_json(&n)));
                        self.bridge_media(&n, out);
                    }
                }
                PbxEvent::MediaFailed(detail) => out.extend(pbx_media_failed(detail)),
                PbxEvent::Dtmf { digit, duration } => {
                    if let Some(b) = &mut self.bridge {
                        b.on_pbx_key(crate::media::DtmfDigit { digit, duration });
                    }
                    out.push(LegOutput::Note(
                        "dtmf.from_pbx",
                        json!({"digit": digit.to_string(), "ms": duration.as_millis() as u64, "via": "sip_info"}),
                    ));
                }
                PbxEvent::Failed(f) => out.push(LegOutput::Input(Input::PbxFailed(f))),
                PbxEvent::RemoteHangup => out.push(LegOutput::Input(Input::PbxHangup)),
                PbxEvent::Hold(on) => {
                    let kind = if on { "pbx.hold" } else { "pbx.resume" };
                    out.push(LegOutput::Note(kind, Value::Null));
                    // A PBX holding the call may stop sending media.
                    if on {
                        self.pbx_media.disarm();
                    } else if self.bridge.is_some() {
                        self.pbx_media.arm(Instant::now());
                    }
                }
                PbxEvent::MediaChanged(_) => {
                    if let Some(n) = self.negotiated() {
                        self.apply_renegotiation(&n);
                        out.push(LegOutput::Note("pbx.media", negotiated_json(&n)));
                    }
                }
                PbxEvent::AuthFailed => {
                    let detail = "the PBX demanded authentication and our credentials (if any) \
                                  were refused";
                    out.push(LegOutput::Note(
                        "pbx.auth_failed",
                        json!({"detail": detail}),
                    ));
                    out.push(LegOutput::Input(Input::PbxFailed(PbxFailure::Declined)));
                }
                PbxEvent::Cancelled => out.push(LegOutput::Input(Input::PbxCancelled)),
            }
        }
        if self.linger.is_some() {
            self.drop_finished_pbx();
        }
        self.refresh_pbx_deadline();
    }

    fn refresh_pbx_deadline(&mut self) {
        self.pbx_deadline = self
            .pbx
            .as_ref()
            .and_then(PbxSide::poll_timeout)
            .map(Instant::from_std);
    }

    fn negotiated(&self) -> Option<Negotiated> {
        self.pbx.as_ref().and_then(PbxSide::negotiated)
    }

    /// Builds the bridge once both legs have negotiated their media (the PBX answered and the
    /// WhatsApp leg knows its payload types), whichever comes last.
    /// A 183 with an SDP answer: the bridge starts on it, so what the PBX plays (a queue's
    /// announcement) can reach the WhatsApp user where the call machine allows it
    /// ([`Input::PbxEarlyMedia`]; a user-initiated call still waits for `accept`).
    fn early_media(&mut self, out: &mut Vec<LegOutput>) {
        if self.bridge.is_some() {
            return;
        }
        let Some(n) = self.negotiated() else { return };
        if let Some(rtp) = &mut self.rtp {
            rtp.remote = n.remote;
        }
        out.push(LegOutput::Note("pbx.early_media", negotiated_json(&n)));
        self.ensure_bridge(out);
        if self.bridge.is_some() {
            out.push(LegOutput::Input(Input::PbxEarlyMedia));
        }
    }

    /// The PBX's media is final (its 2xx, or the ACK answering our offer): the bridge starts
    /// on it, or follows it when it already runs (since early media, or a re-offer).
    fn bridge_media(&mut self, n: &Negotiated, out: &mut Vec<LegOutput>) {
        if self.bridge.is_some() {
            self.apply_renegotiation(n);
        } else {
            self.ensure_bridge(out);
        }
    }

    fn ensure_bridge(&mut self, out: &mut Vec<LegOutput>) {
        if self.bridge.is_some() {
            return;
        }
        let (Some(n), Some(_)) = (
            self.negotiated(),
            self.wa.as_ref().and_then(|w| w.leg.opus_pt()),
        ) else {
            return;
        };
        if let Err(e) = self.start_bridge(&n) {
            out.extend(pbx_media_failed(e));
        }
    }

    fn start_bridge(&mut self, n: &Negotiated) -> Result<(), String> {
        let wa = self.wa.as_ref().ok_or("the WhatsApp media leg is gone")?;
        let cfg = BridgeConfig {
            pbx_codec: pbx_codec(n)?,
            pbx_te_pt: n.telephone_event.map(|t| t.payload_type),
            pbx_te_clock: n.telephone_event.map_or(8000, |t| t.clock_rate),
            wa_opus_pt: wa.leg.opus_pt().unwrap_or(111),
            wa_te_pt: wa.leg.telephone_event_pt(),
            opus_complexity: self.env.opus_complexity,
        };
        let stream = self
            .pbx_stream
            .take()
            .unwrap_or_else(ringback::new_pbx_stream);
        let first_ts = self.wa_ts32.wrapping_add(FRAME_TICKS_48K as u32);
        let mut bridge = Bridge::with_stream(cfg, stream, first_ts)
            .map_err(|e| format!("cannot bridge the PBX codec: {e}"))?;
        bridge.set_wa_accepted(self.accepted);
        self.bridge = Some(bridge);
        if !n.remote_hold {
            self.pbx_media.arm(Instant::now());
        }
        if let Some(rtp) = &mut self.rtp {
            rtp.remote = n.remote;
        }
        Ok(())
    }

    fn apply_renegotiation(&mut self, n: &Negotiated) {
        if let Some(rtp) = &mut self.rtp {
            rtp.remote = n.remote;
        }
        let Ok(codec) = pbx_codec(n) else { return };
        if let Some(b) = &mut self.bridge
            && b.config().pbx_codec != codec
            && let Err(e) = b.set_pbx_codec(codec)
        {
            tracing::warn!(error = %e, "cannot switch to the PBX's new codec");
        }
    }
}

fn pbx_codec(n: &Negotiated) -> Result<PbxCodec, String> {
    match n.codec.kind {
        CodecKind::Pcmu => Ok(PbxCodec::Pcmu),
        CodecKind::Pcma => Ok(PbxCodec::Pcma),
        CodecKind::G722 => Ok(PbxCodec::G722),
        CodecKind::Opus => Ok(PbxCodec::Opus {
            pt: n.codec.payload_type,
        }),
        other => Err(format!("the bridge cannot carry {other:?}")),
    }
}

fn negotiated_json(n: &Negotiated) -> Value {
    // How WhatsApp's digits reach the PBX (see `media::dtmf_tones`).
    let dtmf = match (n.telephone_event, n.codec.kind) {
        (Some(_), _) => "rfc4733",
        (None, CodecKind::Opus) => "none",
        (None, _) => "inband",
    };
    json!({
        "codec": n.codec.kind.encoding(),
        "payload_type": n.codec.payload_type,
        "telephone_event_pt": n.telephone_event.map(|t| t.payload_type),
        "dtmf_to_pbx": dtmf,
        "remote": n.remote.map(|a| a.to_string()),
        "hold": n.remote_hold,
    })
}

/// The PBX leg's media cannot be set up: a timeline note and the end of the call.
fn pbx_media_failed(detail: String) -> [LegOutput; 2] {
    [
        LegOutput::Note("pbx.media_failed", json!({"detail": detail})),
        media_failed(detail),
    ]
}

fn media_failed(reason: String) -> LegOutput {
    LegOutput::Input(Input::MediaFailed { reason })
}

fn pbx_unreachable(detail: String) -> Vec<LegOutput> {
    tracing::warn!(%detail, "cannot place the INVITE to the PBX");
    vec![
        LegOutput::Note("pbx.failed", json!({"detail": detail})),
        LegOutput::Input(Input::PbxFailed(PbxFailure::Unreachable)),
    ]
}

/// Sends a media datagram without waiting: a full socket buffer drops it, like the network.
fn send_udp(socket: &UdpSocket, bytes: &[u8], to: SocketAddr) {
    if let Err(e) = socket.try_send_to(bytes, to)
        && e.kind() != std::io::ErrorKind::WouldBlock
    {
        tracing::debug!(error = %e, %to, "media datagram not sent");
    }
}

async fn recv_on(
    socket: Option<&UdpSocket>,
    buf: &mut [u8],
) -> std::io::Result<(usize, SocketAddr)> {
    match socket {
        Some(s) => s.recv_from(buf).await,
        None => std::future::pending().await,
    }
}

async fn inbox_recv(side: Option<&mut PbxSide>) -> Option<crate::pbx::Incoming> {
    match side {
        Some(p) => p.inbox.recv().await,
        None => std::future::pending().await,
    }
}
