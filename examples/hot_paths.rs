//! Runs one media or SIP hot path N times (`hot_paths <path> [n]`), for instruction counting
//! under callgrind (`benches/callgrind.sh`): the paths are `benches/support`'s, and callgrind
//! counts only inside `measured` (`--toggle-collect`), so set-up and the peer's work do not
//! count. Paths: srtp_in_rtp_out, rtp_in_srtp_out, opus_to_pcmu, pcmu_to_opus, opus_to_g722,
//! g722_to_opus, dtmf_wa_to_pbx, dtmf_pbx_to_wa, sip_200_ok, answer_meta_offer.

#[path = "../benches/support/mod.rs"]
mod support;

use std::hint::black_box;
use std::time::Instant;

use callgate::media::PbxCodec;
use support::{Dtmf, FRAME, RtpToSrtp, SipAnswer, SrtpToRtp, Transcode, answer_meta_offer};

/// The only function callgrind counts in.
#[inline(never)]
fn measured<T>(step: impl FnOnce() -> T) -> T {
    black_box(step())
}

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().unwrap_or_default();
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let complexity: i32 = std::env::var("OPUS_COMPLEXITY")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(1);
    let mut now = Instant::now();
    match path.as_str() {
        "srtp_in_rtp_out" => {
            let mut p = SrtpToRtp::new();
            for _ in 0..n {
                p.prepare();
                measured(|| p.step());
            }
        }
        "rtp_in_srtp_out" => {
            let mut p = RtpToSrtp::new();
            for _ in 0..n {
                p.prepare();
                measured(|| p.step());
            }
        }
        "opus_to_pcmu" | "opus_to_g722" => {
            let codec = if path.ends_with("pcmu") {
                PbxCodec::Pcmu
            } else {
                PbxCodec::G722
            };
            let mut t = Transcode::new(codec, complexity);
            for _ in 0..n {
                measured(|| t.wa_to_pbx());
            }
        }
        "pcmu_to_opus" | "g722_to_opus" => {
            let codec = if path.starts_with("pcmu") {
                PbxCodec::Pcmu
            } else {
                PbxCodec::G722
            };
            let mut t = Transcode::new(codec, complexity);
            for _ in 0..n {
                t.prepare_pbx();
                now += FRAME;
                measured(|| t.pbx_to_wa(now));
            }
        }
        "dtmf_wa_to_pbx" => {
            let mut d = Dtmf::new();
            for _ in 0..n {
                now += FRAME;
                measured(|| d.wa_to_pbx(now));
            }
        }
        "dtmf_pbx_to_wa" => {
            let mut d = Dtmf::new();
            for _ in 0..n {
                d.prepare_pbx();
                now += FRAME;
                measured(|| d.pbx_to_wa(now));
            }
        }
        "sip_200_ok" => {
            let mut s = SipAnswer::new();
            for _ in 0..n {
                s.prepare(now);
                measured(|| s.step(now));
            }
        }
        "answer_meta_offer" => {
            for _ in 0..n {
                measured(|| answer_meta_offer(now));
            }
        }
        other => {
            eprintln!("unknown path {other:?}; see the file's doc comment for the list");
            std::process::exit(2);
        }
    }
}
