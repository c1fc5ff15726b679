// SPDX-License-Identifier: GPL-2.0

//! A QP's one timer: a soft hrtimer (its callback runs in softirq, where
//! the QP's BH lock and transmission are legal) on CLOCK_MONOTONIC,
//! programmed to the engine's earliest deadline.
//!
//! The kernel crate's `HrTimer<T>` reaches its object through a pointer
//! type that owns or borrows it (`Arc`, `Pin<KBox>`, ...). A QP's memory is
//! owned by ib_core instead (allocated with the `ib_qp`, freed after
//! `destroy_qp` returns), and what proves it alive in the callback is the
//! synchronous cancel in the QP's shutdown. Hence this thin wrapper, whose
//! users state that rule where they create one.

use kernel::{bindings, prelude::*, types::Opaque};

/// The callback type: gets the timer, returns `HRTIMER_NORESTART`.
pub(crate) type TimerFn = unsafe extern "C" fn(*mut bindings::hrtimer) -> bindings::hrtimer_restart;

/// Slack granted to the timer: the engine's deadlines are not that precise.
const SLACK_NS: u64 = 1_000;

/// An hrtimer embedded in a pinned object.
#[repr(transparent)]
#[pin_data]
pub(crate) struct QpTimer {
    #[pin]
    timer: Opaque<bindings::hrtimer>,
}

// SAFETY: An hrtimer is used from any CPU through its own locking.
unsafe impl Send for QpTimer {}
// SAFETY: As above.
unsafe impl Sync for QpTimer {}

impl QpTimer {
    /// A timer that calls `callback`, which finds its object with
    /// `container_of!` on [`QpTimer::raw`]'s address.
    pub(crate) fn new(callback: TimerFn) -> impl PinInit<Self> {
        pin_init!(Self {
            // SAFETY: Initialises the pinned hrtimer in place.
            timer <- Opaque::ffi_init(move |t| unsafe {
                bindings::hrtimer_setup(
                    t,
                    Some(callback),
                    bindings::CLOCK_MONOTONIC as bindings::clockid_t,
                    bindings::hrtimer_mode_HRTIMER_MODE_ABS_SOFT,
                )
            }),
        })
    }

    /// The C timer (what the callback receives).
    pub(crate) fn raw(&self) -> *mut bindings::hrtimer {
        self.timer.get()
    }

    /// Fires the callback once at `deadline_ns` (CLOCK_MONOTONIC), replacing
    /// any earlier programming. Any context, the callback itself included.
    pub(crate) fn arm(&self, deadline_ns: u64) {
        let deadline = i64::try_from(deadline_ns).unwrap_or(i64::MAX);
        // SAFETY: An initialised timer (`new`).
        unsafe {
            bindings::hrtimer_start_range_ns(
                self.raw(),
                deadline,
                SLACK_NS,
                bindings::hrtimer_mode_HRTIMER_MODE_ABS_SOFT,
            )
        };
    }

    /// Cancels a pending expiry without waiting for a running callback.
    /// Any context.
    pub(crate) fn try_disarm(&self) {
        // SAFETY: An initialised timer; never waits.
        unsafe { bindings::hrtimer_try_to_cancel(self.raw()) };
    }

    /// Cancels the timer and waits for a running callback to return.
    /// Process context; the caller must make sure nothing arms it again.
    pub(crate) fn cancel_sync(&self) {
        // SAFETY: An initialised timer; may sleep, which the caller allows.
        unsafe { bindings::hrtimer_cancel(self.raw()) };
    }
}

/// The current time on the timer's clock, in ns.
pub(crate) fn now_ns() -> u64 {
    // SAFETY: Reads the clock; any context.
    let now = unsafe { bindings::ktime_get() };
    u64::try_from(now).unwrap_or(0)
}
