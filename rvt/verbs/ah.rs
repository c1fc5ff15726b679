// SPDX-License-Identifier: GPL-2.0

//! Address handles (IBA 11.2.2): the destinations of UD sends.
//!
//! A user AH gets a non-zero `ah_num` (rdma_user_rxe.h `rxe_create_ah_resp`)
//! by which the provider names it in each UD send WQE, looked up in an RCU
//! table by the data path. A provider too old to read it would put an
//! address vector of its own in the WQE instead, which rvt does not trust:
//! such a creation is refused. Kernel AHs, which ib_core may create and
//! destroy in atomic context, are not in the table (kernel work requests
//! carry the `ib_ah` itself), so nothing on their paths sleeps.

use core::mem::size_of;

use kernel::{prelude::*, transmute::AsBytes};

use super::{
    quota::{Limit, Quota},
    table::Table,
};
use crate::{
    bindings as b,
    ib::{Created, Slot, Udata},
};

/// Address handles per device (`max_ah`).
pub(crate) const MAX_AH: u32 = (1 << 16) - 1;

/// The AHs of a device that user space names by `ah_num`.
pub(crate) type AhTable = Table<crate::ib::IbObject<b::ib_ah, Ah>>;

/// A copy of an AH's attributes.
#[derive(Clone, Copy)]
struct AhAttr(b::rdma_ah_attr);

// SAFETY: The only pointer in an `rdma_ah_attr` (the GID attribute) is
// cleared in the copy.
unsafe impl Send for AhAttr {}
// SAFETY: As above.
unsafe impl Sync for AhAttr {}

/// What rvt keeps per AH.
#[pin_data(PinnedDrop)]
pub(crate) struct Ah {
    _quota: Quota,
    attr: AhAttr,
    /// Where UD sends through the AH go, as the backend resolved it.
    path: b::rvt_path,
    /// The table a user AH is in (the device's, which outlives it), and its
    /// `ah_num` there; 0 for a kernel AH.
    table: *const AhTable,
    ah_num: u32,
}

// SAFETY: `table` points into the device, which outlives its AHs; the
// table is `Sync`.
unsafe impl Send for Ah {}
// SAFETY: As above; the rest is immutable.
unsafe impl Sync for Ah {}

/// The rxe provider's create_ah response.
#[repr(transparent)]
struct CreateAhResp(b::rxe_create_ah_resp);

// SAFETY: Two u32s: no padding (rdma_user_rxe.h).
unsafe impl AsBytes for CreateAhResp {}

/// `create_ah` and `create_user_ah`. ib_core has checked the port and that
/// the source GID exists (and filled `grh.sgid_attr`); rvt checks what its
/// ports take.
/// `resolve` is the backend's path resolution (which never sleeps).
pub(crate) fn create<'a>(
    limit: &Limit,
    table: &AhTable,
    resolve: impl FnOnce(&b::rdma_ah_attr) -> Result<b::rvt_path>,
    slot: Slot<'a, b::ib_ah, Ah>,
    init: &b::rdma_ah_init_attr,
    udata: Option<&mut Udata<'_>>,
) -> Result<Created<'a, b::ib_ah, Ah>> {
    // SAFETY: ib_core passes valid attributes for the call.
    let mut attr = unsafe { *init.ah_attr };
    // A RoCE port (IBA annex A16/A17) addresses by GID: a GRH always.
    if attr.type_ != b::rdma_ah_attr_type_RDMA_AH_ATTR_TYPE_ROCE
        || u32::from(attr.ah_flags) & b::ib_ah_flags_IB_AH_GRH == 0
        || attr.port_num != 1
    {
        return Err(EINVAL);
    }
    // The GID attribute is valid for the call (ib_core holds it).
    let path = resolve(&attr)?;
    // rvt keeps no reference on the GID attribute: never keep the pointer.
    attr.grh.sgid_attr = core::ptr::null();
    let quota = limit.take()?;
    let Some(udata) = udata else {
        // A kernel AH: maybe atomic context, nothing here sleeps.
        return slot.init(pin_init!(Ah {
            _quota: quota,
            attr: AhAttr(attr),
            path,
            table: core::ptr::null(),
            ah_num: 0,
        }));
    };
    udata.require_empty_input()?;
    if udata.out_len() < size_of::<b::rxe_create_ah_resp>() {
        return Err(EOPNOTSUPP);
    }
    let reservation = table.reserve()?;
    let ah_num = reservation.index();
    let created = slot.init(pin_init!(Ah {
        _quota: quota,
        attr: AhAttr(attr),
        path,
        table: core::ptr::from_ref(table),
        ah_num,
    }))?;
    // SAFETY: The AH stays alive and in place until its data is dropped,
    // which removes it from the table first (`PinnedDrop`); it is complete.
    unsafe { reservation.publish(created.object()) };
    udata.respond(&CreateAhResp(b::rxe_create_ah_resp {
        ah_num,
        reserved: 0,
    }))?;
    Ok(created)
}

impl Ah {
    /// The resolved path.
    pub(crate) fn path(&self) -> &b::rvt_path {
        &self.path
    }

    /// `query_ah`: the attributes it was created with.
    pub(crate) fn query(&self, attr: &mut b::rdma_ah_attr) {
        *attr = self.attr.0;
    }
}

#[pinned_drop]
impl PinnedDrop for Ah {
    fn drop(self: Pin<&mut Self>) {
        if self.ah_num != 0 {
            // SAFETY: The device's table outlives its AHs. A user AH is
            // destroyed in process context (ib_uverbs passes
            // RDMA_DESTROY_AH_SLEEPABLE), where `remove` may wait.
            unsafe { &*self.table }.remove(self.ah_num);
        }
    }
}
