// SPDX-License-Identifier: GPL-2.0

//! Device-wide object limits (the `max_pd`, `max_cq`, ... of
//! `ib_query_device`), enforced: what rvt advertises is what it allows.

use kernel::{
    prelude::*,
    sync::atomic::{Atomic, Relaxed},
};

/// How many objects of one kind exist on a device, and how many may.
pub(crate) struct Limit {
    count: Atomic<u32>,
    max: u32,
}

impl Limit {
    /// No object yet, at most `max`.
    pub(crate) const fn new(max: u32) -> Self {
        Self {
            count: Atomic::new(0),
            max,
        }
    }

    /// The limit advertised.
    pub(crate) fn max(&self) -> u32 {
        self.max
    }

    /// One more object, or `ENOMEM` when the limit is reached.
    pub(crate) fn take(&self) -> Result<Quota> {
        if self.count.fetch_add(1u32, Relaxed) >= self.max {
            self.count.fetch_sub(1u32, Relaxed);
            return Err(ENOMEM);
        }
        // INVARIANT: counted above.
        Ok(Quota {
            limit: core::ptr::from_ref(self),
        })
    }
}

/// One object's share of a [`Limit`], given back when it is dropped.
///
/// # Invariants
///
/// `limit` points to the `Limit` of the device that holds the object,
/// counted once for this share; ib_core destroys every object of a device
/// before the device (and so the `Limit`) goes away.
pub(crate) struct Quota {
    limit: *const Limit,
}

// SAFETY: The limit is an atomic counter, usable from any thread.
unsafe impl Send for Quota {}
// SAFETY: As above; a `&Quota` reaches nothing.
unsafe impl Sync for Quota {}

impl Drop for Quota {
    fn drop(&mut self) {
        // SAFETY: The device outlives its objects (type invariant).
        unsafe { &*self.limit }.count.fetch_sub(1u32, Relaxed);
    }
}
