// SPDX-License-Identifier: GPL-2.0

//! Protection domains (IBA 10.6.3.1): a name space for MRs, MWs, AHs and
//! QPs, checked when they meet. The rxe ABI defines no driver data for a PD.

use kernel::prelude::*;

use super::quota::{Limit, Quota};
use crate::{
    bindings as b,
    ib::{Created, Slot, Udata},
};

/// Protection domains per device.
pub(crate) const MAX_PD: u32 = 1 << 16;

/// What rvt keeps per PD.
pub(crate) struct Pd {
    _quota: Quota,
}

/// `alloc_pd`, for kernel and user callers.
pub(crate) fn alloc<'a>(
    limit: &Limit,
    slot: Slot<'a, b::ib_pd, Pd>,
    udata: Option<&mut Udata<'_>>,
) -> Result<Created<'a, b::ib_pd, Pd>> {
    if let Some(udata) = udata {
        udata.require_empty_input()?;
    }
    slot.init(Pd {
        _quota: limit.take()?,
    })
}
