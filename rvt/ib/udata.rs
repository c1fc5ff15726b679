// SPDX-License-Identifier: GPL-2.0

//! `struct ib_udata`: a verb's driver-private input and output, in user
//! memory. Copies go through ib_core's own helpers
//! (`_ib_copy_validate_udata_in`, `_ib_respond_udata`), which implement the
//! uverbs compatibility rules: input the driver does not know must be zero;
//! a response is truncated or zero-padded to the user's buffer.

use core::{marker::PhantomData, mem::size_of, ptr};

use kernel::{
    prelude::*,
    transmute::{AsBytes, FromBytes},
};

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

    /// The user context of the call (every udata ib_core hands a driver is
    /// the `driver_udata` of a `uverbs_attr_bundle`).
    pub(crate) fn ucontext(&self) -> *mut b::ib_ucontext {
        // SAFETY: ib_core embeds the udata it passes to drivers in the call's
        // attribute bundle, whose `context` is the caller's live context.
        unsafe {
            let bundle = kernel::container_of!(
                self.raw,
                b::uverbs_attr_bundle,
                __bindgen_anon_1.hdr.driver_udata
            );
            (*bundle).__bindgen_anon_1.hdr.context
        }
    }

    /// Reads the request `T`: the user gives at least `minimum` bytes (the
    /// size of the first version of `T`) and zeros beyond `size_of::<T>()`;
    /// what a shorter input lacks reads as zero.
    pub(crate) fn read_input<T: FromBytes + AsBytes + Default>(&self, minimum: usize) -> Result<T> {
        let mut req = T::default();
        // SAFETY: A valid udata; `req` is `size_of::<T>()` writable bytes,
        // and every byte pattern is a valid `T` (`FromBytes`).
        kernel::error::to_result(unsafe {
            b::_ib_copy_validate_udata_in(
                self.raw,
                ptr::from_mut(&mut req).cast(),
                size_of::<T>(),
                minimum,
            )
        })?;
        Ok(req)
    }

    /// How many response bytes the caller can take.
    pub(crate) fn out_len(&self) -> usize {
        // SAFETY: A valid udata (type invariant).
        unsafe { (*self.raw).outlen }
    }

    /// Writes the response `T`, truncated or zero-padded to the user's buffer.
    pub(crate) fn respond<T: AsBytes>(&mut self, resp: &T) -> Result {
        // SAFETY: A valid udata; `resp` is `size_of::<T>()` readable bytes
        // without padding (`AsBytes`).
        kernel::error::to_result(unsafe {
            b::_ib_respond_udata(self.raw, ptr::from_ref(resp).cast(), size_of::<T>())
        })
    }
}
