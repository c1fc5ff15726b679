// SPDX-License-Identifier: GPL-2.0

//! One rxe ring (`struct rxe_queue_buf`): a 384-byte header, then
//! power-of-two sized slots. The header's `log2_elem_size` and `index_mask`
//! tell user space the layout; the kernel keeps its own copies and never
//! reads them back. Each side owns one index (the producer or the consumer)
//! and reads the other's; an index is always masked before use, so whatever
//! user space writes, a slot address stays inside the buffer.

use kernel::{
    prelude::*,
    sync::atomic::{Acquire, Atomic, Release},
};

use crate::{bindings as b, ib::SharedBuffer};

/// Header layout (rdma_user_rxe.h, `struct rxe_queue_buf`).
const LOG2_ELEM_SIZE: usize = 0;
const INDEX_MASK: usize = 4;
const PRODUCER_INDEX: usize = 128;
const CONSUMER_INDEX: usize = 256;
const HEADER_LEN: usize = 384;
/// Slots are at least a cache line, as the provider expects.
const MIN_ELEM_SIZE: usize = 64;

/// A ring in memory shared with one user context.
///
/// # Invariants
///
/// `buf` holds the header and `index_mask + 1` slots of `1 << log2_elem`
/// bytes; `index_mask + 1` is a power of two.
pub(crate) struct UserQueue {
    buf: SharedBuffer,
    log2_elem: u32,
    index_mask: u32,
}

impl UserQueue {
    /// A ring of at least `entries` usable slots of at least `elem_size`
    /// bytes, mappable by user context `ucontext` (the provider keeps one
    /// slot free, as the rxe ABI does). Process context.
    ///
    /// # Safety
    ///
    /// As for [`SharedBuffer::new`].
    pub(crate) unsafe fn new(
        ucontext: *mut b::ib_ucontext,
        entries: u32,
        elem_size: usize,
    ) -> Result<Self> {
        let slots = entries
            .checked_add(1)
            .and_then(u32::checked_next_power_of_two)
            .ok_or(EINVAL)?;
        let elem = elem_size
            .max(MIN_ELEM_SIZE)
            .checked_next_power_of_two()
            .ok_or(EINVAL)?;
        let len = usize::try_from(slots)?
            .checked_mul(elem)
            .and_then(|data| data.checked_add(HEADER_LEN))
            .ok_or(EINVAL)?;
        // SAFETY: Per the contract.
        let buf = unsafe { SharedBuffer::new(ucontext, len) }?;
        let this = Self {
            buf,
            log2_elem: elem.trailing_zeros(),
            index_mask: slots - 1,
        };
        // The layout, for user space (the indices start at 0: zeroed memory).
        this.header_word(LOG2_ELEM_SIZE)
            .store(this.log2_elem, Release);
        this.header_word(INDEX_MASK).store(this.index_mask, Release);
        // INVARIANT: `len` covers the header and every slot.
        Ok(this)
    }

    /// A 32-bit word of the header.
    fn header_word(&self, offset: usize) -> &Atomic<u32> {
        // SAFETY: The header words are 4-byte aligned (the buffer is page
        // aligned) and inside it (type invariant); user space may change
        // them at any time, so they are only accessed atomically.
        unsafe { Atomic::from_ptr(self.buf.as_ptr().wrapping_add(offset).cast()) }
    }

    /// Usable slots: one is always kept free.
    pub(crate) fn capacity(&self) -> u32 {
        self.index_mask
    }

    /// The mmap offset and length user space maps the ring with.
    pub(crate) fn mmap_info(&self) -> b::mminfo {
        b::mminfo {
            offset: self.buf.offset(),
            size: self.buf.len() as u32,
            pad: 0,
        }
    }

    /// The other side's consumer index, read once and masked.
    pub(crate) fn consumer(&self) -> u32 {
        self.header_word(CONSUMER_INDEX).load(Acquire) & self.index_mask
    }

    /// The other side's producer index, read once and masked: the slots up
    /// to it are filled (the acquire orders their contents after it).
    pub(crate) fn producer(&self) -> u32 {
        self.header_word(PRODUCER_INDEX).load(Acquire) & self.index_mask
    }

    /// Publishes the kernel's consumer index: the slots before it are free
    /// for the producer again.
    pub(crate) fn publish_consumer(&self, index: u32) {
        self.header_word(CONSUMER_INDEX)
            .store(index & self.index_mask, Release);
    }

    /// Publishes the kernel's producer index (after the slots it covers).
    pub(crate) fn publish_producer(&self, index: u32) {
        self.header_word(PRODUCER_INDEX)
            .store(index & self.index_mask, Release);
    }

    /// The index after `index`.
    pub(crate) fn next(&self, index: u32) -> u32 {
        index.wrapping_add(1) & self.index_mask
    }

    /// How many entries lie from `consumer` up to `producer`.
    pub(crate) fn count(&self, producer: u32, consumer: u32) -> u32 {
        producer.wrapping_sub(consumer) & self.index_mask
    }

    /// Copies `dst.len()` bytes from byte `at` of slot `index` (as many as
    /// the slot holds; the rest of `dst` is zeroed) out of the shared
    /// memory. The producer may change them at any time: everything after
    /// this looks at the copy only, which rules out checking one value and
    /// using another.
    pub(crate) fn read_slot(&self, index: u32, at: usize, dst: &mut [u8]) {
        let elem = 1usize << self.log2_elem;
        let at = at.min(elem);
        let offset = (((index & self.index_mask) as usize) << self.log2_elem) + at;
        let len = dst.len().min(elem - at);
        // SAFETY: The slot lies inside the buffer (masked index, type
        // invariant) and `len` fits in it; shared memory is read through a
        // raw pointer into kernel memory, never referenced.
        unsafe {
            core::ptr::copy_nonoverlapping(
                self.buf.as_ptr().wrapping_add(HEADER_LEN + offset),
                dst.as_mut_ptr(),
                len,
            )
        };
        if let Some(rest) = dst.get_mut(len..) {
            rest.fill(0);
        }
    }

    /// Writes `bytes` at the start of slot `index`.
    pub(crate) fn write_slot(&self, index: u32, bytes: &[u8]) {
        let offset = ((index & self.index_mask) as usize) << self.log2_elem;
        let len = bytes.len().min(1 << self.log2_elem);
        // SAFETY: The slot lies inside the buffer (masked index, type
        // invariant) and `len` fits in it; shared memory is written through
        // a raw pointer, never a reference.
        unsafe {
            core::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                self.buf.as_ptr().wrapping_add(HEADER_LEN + offset),
                len,
            )
        };
    }
}
