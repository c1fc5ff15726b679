// SPDX-License-Identifier: GPL-2.0

//! Safe Rust side of the rvt backend API (include/rvt/backend.h).
//!
//! A backend implements [`Backend`] (a `#[vtable]` trait, in the style of
//! `rust/kernel/net/phy.rs`); its C table is built at compile time by
//! [`ops_table`]. Devices, on the model of `rust/kernel/drm/device.rs`:
//!
//! - [`UnregisteredDevice<T>`]: owned, not `Copy`: a device whose private
//!   area holds `T::Data`, initialised in place from an `impl PinInit` (so it
//!   may hold locks, lists and work items), before registration.
//! - [`DeviceRef<T>`]: a registration reference ("get"): the device stays
//!   registered and its data alive while it exists. The only handle safe
//!   code can keep.
//! - `&Device<T>`: a borrow, for the length of an op or callback.
//!
//! This file is compiled into every module that implements a backend, next to
//! the generated `bindings` module.

use core::{marker::PhantomData, ops::Deref, ptr, ptr::NonNull};

use kernel::{
    error::{from_err_ptr, from_result, to_result, VTABLE_DEFAULT_ERROR},
    prelude::*,
    str::CStr,
    types::Opaque,
};

use crate::bindings as b;

/// A device of backend `T`, only ever borrowed (`&Device<T>`): by rvt for
/// the length of an op, or from a [`DeviceRef`] or [`UnregisteredDevice`].
///
/// # Invariants
///
/// The address is a `struct rvt_device` created with `T`'s table whose
/// private area holds an initialised `T::Data` for as long as the borrow.
#[repr(transparent)]
pub(crate) struct Device<T: Backend> {
    raw: Opaque<b::rvt_device>,
    _backend: PhantomData<T>,
}

impl<T: Backend> Device<T> {
    /// # Safety
    ///
    /// `raw` is a device of backend `T` whose private area holds an
    /// initialised `T::Data` for `'a`.
    unsafe fn from_raw<'a>(raw: *mut b::rvt_device) -> &'a Self {
        // SAFETY: `Device<T>` is transparent over the (opaque) C device; the
        // rest per the contract.
        unsafe { &*raw.cast::<Self>() }
    }

    /// The C handle of this device.
    pub(crate) fn as_raw(&self) -> *mut b::rvt_device {
        self.raw.get()
    }

    /// The backend's data of this device.
    pub(crate) fn data(&self) -> &T::Data {
        // SAFETY: The private area holds an initialised `T::Data` (type
        // invariant), aligned to 8 bytes (rvt's guarantee, checked against
        // the type in `ops_table`).
        unsafe { &*b::rvt_device_priv(self.as_raw()).cast::<T::Data>() }
    }

    /// The `ib_device` of this device.
    pub(crate) fn ibdev(&self) -> *mut b::ib_device {
        // SAFETY: A live device.
        unsafe { b::rvt_device_ibdev(self.as_raw()) }
    }

    /// Reports an event of port `port` to rvt (native IB link layer; see
    /// `enum rvt_event` for what a RoCE backend leaves to ib_core).
    pub(crate) fn event(&self, port: u32, event: b::rvt_event) {
        // SAFETY: A device whose private area is live (type invariant).
        unsafe { b::rvt_handle_event(self.as_raw(), port, event) };
    }

    /// A registration reference, unless unregistration has begun.
    pub(crate) fn try_get(&self) -> Option<DeviceRef<T>> {
        // SAFETY: A device whose private area is live (type invariant).
        if !unsafe { b::rvt_device_try_get(self.as_raw()) } {
            return None;
        }
        // INVARIANT: we hold the get just taken.
        Some(DeviceRef(NonNull::from(self)))
    }
}

/// A device of backend `T` before registration, owned by the holder.
///
/// # Invariants
///
/// Points to an unregistered device from `rvt_alloc_device` with `T`'s
/// table, whose private area holds an initialised `T::Data`.
pub(crate) struct UnregisteredDevice<T: Backend>(NonNull<Device<T>>);

impl<T: Backend> UnregisteredDevice<T> {
    /// Allocates a device bound to `netdev` (RoCE; NULL: none) and
    /// initialises its data in place. Sleeps.
    ///
    /// # Safety
    ///
    /// `netdev` is NULL or a live net_device.
    pub(crate) unsafe fn new<E>(
        netdev: *mut b::net_device,
        data: impl PinInit<T::Data, E>,
    ) -> Result<Self>
    where
        Error: From<E>,
    {
        let desc = b::rvt_device_desc {
            ops: ops_table::<T>(),
            netdev,
            num_ports: 1,
            priv_size: core::mem::size_of::<T::Data>(),
        };
        // SAFETY: A valid descriptor with a 'static table; `netdev` per the
        // contract.
        let raw = from_err_ptr(unsafe { b::rvt_alloc_device(&desc) })?;
        // `from_err_ptr` lets no NULL through; the check keeps that local.
        let handle = NonNull::new(raw.cast::<Device<T>>()).ok_or(ENOMEM)?;
        // SAFETY: The private area of a fresh device: `priv_size` zeroed,
        // 8-byte aligned bytes that never move. On error the initialiser has
        // dropped what it made, and the area is not live for rvt yet.
        let init =
            unsafe { pin_init::raw_try_init(b::rvt_device_priv(raw).cast::<T::Data>(), data) };
        if let Err(e) = init {
            // SAFETY: Never registered; not used again.
            unsafe { b::rvt_free_device(raw) };
            return Err(e.into());
        }
        // INVARIANT: allocated with our table, data initialised above.
        Ok(Self(handle))
    }

    /// Registers the device as `name`. On success the device owns its data
    /// (rvt calls `release` when it is freed) and the returned get keeps it
    /// registered; on failure the data has been dropped.
    pub(crate) fn register(self, name: &CStr) -> Result<DeviceRef<T>> {
        let this = core::mem::ManuallyDrop::new(self);
        // SAFETY: Ours, unregistered, with initialised data (type invariant);
        // ownership of both moves to rvt here.
        to_result(unsafe { b::rvt_register_device(this.as_raw(), name.as_char_ptr()) })?;
        // INVARIANT: rvt_register_device returned with a get for us.
        Ok(DeviceRef(this.0))
    }
}

impl<T: Backend> Deref for UnregisteredDevice<T> {
    type Target = Device<T>;

    fn deref(&self) -> &Device<T> {
        // SAFETY: Ours, with initialised data (type invariant).
        unsafe { self.0.as_ref() }
    }
}

impl<T: Backend> Drop for UnregisteredDevice<T> {
    fn drop(&mut self) {
        let raw = self.as_raw();
        // SAFETY: Never registered and ours: drop the data, then the device
        // (rvt_free_device does not call `release`).
        unsafe {
            ptr::drop_in_place(b::rvt_device_priv(raw).cast::<T::Data>());
            b::rvt_free_device(raw);
        }
    }
}

/// A registration reference ("get") on a device of backend `T`: while it
/// exists the device stays registered (unregistration waits for every get)
/// and its data alive. Never hold one across a call that unregisters the
/// same device.
///
/// # Invariants
///
/// Points to a registered device of backend `T` on which this handle holds
/// one get.
pub(crate) struct DeviceRef<T: Backend>(NonNull<Device<T>>);

impl<T: Backend> DeviceRef<T> {
    /// The device of backend `T` bound to `netdev`, if there is one.
    ///
    /// # Safety
    ///
    /// `netdev` is a live net_device.
    pub(crate) unsafe fn get_by_netdev(netdev: *mut b::net_device) -> Option<Self> {
        // SAFETY: Per the contract; rvt returns a device of our table with a
        // get for us, or NULL.
        let raw = unsafe { b::rvt_device_get_by_netdev(netdev, ops_table::<T>()) };
        // INVARIANT: as above.
        NonNull::new(raw.cast()).map(Self)
    }

    /// Unregisters the device, dropping this get, and waits until it is
    /// freed. Sleeps; not under RTNL.
    pub(crate) fn unregister(self) {
        let raw = core::mem::ManuallyDrop::new(self).as_raw();
        // SAFETY: We hold a get (type invariant), which the call consumes.
        unsafe { b::rvt_unregister_device(raw) };
    }

    /// Starts unregistering the device from a work item (from notifiers,
    /// under RTNL). This get is kept, and dropped as usual.
    pub(crate) fn unregister_queued(&self) {
        // SAFETY: We hold a get (type invariant).
        unsafe { b::rvt_unregister_device_queued(self.as_raw()) };
    }
}

impl<T: Backend> Deref for DeviceRef<T> {
    type Target = Device<T>;

    fn deref(&self) -> &Device<T> {
        // SAFETY: Registered with a get held, so the data is alive (type
        // invariant).
        unsafe { self.0.as_ref() }
    }
}

impl<T: Backend> Drop for DeviceRef<T> {
    fn drop(&mut self) {
        // SAFETY: Drops the get we hold (type invariant).
        unsafe { b::rvt_device_put(self.as_raw()) };
    }
}

// SAFETY: A get may be used and dropped from any thread; the data it reaches
// is `Send + Sync` (a `Backend` bound).
unsafe impl<T: Backend> Send for DeviceRef<T> {}
// SAFETY: As above.
unsafe impl<T: Backend> Sync for DeviceRef<T> {}

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

/// A kind of rvt backend. See include/rvt/backend.h for what each op means
/// and the context it runs in; every op borrows the device for the call.
#[vtable]
pub(crate) trait Backend: Sized + 'static {
    /// What the backend keeps per device (in the device's private area).
    type Data: Send + Sync;
    /// Name for messages.
    const NAME: &'static CStr;
    /// `IB_LINK_LAYER_ETHERNET` or `IB_LINK_LAYER_INFINIBAND`.
    const LINK_LAYER: u8;

    /// Transmits one packet (consumes `skb`). Atomic.
    fn send(dev: &Device<Self>, port: u32, skb: *mut b::sk_buff, path: &b::rvt_path) -> Result;
    /// Live link attributes of a port. Sleeps.
    fn query_link(dev: &Device<Self>, port: u32) -> Result<b::rvt_link_info>;
    /// Node GUID, big-endian as on the wire. Atomic.
    fn node_guid(dev: &Device<Self>) -> u64;
    /// Port GUID, big-endian as on the wire. Atomic.
    fn port_guid(dev: &Device<Self>, port: u32) -> u64;
    /// Joins a multicast group. Atomic.
    fn mcast_add(dev: &Device<Self>, port: u32, mgid: &b::ib_gid) -> Result;
    /// Leaves a multicast group. Atomic.
    fn mcast_del(dev: &Device<Self>, port: u32, mgid: &b::ib_gid) -> Result;
    /// Chooses a QPN (optional). Sleeps.
    fn alloc_qpn(_dev: &Device<Self>, _qp_type: b::ib_qp_type) -> Result<u32> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// An skb with room for the outer headers and `len` bytes from the BTH on. Atomic.
    fn get_send_buffer(
        dev: &Device<Self>,
        port: u32,
        path: &b::rvt_path,
        len: u32,
    ) -> Result<*mut b::sk_buff>;
    /// Resolves address handle attributes into a path. Atomic unless `sleepable`.
    fn resolve_path(
        dev: &Device<Self>,
        port: u32,
        attr: &b::rdma_ah_attr,
        sleepable: bool,
    ) -> Result<b::rvt_path>;
    /// Largest `enum ib_mtu` usable on a path. Atomic.
    fn path_mtu(dev: &Device<Self>, path: &b::rvt_path) -> b::ib_mtu;
}

/// The C table of backend `T`, built at compile time.
pub(crate) const fn ops_table<T: Backend>() -> &'static b::rvt_backend_ops {
    &Adapter::<T>::OPS
}

struct Adapter<T>(PhantomData<T>);

impl<T: Backend> Adapter<T> {
    const OPS: b::rvt_backend_ops = {
        // rvt aligns the private area to 8 bytes (backend.h).
        assert!(core::mem::align_of::<T::Data>() <= 8);
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
    /// rvt calls the ops of a table only with devices created with it, whose
    /// private area is live for the call (backend.h).
    unsafe fn dev<'a>(raw: *mut b::rvt_device) -> &'a Device<T> {
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
        sleepable: bool,
        path: *mut b::rvt_path,
    ) -> c_int {
        from_result(|| {
            // SAFETY: Our device.
            let dev = unsafe { Self::dev(dev) };
            // SAFETY: rvt passes valid attributes.
            let attr = unsafe { &*attr };
            let p = T::resolve_path(dev, port, attr, sleepable)?;
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
    /// Called by rvt only, once, for a device of ours that was handed to
    /// `rvt_register_device`, whose private area holds our initialised data.
    unsafe extern "C" fn release(dev: *mut b::rvt_device) {
        // SAFETY: Per the contract; rvt never touches the area afterwards.
        unsafe { ptr::drop_in_place(b::rvt_device_priv(dev).cast::<T::Data>()) };
    }
}
