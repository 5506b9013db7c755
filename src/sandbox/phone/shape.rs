//! SDP text work str0m cannot do: rewriting str0m's offer and answer into the exact shape Meta's
//! WhatsApp clients send (ICE-lite, one host candidate with Meta's extension attributes, Opus 111
//! with Meta's fmtp, ptime/maxptime, the `WhatsAppAudioStream1` cname), normalising the business's
//! candidate lines (str0m-meta.md L2), and reading values back out of SDP text.

use std::net::SocketAddr;

/// Meta's Opus fmtp (str0m's `FormatParams` cannot carry these).
pub const META_OPUS_FMTP: &str = "maxaveragebitrate=20000;maxplaybackrate=16000;minptime=20;sprop-maxcapturerate=16000;useinbandfec=1";
/// The RTCP cname every Meta stream carries.
pub const META_CNAME: &str = "WhatsAppAudioStream1";
/// The msid track id every Meta stream carries.
pub const META_TRACK: &str = "WhatsAppTrack1";

fn lines(sdp: &str) -> impl Iterator<Item = &str> {
    sdp.lines().map(str::trim_end).filter(|l| !l.is_empty())
}

/// The value of the first line starting with `prefix`.
pub fn value_of<'a>(sdp: &'a str, prefix: &str) -> Option<&'a str> {
    lines(sdp).find_map(|l| l.strip_prefix(prefix))
}

/// The payload type of `codec` (`opus/48000/2`, `telephone-event/8000`), case-insensitive.
pub fn pt_of(sdp: &str, codec: &str) -> Option<u8> {
    lines(sdp).find_map(|l| {
        let (pt, name) = l.strip_prefix("a=rtpmap:")?.split_once(' ')?;
        name.eq_ignore_ascii_case(codec).then(|| pt.parse().ok())?
    })
}

/// A numeric `key=value` from the fmtp of payload type `pt`.
pub fn fmtp_param(sdp: &str, pt: u8, key: &str) -> Option<u32> {
    let prefix = format!("a=fmtp:{pt} ");
    let params = value_of(sdp, &prefix)?;
    params.split(';').find_map(|kv| {
        let (k, v) = kv.trim().split_once('=')?;
        k.eq_ignore_ascii_case(key).then(|| v.trim().parse().ok())?
    })
}

/// Rewrites every `a=candidate:` line to the fields str0m parses in the order it expects:
/// `foundation comp proto prio addr port typ kind [raddr a rport p]` (str0m-meta.md L2).
pub fn normalise_candidates(sdp: &str) -> String {
    let mut out = String::with_capacity(sdp.len());
    for l in lines(sdp) {
        if let Some(rest) = l.strip_prefix("a=candidate:") {
            let f: Vec<&str> = rest.split_whitespace().collect();
            let mut keep = f.len().min(8);
            if f.get(8) == Some(&"raddr") && f.get(10) == Some(&"rport") && f.len() >= 12 {
                keep = 12;
            }
            out.push_str("a=candidate:");
            out.push_str(&f[..keep].join(" "));
        } else {
            out.push_str(l);
        }
        out.push_str("\r\n");
    }
    out
}

/// Rebuilds str0m's ICE-lite offer in Meta's layout and order: session `a=ice-lite`, the real
/// port on the m-line and `c=`, one host candidate with `generation 0 network-cost 50`,
/// `a=setup:actpass`, Opus 111 with Meta's fmtp, telephone-event/8000 on 126 without fmtp,
/// `a=maxptime:20`, `a=ptime:20`, msid `WhatsAppTrack1` and cname `WhatsAppAudioStream1`.
/// Lines str0m adds that Meta never sends (trickle, extmap-allow-mixed, ssrc msid) are dropped.
pub fn meta_offer(str0m_sdp: &str, addr: SocketAddr) -> String {
    meta_shaped(str0m_sdp, addr, "actpass")
}

/// Rebuilds str0m's ICE-lite answer to a business offer in Meta's layout (as
/// [`meta_offer`], with `a=setup:active`, and the offer's payload types kept).
pub fn meta_answer(str0m_sdp: &str, addr: SocketAddr) -> String {
    meta_shaped(str0m_sdp, addr, "active")
}

fn meta_shaped(sdp: &str, addr: SocketAddr, setup: &str) -> String {
    let ip_ver = if addr.is_ipv4() { "IP4" } else { "IP6" };
    let get = |p: &str| value_of(sdp, p).unwrap_or_default();
    let origin = get("o=");
    let mid = get("a=mid:");
    let (stream, _track) = get("a=msid:").split_once(' ').unwrap_or(("-", ""));
    let opus = pt_of(sdp, "opus/48000/2").unwrap_or(111);
    let tele = pt_of(sdp, "telephone-event/8000");
    let pts = match tele {
        Some(t) => format!("{opus} {t}"),
        None => opus.to_string(),
    };
    let ssrc = lines(sdp)
        .find_map(|l| l.strip_prefix("a=ssrc:")?.split_once(' ').map(|(s, _)| s))
        .unwrap_or_default();
    let candidate = lines(sdp)
        .find_map(|l| {
            let f: Vec<&str> = l.strip_prefix("a=candidate:")?.split_whitespace().collect();
            (f.len() >= 8).then(|| f[..8].join(" "))
        })
        .unwrap_or_default();
    let mut out = vec![
        "v=0".to_string(),
        format!("o={origin}"),
        "s=-".into(),
        "t=0 0".into(),
        format!("a=group:BUNDLE {mid}"),
        format!("a=msid-semantic: WMS {stream}"),
        "a=ice-lite".into(),
        format!("m=audio {} UDP/TLS/RTP/SAVPF {pts}", addr.port()),
        format!("c=IN {ip_ver} {}", addr.ip()),
        "a=rtcp:9 IN IP4 0.0.0.0".into(),
        format!("a=candidate:{candidate} generation 0 network-cost 50"),
        format!("a=ice-ufrag:{}", get("a=ice-ufrag:")),
        format!("a=ice-pwd:{}", get("a=ice-pwd:")),
        format!("a=fingerprint:{}", get("a=fingerprint:")),
        format!("a=setup:{setup}"),
        format!("a=mid:{mid}"),
        "a=sendrecv".into(),
        format!("a=msid:{stream} {META_TRACK}"),
        "a=rtcp-mux".into(),
        format!("a=rtpmap:{opus} opus/48000/2"),
        format!("a=rtcp-fb:{opus} transport-cc"),
        format!("a=fmtp:{opus} {META_OPUS_FMTP}"),
    ];
    if let Some(t) = tele {
        out.push(format!("a=rtpmap:{t} telephone-event/8000"));
    }
    out.push("a=maxptime:20".into());
    out.push("a=ptime:20".into());
    out.push(format!("a=ssrc:{ssrc} cname:{META_CNAME}"));
    let mut text = out.join("\r\n");
    text.push_str("\r\n");
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidate_extensions_in_metas_order_are_cut_to_what_str0m_parses() {
        let sdp = "v=0\na=candidate:1 1 udp 2113937151 10.0.0.1 3482 typ host generation 0 network-cost 50 ufrag X1\na=candidate:2 1 udp 1 1.2.3.4 9 typ srflx raddr 10.0.0.1 rport 3482 generation 0\n";
        assert_eq!(
            normalise_candidates(sdp),
            "v=0\r\na=candidate:1 1 udp 2113937151 10.0.0.1 3482 typ host\r\na=candidate:2 1 udp 1 1.2.3.4 9 typ srflx raddr 10.0.0.1 rport 3482\r\n"
        );
    }

    #[test]
    fn payload_types_and_fmtp_params_are_read_from_text() {
        let sdp = "a=rtpmap:107 OPUS/48000/2\r\na=fmtp:107 minptime=10;maxaveragebitrate=28000;stereo=1\r\na=rtpmap:101 telephone-event/8000\r\n";
        assert_eq!(pt_of(sdp, "opus/48000/2"), Some(107));
        assert_eq!(pt_of(sdp, "telephone-event/8000"), Some(101));
        assert_eq!(fmtp_param(sdp, 107, "maxaveragebitrate"), Some(28000));
        assert_eq!(fmtp_param(sdp, 107, "stereo"), Some(1));
        assert_eq!(fmtp_param(sdp, 101, "stereo"), None);
    }
}
