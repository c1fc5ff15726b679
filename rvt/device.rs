// SPDX-License-Identifier: GPL-2.0

//! rvt devices: one `ib_device` per backend device, and the backend API of
//! include/rvt/backend.h (exported by exports.c).
//!
//! Lifetime: a backend creates a device with `rvt_register_device`; the device
//! lives until ib_core calls `dealloc_driver` after it is unregistered (by
//! the backend, by `rdma link delete`, or by `rvt_unregister_backend` at the
//! backend's module exit, which waits for all of them).

use core::ptr;

use kernel::{
    prelude::*,
    str::CStr,
    sync::atomic::{Atomic, Relaxed},
};

use crate::{
    bindings as b,
    ib::{IbDevice, IbDriver},
    registry,
};

/// Name of the one P_Key a port has: the default, full-membership key (IBA 10.9.1.2).
const DEFAULT_PKEY: u16 = 0xffff;
/// GID table entries per RoCE port (ib_core fills them from the netdev's addresses).
const ROCE_GID_TABLE_LEN: u32 = 1024;
/// IBA 14.2.5: the Subnet Management Agent and the GSI of QP1 use 256-byte MADs.
const IB_MGMT_MAD_SIZE: u32 = 256;
/// Largest message a QP will accept (2^31, the RETH DMA length limit).
const MAX_MSG_SIZE: u32 = 1 << 31;
/// ABI version of the rdma-core rxe provider's private commands
/// (rdma_user_rxe.h; the provider refuses any other).
const RXE_UVERBS_ABI_VERSION: u32 = 2;
/// Firmware version shown by `ibv_devinfo` (rvt has no firmware; a version of the driver).
const FW_VERSION: u64 = 1;

/// A backend's operations table, checked at registration.
///
/// # Invariants
///
/// Points to a `'static` `rvt_backend_ops` whose mandatory ops are non-NULL;
/// the backend module (its owner) outlives every device using it, because its
/// module exit calls `rvt_unregister_backend`.
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
    unsafe fn check(ops: *const b::rvt_backend_ops) -> Result<Self> {
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

    fn get(&self) -> &b::rvt_backend_ops {
        // SAFETY: Valid and 'static (type invariant).
        unsafe { &*self.0 }
    }

    /// The backend's node GUID of device `dev`.
    fn node_guid(&self, dev: *mut b::rvt_device) -> u64 {
        match self.get().node_guid {
            // SAFETY: A device of this backend, whose private area is initialised.
            Some(node_guid) => unsafe { node_guid(dev) },
            // Not reached: `check` refuses a table without node_guid.
            None => 0,
        }
    }

    /// The address, to compare tables.
    pub(crate) fn addr(&self) -> *const b::rvt_backend_ops {
        self.0
    }
}

impl b::rvt_backend_ops {
    /// The backend's name for messages.
    fn name(&self) -> &CStr {
        if self.name.is_null() {
            return c"(unnamed)";
        }
        // SAFETY: Backends set `name` to a NUL-terminated 'static string.
        unsafe { CStr::from_char_ptr(self.name) }
    }
}

/// The rvt side of one device.
///
/// # Invariants
///
/// `netdev` is NULL or a net_device on which this device holds a reference
/// (dropped in `Drop`).
pub(crate) struct RvtDevice {
    ops: BackendOps,
    netdev: *mut b::net_device,
    num_ports: u32,
    /// The backend's private area is live (set once registration succeeded).
    registered: Atomic<bool>,
    /// Packets received for which there was nowhere to go.
    rx_dropped: Atomic<u64>,
}

// SAFETY: `netdev` is a refcounted kernel object usable from any thread.
unsafe impl Send for RvtDevice {}
// SAFETY: As above; the counters are atomics.
unsafe impl Sync for RvtDevice {}

impl Drop for RvtDevice {
    fn drop(&mut self) {
        registry::remove(self);
        // The backend's data may point at the netdev: release it first.
        if self.registered.load(Relaxed) {
            if let Some(release) = self.ops.get().release {
                // SAFETY: The backend's release op takes the device while its
                // private area is still allocated (ib_core frees it after
                // dealloc_driver returns).
                unsafe { release(IbDevice::from_data(self).cast()) };
            }
        }
        if !self.netdev.is_null() {
            // SAFETY: We hold a reference (type invariant).
            unsafe { b::rvt_helper_netdev_put(self.netdev) };
        }
    }
}

/// The C handle (`struct rvt_device *`) of a device.
fn handle(dev: &IbDevice<RvtDevice>) -> *mut b::rvt_device {
    ptr::from_ref(dev).cast_mut().cast()
}

/// The device behind a C handle.
///
/// # Safety
///
/// `dev` is a handle returned by `rvt_register_device` whose device has not
/// been deallocated.
unsafe fn from_handle<'a>(dev: *mut b::rvt_device) -> &'a IbDevice<RvtDevice> {
    // SAFETY: The handle is the IbDevice pointer, per the contract.
    unsafe { &*dev.cast::<IbDevice<RvtDevice>>() }
}

impl RvtDevice {
    fn link(&self, dev: &IbDevice<Self>, port: u32) -> Result<b::rvt_link_info> {
        let mut info = b::rvt_link_info::default();
        let query = self.ops.get().query_link.ok_or(EINVAL)?;
        // SAFETY: Mandatory op of a checked table, called with our handle.
        kernel::error::to_result(unsafe { query(handle(dev), port, &mut info) })?;
        Ok(info)
    }

    fn check_port(&self, port: u32) -> Result {
        if port == 0 || port > self.num_ports {
            return Err(EINVAL);
        }
        Ok(())
    }

    fn is_roce(&self) -> bool {
        u32::from(self.ops.get().link_layer) == b::rdma_link_layer_IB_LINK_LAYER_ETHERNET
    }

    /// Whether this device was created by the backend with table `ops`.
    pub(crate) fn has_ops(&self, ops: *const b::rvt_backend_ops) -> bool {
        self.ops.addr() == ops
    }
}

#[vtable]
impl IbDriver for RvtDevice {
    // The stock rdma-core rxe provider drives rvt devices (rdma_user_rxe.h ABI).
    const DRIVER_ID: u32 = b::rdma_driver_id_RDMA_DRIVER_RXE;
    const UVERBS_ABI_VER: u32 = RXE_UVERBS_ABI_VERSION;

    fn query_device(dev: &IbDevice<Self>, attr: &mut b::ib_device_attr) -> Result {
        let this = dev.data();
        let guid = this.ops.node_guid(handle(dev));
        // Only what exists is advertised: objects come with later verbs.
        attr.fw_ver = FW_VERSION;
        attr.sys_image_guid = guid;
        attr.max_mr_size = u64::MAX;
        attr.page_size_cap = 0xffff_f000;
        attr.vendor_id = 0x00_ffffff;
        attr.kernel_cap_flags = u64::from(b::ib_kernel_cap_flags_IBK_ALLOW_USER_UNREG);
        attr.max_pkeys = 1;
        Ok(())
    }

    fn query_port(dev: &IbDevice<Self>, port: u32, attr: &mut b::ib_port_attr) -> Result {
        let this = dev.data();
        this.check_port(port)?;
        let link = this.link(dev, port)?;
        attr.state = link.state;
        attr.phys_state = link.phys_state;
        attr.active_mtu = link.active_mtu;
        attr.max_mtu = link.max_mtu;
        attr.active_width = link.active_width;
        attr.active_speed = link.active_speed;
        attr.max_msg_sz = MAX_MSG_SIZE;
        attr.pkey_tbl_len = 1;
        attr.max_vl_num = 1;
        if this.is_roce() {
            attr.gid_tbl_len = ROCE_GID_TABLE_LEN as i32;
            attr.port_cap_flags = b::ib_port_capability_mask_bits_IB_PORT_CM_SUP;
        } else {
            attr.gid_tbl_len = 1;
            attr.lid = link.lid;
            attr.sm_lid = link.sm_lid;
            attr.lmc = link.lmc;
            attr.sm_sl = link.sm_sl;
            attr.port_cap_flags = b::ib_port_capability_mask_bits_IB_PORT_CM_SUP
                | b::ib_port_capability_mask_bits_IB_PORT_SYS_IMAGE_GUID_SUP;
        }
        Ok(())
    }

    fn get_port_immutable(
        dev: &IbDevice<Self>,
        port: u32,
        immutable: &mut b::ib_port_immutable,
    ) -> Result {
        let this = dev.data();
        this.check_port(port)?;
        immutable.pkey_tbl_len = 1;
        immutable.max_mad_size = IB_MGMT_MAD_SIZE;
        if this.is_roce() {
            immutable.gid_tbl_len = ROCE_GID_TABLE_LEN as i32;
            immutable.core_cap_flags = b::RDMA_CORE_PORT_IBA_ROCE_UDP_ENCAP;
        } else {
            immutable.gid_tbl_len = 1;
            immutable.core_cap_flags = b::RDMA_CORE_PORT_IBA_IB;
        }
        Ok(())
    }

    fn get_link_layer(dev: &IbDevice<Self>, _port: u32) -> u8 {
        dev.data().ops.get().link_layer
    }

    fn query_pkey(dev: &IbDevice<Self>, port: u32, index: u16) -> Result<u16> {
        dev.data().check_port(port)?;
        if index != 0 {
            return Err(EINVAL);
        }
        Ok(DEFAULT_PKEY)
    }
}

/// Creates and registers the device a backend describes.
fn register(desc: &b::rvt_device_desc) -> Result<*mut IbDevice<RvtDevice>> {
    // SAFETY: Backends pass a 'static ops table (backend.h contract).
    let ops = unsafe { BackendOps::check(desc.ops) }?;
    if desc.ibdev_name.is_null() || desc.num_ports != 1 {
        pr_err!(
            "backend {}: a device needs a name and exactly one port\n",
            ops.get().name()
        );
        return Err(EINVAL);
    }
    let net = if desc.netdev.is_null() {
        ptr::null_mut()
    } else {
        // SAFETY: The backend lends us a live netdev for the call.
        unsafe { b::rvt_helper_netdev_hold(desc.netdev) };
        // SAFETY: As above.
        unsafe { b::rvt_helper_dev_net(desc.netdev) }
    };
    // INVARIANT: the reference on `netdev` taken above now belongs to the device.
    let data = RvtDevice {
        ops,
        netdev: desc.netdev,
        num_ports: desc.num_ports,
        registered: Atomic::new(false),
        rx_dropped: Atomic::new(0),
    };
    let dev = IbDevice::new(data, desc.priv_size, net)?;
    let ibdev = IbDevice::raw(dev);
    let handle: *mut b::rvt_device = dev.cast();
    if !desc.priv_init.is_null() {
        // SAFETY: The backend gives `priv_size` readable bytes; the private
        // area has that many and nobody else sees it yet. The backend ops
        // below (node_guid) may already read it.
        unsafe {
            ptr::copy_nonoverlapping(
                desc.priv_init.cast::<u8>(),
                IbDevice::extra(dev),
                desc.priv_size,
            )
        };
    }
    let guid = ops.node_guid(handle);
    // SAFETY: Nobody else sees the device yet, so we may fill its fields.
    unsafe {
        (*ibdev).node_guid = guid;
        (*ibdev).node_type = b::RDMA_NODE_IB_CA as u8;
        (*ibdev).phys_port_cnt = desc.num_ports;
        (*ibdev).num_comp_vectors = 1;
        (*ibdev).local_dma_lkey = 0;
        let desc_str = b"rvt software RDMA transport\0";
        ptr::copy_nonoverlapping(
            desc_str.as_ptr().cast(),
            (*ibdev).node_desc.as_mut_ptr(),
            desc_str.len(),
        );
    }
    let result = (|| {
        if !desc.netdev.is_null() {
            // SAFETY: Unregistered device, live netdev, port 1 exists.
            kernel::error::to_result(unsafe { b::ib_device_set_netdev(ibdev, desc.netdev, 1) })?;
        }
        registry::add(dev)?;
        // From here on the private area belongs to the device: a concurrent
        // `rdma link delete` may unregister it as soon as it is registered.
        // SAFETY: `dev` is initialised and still ours.
        let registered = &unsafe { &*dev }.data().registered;
        registered.store(true, Relaxed);
        // SAFETY: A fully initialised device; the name is NUL-terminated.
        let err = unsafe { b::ib_register_device(ibdev, desc.ibdev_name, ptr::null_mut()) };
        if err != 0 {
            // Failed: the private area stays the caller's (backend.h).
            registered.store(false, Relaxed);
        }
        kernel::error::to_result(err)
    })();
    if let Err(e) = result {
        // SAFETY: Registration failed or never happened; the device is ours
        // alone and dropped here (RvtDevice::drop leaves the registry and
        // releases the netdev).
        unsafe { IbDevice::dealloc(dev) };
        return Err(e);
    }
    Ok(dev)
}

/// Creates and registers a device (backend.h).
///
/// # Safety
///
/// `desc` points to a valid descriptor, as backend.h documents.
#[no_mangle]
pub(crate) unsafe extern "C" fn rvt_register_device(
    desc: *const b::rvt_device_desc,
) -> *mut b::rvt_device {
    // SAFETY: Per the contract.
    let Some(desc) = (unsafe { desc.as_ref() }) else {
        return EINVAL.to_ptr();
    };
    match register(desc) {
        Ok(dev) => dev.cast(),
        Err(e) => e.to_ptr(),
    }
}

/// Unregisters a device and waits until it is freed.
///
/// # Safety
///
/// `dev` is a live handle; it is not used again.
#[no_mangle]
pub(crate) unsafe extern "C" fn rvt_unregister_device(dev: *mut b::rvt_device) {
    // SAFETY: A registered device of ours; ib_core frees it (dealloc_driver).
    unsafe { b::ib_unregister_device(IbDevice::<RvtDevice>::raw(dev.cast())) };
}

/// Unregisters a device from a context that cannot sleep or holds RTNL.
///
/// # Safety
///
/// `dev` is a live handle; it is not used again by the caller.
#[no_mangle]
pub(crate) unsafe extern "C" fn rvt_unregister_device_queued(dev: *mut b::rvt_device) {
    // SAFETY: A registered device of ours.
    unsafe { b::ib_unregister_device_queued(IbDevice::<RvtDevice>::raw(dev.cast())) };
}

/// Unregisters every device of a backend and waits until all are freed.
///
/// # Safety
///
/// `ops` is the table the backend registered its devices with; called from
/// process context (module exit), with no new registrations under way.
#[no_mangle]
pub(crate) unsafe extern "C" fn rvt_unregister_backend(ops: *const b::rvt_backend_ops) {
    registry::unregister_all(ops);
}

/// The backend-private area of a device.
///
/// # Safety
///
/// `dev` is a live handle.
#[no_mangle]
pub(crate) unsafe extern "C" fn rvt_device_priv(dev: *mut b::rvt_device) -> *mut c_void {
    IbDevice::<RvtDevice>::extra(dev.cast()).cast()
}

/// The `ib_device` of a device.
///
/// # Safety
///
/// `dev` is a live handle.
#[no_mangle]
pub(crate) unsafe extern "C" fn rvt_device_ibdev(dev: *mut b::rvt_device) -> *mut b::ib_device {
    IbDevice::<RvtDevice>::raw(dev.cast())
}

/// The rvt device behind an `ib_device`, if `ops` created it.
///
/// # Safety
///
/// `ibdev` is a live `ib_device` (of any driver).
#[no_mangle]
pub(crate) unsafe extern "C" fn rvt_device_from_ibdev(
    ibdev: *mut b::ib_device,
    ops: *const b::rvt_backend_ops,
) -> *mut b::rvt_device {
    registry::find(ibdev, ops).unwrap_or(ptr::null_mut())
}

/// A packet from the wire (backend.h). There are no QPs yet: every packet is
/// dropped and counted.
///
/// # Safety
///
/// `dev` is a live handle, `skb` a packet the caller gives up.
#[no_mangle]
pub(crate) unsafe extern "C" fn rvt_receive(
    dev: *mut b::rvt_device,
    skb: *mut b::sk_buff,
    _meta: *const b::rvt_rx_meta,
) {
    // SAFETY: Per the contract.
    let dev = unsafe { from_handle(dev) };
    dev.data().rx_dropped.add(1u64, Relaxed);
    // SAFETY: The skb is ours to free.
    unsafe { b::rvt_helper_kfree_skb(skb) };
}

/// A link event (backend.h): dispatched to ib_core's clients.
///
/// # Safety
///
/// `dev` is a live, registered handle.
#[no_mangle]
pub(crate) unsafe extern "C" fn rvt_handle_event(
    dev: *mut b::rvt_device,
    port: u32,
    event: b::rvt_event,
) {
    let kind = match event {
        b::rvt_event_RVT_EVENT_LINK_UP => b::ib_event_type_IB_EVENT_PORT_ACTIVE,
        b::rvt_event_RVT_EVENT_LINK_DOWN => b::ib_event_type_IB_EVENT_PORT_ERR,
        b::rvt_event_RVT_EVENT_LID_CHANGE | b::rvt_event_RVT_EVENT_MTU_CHANGE => {
            b::ib_event_type_IB_EVENT_LID_CHANGE
        }
        b::rvt_event_RVT_EVENT_SM_CHANGE => b::ib_event_type_IB_EVENT_SM_CHANGE,
        b::rvt_event_RVT_EVENT_PKEY_CHANGE => b::ib_event_type_IB_EVENT_PKEY_CHANGE,
        b::rvt_event_RVT_EVENT_GID_CHANGE => b::ib_event_type_IB_EVENT_GID_CHANGE,
        _ => return,
    };
    let mut ev = b::ib_event {
        device: IbDevice::<RvtDevice>::raw(dev.cast()),
        event: kind,
        ..Default::default()
    };
    ev.element.port_num = port;
    // SAFETY: A registered device; the event is valid for the call.
    unsafe { b::ib_dispatch_event(&ev) };
}

/// The backend can take more packets (backend.h). Nothing waits yet.
///
/// # Safety
///
/// `dev` is a live handle.
#[no_mangle]
pub(crate) unsafe extern "C" fn rvt_tx_done(_dev: *mut b::rvt_device, _port: u32) {}

/// How many packets a device dropped on receive (read by the KUnit suite;
/// the hardware counters that export it come with the data path).
#[cfg_attr(not(CONFIG_KUNIT), allow(dead_code))]
pub(crate) fn rx_dropped(dev: *mut b::rvt_device) -> u64 {
    // SAFETY: Callers pass a live handle (tests and counters only).
    unsafe { from_handle(dev) }.data().rx_dropped.load(Relaxed)
}
