//! [`LegsEnv`]: what every call's legs share (the SIP transport, the media port range, the
//! codec preference), built once from the configuration.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use callgate_sip::sdp_negotiation::CodecKind;

use crate::config::Config;
use crate::media::ringback::RingbackStyle;
use crate::pbx::{LegConfig, PbxError, PortAllocator, SipTransport, parse_codecs};
use crate::whatsapp_media::Workarounds;

/// Shared by the legs of every call. Cheap to clone behind an `Arc`.
pub struct LegsEnv {
    /// The SIP sockets toward the PBX.
    pub sip: Arc<SipTransport>,
    /// How PBX legs talk SIP (our address, timers, credentials).
    pub leg_config: LegConfig,
    /// Media UDP ports (`[media] port_min..=port_max` on `bind_ip`).
    pub ports: PortAllocator,
    /// The address peers send media to (`[media] public_ip`).
    pub public_ip: IpAddr,
    /// Codecs offered to the PBX, in preference order (`[sip] codecs`).
    pub codecs: Vec<CodecKind>,
    /// Opus encoder complexity when transcoding.
    pub opus_complexity: i32,
    /// How long an answered PBX leg may send no RTP or RTCP (`[sip] rtp_timeout_s`; `None`:
    /// forever).
    pub rtp_timeout: Option<std::time::Duration>,
    /// The ringback a business call's waiting party hears (`[media] ringback`).
    pub ringback: RingbackStyle,
    /// str0m workarounds (all on in production).
    pub workarounds: Workarounds,
}

impl LegsEnv {
    /// The environment of `cfg` around an already bound SIP transport.
    pub fn new(cfg: &Config, sip: Arc<SipTransport>) -> Result<Self, PbxError> {
        let bound = sip.local_addr();
        // Via/Contact must carry an address the PBX can reach: never a wildcard.
        let advertised = if bound.ip().is_unspecified() {
            SocketAddr::new(cfg.media.public_ip, bound.port())
        } else {
            bound
        };
        crate::whatsapp_media::warm_up();
        Ok(Self {
            leg_config: LegConfig::new(&cfg.sip, advertised),
            sip,
            ports: PortAllocator::from_config(&cfg.media, cfg.media.bind_ip()),
            public_ip: cfg.media.public_ip,
            codecs: parse_codecs(&cfg.sip.codecs.join(","))?,
            opus_complexity: i32::from(cfg.media.opus_complexity),
            ringback: cfg.media.ringback,
            rtp_timeout: (cfg.sip.rtp_timeout_s > 0)
                .then(|| std::time::Duration::from_secs(cfg.sip.rtp_timeout_s)),
            workarounds: Workarounds::default(),
        })
    }
}
