// SPDX-License-Identifier: GPL-2.0

//! Driver attributes of `rdma resource show` entries (`rdma -dd`): ib_core's
//! nldev fills the generic part of each QP, CQ or MR entry and then calls
//! the driver's `fill_res_*_entry` op, which adds name/value pairs to the
//! netlink message, in a table of its own (`RDMA_NLDEV_ATTR_DRIVER`).

use kernel::prelude::*;

use crate::bindings as b;

/// The driver attributes of one resource entry being filled.
///
/// # Invariants
///
/// `msg` is the netlink message ib_core is filling for the length of the
/// borrow.
pub(crate) struct ResAttrs {
    msg: *mut b::sk_buff,
}

impl ResAttrs {
    /// Runs `f` on the driver attribute table of the entry being filled in
    /// `msg` (`RDMA_NLDEV_ATTR_DRIVER`, a nested attribute the driver
    /// opens), closed after it, removed if it fails.
    ///
    /// # Safety
    ///
    /// `msg` is the message of a `fill_res_*_entry` call, for the call.
    pub(super) unsafe fn fill(
        msg: *mut b::sk_buff,
        f: impl FnOnce(&mut ResAttrs) -> Result,
    ) -> Result {
        // SAFETY: The live message (the contract).
        let nest = unsafe { b::rvt_helper_nest_driver_attrs(msg) };
        if nest.is_null() {
            return Err(EMSGSIZE);
        }
        // INVARIANT: per the contract.
        let filled = f(&mut Self { msg });
        // SAFETY: The table opened above, in the same message.
        unsafe {
            match filled {
                Ok(()) => b::rvt_helper_nest_end(msg, nest),
                Err(_) => b::rvt_helper_nest_cancel(msg, nest),
            }
        }
        filled
    }

    /// Adds a 32-bit value; `EMSGSIZE` when the message is full.
    pub(crate) fn u32(&mut self, name: &CStr, value: u32) -> Result {
        // SAFETY: The live message (type invariant); ib_core copies the name.
        let ret = unsafe { b::rdma_nl_put_driver_u32(self.msg, name.as_char_ptr(), value) };
        kernel::error::to_result(ret)
    }

    /// Adds a string.
    pub(crate) fn string(&mut self, name: &CStr, value: &CStr) -> Result {
        // SAFETY: As for `u32`.
        let ret = unsafe {
            b::rdma_nl_put_driver_string(self.msg, name.as_char_ptr(), value.as_char_ptr())
        };
        kernel::error::to_result(ret)
    }
}
