//! Peeking at cleartext datagram headers (RFC 7983 demultiplexing) for workarounds L4 (SSRC
//! learning) and L5 (DTLS handshake cache). Nothing here decrypts or validates.

/// `(ssrc, payload type)` of an RTP (not RTCP) datagram; SRTP headers are cleartext.
pub fn rtp_ssrc_pt(b: &[u8]) -> Option<(u32, u8)> {
    if b.len() < 12 || !(128..=191).contains(&b[0]) {
        return None;
    }
    let pt = b[1] & 0x7f;
    if (64..=95).contains(&pt) {
        return None; // RTCP (RFC 5761 §4: 192..=223 with the marker bit masked)
    }
    Some((u32::from_be_bytes([b[8], b[9], b[10], b[11]]), pt))
}

/// For a DTLS handshake record (content type 22): whether it starts a ClientHello.
pub fn dtls_handshake(b: &[u8]) -> Option<bool> {
    (b.len() > 13 && b[0] == 22).then(|| b[13] == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtp_is_told_apart_from_rtcp_stun_and_dtls() {
        let mut rtp = [0u8; 12];
        rtp[0] = 0x80;
        rtp[1] = 0x80 | 111;
        rtp[8..12].copy_from_slice(&0xdead_beefu32.to_be_bytes());
        assert_eq!(rtp_ssrc_pt(&rtp), Some((0xdead_beef, 111)));
        rtp[1] = 200; // RTCP SR
        assert_eq!(rtp_ssrc_pt(&rtp), None);
        assert_eq!(
            rtp_ssrc_pt(&[0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42, 0, 0, 0, 0]),
            None
        );
        let mut hello = [0u8; 20];
        hello[0] = 22;
        hello[13] = 1;
        assert_eq!(dtls_handshake(&hello), Some(true));
        hello[13] = 11;
        assert_eq!(dtls_handshake(&hello), Some(false));
        assert_eq!(dtls_handshake(&rtp), None);
    }
}
