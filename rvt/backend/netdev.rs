// SPDX-License-Identifier: GPL-2.0

//! A tracked reference on a `net_device` (`netdev_hold`/`netdev_put`, so
//! CONFIG_NET_DEV_REFCNT_TRACKER can name the holder of a leaked one).

use kernel::{prelude::*, types::Opaque};

use crate::bindings as b;

/// A net_device reference, or none.
///
/// # Invariants
///
/// `dev` is NULL, or a net_device on which this object holds one reference
/// recorded in `tracker`.
#[pin_data(PinnedDrop)]
pub(crate) struct NetdevRef {
    dev: *mut b::net_device,
    #[pin]
    tracker: Opaque<b::netdevice_tracker>,
}

// SAFETY: A net_device is usable from any thread; the tracker is only
// touched by hold and put.
unsafe impl Send for NetdevRef {}
// SAFETY: Shared access reaches nothing (the reference is only dropped).
unsafe impl Sync for NetdevRef {}

impl NetdevRef {
    /// Takes a reference on `netdev` (none if NULL). Sleeps.
    ///
    /// # Safety
    ///
    /// `netdev` is NULL or a live net_device.
    pub(crate) unsafe fn hold(netdev: *mut b::net_device) -> impl PinInit<Self> {
        // INVARIANT: the reference is taken into the pinned tracker.
        pin_init!(Self {
            dev: netdev,
            tracker <- Opaque::ffi_init(move |tracker: *mut b::netdevice_tracker| {
                if !netdev.is_null() {
                    // SAFETY: A live netdev (the contract); the tracker is
                    // pinned storage that lives as long as the reference.
                    unsafe { b::rvt_helper_netdev_hold(netdev, tracker) };
                }
            }),
        })
    }
}

#[pinned_drop]
impl PinnedDrop for NetdevRef {
    fn drop(self: Pin<&mut Self>) {
        if !self.dev.is_null() {
            // SAFETY: We hold a reference recorded in `tracker` (type invariant).
            unsafe { b::rvt_helper_netdev_put(self.dev, self.tracker.get()) };
        }
    }
}
