// SPDX-License-Identifier: GPL-2.0

//! User contexts (`ibv_open_device`): the rxe ABI defines no driver data
//! for them, in either direction.

use kernel::prelude::*;

use crate::{
    bindings as b,
    ib::{Created, Slot, Udata},
};

/// What rvt keeps per user context (nothing yet: the rings' mmap entries
/// are ib_core's, per context).
pub(crate) struct Ucontext;

/// `alloc_ucontext`: a request with driver data is refused (`EOPNOTSUPP`).
pub(crate) fn alloc<'a>(
    slot: Slot<'a, b::ib_ucontext, Ucontext>,
    udata: &mut Udata<'_>,
) -> Result<Created<'a, b::ib_ucontext, Ucontext>> {
    udata.require_empty_input()?;
    slot.init(Ucontext)
}
