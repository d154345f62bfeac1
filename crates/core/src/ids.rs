//! Id generation: UUID v7, with a deterministic variant for tests.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use uuid::Uuid;

/// Makes new ids; injected so tests are reproducible.
pub trait IdGenerator: Send + Sync + fmt::Debug {
    /// A new id, ordered after every id this generator made before.
    fn next_id(&self) -> Uuid;
}

/// Random, time-ordered UUID v7 ids.
#[derive(Debug, Default, Clone, Copy)]
pub struct UuidV7;

impl IdGenerator for UuidV7 {
    fn next_id(&self) -> Uuid {
        Uuid::now_v7()
    }
}

/// Reproducible UUID v7-shaped ids: the n-th id of a seed is always the same.
///
/// The timestamp field holds the counter, so ids sort in the order they were made.
#[derive(Debug)]
pub struct DeterministicIds {
    seed: u64,
    counter: AtomicU64,
}

impl DeterministicIds {
    /// A generator whose sequence depends only on `seed`.
    pub fn new(seed: u64) -> Self {
        DeterministicIds {
            seed,
            counter: AtomicU64::new(0),
        }
    }
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

impl IdGenerator for DeterministicIds {
    fn next_id(&self) -> Uuid {
        let n = self.counter.fetch_add(1, Ordering::SeqCst) + 1;
        let random = splitmix64(self.seed ^ n.rotate_left(17));
        let mut bytes = [0u8; 16];
        bytes[..6].copy_from_slice(&n.to_be_bytes()[2..]);
        bytes[6] = 0x70 | ((random >> 60) as u8 & 0x0f);
        bytes[7] = (random >> 52) as u8;
        bytes[8] = 0x80 | ((random >> 46) as u8 & 0x3f);
        bytes[9..16].copy_from_slice(&random.to_be_bytes()[1..]);
        Uuid::from_bytes(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_ids_repeat_per_seed_and_are_ordered_v7() {
        let a = DeterministicIds::new(7);
        let b = DeterministicIds::new(7);
        let first: Vec<Uuid> = (0..5).map(|_| a.next_id()).collect();
        let second: Vec<Uuid> = (0..5).map(|_| b.next_id()).collect();
        assert_eq!(first, second);
        assert!(first.windows(2).all(|w| w[0] < w[1]));
        assert!(first.iter().all(|id| id.get_version_num() == 7));
        assert_ne!(DeterministicIds::new(8).next_id(), first[0]);
    }

    #[test]
    fn v7_ids_are_version_7() {
        assert_eq!(UuidV7.next_id().get_version_num(), 7);
    }
}
