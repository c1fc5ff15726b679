// SPDX-License-Identifier: GPL-2.0

//! Kernel work request lists as ib_core's post verbs hand them over:
//! chains of `ib_send_wr` / `ib_recv_wr`, each with an SGE array.

use kernel::prelude::*;

use crate::bindings as b;

/// A work request of a kernel post list.
pub(crate) trait KernelWr {
    /// The next request of the list (NULL after the last).
    fn next_wr(&self) -> *const Self;
}

impl KernelWr for b::ib_send_wr {
    fn next_wr(&self) -> *const Self {
        self.next
    }
}

impl KernelWr for b::ib_recv_wr {
    fn next_wr(&self) -> *const Self {
        self.next
    }
}

/// Calls `post` on each request of the list from `first`, stopping at the
/// first refusal; `bad_wr` then names it (ib_core's `bad_wr` contract).
///
/// # Safety
///
/// `first` is NULL or the head of a list of valid work requests, which
/// stay valid for the call.
pub(crate) unsafe fn for_each<W: KernelWr>(
    first: *const W,
    bad_wr: &mut *const W,
    mut post: impl FnMut(&W) -> Result,
) -> Result {
    let mut wr = first;
    while !wr.is_null() {
        *bad_wr = wr;
        // SAFETY: A request of the caller's valid list (the contract).
        let w = unsafe { &*wr };
        post(w)?;
        wr = w.next_wr();
    }
    Ok(())
}

/// The SGE array of a kernel work request.
///
/// # Safety
///
/// `sg_list` holds `num_sge` SGEs (or `num_sge` is 0), valid for `'a`.
pub(crate) unsafe fn sges<'a>(sg_list: *const b::ib_sge, num_sge: u32) -> &'a [b::ib_sge] {
    if num_sge == 0 || sg_list.is_null() {
        return &[];
    }
    // SAFETY: Per the contract.
    unsafe { core::slice::from_raw_parts(sg_list, num_sge as usize) }
}
