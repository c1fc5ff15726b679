// SPDX-License-Identifier: GPL-2.0

//! A spinlock taken with bottom halves disabled (`spin_lock_bh`), the lock
//! of a QP's transport state.
//!
//! A QP is driven from process context (the send doorbell, modify, destroy)
//! and from softirq (received packets, its soft hrtimer): a plain spinlock
//! would deadlock when a softirq interrupts its holder on the same CPU. An
//! IRQ-disabling lock is not needed (nothing takes it in hard interrupt
//! context) and would be wrong: the lock is held across transmission, and
//! the network stack's `local_bh_enable` warns with interrupts off. The
//! kernel crate offers `SpinLock` and `SpinLockIrq` only, hence this
//! backend.

use kernel::{bindings, ffi::c_char, sync::lock::Backend};

use crate::bindings as b;

/// The [`Backend`] of [`SpinLockBh`].
pub(crate) struct SpinLockBhBackend;

/// A spinlock whose holder runs with bottom halves disabled. Create it
/// with [`new_spinlock_bh!`].
pub(crate) type SpinLockBh<T> = kernel::sync::lock::Lock<T, SpinLockBhBackend>;

/// A [`SpinLockBh`] initialiser with a lock class of its own (one per call
/// site), like the kernel crate's `new_spinlock!`.
macro_rules! new_spinlock_bh {
    ($inner:expr, $name:literal) => {
        $crate::transport::lock::SpinLockBh::new(
            $inner,
            kernel::c_str!($name),
            kernel::static_lock_class!(),
        )
    };
}
pub(crate) use new_spinlock_bh;

// SAFETY: `lock`, `unlock` and `try_lock` are `spin_lock_bh`,
// `spin_unlock_bh` and `spin_trylock_bh` on a spinlock initialised by
// `init`: they give mutual exclusion, and unlock undoes what lock did (the
// guard state is empty: the BH count is per CPU, and the holder cannot
// migrate with BHs off).
unsafe impl Backend for SpinLockBhBackend {
    type State = bindings::spinlock_t;
    type GuardState = ();

    unsafe fn init(ptr: *mut Self::State, name: *const c_char, key: *mut bindings::lock_class_key) {
        // SAFETY: Per the trait contract `ptr` is valid for writes and
        // `name` and `key` live forever.
        unsafe { bindings::__spin_lock_init(ptr, name, key) }
    }

    unsafe fn lock(ptr: *mut Self::State) -> Self::GuardState {
        // SAFETY: An initialised spinlock (the trait contract).
        unsafe { b::rvt_helper_spin_lock_bh(ptr.cast()) }
    }

    unsafe fn unlock(ptr: *mut Self::State, _guard_state: &Self::GuardState) {
        // SAFETY: Held by the caller (the trait contract).
        unsafe { b::rvt_helper_spin_unlock_bh(ptr.cast()) }
    }

    unsafe fn try_lock(ptr: *mut Self::State) -> Option<Self::GuardState> {
        // SAFETY: An initialised spinlock (the trait contract).
        (unsafe { b::rvt_helper_spin_trylock_bh(ptr.cast()) } != 0).then_some(())
    }

    unsafe fn assert_is_held(ptr: *mut Self::State) {
        // SAFETY: An initialised spinlock (the trait contract).
        unsafe { bindings::spin_assert_is_held(ptr) }
    }
}
