// SPDX-License-Identifier: GPL-2.0

//! Shared receive queues (IBA 10.2.9, 11.2.3): user SRQs on the rxe ring
//! ABI, with their limit (the SRQ limit event is armed by modify_srq and
//! raised by the transport when it takes receive WQEs, IBA 11.6.3.2).
//!
//! Kernel SRQs are refused with `EOPNOTSUPP` until the transport exists:
//! ib_core calls `post_srq_recv` without checking for the op. Growing an
//! SRQ (`IB_SRQ_MAX_WR`) is not supported yet.

use core::mem::size_of;

use kernel::{
    prelude::*,
    transmute::{AsBytes, FromBytes},
};

use super::quota::{Limit, Quota};
use crate::{
    bindings as b,
    ib::{Created, Slot, Udata},
    transport::lock::{new_spinlock_bh, SpinLockBh},
    uapi::queue::UserQueue,
};

/// SRQs per device (`max_srq`).
pub(crate) const MAX_SRQ: u32 = 1 << 14;
/// Work requests per SRQ (`max_srq_wr`).
pub(crate) const MAX_SRQ_WR: u32 = 1 << 14;
/// Scatter/gather entries per SRQ work request (`max_srq_sge`).
pub(crate) const MAX_SRQ_SGE: u32 = 32;

/// rdma_user_rxe.h: `struct rxe_recv_wqe` up to its SGE array, and one SGE.
const RXE_RECV_WQE_HEADER: usize = 40;
const RXE_SGE: usize = 16;

/// What rvt keeps per SRQ.
#[pin_data]
pub(crate) struct Srq {
    _quota: Quota,
    ring: UserQueue,
    /// The work requests and SGEs granted.
    max_wr: u32,
    max_sge: u32,
    /// What the QPs on the SRQ share: taken under this lock (BH: the QPs
    /// take receive WQEs in softirq), nested inside a QP's lock.
    #[pin]
    state: SpinLockBh<SrqState>,
}

/// An SRQ's consumer side.
struct SrqState {
    /// The ring index of the next receive WQE to take.
    next: u32,
    /// The armed SRQ limit (0: not armed).
    limit: u32,
}

/// A receive WQE an SRQ gave: its work request id, and whether taking it
/// fired the armed limit (IBA 11.2.3.3: the WQEs left dropped below it;
/// the SRQ's `IB_EVENT_SRQ_LIMIT_REACHED` is owed, and the limit disarmed).
pub(crate) struct SrqTaken {
    pub(crate) wr_id: u64,
    pub(crate) limit_reached: bool,
}

/// The rxe provider's create_srq response.
#[repr(transparent)]
struct CreateSrqResp(b::rxe_create_srq_resp);

// SAFETY: A `struct mminfo` and two u32s: no padding (rdma_user_rxe.h).
unsafe impl AsBytes for CreateSrqResp {}

/// The rxe provider's modify_srq request: where to write new mmap
/// information after a resize (which rvt does not do).
#[repr(transparent)]
#[derive(Default)]
struct ModifySrqCmd(b::rxe_modify_srq_cmd);

// SAFETY: One u64: every bit pattern is valid, no padding.
unsafe impl FromBytes for ModifySrqCmd {}
// SAFETY: As above.
unsafe impl AsBytes for ModifySrqCmd {}

/// `create_srq`: a user SRQ of the basic type.
pub(crate) fn create<'a>(
    limit: &Limit,
    slot: Slot<'a, b::ib_srq, Srq>,
    init: &mut b::ib_srq_init_attr,
    udata: Option<&mut Udata<'_>>,
) -> Result<Created<'a, b::ib_srq, Srq>> {
    if init.srq_type != b::ib_srq_type_IB_SRQT_BASIC {
        return Err(EOPNOTSUPP);
    }
    let udata = udata.ok_or(EOPNOTSUPP)?;
    udata.require_empty_input()?;
    if udata.out_len() < size_of::<b::rxe_create_srq_resp>() {
        return Err(EINVAL);
    }
    let attr = init.attr;
    // IBA 11.2.3.1: at least one WR; the limit, if any, within the queue.
    if attr.max_wr == 0
        || attr.max_wr > MAX_SRQ_WR
        || attr.max_sge > MAX_SRQ_SGE
        || attr.srq_limit > attr.max_wr
    {
        return Err(EINVAL);
    }
    let max_sge = attr.max_sge.max(1);
    let elem = RXE_RECV_WQE_HEADER + max_sge as usize * RXE_SGE;
    // SAFETY: The caller's live context, which outlives its SRQs.
    let ring = unsafe { UserQueue::new(udata.ucontext(), attr.max_wr, elem) }?;
    let max_wr = ring.capacity();
    // Only XRC SRQs have numbers a peer uses; the provider ignores this one.
    let resp = CreateSrqResp(b::rxe_create_srq_resp {
        mi: ring.mmap_info(),
        srq_num: 0,
        reserved: 0,
    });
    let quota = limit.take()?;
    let created = slot.init(pin_init!(Srq {
        _quota: quota,
        ring,
        max_wr,
        max_sge,
        state <- new_spinlock_bh!(
            SrqState {
                next: 0,
                limit: attr.srq_limit,
            },
            "rvt_srq"
        ),
    }))?;
    init.attr.max_wr = max_wr;
    init.attr.max_sge = max_sge;
    udata.respond(&resp)?;
    Ok(created)
}

impl Srq {
    /// `modify_srq`: arms the limit (`IB_SRQ_LIMIT`, at most the queue's
    /// size); growing the queue (`IB_SRQ_MAX_WR`) is not supported.
    pub(crate) fn modify(
        &self,
        attr: &b::ib_srq_attr,
        mask: u32,
        udata: Option<&mut Udata<'_>>,
    ) -> Result {
        if let Some(udata) = udata {
            // The provider always sends its (8-byte) request; nothing in it
            // matters without a resize.
            udata.read_input::<ModifySrqCmd>(size_of::<ModifySrqCmd>())?;
        }
        if mask & !(b::ib_srq_attr_mask_IB_SRQ_MAX_WR | b::ib_srq_attr_mask_IB_SRQ_LIMIT) != 0
            || mask & b::ib_srq_attr_mask_IB_SRQ_MAX_WR != 0
        {
            return Err(EOPNOTSUPP);
        }
        if mask & b::ib_srq_attr_mask_IB_SRQ_LIMIT != 0 {
            if attr.srq_limit > self.max_wr {
                return Err(EINVAL);
            }
            self.state.lock().limit = attr.srq_limit;
        }
        Ok(())
    }

    /// `query_srq`.
    pub(crate) fn query(&self, attr: &mut b::ib_srq_attr) {
        attr.max_wr = self.max_wr;
        attr.max_sge = self.max_sge;
        attr.srq_limit = self.state.lock().limit;
    }

    /// The SGEs a receive WQE of this SRQ may have.
    pub(crate) fn max_sge(&self) -> u32 {
        self.max_sge
    }

    /// Takes the oldest receive WQE user space posted, if any: `copy` gets
    /// the ring and the WQE's index and copies what it needs out of the
    /// slot, which is user space's again when this returns. Any context.
    pub(crate) fn take(&self, copy: impl FnOnce(&UserQueue, u32) -> u64) -> Option<SrqTaken> {
        let mut st = self.state.lock();
        let producer = self.ring.producer();
        if st.next == producer {
            return None;
        }
        let index = st.next;
        let wr_id = copy(&self.ring, index);
        st.next = self.ring.next(index);
        self.ring.publish_consumer(st.next);
        let left = self.ring.count(producer, st.next);
        let limit_reached = st.limit != 0 && left < st.limit;
        if limit_reached {
            st.limit = 0;
        }
        Some(SrqTaken {
            wr_id,
            limit_reached,
        })
    }
}
