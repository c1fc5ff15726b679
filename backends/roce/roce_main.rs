// SPDX-License-Identifier: GPL-2.0

//! rvt_roce: the RoCEv2 backend of rvt, over any Ethernet netdev.
//!
//! `rdma link add NAME type rvt netdev DEV` creates an rvt device bound to
//! DEV; the device follows DEV's state (up/down, carrier, MTU) and goes away
//! with it, with `rdma link delete NAME`, or when this module is unloaded.

use kernel::{prelude::*, str::CStr, types::Opaque};

// The backend API is shared by every backend; each uses the part it needs.
#[allow(dead_code)]
#[path = "../../include/rvt/backend.rs"]
mod backend_api;
#[path = "../../include/rvt/bindings.rs"]
mod bindings;
mod net;

use backend_api::{link_info, ops_table, Backend, Device, DeviceRef, UnregisteredDevice};
use bindings as b;

module! {
    type: RoceBackend,
    name: "rvt_roce",
    authors: ["rvt developers"],
    description: "RoCEv2 backend of the rvt software RDMA transport",
    license: "GPL",
    // MODULE_ALIAS_RDMA_LINK("rvt"): `rdma link add ... type rvt` loads us.
    alias: ["rdma-link-rvt"],
}

/// What the backend keeps per device.
///
/// # Invariants
///
/// `netdev` is the device's bound netdev; rvt holds a reference on it for as
/// long as the device exists.
struct RoceData {
    netdev: *mut b::net_device,
    /// The RoCEv2 sockets of the netdev's namespace, open while we exist.
    _sockets: net::NetSockets,
}

// SAFETY: A net_device is usable from any thread; rvt keeps it alive.
unsafe impl Send for RoceData {}
// SAFETY: As above; RoceData itself is immutable.
unsafe impl Sync for RoceData {}

/// RoCEv2 headers the largest IB MTU must leave room for inside the netdev
/// MTU: GRH-sized IP header (40), UDP (8), BTH (12), the largest extension
/// headers (XRCETH 4 + AtomicETH 28) and ICRC (4); IBA annex A17.
const ROCE_OVERHEAD: u32 = 40 + 8 + 12 + 4 + 28 + 4;

/// The largest `enum ib_mtu` that fits in a netdev MTU (0 when none does).
fn ib_mtu_for(netdev_mtu: u32) -> b::ib_mtu {
    match netdev_mtu.saturating_sub(ROCE_OVERHEAD) {
        4096.. => b::ib_mtu_IB_MTU_4096,
        2048.. => b::ib_mtu_IB_MTU_2048,
        1024.. => b::ib_mtu_IB_MTU_1024,
        512.. => b::ib_mtu_IB_MTU_512,
        256.. => b::ib_mtu_IB_MTU_256,
        _ => 0,
    }
}

/// EUI-64 from a MAC address (RFC 4291 appendix A): the GUID of a RoCE device.
fn eui64(mac: &[u8; 6]) -> u64 {
    u64::from_be_bytes([
        mac[0] ^ 2,
        mac[1],
        mac[2],
        0xff,
        0xfe,
        mac[3],
        mac[4],
        mac[5],
    ])
    .to_be()
}

impl RoceData {
    fn mac(&self) -> [u8; 6] {
        let mut mac = [0u8; 6];
        // SAFETY: `netdev` is alive (type invariant); `mac` has ETH_ALEN bytes.
        unsafe { b::rvt_helper_netdev_addr(self.netdev, mac.as_mut_ptr()) };
        mac
    }

    fn link_up(&self) -> bool {
        // SAFETY: `netdev` is alive (type invariant).
        unsafe {
            b::rvt_helper_netif_running(self.netdev) && b::rvt_helper_netif_carrier_ok(self.netdev)
        }
    }

    fn mtu(&self) -> u32 {
        // SAFETY: `netdev` is alive (type invariant).
        unsafe { b::rvt_helper_netdev_mtu(self.netdev) }
    }

    /// The Ethernet multicast address of a multicast GID: for an
    /// IPv4-mapped group (RoCEv2 over IPv4), 01:00:5e and the low 23 bits
    /// of the IPv4 group (RFC 1112 section 6.4); otherwise 33:33 and the
    /// low 32 bits of the IPv6 group address (RFC 2464 section 7).
    fn mcast_mac(mgid: &b::ib_gid) -> [u8; 6] {
        // SAFETY: Every bit pattern is a valid `raw` view of the GID union.
        let raw = unsafe { mgid.raw };
        if raw[..10].iter().all(|&byte| byte == 0) && raw[10] == 0xff && raw[11] == 0xff {
            [0x01, 0x00, 0x5e, raw[13] & 0x7f, raw[14], raw[15]]
        } else {
            [0x33, 0x33, raw[12], raw[13], raw[14], raw[15]]
        }
    }
}

/// The RoCEv2 backend.
pub(crate) struct Roce;

#[vtable]
impl Backend for Roce {
    type Data = RoceData;
    const NAME: &'static CStr = c"roce";
    const LINK_LAYER: u8 = b::rdma_link_layer_IB_LINK_LAYER_ETHERNET as u8;

    fn send(dev: &Device<Self>, _port: u32, skb: *mut b::sk_buff, path: &b::rvt_path) -> Result {
        // SAFETY: The bound netdev (held by rvt while the device lives), an
        // skb from `get_send_buffer` with the packet in it, a valid path.
        kernel::error::to_result(unsafe { b::rvt_roce_xmit(dev.data().netdev, skb, path) })
    }

    /// Sleeps: ib_get_eth_speed takes RTNL (rvt calls this from ib_query_port).
    fn query_link(dev: &Device<Self>, port: u32) -> Result<b::rvt_link_info> {
        let data = dev.data();
        let mut info = link_info(
            data.link_up(),
            ib_mtu_for(data.mtu()),
            b::ib_mtu_IB_MTU_4096,
        );
        // Speed and width from the netdev's ethtool link settings.
        // SAFETY: A registered device with a netdev; valid out parameters.
        let err = unsafe {
            b::ib_get_eth_speed(
                dev.ibdev(),
                port,
                &mut info.active_speed,
                &mut info.active_width,
            )
        };
        if err != 0 {
            info.active_speed = b::ib_port_speed_IB_SPEED_SDR as u16;
            info.active_width = b::ib_port_width_IB_WIDTH_1X as u8;
        }
        Ok(info)
    }

    fn node_guid(dev: &Device<Self>) -> u64 {
        eui64(&dev.data().mac())
    }

    fn port_guid(dev: &Device<Self>, _port: u32) -> u64 {
        eui64(&dev.data().mac())
    }

    fn mcast_add(dev: &Device<Self>, _port: u32, mgid: &b::ib_gid) -> Result {
        let mac = RoceData::mcast_mac(mgid);
        // SAFETY: A live netdev and a 6-byte address.
        kernel::error::to_result(unsafe { b::dev_mc_add(dev.data().netdev, mac.as_ptr()) })
    }

    fn mcast_del(dev: &Device<Self>, _port: u32, mgid: &b::ib_gid) -> Result {
        let mac = RoceData::mcast_mac(mgid);
        // SAFETY: A live netdev and a 6-byte address.
        kernel::error::to_result(unsafe { b::dev_mc_del(dev.data().netdev, mac.as_ptr()) })
    }

    fn get_send_buffer(
        dev: &Device<Self>,
        _port: u32,
        path: &b::rvt_path,
        len: u32,
    ) -> Result<*mut b::sk_buff> {
        // SAFETY: The bound netdev, held while the device lives; a path
        // `resolve_path` made.
        let skb = unsafe { b::rvt_roce_alloc_skb(dev.data().netdev, path, len) };
        if skb.is_null() {
            return Err(ENOMEM);
        }
        Ok(skb)
    }

    /// Never sleeps: GID to IP addresses, flow label to UDP source port;
    /// the IP output path resolves routes and neighbours per packet.
    fn resolve_path(
        dev: &Device<Self>,
        _port: u32,
        attr: &b::rdma_ah_attr,
        _sleepable: bool,
    ) -> Result<b::rvt_path> {
        let mut path = b::rvt_path { data: [0; 64] };
        // SAFETY: The bound netdev; ib_core holds the AH attributes' GID
        // attribute for the call.
        kernel::error::to_result(unsafe {
            b::rvt_roce_resolve_path(dev.data().netdev, attr, &mut path)
        })?;
        Ok(path)
    }

    fn path_mtu(dev: &Device<Self>, _path: &b::rvt_path) -> b::ib_mtu {
        ib_mtu_for(dev.data().mtu())
    }
}

kernel::sync::global_lock! {
    // SAFETY: Initialised in the module initialiser, before the link type
    // is registered.
    unsafe(uninit) static NEWLINK: Mutex<()> = ();
}

/// `rdma link add NAME type rvt netdev DEV` (ib_core's nldev, no locks held
/// but its link_ops rwsem).
///
/// # Safety
///
/// Called by ib_core's nldev with a NUL-terminated name and a netdev it
/// holds a reference on for the call.
unsafe extern "C" fn newlink(ibdev_name: *const c_char, ndev: *mut b::net_device) -> c_int {
    // nldev holds its link_ops lock only for reading: without this, two
    // `rdma link add` on one netdev could both pass the check below.
    let _serialised = NEWLINK.lock();
    // SAFETY: nldev passes a NUL-terminated name and holds a netdev reference
    // for the call.
    let (name, ndev_name) = unsafe {
        (
            CStr::from_char_ptr(ibdev_name),
            CStr::from_char_ptr((*ndev).name.as_ptr()),
        )
    };
    // SAFETY: A live netdev.
    let existing = unsafe { b::ib_device_get_by_netdev(ndev, b::rdma_driver_id_RDMA_DRIVER_RXE) };
    if !existing.is_null() {
        // SAFETY: `existing` is a live, registered device we got a reference on.
        let other = unsafe { CStr::from_char_ptr((*existing).name.as_ptr()) };
        pr_err!(
            "netdev {} is already bound to RDMA device {}\n",
            ndev_name,
            other
        );
        // SAFETY: Drops the reference taken above.
        unsafe { b::ib_device_put(existing) };
        return EEXIST.to_errno();
    }
    // SAFETY: nldev holds a reference on `ndev` for the call, so its
    // namespace is live.
    let created = unsafe { net::NetSockets::get(b::rvt_helper_dev_net(ndev)) }
        .and_then(|sockets| {
            let data = RoceData {
                netdev: ndev,
                _sockets: sockets,
            };
            // SAFETY: As above.
            unsafe { UnregisteredDevice::<Roce>::new(ndev, data) }
        })
        .and_then(|dev| dev.register(name));
    match created {
        // The get is not kept: the device lives until it is unregistered.
        Ok(_get) => {
            pr_info!("{}: RoCEv2 device on {}\n", name, ndev_name);
            0
        }
        Err(e) => {
            pr_err!(
                "cannot create {} on {}: error {}\n",
                name,
                ndev_name,
                e.to_errno()
            );
            e.to_errno()
        }
    }
}

/// Netdev events (under RTNL): the rvt device goes away with its netdev.
/// Port state and GIDs follow the netdev without us: ib_core dispatches
/// IB_EVENT_PORT_ACTIVE/PORT_ERR for a netdev-bound port on NETDEV_UP,
/// CHANGE and DOWN, and roce_gid_mgmt keeps the GID table (backend.h); the
/// MTU is read live by query_link and path_mtu.
///
/// # Safety
///
/// Called by the netdev notifier chain with its notifier info.
unsafe extern "C" fn on_netdev_event(
    _nb: *mut b::notifier_block,
    event: c_ulong,
    ptr: *mut c_void,
) -> c_int {
    if event != b::netdev_cmd_NETDEV_UNREGISTER as c_ulong {
        return b::NOTIFY_DONE as c_int;
    }
    // SAFETY: The netdev notifier chain passes a netdev_notifier_info.
    let ndev = unsafe { b::rvt_helper_notifier_info_to_dev(ptr) };
    // SAFETY: A live netdev (the chain holds RTNL).
    if let Some(dev) = unsafe { DeviceRef::<Roce>::get_by_netdev(ndev) } {
        // ib_core cannot unregister under RTNL: it is done from a work item.
        dev.unregister_queued();
    }
    b::NOTIFY_DONE as c_int
}

/// The module: the `rvt` link type and the netdev notifier.
///
/// # Invariants
///
/// `link` is registered with ib_core, `notifier` with the netdev chain and
/// `pernet` with the namespace code between `init` and `Drop`.
struct RoceBackend {
    link: Pin<KBox<Opaque<b::rdma_link_ops>>>,
    notifier: Pin<KBox<Opaque<b::notifier_block>>>,
    pernet: Pin<KBox<Opaque<b::pernet_operations>>>,
}

// SAFETY: The registered blocks are only touched by their chains, which
// serialise, and by init/drop.
unsafe impl Send for RoceBackend {}
// SAFETY: As above.
unsafe impl Sync for RoceBackend {}

impl kernel::Module for RoceBackend {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let notifier = KBox::pin(
            Opaque::new(b::notifier_block {
                notifier_call: Some(on_netdev_event),
                ..Default::default()
            }),
            GFP_KERNEL,
        )?;
        let pernet = KBox::pin(net::pernet_ops(), GFP_KERNEL)?;
        let link = KBox::pin(
            Opaque::new(b::rdma_link_ops {
                type_: c"rvt".as_char_ptr(),
                newlink: Some(newlink),
                ..Default::default()
            }),
            GFP_KERNEL,
        )?;
        net::init();
        // SAFETY: Once, before the link type (its only user) is registered.
        unsafe { NEWLINK.init() };
        // SAFETY: The ops are pinned and outlive their registration (Drop).
        kernel::error::to_result(unsafe { b::register_pernet_subsys(pernet.get()) })?;
        // SAFETY: The block is pinned and outlives its registration (Drop).
        let registered = unsafe { b::register_netdevice_notifier(notifier.get()) };
        if let Err(e) = kernel::error::to_result(registered) {
            // SAFETY: Registered just above.
            unsafe { b::unregister_pernet_subsys(pernet.get()) };
            return Err(e);
        }
        // SAFETY: As above; rdma_link_register cannot fail.
        unsafe { b::rdma_link_register(link.get()) };
        // INVARIANT: all registered.
        Ok(Self {
            link,
            notifier,
            pernet,
        })
    }
}

impl Drop for RoceBackend {
    fn drop(&mut self) {
        // SAFETY: Registered (type invariant). First no new devices, then no
        // more events, then every device of ours is unregistered and freed,
        // so no callback into this module can run once it is gone.
        unsafe {
            b::rdma_link_unregister(self.link.get());
            b::unregister_netdevice_notifier(self.notifier.get());
            b::rvt_unregister_backend(ops_table::<Roce>());
            // No device is left, so no socket either.
            b::unregister_pernet_subsys(self.pernet.get());
        }
        net::exit();
    }
}
