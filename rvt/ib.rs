// SPDX-License-Identifier: GPL-2.0

//! A small safe layer over ib_core's device objects.
//!
//! A driver describes its device with the [`IbDriver`] trait (a `#[vtable]`
//! over `struct ib_device_ops`, in the style of `rust/kernel/net/phy.rs`);
//! [`IbDevice<T>`] is an `ib_device` allocated by ib_core with the driver's
//! data `T` behind it (`INIT_RDMA_OBJ_SIZE`-style, the ib_device first).
//! ib_core owns the memory: the data is dropped in `dealloc_driver`, which
//! runs once, after the last user of a registered device is gone.

use core::{marker::PhantomData, mem::size_of, ptr};

use kernel::{
    error::{from_result, VTABLE_DEFAULT_ERROR},
    prelude::*,
    types::Opaque,
};

use crate::bindings as b;

/// Alignment kmalloc guarantees on every architecture rvt builds for.
const KMALLOC_MIN_ALIGN: usize = 8;

/// An `ib_device` with driver data behind it.
///
/// # Invariants
///
/// - `ibdev` is the first field, so a `*mut ib_device` of a device created by
///   [`IbDevice::new`] is also a `*mut IbDevice<T>`.
/// - `data` is initialised from the end of [`IbDevice::new`] until the
///   device's `dealloc_driver` callback drops it.
/// - The allocation holds `IbDevice::<T>::extra_offset()` + the `extra` bytes
///   given to [`IbDevice::new`], zeroed.
#[repr(C)]
pub(crate) struct IbDevice<T: IbDriver> {
    ibdev: Opaque<b::ib_device>,
    data: T,
}

// SAFETY: `IbDevice` is only reached through shared references after
// initialisation; ib_core serialises its own fields, and `T` is `Send + Sync`.
unsafe impl<T: IbDriver> Sync for IbDevice<T> {}
// SAFETY: As above; nothing in an `IbDevice` is tied to a thread.
unsafe impl<T: IbDriver> Send for IbDevice<T> {}

impl<T: IbDriver> IbDevice<T> {
    const ALIGN_OK: () = assert!(core::mem::align_of::<Self>() <= KMALLOC_MIN_ALIGN);

    /// Offset of the driver's extra (zeroed) storage from the start of the allocation.
    pub(crate) const fn extra_offset() -> usize {
        size_of::<Self>().next_multiple_of(KMALLOC_MIN_ALIGN)
    }

    /// Allocates an `ib_device` with `data` and `extra` zeroed bytes behind it.
    ///
    /// The device is not registered; on success the caller owns one reference
    /// and must either register it or drop it with [`IbDevice::dealloc`].
    pub(crate) fn new(data: T, extra: usize, net: *mut b::net) -> Result<*mut Self> {
        let () = Self::ALIGN_OK;
        let size = Self::extra_offset().checked_add(extra).ok_or(EINVAL)?;
        // SAFETY: `_ib_alloc_device` takes any size >= sizeof(struct ib_device)
        // (ours is larger: the ib_device is our first field) and a valid or
        // NULL namespace.
        let raw = unsafe { b::_ib_alloc_device(size, net) };
        if raw.is_null() {
            return Err(ENOMEM);
        }
        let this = raw.cast::<Self>();
        // SAFETY: `raw` is a fresh, zeroed allocation of at least
        // `size_of::<Self>()` bytes, suitably aligned (ALIGN_OK); `data` is
        // written exactly once before anyone can see the device.
        unsafe { ptr::write(&raw mut (*this).data, data) };
        // INVARIANT: `data` is initialised; only now does the device get ops,
        // among them `dealloc_driver`, which drops it.
        // SAFETY: `raw` is a valid ib_device; the table is 'static.
        unsafe { b::ib_set_device_ops(raw, &Adapter::<T>::OPS) };
        Ok(this)
    }

    /// Drops a device that was never registered (or whose registration failed).
    ///
    /// # Safety
    ///
    /// `this` came from [`IbDevice::new`], is not registered, and is not used
    /// again.
    pub(crate) unsafe fn dealloc(this: *mut Self) {
        // SAFETY: Per the contract; ib_core calls `dealloc_driver` (dropping
        // `data`) and frees the memory.
        unsafe { b::ib_dealloc_device(Self::raw(this)) };
    }

    /// The `ib_device` of a device.
    pub(crate) fn raw(this: *const Self) -> *mut b::ib_device {
        // The ib_device is the first field (type invariant).
        this.cast_mut().cast()
    }

    /// The device behind an `ib_device` created by [`IbDevice::new`].
    ///
    /// # Safety
    ///
    /// `ibdev` belongs to an `IbDevice<T>` whose data is still initialised,
    /// and stays so for the returned lifetime.
    pub(crate) unsafe fn from_raw<'a>(ibdev: *mut b::ib_device) -> &'a Self {
        // SAFETY: Per the contract and the first-field invariant.
        unsafe { &*ibdev.cast::<Self>() }
    }

    /// The device whose data `data` points to.
    pub(crate) fn from_data(data: *const T) -> *mut Self {
        // `data` lives in an `IbDevice<T>` (the only place a `T` driving an
        // ib_device is created), so stepping back to the container stays in bounds.
        data.cast::<u8>()
            .wrapping_sub(core::mem::offset_of!(Self, data))
            .cast::<Self>()
            .cast_mut()
    }

    /// The driver's data.
    pub(crate) fn data(&self) -> &T {
        &self.data
    }

    /// The start of the extra storage requested from [`IbDevice::new`].
    pub(crate) fn extra(this: *const Self) -> *mut u8 {
        this.cast_mut()
            .cast::<u8>()
            .wrapping_add(Self::extra_offset())
    }
}

/// What a driver of an `ib_device` implements. Optional methods left out
/// leave their `ib_device_ops` slot NULL, so ib_core answers `-EOPNOTSUPP`.
#[vtable]
pub(crate) trait IbDriver: Sized + Send + Sync {
    /// `enum rdma_driver_id` the device reports (picks the user-space provider).
    const DRIVER_ID: u32;
    /// ABI version of the user-space provider's private commands.
    const UVERBS_ABI_VER: u32;

    /// Fills the device attributes.
    fn query_device(dev: &IbDevice<Self>, attr: &mut b::ib_device_attr) -> Result;
    /// Fills the attributes of a port (1-based).
    fn query_port(dev: &IbDevice<Self>, port: u32, attr: &mut b::ib_port_attr) -> Result;
    /// Fills what never changes about a port.
    fn get_port_immutable(
        dev: &IbDevice<Self>,
        port: u32,
        immutable: &mut b::ib_port_immutable,
    ) -> Result;
    /// `IB_LINK_LAYER_*` of a port.
    fn get_link_layer(dev: &IbDevice<Self>, port: u32) -> u8;
    /// The P_Key at `index` of a port's table.
    fn query_pkey(_dev: &IbDevice<Self>, _port: u32, _index: u16) -> Result<u16> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
}

/// The C entry points for one driver type.
struct Adapter<T>(PhantomData<T>);

impl<T: IbDriver> Adapter<T> {
    const OPS: b::ib_device_ops = b::ib_device_ops {
        owner: <T::OwnerModule as kernel::ModuleMetadata>::THIS_MODULE
            .as_ptr()
            .cast(),
        driver_id: T::DRIVER_ID,
        uverbs_abi_ver: T::UVERBS_ABI_VER,
        query_device: Some(Self::query_device),
        query_port: Some(Self::query_port),
        get_port_immutable: Some(Self::get_port_immutable),
        get_link_layer: Some(Self::get_link_layer),
        query_pkey: if T::HAS_QUERY_PKEY {
            Some(Self::query_pkey)
        } else {
            None
        },
        // A user context carries nothing of ours yet, but uverbs only creates
        // the device's char device when the driver can make one.
        alloc_ucontext: Some(Self::alloc_ucontext),
        dealloc_ucontext: Some(Self::dealloc_ucontext),
        dealloc_driver: Some(Self::dealloc_driver),
        size_ib_ucontext: size_of::<b::ib_ucontext>(),
        // SAFETY: All-zero is valid for the remaining fields of
        // `ib_device_ops`: NULL function pointers and zero sizes.
        ..unsafe { core::mem::zeroed() }
    };

    /// # Safety
    ///
    /// `ibdev` is a device of this driver type (ib_core only calls the ops of
    /// a device that has them, and only between `IbDevice::new` and
    /// `dealloc_driver`).
    unsafe fn dev<'a>(ibdev: *mut b::ib_device) -> &'a IbDevice<T> {
        // SAFETY: Per the contract.
        unsafe { IbDevice::<T>::from_raw(ibdev) }
    }

    /// # Safety
    ///
    /// Called by ib_core only, with a device of driver type `T` (see
    /// [`Self::dev`]) and the valid arguments its `ib_device_ops` contract gives.
    unsafe extern "C" fn query_device(
        ibdev: *mut b::ib_device,
        attr: *mut b::ib_device_attr,
        udata: *mut b::ib_udata,
    ) -> c_int {
        from_result(|| {
            // SAFETY: ib_core passes a valid udata or NULL.
            if let Some(udata) = unsafe { udata.as_ref() } {
                // No driver-private query data is defined (like rxe).
                if udata.inlen != 0 || udata.outlen != 0 {
                    return Err(EINVAL);
                }
            }
            // SAFETY: A device of ours; `attr` is valid and exclusively ours for the call.
            T::query_device(unsafe { Self::dev(ibdev) }, unsafe { &mut *attr })?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by ib_core only, with a device of driver type `T` (see
    /// [`Self::dev`]) and the valid arguments its `ib_device_ops` contract gives.
    unsafe extern "C" fn query_port(
        ibdev: *mut b::ib_device,
        port: u32,
        attr: *mut b::ib_port_attr,
    ) -> c_int {
        from_result(|| {
            // SAFETY: A device of ours.
            let dev = unsafe { Self::dev(ibdev) };
            // SAFETY: ib_core zeroes `attr` and lends it to us for the call.
            let attr = unsafe { &mut *attr };
            T::query_port(dev, port, attr)?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by ib_core only, with a device of driver type `T` (see
    /// [`Self::dev`]) and the valid arguments its `ib_device_ops` contract gives.
    unsafe extern "C" fn get_port_immutable(
        ibdev: *mut b::ib_device,
        port: u32,
        immutable: *mut b::ib_port_immutable,
    ) -> c_int {
        from_result(|| {
            // SAFETY: A device of ours; `immutable` is valid for the call.
            T::get_port_immutable(unsafe { Self::dev(ibdev) }, port, unsafe {
                &mut *immutable
            })?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by ib_core only, with a device of driver type `T` (see
    /// [`Self::dev`]) and the valid arguments its `ib_device_ops` contract gives.
    unsafe extern "C" fn get_link_layer(ibdev: *mut b::ib_device, port: u32) -> b::rdma_link_layer {
        // SAFETY: A device of ours.
        b::rdma_link_layer::from(T::get_link_layer(unsafe { Self::dev(ibdev) }, port))
    }

    /// # Safety
    ///
    /// Called by ib_core only, with a device of driver type `T` (see
    /// [`Self::dev`]) and the valid arguments its `ib_device_ops` contract gives.
    unsafe extern "C" fn query_pkey(
        ibdev: *mut b::ib_device,
        port: u32,
        index: u16,
        pkey: *mut u16,
    ) -> c_int {
        from_result(|| {
            // SAFETY: A device of ours.
            let value = T::query_pkey(unsafe { Self::dev(ibdev) }, port, index)?;
            // SAFETY: ib_core passes a valid out pointer.
            unsafe { *pkey = value };
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by ib_core only, with a device of driver type `T` (see
    /// [`Self::dev`]) and the valid arguments its `ib_device_ops` contract gives.
    unsafe extern "C" fn alloc_ucontext(
        _uctx: *mut b::ib_ucontext,
        udata: *mut b::ib_udata,
    ) -> c_int {
        // SAFETY: ib_core passes a valid udata or NULL.
        match unsafe { udata.as_ref() } {
            // The rxe ABI has no private request for a context.
            Some(u) if u.inlen != 0 => EINVAL.to_errno(),
            _ => 0,
        }
    }

    /// # Safety
    ///
    /// Called by ib_core only, with a device of driver type `T` (see
    /// [`Self::dev`]) and the valid arguments its `ib_device_ops` contract gives.
    unsafe extern "C" fn dealloc_ucontext(_uctx: *mut b::ib_ucontext) {}

    /// # Safety
    ///
    /// Called by ib_core only, with a device of driver type `T` (see
    /// [`Self::dev`]) and the valid arguments its `ib_device_ops` contract gives.
    unsafe extern "C" fn dealloc_driver(ibdev: *mut b::ib_device) {
        let this = ibdev.cast::<IbDevice<T>>();
        // SAFETY: ib_core calls this exactly once, after every other op has
        // returned and before it frees the memory; `data` is initialised
        // (type invariant) and is never used again.
        unsafe { ptr::drop_in_place(&raw mut (*this).data) };
    }
}
