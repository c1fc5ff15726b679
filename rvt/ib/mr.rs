// SPDX-License-Identifier: GPL-2.0

//! Memory regions: unlike the other objects, the driver allocates `ib_mr`
//! itself (`reg_user_mr`, `alloc_mr`) and frees it in `dereg_mr`.
//! [`IbMr<T>`] is that allocation: ib_core's `ib_mr` first, the driver's
//! `T` behind it, pinned in a `KBox` the driver owns from creation to
//! `dereg_mr`.

use kernel::{prelude::*, types::Opaque};

use crate::bindings as b;

/// An `ib_mr` with driver data behind it.
///
/// # Invariants
///
/// `core` is the first field (`#[repr(C)]`): the `*mut ib_mr` ib_core holds
/// for an MR this driver made is a `*mut IbMr<T>`.
#[repr(C)]
#[pin_data]
pub(crate) struct IbMr<T> {
    core: Opaque<b::ib_mr>,
    #[pin]
    data: T,
}

// SAFETY: ib_core serialises its own fields; `T` is shared as `&T` only.
unsafe impl<T: Sync> Sync for IbMr<T> {}
// SAFETY: Nothing in an MR is tied to a thread if `T` is `Send`.
unsafe impl<T: Send> Send for IbMr<T> {}

impl<T> IbMr<T> {
    /// A new MR (its `ib_mr` zeroed: ib_core fills it after the create op).
    pub(crate) fn new(init: impl PinInit<T, Error>) -> Result<Pin<KBox<Self>>> {
        let init = pin_init::pin_init!(Self {
            core: Opaque::zeroed(),
            data <- init,
        }? Error);
        KBox::try_pin_init(init, GFP_KERNEL)
    }

    /// The MR of an `ib_mr` ib_core holds.
    ///
    /// # Safety
    ///
    /// `mr` is an MR this driver made with data `T` (an `IbMr<T>` given to
    /// ib_core), alive for `'a`.
    pub(crate) unsafe fn from_raw<'a>(mr: *mut b::ib_mr) -> &'a Self {
        // SAFETY: `core` is the first field (type invariant); alive per the
        // contract.
        unsafe { &*mr.cast::<Self>() }
    }

    /// The `ib_mr`.
    pub(crate) fn as_raw(&self) -> *mut b::ib_mr {
        self.core.get()
    }

    /// The driver's data.
    pub(crate) fn data(&self) -> &T {
        &self.data
    }
}
