// SPDX-License-Identifier: GPL-2.0

//! The RoCEv2 UDP sockets and the receive path.
//!
//! Each network namespace that has an rvt_roce device gets a pair of kernel
//! UDP sockets on port 4791 (IPv4 and IPv6): opened with its first device,
//! closed with its last one, or when the namespace itself goes (its netdevs,
//! and so its devices, are then already on their way out). A received
//! packet is matched to the rvt device of the netdev it arrived on (with a
//! registration reference for the call), its framing and ICRC are checked,
//! and it goes to rvt with what the checks found; rvt counts every drop.

use core::ptr;

use kernel::{prelude::*, types::Opaque};

use crate::{backend_api::DeviceRef, bindings as b, Roce};

/// The sockets of one namespace.
///
/// # Invariants
///
/// `v4` and `v6` are open sockets of `net` (NULL once closed, `v6` also on
/// a kernel without IPv6); `users` devices hold a [`NetSockets`] with this
/// entry's `id`.
struct Sockets {
    /// Tells entries apart (a namespace's address may be reused once it is
    /// gone, while devices of the old one still hold their share).
    id: u64,
    net: *mut b::net,
    v4: *mut b::socket,
    v6: *mut b::socket,
    users: u32,
}

// SAFETY: Sockets are kernel objects usable from any thread; the list is
// behind a mutex.
unsafe impl Send for Sockets {}

impl Sockets {
    fn close(&mut self) {
        for sock in [&mut self.v4, &mut self.v6] {
            if !sock.is_null() {
                // SAFETY: An open socket of ours (type invariant); returns
                // once no receive call for it runs.
                unsafe { b::rvt_roce_udp_close(*sock) };
                *sock = ptr::null_mut();
            }
        }
    }
}

/// The entries, and the id of the next one.
struct SocketList {
    entries: KVec<Sockets>,
    next_id: u64,
}

kernel::sync::global_lock! {
    // SAFETY: Initialised by `init` in the module initialiser, before any
    // device can exist.
    unsafe(uninit) static SOCKETS: Mutex<SocketList> = SocketList {
        entries: KVec::new(),
        next_id: 0,
    };
}

/// Sets the socket list up (module init, once).
pub(crate) fn init() {
    // SAFETY: Called exactly once, from module init, before any other use.
    unsafe { SOCKETS.init() };
}

/// Frees the list's storage (module exit, once every device is gone).
pub(crate) fn exit() {
    let mut sockets = SOCKETS.lock();
    for entry in sockets.entries.iter_mut() {
        entry.close();
    }
    drop(core::mem::replace(&mut sockets.entries, KVec::new()));
}

/// A device's share of its namespace's sockets: they stay open while it
/// exists. Process context.
///
/// # Invariants
///
/// The [`Sockets`] entry with this `id` counts this reference.
pub(crate) struct NetSockets {
    id: u64,
}

impl NetSockets {
    /// Opens the sockets of `net` if nobody has yet, and holds them.
    ///
    /// # Safety
    ///
    /// `net` is a live namespace (a live netdev's).
    pub(crate) unsafe fn get(net: *mut b::net) -> Result<Self> {
        let mut sockets = SOCKETS.lock();
        if let Some(entry) = sockets.entries.iter_mut().find(|e| e.net == net) {
            entry.users += 1;
            // INVARIANT: counted above.
            return Ok(Self { id: entry.id });
        }
        // Room first, so that an entry with open sockets is never lost.
        sockets.entries.reserve(1, GFP_KERNEL)?;
        // SAFETY: A live namespace (the contract).
        let v4 = kernel::error::from_err_ptr(unsafe {
            b::rvt_roce_udp_open(net, false, Some(on_packet))
        })?;
        let id = sockets.next_id;
        sockets.next_id += 1;
        let mut entry = Sockets {
            id,
            net,
            v4,
            v6: ptr::null_mut(),
            users: 1,
        };
        // SAFETY: As above.
        let v6 = unsafe { b::rvt_roce_udp_open(net, true, Some(on_packet)) };
        match kernel::error::from_err_ptr(v6) {
            Ok(v6) => entry.v6 = v6,
            // A kernel without IPv6: RoCEv2 over IPv4 only.
            Err(e) if e == EAFNOSUPPORT => {}
            Err(e) => {
                entry.close();
                return Err(e);
            }
        }
        if let Err(unstored) = sockets.entries.push_within_capacity(entry) {
            // Not reached: room was reserved above.
            let mut entry = unstored.0;
            entry.close();
            return Err(ENOMEM);
        }
        // INVARIANT: a new entry counting this reference.
        Ok(Self { id })
    }
}

impl Drop for NetSockets {
    fn drop(&mut self) {
        let mut sockets = SOCKETS.lock();
        let entries = &mut sockets.entries;
        let Some(pos) = entries.iter().position(|e| e.id == self.id) else {
            return;
        };
        let last = entries.get_mut(pos).is_some_and(|entry| {
            entry.users -= 1;
            entry.users == 0
        });
        if last {
            if let Ok(mut entry) = entries.remove(pos) {
                entry.close();
            }
        }
    }
}

/// The namespace `net` is going away: close its sockets now. Its devices
/// are being unregistered (their netdevs went first) and drop their shares
/// later, which then find nothing to close.
///
/// # Safety
///
/// Called by the network namespace code with the namespace being torn down.
pub(crate) unsafe extern "C" fn on_net_exit(net: *mut b::net) {
    let mut sockets = SOCKETS.lock();
    if let Some(entry) = sockets.entries.iter_mut().find(|e| e.net == net) {
        entry.close();
        // Keep the entry (its users still count it, by id) but make sure no
        // new namespace at the same address finds it.
        entry.net = ptr::null_mut();
    }
}

/// A packet on port 4791 (softirq): to the rvt device of the netdev it
/// arrived on, with what the checks found. Always consumes the skb.
///
/// # Safety
///
/// Called by the UDP layer for one of our sockets, with a received skb
/// whose data is at the UDP header.
unsafe extern "C" fn on_packet(_sk: *mut b::sock, skb: *mut b::sk_buff) -> c_int {
    // SAFETY: A received skb (the contract).
    let ndev = unsafe { b::rvt_roce_skb_dev(skb) };
    // SAFETY: Its live netdev; a VLAN device's lower device lives at least
    // as long.
    let dev = unsafe {
        DeviceRef::<Roce>::get_by_netdev(ndev).or_else(|| {
            // A tagged packet for a GID of a VLAN over our netdev.
            let lower = b::rvt_roce_vlan_lower(ndev);
            (!lower.is_null())
                .then(|| DeviceRef::<Roce>::get_by_netdev(lower))
                .flatten()
        })
    };
    let Some(dev) = dev else {
        // No rvt device on this netdev: not ours to count.
        // SAFETY: The skb is ours to free.
        unsafe { b::rvt_helper_kfree_skb(skb) };
        return 0;
    };
    let mut meta = b::rvt_rx_meta {
        port: 1,
        grh_present: 1,
        ..Default::default()
    };
    // SAFETY: The live netdev the packet arrived on.
    if let Ok(vlan) = u16::try_from(unsafe { b::rvt_roce_vlan_id(ndev) }) {
        meta.vlan_id = vlan;
        meta.vlan_present = 1;
    }
    // SAFETY: As above; `meta.grh` has the 40 bytes the call fills.
    meta.check = unsafe { check(skb, &mut meta.grh) } as u8;
    // SAFETY: A device we hold a get on; the skb is given away, linear and
    // at the BTH when the check passed.
    unsafe { b::rvt_receive(dev.as_raw(), skb, &meta) };
    0
}

/// Frames, checks and trims a received packet to the BTH through the last
/// pad byte (ICRC removed); what it found.
///
/// # Safety
///
/// `skb` is a received packet at its UDP header.
unsafe fn check(skb: *mut b::sk_buff, grh: &mut [u8; 40]) -> b::rvt_rx_check {
    let mut hdrs = ptr::null();
    let mut hdrs_len = 0;
    // SAFETY: Per the contract; the slot has 40 bytes.
    if unsafe { b::rvt_roce_rx_prepare(skb, &mut hdrs, &mut hdrs_len, grh.as_mut_ptr()) } != 0 {
        return b::rvt_rx_check_RVT_RX_BAD_HEADERS;
    }
    // SAFETY: Prepared: linear, `len` bytes at `data` from the BTH on, the
    // headers in front of them.
    let (data, len) = unsafe { ((*skb).data, (*skb).len) };
    // SAFETY: As above.
    match unsafe { b::rvt_roce_icrc_check(hdrs, hdrs_len, data.cast(), len) } {
        0 => {
            // The ICRC is checked: rvt takes the packet without it.
            // SAFETY: At least the 4 ICRC bytes are there (checked).
            unsafe { b::skb_trim(skb, len - 4) };
            b::rvt_rx_check_RVT_RX_OK
        }
        err if err == EBADMSG.to_errno() => b::rvt_rx_check_RVT_RX_BAD_ICRC,
        _ => b::rvt_rx_check_RVT_RX_BAD_HEADERS,
    }
}

/// The pernet hooks: `exit` closes a dying namespace's sockets.
pub(crate) fn pernet_ops() -> Opaque<b::pernet_operations> {
    Opaque::new(b::pernet_operations {
        exit: Some(on_net_exit),
        ..Default::default()
    })
}
