//! The stable hash behind entity → shard mapping and shard assignment.
//!
//! It is part of the on-disk and on-the-wire contract: every runner of every version must map
//! an entity to the same shard and a shard to the same runner, so this function never changes.
//! It is 64-bit FNV-1a over the bytes (offset basis `0xcbf29ce484222325`, prime
//! `0x100000001b3`) followed by MurmurHash3's `fmix64` finalizer, which spreads FNV's weak low
//! bits over the whole word. Test vectors are pinned in `tests/values.rs`.

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// The stable 64-bit hash of `bytes` (FNV-1a 64, then `fmix64`); it never changes.
///
/// ```
/// assert_eq!(berth_runner_storage::stable_hash(b""), 0xefd0_1f60_ba99_2926);
/// ```
pub fn stable_hash(bytes: &[u8]) -> u64 {
    let mut h = StableHasher::new();
    h.write(bytes);
    h.finish()
}

/// A streaming form of [`stable_hash`], so a common prefix is hashed once.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StableHasher(u64);

impl StableHasher {
    pub(crate) fn new() -> Self {
        StableHasher(FNV_OFFSET)
    }

    pub(crate) fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(FNV_PRIME);
        }
    }

    pub(crate) fn finish(self) -> u64 {
        fmix64(self.0)
    }
}

fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^= k >> 33;
    k
}
