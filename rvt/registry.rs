// SPDX-License-Identifier: GPL-2.0

//! Every rvt device that exists, from creation until `dealloc_driver`, so a
//! backend's module exit can unregister its devices and wait until none of
//! them is left (ib_core's own `ib_unregister_driver` would take every
//! RDMA_DRIVER_RXE device, other backends' ones included).

use kernel::prelude::*;

use crate::{bindings as b, device::RvtDevice, ib::IbDevice};

kernel::sync::global_lock! {
    // SAFETY: Initialised by `init` in the module initialiser, before any
    // device can exist.
    unsafe(uninit) static DEVICES: Mutex<KVec<usize>> = KVec::new();
}

/// Whether registry entry `entry` is a device of backend `ops`.
///
/// Called with the registry locked: entries are live devices, whose data is
/// initialised (they leave the registry from the data's drop, which takes the
/// lock first).
fn is_of_backend(entry: usize, ops: *const b::rvt_backend_ops) -> bool {
    // SAFETY: A live device of the locked registry (above).
    unsafe { &*(entry as *const IbDevice<RvtDevice>) }
        .data()
        .has_ops(ops)
}

/// Sets the registry up (module init, once).
pub(crate) fn init() {
    // SAFETY: Called exactly once, from module init, before any other use.
    unsafe { DEVICES.init() };
}

/// Frees the registry's storage (module exit, when no device is left: every
/// backend module, which holds a reference on rvt, has unregistered its
/// devices). Statics are never dropped, so without this the buffer leaks.
pub(crate) fn exit() {
    drop(core::mem::replace(&mut *DEVICES.lock(), KVec::new()));
}

/// Records a new device.
pub(crate) fn add(dev: *mut IbDevice<RvtDevice>) -> Result {
    DEVICES.lock().push(dev as usize, GFP_KERNEL)?;
    Ok(())
}

/// Forgets a device (its data is being dropped).
pub(crate) fn remove(data: &RvtDevice) {
    let mut devices = DEVICES.lock();
    let pos = devices
        .iter()
        .position(|&d| d == IbDevice::<RvtDevice>::from_data(data) as usize);
    if let Some(pos) = pos {
        devices.remove(pos).ok();
    }
}

/// The handle of `ibdev` when it is an rvt device of backend `ops`.
pub(crate) fn find(
    ibdev: *mut b::ib_device,
    ops: *const b::rvt_backend_ops,
) -> Option<*mut b::rvt_device> {
    let devices = DEVICES.lock();
    devices
        .iter()
        .copied()
        .filter(|&d| d == ibdev as usize)
        .find(|&d| is_of_backend(d, ops))
        .map(|d| d as *mut b::rvt_device)
}

/// Unregisters every device of backend `ops`; returns when all are freed.
pub(crate) fn unregister_all(ops: *const b::rvt_backend_ops) {
    loop {
        let next = {
            let devices = DEVICES.lock();
            devices
                .iter()
                .copied()
                .find(|&d| is_of_backend(d, ops))
                .map(|d| {
                    let ibdev = IbDevice::<RvtDevice>::raw(d as *const IbDevice<RvtDevice>);
                    // Keep the memory while we unregister without the lock
                    // (ib_core frees it on the last put).
                    // SAFETY: A live device (see `remove`), under the lock.
                    unsafe { b::get_device(&raw mut (*ibdev).__bindgen_anon_1.dev) };
                    ibdev
                })
        };
        let Some(ibdev) = next else { break };
        // SAFETY: We hold a reference. Unregistering twice is harmless: a
        // device already unregistered (or being so by a queued work) returns
        // once that is done, and dealloc_driver has then removed it from the
        // registry, so this loop ends.
        unsafe {
            b::ib_unregister_device(ibdev);
            b::put_device(&raw mut (*ibdev).__bindgen_anon_1.dev);
        }
    }
}
