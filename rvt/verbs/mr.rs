// SPDX-License-Identifier: GPL-2.0

//! Memory regions (IBA 10.6): user MRs over pinned user pages, the DMA MR
//! of kernel memory, and fast-registration MRs (IBA 10.6.3.6, 11.4.1.1 "Fast
//! Registration"), which a kernel consumer maps with `ib_map_mr_sg` and
//! registers and invalidates with work requests.
//!
//! An MR's L_Key and R_Key are the same 32-bit value: its index in the
//! device's key table (24 bits, from 1: key 0 is the device's
//! `local_dma_lkey`, kernel-only) and an 8-bit key that changes each time an
//! index is reused, so a stale key does not name the new MR (IBA 10.6.2.2
//! leaves the key's layout to the CI); a fast registration sets the 8-bit
//! key its consumer chose. The table is read lock-free under RCU by the data
//! path; deregistration waits for a grace period before it frees an MR, so a
//! reader never sees freed memory.
//!
//! A fast-registration MR changes while the data path reads it. Its
//! registration sits behind an IRQ-safe lock that every access holds for
//! its whole check and copy, so once an invalidation has taken the lock, no
//! access still reaches its pages: the consumer may reuse them as soon as
//! the invalidation completes (IBA 10.6.5).

use core::ops::Range;

use kernel::{
    new_spinlock_irq,
    page::PAGE_SIZE,
    prelude::*,
    sync::{
        atomic::{Atomic, Relaxed},
        rcu, SpinLockIrq,
    },
};

use super::{
    mw::{Mw, MwTable, MAX_MW, MW_INDEX_BASE},
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

/// Pages a fast-registration MR maps at most (`max_fast_reg_page_list_len`).
pub(crate) const MAX_FAST_REG_PAGES: u32 = 512;

/// Access rights rvt implements (IBA 10.6.3.3): local write, remote read,
/// write and atomic, binding memory windows. On-demand paging and FLUSH
/// come later;
/// the "optional" range of flags may be ignored by definition.
const SUPPORTED_ACCESS: u32 = b::ib_access_flags_IB_ACCESS_LOCAL_WRITE
    | b::ib_access_flags_IB_ACCESS_REMOTE_WRITE
    | b::ib_access_flags_IB_ACCESS_REMOTE_READ
    | b::ib_access_flags_IB_ACCESS_REMOTE_ATOMIC
    | b::ib_access_flags_IB_ACCESS_MW_BIND
    | b::ib_access_flags_IB_ACCESS_OPTIONAL;

/// Rights that are only granted with local write (IBA 10.6.3.3).
const NEEDS_LOCAL_WRITE: u32 =
    b::ib_access_flags_IB_ACCESS_REMOTE_WRITE | b::ib_access_flags_IB_ACCESS_REMOTE_ATOMIC;

/// Smallest and largest fast-registration page sizes (`ib_map_mr_sg`'s
/// `page_size`): 4 KiB to 1 GiB, powers of two.
const FAST_PAGE_SHIFTS: Range<u32> = 12..31;

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

/// A pinned page of an MR.
#[derive(Clone, Copy)]
#[repr(transparent)]
struct PagePtr(*mut b::page);

/// Why a memory access was refused: out of the region, or not allowed.
#[derive(Debug)]
pub(crate) struct MrFault;

/// A registration's (or a memory window's) first address, length and
/// rights.
#[derive(Clone, Copy, Default)]
pub(crate) struct Bounds {
    iova: u64,
    length: u64,
    access: u32,
}

impl Bounds {
    pub(crate) fn new(iova: u64, length: u64, access: u32) -> Self {
        Self {
            iova,
            length,
            access,
        }
    }

    /// Whether every bit of `access` is granted.
    pub(crate) fn grants(&self, access: u32) -> bool {
        self.access & access == access
    }

    /// The offset of `va` into the region, if `len` bytes from it lie inside
    /// it and every bit of `access` is granted (0: local read, always).
    pub(crate) fn offset(&self, va: u64, len: u64, access: u32) -> Result<u64, MrFault> {
        if self.access & access != access {
            return Err(MrFault);
        }
        let start = va.checked_sub(self.iova).ok_or(MrFault)?;
        let end = start.checked_add(len).ok_or(MrFault)?;
        if end > self.length {
            return Err(MrFault);
        }
        Ok(start)
    }
}

/// Where the bytes of a registration are.
enum Pages<'a> {
    /// Pinned pages: byte `k` of the region is byte `first_offset + k` of
    /// their concatenation, which holds every byte of the region.
    Pinned {
        pages: &'a [PagePtr],
        first_offset: usize,
    },
    /// Kernel memory at the region's own addresses (a DMA MR: rvt is a
    /// virtual-DMA device, its DMA addresses are kernel virtual addresses).
    Kernel,
    /// Kernel memory in `1 << shift`-byte chunks at the kernel virtual
    /// addresses `addrs`: byte `k` of the region is byte `first_offset + k`
    /// of their concatenation.
    Chunks {
        addrs: &'a [u64],
        shift: u32,
        first_offset: usize,
    },
}

/// Where one piece of an access is: inside one page.
enum Piece {
    Page(*mut b::page, usize),
    Kernel(*mut u8),
}

impl Pages<'_> {
    /// Calls `f(piece, range)` for each page piece of the `len` bytes at
    /// offset `start` of the region (at address `va`), `range` being the
    /// bytes of the piece within those `len`. The caller checked the range
    /// against the region's bounds.
    fn for_each(
        &self,
        va: u64,
        start: u64,
        len: usize,
        mut f: impl FnMut(Piece, Range<usize>),
    ) -> Result<(), MrFault> {
        let start = usize::try_from(start).map_err(|_| MrFault)?;
        let mut done = 0;
        while done < len {
            let (piece, size) = match *self {
                Pages::Kernel => (Piece::Kernel(va as usize as *mut u8), len),
                Pages::Pinned {
                    pages,
                    first_offset,
                } => {
                    let at = first_offset + start + done;
                    let page = pages.get(at / PAGE_SIZE).ok_or(MrFault)?;
                    let in_page = at % PAGE_SIZE;
                    (Piece::Page(page.0, in_page), PAGE_SIZE - in_page)
                }
                Pages::Chunks {
                    addrs,
                    shift,
                    first_offset,
                } => {
                    let at = first_offset + start + done;
                    let chunk = addrs.get(at >> shift).ok_or(MrFault)?;
                    let in_chunk = at & ((1usize << shift) - 1);
                    let addr = usize::try_from(*chunk)
                        .ok()
                        .and_then(|chunk| chunk.checked_add(in_chunk))
                        .ok_or(MrFault)?;
                    // SAFETY: Computes the page of an address; refuses one
                    // outside the kernel's direct map.
                    let page = unsafe { b::rvt_helper_virt_to_page(addr as *const c_void) };
                    if page.is_null() {
                        return Err(MrFault);
                    }
                    let in_page = addr % PAGE_SIZE;
                    let size = (PAGE_SIZE - in_page).min((1usize << shift) - in_chunk);
                    (Piece::Page(page, in_page), size)
                }
            };
            let piece_len = size.min(len - done);
            f(piece, done..done + piece_len);
            done += piece_len;
        }
        Ok(())
    }
}

/// What an MR's keys name.
enum Memory {
    /// Pinned user pages (`reg_user_mr`).
    User {
        _umem: UserPages,
        pages: KVVec<PagePtr>,
        first_offset: usize,
        bounds: Bounds,
    },
    /// Kernel memory at its virtual addresses (`get_dma_mr`).
    Dma { bounds: Bounds },
    /// A fast-registration MR (`alloc_mr`).
    Fast(Pin<KBox<FastMr>>),
}

/// What rvt keeps per MR.
///
/// # Invariants
///
/// For a user MR, `pages` are the pinned pages of `_umem`, in order, and
/// hold every byte of the region from `first_offset` on (`Pages::Pinned`).
pub(crate) struct Mr {
    _quota: Quota,
    memory: Memory,
    /// The PD it was registered in (ib_core keeps the PD alive while the
    /// MR exists); compared, never dereferenced.
    pd: *mut b::ib_pd,
    /// Its L_Key and R_Key as created (set before the MR is published in
    /// the table; a fast registration changes the 8-bit key).
    key: u32,
}

// SAFETY: `pd` is only compared; the pages are pinned kernel memory usable
// from any thread; a fast MR's state is behind its lock or atomic.
unsafe impl Send for Mr {}
// SAFETY: As above.
unsafe impl Sync for Mr {}

/// The registration of a fast-registration MR.
struct Registration {
    /// Valid (IBA 10.6.3.6), else free: no key names it.
    valid: bool,
    /// Its current L_Key and R_Key.
    key: u32,
    bounds: Bounds,
    shift: u32,
    first_offset: usize,
    /// Room for `MAX_FAST_REG_PAGES` or fewer chunk addresses (fixed at
    /// creation); the first `npages` are registered.
    pages: KVVec<u64>,
    npages: usize,
}

/// A fast-registration MR's mapping and registration.
#[pin_data]
struct FastMr {
    /// The chunk addresses `map_mr_sg` gave for the next registration, the
    /// first `mapped_len` of them. Atomics: the consumer maps without any
    /// lock of ours, whatever else runs.
    mapped: KVVec<Atomic<u64>>,
    mapped_len: Atomic<u32>,
    #[pin]
    registration: SpinLockIrq<Registration>,
}

/// A fast registration as its work request (`IB_WR_REG_MR`) asked for it,
/// read when it was posted.
#[derive(Clone, Copy)]
pub(crate) struct FastReg {
    /// The MR, compared with the one its key's index names, never
    /// dereferenced.
    pub(crate) mr: *const b::ib_mr,
    pub(crate) key: u32,
    pub(crate) access: u32,
    pub(crate) iova: u64,
    pub(crate) length: u64,
    pub(crate) page_size: u32,
}

impl Mr {
    fn fast(&self) -> Option<&FastMr> {
        match &self.memory {
            Memory::Fast(fast) => Some(fast),
            _ => None,
        }
    }

    /// Whether `key` names this MR: a user or DMA MR by its key, a fast MR
    /// by its current registration's (checked under its lock).
    fn named_by(&self, key: u32) -> bool {
        match self.memory {
            Memory::Fast(_) => true,
            _ => self.key == key,
        }
    }
}

/// An MR as `rdma resource show mr -dd` shows it.
pub(crate) struct MrDetails {
    pub(crate) kind: &'static CStr,
    /// A fast-registration MR: registered, and how many pages.
    pub(crate) fast: Option<(bool, u32)>,
}

impl Mr {
    pub(crate) fn details(&self) -> MrDetails {
        match &self.memory {
            Memory::User { .. } => MrDetails {
                kind: c"user",
                fast: None,
            },
            Memory::Dma { .. } => MrDetails {
                kind: c"dma",
                fast: None,
            },
            Memory::Fast(fast) => {
                let reg = fast.registration.lock();
                MrDetails {
                    kind: c"fast_reg",
                    fast: Some((reg.valid, reg.npages as u32)),
                }
            }
        }
    }
}

/// An MR found by a key, for as long as the RCU read lock is held: every
/// access checks the PD, the rights and the range, and for a fast MR that
/// the key still names its registration, under the registration's lock.
#[derive(Clone, Copy)]
pub(crate) struct MrRef<'a> {
    mr: &'a Mr,
    key: u32,
}

impl MrRef<'_> {
    /// Runs `f` on the registration the key names, if the MR is in `pd`.
    fn with<R>(
        &self,
        pd: *mut b::ib_pd,
        f: impl FnOnce(&Bounds, Pages<'_>) -> Result<R, MrFault>,
    ) -> Result<R, MrFault> {
        if self.mr.pd != pd {
            return Err(MrFault);
        }
        match &self.mr.memory {
            Memory::User {
                pages,
                first_offset,
                bounds,
                ..
            } => f(
                bounds,
                Pages::Pinned {
                    pages,
                    first_offset: *first_offset,
                },
            ),
            Memory::Dma { bounds } => f(bounds, Pages::Kernel),
            Memory::Fast(fast) => {
                let reg = fast.registration.lock();
                if !reg.valid || reg.key != self.key {
                    return Err(MrFault);
                }
                let addrs = reg.pages.get(..reg.npages).ok_or(MrFault)?;
                f(
                    &reg.bounds,
                    Pages::Chunks {
                        addrs,
                        shift: reg.shift,
                        first_offset: reg.first_offset,
                    },
                )
            }
        }
    }

    /// `Ok` if the MR is in `pd`, grants every bit of `access` (0: local
    /// read, always granted) and holds `len` bytes at `va`.
    pub(crate) fn check(
        &self,
        pd: *mut b::ib_pd,
        va: u64,
        len: u32,
        access: u32,
    ) -> Result<(), MrFault> {
        self.check_range(pd, va, len.into(), access)
    }

    /// As `check`, for a range of any length (a memory window's).
    pub(crate) fn check_range(
        &self,
        pd: *mut b::ib_pd,
        va: u64,
        len: u64,
        access: u32,
    ) -> Result<(), MrFault> {
        self.with(pd, |bounds, _| bounds.offset(va, len, access).map(|_| ()))
    }

    /// The MR's PD and rights, for an access to the whole region.
    pub(crate) fn check_rights(&self, pd: *mut b::ib_pd, access: u32) -> Result<(), MrFault> {
        self.with(pd, |bounds, _| {
            if bounds.grants(access) {
                Ok(())
            } else {
                Err(MrFault)
            }
        })
    }

    /// Copies `src` to the region at `va`, if `check` allows it.
    pub(crate) fn copy_in(
        &self,
        pd: *mut b::ib_pd,
        va: u64,
        src: &[u8],
        access: u32,
    ) -> Result<(), MrFault> {
        self.with(pd, |bounds, pages| {
            let start = bounds.offset(va, src.len() as u64, access)?;
            pages.for_each(va, start, src.len(), |piece, range| {
                let from = &src[range];
                match piece {
                    // SAFETY: A page the registration maps (pinned user
                    // pages, or kernel pages its consumer handed over and
                    // keeps until it invalidates, which waits for this
                    // access); the piece lies inside it.
                    Piece::Page(page, offset) => unsafe {
                        b::rvt_helper_copy_to_page(page, offset, from.as_ptr().cast(), from.len())
                    },
                    // SAFETY: A DMA MR names kernel memory at its virtual
                    // addresses; its kernel consumer handed `va` over (with
                    // local rights only: `get_dma`).
                    Piece::Kernel(to) => unsafe {
                        core::ptr::copy_nonoverlapping(from.as_ptr(), to, from.len())
                    },
                }
            })
        })
    }

    /// Copies the region's bytes at `va` into `dst`, if `check` allows it.
    pub(crate) fn copy_out(
        &self,
        pd: *mut b::ib_pd,
        va: u64,
        dst: &mut [u8],
        access: u32,
    ) -> Result<(), MrFault> {
        let len = dst.len();
        let base = dst.as_mut_ptr();
        self.with(pd, |bounds, pages| {
            let start = bounds.offset(va, len as u64, access)?;
            pages.for_each(va, start, len, |piece, range| {
                let to = base.wrapping_add(range.start);
                match piece {
                    // SAFETY: As for `copy_in`; `range` lies inside `dst`.
                    Piece::Page(page, offset) => unsafe {
                        b::rvt_helper_copy_from_page(to.cast(), page, offset, range.len())
                    },
                    // SAFETY: As for `copy_in`; `range` lies inside `dst`.
                    Piece::Kernel(from) => unsafe {
                        core::ptr::copy_nonoverlapping(from.cast_const(), to, range.len())
                    },
                }
            })
        })
    }

    /// Runs `op` on the page and in-page offset of the 8 aligned bytes at
    /// `va` (an atomic), if `check` allows it, the registration held.
    pub(crate) fn with_word<R>(
        &self,
        pd: *mut b::ib_pd,
        va: u64,
        access: u32,
        op: impl FnOnce(*mut b::page, usize) -> R,
    ) -> Result<R, MrFault> {
        self.with(pd, |bounds, pages| {
            let start = bounds.offset(va, 8, access)?;
            let mut word = None;
            pages.for_each(va, start, 8, |piece, range| {
                // 8 aligned bytes in one page; a DMA MR has no remote
                // rights (`get_dma`), hence no atomics.
                if let (Piece::Page(page, offset), 0, 8) = (piece, range.start, range.end) {
                    if va % 8 == 0 && offset % 8 == 0 {
                        word = Some((page, offset));
                    }
                }
            })?;
            let (page, offset) = word.ok_or(MrFault)?;
            Ok(op(page, offset))
        })
    }
}

/// What an R_Key names for a remote access, for as long as the RCU read
/// lock is held: an MR, or a memory window over one (its binding held for
/// each access, the MR looked up again under it).
pub(crate) enum RemoteRef<'a> {
    Mr(MrRef<'a>),
    Window {
        mw: &'a Mw,
        key: u32,
        qpn: u32,
        keys: &'a MrKeys,
        rcu: &'a rcu::Guard,
    },
}

impl RemoteRef<'_> {
    /// Runs `op` on the MR the access reaches with the rights it must check
    /// there: through a window, once the window granted `access` for `len`
    /// bytes at `va` (`None`: the whole window), the MR only bounds the
    /// range.
    fn reach<R>(
        &self,
        pd: *mut b::ib_pd,
        range: Option<(u64, u64)>,
        access: u32,
        op: impl FnOnce(MrRef<'_>, u32) -> Result<R, MrFault>,
    ) -> Result<R, MrFault> {
        match *self {
            RemoteRef::Mr(mr) => op(mr, access),
            RemoteRef::Window {
                mw,
                key,
                qpn,
                keys,
                rcu,
            } => mw.access(
                key,
                pd,
                qpn,
                |window| match range {
                    Some((va, len)) => window.offset(va, len, access).map(|_| ()),
                    None if window.grants(access) => Ok(()),
                    None => Err(MrFault),
                },
                |mr_key| op(keys.lookup(mr_key, rcu).ok_or(MrFault)?, 0),
            ),
        }
    }

    /// As [`MrRef::check`].
    pub(crate) fn check(
        &self,
        pd: *mut b::ib_pd,
        va: u64,
        len: u32,
        access: u32,
    ) -> Result<(), MrFault> {
        self.reach(pd, Some((va, len.into())), access, |mr, access| {
            mr.check(pd, va, len, access)
        })
    }

    /// As [`MrRef::check_rights`]: through a window, its rights.
    pub(crate) fn check_rights(&self, pd: *mut b::ib_pd, access: u32) -> Result<(), MrFault> {
        self.reach(pd, None, access, |mr, access| mr.check_rights(pd, access))
    }

    /// As [`MrRef::copy_in`].
    pub(crate) fn copy_in(
        &self,
        pd: *mut b::ib_pd,
        va: u64,
        src: &[u8],
        access: u32,
    ) -> Result<(), MrFault> {
        self.reach(pd, Some((va, src.len() as u64)), access, |mr, access| {
            mr.copy_in(pd, va, src, access)
        })
    }

    /// As [`MrRef::copy_out`].
    pub(crate) fn copy_out(
        &self,
        pd: *mut b::ib_pd,
        va: u64,
        dst: &mut [u8],
        access: u32,
    ) -> Result<(), MrFault> {
        self.reach(pd, Some((va, dst.len() as u64)), access, |mr, access| {
            mr.copy_out(pd, va, dst, access)
        })
    }

    /// As [`MrRef::with_word`].
    pub(crate) fn with_word<R>(
        &self,
        pd: *mut b::ib_pd,
        va: u64,
        access: u32,
        op: impl FnOnce(*mut b::page, usize) -> R,
    ) -> Result<R, MrFault> {
        self.reach(pd, Some((va, 8)), access, |mr, access| {
            mr.with_word(pd, va, access, op)
        })
    }
}

/// The MRs and memory windows of a device, by key.
#[pin_data]
pub(crate) struct MrKeys {
    #[pin]
    table: Table<IbMr<Mr>>,
    #[pin]
    windows: MwTable,
    /// Counts registrations: its low 8 bits are the next key's `key8`.
    registrations: Atomic<u32>,
}

impl MrKeys {
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            table <- Table::new(MAX_MR),
            windows <- Table::with_range(MW_INDEX_BASE, MW_INDEX_BASE + MAX_MW - 1),
            registrations: Atomic::new(0),
        })
    }

    /// The memory windows.
    pub(crate) fn windows(&self) -> &MwTable {
        &self.windows
    }

    /// A new key for index `index`: it and the next 8-bit key.
    pub(crate) fn new_key(&self, index: u32) -> u32 {
        let key8 = self.registrations.fetch_add(1u32, Relaxed) as u8;
        (index << 8) | u32::from(key8)
    }

    /// The MR with `key` (an L_Key, or an R_Key naming an MR), for as long
    /// as the RCU read lock is held. Key 0 (the kernel's `local_dma_lkey`),
    /// stale keys and memory windows name nothing.
    pub(crate) fn lookup<'a>(&self, key: u32, rcu: &'a rcu::Guard) -> Option<MrRef<'a>> {
        self.table
            .get(key >> 8, rcu)
            .map(IbMr::data)
            .filter(|mr| mr.named_by(key))
            .map(|mr| MrRef { mr, key })
    }

    /// What the R_Key `key` names for a remote access arriving on QP `qpn`
    /// (whose PD every access then checks): an MR or a memory window.
    pub(crate) fn lookup_remote<'a>(
        &'a self,
        key: u32,
        qpn: u32,
        rcu: &'a rcu::Guard,
    ) -> Option<RemoteRef<'a>> {
        if key >> 8 < MW_INDEX_BASE {
            return self.lookup(key, rcu).map(RemoteRef::Mr);
        }
        let mw = self.windows.get(key >> 8, rcu)?.data();
        Some(RemoteRef::Window {
            mw,
            key,
            qpn,
            keys: self,
            rcu,
        })
    }

    /// Executes a fast registration (IBA 10.6.3.6) for a QP of `pd`: the MR
    /// `reg.mr`, free and in `pd`, becomes valid with the pages mapped last
    /// and the key, rights, address and length of the work request. A
    /// key whose index is not the MR's, rights not implemented or remote
    /// write without local write, a page size out of range and a region
    /// longer than the pages are refused, the MR left as it was.
    pub(crate) fn fast_register(
        &self,
        pd: *mut b::ib_pd,
        reg: &FastReg,
        rcu: &rcu::Guard,
    ) -> Result<(), MrFault> {
        let entry = self.table.get(reg.key >> 8, rcu).ok_or(MrFault)?;
        let mr = entry.data();
        let fast = mr.fast().ok_or(MrFault)?;
        let shift = reg.page_size.trailing_zeros();
        if !core::ptr::eq(entry.as_raw(), reg.mr)
            || mr.pd != pd
            || reg.access & !SUPPORTED_ACCESS != 0
            || (reg.access & NEEDS_LOCAL_WRITE != 0
                && reg.access & b::ib_access_flags_IB_ACCESS_LOCAL_WRITE == 0)
            || !reg.page_size.is_power_of_two()
            || !FAST_PAGE_SHIFTS.contains(&shift)
        {
            return Err(MrFault);
        }
        let npages = fast.mapped_len.load(Relaxed) as usize;
        let first_offset = (reg.iova & (u64::from(reg.page_size) - 1)) as usize;
        let mapped = (npages as u64) << shift;
        if (first_offset as u64)
            .checked_add(reg.length)
            .is_none_or(|end| end > mapped)
        {
            return Err(MrFault);
        }
        let mut r = fast.registration.lock();
        if r.valid {
            return Err(MrFault);
        }
        let (Some(to), Some(from)) = (r.pages.get_mut(..npages), fast.mapped.get(..npages)) else {
            return Err(MrFault);
        };
        for (to, from) in to.iter_mut().zip(from) {
            *to = from.load(Relaxed);
        }
        r.npages = npages;
        r.shift = shift;
        r.first_offset = first_offset;
        r.bounds = Bounds {
            iova: reg.iova,
            length: reg.length,
            access: reg.access,
        };
        r.key = reg.key;
        r.valid = true;
        Ok(())
    }

    /// Invalidates the fast-registration MR or memory window `key` names
    /// (IBA 10.6.5: Local Invalidate, or a SEND with Invalidate received)
    /// for QP `qpn` of `pd`, `remote` for a SEND with Invalidate. An MR:
    /// refused unless `key` is the current key of a fast-registration MR
    /// of `pd` (remotely: registered with a remote right); one already
    /// free stays free. Once
    /// this returns, no access reaches the MR's pages. A window: see
    /// `invalidate_mw`.
    pub(crate) fn invalidate(
        &self,
        pd: *mut b::ib_pd,
        qpn: u32,
        key: u32,
        remote: bool,
        rcu: &rcu::Guard,
    ) -> Result<(), MrFault> {
        if key >> 8 >= MW_INDEX_BASE {
            return self.invalidate_mw(pd, qpn, key, rcu);
        }
        let mr = self.table.get(key >> 8, rcu).ok_or(MrFault)?.data();
        let fast = mr.fast().ok_or(MrFault)?;
        if mr.pd != pd {
            return Err(MrFault);
        }
        let mut r = fast.registration.lock();
        // A SEND with Invalidate names an R_Key: a registration that
        // granted no remote right has none to name (rdma_rxe alike).
        let remote_rights = b::ib_access_flags_IB_ACCESS_REMOTE_READ
            | b::ib_access_flags_IB_ACCESS_REMOTE_WRITE
            | b::ib_access_flags_IB_ACCESS_REMOTE_ATOMIC;
        if r.key != key || (remote && !(r.valid && r.bounds.access & remote_rights != 0)) {
            return Err(MrFault);
        }
        r.valid = false;
        Ok(())
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
    // INVARIANT: the umem pinned `length` bytes from `start`, whose page
    // offset starts the array.
    let memory = Memory::User {
        _umem: umem_owner,
        pages,
        first_offset: addr % PAGE_SIZE,
        bounds: Bounds {
            iova,
            length,
            access,
        },
    };
    publish(keys, quota, pd, memory, iova, length)
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
    let bounds = Bounds {
        iova: 0,
        length: u64::MAX,
        access,
    };
    publish(keys, quota, pd, Memory::Dma { bounds }, 0, u64::MAX)
}

/// `alloc_mr` of type `IB_MR_TYPE_MEM_REG`: a fast-registration MR that
/// maps up to `max_num_sg` pages, free until a work request registers it.
/// Other types, and more pages than `MAX_FAST_REG_PAGES`, get `EINVAL`.
pub(crate) fn alloc_fast(
    keys: &MrKeys,
    limit: &Limit,
    pd: &IbObject<b::ib_pd, Pd>,
    mr_type: u32,
    max_num_sg: u32,
) -> Result<Pin<KBox<IbMr<Mr>>>> {
    if mr_type != b::ib_mr_type_IB_MR_TYPE_MEM_REG || max_num_sg > MAX_FAST_REG_PAGES {
        return Err(EINVAL);
    }
    let quota = limit.take()?;
    let slots = max_num_sg as usize;
    let mut mapped = KVVec::with_capacity(slots, GFP_KERNEL)?;
    for _ in 0..slots {
        mapped.push(Atomic::new(0u64), GFP_KERNEL)?;
    }
    let pages = KVVec::from_elem(0u64, slots, GFP_KERNEL)?;
    let fast = KBox::pin_init(
        pin_init!(FastMr {
            mapped,
            mapped_len: Atomic::new(0),
            registration <- new_spinlock_irq!(Registration {
                valid: false,
                key: 0,
                bounds: Bounds::default(),
                shift: 0,
                first_offset: 0,
                pages,
                npages: 0,
            }),
        }),
        GFP_KERNEL,
    )?;
    publish(keys, quota, pd, Memory::Fast(fast), 0, 0)
}

/// Gives `memory` a key in the table, fills the `ib_mr`'s keys, address and
/// length, and publishes it.
fn publish(
    keys: &MrKeys,
    quota: Quota,
    pd: &IbObject<b::ib_pd, Pd>,
    memory: Memory,
    iova: u64,
    length: u64,
) -> Result<Pin<KBox<IbMr<Mr>>>> {
    let reservation = keys.table.reserve()?;
    let key = keys.new_key(reservation.index());
    if let Memory::Fast(fast) = &memory {
        // Free, with the key a first Local Invalidate may name.
        fast.registration.lock().key = key;
    }
    let mr = IbMr::new(kernel::try_init!(Mr {
        _quota: quota,
        memory,
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

/// `map_mr_sg` starts: the pages mapped before are forgotten. `EINVAL` for
/// an MR that is not a fast-registration MR.
pub(crate) fn begin_map(mr: &Mr) -> Result {
    mr.fast().ok_or(EINVAL)?.mapped_len.store(0, Relaxed);
    Ok(())
}

/// `map_mr_sg` maps one more page (`ib_sg_to_pages`' `set_page`): `ENOMEM`
/// once the MR's pages are all mapped.
pub(crate) fn map_page(mr: &Mr, addr: u64) -> Result {
    let fast = mr.fast().ok_or(EINVAL)?;
    let n = fast.mapped_len.load(Relaxed);
    fast.mapped
        .get(n as usize)
        .ok_or(ENOMEM)?
        .store(addr, Relaxed);
    fast.mapped_len.store(n + 1, Relaxed);
    Ok(())
}

/// `dereg_mr`: takes the MR out of the key table, waits until no reader
/// can see it, and frees it. Process context.
pub(crate) fn dereg(keys: &MrKeys, mr: Pin<KBox<IbMr<Mr>>>) {
    let removed = keys.table.remove(mr.data().key >> 8);
    // Every MR is in the table from its creation until here.
    kernel::warn_on!(!removed);
    drop(mr);
}
