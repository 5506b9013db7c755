//! [`FrameRing`]: the bridge's queue of PBX Opus frames waiting for WhatsApp (passthrough), a
//! fixed ring of [`MAX_QUEUED_FRAMES`] frames that drops the oldest when full; its buffers are
//! allocated on the first push, so transcoding calls never pay for them.

use super::MAX_QUEUED_FRAMES;
use crate::media::codec::MAX_OPUS_PACKET;

/// Fixed ring of Opus frames (PBX passthrough towards WhatsApp).
pub(super) struct FrameRing {
    pub(super) bufs: Vec<[u8; MAX_OPUS_PACKET]>,
    pub(super) lens: [usize; MAX_QUEUED_FRAMES],
    head: usize,
    pub(super) len: usize,
}

impl FrameRing {
    pub(super) fn new() -> Self {
        Self {
            // Allocated on the first push: transcoding calls never use it.
            bufs: Vec::new(),
            lens: [0; MAX_QUEUED_FRAMES],
            head: 0,
            len: 0,
        }
    }

    pub(super) fn push(&mut self, frame: &[u8]) {
        if self.bufs.is_empty() {
            self.bufs = vec![[0; MAX_OPUS_PACKET]; MAX_QUEUED_FRAMES];
        }
        if self.len == MAX_QUEUED_FRAMES {
            self.head = (self.head + 1) % MAX_QUEUED_FRAMES;
            self.len -= 1;
        }
        let slot = (self.head + self.len) % MAX_QUEUED_FRAMES;
        let n = frame.len().min(MAX_OPUS_PACKET);
        self.bufs[slot][..n].copy_from_slice(&frame[..n]);
        self.lens[slot] = n;
        self.len += 1;
    }

    /// Index of the oldest frame, removed from the ring (its bytes stay valid until the next push).
    pub(super) fn pop(&mut self) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let slot = self.head;
        self.head = (self.head + 1) % MAX_QUEUED_FRAMES;
        self.len -= 1;
        Some(slot)
    }

    pub(super) fn clear(&mut self) {
        self.len = 0;
    }
}
