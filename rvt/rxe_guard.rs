// SPDX-License-Identifier: GPL-2.0

//! rvt and rdma_rxe must not share a kernel: both register devices with
//! `driver_id = RDMA_DRIVER_RXE`, and rdma_rxe treats every such device as its
//! own (its module exit unregisters them all). rvt refuses to load while
//! rdma_rxe is loaded, and, while rvt is loaded, refuses rdma_rxe through a
//! module notifier.

use core::ptr;

use kernel::{prelude::*, str::CStr, types::Opaque};

use crate::bindings as b;

const RXE_MODULE: &CStr = c"rdma_rxe";

/// Whether rdma_rxe is loaded as a module: it then has a /sys/module entry
/// (a built-in one is refused at build time, rvt/Kbuild).
pub(crate) fn rxe_present() -> bool {
    let mut path = b::path::default();
    // SAFETY: A NUL-terminated path and a valid out parameter.
    let err = unsafe { b::kern_path(c"/sys/module/rdma_rxe".as_char_ptr(), 0, &mut path) };
    if err != 0 {
        return false;
    }
    // SAFETY: `kern_path` succeeded, so `path` holds references to drop.
    unsafe { b::path_put(&path) };
    true
}

/// The notifier that refuses rdma_rxe while rvt is loaded.
///
/// # Invariants
///
/// Registered with the module notifier chain between `register` and `Drop`.
pub(crate) struct RxeGuard {
    nb: Pin<KBox<Opaque<b::notifier_block>>>,
}

// SAFETY: The notifier block is only touched by the notifier chain (which
// serialises) and by register/unregister.
unsafe impl Send for RxeGuard {}
// SAFETY: As above.
unsafe impl Sync for RxeGuard {}

impl RxeGuard {
    /// Starts refusing rdma_rxe.
    pub(crate) fn register() -> Result<Self> {
        let nb = KBox::pin(
            Opaque::new(b::notifier_block {
                notifier_call: Some(Self::on_module_event),
                ..Default::default()
            }),
            GFP_KERNEL,
        )?;
        // SAFETY: The block is pinned and lives until `Drop` unregisters it.
        kernel::error::to_result(unsafe { b::register_module_notifier(nb.get()) })?;
        // INVARIANT: registered above.
        Ok(Self { nb })
    }

    /// # Safety
    ///
    /// Called by the module notifier chain, which passes the `struct module`
    /// being loaded as `data`.
    unsafe extern "C" fn on_module_event(
        _nb: *mut b::notifier_block,
        action: c_ulong,
        data: *mut c_void,
    ) -> c_int {
        if action != b::module_state_MODULE_STATE_COMING as c_ulong {
            return b::NOTIFY_DONE as c_int;
        }
        let module = data.cast::<b::module>();
        // SAFETY: For MODULE_STATE_COMING the chain passes the module being
        // loaded; its name is a NUL-terminated array.
        let name = unsafe { CStr::from_char_ptr(ptr::addr_of!((*module).name).cast()) };
        if name != RXE_MODULE {
            return b::NOTIFY_DONE as c_int;
        }
        pr_err!("refusing to load rdma_rxe: rvt is loaded and both drive RDMA_DRIVER_RXE devices; unload rvt first\n");
        // notifier_from_errno(-EBUSY): the module loader fails with -EBUSY.
        (b::NOTIFY_STOP_MASK as c_int) | ((b::NOTIFY_OK as c_int) - EBUSY.to_errno())
    }
}

impl Drop for RxeGuard {
    fn drop(&mut self) {
        // SAFETY: Registered (type invariant).
        unsafe { b::unregister_module_notifier(self.nb.get()) };
    }
}
