//! A small bounded cache with least-recently-used eviction in two generations.
//!
//! Used for label signatures already verified (path, sig) and for parsed batch
//! records: both are immutable facts, so a cached entry is never stale; the
//! bound only keeps memory flat under a flood of distinct labels.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;

/// Entries are kept in a young and an old generation. A hit in the old one
/// moves the entry back to the young one; when the young one is full, the old
/// one is dropped whole and the young one becomes old. That evicts entries not
/// used for a full generation, at O(1) per operation, with no linked list.
#[derive(Debug)]
pub struct Generations<K, V> {
    young: HashMap<K, V>,
    old: HashMap<K, V>,
    per_generation: usize,
}

/// Generations at least this large are dropped on a thread of their own.
const DROP_ASIDE: usize = 1024;

/// Drops an evicted generation. A large one is handed to a short-lived thread:
/// freeing tens of thousands of cached views took long enough, on the thread
/// that happened to insert (and under the cache's lock), to show in the scan
/// page's p99.
fn drop_generation<K: Send + 'static, V: Send + 'static>(spent: HashMap<K, V>) {
    if spent.len() < DROP_ASIDE {
        return;
    }
    // If no thread can be started, the closure and the map drop right here.
    let _ = std::thread::Builder::new()
        .name("cache-drop".into())
        .spawn(move || drop(spent));
}

impl<K: Hash + Eq + Send + 'static, V: Clone + Send + 'static> Generations<K, V> {
    /// A cache holding between `capacity / 2` and `capacity` entries once warm.
    pub fn new(capacity: usize) -> Self {
        let per_generation = (capacity / 2).max(1);
        Generations {
            young: HashMap::with_capacity(per_generation),
            old: HashMap::new(),
            per_generation,
        }
    }

    /// The cached value, refreshing its age.
    pub fn get(&mut self, k: &K) -> Option<V> {
        if let Some(v) = self.young.get(k) {
            return Some(v.clone());
        }
        let (k, v) = self.old.remove_entry(k)?;
        self.insert(k, v.clone());
        Some(v)
    }

    /// Removes and returns the value held for `k`.
    pub fn take<Q>(&mut self, k: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        // Both generations: an entry re-stored while an older copy sat in the
        // old one must not leave that copy behind.
        let young = self.young.remove(k);
        let old = self.old.remove(k);
        young.or(old)
    }

    /// Stores a value.
    pub fn insert(&mut self, k: K, v: V) {
        if self.young.len() >= self.per_generation && !self.young.contains_key(&k) {
            let spent = std::mem::replace(&mut self.old, std::mem::take(&mut self.young));
            drop_generation(spent);
            self.young.reserve(self.per_generation);
        }
        self.young.insert(k, v);
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.young.len() + self.old.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A [`Generations`] cache behind a lock, shareable between tasks.
#[derive(Debug)]
pub struct Shared<K, V>(Mutex<Generations<K, V>>);

impl<K: Hash + Eq + Send + 'static, V: Clone + Send + 'static> Shared<K, V> {
    /// See [`Generations::new`].
    pub fn new(capacity: usize) -> Self {
        Shared(Mutex::new(Generations::new(capacity)))
    }

    /// The cached value; a poisoned lock counts as a miss.
    pub fn get(&self, k: &K) -> Option<V> {
        self.0.lock().ok()?.get(k)
    }

    /// Stores a value; a poisoned lock drops it.
    pub fn insert(&self, k: K, v: V) {
        if let Ok(mut g) = self.0.lock() {
            g.insert(k, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_keeps_what_is_used() {
        let mut c = Generations::new(4);
        c.insert(1, "a");
        c.insert(2, "b");
        // Young is full (2): 1 and 2 move to old.
        c.insert(3, "c");
        assert_eq!(c.get(&1), Some("a")); // refreshed into young
        c.insert(4, "d"); // young full again: old (2) is dropped
        assert_eq!(c.get(&2), None);
        assert_eq!(c.get(&1), Some("a"));
        assert_eq!(c.get(&4), Some("d"));
        for i in 10..1000 {
            c.insert(i, "x");
            assert!(c.len() <= 4);
        }
        assert!(!c.is_empty());
    }

    #[test]
    fn overwrite_does_not_rotate() {
        let mut c = Generations::new(4);
        c.insert(1, 1);
        c.insert(2, 2);
        c.insert(2, 3);
        assert_eq!(c.get(&1), Some(1));
        assert_eq!(c.get(&2), Some(3));
    }

    #[test]
    fn evicted_generations_handed_to_a_thread_are_freed() {
        // Each value counts its drops, wherever they happen.
        struct Counted(std::sync::Arc<std::sync::atomic::AtomicUsize>);
        impl Clone for Counted {
            fn clone(&self) -> Self {
                Counted(self.0.clone())
            }
        }
        impl Drop for Counted {
            fn drop(&mut self) {
                self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }
        let dropped = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let c = Shared::new(2 * DROP_ASIDE);
        for i in 0..3 * DROP_ASIDE {
            c.insert(i, Counted(dropped.clone()));
        }
        // The first generation was evicted whole; the last ones are held.
        assert!(c.get(&0).is_none());
        assert!(c.get(&(3 * DROP_ASIDE - 1)).is_some());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while dropped.load(std::sync::atomic::Ordering::SeqCst) < DROP_ASIDE {
            assert!(
                std::time::Instant::now() < deadline,
                "evicted values never dropped"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
}
