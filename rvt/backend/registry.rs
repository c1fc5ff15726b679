// SPDX-License-Identifier: GPL-2.0

//! Every rvt device handed to `rvt_register_device`, until its
//! `dealloc_driver` has called the backend's `release`: a backend's module
//! exit unregisters its devices and waits until none of them is left
//! (ib_core's own `ib_unregister_driver` would take every RDMA_DRIVER_RXE
//! device, other backends' ones included).
//!
//! The fence: a device leaves the registry only after the backend's last
//! call for it (`release`) has returned, so once `unregister_all` finds no
//! device of a backend, no thread runs that backend's code for them and its
//! module may go. Process context only (a mutex).

use kernel::prelude::*;

use crate::{bindings as b, device::RvtDevice, ib::IbDevice};

/// A registered device and the table of the backend that created it
/// (compared without touching the device, whose data may be being dropped).
#[derive(Clone, Copy, PartialEq, Eq)]
struct Entry {
    dev: usize,
    ops: usize,
}

kernel::sync::global_lock! {
    // SAFETY: Initialised by `init` in the module initialiser, before any
    // device can exist.
    unsafe(uninit) static DEVICES: Mutex<KVec<Entry>> = KVec::new();
}

fn entry(dev: &IbDevice<RvtDevice>) -> Entry {
    Entry {
        dev: dev.as_raw() as usize,
        ops: dev.data().ops().addr() as usize,
    }
}

/// Sets the registry up (module init, once).
pub(crate) fn init() {
    // SAFETY: Called exactly once, from module init, before any other use.
    unsafe { DEVICES.init() };
}

/// Module exit: every backend module (each holds a reference on rvt) has
/// unregistered its devices, so none should be left; any that is gets a
/// warning and is unregistered. Then the registry's storage is freed
/// (statics are never dropped).
pub(crate) fn exit() {
    let left = unregister_all(None);
    if kernel::warn_on!(left != 0) {
        pr_warn!(
            "{} device(s) still registered at module exit; unregistered them\n",
            left
        );
    }
    drop(core::mem::replace(&mut *DEVICES.lock(), KVec::new()));
    // ib_core keeps a device in its own table until its `dealloc_driver`
    // (rvt code) has returned, and its unregistration lock covers that call:
    // this waits for the last of them, so rvt's text outlives them all. Only
    // rvt devices have RDMA_DRIVER_RXE while rvt is loaded (rxe_guard).
    // SAFETY: Process context, no lock held.
    unsafe { b::ib_unregister_driver(b::rdma_driver_id_RDMA_DRIVER_RXE) };
}

/// Records a device being registered.
pub(crate) fn add(dev: &IbDevice<RvtDevice>) -> Result {
    DEVICES.lock().push(entry(dev), GFP_KERNEL)?;
    Ok(())
}

/// Forgets a device: the backend's last call for it has returned.
pub(crate) fn remove(dev: &IbDevice<RvtDevice>) {
    let gone = entry(dev);
    let mut devices = DEVICES.lock();
    if let Some(pos) = devices.iter().position(|&e| e == gone) {
        // The index was just found.
        let _ = devices.remove(pos);
    }
}

/// Unregisters every device of backend `ops` (of every backend for `None`)
/// and returns when all of them have been freed, with how many there were.
pub(crate) fn unregister_all(ops: Option<*const b::rvt_backend_ops>) -> usize {
    let mut count = 0;
    loop {
        let next = {
            let devices = DEVICES.lock();
            devices
                .iter()
                .find(|e| ops.is_none_or(|ops| e.ops == ops as usize))
                .map(|e| {
                    let ibdev = e.dev as *mut b::ib_device;
                    // Keep the memory while we unregister without the lock:
                    // a device in the registry has not finished
                    // `dealloc_driver`, and ib_core frees it only after that,
                    // on the last put.
                    // SAFETY: A live ib_device (above), under the lock.
                    unsafe { b::get_device(&raw mut (*ibdev).__bindgen_anon_1.dev) };
                    ibdev
                })
        };
        let Some(ibdev) = next else { break };
        count += 1;
        // SAFETY: We hold a memory reference. A device already unregistered
        // (or being so by a queued work item, or by `rdma link delete`)
        // returns once that is done: ib_core's unregistration lock covers
        // `dealloc_driver`, which has then removed it from the registry, so
        // this loop ends.
        unsafe {
            b::ib_unregister_device(ibdev);
            b::put_device(&raw mut (*ibdev).__bindgen_anon_1.dev);
        }
    }
    count
}
