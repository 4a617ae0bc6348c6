//! A reader's own copy of a table that is published whole through an
//! `ArcSwap` (the routing table, a pool's deployments) and read on every
//! request.
//!
//! Loading from an `ArcSwap` borrows a debt slot and pays it back (locked
//! instructions on memory other threads use), and taking the `Arc` out
//! counts a reference. A [`LocalCopy`] keeps the `Arc` it loaded last and
//! checks that it is still the published one by reading one address
//! (`arc_swap::Cache`); lookups borrow from it.

use std::sync::Arc;

use arc_swap::ArcSwap;
use arc_swap::cache::Cache;

/// A copy of what some `Arc<ArcSwap<T>>` publishes, made on first use.
pub(crate) struct LocalCopy<T>(Option<Cache<Arc<ArcSwap<T>>, Arc<T>>>);

impl<T> Default for LocalCopy<T> {
    fn default() -> Self {
        LocalCopy(None)
    }
}

impl<T> LocalCopy<T> {
    /// What `source` publishes now: the copy when it is still current,
    /// else a fresh one (also when the copy was of another source).
    pub(crate) fn load(&mut self, source: &Arc<ArcSwap<T>>) -> &Arc<T> {
        let current = matches!(&self.0, Some(cache) if std::ptr::eq(cache.arc_swap(), &**source));
        if !current {
            self.0 = Some(Cache::new(source.clone()));
        }
        self.0.as_mut().expect("made above").load()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_follows_its_source_and_moves_to_another() {
        let a = Arc::new(ArcSwap::from_pointee(1));
        let b = Arc::new(ArcSwap::from_pointee(10));
        let mut copy = LocalCopy::default();
        assert_eq!(**copy.load(&a), 1);
        a.store(Arc::new(2));
        assert_eq!(**copy.load(&a), 2, "a new table is seen at once");
        assert_eq!(**copy.load(&b), 10, "another source's");
        b.store(Arc::new(11));
        assert_eq!(**copy.load(&b), 11);
        assert_eq!(**copy.load(&a), 2);
    }
}
