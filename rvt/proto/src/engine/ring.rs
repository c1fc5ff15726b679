//! A FIFO ring over caller-provided storage, without allocation; slots are
//! stable while an entry lives, so a slot number can name a WQE towards the
//! caller. The capacity is the storage's length, chosen at QP creation.

use core::ops::DerefMut;

/// FIFO of at most `buf.len()` entries stored in `buf` (any owner of a
/// slice: `&mut [T]`, a kernel `KVec<T>` or `KBox<[T]>`, a `Vec<T>`).
/// Entries beyond `len` are never read, so the storage's initial contents
/// do not matter.
#[derive(Clone, Debug)]
pub(super) struct Ring<S> {
    buf: S,
    head: usize,
    len: usize,
}

impl<T: Copy, S: DerefMut<Target = [T]>> Ring<S> {
    /// An empty ring over `buf`.
    pub(super) const fn new(buf: S) -> Self {
        Ring {
            buf,
            head: 0,
            len: 0,
        }
    }

    /// The number of entries the storage holds.
    pub(super) fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// Physical index of logical index `i` (`i < capacity`).
    fn phys(&self, i: usize) -> usize {
        // head < capacity and i < capacity, so the sum cannot overflow.
        let j = self.head.wrapping_add(i);
        let cap = self.capacity();
        if j >= cap {
            j.wrapping_sub(cap)
        } else {
            j
        }
    }

    /// Number of entries.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// True if no entry is stored.
    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// True if no further entry fits.
    pub(super) fn is_full(&self) -> bool {
        self.len >= self.capacity()
    }

    /// The `i`-th entry from the head.
    pub(super) fn get(&self, i: usize) -> Option<&T> {
        if i >= self.len {
            return None;
        }
        self.buf.get(self.phys(i))
    }

    /// The `i`-th entry from the head, mutably.
    pub(super) fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        if i >= self.len {
            return None;
        }
        let p = self.phys(i);
        self.buf.get_mut(p)
    }

    /// The physical slot of the `i`-th entry.
    pub(super) fn slot(&self, i: usize) -> Option<u32> {
        if i >= self.len {
            return None;
        }
        u32::try_from(self.phys(i)).ok()
    }

    /// Appends `v`, returning its slot, or gives it back if the ring is full
    /// (or the slot would not fit a `u32`).
    pub(super) fn push(&mut self, v: T) -> Result<u32, T> {
        if self.is_full() {
            return Err(v);
        }
        let p = self.phys(self.len);
        let Ok(slot) = u32::try_from(p) else {
            return Err(v);
        };
        let Some(cell) = self.buf.get_mut(p) else {
            return Err(v);
        };
        *cell = v;
        self.len = self.len.wrapping_add(1);
        Ok(slot)
    }

    /// Removes and returns the head entry with its slot.
    pub(super) fn pop(&mut self) -> Option<(u32, T)> {
        if self.len == 0 {
            return None;
        }
        let v = *self.buf.get(self.head)?;
        let slot = u32::try_from(self.head).ok()?;
        self.head = self.phys(1);
        self.len = self.len.wrapping_sub(1);
        Some((slot, v))
    }

    /// Drops every entry.
    pub(super) fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::Ring;

    #[test]
    fn fifo_wraps_and_keeps_slots() {
        let mut storage = [0u32; 3];
        let mut r = Ring::new(&mut storage[..]);
        assert_eq!(r.capacity(), 3);
        assert_eq!(r.push(1), Ok(0));
        assert_eq!(r.push(2), Ok(1));
        assert_eq!(r.push(3), Ok(2));
        assert_eq!(r.push(4), Err(4));
        assert_eq!(r.pop(), Some((0, 1)));
        assert_eq!(r.push(4), Ok(0));
        assert_eq!(r.get(0), Some(&2));
        assert_eq!(r.get(2), Some(&4));
        assert_eq!(r.slot(2), Some(0));
        assert_eq!(r.get(3), None);
        *r.get_mut(1).unwrap() = 30;
        assert_eq!(r.pop(), Some((1, 2)));
        assert_eq!(r.pop(), Some((2, 30)));
        assert_eq!(r.pop(), Some((0, 4)));
        assert_eq!(r.pop(), None);
    }

    #[test]
    fn zero_capacity_is_inert() {
        let mut storage: [u8; 0] = [];
        let mut r = Ring::new(&mut storage[..]);
        assert!(r.is_full());
        assert_eq!(r.push(1), Err(1));
        assert_eq!(r.pop(), None);
        assert_eq!(r.get(0), None);
    }
}
