// SPDX-License-Identifier: GPL-2.0

//! Completion queues (IBA 11.2.8, 11.4.2).
//!
//! A kernel CQ is a ring of `ib_wc` in kernel memory behind an IRQ-safe
//! spinlock: completions are produced from softirq (receive), hrtimer and
//! work-item context and polled from any context, hard interrupts included.
//!
//! Two rdma_rxe bugs are ruled out by construction:
//! - The completion handler runs after the CQ lock is released, so a
//!   handler that re-arms the CQ (`ib_req_notify_cq`) or polls it, as every
//!   ULP does, cannot deadlock on it.
//! - A full CQ never drops a completion silently: [`Cq::push`] refuses it
//!   (the producer keeps it and retries when the consumer has made room) and
//!   the CQ's event handler gets `IB_EVENT_CQ_ERR` (IBA 11.6.2: CQ overrun is
//!   an affiliated asynchronous error).

use kernel::{new_spinlock_irq, prelude::*, sync::SpinLockIrq};

use super::quota::{Limit, Quota};
use crate::{
    bindings as b,
    ib::{Created, IbObject, Slot, Udata},
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

/// The ring and its notification state.
///
/// # Invariants
///
/// `len <= ring.len()`, `head < ring.len()` (the ring is never empty); the
/// `len` entries from `head` (wrapping) are the completions not yet polled.
struct Ring {
    ring: KVVec<Wc>,
    head: usize,
    len: usize,
    arm: Arm,
}

impl Ring {
    fn with_capacity(entries: usize) -> Result<Self> {
        let mut ring = KVVec::with_capacity(entries, GFP_KERNEL)?;
        for _ in 0..entries {
            ring.push(Wc::default(), GFP_KERNEL)?;
        }
        // INVARIANT: empty, `head` 0 of a non-empty ring (`entries` >= 1).
        Ok(Self {
            ring,
            head: 0,
            len: 0,
            arm: Arm::None,
        })
    }

    fn capacity(&self) -> usize {
        self.ring.len()
    }

    /// The slot `offset` entries after the head.
    fn index(&self, offset: usize) -> usize {
        // No overflow: both are below the capacity, itself far below usize::MAX.
        (self.head + offset) % self.capacity()
    }
}

/// What rvt keeps per CQ.
#[pin_data]
pub(crate) struct Cq {
    _quota: Quota,
    #[pin]
    ring: SpinLockIrq<Ring>,
}

/// A completion was refused: the CQ is full.
#[derive(Debug)]
#[cfg_attr(not(CONFIG_KUNIT), allow(dead_code))]
pub(crate) struct CqFull;

/// `create_cq`: kernel CQs; user CQs (the rxe ring ABI) are not there yet.
pub(crate) fn create<'a>(
    limit: &Limit,
    slot: Slot<'a, b::ib_cq, Cq>,
    attr: &b::ib_cq_init_attr,
    udata: Option<&mut Udata<'_>>,
) -> Result<Created<'a, b::ib_cq, Cq>> {
    if udata.is_some() {
        return Err(EOPNOTSUPP);
    }
    // No creation flags (timestamps, ...) are supported.
    if attr.flags != 0 {
        return Err(EOPNOTSUPP);
    }
    // IBA 11.2.8.1: at least one entry, at most what the device advertises.
    if attr.cqe == 0 || attr.cqe > MAX_CQE || attr.comp_vector != 0 {
        return Err(EINVAL);
    }
    let entries = usize::try_from(attr.cqe)?;
    let raw = slot.as_raw();
    let created = slot.init(try_pin_init!(Cq {
        _quota: limit.take()?,
        ring <- new_spinlock_irq!(Ring::with_capacity(entries)?, "rvt_cq"),
    }? Error))?;
    // What the CQ holds, for ib_core's callers (cq->cqe).
    // SAFETY: The CQ is being created: nobody else uses it yet.
    unsafe { (*raw).cqe = attr.cqe as c_int };
    Ok(created)
}

// The transport produces completions through `push` once QPs exist; until
// then only the KUnit suite does.
#[cfg_attr(not(CONFIG_KUNIT), allow(dead_code))]
impl Cq {
    /// Adds a completion (`solicited`: its request asked for a solicited
    /// event). If the CQ is full the completion is refused, not lost: the
    /// caller keeps it, and the CQ's event handler gets `IB_EVENT_CQ_ERR`.
    /// Any context.
    pub(crate) fn push(
        cq: &IbObject<b::ib_cq, Cq>,
        wc: &b::ib_wc,
        solicited: bool,
    ) -> Result<(), CqFull> {
        let fire = {
            let mut ring = cq.data().ring.lock();
            if ring.len == ring.capacity() {
                None
            } else {
                let tail = ring.index(ring.len);
                if let Some(slot) = ring.ring.get_mut(tail) {
                    *slot = Wc(*wc);
                }
                ring.len += 1;
                let fire = ring.arm.fired_by(wc, solicited);
                if fire {
                    // One handler call per arming (IBA 11.4.2.2).
                    ring.arm = Arm::None;
                }
                Some(fire)
            }
        };
        // The handlers run without the lock: they may poll and re-arm.
        match fire {
            None => {
                Self::report_overrun(cq);
                Err(CqFull)
            }
            Some(true) => {
                Self::call_completion_handler(cq);
                Ok(())
            }
            Some(false) => Ok(()),
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

    /// `poll_cq`: moves the oldest completions into `wc`, in order.
    pub(crate) fn poll(&self, wc: &mut [b::ib_wc]) -> usize {
        let mut ring = self.ring.lock();
        let count = ring.len.min(wc.len());
        for out in wc.iter_mut().take(count) {
            let head = ring.head;
            if let Some(entry) = ring.ring.get(head) {
                *out = entry.0;
            }
            ring.head = ring.index(1);
            ring.len -= 1;
        }
        count
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
        let mut ring = self.ring.lock();
        // Arming for solicited completions keeps an armed "next completion".
        ring.arm = ring.arm.max(arm);
        Ok(flags & b::ib_cq_notify_flags_IB_CQ_REPORT_MISSED_EVENTS != 0 && ring.len != 0)
    }
}
