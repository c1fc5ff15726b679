// SPDX-License-Identifier: GPL-2.0

//! Completion queues (IBA 11.2.8, 11.4.2).
//!
//! A kernel CQ is a ring of `ib_wc` in kernel memory; a user CQ is an rxe
//! ring of `ib_uverbs_wc` mapped into the process, which polls it without
//! a system call (rvt/uapi/queue.rs). Either sits behind an IRQ-safe
//! spinlock: completions are produced from softirq (receive), hrtimer and
//! work-item context, and kernel CQs are polled from any context, hard
//! interrupts included.
//!
//! Two rdma_rxe bugs are ruled out by construction:
//! - The completion handler runs after the CQ lock is released, so a
//!   handler that re-arms the CQ (`ib_req_notify_cq`) or polls it, as every
//!   ULP does, cannot deadlock on it.
//! - A full CQ never drops a completion silently: [`Cq::push`] refuses it
//!   (the producer keeps it and retries when the consumer has made room) and
//!   the CQ's event handler gets `IB_EVENT_CQ_ERR` (IBA 11.6.2: CQ overrun is
//!   an affiliated asynchronous error).

use core::mem::size_of;

use kernel::{new_spinlock_irq, prelude::*, sync::SpinLockIrq, transmute::AsBytes};

use super::quota::{Limit, Quota};
use crate::{
    bindings as b,
    ib::{Created, IbObject, Slot, Udata},
    uapi::queue::UserQueue,
};

/// Entries per CQ: what `ib_query_device` advertises as `max_cqe`.
pub(crate) const MAX_CQE: u32 = (1 << 16) - 1;
/// Completion queues per device.
pub(crate) const MAX_CQ: u32 = 1 << 14;

/// What arms the completion handler (IBA 11.4.2.2, Request Completion
/// Notification).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Arm {
    /// Not armed.
    None,
    /// The next solicited completion, or the next unsuccessful one.
    Solicited,
    /// The next completion of any kind.
    NextCompletion,
}

impl Arm {
    /// Whether a completion fires this arm.
    fn fired_by(self, wc: &b::ib_wc, solicited: bool) -> bool {
        match self {
            Arm::None => false,
            Arm::Solicited => solicited || wc.status != b::ib_wc_status_IB_WC_SUCCESS,
            Arm::NextCompletion => true,
        }
    }
}

/// A completion as a kernel consumer polls it.
#[derive(Clone, Copy, Default)]
struct Wc(b::ib_wc);

// SAFETY: The pointers in an `ib_wc` (the consumer's `wr_cqe`, the QP) are
// values handed back to the consumer; rvt never dereferences them.
unsafe impl Send for Wc {}
// SAFETY: As above.
unsafe impl Sync for Wc {}

/// A kernel CQ's ring.
///
/// # Invariants
///
/// `len <= entries.len()`, `head < entries.len()` (the ring is never
/// empty); the `len` entries from `head` (wrapping) are the completions not
/// yet polled.
struct KernelRing {
    entries: KVVec<Wc>,
    head: usize,
    len: usize,
}

impl KernelRing {
    fn with_capacity(capacity: usize) -> Result<Self> {
        let mut entries = KVVec::with_capacity(capacity, GFP_KERNEL)?;
        for _ in 0..capacity {
            entries.push(Wc::default(), GFP_KERNEL)?;
        }
        // INVARIANT: empty, `head` 0 of a non-empty ring (`capacity` >= 1).
        Ok(Self {
            entries,
            head: 0,
            len: 0,
        })
    }

    fn capacity(&self) -> usize {
        self.entries.len()
    }

    /// The slot `offset` entries after the head.
    fn index(&self, offset: usize) -> usize {
        // No overflow: both are below the capacity, itself far below usize::MAX.
        (self.head + offset) % self.capacity()
    }

    fn push(&mut self, wc: &b::ib_wc) -> Result<(), CqFull> {
        if self.len == self.capacity() {
            return Err(CqFull);
        }
        let tail = self.index(self.len);
        if let Some(slot) = self.entries.get_mut(tail) {
            *slot = Wc(*wc);
        }
        self.len += 1;
        Ok(())
    }

    fn poll(&mut self, wc: &mut [b::ib_wc]) -> usize {
        let count = self.len.min(wc.len());
        for out in wc.iter_mut().take(count) {
            if let Some(entry) = self.entries.get(self.head) {
                *out = entry.0;
            }
            self.head = self.index(1);
            self.len -= 1;
        }
        count
    }
}

/// A user CQ's ring: rvt produces, the process consumes.
struct UserRing {
    queue: UserQueue,
    /// The kernel's own producer index (the shared copy is only written).
    producer: u32,
}

impl UserRing {
    fn push(&mut self, wc: &b::ib_wc, qp_num: u32) -> Result<(), CqFull> {
        let next = self.queue.next(self.producer);
        if next == self.queue.consumer() {
            return Err(CqFull);
        }
        let uwc = UserWc::from_kernel(wc, qp_num);
        self.queue.write_slot(self.producer, uwc.as_bytes());
        self.producer = next;
        self.queue.publish_producer(next);
        Ok(())
    }

    fn len(&self) -> u32 {
        self.queue.count(self.producer, self.queue.consumer())
    }
}

/// A completion as the rxe provider reads it from a user CQ.
#[repr(transparent)]
struct UserWc(b::ib_uverbs_wc);

// SAFETY: `struct ib_uverbs_wc` is 48 bytes of integers with no padding
// (include/uapi/rdma/ib_user_verbs.h), so every byte is initialised.
unsafe impl AsBytes for UserWc {}

impl UserWc {
    /// The user view of a kernel completion. `wc_flags` are translated:
    /// libibverbs numbers two of them differently from the kernel
    /// (IBV_WC_IP_CSUM_OK is bit 2 and IBV_WC_WITH_INV bit 3, the reverse of
    /// IB_WC_WITH_INVALIDATE and IB_WC_IP_CSUM_OK).
    fn from_kernel(wc: &b::ib_wc, qp_num: u32) -> Self {
        let kernel_flags = wc.wc_flags as u32;
        let mut flags = kernel_flags & (b::ib_wc_flags_IB_WC_GRH | b::ib_wc_flags_IB_WC_WITH_IMM);
        if kernel_flags & b::ib_wc_flags_IB_WC_WITH_INVALIDATE != 0 {
            flags |= IBV_WC_WITH_INV;
        }
        if kernel_flags & b::ib_wc_flags_IB_WC_IP_CSUM_OK != 0 {
            flags |= IBV_WC_IP_CSUM_OK;
        }
        // SAFETY: `wr_id` is the member of the union rvt's producers set;
        // `ex` is plain data either way.
        let (wr_id, ex) = unsafe { (wc.__bindgen_anon_1.wr_id, wc.ex.invalidate_rkey) };
        let mut uwc = b::ib_uverbs_wc {
            wr_id,
            status: wc.status,
            opcode: wc.opcode,
            vendor_err: wc.vendor_err,
            byte_len: wc.byte_len,
            qp_num,
            src_qp: wc.src_qp,
            wc_flags: flags,
            pkey_index: wc.pkey_index,
            // A 16-bit LID on the wire (IB); 0 for RoCE.
            slid: wc.slid as u16,
            sl: wc.sl,
            dlid_path_bits: wc.dlid_path_bits,
            port_num: wc.port_num as u8,
            ..Default::default()
        };
        uwc.ex.invalidate_rkey = ex;
        Self(uwc)
    }

    fn as_bytes(&self) -> &[u8] {
        AsBytes::as_bytes(self)
    }
}

/// libibverbs' `IBV_WC_IP_CSUM_OK` and `IBV_WC_WITH_INV` (verbs.h).
const IBV_WC_IP_CSUM_OK: u32 = 1 << 2;
const IBV_WC_WITH_INV: u32 = 1 << 3;

/// The CQ's entries.
enum Ring {
    Kernel(KernelRing),
    User(UserRing),
}

/// The ring and its notification state, under the CQ's lock.
struct CqState {
    ring: Ring,
    arm: Arm,
    /// An overrun was reported and the CQ has not taken a completion since:
    /// a producer retrying against a full CQ raises one event, not many.
    overrun_reported: bool,
}

impl CqState {
    fn len(&self) -> usize {
        match &self.ring {
            Ring::Kernel(ring) => ring.len,
            Ring::User(ring) => ring.len() as usize,
        }
    }
}

/// What rvt keeps per CQ.
#[pin_data]
pub(crate) struct Cq {
    _quota: Quota,
    #[pin]
    state: SpinLockIrq<CqState>,
}

/// A completion for a CQ: what a kernel consumer polls, and the number of
/// the QP it belongs to (what a user consumer reads).
pub(crate) struct CqEntry {
    pub(crate) wc: b::ib_wc,
    pub(crate) qp_num: u32,
}

/// A completion was refused: the CQ is full.
#[derive(Debug)]
pub(crate) struct CqFull;

/// `create_cq`, for kernel (`udata` None) and user callers.
pub(crate) fn create<'a>(
    limit: &Limit,
    slot: Slot<'a, b::ib_cq, Cq>,
    attr: &b::ib_cq_init_attr,
    udata: Option<&mut Udata<'_>>,
) -> Result<Created<'a, b::ib_cq, Cq>> {
    // No creation flags (timestamps, ...) or driver data are supported.
    if attr.flags != 0 {
        return Err(EOPNOTSUPP);
    }
    if let Some(udata) = &udata {
        udata.require_empty_input()?;
    }
    // IBA 11.2.8.1: at least one entry, at most what the device advertises.
    if attr.cqe == 0 || attr.cqe > MAX_CQE || attr.comp_vector != 0 {
        return Err(EINVAL);
    }
    let quota = limit.take()?;
    let (ring, capacity) = match &udata {
        None => (
            Ring::Kernel(KernelRing::with_capacity(usize::try_from(attr.cqe)?)?),
            attr.cqe,
        ),
        Some(udata) => {
            // The provider cannot work without the ring's mmap information.
            if udata.out_len() < size_of::<b::rxe_create_cq_resp>() {
                return Err(EINVAL);
            }
            // SAFETY: The caller's live context, which outlives its CQs.
            let queue = unsafe {
                UserQueue::new(udata.ucontext(), attr.cqe, size_of::<b::ib_uverbs_wc>())
            }?;
            let capacity = queue.capacity();
            (Ring::User(UserRing { queue, producer: 0 }), capacity)
        }
    };
    let raw = slot.as_raw();
    let created = slot.init(pin_init!(Cq {
        _quota: quota,
        state <- new_spinlock_irq!(
            CqState {
                ring,
                arm: Arm::None,
                overrun_reported: false,
            },
            "rvt_cq"
        ),
    }))?;
    if let Some(udata) = udata {
        let resp = CreateCqResp(b::rxe_create_cq_resp {
            mi: created.data().mmap_info(),
        });
        // On failure `created` is dropped: the CQ and its ring go.
        udata.respond(&resp)?;
    }
    // What the CQ holds, for ib_core and its callers (cq->cqe).
    // SAFETY: The CQ is being created: nobody else uses it yet.
    unsafe { (*raw).cqe = capacity as c_int };
    Ok(created)
}

/// `resize_user_cq` (IBA 11.2.8.3): a new ring of at least `cqe`
/// entries, the completions not yet polled moved into it in order, its
/// mmap information for the provider, which maps it in place of the old
/// one. `EINVAL` if the completions waiting would not fit. Process context.
pub(crate) fn resize_user(
    cq: &IbObject<b::ib_cq, Cq>,
    cqe: u32,
    udata: &mut Udata<'_>,
) -> Result<u32> {
    udata.require_empty_input()?;
    if cqe == 0 || cqe > MAX_CQE {
        return Err(EINVAL);
    }
    if udata.out_len() < size_of::<b::rxe_resize_cq_resp>() {
        return Err(EINVAL);
    }
    // SAFETY: The caller's live context, which outlives its CQs.
    let queue = unsafe { UserQueue::new(udata.ucontext(), cqe, size_of::<b::ib_uverbs_wc>()) }?;
    let capacity = queue.capacity();
    // On a later failure the provider ignores the response.
    udata.respond(&ResizeCqResp(b::rxe_resize_cq_resp {
        mi: queue.mmap_info(),
    }))?;
    let old = {
        let mut state = cq.data().state.lock();
        let Ring::User(ring) = &mut state.ring else {
            return Err(EINVAL);
        };
        // The consumer index is read once: whatever user space wrote, at
        // most the old ring's entries are copied.
        let consumer = ring.queue.consumer();
        let waiting = ring.queue.count(ring.producer, consumer);
        if waiting > capacity {
            return Err(EINVAL);
        }
        let mut wc = [0u8; size_of::<b::ib_uverbs_wc>()];
        let mut index = consumer;
        for i in 0..waiting {
            ring.queue.read_slot(index, 0, &mut wc);
            queue.write_slot(i, &wc);
            index = ring.queue.next(index);
        }
        queue.publish_producer(waiting);
        ring.producer = waiting;
        core::mem::replace(&mut ring.queue, queue)
    };
    // Its mmap entry goes without the lock; the pages stay until user
    // space unmaps them (ib/mmap.rs).
    drop(old);
    Ok(capacity)
}

/// The rxe provider's resize_cq response.
#[repr(transparent)]
struct ResizeCqResp(b::rxe_resize_cq_resp);

// SAFETY: A `struct mminfo` (u64, u32, u32): no padding (rdma_user_rxe.h).
unsafe impl AsBytes for ResizeCqResp {}

/// The rxe provider's create_cq response.
#[repr(transparent)]
struct CreateCqResp(b::rxe_create_cq_resp);

// SAFETY: `struct rxe_create_cq_resp` is a `struct mminfo` (u64, u32, u32):
// no padding (rdma_user_rxe.h).
unsafe impl AsBytes for CreateCqResp {}

/// What a [`Cq::push_quiet`] owes the CQ's consumer, to be delivered with
/// [`Cq::fire`] once the producer holds no lock: a handler may poll the
/// CQ, re-arm it or post to a QP.
#[must_use = "deliver it with Cq::fire"]
#[derive(Clone, Copy, Default)]
pub(crate) struct Fire {
    /// Call the completion handler (the CQ was armed and the completion fired it).
    completion: bool,
    /// Raise `IB_EVENT_CQ_ERR` (the CQ overran).
    overrun: bool,
}

impl Fire {
    /// Both owed.
    pub(crate) fn merge(&mut self, other: Fire) {
        self.completion |= other.completion;
        self.overrun |= other.overrun;
    }
}

impl Cq {
    /// Adds a completion and calls the consumer's handlers (see
    /// [`Cq::push_quiet`]). Any context, with no lock of the caller held.
    #[cfg_attr(not(CONFIG_KUNIT), allow(dead_code))]
    pub(crate) fn push(
        cq: &IbObject<b::ib_cq, Cq>,
        entry: &CqEntry,
        solicited: bool,
    ) -> Result<(), CqFull> {
        let (pushed, fire) = Self::push_quiet(cq, entry, solicited);
        Self::fire(cq, fire);
        pushed
    }

    /// Adds a completion (`solicited`: its request asked for a solicited
    /// event). If the CQ is full the completion is refused, not lost: the
    /// caller keeps it and tries again later, and the first refusal since
    /// the CQ last took one owes `IB_EVENT_CQ_ERR`. The handlers are not
    /// called here but owed in the returned [`Fire`]. Any context.
    pub(crate) fn push_quiet(
        cq: &IbObject<b::ib_cq, Cq>,
        entry: &CqEntry,
        solicited: bool,
    ) -> (Result<(), CqFull>, Fire) {
        let mut state = cq.data().state.lock();
        let pushed = match &mut state.ring {
            Ring::Kernel(ring) => ring.push(&entry.wc),
            Ring::User(ring) => ring.push(&entry.wc, entry.qp_num),
        };
        let mut fire = Fire::default();
        match pushed {
            Ok(()) => {
                state.overrun_reported = false;
                if state.arm.fired_by(&entry.wc, solicited) {
                    // One handler call per arming (IBA 11.4.2.2).
                    state.arm = Arm::None;
                    fire.completion = true;
                }
            }
            // Report an overrun once until the CQ takes a completion again.
            Err(_) => fire.overrun = !core::mem::replace(&mut state.overrun_reported, true),
        }
        (pushed, fire)
    }

    /// Calls the handlers a push owed. Any context, with no lock of the
    /// caller held.
    pub(crate) fn fire(cq: &IbObject<b::ib_cq, Cq>, fire: Fire) {
        if fire.overrun {
            Self::report_overrun(cq);
        }
        if fire.completion {
            Self::call_completion_handler(cq);
        }
    }

    fn call_completion_handler(cq: &IbObject<b::ib_cq, Cq>) {
        let raw = cq.as_raw();
        // SAFETY: ib_core set the handler and context before it created the
        // CQ and does not change them while it lives.
        let (handler, context) = unsafe { ((*raw).comp_handler, (*raw).cq_context) };
        if let Some(handler) = handler {
            // SAFETY: The consumer's handler, called as ib_core documents.
            unsafe { handler(raw, context) };
        }
    }

    fn report_overrun(cq: &IbObject<b::ib_cq, Cq>) {
        let raw = cq.as_raw();
        // SAFETY: As for the completion handler.
        let (handler, context) = unsafe { ((*raw).event_handler, (*raw).cq_context) };
        let Some(handler) = handler else {
            return;
        };
        let mut event = b::ib_event {
            device: cq.device(),
            event: b::ib_event_type_IB_EVENT_CQ_ERR,
            ..Default::default()
        };
        event.element.cq = raw;
        // SAFETY: The consumer's event handler with a valid event.
        unsafe { handler(&mut event, context) };
    }

    /// Completions waiting in the CQ.
    pub(crate) fn queued(&self) -> u32 {
        u32::try_from(self.state.lock().len()).unwrap_or(u32::MAX)
    }

    /// `poll_cq`: moves the oldest completions into `wc`, in order. A user
    /// CQ is polled by its process, never here.
    pub(crate) fn poll(&self, wc: &mut [b::ib_wc]) -> usize {
        match &mut self.state.lock().ring {
            Ring::Kernel(ring) => ring.poll(wc),
            Ring::User(_) => 0,
        }
    }

    /// `req_notify_cq`: arms the handler; with `IB_CQ_REPORT_MISSED_EVENTS`
    /// tells whether completions are already waiting (the caller then polls
    /// again instead of waiting for an event that will not come).
    pub(crate) fn req_notify(&self, flags: u32) -> Result<bool> {
        let arm = match flags & b::ib_cq_notify_flags_IB_CQ_SOLICITED_MASK {
            b::ib_cq_notify_flags_IB_CQ_SOLICITED => Arm::Solicited,
            b::ib_cq_notify_flags_IB_CQ_NEXT_COMP => Arm::NextCompletion,
            _ => return Err(EINVAL),
        };
        let mut state = self.state.lock();
        // Arming for solicited completions keeps an armed "next completion".
        state.arm = state.arm.max(arm);
        Ok(flags & b::ib_cq_notify_flags_IB_CQ_REPORT_MISSED_EVENTS != 0 && state.len() != 0)
    }

    /// Where user space maps the ring (zero for a kernel CQ).
    fn mmap_info(&self) -> b::mminfo {
        match &self.state.lock().ring {
            Ring::Kernel(_) => b::mminfo::default(),
            Ring::User(ring) => ring.queue.mmap_info(),
        }
    }
}
