// SPDX-License-Identifier: GPL-2.0

//! Kernel memory shared with user space through ib_core's mmap entries
//! (`rdma_user_mmap_entry`): the ring buffers of the user verbs ABI.
//!
//! A [`SharedBuffer`] is `vmalloc_user` memory (zeroed, page-granular)
//! registered under an mmap offset of one user context. The driver uses it
//! while it holds the `SharedBuffer`; dropping it removes the offset, and
//! ib_core calls `mmap_free` (this file's [`free`]) once no mmap call holds
//! the entry any more, which frees the memory. Pages already mapped into a
//! process stay valid for that process: each mapping holds its own page
//! references (`remap_vmalloc_range` inserts the pages).
//!
//! What user space writes there is hostile: the driver reads each shared
//! field once and validates the copy.

use core::ptr::NonNull;

use kernel::{page::PAGE_SHIFT, page::PAGE_SIZE, prelude::*, types::Opaque};

use crate::bindings as b;

/// One mmap entry and the memory behind it.
///
/// # Invariants
///
/// `rdma` is the first field (`#[repr(C)]`); `buf` is a `vmalloc_user`
/// allocation of `len` bytes, a multiple of the page size, freed only by
/// [`free`].
#[repr(C)]
struct Entry {
    rdma: Opaque<b::rdma_user_mmap_entry>,
    buf: *mut c_void,
    len: usize,
}

/// Shared memory of a user context, mapped at [`SharedBuffer::offset`].
///
/// # Invariants
///
/// `entry` was inserted into its context's mmap table and not removed yet:
/// its memory is alive.
pub(crate) struct SharedBuffer {
    entry: NonNull<Entry>,
}

// SAFETY: The entry is kernel memory usable from any thread; ib_core's mmap
// table has its own lock.
unsafe impl Send for SharedBuffer {}
// SAFETY: A `&SharedBuffer` only reads immutable fields.
unsafe impl Sync for SharedBuffer {}

impl SharedBuffer {
    /// At least `len` zeroed bytes, mappable by user context `ucontext`.
    /// Process context.
    ///
    /// # Safety
    ///
    /// `ucontext` is a live user context of a device whose ops include this
    /// file's `mmap` and `mmap_free`, and outlives the buffer.
    pub(crate) unsafe fn new(ucontext: *mut b::ib_ucontext, len: usize) -> Result<Self> {
        let len = len
            .checked_next_multiple_of(PAGE_SIZE)
            .filter(|&len| len != 0)
            .ok_or(EINVAL)?;
        // SAFETY: Any size; returns zeroed, user-mappable memory or NULL.
        let buf = unsafe { b::rvt_helper_vmalloc_user(len) };
        if buf.is_null() {
            return Err(ENOMEM);
        }
        let entry = match KBox::new(
            Entry {
                rdma: Opaque::zeroed(),
                buf,
                len,
            },
            GFP_KERNEL,
        ) {
            Ok(entry) => KBox::into_raw(entry),
            Err(e) => {
                // SAFETY: Ours, never shared.
                unsafe { b::vfree(buf) };
                return Err(e.into());
            }
        };
        // SAFETY: A live context (the contract); the entry is zeroed storage
        // that ib_core initialises and keeps until `free`.
        let err = unsafe { b::rdma_user_mmap_entry_insert(ucontext, (*entry).rdma.get(), len) };
        if err != 0 {
            // SAFETY: Not inserted: still ours alone.
            unsafe {
                b::vfree(buf);
                drop(KBox::from_raw(entry));
            }
            return Err(Error::from_errno(err));
        }
        // INVARIANT: inserted just now; `KBox::into_raw` is never NULL.
        Ok(Self {
            entry: NonNull::new(entry).ok_or(ENOMEM)?,
        })
    }

    fn entry(&self) -> &Entry {
        // SAFETY: Alive until removed (type invariant).
        unsafe { self.entry.as_ref() }
    }

    /// The mmap offset user space maps the buffer at.
    pub(crate) fn offset(&self) -> u64 {
        // SAFETY: An inserted entry: ib_core set its page offset.
        let pgoff = unsafe { (*self.entry().rdma.get()).start_pgoff };
        (pgoff as u64) << PAGE_SHIFT
    }

    /// Its length in bytes (whole pages).
    pub(crate) fn len(&self) -> usize {
        self.entry().len
    }

    /// Its start in the kernel's address space.
    pub(crate) fn as_ptr(&self) -> *mut u8 {
        self.entry().buf.cast()
    }
}

impl Drop for SharedBuffer {
    fn drop(&mut self) {
        // SAFETY: Inserted and not removed (type invariant); ib_core frees it
        // through `free` once no mmap call holds it.
        unsafe { b::rdma_user_mmap_entry_remove(self.entry().rdma.get()) };
    }
}

/// The `mmap` op: maps the shared buffer registered at the VMA's offset.
///
/// # Safety
///
/// Called by ib_uverbs with a live context of ours and the VMA being mapped.
pub(crate) unsafe fn mmap(ucontext: *mut b::ib_ucontext, vma: *mut b::vm_area_struct) -> Result {
    // SAFETY: Per the contract. ib_core checks the VMA's size against the
    // entry's and takes a reference for us.
    let rdma = unsafe { b::rdma_user_mmap_entry_get(ucontext, vma) };
    if rdma.is_null() {
        return Err(EINVAL);
    }
    let entry = rdma.cast::<Entry>();
    // SAFETY: Every entry of our contexts is an `Entry` (first field), alive
    // while we hold the reference; its buffer is `vmalloc_user` memory as
    // large as the VMA.
    let err = unsafe { b::remap_vmalloc_range(vma, (*entry).buf, 0) };
    // SAFETY: Drops the reference taken above.
    unsafe { b::rdma_user_mmap_entry_put(rdma) };
    kernel::error::to_result(err)
}

/// The `mmap_free` op: the entry's last reference is gone.
///
/// # Safety
///
/// Called by ib_core once per entry of ours, after its last reference.
pub(crate) unsafe fn free(rdma: *mut b::rdma_user_mmap_entry) {
    let entry = rdma.cast::<Entry>();
    // SAFETY: Per the contract, an `Entry` made by `SharedBuffer::new` and
    // never used again; its buffer is ours to free.
    unsafe {
        b::vfree((*entry).buf);
        drop(KBox::from_raw(entry));
    }
}
