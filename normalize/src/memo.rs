//! Per-thread caches of pure lookups keyed by text. A mobile batch is one device's events, so
//! its phone number and country come a hundred times; the phone and country lookups answer
//! them from memory.

use std::cell::RefCell;
use std::collections::HashMap;
use std::thread::LocalKey;

/// A per-thread cache: the type of a `thread_local!` static.
pub(crate) type Memo<V> = RefCell<HashMap<String, V>>;

/// `key`'s value in `memo`; on a miss, `compute`'s, kept for next time. The cache is emptied
/// when it holds `capacity` entries. A hit allocates nothing but the value's clone.
pub(crate) fn get_or_compute<V: Clone>(
    memo: &'static LocalKey<Memo<V>>,
    key: &str,
    capacity: usize,
    compute: impl FnOnce() -> V,
) -> V {
    if let Some(hit) = memo.with_borrow(|cache| cache.get(key).cloned()) {
        return hit;
    }
    let value = compute();
    memo.with_borrow_mut(|cache| {
        if cache.len() >= capacity {
            cache.clear();
        }
        cache.insert(key.to_string(), value.clone());
    });
    value
}
