//! In-process keyed locks (seed 000's `lock(keys, fn)`).

use parking_lot::Mutex;
use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::Arc;
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

/// Locks named by string keys; several keys are always taken in sorted order, so two callers
/// locking overlapping sets can never deadlock.
///
/// ```
/// # async fn demo() {
/// let locks = berth_core::KeyedLocks::default();
/// let n = locks.with(["worker-image:p:a", "worker-image:p:b"], async { 1 + 1 }).await;
/// assert_eq!(n, 2);
/// # }
/// ```
#[derive(Debug, Default, Clone)]
pub struct KeyedLocks {
    table: Arc<Mutex<HashMap<String, Arc<AsyncMutex<()>>>>>,
}

/// Holds the keys of one [`KeyedLocks::lock`] call until dropped.
#[derive(Debug)]
pub struct KeyedGuard {
    table: Arc<Mutex<HashMap<String, Arc<AsyncMutex<()>>>>>,
    held: Vec<(String, OwnedMutexGuard<()>)>,
}

impl KeyedLocks {
    /// Takes every key of `keys` (duplicates are taken once) and returns a guard.
    pub async fn lock<I, K>(&self, keys: I) -> KeyedGuard
    where
        I: IntoIterator<Item = K>,
        K: Into<String>,
    {
        let sorted: BTreeSet<String> = keys.into_iter().map(Into::into).collect();
        let mut held = Vec::with_capacity(sorted.len());
        for key in sorted {
            let mutex = self.table.lock().entry(key.clone()).or_default().clone();
            held.push((key, mutex.lock_owned().await));
        }
        KeyedGuard {
            table: self.table.clone(),
            held,
        }
    }

    /// Runs `f` while holding `keys`.
    pub async fn with<I, K, F>(&self, keys: I, f: F) -> F::Output
    where
        I: IntoIterator<Item = K>,
        K: Into<String>,
        F: Future,
    {
        let _guard = self.lock(keys).await;
        f.await
    }

    /// Number of keys with a live lock entry (held or waited on).
    pub fn active(&self) -> usize {
        self.table.lock().len()
    }
}

impl KeyedGuard {
    /// The keys held, sorted.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.held.iter().map(|(k, _)| k.as_str())
    }
}

impl Drop for KeyedGuard {
    fn drop(&mut self) {
        let mut table = self.table.lock();
        for (key, guard) in self.held.drain(..).rev() {
            drop(guard);
            // Only the table and nobody else refers to the mutex: nobody holds or waits on it.
            if table.get(&key).is_some_and(|m| Arc::strong_count(m) == 1) {
                table.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn overlapping_key_sets_never_deadlock_and_exclude() {
        let locks = KeyedLocks::default();
        let inside = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for i in 0..16 {
            let locks = locks.clone();
            let inside = inside.clone();
            // Opposite orders on purpose: sorting must prevent the deadlock.
            let keys = if i % 2 == 0 {
                vec!["a", "b"]
            } else {
                vec!["b", "a"]
            };
            tasks.push(tokio::spawn(async move {
                let _g = locks.lock(keys).await;
                assert_eq!(
                    inside.fetch_add(1, Ordering::SeqCst),
                    0,
                    "two holders at once"
                );
                tokio::task::yield_now().await;
                inside.fetch_sub(1, Ordering::SeqCst);
            }));
        }
        let all = async {
            for t in tasks {
                t.await.map_err(|e| e.to_string())?;
            }
            Ok::<_, String>(())
        };
        tokio::time::timeout(Duration::from_secs(10), all)
            .await
            .map_err(|_| "deadlock")
            .and_then(|r| r.map_err(|_| "task failed"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            locks.active(),
            0,
            "entries are removed once nobody uses them"
        );
    }

    #[tokio::test]
    async fn guard_reports_sorted_unique_keys() {
        let locks = KeyedLocks::default();
        let g = locks.lock(["b", "a", "b"]).await;
        assert_eq!(g.keys().collect::<Vec<_>>(), vec!["a", "b"]);
        assert_eq!(locks.active(), 2);
        drop(g);
        assert_eq!(locks.active(), 0);
    }
}
