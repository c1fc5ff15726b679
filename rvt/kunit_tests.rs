// SPDX-License-Identifier: GPL-2.0

//! KUnit: the backend registration path, driven by a loopback test backend
//! that implements the safe backend trait like a real backend does. The
//! suites run when rvt.ko is loaded into a kernel with KUnit (tests/kunit).

// The backend API is shared by every backend; each uses the part it needs.
#[allow(dead_code)]
#[path = "../include/rvt/backend.rs"]
mod backend_api;

use kernel::{
    prelude::*,
    sync::atomic::{Atomic, Relaxed},
};

use crate::bindings as b;
use backend_api::{link_info, ops_table, Backend, Device};

/// How many loopback devices' data were dropped (by rvt's release op).
static RELEASED: Atomic<u32> = Atomic::new(0);

struct LoopData {
    link_up: Atomic<bool>,
    sent: Atomic<u32>,
}

impl LoopData {
    fn new() -> Self {
        Self {
            link_up: Atomic::new(true),
            sent: Atomic::new(0),
        }
    }
}

impl Drop for LoopData {
    fn drop(&mut self) {
        RELEASED.add(1u32, Relaxed);
    }
}

/// A backend whose "wire" loops back to itself.
struct Loopback;

const LOOP_GUID: u64 = u64::from_be_bytes([0x02, 0x00, 0x5e, 0xff, 0xfe, 0x00, 0x00, 0x01]).to_be();

#[vtable]
impl Backend for Loopback {
    type Data = LoopData;
    const NAME: &'static CStr = c"kunit-loopback";
    const LINK_LAYER: u8 = b::rdma_link_layer_IB_LINK_LAYER_ETHERNET as u8;

    fn send(dev: Device<Self>, _port: u32, skb: *mut b::sk_buff, _path: &b::rvt_path) -> Result {
        dev.data().sent.add(1u32, Relaxed);
        // SAFETY: `send` consumes the skb.
        unsafe { b::rvt_helper_kfree_skb(skb) };
        Ok(())
    }

    fn query_link(dev: Device<Self>, _port: u32) -> Result<b::rvt_link_info> {
        Ok(link_info(
            dev.data().link_up.load(Relaxed),
            b::ib_mtu_IB_MTU_1024,
            b::ib_mtu_IB_MTU_4096,
        ))
    }

    fn node_guid(_dev: Device<Self>) -> u64 {
        LOOP_GUID
    }

    fn port_guid(_dev: Device<Self>, _port: u32) -> u64 {
        LOOP_GUID
    }

    fn mcast_add(_dev: Device<Self>, _port: u32, _mgid: &b::ib_gid) -> Result {
        Ok(())
    }

    fn mcast_del(_dev: Device<Self>, _port: u32, _mgid: &b::ib_gid) -> Result {
        Ok(())
    }

    fn get_send_buffer(
        _dev: Device<Self>,
        _port: u32,
        _path: &b::rvt_path,
        _len: u32,
    ) -> Result<*mut b::sk_buff> {
        Err(ENOMEM)
    }

    fn resolve_path(
        _dev: Device<Self>,
        _port: u32,
        _attr: &b::rdma_ah_attr,
    ) -> Result<b::rvt_path> {
        Ok(b::rvt_path::default())
    }

    fn path_mtu(_dev: Device<Self>, _path: &b::rvt_path) -> b::ib_mtu {
        b::ib_mtu_IB_MTU_1024
    }
}

fn port_state(dev: Device<Loopback>) -> Result<b::ib_port_state> {
    let mut attr = b::ib_port_attr::default();
    // SAFETY: A registered device; `attr` is a valid out parameter.
    kernel::error::to_result(unsafe { b::ib_query_port(dev.ibdev(), 1, &mut attr) })?;
    Ok(attr.state)
}

fn ibdev_name(dev: Device<Loopback>) -> &'static CStr {
    // SAFETY: The name of a registered device is a NUL-terminated array that
    // lives as long as the device (the tests use it while it does).
    unsafe { CStr::from_char_ptr((*dev.ibdev()).name.as_ptr()) }
}

#[kunit_tests(rvt_backend)]
mod tests {
    use super::*;

    #[test]
    fn register_reports_live_link_and_unregisters() -> Result {
        let before = RELEASED.load(Relaxed);
        let dev =
            Device::<Loopback>::register(c"rvt_kunit0", core::ptr::null_mut(), LoopData::new())?;
        assert_eq!(ibdev_name(dev).to_bytes(), b"rvt_kunit0");
        // SAFETY: A registered device.
        assert_eq!(unsafe { (*dev.ibdev()).node_guid }, LOOP_GUID);
        assert_eq!(port_state(dev)?, b::ib_port_state_IB_PORT_ACTIVE);
        // Port state is read live from the backend's link.
        dev.data().link_up.store(false, Relaxed);
        dev.event(1, b::rvt_event_RVT_EVENT_LINK_DOWN);
        assert_eq!(port_state(dev)?, b::ib_port_state_IB_PORT_DOWN);
        dev.data().link_up.store(true, Relaxed);
        dev.event(1, b::rvt_event_RVT_EVENT_LINK_UP);
        assert_eq!(port_state(dev)?, b::ib_port_state_IB_PORT_ACTIVE);
        // SAFETY: A registered device of this backend.
        let found = unsafe { Device::<Loopback>::from_ibdev(dev.ibdev()) };
        assert!(found.is_some());
        dev.unregister();
        assert_eq!(RELEASED.load(Relaxed), before + 1);
        Ok(())
    }

    #[test]
    fn missing_mandatory_op_is_refused() {
        let mut ops = *ops_table::<Loopback>();
        ops.send = None;
        let desc = b::rvt_device_desc {
            ops: &ops,
            ibdev_name: c"rvt_kunit_bad".as_char_ptr(),
            num_ports: 1,
            ..Default::default()
        };
        // SAFETY: A valid descriptor; the call must fail before using `ops` further.
        let dev = unsafe { b::rvt_register_device(&desc) };
        assert_eq!(kernel::error::from_err_ptr(dev), Err(EINVAL));
    }

    #[test]
    fn duplicate_name_is_refused_and_keeps_data() -> Result {
        let before = RELEASED.load(Relaxed);
        let first =
            Device::<Loopback>::register(c"rvt_kunit1", core::ptr::null_mut(), LoopData::new())?;
        let second =
            Device::<Loopback>::register(c"rvt_kunit1", core::ptr::null_mut(), LoopData::new());
        assert!(second.is_err());
        // The refused device's data went back to the caller and was dropped once.
        assert_eq!(RELEASED.load(Relaxed), before + 1);
        first.unregister();
        assert_eq!(RELEASED.load(Relaxed), before + 2);
        Ok(())
    }

    #[test]
    fn unregister_backend_frees_every_device() -> Result {
        let before = RELEASED.load(Relaxed);
        let a =
            Device::<Loopback>::register(c"rvt_kunit2", core::ptr::null_mut(), LoopData::new())?;
        let _b =
            Device::<Loopback>::register(c"rvt_kunit3", core::ptr::null_mut(), LoopData::new())?;
        // SAFETY: The table our devices were created with.
        unsafe { b::rvt_unregister_backend(ops_table::<Loopback>()) };
        assert_eq!(RELEASED.load(Relaxed), before + 2);
        // SAFETY: `a` is gone; only its (stale) handle value is compared.
        assert!(unsafe { b::rvt_device_from_ibdev(a.ibdev(), ops_table::<Loopback>()) }.is_null());
        Ok(())
    }

    #[test]
    fn receive_without_qps_drops_and_counts() -> Result {
        let dev =
            Device::<Loopback>::register(c"rvt_kunit4", core::ptr::null_mut(), LoopData::new())?;
        let handle = dev.as_raw();
        for _ in 0..3 {
            // SAFETY: Allocating an skb has no preconditions; NUMA_NO_NODE is -1.
            let skb = unsafe { b::__alloc_skb(64, kernel::bindings::GFP_KERNEL, 0, -1) };
            assert!(!skb.is_null());
            let meta = b::rvt_rx_meta::default();
            // SAFETY: A live device; the skb is given away.
            unsafe { b::rvt_receive(handle, skb, &meta) };
        }
        assert_eq!(crate::device::rx_dropped(handle), 3);
        dev.unregister();
        Ok(())
    }
}
