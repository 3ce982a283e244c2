//! The stable hash of values kept in state objects (delivered records, produced rows,
//! input versions, local object versions), whose algorithm never changes with the Rust
//! release.

use std::hash::{Hash, Hasher};

/// A 64-bit hash of any value, kept in state objects: XXH64 (seed 0) over what the value's
/// `Hash` writes. Unlike std's `DefaultHasher`, whose algorithm may change with the Rust
/// release, the algorithm is fixed; what is hashed is what std's `Hash` writes for bytes,
/// strings, options and tuples (lengths as the platform's `usize`), so hashes stored on
/// one platform match on another of the same word size and byte order.
pub fn hash_of<T: Hash + ?Sized>(value: &T) -> u64 {
    let mut hasher = twox_hash::XxHash64::with_seed(0);
    value.hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    #[test]
    fn kept_hashes_are_xxh64_of_what_hash_writes() {
        // XXH64, seed 0, of the length prefix 3 (8 bytes, little endian) and the bytes
        // 1, 2, 3, as the reference implementation computes it (python-xxhash 4.1).
        assert_eq!(super::hash_of(&[1u8, 2, 3][..]), 13_255_480_333_703_631_005);
    }
}
