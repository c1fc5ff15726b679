// SPDX-License-Identifier: GPL-2.0

//! Shared receive queues (IBA 10.2.9, 11.2.3): user SRQs on the rxe ring
//! ABI, with their limit (the SRQ limit event is armed by modify_srq and
//! raised by the transport when it takes receive WQEs, IBA 11.6.3.2).
//!
//! A user SRQ is resized (`IB_SRQ_MAX_WR`, IBA 11.2.3.3) into a new ring
//! the provider maps in place of the old one; a kernel SRQ is not
//! (`EOPNOTSUPP`: no kernel consumer resizes one).

use core::mem::size_of;

use kernel::{
    prelude::*,
    transmute::{AsBytes, FromBytes},
};

use super::quota::{Limit, Quota};
use kernel::{
    new_spinlock_irq,
    sync::SpinLockIrq,
    uaccess::{UserPtr, UserSlice},
};

use crate::{
    bindings as b,
    ib::{Created, Slot, Udata},
    transport::{
        kwr,
        mem::{KernelRq, RecvSlots},
    },
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
    /// The SGEs granted per work request.
    max_sge: u32,
    /// What the QPs on the SRQ share: taken under this lock (IRQ-safe:
    /// kernel consumers post from any context, ib_mad-style with
    /// interrupts off; the QPs take WQEs in softirq), nested inside a QP's
    /// lock.
    #[pin]
    state: SpinLockIrq<SrqState>,
}

/// An SRQ's consumer side.
struct SrqState {
    /// A user SRQ's ring (a kernel SRQ's WQEs are in `posted`); replaced
    /// by a resize.
    ring: Option<UserQueue>,
    /// A user SRQ: the ring index of the next receive WQE to take.
    next: u32,
    /// The armed SRQ limit (0: not armed).
    limit: u32,
    /// A kernel SRQ's posted work requests (their SGEs in `slots`).
    posted: KernelRq,
    slots: RecvSlots,
}

impl SrqState {
    /// The work requests granted: what the ring holds, or a kernel SRQ's
    /// depth.
    fn max_wr(&self) -> u32 {
        match &self.ring {
            Some(ring) => ring.capacity(),
            None => u32::try_from(self.posted.depth()).unwrap_or(u32::MAX),
        }
    }
}

/// A receive WQE an SRQ gave: its work request id, and whether taking it
/// fired the armed limit (IBA 11.2.3.3: the WQEs left dropped below it;
/// the SRQ's `IB_EVENT_SRQ_LIMIT_REACHED` is owed, and the limit disarmed).
pub(crate) struct SrqTaken {
    pub(crate) wr_id: u64,
    /// Its capacity (the sum of its SGE lengths).
    pub(crate) len: u32,
    pub(crate) limit_reached: bool,
}

/// The rxe provider's create_srq response.
#[repr(transparent)]
struct CreateSrqResp(b::rxe_create_srq_resp);

// SAFETY: A `struct mminfo` and two u32s: no padding (rdma_user_rxe.h).
unsafe impl AsBytes for CreateSrqResp {}

/// The rxe provider's modify_srq request: where to write the new ring's
/// mmap information after a resize.
#[repr(transparent)]
#[derive(Default)]
struct ModifySrqCmd(b::rxe_modify_srq_cmd);

// SAFETY: One u64: every bit pattern is valid, no padding.
unsafe impl FromBytes for ModifySrqCmd {}
// SAFETY: As above.
unsafe impl AsBytes for ModifySrqCmd {}

/// A ring's mmap information as the provider reads it after a resize.
#[repr(transparent)]
struct MmapInfo(b::mminfo);

// SAFETY: A u64 and two u32s: no padding (rdma_user_rxe.h).
unsafe impl AsBytes for MmapInfo {}

/// The bytes of one receive WQE slot of an SRQ whose WQEs have `max_sge`
/// SGEs.
fn recv_wqe_len(max_sge: u32) -> usize {
    RXE_RECV_WQE_HEADER + max_sge as usize * RXE_SGE
}

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
    if let Some(udata) = &udata {
        udata.require_empty_input()?;
        if udata.out_len() < size_of::<b::rxe_create_srq_resp>() {
            return Err(EINVAL);
        }
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
    let (ring, resp, max_wr) = match &udata {
        Some(udata) => {
            let wqe_len = recv_wqe_len(max_sge);
            // SAFETY: The caller's live context, which outlives its SRQs.
            let ring = unsafe { UserQueue::new(udata.ucontext(), attr.max_wr, wqe_len) }?;
            let max_wr = ring.capacity();
            // Only XRC SRQs have numbers a peer uses; the provider ignores
            // this one.
            let resp = CreateSrqResp(b::rxe_create_srq_resp {
                mi: ring.mmap_info(),
                srq_num: 0,
                reserved: 0,
            });
            (Some(ring), Some(resp), max_wr)
        }
        None => (None, None, attr.max_wr),
    };
    let kernel_depth = if ring.is_some() { 0 } else { max_wr as usize };
    let posted = KernelRq::new(kernel_depth)?;
    let slots = RecvSlots::new(kernel_depth, max_sge)?;
    let quota = limit.take()?;
    let created = slot.init(pin_init!(Srq {
        _quota: quota,
        max_sge,
        state <- new_spinlock_irq!(
            SrqState {
                ring,
                next: 0,
                limit: attr.srq_limit,
                posted,
                slots,
            },
            "rvt_srq"
        ),
    }))?;
    init.attr.max_wr = max_wr;
    init.attr.max_sge = max_sge;
    if let (Some(udata), Some(resp)) = (udata, resp) {
        udata.respond(&resp)?;
    }
    Ok(created)
}

impl Srq {
    /// `modify_srq`: resizes a user SRQ (`IB_SRQ_MAX_WR`), then arms the
    /// limit (`IB_SRQ_LIMIT`, at most the queue's size). Process context.
    pub(crate) fn modify(
        &self,
        attr: &b::ib_srq_attr,
        mask: u32,
        udata: Option<&mut Udata<'_>>,
    ) -> Result {
        if mask & !(b::ib_srq_attr_mask_IB_SRQ_MAX_WR | b::ib_srq_attr_mask_IB_SRQ_LIMIT) != 0 {
            return Err(EOPNOTSUPP);
        }
        // The provider always sends its (8-byte) request.
        let cmd = match udata {
            Some(udata) => Some((
                udata.read_input::<ModifySrqCmd>(size_of::<ModifySrqCmd>())?,
                udata,
            )),
            None => None,
        };
        let new_limit = (mask & b::ib_srq_attr_mask_IB_SRQ_LIMIT != 0).then_some(attr.srq_limit);
        if mask & b::ib_srq_attr_mask_IB_SRQ_MAX_WR != 0 {
            let Some((cmd, udata)) = cmd else {
                return Err(EOPNOTSUPP);
            };
            return self.resize(attr.max_wr, new_limit, cmd.0.mmap_info_addr, udata);
        }
        if let Some(limit) = new_limit {
            let mut st = self.state.lock();
            if limit > st.max_wr() {
                return Err(EINVAL);
            }
            st.limit = limit;
        }
        Ok(())
    }

    /// A user SRQ's new ring of at least `max_wr` WQEs, and the limit
    /// `new_limit` armed if given, all or nothing: the new ring's mmap
    /// information goes to the user's `mmap_info_addr` first (a failure
    /// there changes nothing), then the WQEs posted and not yet taken move
    /// into it, in order, under the SRQ's lock (which the QPs on it take
    /// WQEs under). `EINVAL` if they or the limit would not fit (IBA
    /// 11.2.3.3); the provider keeps its old ring then. Otherwise it maps
    /// the new ring in place of the old. `EOPNOTSUPP` for a kernel SRQ.
    fn resize(
        &self,
        max_wr: u32,
        new_limit: Option<u32>,
        mmap_info_addr: u64,
        udata: &mut Udata<'_>,
    ) -> Result {
        if max_wr == 0 || max_wr > MAX_SRQ_WR {
            return Err(EINVAL);
        }
        let wqe_len = recv_wqe_len(self.max_sge);
        // SAFETY: The caller's live context, which outlives its SRQs.
        let queue = unsafe { UserQueue::new(udata.ucontext(), max_wr, wqe_len) }?;
        let capacity = queue.capacity();
        let mut wqe = KVec::from_elem(0u8, wqe_len, GFP_KERNEL)?;
        let addr = usize::try_from(mmap_info_addr).map_err(|_| EFAULT)?;
        UserSlice::new(UserPtr::from_addr(addr), size_of::<MmapInfo>())
            .writer()
            .write(&MmapInfo(queue.mmap_info()))?;
        let old = {
            let mut st = self.state.lock();
            let st = &mut *st;
            let limit = new_limit.unwrap_or(st.limit);
            // Only a user SRQ has a ring.
            let Some(ring) = &mut st.ring else {
                return Err(EOPNOTSUPP);
            };
            // The producer index is read once: whatever user space writes,
            // at most the old ring's entries are copied (at most
            // MAX_SRQ_WR - 1 WQEs of up to 552 bytes, with interrupts off).
            let waiting = ring.count(ring.producer(), st.next);
            if waiting > capacity || limit > capacity {
                return Err(EINVAL);
            }
            let mut index = st.next;
            for i in 0..waiting {
                ring.read_slot(index, 0, &mut wqe);
                queue.write_slot(i, &wqe);
                index = ring.next(index);
            }
            // The new ring starts at slot 0. User space may have mapped it
            // already (its offset is out), but the provider posts into it
            // only after this call returns: the producer index set here is
            // the one it starts from.
            queue.publish_producer(waiting);
            let old = core::mem::replace(ring, queue);
            st.next = 0;
            st.limit = limit;
            old
        };
        // Its mmap entry goes without the lock; the pages stay until user
        // space unmaps them (ib/mmap.rs).
        drop(old);
        Ok(())
    }

    /// `query_srq`.
    pub(crate) fn query(&self, attr: &mut b::ib_srq_attr) {
        let st = self.state.lock();
        attr.max_wr = st.max_wr();
        attr.max_sge = self.max_sge;
        attr.srq_limit = st.limit;
    }

    /// The SGEs a receive WQE of this SRQ may have.
    pub(crate) fn max_sge(&self) -> u32 {
        self.max_sge
    }

    /// Takes the oldest receive WQE posted, if any, copying its SGE list
    /// into slot `slot` of a QP's receive slots (a user ring slot is user
    /// space's again when this returns). Any context.
    pub(crate) fn take(&self, into: &mut RecvSlots, slot: u32) -> Option<SrqTaken> {
        let mut st = self.state.lock();
        let st = &mut *st;
        let (wr_id, len, left) = match &st.ring {
            Some(ring) => {
                let producer = ring.producer();
                if st.next == producer {
                    return None;
                }
                let index = st.next;
                let (wr_id, len) = into.take(ring, index, slot);
                st.next = ring.next(index);
                ring.publish_consumer(st.next);
                (wr_id, len, ring.count(producer, st.next))
            }
            None => {
                let (from, wr_id, len) = st.posted.pop()?;
                into.copy_from(slot, &st.slots, from as usize)?;
                (wr_id, len, st.posted.len() as u32)
            }
        };
        let limit_reached = st.limit != 0 && left < st.limit;
        if limit_reached {
            st.limit = 0;
        }
        Some(SrqTaken {
            wr_id,
            len,
            limit_reached,
        })
    }

    /// `post_srq_recv` of a kernel SRQ: each work request checked (SGE
    /// count) and its SGE list copied. `EINVAL` (too many SGEs, a user
    /// SRQ), `ENOMEM` (full), `bad_wr` naming the request. Any context.
    pub(crate) fn post_kernel(
        &self,
        first: *const b::ib_recv_wr,
        bad_wr: &mut *const b::ib_recv_wr,
    ) -> Result {
        let mut st = self.state.lock();
        if st.ring.is_some() {
            return Err(EINVAL);
        }
        // SAFETY: ib_core passes a valid list.
        unsafe { kwr::for_each(first, bad_wr, |w| self.post_one(&mut st, w)) }
    }

    fn post_one(&self, st: &mut SrqState, w: &b::ib_recv_wr) -> Result {
        let num_sge = u32::try_from(w.num_sge).map_err(|_| EINVAL)?;
        if num_sge > self.max_sge {
            return Err(EINVAL);
        }
        let slot = st.posted.tail().ok_or(ENOMEM)?;
        // SAFETY: A kernel work request's `sg_list` holds `num_sge` SGEs.
        let sges = unsafe { kwr::sges(w.sg_list, num_sge) };
        let len = st.slots.store_sges(slot, sges).ok_or(EINVAL)?;
        // SAFETY: Both members of the union are the same 64 bits.
        let wr_id = unsafe { w.__bindgen_anon_1.wr_id };
        st.posted.push(slot, wr_id, len);
        Ok(())
    }
}
