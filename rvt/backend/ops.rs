// SPDX-License-Identifier: GPL-2.0

//! A backend's operations table (include/rvt/backend.h), checked once when a
//! device is created, and the calls rvt makes through it.

use kernel::{prelude::*, str::CStr};

use crate::bindings as b;

/// A backend's operations table, checked at device creation.
///
/// # Invariants
///
/// Points to a `'static` `rvt_backend_ops` whose mandatory ops are non-NULL
/// and whose link layer is Ethernet or InfiniBand; the backend module (its
/// owner) outlives every device using it, because its module exit calls
/// `rvt_unregister_backend`, which returns only once they are all freed.
#[derive(Clone, Copy)]
pub(crate) struct BackendOps(*const b::rvt_backend_ops);

// SAFETY: The table is immutable and 'static (type invariant).
unsafe impl Send for BackendOps {}
// SAFETY: As above.
unsafe impl Sync for BackendOps {}

impl BackendOps {
    /// Checks a table handed in by a backend.
    ///
    /// # Safety
    ///
    /// `ops` is NULL or points to a `rvt_backend_ops` valid for as long as
    /// devices using it exist.
    pub(crate) unsafe fn check(ops: *const b::rvt_backend_ops) -> Result<Self> {
        // SAFETY: Per the contract.
        let o = unsafe { ops.as_ref() }.ok_or(EINVAL)?;
        let missing = [
            ("send", o.send.is_none()),
            ("query_link", o.query_link.is_none()),
            ("node_guid", o.node_guid.is_none()),
            ("port_guid", o.port_guid.is_none()),
            ("mcast_add", o.mcast_add.is_none()),
            ("mcast_del", o.mcast_del.is_none()),
            ("get_send_buffer", o.get_send_buffer.is_none()),
            ("resolve_path", o.resolve_path.is_none()),
            ("path_mtu", o.path_mtu.is_none()),
        ];
        let mut ok = true;
        for (name, absent) in missing {
            if absent {
                pr_err!("backend {} lacks the mandatory op {}\n", o.name(), name);
                ok = false;
            }
        }
        if !ok {
            return Err(EINVAL);
        }
        if u32::from(o.link_layer) != b::rdma_link_layer_IB_LINK_LAYER_ETHERNET
            && u32::from(o.link_layer) != b::rdma_link_layer_IB_LINK_LAYER_INFINIBAND
        {
            pr_err!(
                "backend {} has an unknown link layer {}\n",
                o.name(),
                o.link_layer
            );
            return Err(EINVAL);
        }
        // INVARIANT: checked above; 'static per the contract.
        Ok(Self(ops))
    }

    /// The table.
    pub(crate) fn get(&self) -> &b::rvt_backend_ops {
        // SAFETY: Valid and 'static (type invariant).
        unsafe { &*self.0 }
    }

    /// The address, to compare tables.
    pub(crate) fn addr(&self) -> *const b::rvt_backend_ops {
        self.0
    }

    /// The backend's node GUID of device `dev`.
    ///
    /// # Safety
    ///
    /// `dev` is a device of this backend whose private area is live.
    pub(crate) unsafe fn node_guid(&self, dev: *mut b::rvt_device) -> u64 {
        match self.get().node_guid {
            // SAFETY: Per the contract.
            Some(node_guid) => unsafe { node_guid(dev) },
            // Not reached: `check` refuses a table without node_guid.
            None => 0,
        }
    }

    /// The backend's live link attributes of `port` of `dev` (sleeps).
    ///
    /// # Safety
    ///
    /// `dev` is a device of this backend whose private area is live.
    pub(crate) unsafe fn query_link(
        &self,
        dev: *mut b::rvt_device,
        port: u32,
    ) -> Result<b::rvt_link_info> {
        let mut info = b::rvt_link_info::default();
        let query = self.get().query_link.ok_or(EINVAL)?;
        // SAFETY: Per the contract; a mandatory op of a checked table.
        kernel::error::to_result(unsafe { query(dev, port, &mut info) })?;
        Ok(info)
    }

    /// The backend's `release` of `dev`, if it has one (sleeps).
    ///
    /// # Safety
    ///
    /// `dev` is a device of this backend whose private area is live; it is
    /// not live afterwards.
    pub(crate) unsafe fn release(&self, dev: *mut b::rvt_device) {
        if let Some(release) = self.get().release {
            // SAFETY: Per the contract.
            unsafe { release(dev) };
        }
    }

    /// The module that owns the backend's devices.
    /// Joins a multicast group (the link layer's filter). Sleeps.
    ///
    /// # Safety
    ///
    /// `dev` is a device of this backend whose private area is live.
    pub(crate) unsafe fn mcast_add(
        &self,
        dev: *mut b::rvt_device,
        port: u32,
        mgid: &b::ib_gid,
    ) -> Result {
        let add = self.get().mcast_add.ok_or(EINVAL)?;
        // SAFETY: Per the contract.
        kernel::error::to_result(unsafe { add(dev, port, mgid) })
    }

    /// Leaves a multicast group. Sleeps.
    ///
    /// # Safety
    ///
    /// As for [`BackendOps::mcast_add`].
    pub(crate) unsafe fn mcast_del(
        &self,
        dev: *mut b::rvt_device,
        port: u32,
        mgid: &b::ib_gid,
    ) -> Result {
        let del = self.get().mcast_del.ok_or(EINVAL)?;
        // SAFETY: Per the contract.
        kernel::error::to_result(unsafe { del(dev, port, mgid) })
    }

    /// Resolves address handle attributes into a path (`resolve_path`).
    /// Atomic unless `sleepable`.
    ///
    /// # Safety
    ///
    /// `dev` is a device of this backend whose private area is live.
    pub(crate) unsafe fn resolve_path(
        &self,
        dev: *mut b::rvt_device,
        port: u32,
        attr: &b::rdma_ah_attr,
        sleepable: bool,
    ) -> Result<b::rvt_path> {
        let resolve = self.get().resolve_path.ok_or(EINVAL)?;
        let mut path = b::rvt_path { data: [0; 64] };
        // SAFETY: Per the contract; valid attributes and out pointer.
        kernel::error::to_result(unsafe { resolve(dev, port, attr, sleepable, &mut path) })?;
        Ok(path)
    }

    /// The largest MTU usable on `path`. Atomic.
    ///
    /// # Safety
    ///
    /// As for [`BackendOps::resolve_path`].
    pub(crate) unsafe fn path_mtu(&self, dev: *mut b::rvt_device, path: &b::rvt_path) -> b::ib_mtu {
        match self.get().path_mtu {
            // SAFETY: Per the contract.
            Some(path_mtu) => unsafe { path_mtu(dev, path) },
            None => 0,
        }
    }

    /// An skb with room for the backend's outer headers and `len` bytes
    /// from the BTH on, or NULL. Atomic.
    ///
    /// # Safety
    ///
    /// As for [`BackendOps::resolve_path`].
    pub(crate) unsafe fn get_send_buffer(
        &self,
        dev: *mut b::rvt_device,
        port: u32,
        path: &b::rvt_path,
        len: u32,
    ) -> *mut b::sk_buff {
        match self.get().get_send_buffer {
            // SAFETY: Per the contract.
            Some(get) => unsafe { get(dev, port, path, len) },
            None => core::ptr::null_mut(),
        }
    }

    /// Transmits `skb` (consumed): 0, `-EBUSY` if the device is busy (rvt
    /// sends the packet again later), or another `-errno` (lost). Atomic.
    ///
    /// # Safety
    ///
    /// As for [`BackendOps::resolve_path`]; `skb` comes from
    /// [`BackendOps::get_send_buffer`] of the same device and path.
    pub(crate) unsafe fn send(
        &self,
        dev: *mut b::rvt_device,
        port: u32,
        skb: *mut b::sk_buff,
        path: &b::rvt_path,
    ) -> c_int {
        match self.get().send {
            // SAFETY: Per the contract.
            Some(send) => unsafe { send(dev, port, skb, path) },
            None => {
                // SAFETY: The skb is ours to free.
                unsafe { b::rvt_helper_kfree_skb(skb) };
                EINVAL.to_errno()
            }
        }
    }

    pub(crate) fn owner(&self) -> *mut b::module {
        self.get().owner
    }

    /// Whether the backend's link layer is Ethernet (RoCE).
    pub(crate) fn is_roce(&self) -> bool {
        u32::from(self.get().link_layer) == b::rdma_link_layer_IB_LINK_LAYER_ETHERNET
    }
}

impl b::rvt_backend_ops {
    /// The backend's name for messages.
    pub(crate) fn name(&self) -> &CStr {
        if self.name.is_null() {
            return c"(unnamed)";
        }
        // SAFETY: Backends set `name` to a NUL-terminated 'static string.
        unsafe { CStr::from_char_ptr(self.name) }
    }
}
