//! Text-level fixes on SDP exchanged with Meta, applied around str0m's SDP parser (workarounds
//! L1, L2 and L7 of `str0m-meta.md`), plus what str0m drops on parsing: the Opus fmtp values and
//! the media section's `a=mid`.
//!
//! All functions keep the line ending style of their input (Meta's REF samples use LF, the real
//! offers CRLF).

/// L2: rewrites every `a=candidate:` line to the grammar str0m parses:
/// `foundation component proto priority addr port typ kind [raddr a rport p]`, dropping the
/// extension attributes (`generation`, `network-cost`, `ufrag`, ...). str0m silently ignores a
/// candidate whose extensions are not in its expected order, which Meta's REF samples violate.
pub fn normalise_candidates(sdp: &str) -> String {
    map_lines(sdp, |line| {
        let Some(rest) = line.strip_prefix("a=candidate:") else {
            return Some(line.to_owned());
        };
        let tokens: Vec<&str> = rest.split_whitespace().collect();
        if tokens.len() < 8 || tokens[6] != "typ" {
            return Some(line.to_owned());
        }
        let mut kept: Vec<&str> = tokens[..8].to_vec();
        let mut i = 8;
        while i + 1 < tokens.len() {
            if matches!(tokens[i], "raddr" | "rport") {
                kept.push(tokens[i]);
                kept.push(tokens[i + 1]);
            }
            i += 2;
        }
        Some(format!("a=candidate:{}", kept.join(" ")))
    })
}

/// L1: turns Meta's `a=setup:actpass` into `a=setup:passive`, so that str0m answers
/// `a=setup:active` and the gateway is the DTLS client (str0m maps actpass to passive otherwise).
pub fn offer_setup_passive(sdp: &str) -> String {
    map_lines(sdp, |line| {
        Some(if line == "a=setup:actpass" {
            "a=setup:passive".to_owned()
        } else {
            line.to_owned()
        })
    })
}

/// L7: removes `a=ice-options:trickle` (str0m always writes it; we never trickle).
pub fn strip_trickle(sdp: &str) -> String {
    map_lines(sdp, |line| {
        (line != "a=ice-options:trickle").then(|| line.to_owned())
    })
}

/// The value of the first `a=mid:` line (the offer's only media section).
pub fn first_mid(sdp: &str) -> Option<String> {
    lines(sdp).find_map(|l| l.strip_prefix("a=mid:").map(|m| m.trim().to_owned()))
}

/// Opus parameters Meta asks for, read from its raw SDP (str0m's `FormatParams` drops
/// `maxaveragebitrate`, `maxplaybackrate` and `sprop-maxcapturerate`). Use them to configure
/// the Opus encoder of the bridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OpusParams {
    /// Opus payload type in Meta's SDP.
    pub pt: Option<u8>,
    /// `maxaveragebitrate` in bit/s (Meta: 20000).
    pub max_average_bitrate: Option<u32>,
    /// `maxplaybackrate` in Hz (Meta: 16000).
    pub max_playback_rate: Option<u32>,
    /// `sprop-maxcapturerate` in Hz (Meta: 16000).
    pub sprop_max_capture_rate: Option<u32>,
    /// `minptime` in ms (Meta: 20).
    pub min_ptime: Option<u32>,
    /// `useinbandfec=1`.
    pub use_inband_fec: bool,
    /// `a=ptime` in ms (Meta: 20).
    pub ptime: Option<u32>,
}

impl OpusParams {
    /// Reads the Opus `a=rtpmap`/`a=fmtp` and `a=ptime` lines of `sdp`.
    pub fn from_sdp(sdp: &str) -> OpusParams {
        let mut p = OpusParams {
            pt: lines(sdp).find_map(|l| {
                let (pt, enc) = l.strip_prefix("a=rtpmap:")?.split_once(' ')?;
                enc.to_ascii_lowercase()
                    .starts_with("opus/")
                    .then(|| pt.parse().ok())?
            }),
            ..OpusParams::default()
        };
        if let Some(pt) = p.pt {
            let prefix = format!("a=fmtp:{pt} ");
            let fmtp = lines(sdp).find_map(|l| l.strip_prefix(prefix.as_str()).map(str::to_owned));
            for kv in fmtp.iter().flat_map(|f| f.split(';')) {
                let Some((k, v)) = kv.trim().split_once('=') else {
                    continue;
                };
                let num = v.trim().parse().ok();
                match k.trim() {
                    "maxaveragebitrate" => p.max_average_bitrate = num,
                    "maxplaybackrate" => p.max_playback_rate = num,
                    "sprop-maxcapturerate" => p.sprop_max_capture_rate = num,
                    "minptime" => p.min_ptime = num,
                    "useinbandfec" => p.use_inband_fec = v.trim() == "1",
                    _ => {}
                }
            }
        }
        p.ptime = lines(sdp).find_map(|l| l.strip_prefix("a=ptime:")?.trim().parse().ok());
        p
    }
}

fn lines(sdp: &str) -> impl Iterator<Item = &str> {
    sdp.lines().map(|l| l.trim_end_matches('\r'))
}

/// Applies `f` to every line (without its line ending); `None` deletes the line.
fn map_lines(sdp: &str, mut f: impl FnMut(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(sdp.len());
    for raw in sdp.split_inclusive('\n') {
        let (body, ending) = match raw.strip_suffix("\r\n") {
            Some(b) => (b, "\r\n"),
            None => match raw.strip_suffix('\n') {
                Some(b) => (b, "\n"),
                None => (raw, ""),
            },
        };
        if let Some(new) = f(body) {
            out.push_str(&new);
            out.push_str(ending);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ref_candidate_extensions_are_dropped_and_line_endings_kept() {
        let sdp = "v=0\na=candidate:1 1 udp 2113937151 31.13.65.60 40012 typ host generation 0 network-cost 50 ufrag 6k2qP1R6kBfI/2\na=x\n";
        assert_eq!(
            normalise_candidates(sdp),
            "v=0\na=candidate:1 1 udp 2113937151 31.13.65.60 40012 typ host\na=x\n"
        );
        let crlf =
            "a=candidate:1 1 udp 5 1.2.3.4 5 typ srflx raddr 0.0.0.0 rport 9 generation 0\r\n";
        assert_eq!(
            normalise_candidates(crlf),
            "a=candidate:1 1 udp 5 1.2.3.4 5 typ srflx raddr 0.0.0.0 rport 9\r\n"
        );
    }

    #[test]
    fn real_offer_opus_params_are_read_from_the_raw_text() {
        let sdp = include_str!("../../tests/fixtures/meta-uic-offer-real-2025-10-17.sdp");
        let p = OpusParams::from_sdp(sdp);
        assert_eq!(p.pt, Some(111));
        assert_eq!(p.max_average_bitrate, Some(20000));
        assert_eq!(p.max_playback_rate, Some(16000));
        assert_eq!(p.sprop_max_capture_rate, Some(16000));
        assert_eq!(p.min_ptime, Some(20));
        assert!(p.use_inband_fec);
        assert_eq!(p.ptime, Some(20));
        assert_eq!(first_mid(sdp).as_deref(), Some("audio"));
    }

    #[test]
    fn trickle_and_actpass_rewrites_touch_only_their_lines() {
        let sdp = "a=ice-options:trickle\r\na=setup:actpass\r\na=mid:0\r\n";
        assert_eq!(strip_trickle(sdp), "a=setup:actpass\r\na=mid:0\r\n");
        assert_eq!(
            offer_setup_passive(sdp),
            "a=ice-options:trickle\r\na=setup:passive\r\na=mid:0\r\n"
        );
    }
}
