// SPDX-License-Identifier: GPL-2.0

//! Safe Rust side of the rvt backend API (include/rvt/backend.h).
//!
//! A backend implements [`Backend`] (a `#[vtable]` trait, in the style of
//! `rust/kernel/net/phy.rs`); [`Backend::OPS`]-style tables are built at
//! compile time by [`ops_table`], and [`Device::register`] creates devices.
//! This file is compiled into every module that implements a backend, next to
//! the generated `bindings` module.

use core::{marker::PhantomData, mem::ManuallyDrop, ptr};

use kernel::{
    error::{from_err_ptr, from_result, VTABLE_DEFAULT_ERROR},
    prelude::*,
    str::CStr,
};

use crate::bindings as b;

/// A device created by backend `T`: a handle that is valid while the device
/// is registered (the backend's notifier and link callbacks, and the ops
/// rvt calls, all run while it is).
///
/// # Invariants
///
/// `raw` was returned by `rvt_register_device` for a device of backend `T`,
/// whose private area holds an initialised `T::Data`.
pub(crate) struct Device<T: Backend> {
    raw: *mut b::rvt_device,
    _backend: PhantomData<T>,
}

impl<T: Backend> Clone for Device<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T: Backend> Copy for Device<T> {}

impl<T: Backend> Device<T> {
    /// Creates and registers a device named `name`, bound to `netdev` (RoCE)
    /// or to none (NULL), with `data` in its private area.
    pub(crate) fn register(name: &CStr, netdev: *mut b::net_device, data: T::Data) -> Result<Self> {
        let data = ManuallyDrop::new(data);
        let desc = b::rvt_device_desc {
            ops: ops_table::<T>(),
            ibdev_name: name.as_char_ptr(),
            netdev,
            num_ports: 1,
            priv_size: core::mem::size_of::<T::Data>(),
            priv_init: ptr::from_ref(&*data).cast(),
        };
        // SAFETY: A valid descriptor whose table is 'static and whose data
        // moves into the device on success.
        let raw = match from_err_ptr(unsafe { b::rvt_register_device(&desc) }) {
            Ok(raw) => raw,
            Err(e) => {
                // The device did not take `data`: drop our copy.
                drop(ManuallyDrop::into_inner(data));
                return Err(e);
            }
        };
        // INVARIANT: registered with our table and data (moved, not dropped here).
        Ok(Self {
            raw,
            _backend: PhantomData,
        })
    }

    /// # Safety
    ///
    /// `raw` is a live device of backend `T`.
    unsafe fn from_raw(raw: *mut b::rvt_device) -> Self {
        // INVARIANT: Per the contract.
        Self {
            raw,
            _backend: PhantomData,
        }
    }

    /// The device of backend `T` behind an `ib_device`, if there is one.
    ///
    /// # Safety
    ///
    /// `ibdev` is a live `ib_device`.
    pub(crate) unsafe fn from_ibdev(ibdev: *mut b::ib_device) -> Option<Self> {
        // SAFETY: Per the contract; the table identifies our devices.
        let raw = unsafe { b::rvt_device_from_ibdev(ibdev, ops_table::<T>()) };
        // SAFETY: rvt only returns devices created with our table.
        (!raw.is_null()).then(|| unsafe { Self::from_raw(raw) })
    }

    /// The backend's data of this device.
    pub(crate) fn data(&self) -> &T::Data {
        // SAFETY: The private area holds an initialised `T::Data` (type
        // invariant), suitably aligned (rvt aligns it to 8 bytes; checked in
        // `ops_table`).
        unsafe { &*b::rvt_device_priv(self.raw).cast::<T::Data>() }
    }

    /// The C handle of this device.
    pub(crate) fn as_raw(&self) -> *mut b::rvt_device {
        self.raw
    }

    /// The `ib_device` of this device.
    pub(crate) fn ibdev(&self) -> *mut b::ib_device {
        // SAFETY: A live device.
        unsafe { b::rvt_device_ibdev(self.raw) }
    }

    /// Reports a link event of port `port` to rvt.
    pub(crate) fn event(&self, port: u32, event: b::rvt_event) {
        // SAFETY: A live, registered device.
        unsafe { b::rvt_handle_event(self.raw, port, event) };
    }

    /// Unregisters the device and waits until it is freed. Sleeps.
    pub(crate) fn unregister(self) {
        // SAFETY: A live device, not used again.
        unsafe { b::rvt_unregister_device(self.raw) };
    }

    /// Unregisters the device later (from notifiers, under RTNL).
    pub(crate) fn unregister_queued(self) {
        // SAFETY: A live device, not used again.
        unsafe { b::rvt_unregister_device_queued(self.raw) };
    }
}

/// Link attributes of a port that is up (active, physical link up) or down
/// (down, disabled), with its MTUs; the rest zero for the backend to fill.
pub(crate) fn link_info(up: bool, active_mtu: b::ib_mtu, max_mtu: b::ib_mtu) -> b::rvt_link_info {
    let (state, phys_state) = if up {
        (
            b::ib_port_state_IB_PORT_ACTIVE,
            b::ib_port_phys_state_IB_PORT_PHYS_STATE_LINK_UP,
        )
    } else {
        (
            b::ib_port_state_IB_PORT_DOWN,
            b::ib_port_phys_state_IB_PORT_PHYS_STATE_DISABLED,
        )
    };
    b::rvt_link_info {
        state,
        phys_state: phys_state as u8,
        active_mtu,
        max_mtu,
        ..Default::default()
    }
}

/// A kind of rvt backend. See include/rvt/backend.h for what each op means.
#[vtable]
pub(crate) trait Backend: Sized + 'static {
    /// What the backend keeps per device (in the device's private area).
    type Data: Send + Sync;
    /// Name for messages.
    const NAME: &'static CStr;
    /// `IB_LINK_LAYER_ETHERNET` or `IB_LINK_LAYER_INFINIBAND`.
    const LINK_LAYER: u8;

    /// Transmits one packet (consumes `skb`).
    fn send(dev: Device<Self>, port: u32, skb: *mut b::sk_buff, path: &b::rvt_path) -> Result;
    /// Live link attributes of a port.
    fn query_link(dev: Device<Self>, port: u32) -> Result<b::rvt_link_info>;
    /// Node GUID, big-endian as on the wire.
    fn node_guid(dev: Device<Self>) -> u64;
    /// Port GUID, big-endian as on the wire.
    fn port_guid(dev: Device<Self>, port: u32) -> u64;
    /// Joins a multicast group.
    fn mcast_add(dev: Device<Self>, port: u32, mgid: &b::ib_gid) -> Result;
    /// Leaves a multicast group.
    fn mcast_del(dev: Device<Self>, port: u32, mgid: &b::ib_gid) -> Result;
    /// Chooses a QPN (optional).
    fn alloc_qpn(_dev: Device<Self>, _qp_type: b::ib_qp_type) -> Result<u32> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// An skb with room for the outer headers and `len` bytes from the BTH on.
    fn get_send_buffer(
        dev: Device<Self>,
        port: u32,
        path: &b::rvt_path,
        len: u32,
    ) -> Result<*mut b::sk_buff>;
    /// Resolves address handle attributes into a path.
    fn resolve_path(dev: Device<Self>, port: u32, attr: &b::rdma_ah_attr) -> Result<b::rvt_path>;
    /// Largest `enum ib_mtu` usable on a path.
    fn path_mtu(dev: Device<Self>, path: &b::rvt_path) -> b::ib_mtu;
}

/// The C table of backend `T`, built at compile time.
pub(crate) const fn ops_table<T: Backend>() -> &'static b::rvt_backend_ops {
    &Adapter::<T>::OPS
}

struct Adapter<T>(PhantomData<T>);

impl<T: Backend> Adapter<T> {
    const DATA_ALIGN_OK: () = assert!(core::mem::align_of::<T::Data>() <= 8);

    const OPS: b::rvt_backend_ops = {
        let () = Self::DATA_ALIGN_OK;
        b::rvt_backend_ops {
            owner: <T::OwnerModule as kernel::ModuleMetadata>::THIS_MODULE
                .as_ptr()
                .cast(),
            name: T::NAME.to_bytes_with_nul().as_ptr().cast(),
            link_layer: T::LINK_LAYER,
            send: Some(Self::send),
            query_link: Some(Self::query_link),
            node_guid: Some(Self::node_guid),
            port_guid: Some(Self::port_guid),
            mcast_add: Some(Self::mcast_add),
            mcast_del: Some(Self::mcast_del),
            alloc_qpn: if T::HAS_ALLOC_QPN {
                Some(Self::alloc_qpn)
            } else {
                None
            },
            get_send_buffer: Some(Self::get_send_buffer),
            resolve_path: Some(Self::resolve_path),
            path_mtu: Some(Self::path_mtu),
            release: Some(Self::release),
        }
    };

    /// # Safety
    ///
    /// rvt calls the ops of a table only with devices created with it.
    unsafe fn dev(raw: *mut b::rvt_device) -> Device<T> {
        // SAFETY: Per the contract.
        unsafe { Device::from_raw(raw) }
    }

    /// # Safety
    ///
    /// Called by rvt only, with a live device created with this table and
    /// the valid arguments include/rvt/backend.h documents for the op.
    unsafe extern "C" fn send(
        dev: *mut b::rvt_device,
        port: u32,
        skb: *mut b::sk_buff,
        path: *const b::rvt_path,
    ) -> c_int {
        // SAFETY: Our device; rvt passes a valid path.
        from_result(|| T::send(unsafe { Self::dev(dev) }, port, skb, unsafe { &*path }).map(|()| 0))
    }

    /// # Safety
    ///
    /// Called by rvt only, with a live device created with this table and
    /// the valid arguments include/rvt/backend.h documents for the op.
    unsafe extern "C" fn query_link(
        dev: *mut b::rvt_device,
        port: u32,
        info: *mut b::rvt_link_info,
    ) -> c_int {
        from_result(|| {
            // SAFETY: Our device.
            let link = T::query_link(unsafe { Self::dev(dev) }, port)?;
            // SAFETY: rvt passes a valid out pointer.
            unsafe { *info = link };
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by rvt only, with a live device created with this table and
    /// the valid arguments include/rvt/backend.h documents for the op.
    unsafe extern "C" fn node_guid(dev: *mut b::rvt_device) -> u64 {
        // SAFETY: Our device.
        T::node_guid(unsafe { Self::dev(dev) })
    }

    /// # Safety
    ///
    /// Called by rvt only, with a live device created with this table and
    /// the valid arguments include/rvt/backend.h documents for the op.
    unsafe extern "C" fn port_guid(dev: *mut b::rvt_device, port: u32) -> u64 {
        // SAFETY: Our device.
        T::port_guid(unsafe { Self::dev(dev) }, port)
    }

    /// # Safety
    ///
    /// Called by rvt only, with a live device created with this table and
    /// the valid arguments include/rvt/backend.h documents for the op.
    unsafe extern "C" fn mcast_add(
        dev: *mut b::rvt_device,
        port: u32,
        mgid: *const b::ib_gid,
    ) -> c_int {
        // SAFETY: Our device; rvt passes a valid GID.
        from_result(|| T::mcast_add(unsafe { Self::dev(dev) }, port, unsafe { &*mgid }).map(|()| 0))
    }

    /// # Safety
    ///
    /// Called by rvt only, with a live device created with this table and
    /// the valid arguments include/rvt/backend.h documents for the op.
    unsafe extern "C" fn mcast_del(
        dev: *mut b::rvt_device,
        port: u32,
        mgid: *const b::ib_gid,
    ) -> c_int {
        // SAFETY: Our device; rvt passes a valid GID.
        from_result(|| T::mcast_del(unsafe { Self::dev(dev) }, port, unsafe { &*mgid }).map(|()| 0))
    }

    /// # Safety
    ///
    /// Called by rvt only, with a live device created with this table and
    /// the valid arguments include/rvt/backend.h documents for the op.
    unsafe extern "C" fn alloc_qpn(
        dev: *mut b::rvt_device,
        qp_type: b::ib_qp_type,
        qpn: *mut u32,
    ) -> c_int {
        from_result(|| {
            // SAFETY: Our device.
            let n = T::alloc_qpn(unsafe { Self::dev(dev) }, qp_type)?;
            // SAFETY: rvt passes a valid out pointer.
            unsafe { *qpn = n };
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by rvt only, with a live device created with this table and
    /// the valid arguments include/rvt/backend.h documents for the op.
    unsafe extern "C" fn get_send_buffer(
        dev: *mut b::rvt_device,
        port: u32,
        path: *const b::rvt_path,
        len: c_uint,
    ) -> *mut b::sk_buff {
        // SAFETY: Our device; rvt passes a valid path.
        T::get_send_buffer(unsafe { Self::dev(dev) }, port, unsafe { &*path }, len)
            .unwrap_or(ptr::null_mut())
    }

    /// # Safety
    ///
    /// Called by rvt only, with a live device created with this table and
    /// the valid arguments include/rvt/backend.h documents for the op.
    unsafe extern "C" fn resolve_path(
        dev: *mut b::rvt_device,
        port: u32,
        attr: *const b::rdma_ah_attr,
        path: *mut b::rvt_path,
    ) -> c_int {
        from_result(|| {
            // SAFETY: Our device; rvt passes valid attributes.
            let p = T::resolve_path(unsafe { Self::dev(dev) }, port, unsafe { &*attr })?;
            // SAFETY: rvt passes a valid out pointer.
            unsafe { *path = p };
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by rvt only, with a live device created with this table and
    /// the valid arguments include/rvt/backend.h documents for the op.
    unsafe extern "C" fn path_mtu(dev: *mut b::rvt_device, path: *const b::rvt_path) -> b::ib_mtu {
        // SAFETY: Our device; rvt passes a valid path.
        T::path_mtu(unsafe { Self::dev(dev) }, unsafe { &*path })
    }

    /// # Safety
    ///
    /// Called by rvt only, with a live device created with this table and
    /// the valid arguments include/rvt/backend.h documents for the op.
    unsafe extern "C" fn release(dev: *mut b::rvt_device) {
        // SAFETY: rvt calls this once, for a registered device of ours whose
        // private area holds our initialised data; nothing uses it afterwards.
        unsafe { ptr::drop_in_place(b::rvt_device_priv(dev).cast::<T::Data>()) };
    }
}
