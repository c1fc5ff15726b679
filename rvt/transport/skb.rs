// SPDX-License-Identifier: GPL-2.0

//! Received packets rvt owns: from `rvt_receive` until they are consumed,
//! or kept by a QP whose engine deferred them (IBA 9.5 ordering).

use core::ptr::NonNull;

use crate::bindings as b;

/// An skb rvt owns, freed when dropped.
///
/// # Invariants
///
/// `skb` is a live skb owned by this object.
pub(crate) struct OwnedSkb {
    skb: NonNull<b::sk_buff>,
}

// SAFETY: An skb is not tied to the thread that allocated it.
unsafe impl Send for OwnedSkb {}
// SAFETY: A `&OwnedSkb` only reads the skb's data.
unsafe impl Sync for OwnedSkb {}

impl OwnedSkb {
    /// Takes ownership of `skb` (NULL: none).
    ///
    /// # Safety
    ///
    /// `skb` is NULL or a live skb its caller gives up.
    pub(crate) unsafe fn from_raw(skb: *mut b::sk_buff) -> Option<Self> {
        // INVARIANT: per the contract.
        NonNull::new(skb).map(|skb| Self { skb })
    }

    /// The packet's length as handed to rvt.
    pub(crate) fn len(&self) -> u32 {
        // SAFETY: A live skb (type invariant).
        unsafe { (*self.skb.as_ptr()).len }
    }

    /// The bytes of a linear skb (`rvt_receive` hands checked packets
    /// linear, `skb->data` at the BTH).
    ///
    /// # Safety
    ///
    /// The skb is linear.
    pub(crate) unsafe fn linear_data(&self) -> &[u8] {
        let skb = self.skb.as_ptr();
        // SAFETY: A live, linear skb (the contract): `len` bytes at `data`,
        // unchanged while we own it.
        unsafe { core::slice::from_raw_parts((*skb).data, (*skb).len as usize) }
    }

    /// A clone (the data shared, read-only for both), or `None` if memory
    /// is short. Any context.
    pub(crate) fn try_clone(&self) -> Option<Self> {
        // SAFETY: A live skb; the clone is a new skb owned by the caller.
        unsafe { Self::from_raw(b::rvt_helper_skb_clone(self.skb.as_ptr())) }
    }

    /// Prepares the skb to be kept past the softirq that received it: drops
    /// its (possibly RCU-only) route and its socket accounting.
    pub(crate) fn detach(&mut self) {
        // SAFETY: A live skb we own.
        unsafe { b::rvt_helper_skb_detach(self.skb.as_ptr()) };
    }
}

impl Drop for OwnedSkb {
    fn drop(&mut self) {
        // SAFETY: Ours (type invariant), never used again.
        unsafe { b::rvt_helper_kfree_skb(self.skb.as_ptr()) };
    }
}
