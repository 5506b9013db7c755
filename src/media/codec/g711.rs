//! G.711 µ-law (PCMU) and A-law (PCMA) companding, sample by sample with no tables and no
//! allocation (the classic bit-twiddling of ITU-T G.711 / Sun's reference `g711.c`).

const ULAW_BIAS: i32 = 0x84;
const ULAW_CLIP: i32 = 32635;

/// Compresses one 16-bit linear sample to µ-law.
#[must_use]
pub fn linear_to_ulaw(sample: i16) -> u8 {
    let mut pcm = i32::from(sample);
    let sign = if pcm < 0 {
        pcm = -pcm;
        0x80
    } else {
        0
    };
    pcm = pcm.min(ULAW_CLIP) + ULAW_BIAS;
    // Segment = position of the highest set bit above bit 7.
    let exponent = (31 - (pcm as u32).leading_zeros()).saturating_sub(7).min(7) as i32;
    let mantissa = (pcm >> (exponent + 3)) & 0x0F;
    !((sign | (exponent << 4) | mantissa) as u8)
}

/// Expands one µ-law byte to a 16-bit linear sample.
#[must_use]
pub fn ulaw_to_linear(byte: u8) -> i16 {
    let u = !byte;
    let sign = u & 0x80;
    let exponent = i32::from((u >> 4) & 0x07);
    let mantissa = i32::from(u & 0x0F);
    let magnitude = (((mantissa << 3) + ULAW_BIAS) << exponent) - ULAW_BIAS;
    (if sign != 0 { -magnitude } else { magnitude }) as i16
}

/// Compresses one 16-bit linear sample to A-law.
#[must_use]
pub fn linear_to_alaw(sample: i16) -> u8 {
    let pcm = i32::from(sample) >> 3; // A-law works on 13-bit magnitudes
    let (sign, magnitude) = if pcm >= 0 {
        (0xD5u8, pcm)
    } else {
        (0x55u8, -pcm - 1)
    };
    let magnitude = magnitude.min(0x0FFF);
    let byte = if magnitude < 32 {
        (magnitude >> 1) as u8
    } else {
        let segment = (31 - (magnitude as u32).leading_zeros()) as i32 - 4; // 1..=7
        ((segment << 4) | ((magnitude >> segment) & 0x0F)) as u8
    };
    byte ^ sign
}

/// Expands one A-law byte to a 16-bit linear sample.
#[must_use]
pub fn alaw_to_linear(byte: u8) -> i16 {
    let a = byte ^ 0x55;
    let segment = i32::from((a >> 4) & 0x07);
    let mantissa = i32::from(a & 0x0F);
    let magnitude = if segment == 0 {
        (mantissa << 4) + 8
    } else {
        ((mantissa << 4) + 0x108) << (segment - 1)
    };
    (if a & 0x80 != 0 { magnitude } else { -magnitude }) as i16
}

/// Encodes `pcm` to µ-law into `out` (one byte per sample); returns the bytes written.
pub fn encode_ulaw(pcm: &[i16], out: &mut [u8]) -> usize {
    let n = pcm.len().min(out.len());
    for (o, s) in out[..n].iter_mut().zip(pcm) {
        *o = linear_to_ulaw(*s);
    }
    n
}

/// Decodes µ-law `bytes` into `out` (one sample per byte); returns the samples written.
pub fn decode_ulaw(bytes: &[u8], out: &mut [i16]) -> usize {
    let n = bytes.len().min(out.len());
    for (o, b) in out[..n].iter_mut().zip(bytes) {
        *o = ulaw_to_linear(*b);
    }
    n
}

/// Encodes `pcm` to A-law into `out` (one byte per sample); returns the bytes written.
pub fn encode_alaw(pcm: &[i16], out: &mut [u8]) -> usize {
    let n = pcm.len().min(out.len());
    for (o, s) in out[..n].iter_mut().zip(pcm) {
        *o = linear_to_alaw(*s);
    }
    n
}

/// Decodes A-law `bytes` into `out` (one sample per byte); returns the samples written.
pub fn decode_alaw(bytes: &[u8], out: &mut [i16]) -> usize {
    let n = bytes.len().min(out.len());
    for (o, b) in out[..n].iter_mut().zip(bytes) {
        *o = alaw_to_linear(*b);
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulaw_known_code_points_match_g711() {
        assert_eq!(linear_to_ulaw(0), 0xFF);
        assert_eq!(linear_to_ulaw(-1), 0x7F);
        assert_eq!(linear_to_ulaw(i16::MAX), 0x80);
        assert_eq!(linear_to_ulaw(i16::MIN), 0x00);
        assert_eq!(ulaw_to_linear(0xFF), 0);
        assert_eq!(ulaw_to_linear(0x80), 32124);
        assert_eq!(ulaw_to_linear(0x00), -32124);
    }

    #[test]
    fn alaw_known_code_points_match_g711() {
        assert_eq!(linear_to_alaw(0), 0xD5);
        assert_eq!(linear_to_alaw(-1), 0x55);
        assert_eq!(linear_to_alaw(i16::MAX), 0xAA);
        assert_eq!(linear_to_alaw(i16::MIN), 0x2A);
        assert_eq!(alaw_to_linear(0xD5), 8);
        assert_eq!(alaw_to_linear(0xAA), 32256);
        assert_eq!(alaw_to_linear(0x2A), -32256);
    }

    #[test]
    fn every_code_round_trips_through_linear() {
        for b in 0..=255u8 {
            assert_eq!(linear_to_alaw(alaw_to_linear(b)), b, "A-law {b:#04x}");
            let back = linear_to_ulaw(ulaw_to_linear(b));
            // µ-law has two zero codes (0x7F and 0xFF); both decode to 0.
            if b == 0x7F {
                assert_eq!(back, 0xFF);
            } else {
                assert_eq!(back, b, "µ-law {b:#04x}");
            }
        }
    }

    #[test]
    fn companding_error_stays_within_segment_step() {
        for s in (i16::MIN..=i16::MAX).step_by(97) {
            let u = i32::from(ulaw_to_linear(linear_to_ulaw(s)));
            let a = i32::from(alaw_to_linear(linear_to_alaw(s)));
            if i32::from(s).abs() < 1024 {
                assert!((u - i32::from(s)).abs() <= 32, "µ-law {s} -> {u}");
                assert!((a - i32::from(s)).abs() <= 32, "A-law {s} -> {a}");
            }
            // relative error bound in the upper segments
            if i32::from(s).abs() > 1024 {
                assert!((u - i32::from(s)).abs() * 16 <= i32::from(s).abs() + 2048);
                assert!((a - i32::from(s)).abs() * 16 <= i32::from(s).abs() + 2048);
            }
        }
    }
}
