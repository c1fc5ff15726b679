// SPDX-License-Identifier: GPL-2.0

//! The backend API of include/rvt/backend.h, implemented here and exported
//! by rvt/exports.c: device creation, registration references, lookups and
//! the upcalls.
//!
//! A `struct rvt_device *` is the address of an `IbDevice<RvtDevice>`; its
//! private area is the `IbDevice`'s extra storage.

pub(crate) mod netdev;
pub(crate) mod ops;
pub(crate) mod registry;

use core::ptr::{self, NonNull};

use kernel::{prelude::*, str::CStr};

use crate::transport::skb::OwnedSkb;
use crate::{
    bindings as b,
    device::{handle, RvtDevice},
    ib::{IbDevice, IbDeviceRef, Unregistered},
};
use ops::BackendOps;

/// The device behind a C handle.
///
/// # Safety
///
/// `dev` is a handle from `rvt_alloc_device` whose data is initialised for
/// `'a` (the caller is inside an op or callback of the device, holds a get,
/// or owns the unregistered device).
unsafe fn from_handle<'a>(dev: *mut b::rvt_device) -> &'a IbDevice<RvtDevice> {
    // SAFETY: Per the contract, the handle is the IbDevice's address.
    unsafe { IbDevice::from_raw(dev.cast()) }
}

/// The handle of a device as C sees it, from a Rust pointer to it.
fn to_handle(dev: NonNull<IbDevice<RvtDevice>>) -> *mut b::rvt_device {
    dev.as_ptr().cast()
}

/// Creates an unregistered device (backend.h).
fn alloc(desc: &b::rvt_device_desc) -> Result<Unregistered<RvtDevice>> {
    // SAFETY: Backends pass a 'static ops table (backend.h contract).
    let ops = unsafe { BackendOps::check(desc.ops) }?;
    if desc.num_ports != 1 {
        pr_err!(
            "backend {}: a device needs exactly one port\n",
            ops.get().name()
        );
        return Err(EINVAL);
    }
    let net = if desc.netdev.is_null() {
        ptr::null_mut()
    } else {
        // SAFETY: The backend lends us a live netdev for the call.
        unsafe { b::rvt_helper_dev_net(desc.netdev) }
    };
    // SAFETY: `desc.netdev` is NULL or live for the call (backend.h).
    let data = unsafe { RvtDevice::new(ops, desc.netdev, desc.num_ports) };
    // SAFETY: `net` is the live netdev's (or NULL); the owner module outlives
    // its devices (it unregisters them all at its exit).
    let dev = unsafe { Unregistered::new(data, desc.priv_size, net, ops.owner()) }?;
    let ibdev = dev.as_raw();
    // SAFETY: Nobody else sees the device yet, so we may fill its fields.
    unsafe {
        (*ibdev).node_type = b::RDMA_NODE_IB_CA as u8;
        (*ibdev).phys_port_cnt = desc.num_ports;
        (*ibdev).num_comp_vectors = 1;
        (*ibdev).local_dma_lkey = 0;
        // Beyond ib_core's defaults, the rxe provider arms CQs with the
        // REQ_NOTIFY_CQ command (it polls them itself) and rings the send
        // doorbell with POST_SEND (an empty work request list).
        (*ibdev).uverbs_cmd_mask |= (1u64
            << b::ib_uverbs_write_cmds_IB_USER_VERBS_CMD_REQ_NOTIFY_CQ)
            | (1u64 << b::ib_uverbs_write_cmds_IB_USER_VERBS_CMD_POST_SEND);
        let desc_str = c"rvt software RDMA transport".to_bytes_with_nul();
        ptr::copy_nonoverlapping(
            desc_str.as_ptr().cast(),
            (*ibdev).node_desc.as_mut_ptr(),
            desc_str.len(),
        );
    }
    if !desc.netdev.is_null() {
        // SAFETY: Unregistered device, live netdev, port 1 exists.
        kernel::error::to_result(unsafe { b::ib_device_set_netdev(ibdev, desc.netdev, 1) })?;
    }
    Ok(dev)
}

/// Creates an unregistered device (backend.h).
///
/// # Safety
///
/// `desc` points to a valid descriptor, as backend.h documents.
#[no_mangle]
pub(crate) unsafe extern "C" fn rvt_alloc_device(
    desc: *const b::rvt_device_desc,
) -> *mut b::rvt_device {
    // SAFETY: Per the contract.
    let Some(desc) = (unsafe { desc.as_ref() }) else {
        return EINVAL.to_ptr();
    };
    match alloc(desc) {
        Ok(dev) => to_handle(dev.into_raw()),
        Err(e) => e.to_ptr(),
    }
}

/// Frees a device that was never registered (backend.h).
///
/// # Safety
///
/// `dev` came from `rvt_alloc_device`, was never passed to
/// `rvt_register_device`, and is not used again.
#[no_mangle]
pub(crate) unsafe extern "C" fn rvt_free_device(dev: *mut b::rvt_device) {
    if let Some(dev) = NonNull::new(dev.cast()) {
        // SAFETY: Per the contract, an unregistered device we now own.
        drop(unsafe { Unregistered::<RvtDevice>::from_raw(dev) });
    }
}

/// Registers a device (backend.h): 0 with a get held by the caller, or an
/// error with the device freed.
fn register(dev: Unregistered<RvtDevice>, name: &CStr) -> Result<IbDeviceRef<RvtDevice>> {
    let data = dev.data();
    // From here on the private area belongs to the device: freeing it, on
    // any path, calls the backend's release.
    data.set_backend_data_live();
    // SAFETY: The private area is live (the backend initialised it).
    let guid = unsafe { data.ops().node_guid(handle(&dev)) };
    // SAFETY: Nobody else sees the device yet.
    unsafe { (*dev.as_raw()).node_guid = guid };
    registry::add(&dev)?;
    dev.register(name)
}

/// Registers a device (backend.h).
///
/// # Safety
///
/// `dev` came from `rvt_alloc_device`, was never registered, and its private
/// area is initialised; `ibdev_name` is NULL or a NUL-terminated string.
#[no_mangle]
pub(crate) unsafe extern "C" fn rvt_register_device(
    dev: *mut b::rvt_device,
    ibdev_name: *const c_char,
) -> c_int {
    let Some(dev) = NonNull::new(dev.cast()) else {
        return EINVAL.to_errno();
    };
    // SAFETY: Per the contract, an unregistered device the caller gives us.
    let dev = unsafe { Unregistered::<RvtDevice>::from_raw(dev) };
    if ibdev_name.is_null() {
        // Dropping `dev` frees it and, the area being live, releases it.
        dev.data().set_backend_data_live();
        return EINVAL.to_errno();
    }
    // SAFETY: A NUL-terminated string (contract).
    let name = unsafe { CStr::from_char_ptr(ibdev_name) };
    match register(dev, name) {
        Ok(get) => {
            // The caller now owns this get (backend.h).
            let _ = get.into_raw();
            0
        }
        Err(e) => e.to_errno(),
    }
}

/// Takes a get on a device the caller can see (backend.h).
///
/// # Safety
///
/// `dev` is a device whose private area is live for the call.
#[no_mangle]
pub(crate) unsafe extern "C" fn rvt_device_try_get(dev: *mut b::rvt_device) -> bool {
    // SAFETY: Per the contract.
    let dev = unsafe { from_handle(dev) };
    // The caller owns the get (backend.h).
    dev.try_get().map(IbDeviceRef::into_raw).is_some()
}

/// Takes back a get owned by C code.
///
/// # Safety
///
/// The caller owns a get on `dev`, which it gives up.
unsafe fn take_get(dev: *mut b::rvt_device) -> Option<IbDeviceRef<RvtDevice>> {
    // SAFETY: Per the contract.
    NonNull::new(dev.cast()).map(|dev| unsafe { IbDeviceRef::from_raw_get(dev) })
}

/// Drops a get (backend.h).
///
/// # Safety
///
/// The caller owns a get on `dev`, which it gives up.
#[no_mangle]
pub(crate) unsafe extern "C" fn rvt_device_put(dev: *mut b::rvt_device) {
    // SAFETY: Per the contract.
    drop(unsafe { take_get(dev) });
}

/// Unregisters a device with the caller's get, and waits (backend.h).
///
/// # Safety
///
/// The caller owns a get on `dev`, which it gives up; process context.
#[no_mangle]
pub(crate) unsafe extern "C" fn rvt_unregister_device(dev: *mut b::rvt_device) {
    // SAFETY: Per the contract.
    if let Some(get) = unsafe { take_get(dev) } {
        get.unregister();
    }
}

/// Starts unregistering a device from a work item (backend.h).
///
/// # Safety
///
/// The caller holds a get on `dev`, which it keeps.
#[no_mangle]
pub(crate) unsafe extern "C" fn rvt_unregister_device_queued(dev: *mut b::rvt_device) {
    // SAFETY: Per the contract: we borrow the caller's get for the call.
    if let Some(get) = unsafe { take_get(dev) } {
        get.unregister_queued();
        // The get stays the caller's.
        let _ = get.into_raw();
    }
}

/// Unregisters every device of a backend and waits until all are freed.
///
/// # Safety
///
/// `ops` is the table the backend created its devices with; called from
/// process context (module exit), with no registration of it under way.
#[no_mangle]
pub(crate) unsafe extern "C" fn rvt_unregister_backend(ops: *const b::rvt_backend_ops) {
    registry::unregister_all(Some(ops));
}

/// The backend-private area of a device.
///
/// # Safety
///
/// `dev` is a device from `rvt_alloc_device` that is not freed.
#[no_mangle]
pub(crate) unsafe extern "C" fn rvt_device_priv(dev: *mut b::rvt_device) -> *mut c_void {
    // Only the address is computed, from the handle (the allocation).
    IbDevice::<RvtDevice>::extra(dev.cast()).cast()
}

/// The `ib_device` of a device.
///
/// # Safety
///
/// `dev` is a device from `rvt_alloc_device` that is not freed.
#[no_mangle]
pub(crate) unsafe extern "C" fn rvt_device_ibdev(dev: *mut b::rvt_device) -> *mut b::ib_device {
    // SAFETY: Per the contract.
    unsafe { from_handle(dev) }.as_raw()
}

/// The rvt device of backend `ops` behind an `ib_device`, or NULL. Lock-free.
///
/// # Safety
///
/// `ibdev` is a live `ib_device` (of any driver) on which the caller holds
/// a registration reference (a get), or whose ib_core callback it runs in.
#[no_mangle]
pub(crate) unsafe extern "C" fn rvt_device_from_ibdev(
    ibdev: *mut b::ib_device,
    ops: *const b::rvt_backend_ops,
) -> *mut b::rvt_device {
    // SAFETY: Per the contract; the caller's reference keeps our data alive.
    match unsafe { IbDevice::<RvtDevice>::try_from_raw(ibdev) } {
        Some(dev) if dev.data().ops().addr() == ops => handle(dev),
        _ => ptr::null_mut(),
    }
}

/// The device of backend `ops` bound to `ndev`, with a get, or NULL.
///
/// # Safety
///
/// `ndev` is a live net_device.
#[no_mangle]
pub(crate) unsafe extern "C" fn rvt_device_get_by_netdev(
    ndev: *mut b::net_device,
    ops: *const b::rvt_backend_ops,
) -> *mut b::rvt_device {
    // SAFETY: A live netdev; ib_core looks it up under RCU and returns a get.
    let ibdev = unsafe { b::ib_device_get_by_netdev(ndev, b::rdma_driver_id_RDMA_DRIVER_RXE) };
    if ibdev.is_null() {
        return ptr::null_mut();
    }
    // SAFETY: We hold a get on `ibdev`.
    let dev = unsafe { rvt_device_from_ibdev(ibdev, ops) };
    if dev.is_null() {
        // SAFETY: Drops the get taken above.
        unsafe { b::ib_device_put(ibdev) };
    }
    // Otherwise the get is the caller's (backend.h).
    dev
}

/// A packet from the wire (backend.h): counted and handed to the device.
///
/// # Safety
///
/// `dev` is a device whose private area is live, `skb` a packet the caller
/// gives up, `meta` valid for the call; when `meta.check` is `RVT_RX_OK`
/// the skb is linear with `skb->data` at the BTH.
#[no_mangle]
pub(crate) unsafe extern "C" fn rvt_receive(
    dev: *mut b::rvt_device,
    skb: *mut b::sk_buff,
    meta: *const b::rvt_rx_meta,
) {
    // SAFETY: Per the contract: the skb is ours from here.
    let (dev, meta, skb) = unsafe { (from_handle(dev), &*meta, OwnedSkb::from_raw(skb)) };
    if let Some(skb) = skb {
        dev.data().receive(skb, meta);
    }
}

/// The kernel's CRC-32 (`crc32_le`, arch-accelerated) for the engine's ICRC.
struct KernelCrc32;

impl crate::proto::icrc::Crc32 for KernelCrc32 {
    fn update(&self, crc: u32, bytes: &[u8]) -> u32 {
        // SAFETY: `bytes` is readable for its length.
        unsafe { b::crc32_le(crc, bytes.as_ptr().cast(), bytes.len()) }
    }
}

/// Checks a received RoCEv2 packet's ICRC (backend.h).
///
/// # Safety
///
/// `ip_and_udp` is readable for `hdr_len` bytes, `bth_onward` for `len`.
#[no_mangle]
pub(crate) unsafe extern "C" fn rvt_roce_icrc_check(
    ip_and_udp: *const c_void,
    hdr_len: u32,
    bth_onward: *const c_void,
    len: u32,
) -> c_int {
    // SAFETY: Per the contract.
    let (headers, packet) = unsafe {
        (
            core::slice::from_raw_parts(ip_and_udp.cast::<u8>(), hdr_len as usize),
            core::slice::from_raw_parts(bth_onward.cast::<u8>(), len as usize),
        )
    };
    match crate::proto::icrc::check_roce_with(KernelCrc32, headers, packet) {
        Ok(_) => 0,
        Err(crate::proto::headers::WireError::BadIcrc) => EBADMSG.to_errno(),
        Err(_) => EINVAL.to_errno(),
    }
}

/// Computes a RoCEv2 packet's ICRC for transmission (backend.h).
///
/// # Safety
///
/// `ip_and_udp` is readable for `hdr_len` bytes, `bth_onward` for `len`,
/// `icrc` writable for 4.
#[no_mangle]
pub(crate) unsafe extern "C" fn rvt_roce_icrc_generate(
    ip_and_udp: *const c_void,
    hdr_len: u32,
    bth_onward: *const c_void,
    len: u32,
    icrc: *mut u8,
) -> c_int {
    // SAFETY: Per the contract.
    let (headers, packet) = unsafe {
        (
            core::slice::from_raw_parts(ip_and_udp.cast::<u8>(), hdr_len as usize),
            core::slice::from_raw_parts(bth_onward.cast::<u8>(), len as usize),
        )
    };
    match crate::proto::icrc::roce_icrc_with(KernelCrc32, headers, packet) {
        Ok(value) => {
            // SAFETY: Per the contract; the wire order is little-endian.
            unsafe { core::ptr::copy_nonoverlapping(value.to_le_bytes().as_ptr(), icrc, 4) };
            0
        }
        Err(_) => EINVAL.to_errno(),
    }
}

/// A link event (backend.h): dispatched to ib_core's clients.
///
/// # Safety
///
/// `dev` is a device whose private area is live.
#[no_mangle]
pub(crate) unsafe extern "C" fn rvt_handle_event(
    dev: *mut b::rvt_device,
    port: u32,
    event: b::rvt_event,
) {
    let kind = match event {
        b::rvt_event_RVT_EVENT_LINK_UP => b::ib_event_type_IB_EVENT_PORT_ACTIVE,
        b::rvt_event_RVT_EVENT_LINK_DOWN => b::ib_event_type_IB_EVENT_PORT_ERR,
        b::rvt_event_RVT_EVENT_LID_CHANGE => b::ib_event_type_IB_EVENT_LID_CHANGE,
        b::rvt_event_RVT_EVENT_SM_CHANGE => b::ib_event_type_IB_EVENT_SM_CHANGE,
        b::rvt_event_RVT_EVENT_PKEY_CHANGE => b::ib_event_type_IB_EVENT_PKEY_CHANGE,
        b::rvt_event_RVT_EVENT_GID_CHANGE => b::ib_event_type_IB_EVENT_GID_CHANGE,
        _ => return,
    };
    // SAFETY: Per the contract.
    let dev = unsafe { from_handle(dev) };
    if dev.data().check_port(port).is_err() {
        return;
    }
    // ib_core queues cache updates that point at the device without a
    // reference: dispatch only while it is registered, holding it so.
    let Some(registered) = dev.try_get() else {
        return;
    };
    let mut ev = b::ib_event {
        device: registered.as_raw(),
        event: kind,
        ..Default::default()
    };
    ev.element.port_num = port;
    // SAFETY: A registered device we hold; the event is valid for the call.
    unsafe { b::ib_dispatch_event(&ev) };
}

/// The backend can take more packets (backend.h). A hint rvt does not need:
/// a QP whose packet the backend refused as busy sends it again on its own
/// back-off timer (10 µs, doubling to 1 ms); waking it here instead is a
/// later optimisation (no backend calls this yet).
///
/// # Safety
///
/// `dev` is a device whose private area is live.
#[no_mangle]
pub(crate) unsafe extern "C" fn rvt_tx_done(_dev: *mut b::rvt_device, _port: u32) {}
