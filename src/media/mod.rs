//! Media: the bridge between the WhatsApp leg (Opus and RFC 4733 payloads; RTP and SRTP are
//! str0m's) and the PBX leg (plain RTP/RTCP over UDP, packetised and parsed here). Everything is
//! sans-IO and reuses its buffers on the per-packet path.
//!
//! - [`bridge`]: the per-call [`Bridge`] (the only type the call driver needs);
//! - [`codec`]: Opus, G.711 and G.722, and the PBX codec choice [`PbxCodec`];
//! - [`rtp`] / [`rtcp`]: plain RTP parsing/building with stream continuity, RTCP SR/RR;
//! - [`dtmf`]: RFC 4733 payloads, receive normalisation and sending;
//! - [`dtmf_tones`]: in-band DTMF for a PBX leg without telephone-event;
//! - [`ringback`]: the ringback tone a waiting party hears while the other one rings;
//! - [`stats`]: per-direction counters, loss, jitter, RTT and a MOS estimate;
//! - [`analysis`]: dominant frequency and level of PCM (tests and the demo).

pub mod analysis;
pub mod bridge;
pub mod codec;
pub mod dtmf;
pub mod dtmf_tones;
pub mod ringback;
pub mod rtcp;
pub mod rtp;
pub mod stats;
mod transcoder;

pub use bridge::{Bridge, BridgeConfig, BridgeError, BridgeIn, WaFrame, WaKind};
pub use codec::PbxCodec;
pub use dtmf::{DtmfDigit, DtmfEvent};
pub use stats::MediaStats;
