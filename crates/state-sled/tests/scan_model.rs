//! Scans over sled ranges agree with a plain model (sort by bytes, filter, reverse, limit)
//! for random keys, prefixes, cursors and limits, next to neighbouring collections.

use berth_core::{Batch, OpenOptions, Scan};
use serde_json::json;

/// Key pieces chosen for byte-order edge cases: multi-byte UTF-8, `~` (0x7e), DEL (0x7f),
/// and the largest code point (bytes F4 8F BF BF).
const PIECES: [&str; 7] = ["a", "b", "ab", "é", "~", "\u{7f}", "\u{10FFFF}"];

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }

    fn text(&mut self, max_pieces: usize) -> String {
        (0..self.below(max_pieces + 1))
            .map(|_| PIECES[self.below(PIECES.len())])
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scans_match_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let store = berth_state_sled::open(dir.path().join("db"), OpenOptions::default())
        .await
        .unwrap();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut keys = std::collections::BTreeSet::new();
    let mut batch = Batch::new();
    while keys.len() < 300 {
        let key = rng.text(4);
        if !key.is_empty() && keys.insert(key.clone()) {
            batch.put("c", &key, json!(key));
        }
    }
    // Neighbours whose tree keys sort right before and after those of "c".
    for neighbour in ["b", "c\u{1}", "c~", "ca"] {
        for key in keys.iter().take(20) {
            batch.put(neighbour, key, json!("neighbour"));
        }
    }
    store.commit(batch).await.unwrap();

    let mut sorted: Vec<&String> = keys.iter().collect();
    sorted.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    for _ in 0..600 {
        let mut scan = Scan::prefix(rng.text(2));
        if rng.below(3) > 0 {
            scan = scan.after(rng.text(3));
        }
        if rng.below(2) == 0 {
            scan = scan.reversed();
        }
        if rng.below(3) > 0 {
            scan = scan.limit(rng.below(12));
        }
        let mut want: Vec<&str> = sorted
            .iter()
            .filter(|k| scan.admits(k))
            .map(|k| k.as_str())
            .collect();
        if scan.reverse {
            want.reverse();
        }
        want.truncate(scan.limit.unwrap_or(usize::MAX));
        let got = store.records().scan("c", &scan).await.unwrap();
        let got: Vec<&str> = got.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(got, want, "{scan:?}");
        assert_eq!(
            store.records().count("c", &scan.prefix).await.unwrap() as usize,
            sorted
                .iter()
                .filter(|k| k.starts_with(&scan.prefix))
                .count(),
            "count of {:?}",
            scan.prefix
        );
    }
}
