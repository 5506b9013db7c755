//! The tiny call task of the tests: owns the SIP transport, one `PbxLeg` and its inbox, and
//! drives the leg (messages, timers, sends) until the event a test waits for.

use std::time::Duration;

use callgate::call::PbxRing;
use callgate::config::SipConfig;
use callgate::pbx::{CallInbox, LegConfig, PbxEvent, PbxLeg, PbxMedia, SipSender, SipTransport};
use callgate_sip::sdp_negotiation::CodecKind;
use callgate_sip::transaction::Transmit;
use tokio::time::Instant;

/// The ring used by the tests (values checked by `uas_headers.xml`).
pub fn ring() -> PbxRing {
    PbxRing {
        target: None,
        call_id: "wacid.HDRTEST".into(),
        from: Some("15551234567".into()),
        from_user_id: None,
        display_name: Some("Ann Example".into()),
        to: "15550001111".into(),
        cta_payload: Some("summer-promo".into()),
        deeplink_payload: Some("dl-42".into()),
    }
}

/// One call's PBX leg, driven by the test.
pub struct Harness {
    pub transport: SipTransport,
    pub sender: SipSender,
    pub inbox: CallInbox,
    pub leg: PbxLeg,
    pub media: PbxMedia,
    pub events: Vec<PbxEvent>,
}

impl Harness {
    /// Binds a transport on a free port and sends the INVITE to `target`, offering `codecs`.
    pub async fn call(
        target: &str,
        codecs: &[CodecKind],
        tweak: impl FnOnce(&mut LegConfig),
    ) -> Harness {
        let sip = SipConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            setup_timeout_s: 2,
            ..SipConfig::default()
        };
        let transport = SipTransport::bind(&sip).await.expect("SIP transport binds");
        let mut cfg = LegConfig::new(&sip, transport.local_addr());
        tweak(&mut cfg);
        let media = PbxMedia::new("127.0.0.1".parse().unwrap(), 40000, codecs);
        let (leg, out) = PbxLeg::invite(
            Instant::now().into_std(),
            target,
            &ring(),
            media.offer(),
            &cfg,
        )
        .expect("INVITE built");
        let inbox = transport.register(leg.call_id());
        let sender = transport.sender();
        let mut h = Harness {
            transport,
            sender,
            inbox,
            leg,
            media,
            events: Vec::new(),
        };
        h.send(out).await;
        h
    }

    async fn send(&mut self, mut out: Vec<Transmit>) {
        while !out.is_empty() {
            let mut failed = false;
            for t in &out {
                if self.sender.send_transmit(t).await.is_err() {
                    failed = true;
                }
            }
            out = if failed {
                self.leg.handle_send_error(Instant::now().into_std())
            } else {
                Vec::new()
            };
        }
    }

    /// Drives the leg until it reports an event (returned) or `within` passes (`None`).
    pub async fn next_event(&mut self, within: Duration) -> Option<PbxEvent> {
        let end = Instant::now() + within;
        loop {
            if let Some(e) = self.leg.poll_event() {
                self.events.push(e.clone());
                return Some(e);
            }
            if !self.step(end).await {
                return None;
            }
        }
    }

    /// Drives the leg until `pred` matches an event; panics with all events seen otherwise.
    pub async fn expect(&mut self, within: Duration, pred: impl Fn(&PbxEvent) -> bool) -> PbxEvent {
        let end = Instant::now() + within;
        while let Some(e) = self
            .next_event(end.saturating_duration_since(Instant::now()))
            .await
        {
            if pred(&e) {
                return e;
            }
        }
        panic!("expected event not seen; events so far: {:?}", self.events);
    }

    /// Drives the leg until it is done; false if `within` passes first.
    pub async fn run_until_done(&mut self, within: Duration) -> bool {
        let end = Instant::now() + within;
        while !self.leg.is_done() {
            if let Some(e) = self.leg.poll_event() {
                self.events.push(e);
                continue;
            }
            if !self.step(end).await {
                return false;
            }
        }
        true
    }

    /// One input: a message, a timer or the end of the wait. False when `end` passed.
    async fn step(&mut self, end: Instant) -> bool {
        let timer = self
            .leg
            .poll_timeout()
            .map(Instant::from_std)
            .unwrap_or(end)
            .min(end);
        let out = tokio::select! {
            msg = self.inbox.recv() => match msg {
                Some(m) => self.leg.handle(Instant::now().into_std(), m),
                None => return false,
            },
            _ = tokio::time::sleep_until(timer) => {
                if Instant::now() >= end {
                    return false;
                }
                self.leg.handle_timeout(Instant::now().into_std())
            }
        };
        self.send(out).await;
        true
    }

    /// The caller gave up.
    pub async fn cancel(&mut self) {
        let out = self.leg.cancel(Instant::now().into_std());
        self.send(out).await;
    }

    /// Hang up from our side.
    pub async fn hang_up(&mut self) {
        let out = self.leg.hang_up(Instant::now().into_std());
        self.send(out).await;
    }
}
