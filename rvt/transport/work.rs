// SPDX-License-Identifier: GPL-2.0

//! rvt's workqueue and the work item of a QP.
//!
//! A QP's work item transmits what the inline paths left (long messages,
//! a device queue that was full) in bounded batches. As for the timer
//! (timer.rs), the QP's memory belongs to ib_core and what proves it alive
//! when the work runs is the synchronous disable in the QP's shutdown, so
//! this is a thin wrapper over `work_struct` rather than the kernel crate's
//! `Work<T>`, whose pointer types own their object.

use core::ptr::NonNull;

use kernel::{bindings, prelude::*, types::Opaque};

/// A device's workqueue (`rvt_wq`): high priority, since it carries the
/// data path's deferred transmissions; per CPU, so a QP's work runs where
/// it was queued (the doorbell's or the packet's CPU, cache-warm); usable
/// under memory reclaim, since storage ULPs (iSER, NVMe-oF) write back
/// through it.
///
/// # Invariants
///
/// `wq` is a live workqueue owned by this object.
pub(crate) struct Workqueue {
    wq: NonNull<bindings::workqueue_struct>,
}

// SAFETY: A workqueue is used from any CPU.
unsafe impl Send for Workqueue {}
// SAFETY: As above.
unsafe impl Sync for Workqueue {}

impl Workqueue {
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: A constant format without conversions.
        let wq = unsafe {
            bindings::alloc_workqueue_noprof(
                c"rvt_wq".as_char_ptr(),
                bindings::wq_flags_WQ_HIGHPRI
                    | bindings::wq_flags_WQ_MEM_RECLAIM
                    | bindings::wq_flags_WQ_PERCPU,
                0,
            )
        };
        // INVARIANT: a fresh workqueue, ours.
        Ok(Self {
            wq: NonNull::new(wq).ok_or(ENOMEM)?,
        })
    }

    fn raw(&self) -> *mut bindings::workqueue_struct {
        self.wq.as_ptr()
    }
}

impl Drop for Workqueue {
    fn drop(&mut self) {
        // SAFETY: Ours (type invariant); drains what is still queued.
        unsafe { bindings::destroy_workqueue(self.raw()) };
    }
}

/// The work function type: gets the work item.
pub(crate) type WorkFn = unsafe extern "C" fn(*mut bindings::work_struct);

/// A work item embedded in a pinned object.
#[repr(transparent)]
#[pin_data]
pub(crate) struct QpWork {
    #[pin]
    work: Opaque<bindings::work_struct>,
}

// SAFETY: A work item is queued from any CPU through its own atomics.
unsafe impl Send for QpWork {}
// SAFETY: As above.
unsafe impl Sync for QpWork {}

impl QpWork {
    /// A work item that runs `func`, which finds its object with
    /// `container_of!` on [`QpWork::raw`]'s address.
    pub(crate) fn new(func: WorkFn) -> impl PinInit<Self> {
        pin_init!(Self {
            // SAFETY: Initialises the pinned work item in place; the name
            // and lock class are static.
            work <- Opaque::ffi_init(move |w| unsafe {
                bindings::init_work_with_key(
                    w,
                    Some(func),
                    false,
                    c"rvt_qp_work".as_char_ptr(),
                    kernel::static_lock_class!().as_ptr(),
                )
            }),
        })
    }

    /// The C work item (what the work function receives).
    pub(crate) fn raw(&self) -> *mut bindings::work_struct {
        self.work.get()
    }

    /// Queues the work on `wq` unless it is already pending (or disabled).
    /// Any context.
    pub(crate) fn queue(&self, wq: &Workqueue) {
        // SAFETY: An initialised work item and a live workqueue.
        unsafe {
            bindings::queue_work_on(
                bindings::wq_misc_consts_WORK_CPU_UNBOUND as c_int,
                wq.raw(),
                self.raw(),
            )
        };
    }

    /// Waits for a running instance to finish and makes every later
    /// [`QpWork::queue`] a no-op, for good. Process context.
    pub(crate) fn disable_sync(&self) {
        // SAFETY: An initialised work item; may sleep, which the caller allows.
        unsafe { bindings::disable_work_sync(self.raw()) };
    }
}
