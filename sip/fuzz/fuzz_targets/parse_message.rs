//! Fuzz target: SIP message parsing, TCP stream framing and SDP parsing must never panic.
#![no_main]

use callgate_sip::framing::{Frame, StreamFramer};
use callgate_sip::message::parse_message;
use callgate_sip::sdp::SessionDescription;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = parse_message(data) {
        let _ = SessionDescription::parse_bytes(msg.body());
        // What we serialise must parse again.
        let _ = parse_message(&callgate_sip::message::to_bytes(&msg));
    }
    let mut framer = StreamFramer::new(16 * 1024);
    for chunk in data.chunks(97) {
        framer.push(chunk);
        while let Ok(Some(frame)) = framer.next_frame() {
            if let Frame::Message(bytes) = frame {
                let _ = parse_message(&bytes);
            }
        }
    }
});
