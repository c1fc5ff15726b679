// SPDX-License-Identifier: GPL-2.0

//! A table of objects indexed by a small number (the index part of an MR's
//! keys), looked up without a lock from any context, softirq included: an
//! xarray read under RCU (`xa_load`), written only from process context.
//!
//! The kernel crate's `XArray` has neither allocating inserts nor RCU
//! reads, so this is a small wrapper over the C xarray (the static inline
//! parts through rvt/helpers.c). The table refers to objects it does not
//! own. Soundness rests on three rules: an object stays alive from
//! [`Table::insert`] until [`Table::remove`] of its index has returned (the
//! inserter's promise); a looked-up object is borrowed for the RCU
//! read-side critical section only (the borrow is tied to the
//! `rcu::Guard`); and `remove` waits for a grace period before it returns,
//! so no reader still holds the object when its owner frees it.

use core::marker::PhantomData;

use kernel::{
    prelude::*,
    sync::atomic::{Atomic, Relaxed},
    sync::rcu,
    types::Opaque,
};

use crate::bindings as b;

/// Objects of type `T`, each at a distinct index in `min..=max`.
///
/// # Invariants
///
/// Every entry of `xa` points to a live `T` (see [`Table::insert`]).
#[pin_data(PinnedDrop)]
pub(crate) struct Table<T> {
    #[pin]
    xa: Opaque<b::xarray>,
    /// Where the cyclic allocation continues (so an index is not reused at once).
    next: Atomic<u32>,
    min: u32,
    max: u32,
    _refers: PhantomData<*const T>,
}

// SAFETY: The xarray has its own lock; entries are `T: Send + Sync`.
unsafe impl<T: Send + Sync> Send for Table<T> {}
// SAFETY: As above; lookups hand out `&T` only.
unsafe impl<T: Send + Sync> Sync for Table<T> {}

impl<T> Table<T> {
    /// An empty table for indices `1..=max`.
    pub(crate) fn new(max: u32) -> impl PinInit<Self> {
        Self::with_range(1, max)
    }

    /// An empty table for indices `min..=max` (`min` at least 1).
    pub(crate) fn with_range(min: u32, max: u32) -> impl PinInit<Self> {
        pin_init!(Self {
            // SAFETY: Initialises the pinned xarray in place.
            xa <- Opaque::ffi_init(|xa| unsafe { b::rvt_helper_xa_init_alloc1(xa) }),
            next: Atomic::new(min),
            min,
            max,
            _refers: PhantomData,
        })
    }

    /// Reserves a free index for an object still being built (so it can
    /// know its index, say in its keys, before anyone can find it): lookups
    /// see nothing there until [`Reservation::publish`]. Process context.
    ///
    /// `next` is a hint only: concurrent reservations pass a racy copy,
    /// which at worst makes the xarray search a little longer.
    pub(crate) fn reserve(&self) -> Result<Reservation<'_, T>> {
        let mut index = 0u32;
        let mut next = self.next.load(Relaxed);
        // SAFETY: A live xarray; a NULL entry reserves the index.
        let err = unsafe {
            b::rvt_helper_xa_alloc_cyclic(
                self.xa.get(),
                &mut index,
                core::ptr::null_mut(),
                self.min,
                self.max,
                &mut next,
            )
        };
        kernel::error::to_result(err)?;
        self.next.store(next, Relaxed);
        Ok(Reservation { table: self, index })
    }

    /// The object at `index`, for as long as the RCU read lock is held.
    // The data path looks MRs up through this; until it lands only the
    // KUnit suite does.
    #[cfg_attr(not(CONFIG_KUNIT), allow(dead_code))]
    pub(crate) fn get<'a>(&self, index: u32, _rcu: &'a rcu::Guard) -> Option<&'a T> {
        // SAFETY: A live xarray; `xa_load` is safe under RCU from any context.
        let raw = unsafe { b::xa_load(self.xa.get(), index as usize) };
        // SAFETY: Entries are live `T`s (type invariant); one that is being
        // removed is freed only after a grace period (`remove`), which the
        // guard's read-side critical section holds off.
        unsafe { raw.cast::<T>().as_ref() }
    }

    /// Takes the object at `index` out of the table and returns once no
    /// reader can still see it: its owner may then free it. Whether there
    /// was one. Process context (it waits for an RCU grace period).
    pub(crate) fn remove(&self, index: u32) -> bool {
        // SAFETY: A live xarray.
        let raw = unsafe { b::xa_erase(self.xa.get(), index as usize) };
        if raw.is_null() {
            return false;
        }
        // Readers that found it before the erase are gone after this. An
        // expedited grace period, as `synchronize_net()` takes under RTNL:
        // a process exiting with its 65536 MRs waits for one per MR, and a
        // normal grace period (several jiffies) made that minutes. Process
        // context, outside any RCU read-side critical section (the contract).
        // SAFETY: As just said: where a grace period may be waited for.
        unsafe { b::synchronize_rcu_expedited() };
        true
    }
}

/// An index of a [`Table`] held for an object being built; released when
/// dropped unless published.
pub(crate) struct Reservation<'a, T> {
    table: &'a Table<T>,
    index: u32,
}

impl<T> Reservation<'_, T> {
    /// The index reserved.
    pub(crate) fn index(&self) -> u32 {
        self.index
    }

    /// Makes `object` visible at the index, complete as it is now. The
    /// index now belongs to the object's owner, who gives it back with
    /// [`Table::remove`].
    ///
    /// # Safety
    ///
    /// `object` stays alive and in place until [`Table::remove`] of the
    /// index has returned.
    pub(crate) unsafe fn publish(self, object: &T) {
        let this = core::mem::ManuallyDrop::new(self);
        // INVARIANT: the object outlives its entry (the contract).
        // SAFETY: A live xarray. The store orders the object's writes before
        // readers that find it (xarray entries are published with release
        // semantics and read with rcu_dereference).
        let err = unsafe {
            b::rvt_helper_xa_publish(
                this.table.xa.get(),
                this.index,
                core::ptr::from_ref(object).cast_mut().cast(),
            )
        };
        // Storing into a reserved index allocates nothing, so it cannot
        // fail; if it did, the index stays reserved (lookups see nothing)
        // until the owner's `remove`, so nobody else can take it meanwhile.
        kernel::warn_on!(err != 0);
    }
}

impl<T> Drop for Reservation<'_, T> {
    fn drop(&mut self) {
        // SAFETY: A live xarray; the index holds our reservation only.
        unsafe { b::xa_erase(self.table.xa.get(), self.index as usize) };
    }
}

#[pinned_drop]
impl<T> PinnedDrop for Table<T> {
    fn drop(self: Pin<&mut Self>) {
        // ib_core destroys every MR before the device, so the table is empty
        // by now; the xarray's own storage is freed here.
        // SAFETY: A live xarray, never used again.
        unsafe { b::xa_destroy(self.xa.get()) };
    }
}
