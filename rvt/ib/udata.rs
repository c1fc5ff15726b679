// SPDX-License-Identifier: GPL-2.0

//! `struct ib_udata`: a verb's driver-private input and output, in user
//! memory. Input checks go through ib_core's own helper
//! (`_ib_copy_validate_udata_in`), which implements the uverbs compatibility
//! rules: input the driver does not know must be zero.

use core::{marker::PhantomData, ptr};

use kernel::prelude::*;

use crate::bindings as b;

/// The udata of one verb call, borrowed for the call.
///
/// # Invariants
///
/// `raw` is a valid `ib_udata` for `'a`, from a user-space verb.
pub(crate) struct Udata<'a> {
    raw: *mut b::ib_udata,
    _call: PhantomData<&'a mut b::ib_udata>,
}

impl<'a> Udata<'a> {
    /// The udata ib_core passed to a verb: `None` for a kernel caller.
    ///
    /// # Safety
    ///
    /// `raw` is NULL or a valid `ib_udata` for `'a`.
    pub(crate) unsafe fn from_raw(raw: *mut b::ib_udata) -> Option<Self> {
        // INVARIANT: Per the contract.
        (!raw.is_null()).then_some(Self {
            raw,
            _call: PhantomData,
        })
    }

    /// Checks that the input is empty or all zeros (the verb defines no
    /// request): `EOPNOTSUPP` for anything else, as ib_core's
    /// `ib_is_udata_in_empty`.
    pub(crate) fn require_empty_input(&self) -> Result {
        // SAFETY: A valid udata (type invariant).
        if unsafe { (*self.raw).inlen } == 0 {
            return Ok(());
        }
        // SAFETY: A valid udata; a zero-size request only checks for zeros.
        kernel::error::to_result(unsafe {
            b::_ib_copy_validate_udata_in(self.raw, ptr::null_mut(), 0, 0)
        })
    }
}
