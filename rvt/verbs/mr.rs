// SPDX-License-Identifier: GPL-2.0

//! Memory regions (IBA 10.6.3): user MRs over pinned user pages.
//!
//! An MR's L_Key and R_Key are the same 32-bit value: its index in the
//! device's key table (24 bits, from 1: key 0 is the device's
//! `local_dma_lkey`, kernel-only) and an 8-bit key that changes each time an
//! index is reused, so a stale key does not name the new MR (IBA 10.6.2.2
//! leaves the key's layout to the CI). The table is read lock-free under
//! RCU by the data path; deregistration waits for a grace period before it
//! frees an MR, so a reader never sees freed memory.

use kernel::{
    page::PAGE_SIZE,
    prelude::*,
    sync::{
        atomic::{Atomic, Relaxed},
        rcu,
    },
};

use super::{
    quota::{Limit, Quota},
    table::Table,
};
use crate::{
    bindings as b,
    ib::{IbMr, IbObject, Udata},
    verbs::pd::Pd,
};

/// MRs per device (the key table's indices are 24 bits).
pub(crate) const MAX_MR: u32 = 1 << 16;

/// Access rights rvt implements (IBA 10.6.3.3): local write, remote read,
/// write and atomic. Memory windows, on-demand paging and FLUSH come later;
/// the "optional" range of flags may be ignored by definition.
const SUPPORTED_ACCESS: u32 = b::ib_access_flags_IB_ACCESS_LOCAL_WRITE
    | b::ib_access_flags_IB_ACCESS_REMOTE_WRITE
    | b::ib_access_flags_IB_ACCESS_REMOTE_READ
    | b::ib_access_flags_IB_ACCESS_REMOTE_ATOMIC
    | b::ib_access_flags_IB_ACCESS_OPTIONAL;

/// Pinned user pages (`ib_umem`), released when dropped.
///
/// # Invariants
///
/// `umem` is a live umem from `ib_umem_get`, owned by this object.
struct UserPages {
    umem: *mut b::ib_umem,
}

// SAFETY: A umem is kernel memory usable from any thread.
unsafe impl Send for UserPages {}
// SAFETY: A `&UserPages` reaches nothing mutable.
unsafe impl Sync for UserPages {}

impl Drop for UserPages {
    fn drop(&mut self) {
        // SAFETY: Ours (type invariant), never used again.
        unsafe { b::ib_umem_release(self.umem) };
    }
}

/// What rvt keeps per MR.
///
/// # Invariants
///
/// For a user MR, `pages` are the pinned pages of `_umem`, in order; byte `k` of the
/// region (at `iova + k`, `k < length`) is byte `first_offset + k` of their
/// concatenation, which holds at least `first_offset + length` bytes.
pub(crate) struct Mr {
    _quota: Quota,
    /// The memory the MR describes: pinned user pages, or none for a DMA
    /// MR (kernel memory at the kernel virtual addresses a virtual-DMA
    /// device uses as DMA addresses).
    _umem: Option<UserPages>,
    pages: KVVec<PagePtr>,
    first_offset: usize,
    iova: u64,
    length: u64,
    access: u32,
    /// The PD it was registered in (ib_core keeps the PD alive while the
    /// MR exists); compared, never dereferenced.
    pd: *mut b::ib_pd,
    /// Its L_Key and R_Key (set before the MR is published in the table).
    key: u32,
}

// SAFETY: `pd` is only compared; the pages are pinned kernel memory
// usable from any thread.
unsafe impl Send for Mr {}
// SAFETY: As above; nothing in an `Mr` changes after creation.
unsafe impl Sync for Mr {}

/// A pinned page of an MR.
#[derive(Clone, Copy)]
#[repr(transparent)]
struct PagePtr(*mut b::page);

/// Why a memory access was refused: out of the region, or not allowed.
#[derive(Debug)]
pub(crate) struct MrFault;

impl Mr {
    /// A DMA MR (no pages: addresses are kernel virtual addresses).
    fn is_dma(&self) -> bool {
        self._umem.is_none()
    }

    /// The key's PD and rights: `Ok` if the MR is in `pd`, grants every bit
    /// of `access` (0: local read, always granted) and holds `len` bytes
    /// at `va`.
    pub(crate) fn check(
        &self,
        pd: *mut b::ib_pd,
        va: u64,
        len: u32,
        access: u32,
    ) -> Result<(), MrFault> {
        self.check_rights(pd, access)?;
        self.offset(va, len).map(|_| ())
    }

    /// The key's PD and rights, for an access to the whole region.
    pub(crate) fn check_rights(&self, pd: *mut b::ib_pd, access: u32) -> Result<(), MrFault> {
        if self.pd != pd || self.access & access != access {
            return Err(MrFault);
        }
        Ok(())
    }

    /// The byte offset of `va` into the page array, if `len` bytes from it
    /// lie inside the region.
    fn offset(&self, va: u64, len: u32) -> Result<usize, MrFault> {
        let start = va.checked_sub(self.iova).ok_or(MrFault)?;
        let end = start.checked_add(len.into()).ok_or(MrFault)?;
        if end > self.length {
            return Err(MrFault);
        }
        let start = usize::try_from(start).map_err(|_| MrFault)?;
        Ok(self.first_offset + start)
    }

    /// Calls `f(page, offset_in_page, range)` for each page piece of the
    /// `len` bytes at `va`, `range` being the bytes of the piece within
    /// those `len`.
    fn for_each_piece(
        &self,
        va: u64,
        len: usize,
        mut f: impl FnMut(*mut b::page, usize, core::ops::Range<usize>),
    ) -> Result<(), MrFault> {
        let len32 = u32::try_from(len).map_err(|_| MrFault)?;
        let mut at = self.offset(va, len32)?;
        let mut done = 0;
        while done < len {
            let in_page = at % PAGE_SIZE;
            let piece = (PAGE_SIZE - in_page).min(len - done);
            // The invariant covers every byte the range check admitted.
            let page = self.pages.get(at / PAGE_SIZE).ok_or(MrFault)?;
            f(page.0, in_page, done..done + piece);
            done += piece;
            at += piece;
        }
        Ok(())
    }

    /// Copies `src` to the region at `va`.
    pub(crate) fn copy_in(&self, va: u64, src: &[u8]) -> Result<(), MrFault> {
        if self.is_dma() {
            // SAFETY: A DMA MR names kernel memory at its virtual
            // addresses; its kernel consumer handed `va` over (with local
            // rights only: `get_dma`).
            unsafe {
                core::ptr::copy_nonoverlapping(src.as_ptr(), va as usize as *mut u8, src.len())
            };
            return Ok(());
        }
        self.for_each_piece(va, src.len(), |page, offset, range| {
            let piece = &src[range];
            // SAFETY: A pinned page of the MR (type invariant); the piece
            // lies inside it.
            unsafe { b::rvt_helper_copy_to_page(page, offset, piece.as_ptr().cast(), piece.len()) };
        })
    }

    /// Copies the region's bytes at `va` into `dst`.
    pub(crate) fn copy_out(&self, va: u64, dst: &mut [u8]) -> Result<(), MrFault> {
        if self.is_dma() {
            // SAFETY: As for `copy_in`.
            unsafe {
                core::ptr::copy_nonoverlapping(
                    va as usize as *const u8,
                    dst.as_mut_ptr(),
                    dst.len(),
                )
            };
            return Ok(());
        }
        let len = dst.len();
        let base = dst.as_mut_ptr();
        self.for_each_piece(va, len, |page, offset, range| {
            // SAFETY: As for `copy_in`; `range` lies inside `dst`.
            unsafe {
                b::rvt_helper_copy_from_page(
                    base.wrapping_add(range.start).cast(),
                    page,
                    offset,
                    range.len(),
                )
            };
        })
    }

    /// The page and in-page offset of the 8 aligned bytes at `va`.
    pub(crate) fn word(&self, va: u64) -> Result<(*mut b::page, usize), MrFault> {
        // A DMA MR has no remote rights (`get_dma`), hence no atomics.
        if va % 8 != 0 || self.is_dma() {
            return Err(MrFault);
        }
        let at = self.offset(va, 8)?;
        // 8-aligned in an 8-aligned page array offset (`first_offset` keeps
        // the user address's alignment): one page.
        if at % 8 != 0 {
            return Err(MrFault);
        }
        let page = self.pages.get(at / PAGE_SIZE).ok_or(MrFault)?;
        Ok((page.0, at % PAGE_SIZE))
    }
}

/// The MRs of a device, by key.
#[pin_data]
pub(crate) struct MrKeys {
    #[pin]
    table: Table<IbMr<Mr>>,
    /// Counts registrations: its low 8 bits are the next MR's `key8`.
    registrations: Atomic<u32>,
}

impl MrKeys {
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            table <- Table::new(MAX_MR),
            registrations: Atomic::new(0),
        })
    }

    /// The MR with `key`, for as long as the RCU read lock is held. Key 0
    /// (the kernel's `local_dma_lkey`) and stale keys name nothing.
    pub(crate) fn lookup<'a>(&self, key: u32, rcu: &'a rcu::Guard) -> Option<&'a Mr> {
        self.table
            .get(key >> 8, rcu)
            .map(IbMr::data)
            .filter(|mr| mr.key == key)
    }
}

/// `reg_user_mr`: pins `length` bytes of the caller's memory at `start`,
/// addressed from `iova`.
#[expect(clippy::too_many_arguments, reason = "the verb's own parameters")]
pub(crate) fn reg_user(
    keys: &MrKeys,
    limit: &Limit,
    pd: &IbObject<b::ib_pd, Pd>,
    start: u64,
    length: u64,
    iova: u64,
    access: u32,
    udata: &mut Udata<'_>,
) -> Result<Pin<KBox<IbMr<Mr>>>> {
    udata.require_empty_input()?;
    if access & !SUPPORTED_ACCESS != 0 {
        return Err(EOPNOTSUPP);
    }
    let quota = limit.take()?;
    let (Ok(addr), Ok(size)) = (usize::try_from(start), usize::try_from(length)) else {
        return Err(EINVAL);
    };
    // SAFETY: A live device; ib_umem_get checks the range and pins it for
    // the calling process.
    let umem = unsafe { b::rvt_helper_umem_get(pd.device(), addr, size, access as c_int) };
    let umem = kernel::error::from_err_ptr(umem)?;
    // INVARIANT: a fresh umem, owned from here.
    let umem_owner = UserPages { umem };
    // SAFETY: A live umem.
    let count = unsafe { b::rvt_helper_umem_page_count(umem) };
    let mut pages = KVVec::with_capacity(count, GFP_KERNEL)?;
    for _ in 0..count {
        pages.push(PagePtr(core::ptr::null_mut()), GFP_KERNEL)?;
    }
    // SAFETY: A live umem; `pages` has room for `count` pointers
    // (`PagePtr` is a transparent page pointer).
    let filled = unsafe { b::rvt_helper_umem_pages(umem, pages.as_mut_ptr().cast(), count) };
    if filled != count {
        return Err(EFAULT);
    }
    let key8 = keys.registrations.fetch_add(1u32, Relaxed) as u8;
    let reservation = keys.table.reserve()?;
    let key = (reservation.index() << 8) | u32::from(key8);
    // INVARIANT: the umem pinned `length` bytes from `start`, whose page
    // offset starts the array.
    let mr = IbMr::new(kernel::try_init!(Mr {
        _quota: quota,
        _umem: Some(umem_owner),
        pages,
        first_offset: addr % PAGE_SIZE,
        iova,
        length,
        access,
        pd: pd.as_raw(),
        key,
    }))?;
    let raw = mr.as_raw();
    // SAFETY: Ours until we return it: ib_core reads the keys afterwards.
    unsafe {
        (*raw).lkey = key;
        (*raw).rkey = key;
        (*raw).iova = iova;
        (*raw).length = length;
    }
    // SAFETY: The MR stays alive and in place until `dereg` removes it
    // (its box is only moved, never its contents); it is complete.
    unsafe { reservation.publish(&mr) };
    Ok(mr)
}

/// `get_dma_mr`: the kernel memory of a kernel PD, addressed by kernel
/// virtual address (rvt is a virtual-DMA device), with local rights only:
/// an R_Key naming all of kernel memory (what `IB_PD_UNSAFE_GLOBAL_RKEY`
/// asks for) is refused with `EOPNOTSUPP`. Kernel consumers normally use
/// the PD's `local_dma_lkey` instead.
pub(crate) fn get_dma(
    keys: &MrKeys,
    limit: &Limit,
    pd: &IbObject<b::ib_pd, Pd>,
    access: u32,
) -> Result<Pin<KBox<IbMr<Mr>>>> {
    if access & !(b::ib_access_flags_IB_ACCESS_LOCAL_WRITE | b::ib_access_flags_IB_ACCESS_OPTIONAL)
        != 0
    {
        return Err(EOPNOTSUPP);
    }
    let quota = limit.take()?;
    let key8 = keys.registrations.fetch_add(1u32, Relaxed) as u8;
    let reservation = keys.table.reserve()?;
    let key = (reservation.index() << 8) | u32::from(key8);
    // INVARIANT: no pages; a DMA MR is never addressed through them.
    let mr = IbMr::new(kernel::try_init!(Mr {
        _quota: quota,
        _umem: None,
        pages: KVVec::new(),
        first_offset: 0,
        iova: 0,
        length: u64::MAX,
        access,
        pd: pd.as_raw(),
        key,
    }))?;
    let raw = mr.as_raw();
    // SAFETY: Ours until we return it.
    unsafe {
        (*raw).lkey = key;
        (*raw).rkey = key;
        (*raw).iova = 0;
        (*raw).length = u64::MAX;
    }
    // SAFETY: As for `reg_user`.
    unsafe { reservation.publish(&mr) };
    Ok(mr)
}

/// `dereg_mr`: takes the MR out of the key table, waits until no reader
/// can see it, and frees it. Process context.
pub(crate) fn dereg(keys: &MrKeys, mr: Pin<KBox<IbMr<Mr>>>) {
    let removed = keys.table.remove(mr.data().key >> 8);
    // Every MR is in the table from `reg_user` until here.
    kernel::warn_on!(!removed);
    drop(mr);
}
