// SPDX-License-Identifier: GPL-2.0

//! Objects that ib_core allocates for a driver with the driver's data behind
//! them: PD, CQ, QP, SRQ, AH and ucontext (`INIT_RDMA_OBJ_SIZE` in C).
//!
//! ib_core allocates `size_ib_<object>` zeroed bytes (the size the driver
//! put in its `ib_device_ops`), fills its own struct at the start and calls
//! the driver's create op; if that fails, or after the destroy op returns,
//! it frees the memory. [`IbObject<C, T>`] is that allocation: the ib_core
//! struct `C` first, the driver's `T` right after it.
//!
//! A create op gets a [`Slot`]: the object with `T` not yet initialised.
//! Only [`Slot::init`] makes a [`Created`], the proof a create op returns,
//! so an object ib_core keeps always has its `T`; a `Created` dropped on an
//! error path (say, the response could not be copied to user space) drops
//! `T` again before ib_core frees the memory. The adapter, not the driver,
//! commits a returned `Created`, and it also knows (a flag the slot sets)
//! whether `T` is still initialised when a create op fails, so `T` is
//! dropped even if the driver leaked its `Created`: pinned data is always
//! dropped before its memory goes. The destroy op drops `T` after the
//! driver's destroy returned `Ok`.

use core::{cell::Cell, marker::PhantomData, mem::ManuallyDrop, ptr};

use kernel::{
    alloc::{allocator::Kmalloc, Allocator},
    prelude::*,
    types::Opaque,
};

use crate::bindings as b;

/// An ib_core struct that ib_core allocates with driver data behind it.
///
/// # Safety
///
/// `Self` is the C struct of such an object (`ib_pd`, `ib_cq`, ...), and
/// [`CoreObject::device`] returns its `ib_device`.
pub(crate) unsafe trait CoreObject {
    /// The device the object belongs to.
    ///
    /// # Safety
    ///
    /// `this` is a live object ib_core set up.
    unsafe fn device(this: *mut Self) -> *mut b::ib_device;
}

macro_rules! core_object {
    ($($ty:ident),*) => {$(
        // SAFETY: ib_core allocates `$ty` with `size_$ty` from the ops and
        // sets its `device` before it calls the driver.
        unsafe impl CoreObject for b::$ty {
            unsafe fn device(this: *mut Self) -> *mut b::ib_device {
                // SAFETY: A live object (the contract).
                unsafe { (*this).device }
            }
        }
    )*};
}
core_object!(ib_pd, ib_cq, ib_qp, ib_srq, ib_ah, ib_ucontext, ib_mw);

/// An ib_core object `C` with driver data `T` behind it.
///
/// # Invariants
///
/// - `core` is the first field (`#[repr(C)]`): a `*mut C` that ib_core
///   allocated with [`IbObject::SIZE`] bytes for this driver is a
///   `*mut IbObject<C, T>`.
/// - `data` is initialised from a successful [`Slot::init`] until the
///   object's destroy op drops it; only such objects are ever borrowed as
///   `&IbObject`.
#[repr(C)]
pub(crate) struct IbObject<C: CoreObject, T> {
    core: Opaque<C>,
    data: T,
}

// SAFETY: Shared access only: ib_core serialises its own fields; `T` is
// `Sync` where the driver shares it.
unsafe impl<C: CoreObject, T: Sync> Sync for IbObject<C, T> {}
// SAFETY: Nothing in an object is tied to a thread if `T` is `Send`.
unsafe impl<C: CoreObject, T: Send> Send for IbObject<C, T> {}

impl<C: CoreObject, T> IbObject<C, T> {
    /// What ib_core must allocate (`size_ib_*` in `ib_device_ops`).
    pub(crate) const SIZE: usize = {
        assert!(core::mem::offset_of!(Self, core) == 0);
        // ib_core allocates with kzalloc: its alignment must do.
        assert!(core::mem::align_of::<Self>() <= Kmalloc::MIN_ALIGN);
        core::mem::size_of::<Self>()
    };

    /// The object behind an ib_core pointer.
    ///
    /// # Safety
    ///
    /// `raw` was allocated for this driver's `IbObject<C, T>` and its data is
    /// initialised for `'a` (the caller is an op of the live object).
    pub(crate) unsafe fn from_raw<'a>(raw: *mut C) -> &'a Self {
        // SAFETY: Per the contract and the first-field invariant.
        unsafe { &*raw.cast::<Self>() }
    }

    /// The ib_core struct.
    pub(crate) fn as_raw(&self) -> *mut C {
        self.core.get()
    }

    /// The device the object belongs to.
    pub(crate) fn device(&self) -> *mut b::ib_device {
        // SAFETY: A live object.
        unsafe { C::device(self.as_raw()) }
    }

    /// The driver's data.
    pub(crate) fn data(&self) -> &T {
        &self.data
    }

    /// Drops the driver's data of an object being destroyed.
    ///
    /// # Safety
    ///
    /// `raw` is a live object of this type whose data is initialised and is
    /// never used again (ib_core frees it next).
    pub(crate) unsafe fn drop_data(raw: *mut C) {
        // SAFETY: Per the contract.
        unsafe { ptr::drop_in_place(&raw mut (*raw.cast::<Self>()).data) };
    }
}

/// An object ib_core just allocated, its driver data not yet initialised:
/// what a create op receives.
///
/// # Invariants
///
/// `raw` is such an object, its ib_core part set up, for `'a`; `live` is
/// the adapter's record of whether its data is initialised.
pub(crate) struct Slot<'a, C: CoreObject, T> {
    raw: *mut C,
    live: &'a Cell<bool>,
    _call: PhantomData<&'a mut IbObject<C, T>>,
}

impl<'a, C: CoreObject, T> Slot<'a, C, T> {
    /// # Safety
    ///
    /// `raw` was allocated by ib_core with [`IbObject::<C, T>::SIZE`] bytes
    /// for a create op running for `'a`, and its data is uninitialised;
    /// `live` is false, and the caller drops the data if it is true when
    /// the create op fails ([`finish_create`]).
    pub(super) unsafe fn new(raw: *mut C, live: &'a Cell<bool>) -> Self {
        // INVARIANT: Per the contract.
        Self {
            raw,
            live,
            _call: PhantomData,
        }
    }

    /// The ib_core part (already set up by ib_core: device, PD, ...).
    pub(crate) fn as_raw(&self) -> *mut C {
        self.raw
    }

    /// Initialises the driver's data in place, making the object.
    pub(crate) fn init<E>(self, init: impl PinInit<T, E>) -> Result<Created<'a, C, T>>
    where
        Error: From<E>,
    {
        let this = self.raw.cast::<IbObject<C, T>>();
        // SAFETY: `data` is uninitialised memory in an allocation that does
        // not move until ib_core frees it (type invariant); on error the
        // initialiser has dropped what it made.
        unsafe { pin_init::raw_try_init(&raw mut (*this).data, init) }?;
        self.live.set(true);
        // INVARIANT: initialised just now.
        Ok(Created {
            raw: self.raw,
            live: self.live,
            _call: PhantomData,
        })
    }
}

/// Proof that a create op initialised its object: returned to ib_core, or
/// dropped (with the data) if the op fails after all.
///
/// # Invariants
///
/// `raw` is an object of a create op running for `'a` with initialised data
/// (`live` is true).
pub(crate) struct Created<'a, C: CoreObject, T> {
    raw: *mut C,
    live: &'a Cell<bool>,
    _call: PhantomData<&'a mut IbObject<C, T>>,
}

impl<C: CoreObject, T> Created<'_, C, T> {
    /// The object just made.
    pub(crate) fn object(&self) -> &IbObject<C, T> {
        // SAFETY: Initialised (type invariant).
        unsafe { IbObject::from_raw(self.raw) }
    }

    /// The driver's data of the object just made.
    pub(crate) fn data(&self) -> &T {
        self.object().data()
    }

    /// The object is handed to ib_core: it now lives until its destroy op.
    fn commit(self) {
        self.live.set(false);
        let _ = ManuallyDrop::new(self);
    }
}

impl<C: CoreObject, T> Drop for Created<'_, C, T> {
    fn drop(&mut self) {
        self.live.set(false);
        // SAFETY: The create op fails after all: ib_core frees the memory
        // without a destroy op, so the data is dropped here, once.
        unsafe { IbObject::<C, T>::drop_data(self.raw) };
    }
}

/// Ends a create op: commits what it returned, or, if it failed with the
/// data still initialised (a leaked `Created`), drops the data.
///
/// # Safety
///
/// `raw` and `live` are those the op's [`Slot`] was made with.
pub(super) unsafe fn finish_create<C: CoreObject, T>(
    raw: *mut C,
    live: &Cell<bool>,
    result: Result<Created<'_, C, T>>,
) -> Result {
    match result {
        Ok(created) => {
            created.commit();
            Ok(())
        }
        Err(e) => {
            if live.replace(false) {
                // SAFETY: Initialised and never committed: ib_core frees
                // the memory next.
                unsafe { IbObject::<C, T>::drop_data(raw) };
            }
            Err(e)
        }
    }
}
