// SPDX-License-Identifier: GPL-2.0

//! KUnit: the backend API and device lifetimes, driven by a loopback test
//! backend that implements the safe backend trait like a real backend does.
//! The suites run when rvt.ko is loaded into a kernel with KUnit
//! (tests/kunit).

// The backend API is shared by every backend; each uses the part it needs.
#[allow(dead_code)]
#[path = "../include/rvt/backend.rs"]
mod backend_api;

#[path = "kunit_wire.rs"]
mod wire;

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
    /// Packets sent come back to the device (`wire`); else they are
    /// dropped, and no send buffer is to be had.
    wire: bool,
    /// Dropping takes this long, with a mark when it starts: a release that
    /// is still running when `rvt_unregister_backend` returns is then seen.
    slow_release: Option<Delta>,
}

impl LoopData {
    fn new() -> Self {
        Self::with_release_delay(None)
    }

    /// A device whose wire leads back to itself.
    fn wire() -> Self {
        let mut data = Self::new();
        data.wire = true;
        data
    }

    fn with_release_delay(slow_release: Option<Delta>) -> Self {
        Self {
            link_up: Atomic::new(true),
            sent: Atomic::new(0),
            wire: false,
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
        if dev.data().wire {
            wire::carry(dev, skb);
        } else {
            // SAFETY: `send` consumes the skb.
            unsafe { b::rvt_helper_kfree_skb(skb) };
        }
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
        dev: &Device<Self>,
        _port: u32,
        _path: &b::rvt_path,
        len: u32,
    ) -> Result<*mut b::sk_buff> {
        if !dev.data().wire {
            return Err(ENOMEM);
        }
        // SAFETY: An atomic allocation; no headroom (no outer headers).
        let skb = unsafe { b::__alloc_skb(len, kernel::bindings::GFP_ATOMIC, 0, -1) };
        if skb.is_null() {
            Err(ENOMEM)
        } else {
            Ok(skb)
        }
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
fn wait_for(mut cond: impl FnMut() -> bool) -> bool {
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

    // Every packet a backend hands over is counted, and each drop by its
    // reason: the backend's ICRC and header verdicts, a BTH that does not
    // parse, a QPN nobody has.
    #[test]
    fn receive_counts_every_packet_and_each_drop() -> Result {
        let dev = register(c"rvt_kunit4", LoopData::new())?;
        // A UD SEND only (IBA 9.2: BTH opcode 0x64, P_Key 0xffff, dest QP
        // 0x123456, PSN 1; DETH Q_Key 0x11111111, source QP 2), 4 payload bytes.
        let ud_send: [u8; 24] = [
            0x64, 0, 0xff, 0xff, 0, 0x12, 0x34, 0x56, 0, 0, 0, 1, 0x11, 0x11, 0x11, 0x11, 0, 0, 0,
            2, 1, 2, 3, 4,
        ];
        let cases: [(&[u8], u32); 4] = [
            (&ud_send, b::rvt_rx_check_RVT_RX_OK),
            (&ud_send, b::rvt_rx_check_RVT_RX_BAD_ICRC),
            (&ud_send, b::rvt_rx_check_RVT_RX_BAD_HEADERS),
            (&ud_send[..5], b::rvt_rx_check_RVT_RX_OK),
        ];
        for (bytes, check) in cases {
            // SAFETY: Allocating an skb has no preconditions; NUMA_NO_NODE is -1.
            let skb = unsafe { b::__alloc_skb(64, kernel::bindings::GFP_KERNEL, 0, -1) };
            assert!(!skb.is_null());
            // SAFETY: A fresh skb with 64 bytes of room.
            let room = unsafe { b::skb_put(skb, bytes.len() as u32) };
            // SAFETY: `room` has `bytes.len()` writable bytes.
            unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), room.cast(), bytes.len()) };
            let meta = b::rvt_rx_meta {
                port: 1,
                check: check as u8,
                ..Default::default()
            };
            // SAFETY: A device we hold a get on; a linear skb given away.
            unsafe { b::rvt_receive(dev.as_raw(), skb, &meta) };
        }
        // SAFETY: We hold a get on one of rvt's devices.
        let rvt_dev =
            unsafe { crate::ib::IbDevice::<crate::device::RvtDevice>::from_raw(dev.ibdev()) };
        let counters = rvt_dev.data().counters();
        assert_eq!(counters.get(Counter::RxPackets), 4);
        assert_eq!(counters.get(Counter::RxBytes), 3 * 24 + 5);
        assert_eq!(counters.get(Counter::RxNoQp), 1);
        assert_eq!(counters.get(Counter::RxIcrcErrors), 1);
        assert_eq!(counters.get(Counter::RxMalformed), 2);
        dev.unregister();
        Ok(())
    }

    // IBA 11.6.3.1: a QP on an SRQ that enters Error reports Last WQE
    // Reached, once per entry (ib_drain_qp waits up to 60 s for it before
    // a ULP such as nvmet with use_srq destroys the QP), and nothing fatal:
    // the consumer moved it.
    #[test]
    fn srq_qp_in_error_reports_last_wqe_reached() -> Result {
        let dev = register(c"rvt_kunit22", LoopData::new())?;
        let pd = alloc_pd(&dev)?;
        let events = CqEvents::new();
        let cq = create_cq(&dev, 16, &events)?;
        let srq = create_srq(pd, 4, 1)?;
        let seen = QpEvents::new();
        let mut init = b::ib_qp_init_attr {
            event_handler: Some(on_qp_event),
            qp_context: core::ptr::from_ref(&seen).cast_mut().cast(),
            send_cq: cq,
            recv_cq: cq,
            srq,
            qp_type: b::ib_qp_type_IB_QPT_RC,
            sq_sig_type: b::ib_sig_type_IB_SIGNAL_ALL_WR,
            cap: b::ib_qp_cap {
                max_send_wr: 4,
                max_send_sge: 1,
                ..Default::default()
            },
            ..Default::default()
        };
        // SAFETY: A live kernel PD, CQ and SRQ; valid attributes.
        let qp = unsafe { b::ib_create_qp_kernel(pd, &mut init, c"rvt_kunit".as_char_ptr()) };
        let qp = kernel::error::from_err_ptr(qp)?;
        let to = |state: b::ib_qp_state| {
            let mut attr = b::ib_qp_attr {
                qp_state: state,
                port_num: 1,
                ..Default::default()
            };
            let mut mask = b::ib_qp_attr_mask_IB_QP_STATE;
            if state == b::ib_qp_state_IB_QPS_INIT {
                mask |= b::ib_qp_attr_mask_IB_QP_PKEY_INDEX
                    | b::ib_qp_attr_mask_IB_QP_PORT
                    | b::ib_qp_attr_mask_IB_QP_ACCESS_FLAGS;
            }
            // SAFETY: A live QP; valid attributes.
            unsafe { b::ib_modify_qp(qp, &mut attr, mask as c_int) }
        };
        use b::{
            ib_qp_state_IB_QPS_ERR as ERR, ib_qp_state_IB_QPS_INIT as INIT,
            ib_qp_state_IB_QPS_RESET as RESET,
        };
        let rounds: [&[b::ib_qp_state]; 3] = [
            &[INIT, ERR],
            &[RESET, INIT, ERR],
            // Error to Error: entered once.
            &[RESET, INIT, ERR, ERR],
        ];
        let mut reached = [0; 3];
        let mut refused = 0;
        for (states, reached) in rounds.iter().zip(&mut reached) {
            for &state in *states {
                refused += u32::from(to(state) != 0);
            }
            *reached = seen.last_wqe_reached.load(Relaxed);
        }
        // Checked once the QP is gone: a failed assertion ends the test,
        // and objects left behind would hold off the unregistration.
        // SAFETY: Live kernel objects, not used again, the QP first.
        let destroyed = unsafe {
            (
                b::ib_destroy_qp_user(qp, core::ptr::null_mut()),
                b::ib_destroy_srq_user(srq, core::ptr::null_mut()),
            )
        };
        destroy_cq(cq)?;
        dealloc_pd(pd);
        dev.unregister();
        assert_eq!(destroyed, (0, 0));
        assert_eq!(refused, 0);
        assert_eq!(reached, [1, 2, 3]);
        assert_eq!(seen.fatal.load(Relaxed), 0);
        Ok(())
    }
}

/// What a test QP's event handler saw, shared through `qp_context`.
struct QpEvents {
    last_wqe_reached: Atomic<u32>,
    fatal: Atomic<u32>,
}

impl QpEvents {
    const fn new() -> Self {
        Self {
            last_wqe_reached: Atomic::new(0),
            fatal: Atomic::new(0),
        }
    }
}

/// # Safety
///
/// Called by ib_core as a QP's event handler, `context` a `&QpEvents`.
unsafe extern "C" fn on_qp_event(event: *mut b::ib_event, context: *mut c_void) {
    // SAFETY: The tests pass a `QpEvents` that outlives the QP; ib_core
    // passes a valid event.
    let (seen, event) = unsafe { (&*context.cast::<QpEvents>(), &*event) };
    match event.event {
        b::ib_event_type_IB_EVENT_QP_LAST_WQE_REACHED => {
            seen.last_wqe_reached.add(1u32, Relaxed);
        }
        b::ib_event_type_IB_EVENT_QP_FATAL => {
            seen.fatal.add(1u32, Relaxed);
        }
        _ => {}
    }
}

/// What the test CQ handlers saw, shared through `cq_context`.
struct CqEvents {
    completions: Atomic<u32>,
    cq_errors: Atomic<u32>,
    /// The completion handler re-arms and polls, as ULPs do.
    rearm_and_poll: Atomic<bool>,
    polled_in_handler: Atomic<u32>,
}

impl CqEvents {
    const fn new() -> Self {
        Self {
            completions: Atomic::new(0),
            cq_errors: Atomic::new(0),
            rearm_and_poll: Atomic::new(false),
            polled_in_handler: Atomic::new(0),
        }
    }
}

/// # Safety
///
/// Called by rvt as a CQ's completion handler, `context` a `&CqEvents`.
unsafe extern "C" fn on_completion(cq: *mut b::ib_cq, context: *mut c_void) {
    // SAFETY: The tests pass a `CqEvents` that outlives the CQ.
    let events = unsafe { &*context.cast::<CqEvents>() };
    events.completions.add(1u32, Relaxed);
    if events.rearm_and_poll.load(Relaxed) {
        // Inside the handler: must not deadlock on the CQ.
        let _ = req_notify(cq, b::ib_cq_notify_flags_IB_CQ_NEXT_COMP);
        let mut wc = [b::ib_wc::default(); 4];
        let n = poll(cq, &mut wc);
        events.polled_in_handler.add(n as u32, Relaxed);
    }
}

/// # Safety
///
/// Called by rvt as a CQ's event handler, `context` a `&CqEvents`.
unsafe extern "C" fn on_cq_event(event: *mut b::ib_event, context: *mut c_void) {
    // SAFETY: The tests pass a `CqEvents` that outlives the CQ; rvt passes
    // a valid event.
    let (events, event) = unsafe { (&*context.cast::<CqEvents>(), &*event) };
    if event.event == b::ib_event_type_IB_EVENT_CQ_ERR {
        events.cq_errors.add(1u32, Relaxed);
    }
}

/// A kernel CQ of `cqe` entries on `dev`, through ib_core.
fn create_cq<T: Backend>(dev: &Device<T>, cqe: u32, events: &CqEvents) -> Result<*mut b::ib_cq> {
    let attr = b::ib_cq_init_attr {
        cqe,
        ..Default::default()
    };
    create_cq_with(dev, &attr, events)
}

/// A kernel CQ with attributes `attr` on `dev`, through ib_core.
fn create_cq_with<T: Backend>(
    dev: &Device<T>,
    attr: &b::ib_cq_init_attr,
    events: &CqEvents,
) -> Result<*mut b::ib_cq> {
    // SAFETY: A registered device; `events` outlives the CQ (tests destroy
    // it before returning).
    let cq = unsafe {
        b::__ib_create_cq(
            dev.ibdev(),
            Some(on_completion),
            Some(on_cq_event),
            core::ptr::from_ref(events).cast_mut().cast(),
            attr,
            c"rvt_kunit".as_char_ptr(),
        )
    };
    kernel::error::from_err_ptr(cq)
}

fn destroy_cq(cq: *mut b::ib_cq) -> Result {
    // SAFETY: A kernel CQ from `create_cq`, not used again.
    kernel::error::to_result(unsafe { b::ib_destroy_cq_user(cq, core::ptr::null_mut()) })
}

/// `ib_poll_cq` (a static inline in C: the device's op).
fn poll(cq: *mut b::ib_cq, wc: &mut [b::ib_wc]) -> i32 {
    // SAFETY: A live CQ of an rvt device; `wc` has `wc.len()` entries.
    unsafe {
        match (*(*cq).device).ops.poll_cq {
            Some(poll) => poll(cq, wc.len() as c_int, wc.as_mut_ptr()),
            None => -1,
        }
    }
}

/// `ib_req_notify_cq` (a static inline in C: the device's op).
fn req_notify(cq: *mut b::ib_cq, flags: u32) -> i32 {
    // SAFETY: A live CQ of an rvt device.
    unsafe {
        match (*(*cq).device).ops.req_notify_cq {
            Some(notify) => notify(cq, flags),
            None => -1,
        }
    }
}

/// The work request id of a polled completion.
fn wr_id(wc: &b::ib_wc) -> u64 {
    // SAFETY: `wr_id` is the member of the union rvt sets.
    unsafe { wc.__bindgen_anon_1.wr_id }
}

/// Produces a completion as the transport will.
fn push(cq: *mut b::ib_cq, wr_id: u64, status: u32, solicited: bool) -> bool {
    let mut wc = b::ib_wc {
        status,
        ..Default::default()
    };
    wc.__bindgen_anon_1.wr_id = wr_id;
    // SAFETY: A live CQ of an rvt device: its data is a `Cq`.
    let cq = unsafe { crate::ib::IbObject::<b::ib_cq, Cq>::from_raw(cq) };
    Cq::push(cq, &CqEntry { wc, qp_num: 1 }, solicited).is_ok()
}

use crate::verbs::{
    counters::Counter,
    cq::{Cq, CqEntry},
    quota::Limit,
    table::Table,
};

const SUCCESS: u32 = b::ib_wc_status_IB_WC_SUCCESS;

#[kunit_tests(rvt_verbs)]
mod verbs_tests {
    use super::*;

    #[test]
    fn limits_are_enforced() -> Result {
        let limit = Limit::new(2);
        let a = limit.take()?;
        let _b = limit.take()?;
        assert!(limit.take().is_err());
        drop(a);
        assert!(limit.take().is_ok());
        Ok(())
    }

    // The MR and QPN tables: an index reserved before its object is
    // complete and published after, lock-free lookups under RCU, indices
    // from 1, and a removed entry gone for readers when `remove` returns.
    #[test]
    fn key_table_reserve_publish_lookup_remove() -> Result {
        let table = KBox::pin_init(Table::<u32>::new(2), GFP_KERNEL)?;
        let (a, b) = (KBox::new(10u32, GFP_KERNEL)?, KBox::new(20u32, GFP_KERNEL)?);
        let ra = table.reserve()?;
        let ia = ra.index();
        {
            // Reserved, not published: nothing to find yet.
            let rcu = kernel::sync::rcu::read_lock();
            assert!(table.get(ia, &rcu).is_none());
        }
        // SAFETY: Both outlive their entries: removed below, before the
        // boxes are dropped.
        unsafe { ra.publish(&a) };
        let rb = table.reserve()?;
        let ib = rb.index();
        // SAFETY: As above.
        unsafe { rb.publish(&b) };
        assert_ne!(ia, 0);
        assert_ne!(ia, ib);
        // Both indices are taken.
        assert!(table.reserve().is_err());
        {
            let rcu = kernel::sync::rcu::read_lock();
            assert_eq!(table.get(ia, &rcu).copied(), Some(10));
            assert_eq!(table.get(ib, &rcu).copied(), Some(20));
            assert!(table.get(0, &rcu).is_none());
        }
        assert!(table.remove(ia));
        assert!(!table.remove(ia));
        {
            let rcu = kernel::sync::rcu::read_lock();
            assert!(table.get(ia, &rcu).is_none());
        }
        // A reservation dropped unpublished gives its index back.
        assert_eq!(table.reserve()?.index(), ia);
        assert_eq!(table.reserve()?.index(), ia);
        assert!(table.remove(ib));
        Ok(())
    }

    #[test]
    fn device_advertises_what_it_enforces() -> Result {
        let dev = register(c"rvt_kunit10", LoopData::new())?;
        // SAFETY: A registered device we hold a get on: ib_core cached its
        // attributes at registration.
        let attrs = unsafe { &(*dev.ibdev()).attrs };
        assert_eq!(attrs.max_cqe, crate::verbs::cq::MAX_CQE);
        assert_eq!(attrs.max_cq, crate::verbs::cq::MAX_CQ);
        assert_eq!(attrs.max_pd, crate::verbs::pd::MAX_PD);
        assert_eq!(attrs.max_mr, crate::verbs::mr::MAX_MR);
        // rdma_rw (the NVMe-oF, iSER, SRP and NFS targets) divides by it.
        assert_eq!(attrs.max_sge_rd, crate::verbs::qp::MAX_SGE);
        assert_eq!(attrs.atomic_cap, b::ib_atomic_cap_IB_ATOMIC_GLOB);
        dev.unregister();
        Ok(())
    }

    #[test]
    fn kernel_pd_alloc_and_dealloc() -> Result {
        let dev = register(c"rvt_kunit11", LoopData::new())?;
        // SAFETY: A registered device.
        let pd = unsafe { b::__ib_alloc_pd(dev.ibdev(), 0, c"rvt_kunit".as_char_ptr()) };
        let pd = kernel::error::from_err_ptr(pd)?;
        // IBK_LOCAL_DMA_LKEY: the device's key, no internal MR.
        // SAFETY: A live PD.
        assert_eq!(unsafe { (*pd).local_dma_lkey }, 0);
        // SAFETY: A live PD, not used again.
        let err = unsafe { b::ib_dealloc_pd_user(pd, core::ptr::null_mut()) };
        assert_eq!(err, 0);
        dev.unregister();
        Ok(())
    }

    #[test]
    fn cq_bad_attributes_are_refused() -> Result {
        let dev = register(c"rvt_kunit12", LoopData::new())?;
        let events = CqEvents::new();
        // (ib_core itself refuses, with a warning, a kernel CQ of 0 entries.)
        let timestamps = b::ib_cq_init_attr {
            cqe: 4,
            flags: b::ib_uverbs_ex_create_cq_flags_IB_UVERBS_CQ_FLAGS_TIMESTAMP_COMPLETION,
            ..Default::default()
        };
        assert_eq!(
            create_cq_with(&dev, &timestamps, &events).err(),
            Some(EOPNOTSUPP)
        );
        let vector = b::ib_cq_init_attr {
            cqe: 4,
            comp_vector: 1,
            ..Default::default()
        };
        assert_eq!(create_cq_with(&dev, &vector, &events).err(), Some(EINVAL));
        assert_eq!(
            create_cq(&dev, crate::verbs::cq::MAX_CQE + 1, &events).err(),
            Some(EINVAL)
        );
        dev.unregister();
        Ok(())
    }

    #[test]
    fn cq_polls_in_order() -> Result {
        let dev = register(c"rvt_kunit13", LoopData::new())?;
        let events = CqEvents::new();
        let cq = create_cq(&dev, 4, &events)?;
        // SAFETY: A live CQ.
        assert_eq!(unsafe { (*cq).cqe }, 4);
        for id in 1..=3 {
            assert!(push(cq, id, SUCCESS, false));
        }
        let mut wc = [b::ib_wc::default(); 2];
        assert_eq!(poll(cq, &mut wc), 2);
        assert_eq!((wr_id(&wc[0]), wr_id(&wc[1])), (1, 2));
        assert_eq!(poll(cq, &mut wc), 1);
        assert_eq!(wr_id(&wc[0]), 3);
        assert_eq!(poll(cq, &mut wc), 0);
        // Nobody armed the CQ: no handler call.
        assert_eq!(events.completions.load(Relaxed), 0);
        destroy_cq(cq)?;
        dev.unregister();
        Ok(())
    }

    // rdma_rxe lost the completion when its CQ was full; rvt refuses it
    // (the producer keeps it) and raises IB_EVENT_CQ_ERR.
    #[test]
    fn full_cq_refuses_and_reports_never_drops() -> Result {
        let dev = register(c"rvt_kunit14", LoopData::new())?;
        let events = CqEvents::new();
        let cq = create_cq(&dev, 2, &events)?;
        assert!(push(cq, 1, SUCCESS, false));
        assert!(push(cq, 2, SUCCESS, false));
        assert!(!push(cq, 3, SUCCESS, false));
        assert_eq!(events.cq_errors.load(Relaxed), 1);
        // A producer retrying against the full CQ raises no event storm.
        assert!(!push(cq, 3, SUCCESS, false));
        assert_eq!(events.cq_errors.load(Relaxed), 1);
        let mut wc = [b::ib_wc::default(); 1];
        assert_eq!(poll(cq, &mut wc), 1);
        // Room again: the refused completion goes in, after the others.
        assert!(push(cq, 3, SUCCESS, false));
        let mut wc = [b::ib_wc::default(); 4];
        assert_eq!(poll(cq, &mut wc), 2);
        assert_eq!((wr_id(&wc[0]), wr_id(&wc[1])), (2, 3));
        destroy_cq(cq)?;
        dev.unregister();
        Ok(())
    }

    // rdma_rxe called the handler under its CQ lock, so a handler that
    // re-armed or polled deadlocked.
    #[test]
    fn handler_may_rearm_and_poll() -> Result {
        let dev = register(c"rvt_kunit15", LoopData::new())?;
        let events = CqEvents::new();
        events.rearm_and_poll.store(true, Relaxed);
        let cq = create_cq(&dev, 8, &events)?;
        assert_eq!(req_notify(cq, b::ib_cq_notify_flags_IB_CQ_NEXT_COMP), 0);
        assert!(push(cq, 1, SUCCESS, false));
        assert_eq!(events.completions.load(Relaxed), 1);
        assert_eq!(events.polled_in_handler.load(Relaxed), 1);
        // The handler re-armed: the next completion calls it again.
        assert!(push(cq, 2, SUCCESS, false));
        assert_eq!(events.completions.load(Relaxed), 2);
        assert_eq!(events.polled_in_handler.load(Relaxed), 2);
        destroy_cq(cq)?;
        dev.unregister();
        Ok(())
    }

    // IBA 11.4.2.2: one call per arming; a solicited arm fires on a
    // solicited or an unsuccessful completion.
    #[test]
    fn arming_rules() -> Result {
        let dev = register(c"rvt_kunit16", LoopData::new())?;
        let events = CqEvents::new();
        let cq = create_cq(&dev, 8, &events)?;
        assert_eq!(req_notify(cq, b::ib_cq_notify_flags_IB_CQ_NEXT_COMP), 0);
        assert!(push(cq, 1, SUCCESS, false));
        assert!(push(cq, 2, SUCCESS, false));
        assert_eq!(events.completions.load(Relaxed), 1);
        assert_eq!(req_notify(cq, b::ib_cq_notify_flags_IB_CQ_SOLICITED), 0);
        assert!(push(cq, 3, SUCCESS, false));
        assert_eq!(events.completions.load(Relaxed), 1);
        assert!(push(cq, 4, SUCCESS, true));
        assert_eq!(events.completions.load(Relaxed), 2);
        assert_eq!(req_notify(cq, b::ib_cq_notify_flags_IB_CQ_SOLICITED), 0);
        assert!(push(cq, 5, b::ib_wc_status_IB_WC_REM_ACCESS_ERR, false));
        assert_eq!(events.completions.load(Relaxed), 3);
        // REPORT_MISSED_EVENTS: completions are waiting.
        let missed = b::ib_cq_notify_flags_IB_CQ_NEXT_COMP
            | b::ib_cq_notify_flags_IB_CQ_REPORT_MISSED_EVENTS;
        assert_eq!(req_notify(cq, missed), 1);
        let mut wc = [b::ib_wc::default(); 8];
        assert_eq!(poll(cq, &mut wc), 5);
        assert_eq!(req_notify(cq, missed), 0);
        assert_eq!(req_notify(cq, 0), EINVAL.to_errno());
        destroy_cq(cq)?;
        dev.unregister();
        Ok(())
    }
}

use crate::{
    proto::engine::{QpType, SendFlags, WcStatus, WrOpcode},
    transport::{
        lock::{new_spinlock_bh, SpinLockBh},
        timer::{now_ns, QpTimer},
        work::{QpWork, Workqueue},
    },
    uapi::wqe::{self, Data, Malformed, SendHeader, SendLimits, SEND_WQE_HEADER},
};

/// A send WQE header as the rxe provider lays it out (rdma_user_rxe.h).
fn send_wqe(opcode: u32, flags: u32, num_sge: u32, dma_length: u32) -> [u8; SEND_WQE_HEADER] {
    let mut w = [0u8; SEND_WQE_HEADER];
    w[0..8].copy_from_slice(&0x1122_3344_5566_7788u64.to_le_bytes());
    w[12..16].copy_from_slice(&opcode.to_le_bytes());
    w[16..20].copy_from_slice(&flags.to_le_bytes());
    w[184..188].copy_from_slice(&dma_length.to_le_bytes());
    w[196..200].copy_from_slice(&num_sge.to_le_bytes());
    w
}

/// `n` SGEs of `len` bytes each.
fn sges(n: usize, len: u32) -> [u8; 512] {
    let mut p = [0u8; 512];
    for i in 0..n {
        p[i * 16 + 8..i * 16 + 12].copy_from_slice(&len.to_le_bytes());
        p[i * 16 + 12..i * 16 + 16].copy_from_slice(&0x100u32.to_le_bytes());
    }
    p
}

fn limits(service: QpType) -> SendLimits {
    SendLimits {
        service,
        max_sge: 4,
        max_inline: 64,
        sig_all: false,
    }
}

/// An object shaped like a QP's transport: a BH lock with a `closing`
/// flag, a timer whose callback queues the work, a work item that arms
/// the timer again at once: they keep each other busy until shutdown.
#[pin_data]
struct Pair {
    #[pin]
    closing: SpinLockBh<bool>,
    #[pin]
    timer: QpTimer,
    #[pin]
    work: QpWork,
    wq: Workqueue,
    fired: Atomic<u32>,
    worked: Atomic<u32>,
}

impl Pair {
    fn new() -> Result<Pin<KBox<Self>>> {
        KBox::try_pin_init(
            try_pin_init!(Self {
                closing <- new_spinlock_bh!(false, "rvt_kunit_pair"),
                timer <- QpTimer::new(Self::timer_fn),
                work <- QpWork::new(Self::work_fn),
                wq: Workqueue::new()?,
                fired: Atomic::new(0),
                worked: Atomic::new(0),
            }? Error),
            GFP_KERNEL,
        )
    }

    /// # Safety
    ///
    /// Called by the hrtimer core for the timer of a live `Pair`.
    unsafe extern "C" fn timer_fn(
        t: *mut kernel::bindings::hrtimer,
    ) -> kernel::bindings::hrtimer_restart {
        // SAFETY: The timer of a live `Pair` (shutdown cancels it first).
        let this = unsafe { &*kernel::container_of!(t.cast::<QpTimer>(), Pair, timer) };
        this.fired.add(1u32, Relaxed);
        if !*this.closing.lock() {
            this.work.queue(&this.wq);
        }
        kernel::bindings::hrtimer_restart::HRTIMER_NORESTART
    }

    /// # Safety
    ///
    /// Called by the workqueue for the work of a live `Pair`.
    unsafe extern "C" fn work_fn(w: *mut kernel::bindings::work_struct) {
        // SAFETY: The work of a live `Pair` (shutdown disables it first).
        let this = unsafe { &*kernel::container_of!(w.cast::<QpWork>(), Pair, work) };
        this.worked.add(1u32, Relaxed);
        let closing = this.closing.lock();
        if !*closing {
            this.timer.arm(now_ns() + 1_000);
        }
    }

    /// The QP teardown sequence (rvt/transport/qp.rs `shutdown`).
    fn shutdown(&self) {
        *self.closing.lock() = true;
        self.timer.cancel_sync();
        self.work.disable_sync();
    }
}

#[kunit_tests(rvt_transport)]
mod transport_tests {
    use super::*;

    #[test]
    fn bh_lock_excludes_and_try_lock_fails_while_held() {
        let lock = KBox::pin_init(new_spinlock_bh!(0u32, "rvt_kunit_bh"), GFP_KERNEL);
        let Ok(lock) = lock else { return };
        let mut guard = lock.lock();
        *guard += 1;
        assert!(lock.try_lock().is_none());
        drop(guard);
        assert_eq!(lock.try_lock().map(|g| *g), Some(1));
    }

    // The 2026 rdma_rxe use-after-free: a retransmit timer that ran after
    // its QP was freed. Timer and work re-arm each other every microsecond;
    // the shutdown sequence, then the free, must leave neither running
    // (KASAN in the debug profile sees any access after the free).
    #[test]
    fn timer_and_work_stop_before_free() -> Result {
        for round in 0..200u32 {
            let pair = Pair::new()?;
            pair.timer.arm(now_ns() + 1_000);
            // Let them run a while (longer every round, to vary the race).
            kernel::time::delay::fsleep(kernel::time::Delta::from_micros(
                i64::from(round % 7) * 50,
            ));
            pair.shutdown();
            let (fired, worked) = (pair.fired.load(Relaxed), pair.worked.load(Relaxed));
            // Queueing a disabled work and a late arm do nothing.
            pair.work.queue(&pair.wq);
            kernel::time::delay::fsleep(kernel::time::Delta::from_micros(100));
            assert_eq!(pair.fired.load(Relaxed), fired);
            assert_eq!(pair.worked.load(Relaxed), worked);
            drop(pair);
        }
        Ok(())
    }

    #[test]
    fn timer_fires_and_rearms() -> Result {
        let pair = Pair::new()?;
        pair.timer.arm(now_ns() + 1_000);
        let mut waited = 0;
        while pair.worked.load(Relaxed) < 3 && waited < 1000 {
            kernel::time::delay::fsleep(kernel::time::Delta::from_millis(1));
            waited += 1;
        }
        assert!(pair.fired.load(Relaxed) >= 3);
        assert!(pair.worked.load(Relaxed) >= 3);
        pair.shutdown();
        Ok(())
    }

    #[test]
    fn wqe_send_with_sges() {
        let h = SendHeader::parse(&send_wqe(
            b::ib_wr_opcode_IB_WR_SEND,
            b::ib_send_flags_IB_SEND_SIGNALED as u32,
            3,
            999,
        ));
        let parsed = wqe::to_send_wr(&h, &sges(3, 100), &limits(QpType::Rc));
        assert!(parsed.is_ok());
        let Ok((wr, data)) = parsed else { return };
        assert_eq!(wr.wr_id, 0x1122_3344_5566_7788);
        assert_eq!(wr.opcode, WrOpcode::Send);
        // The length is the kernel's sum of the SGEs, not the user's dma.length.
        assert_eq!(wr.len, 300);
        assert_eq!(data, Data::Sges(3));
        assert!(wr.flags.contains(SendFlags::SIGNALED));
        // IB_SIGNAL_ALL_WR signals every WQE.
        let unsignaled = SendHeader::parse(&send_wqe(b::ib_wr_opcode_IB_WR_SEND, 0, 1, 0));
        let all = SendLimits {
            sig_all: true,
            ..limits(QpType::Rc)
        };
        let ok = wqe::to_send_wr(&unsignaled, &sges(1, 8), &all);
        assert!(ok.is_ok_and(|(wr, _)| wr.flags.contains(SendFlags::SIGNALED)));
        let ok = wqe::to_send_wr(&unsignaled, &sges(1, 8), &limits(QpType::Rc));
        assert!(ok.is_ok_and(|(wr, _)| !wr.flags.contains(SendFlags::SIGNALED)));
    }

    #[test]
    fn wqe_immediate_is_network_order() {
        let mut w = send_wqe(b::ib_wr_opcode_IB_WR_SEND_WITH_IMM, 0, 0, 0);
        w[20..24].copy_from_slice(&[0x12, 0x34, 0x56, 0x78]);
        let h = SendHeader::parse(&w);
        let wr = wqe::to_send_wr(&h, &sges(0, 0), &limits(QpType::Uc));
        assert!(wr.is_ok_and(|(wr, _)| wr.imm_or_inv == 0x1234_5678));
    }

    #[test]
    fn wqe_malformed_is_refused() {
        let ud = limits(QpType::Ud);
        let rc = limits(QpType::Rc);
        let uc = limits(QpType::Uc);
        let parse = |op, flags, n, len| SendHeader::parse(&send_wqe(op, flags, n, len));
        let inline = b::ib_send_flags_IB_SEND_INLINE as u32;
        // More SGEs than the QP has.
        let h = parse(b::ib_wr_opcode_IB_WR_SEND, 0, 5, 0);
        assert_eq!(
            wqe::to_send_wr(&h, &sges(5, 1), &rc).err(),
            Some(Malformed::NumSge)
        );
        // More inline data than the QP has.
        let h = parse(b::ib_wr_opcode_IB_WR_SEND, inline, 0, 65);
        assert_eq!(
            wqe::to_send_wr(&h, &sges(0, 0), &rc).err(),
            Some(Malformed::InlineLen)
        );
        let h = parse(b::ib_wr_opcode_IB_WR_SEND, inline, 0, 64);
        assert!(wqe::to_send_wr(&h, &sges(0, 0), &rc).is_ok_and(|(_, d)| d == Data::Inline(64)));
        // Inline data on a READ.
        let h = parse(b::ib_wr_opcode_IB_WR_RDMA_READ, inline, 0, 8);
        assert_eq!(
            wqe::to_send_wr(&h, &sges(0, 0), &rc).err(),
            Some(Malformed::Opcode)
        );
        // SGE lengths summing past 2^31.
        let h = parse(b::ib_wr_opcode_IB_WR_SEND, 0, 2, 0);
        assert_eq!(
            wqe::to_send_wr(&h, &sges(2, 1 << 31), &rc).err(),
            Some(Malformed::Length)
        );
        // Opcodes per service.
        for op in [
            b::ib_wr_opcode_IB_WR_RDMA_WRITE,
            b::ib_wr_opcode_IB_WR_RDMA_READ,
        ] {
            let h = parse(op, 0, 0, 0);
            assert_eq!(
                wqe::to_send_wr(&h, &sges(0, 0), &ud).err(),
                Some(Malformed::Opcode)
            );
        }
        let h = parse(b::ib_wr_opcode_IB_WR_RDMA_READ, 0, 0, 0);
        assert_eq!(
            wqe::to_send_wr(&h, &sges(0, 0), &uc).err(),
            Some(Malformed::Opcode)
        );
        let h = parse(b::ib_wr_opcode_IB_WR_LOCAL_INV, 0, 0, 0);
        assert_eq!(
            wqe::to_send_wr(&h, &sges(0, 0), &rc).err(),
            Some(Malformed::Opcode)
        );
        let h = parse(0xff, 0, 0, 0);
        assert_eq!(
            wqe::to_send_wr(&h, &sges(0, 0), &rc).err(),
            Some(Malformed::Opcode)
        );
        // A UD send names its AH by number; 0 (the legacy AV) is refused.
        let h = parse(b::ib_wr_opcode_IB_WR_SEND, 0, 0, 0);
        assert_eq!(
            wqe::to_send_wr(&h, &sges(0, 0), &ud).err(),
            Some(Malformed::NoAh)
        );
        // Atomics: one SGE of at least 8 bytes, an 8-byte aligned address.
        let h = parse(b::ib_wr_opcode_IB_WR_ATOMIC_FETCH_AND_ADD, 0, 1, 0);
        assert_eq!(
            wqe::to_send_wr(&h, &sges(1, 4), &rc).err(),
            Some(Malformed::Length)
        );
        let mut w = send_wqe(b::ib_wr_opcode_IB_WR_ATOMIC_CMP_AND_SWP, 0, 1, 0);
        w[24..32].copy_from_slice(&4u64.to_le_bytes());
        let h = SendHeader::parse(&w);
        assert_eq!(
            wqe::to_send_wr(&h, &sges(1, 8), &rc).err(),
            Some(Malformed::Align)
        );
        assert_eq!(Malformed::InlineLen.status(), WcStatus::LocLenErr);
        assert_eq!(Malformed::Opcode.status(), WcStatus::LocQpOpErr);
    }

    #[test]
    fn wqe_ud_destination() {
        let mut w = send_wqe(b::ib_wr_opcode_IB_WR_SEND, 0, 0, 0);
        w[24..28].copy_from_slice(&0xff12_3456u32.to_le_bytes());
        w[28..32].copy_from_slice(&0x1111_2222u32.to_le_bytes());
        w[36..40].copy_from_slice(&7u32.to_le_bytes());
        let h = SendHeader::parse(&w);
        let wr = wqe::to_send_wr(&h, &sges(0, 0), &limits(QpType::Ud));
        assert!(wr.is_ok_and(|(wr, _)| wr.ud.ah == 7
            && wr.ud.remote_qpn == 0x12_3456
            && wr.ud.remote_qkey == 0x1111_2222));
    }

    #[test]
    fn recv_wqe_capacity() {
        assert_eq!(wqe::recv_len(&sges(2, 10), 2, 2), Some(20));
        assert_eq!(wqe::recv_len(&sges(3, 10), 3, 2), None);
        assert_eq!(wqe::recv_len(&sges(2, u32::MAX), 2, 2), None);
        assert_eq!(wqe::recv_len(&sges(0, 0), 0, 0), Some(0));
    }
}

/// A kernel PD on `dev`.
fn alloc_pd<T: Backend>(dev: &Device<T>) -> Result<*mut b::ib_pd> {
    // SAFETY: A registered device.
    let pd = unsafe { b::__ib_alloc_pd(dev.ibdev(), 0, c"rvt_kunit".as_char_ptr()) };
    kernel::error::from_err_ptr(pd)
}

fn dealloc_pd(pd: *mut b::ib_pd) {
    // SAFETY: A live kernel PD with nothing left in it.
    unsafe { b::ib_dealloc_pd_user(pd, core::ptr::null_mut()) };
}

/// An RC kernel QP on `pd` with both queues on `cq`.
fn rc_qp(
    pd: *mut b::ib_pd,
    cq: *mut b::ib_cq,
    cap: b::ib_qp_cap,
    sq_sig_type: b::ib_sig_type,
) -> Result<*mut b::ib_qp> {
    let mut init = b::ib_qp_init_attr {
        send_cq: cq,
        recv_cq: cq,
        qp_type: b::ib_qp_type_IB_QPT_RC,
        sq_sig_type,
        cap,
        ..Default::default()
    };
    // SAFETY: A live kernel PD and CQ; valid attributes.
    let qp = unsafe { b::ib_create_qp_kernel(pd, &mut init, c"rvt_kunit".as_char_ptr()) };
    kernel::error::from_err_ptr(qp)
}

/// A kernel SRQ on `pd` of `max_wr` WQEs of `max_sge` SGEs.
fn create_srq(pd: *mut b::ib_pd, max_wr: u32, max_sge: u32) -> Result<*mut b::ib_srq> {
    let mut init = b::ib_srq_init_attr::default();
    init.attr.max_wr = max_wr;
    init.attr.max_sge = max_sge;
    // SAFETY: A live kernel PD; valid attributes.
    let srq = unsafe {
        b::ib_create_srq_user(pd, &mut init, core::ptr::null_mut(), core::ptr::null_mut())
    };
    kernel::error::from_err_ptr(srq)
}

/// A receive work request of `num_sge` SGEs from `sges`.
fn recv_wr(wr_id: u64, sges: &mut [b::ib_sge], num_sge: i32) -> b::ib_recv_wr {
    let mut wr = b::ib_recv_wr {
        sg_list: sges.as_mut_ptr(),
        num_sge,
        ..Default::default()
    };
    wr.__bindgen_anon_1.wr_id = wr_id;
    wr
}

#[kunit_tests(rvt_kernel_verbs)]
mod kernel_verbs_tests {
    use super::*;

    // post_srq_recv of a kernel SRQ: each WQE checked, ENOMEM once full
    // with bad_wr naming the first refused request, EINVAL for too many
    // SGEs; query reports what was granted.
    #[test]
    fn kernel_srq_posts_and_refuses() -> Result {
        let dev = register(c"rvt_kunit20", LoopData::new())?;
        let pd = alloc_pd(&dev)?;
        let srq = create_srq(pd, 4, 2)?;
        let mut sges = [b::ib_sge {
            addr: 0x1000,
            length: 64,
            lkey: 0,
        }; 3];
        // SAFETY: A live SRQ of an rvt device: post_srq_recv is its op.
        let post = |wr: &b::ib_recv_wr, bad: &mut *const b::ib_recv_wr| unsafe {
            match (*(*srq).device).ops.post_srq_recv {
                Some(post) => post(srq, wr, bad),
                None => -1,
            }
        };
        let mut bad: *const b::ib_recv_wr = core::ptr::null();
        let too_many = recv_wr(9, &mut sges, 3);
        assert_eq!(post(&too_many, &mut bad), EINVAL.to_errno());
        assert!(core::ptr::eq(bad, &too_many));
        let mut wrs: [b::ib_recv_wr; 5] = core::array::from_fn(|i| recv_wr(i as u64, &mut sges, 2));
        for i in 0..4 {
            let next: *mut b::ib_recv_wr = &mut wrs[i + 1];
            wrs[i].next = next;
        }
        assert_eq!(post(&wrs[0], &mut bad), ENOMEM.to_errno());
        assert!(core::ptr::eq(bad, &wrs[4]));
        let mut attr = b::ib_srq_attr::default();
        // SAFETY: A live SRQ; a valid out parameter.
        assert_eq!(unsafe { b::ib_query_srq(srq, &mut attr) }, 0);
        assert_eq!((attr.max_wr, attr.max_sge), (4, 2));
        // SAFETY: A live kernel SRQ, not used again.
        let destroyed = unsafe { b::ib_destroy_srq_user(srq, core::ptr::null_mut()) };
        assert_eq!(destroyed, 0);
        dealloc_pd(pd);
        dev.unregister();
        Ok(())
    }

    // Kernel QPs: posts before the QP may take them are refused, receives
    // beyond the queue's depth get ENOMEM (IBA 11.4.1.2), the GSI QP of
    // the port exists (ib_mad created it at registration).
    #[test]
    fn kernel_qp_post_rules() -> Result {
        let dev = register(c"rvt_kunit21", LoopData::new())?;
        let pd = alloc_pd(&dev)?;
        let events = CqEvents::new();
        let cq = create_cq(&dev, 16, &events)?;
        let cap = b::ib_qp_cap {
            max_send_wr: 4,
            max_recv_wr: 2,
            max_send_sge: 1,
            max_recv_sge: 1,
            ..Default::default()
        };
        let qp = rc_qp(pd, cq, cap, b::ib_sig_type_IB_SIGNAL_ALL_WR)?;
        let mut sges = [b::ib_sge {
            addr: 0x1000,
            length: 64,
            lkey: 0,
        }; 1];
        // SAFETY: A live kernel QP of an rvt device: post_recv is its op.
        let post_recv = |wr: &b::ib_recv_wr, bad: &mut *const b::ib_recv_wr| unsafe {
            match (*(*qp).device).ops.post_recv {
                Some(post) => post(qp, wr, bad),
                None => -1,
            }
        };
        let mut bad: *const b::ib_recv_wr = core::ptr::null();
        let wr = recv_wr(1, &mut sges, 1);
        // Reset takes no receives (IBA 10.3.1).
        assert_eq!(post_recv(&wr, &mut bad), EINVAL.to_errno());
        let mut attr = b::ib_qp_attr {
            qp_state: b::ib_qp_state_IB_QPS_INIT,
            port_num: 1,
            ..Default::default()
        };
        let mask = b::ib_qp_attr_mask_IB_QP_STATE
            | b::ib_qp_attr_mask_IB_QP_PKEY_INDEX
            | b::ib_qp_attr_mask_IB_QP_PORT
            | b::ib_qp_attr_mask_IB_QP_ACCESS_FLAGS;
        // SAFETY: A live QP; valid attributes.
        assert_eq!(unsafe { b::ib_modify_qp(qp, &mut attr, mask as c_int) }, 0);
        assert_eq!(post_recv(&wr, &mut bad), 0);
        assert_eq!(post_recv(&wr, &mut bad), 0);
        assert_eq!(post_recv(&wr, &mut bad), ENOMEM.to_errno());
        // No sends before RTS.
        let mut swr = b::ib_send_wr {
            sg_list: sges.as_mut_ptr(),
            num_sge: 1,
            opcode: b::ib_wr_opcode_IB_WR_SEND,
            ..Default::default()
        };
        swr.__bindgen_anon_1.wr_id = 2;
        let mut sbad: *const b::ib_send_wr = core::ptr::null();
        // SAFETY: As for post_recv.
        let sent = unsafe {
            match (*(*qp).device).ops.post_send {
                Some(post) => post(qp, &swr, &mut sbad),
                None => -1,
            }
        };
        assert_eq!(sent, EINVAL.to_errno());
        // SAFETY: A live kernel QP, not used again.
        let destroyed = unsafe { b::ib_destroy_qp_user(qp, core::ptr::null_mut()) };
        assert_eq!(destroyed, 0);
        destroy_cq(cq)?;
        dealloc_pd(pd);
        dev.unregister();
        Ok(())
    }
}
