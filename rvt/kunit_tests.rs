// SPDX-License-Identifier: GPL-2.0

//! KUnit: the backend API and device lifetimes, driven by a loopback test
//! backend that implements the safe backend trait like a real backend does.
//! The suites run when rvt.ko is loaded into a kernel with KUnit
//! (tests/kunit).

// The backend API is shared by every backend; each uses the part it needs.
#[allow(dead_code)]
#[path = "../include/rvt/backend.rs"]
mod backend_api;

use kernel::{
    prelude::*,
    sync::atomic::{Atomic, Relaxed},
    time::{delay::fsleep, Delta},
};

use crate::bindings as b;
use backend_api::{link_info, ops_table, Backend, Device, DeviceRef, UnregisteredDevice};

/// How many loopback devices' data were dropped (by rvt's release op, or by
/// an unregistered device's drop).
static RELEASED: Atomic<u32> = Atomic::new(0);
/// How many slow releases have started (see `LoopData::slow_release`).
static SLOW_RELEASES_STARTED: Atomic<u32> = Atomic::new(0);

struct LoopData {
    link_up: Atomic<bool>,
    sent: Atomic<u32>,
    /// Dropping takes this long, with a mark when it starts: a release that
    /// is still running when `rvt_unregister_backend` returns is then seen.
    slow_release: Option<Delta>,
}

impl LoopData {
    fn new() -> Self {
        Self::with_release_delay(None)
    }

    fn with_release_delay(slow_release: Option<Delta>) -> Self {
        Self {
            link_up: Atomic::new(true),
            sent: Atomic::new(0),
            slow_release,
        }
    }
}

impl Drop for LoopData {
    fn drop(&mut self) {
        if let Some(delay) = self.slow_release {
            SLOW_RELEASES_STARTED.add(1u32, Relaxed);
            fsleep(delay);
        }
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

    fn send(dev: &Device<Self>, _port: u32, skb: *mut b::sk_buff, _path: &b::rvt_path) -> Result {
        dev.data().sent.add(1u32, Relaxed);
        // SAFETY: `send` consumes the skb.
        unsafe { b::rvt_helper_kfree_skb(skb) };
        Ok(())
    }

    fn query_link(dev: &Device<Self>, _port: u32) -> Result<b::rvt_link_info> {
        Ok(link_info(
            dev.data().link_up.load(Relaxed),
            b::ib_mtu_IB_MTU_1024,
            b::ib_mtu_IB_MTU_4096,
        ))
    }

    fn node_guid(_dev: &Device<Self>) -> u64 {
        LOOP_GUID
    }

    fn port_guid(_dev: &Device<Self>, _port: u32) -> u64 {
        LOOP_GUID
    }

    fn mcast_add(_dev: &Device<Self>, _port: u32, _mgid: &b::ib_gid) -> Result {
        Ok(())
    }

    fn mcast_del(_dev: &Device<Self>, _port: u32, _mgid: &b::ib_gid) -> Result {
        Ok(())
    }

    fn get_send_buffer(
        _dev: &Device<Self>,
        _port: u32,
        _path: &b::rvt_path,
        _len: u32,
    ) -> Result<*mut b::sk_buff> {
        Err(ENOMEM)
    }

    fn resolve_path(
        _dev: &Device<Self>,
        _port: u32,
        _attr: &b::rdma_ah_attr,
        _sleepable: bool,
    ) -> Result<b::rvt_path> {
        Ok(b::rvt_path::default())
    }

    fn path_mtu(_dev: &Device<Self>, _path: &b::rvt_path) -> b::ib_mtu {
        b::ib_mtu_IB_MTU_1024
    }
}

/// Creates and registers a loopback device named `name` with `data`.
fn register(name: &CStr, data: LoopData) -> Result<DeviceRef<Loopback>> {
    // SAFETY: No netdev.
    unsafe { UnregisteredDevice::<Loopback>::new(core::ptr::null_mut(), data) }?.register(name)
}

fn port_state(dev: &Device<Loopback>) -> Result<b::ib_port_state> {
    let mut attr = b::ib_port_attr::default();
    // SAFETY: A registered device; `attr` is a valid out parameter.
    kernel::error::to_result(unsafe { b::ib_query_port(dev.ibdev(), 1, &mut attr) })?;
    Ok(attr.state)
}

fn ibdev_name(dev: &Device<Loopback>) -> &CStr {
    // SAFETY: The name of a registered device is a NUL-terminated array that
    // lives as long as the device, which outlives the borrow.
    unsafe { CStr::from_char_ptr((*dev.ibdev()).name.as_ptr()) }
}

/// Waits up to two seconds for `cond`.
fn wait_for(cond: impl Fn() -> bool) -> bool {
    for _ in 0..200 {
        if cond() {
            return true;
        }
        fsleep(Delta::from_millis(10));
    }
    cond()
}

#[kunit_tests(rvt_backend)]
mod tests {
    use super::*;

    #[test]
    fn register_reports_live_link_and_unregisters() -> Result {
        let before = RELEASED.load(Relaxed);
        let dev = register(c"rvt_kunit0", LoopData::new())?;
        assert_eq!(ibdev_name(&dev).to_bytes(), b"rvt_kunit0");
        // SAFETY: A registered device we hold a get on.
        assert_eq!(unsafe { (*dev.ibdev()).node_guid }, LOOP_GUID);
        assert_eq!(port_state(&dev)?, b::ib_port_state_IB_PORT_ACTIVE);
        // Port state is read live from the backend's link.
        dev.data().link_up.store(false, Relaxed);
        assert_eq!(port_state(&dev)?, b::ib_port_state_IB_PORT_DOWN);
        dev.data().link_up.store(true, Relaxed);
        assert_eq!(port_state(&dev)?, b::ib_port_state_IB_PORT_ACTIVE);
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
            num_ports: 1,
            ..Default::default()
        };
        // SAFETY: A valid descriptor; the call must fail before using `ops` further.
        let dev = unsafe { b::rvt_alloc_device(&desc) };
        assert_eq!(kernel::error::from_err_ptr(dev), Err(EINVAL));
    }

    #[test]
    fn duplicate_name_is_refused_and_drops_data_once() -> Result {
        let before = RELEASED.load(Relaxed);
        let first = register(c"rvt_kunit1", LoopData::new())?;
        let second = register(c"rvt_kunit1", LoopData::new());
        assert!(second.is_err());
        // The refused device's data was dropped exactly once (by release).
        assert_eq!(RELEASED.load(Relaxed), before + 1);
        first.unregister();
        assert_eq!(RELEASED.load(Relaxed), before + 2);
        Ok(())
    }

    #[test]
    fn unregistered_device_drops_its_data_once() -> Result {
        let before = RELEASED.load(Relaxed);
        let no_netdev = core::ptr::null_mut();
        // SAFETY: No netdev.
        let dev = unsafe { UnregisteredDevice::<Loopback>::new(no_netdev, LoopData::new()) }?;
        dev.data().sent.store(7, Relaxed);
        assert_eq!(dev.data().sent.load(Relaxed), 7);
        drop(dev);
        assert_eq!(RELEASED.load(Relaxed), before + 1);
        Ok(())
    }

    #[test]
    fn unregister_backend_frees_every_device() -> Result {
        let before = RELEASED.load(Relaxed);
        // The gets are dropped at once: unregistration waits for them.
        drop(register(c"rvt_kunit2", LoopData::new())?);
        drop(register(c"rvt_kunit3", LoopData::new())?);
        // SAFETY: The table our devices were created with; process context.
        unsafe { b::rvt_unregister_backend(ops_table::<Loopback>()) };
        assert_eq!(RELEASED.load(Relaxed), before + 2);
        Ok(())
    }

    // The module-unload fence: rvt_unregister_backend must not return while
    // a release (backend code) of one of its devices still runs, here one
    // started by a queued unregistration (what NETDEV_UNREGISTER does).
    #[test]
    fn unregister_backend_waits_for_a_running_release() -> Result {
        let before = RELEASED.load(Relaxed);
        let started = SLOW_RELEASES_STARTED.load(Relaxed);
        let data = LoopData::with_release_delay(Some(Delta::from_millis(200)));
        let dev = register(c"rvt_kunit5", data)?;
        dev.unregister_queued();
        drop(dev);
        assert!(wait_for(|| SLOW_RELEASES_STARTED.load(Relaxed) > started));
        // SAFETY: The table our device was created with; process context.
        unsafe { b::rvt_unregister_backend(ops_table::<Loopback>()) };
        assert_eq!(RELEASED.load(Relaxed), before + 1);
        Ok(())
    }

    // A get keeps the device registered and its data alive while another
    // thread unregisters it (`rdma link delete` racing a backend).
    #[test]
    fn a_get_holds_off_unregistration() -> Result {
        let before = RELEASED.load(Relaxed);
        let dev = register(c"rvt_kunit6", LoopData::new())?;
        let second = dev.try_get().ok_or(EINVAL)?;
        dev.unregister_queued();
        drop(dev);
        fsleep(Delta::from_millis(100));
        assert_eq!(RELEASED.load(Relaxed), before);
        second.data().sent.add(1u32, Relaxed);
        assert_eq!(second.data().sent.load(Relaxed), 1);
        drop(second);
        assert!(wait_for(|| RELEASED.load(Relaxed) == before + 1));
        Ok(())
    }

    // Lookups a backend makes from atomic context (receive, notifiers) take
    // no sleeping lock: with CONFIG_DEBUG_ATOMIC_SLEEP (the debug profile) a
    // mutex here would be reported, and tests/kunit fails on the report.
    #[test]
    fn device_from_ibdev_is_lock_free() -> Result {
        let dev = register(c"rvt_kunit7", LoopData::new())?;
        let found = {
            let _rcu = kernel::sync::rcu::read_lock();
            // SAFETY: We hold a get on the device.
            unsafe { b::rvt_device_from_ibdev(dev.ibdev(), ops_table::<Loopback>()) }
        };
        assert_eq!(found, dev.as_raw());
        let mut other = *ops_table::<Loopback>();
        other.name = c"other".as_char_ptr();
        // SAFETY: As above; another table is not this device's backend.
        let foreign = unsafe { b::rvt_device_from_ibdev(dev.ibdev(), &other) };
        assert!(foreign.is_null());
        dev.unregister();
        Ok(())
    }

    #[test]
    fn receive_without_qps_drops_and_counts() -> Result {
        let dev = register(c"rvt_kunit4", LoopData::new())?;
        for _ in 0..3 {
            // SAFETY: Allocating an skb has no preconditions; NUMA_NO_NODE is -1.
            let skb = unsafe { b::__alloc_skb(64, kernel::bindings::GFP_KERNEL, 0, -1) };
            assert!(!skb.is_null());
            let meta = b::rvt_rx_meta::default();
            // SAFETY: A device we hold a get on; the skb is given away.
            unsafe { b::rvt_receive(dev.as_raw(), skb, &meta) };
        }
        // SAFETY: We hold a get on one of rvt's devices.
        let rvt_dev =
            unsafe { crate::ib::IbDevice::<crate::device::RvtDevice>::from_raw(dev.ibdev()) };
        assert_eq!(rvt_dev.data().rx_dropped(), 3);
        dev.unregister();
        Ok(())
    }
}
