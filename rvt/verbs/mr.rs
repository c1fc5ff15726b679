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
    prelude::*,
    sync::atomic::{Atomic, Relaxed},
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
pub(crate) struct Mr {
    _quota: Quota,
    /// The memory the MR describes.
    _pages: UserPages,
    /// Its L_Key and R_Key (set before the MR is published in the table).
    key: u32,
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
    let pages = UserPages { umem };
    let key8 = keys.registrations.fetch_add(1u32, Relaxed) as u8;
    let reservation = keys.table.reserve()?;
    let key = (reservation.index() << 8) | u32::from(key8);
    let mr = IbMr::new(kernel::try_init!(Mr {
        _quota: quota,
        _pages: pages,
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

/// `dereg_mr`: takes the MR out of the key table, waits until no reader
/// can see it, and frees it. Process context.
pub(crate) fn dereg(keys: &MrKeys, mr: Pin<KBox<IbMr<Mr>>>) {
    let removed = keys.table.remove(mr.data().key >> 8);
    // Every MR is in the table from `reg_user` until here.
    kernel::warn_on!(!removed);
    drop(mr);
}
