//! Decoding just enough of the gateway's datagrams to assert behaviour on the wire: STUN
//! attributes, DTLS handshake message types, RTP headers.

/// STUN attribute types used in assertions.
pub const ICE_CONTROLLING: u16 = 0x802a;
pub const ICE_CONTROLLED: u16 = 0x8029;
pub const USE_CANDIDATE: u16 = 0x0025;
/// DTLS handshake message types.
pub const CLIENT_HELLO: u8 = 1;
pub const SERVER_HELLO: u8 = 2;

/// Attribute types of a STUN message, or `None` when `b` is not STUN.
pub fn stun_attrs(b: &[u8]) -> Option<Vec<u16>> {
    if b.len() < 20 || b[0] > 1 || b[4..8] != [0x21, 0x12, 0xa4, 0x42] {
        return None;
    }
    let mut attrs = Vec::new();
    let mut i = 20;
    while i + 4 <= b.len() {
        attrs.push(u16::from_be_bytes([b[i], b[i + 1]]));
        let len = usize::from(u16::from_be_bytes([b[i + 2], b[i + 3]]));
        i += 4 + len.div_ceil(4) * 4;
    }
    Some(attrs)
}

/// Whether `b` is a STUN binding request.
pub fn is_stun_request(b: &[u8]) -> bool {
    stun_attrs(b).is_some() && b[0..2] == [0, 1]
}

/// Handshake message type of a cleartext (epoch 0) DTLS handshake record.
pub fn dtls_handshake_type(b: &[u8]) -> Option<u8> {
    (b.len() > 13 && b[0] == 22 && b[3..5] == [0, 0]).then(|| b[13])
}

/// `(payload type, sequence number, timestamp, ssrc)` of an RTP datagram.
pub fn rtp_header(b: &[u8]) -> Option<(u8, u16, u32, u32)> {
    if b.len() < 12 || !(128..=191).contains(&b[0]) || (64..=95).contains(&(b[1] & 0x7f)) {
        return None;
    }
    let seq = u16::from_be_bytes([b[2], b[3]]);
    let ts = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
    let ssrc = u32::from_be_bytes([b[8], b[9], b[10], b[11]]);
    Some((b[1] & 0x7f, seq, ts, ssrc))
}
