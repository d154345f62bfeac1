//! [`DeterministicRandom`]: reproducible random bytes for traces.

use std::sync::atomic::{AtomicU64, Ordering};

/// Random-looking bytes that are the same for the same seed on every run.
///
/// Not for secrets: it makes tokens and nonces reproducible in golden traces.
#[derive(Debug)]
pub struct DeterministicRandom {
    seed: u64,
    counter: AtomicU64,
}

impl DeterministicRandom {
    /// A source whose output depends only on `seed`.
    pub fn new(seed: u64) -> Self {
        DeterministicRandom {
            seed,
            counter: AtomicU64::new(0),
        }
    }

    /// Fills `buf` with the next bytes of the sequence.
    pub fn fill(&self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let n = self.counter.fetch_add(1, Ordering::SeqCst);
            let word = mix(self.seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            chunk.copy_from_slice(&word.to_le_bytes()[..chunk.len()]);
        }
    }
}

fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_bytes() {
        let (a, b) = (DeterministicRandom::new(1), DeterministicRandom::new(1));
        let (mut x, mut y) = ([0u8; 21], [0u8; 21]);
        a.fill(&mut x);
        b.fill(&mut y);
        assert_eq!(x, y);
        a.fill(&mut y);
        assert_ne!(x, y);
    }
}
