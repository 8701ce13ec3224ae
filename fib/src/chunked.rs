//! Copy-on-write chunked arrays: the storage that lets one writer build the
//! next table version while readers keep using the current one.
//!
//! An array is a vector of `Arc`ed fixed-size chunks. Cloning it (to publish
//! a version) copies only the chunk pointers. The writer's `set` goes
//! through [`Arc::make_mut`], which copies a chunk the first time it is
//! written while a published version still shares it; so a published
//! version never changes under its readers, a version's memory is freed when
//! its last reader drops it, and an update costs a copy of the few chunks it
//! touches instead of the whole table. Freed blocks can be reused at once
//! for the same reason.
//!
//! Lookups pay one extra load per access (the chunk pointer), which stays in
//! L1: a 950k-route IPv4 table has fewer than a hundred chunks.

use std::sync::Arc;

#[derive(Clone)]
pub(crate) struct Chunked<T: Copy + Default, const N: usize> {
    chunks: Vec<Arc<[T; N]>>,
    len: usize,
}

impl<T: Copy + Default, const N: usize> Chunked<T, N> {
    const SHIFT: u32 = {
        assert!(N.is_power_of_two());
        N.trailing_zeros()
    };
    const MASK: usize = N - 1;

    pub(crate) fn new() -> Self {
        Chunked {
            chunks: Vec::new(),
            len: 0,
        }
    }

    fn fresh_chunk() -> Arc<[T; N]> {
        // Through a boxed slice so the chunk is not built on the stack.
        let all: Arc<[T]> = vec![T::default(); N].into();
        match all.try_into() {
            Ok(chunk) => chunk,
            Err(_) => unreachable!("slice has exactly N elements"),
        }
    }

    #[inline(always)]
    pub(crate) fn get(&self, i: usize) -> T {
        self.chunks[i >> Self::SHIFT][i & Self::MASK]
    }

    /// Writes one element; copies its chunk first if a published version
    /// shares it.
    #[inline]
    pub(crate) fn set(&mut self, i: usize, v: T) {
        debug_assert!(i < self.len);
        Arc::make_mut(&mut self.chunks[i >> Self::SHIFT])[i & Self::MASK] = v;
    }

    /// Writes `values` from index `start` on, one `make_mut` per chunk (each
    /// is an atomic compare-exchange, worth saving per element).
    pub(crate) fn write(&mut self, start: usize, values: &[T]) {
        debug_assert!(start + values.len() <= self.len);
        let mut i = start;
        let mut rest = values;
        while !rest.is_empty() {
            let off = i & Self::MASK;
            let n = rest.len().min(N - off);
            Arc::make_mut(&mut self.chunks[i >> Self::SHIFT])[off..off + n]
                .copy_from_slice(&rest[..n]);
            rest = &rest[n..];
            i += n;
        }
    }

    /// Appends `n` default elements; returns the index of the first.
    pub(crate) fn grow(&mut self, n: usize) -> usize {
        let start = self.len;
        self.len += n;
        while self.chunks.len() * N < self.len {
            self.chunks.push(Self::fresh_chunk());
        }
        start
    }

    /// Elements in use (allocated blocks, including freed ones awaiting reuse).
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Bytes held by the chunks.
    pub(crate) fn bytes(&self) -> usize {
        self.chunks.len() * N * std::mem::size_of::<T>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_clone_never_changes() {
        let mut a: Chunked<u32, 4> = Chunked::new();
        assert_eq!(a.grow(6), 0);
        for i in 0..6 {
            a.set(i, i as u32);
        }
        let published = a.clone();
        a.set(1, 100);
        a.write(3, &[300, 400, 500]);
        assert_eq!(published.get(1), 1);
        assert_eq!(published.get(5), 5);
        assert_eq!(a.get(1), 100);
        assert_eq!(a.get(5), 500);
        assert_eq!(a.get(3), 300);
        assert_eq!(published.get(3), 3);
        // Untouched chunks stay shared.
        assert_eq!(a.bytes(), 2 * 4 * 4);
    }
}
