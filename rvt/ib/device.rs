// SPDX-License-Identifier: GPL-2.0

//! `ib_device` with driver data behind it.
//!
//! A driver describes its device with the [`IbDriver`] trait (a `#[vtable]`
//! over `struct ib_device_ops`, in the style of `rust/kernel/net/phy.rs`).
//! [`Unregistered::new`] allocates an `ib_device` through ib_core with the
//! driver's data `T` behind it, initialised in place from an `impl PinInit`
//! (as `rust/kernel/drm/device.rs` does), so `T` may hold locks, lists, work
//! items and timers. The three handles:
//!
//! - [`Unregistered<T>`]: owned, not `Copy`, the device before registration;
//!   dropping it frees the device.
//! - [`IbDeviceRef<T>`]: a registration reference (ib_core's
//!   `ib_device_try_get` "get"): the device stays registered and `T` alive
//!   while it exists. What safe code keeps.
//! - `&IbDevice<T>`: a borrow for the length of a callback.
//!
//! ib_core owns the memory: `T` is dropped in `dealloc_driver`, which runs
//! once, after unregistration has waited for every get to be dropped (or
//! when registration fails).

use core::{cell::Cell, marker::PhantomData, mem::size_of, ops::Deref, ptr, ptr::NonNull};

use kernel::{
    alloc::{allocator::Kmalloc, Allocator},
    error::{from_result, VTABLE_DEFAULT_ERROR},
    prelude::*,
    str::CStr,
    types::Opaque,
};

use super::{
    mmap,
    mr::IbMr,
    object::{finish_create, Created, IbObject, Slot},
    restrack::ResAttrs,
    udata::Udata,
};
use crate::bindings as b;

/// An `ib_device` with driver data behind it.
///
/// Only ever seen through a pointer ib_core allocated: borrowed (`&Self`)
/// in callbacks, or held by [`Unregistered`] and [`IbDeviceRef`].
///
/// # Invariants
///
/// - `ibdev` is the first field (`#[repr(C)]`), so the `*mut ib_device` of a
///   device created by [`Unregistered::new`] is also a `*mut IbDevice<T>`.
/// - `data` is initialised from the end of [`Unregistered::new`] until the
///   device's `dealloc_driver` callback drops it.
/// - The allocation holds [`IbDevice::extra_offset`] + the `extra` bytes given
///   to [`Unregistered::new`], the extra ones zeroed, and never moves.
#[repr(C)]
pub(crate) struct IbDevice<T: IbDriver> {
    ibdev: Opaque<b::ib_device>,
    data: T,
}

// SAFETY: Shared access only: ib_core serialises its own fields, `T` is
// `Sync` (an `IbDriver` bound).
unsafe impl<T: IbDriver> Sync for IbDevice<T> {}
// SAFETY: Nothing in an `IbDevice` is tied to a thread; `T` is `Send`.
unsafe impl<T: IbDriver> Send for IbDevice<T> {}

impl<T: IbDriver> IbDevice<T> {
    /// Offset of the driver's extra (zeroed) storage from the start of the
    /// allocation, aligned as kmalloc aligns the allocation itself.
    pub(crate) const fn extra_offset() -> usize {
        size_of::<Self>().next_multiple_of(Kmalloc::MIN_ALIGN)
    }

    /// The `ib_device` of this device.
    pub(crate) fn as_raw(&self) -> *mut b::ib_device {
        self.ibdev.get()
    }

    /// The driver's data.
    pub(crate) fn data(&self) -> &T {
        &self.data
    }

    /// The start of the extra storage requested from [`Unregistered::new`],
    /// from a pointer to the device (whose provenance is the allocation's,
    /// unlike a `&Self`'s).
    pub(crate) fn extra(this: *mut Self) -> *mut u8 {
        this.cast::<u8>().wrapping_add(Self::extra_offset())
    }

    /// Takes a registration reference, unless unregistration has begun.
    pub(crate) fn try_get(&self) -> Option<IbDeviceRef<T>> {
        // SAFETY: A live ib_device (we are borrowed from one).
        if !unsafe { b::rvt_helper_ib_device_try_get(self.as_raw()) } {
            return None;
        }
        // INVARIANT: we hold the get just taken.
        Some(IbDeviceRef(NonNull::from(self)))
    }

    /// The device behind an `ib_device` of this driver.
    ///
    /// # Safety
    ///
    /// `ibdev` belongs to an `IbDevice<T>` whose data stays initialised for
    /// `'a` (a callback of this driver, or a get held for `'a`).
    pub(crate) unsafe fn from_raw<'a>(ibdev: *mut b::ib_device) -> &'a Self {
        // SAFETY: Per the contract and the first-field invariant.
        unsafe { &*ibdev.cast::<Self>() }
    }

    /// The device behind any `ib_device`, if it is one of driver `T`.
    /// Lock-free: the device's `query_device` op identifies the driver
    /// (ib_core itself rewrites `dealloc_driver` while a registration fails).
    ///
    /// # Safety
    ///
    /// `ibdev` is a live `ib_device` (of any driver) whose ops are set and,
    /// if it is ours, whose data stays initialised for `'a` (the caller holds
    /// a get, or runs inside one of its callbacks).
    pub(crate) unsafe fn try_from_raw<'a>(ibdev: *mut b::ib_device) -> Option<&'a Self> {
        let ours: unsafe extern "C" fn(
            *mut b::ib_device,
            *mut b::ib_device_attr,
            *mut b::ib_udata,
        ) -> c_int = Adapter::<T>::query_device;
        // SAFETY: A live ib_device; ib_core writes `query_device` only in
        // `ib_set_device_ops`, before the device is visible.
        let theirs = unsafe { (*ibdev).ops.query_device };
        theirs
            .is_some_and(|f| ptr::fn_addr_eq(f, ours))
            // SAFETY: Our `query_device` is only installed on
            // `IbDevice<T>`s; the caller keeps the data alive.
            .then(|| unsafe { Self::from_raw(ibdev) })
    }
}

/// An `ib_device` that ib_core allocated and that is not registered yet,
/// owned by whoever holds this.
///
/// # Invariants
///
/// Points to an `IbDevice<T>` with initialised data that is not registered,
/// and that nobody else references.
pub(crate) struct Unregistered<T: IbDriver>(NonNull<IbDevice<T>>);

impl<T: IbDriver> Unregistered<T> {
    /// Allocates an `ib_device` in namespace `net` (NULL: the initial one),
    /// initialises `T` in place and leaves `extra` zeroed bytes behind it.
    /// `owner` becomes `ib_device_ops.owner` (the module uverbs pins while a
    /// file is open); NULL means `T`'s own module.
    ///
    /// # Safety
    ///
    /// `net` is NULL or a live namespace; `owner` is NULL or a module that
    /// outlives the device.
    pub(crate) unsafe fn new(
        init: impl PinInit<T, Error>,
        extra: usize,
        net: *mut b::net,
        owner: *mut b::module,
    ) -> Result<Self> {
        const { assert!(core::mem::align_of::<IbDevice<T>>() <= Kmalloc::MIN_ALIGN) };
        let size = IbDevice::<T>::extra_offset()
            .checked_add(extra)
            .ok_or(EINVAL)?;
        // SAFETY: `_ib_alloc_device` takes any size >= sizeof(struct
        // ib_device) (ours is larger: the ib_device is our first field) and a
        // valid or NULL namespace (the contract); it returns zeroed memory or
        // NULL.
        let raw = unsafe { b::_ib_alloc_device(size, net) };
        if raw.is_null() {
            return Err(ENOMEM);
        }
        let this = raw.cast::<IbDevice<T>>();
        // The allocation is non-NULL (checked above).
        let handle = NonNull::new(this).ok_or(ENOMEM)?;
        // SAFETY: `data` is uninitialised memory inside the fresh allocation,
        // suitably aligned (asserted above), that never moves. On error the
        // initialiser has dropped what it made.
        if let Err(e) = unsafe { pin_init::raw_try_init(&raw mut (*this).data, init) } {
            // SAFETY: Unregistered and without ops, so ib_core frees the
            // memory without calling into us.
            unsafe { b::ib_dealloc_device(raw) };
            return Err(e);
        }
        // INVARIANT: `data` is initialised; only now does the device get
        // ops, among them `dealloc_driver`, which drops it.
        // SAFETY: An unregistered ib_device; the table is 'static.
        unsafe { b::ib_set_device_ops(raw, &Adapter::<T>::OPS) };
        let owner = if owner.is_null() {
            <T::OwnerModule as kernel::ModuleMetadata>::THIS_MODULE
                .as_ptr()
                .cast()
        } else {
            owner
        };
        // SAFETY: Nobody else sees the device yet; `owner` outlives it (the
        // caller's contract for a non-NULL one, T's module otherwise).
        unsafe { (*raw).ops.owner = owner };
        // INVARIANT: fresh, unregistered, ours alone.
        Ok(Self(handle))
    }

    /// Registers the device as `name` and returns a get on it. On failure
    /// the device is freed (`T` dropped in `dealloc_driver`).
    pub(crate) fn register(self, name: &CStr) -> Result<IbDeviceRef<T>> {
        let this = core::mem::ManuallyDrop::new(self);
        let ibdev = this.as_raw();
        // SAFETY: An initialised ib_device: hold its memory across the
        // registration, during which a concurrent unregistration (`rdma link
        // delete`) may already free the registered device.
        let dev = unsafe { &raw mut (*ibdev).__bindgen_anon_1.dev };
        // SAFETY: As above.
        unsafe { b::get_device(dev) };
        // SAFETY: A fully initialised, unregistered device; `name` is
        // NUL-terminated.
        let err = unsafe { b::ib_register_device(ibdev, name.as_char_ptr(), ptr::null_mut()) };
        let result = if err != 0 {
            // SAFETY: Registration failed: the device is still ours and is
            // freed here, `dealloc_driver` dropping `T`.
            unsafe { b::ib_dealloc_device(ibdev) };
            Err(Error::from_errno(err))
        // SAFETY: The memory is held (above), so this ib_device is live; the
        // get fails if it was unregistered in the meantime.
        } else if unsafe { b::rvt_helper_ib_device_try_get(ibdev) } {
            // INVARIANT: registered, with the get just taken.
            Ok(IbDeviceRef(this.0))
        } else {
            Err(ENODEV)
        };
        // SAFETY: Drops the memory reference taken above.
        unsafe { b::put_device(dev) };
        result
    }
}

impl<T: IbDriver> Unregistered<T> {
    /// Gives the device to the caller as a raw pointer (see [`Self::from_raw`]).
    pub(crate) fn into_raw(self) -> NonNull<IbDevice<T>> {
        core::mem::ManuallyDrop::new(self).0
    }

    /// Takes back a device given away by [`Self::into_raw`].
    ///
    /// # Safety
    ///
    /// `this` came from [`Self::into_raw`], was not registered since, and the
    /// caller gives up its ownership.
    pub(crate) unsafe fn from_raw(this: NonNull<IbDevice<T>>) -> Self {
        // INVARIANT: Per the contract.
        Self(this)
    }
}

impl<T: IbDriver> Deref for Unregistered<T> {
    type Target = IbDevice<T>;

    fn deref(&self) -> &IbDevice<T> {
        // SAFETY: A live device with initialised data (type invariant).
        unsafe { self.0.as_ref() }
    }
}

impl<T: IbDriver> Drop for Unregistered<T> {
    fn drop(&mut self) {
        // SAFETY: Never registered and ours alone (type invariant): ib_core
        // calls `dealloc_driver` (dropping `T`) and frees the memory.
        unsafe { b::ib_dealloc_device(self.as_raw()) };
    }
}

// SAFETY: Ownership of an unregistered device can move between threads:
// `T: Send`.
unsafe impl<T: IbDriver> Send for Unregistered<T> {}

/// A registration reference ("get") on an `IbDevice<T>`: while it exists the
/// device stays registered (ib_core's unregistration waits for every get)
/// and its data alive.
///
/// # Invariants
///
/// Points to a registered `IbDevice<T>` on which this handle holds one get.
pub(crate) struct IbDeviceRef<T: IbDriver>(NonNull<IbDevice<T>>);

impl<T: IbDriver> IbDeviceRef<T> {
    /// Unregisters the device, dropping this get first, and waits until
    /// unregistration is complete (the device is then freed unless another
    /// caller holds a memory reference). Sleeps; never under RTNL.
    pub(crate) fn unregister(self) {
        let ibdev = core::mem::ManuallyDrop::new(self).as_raw();
        // SAFETY: We hold a get (type invariant), which this call consumes;
        // it is safe against concurrent unregistrations.
        unsafe { b::ib_unregister_device_and_put(ibdev) };
    }

    /// Starts unregistration from a work item (for callers under RTNL or in
    /// atomic context). This get stays held and must still be dropped.
    pub(crate) fn unregister_queued(&self) {
        // SAFETY: We hold a get, so the device is registered (refcount > 0).
        unsafe { b::ib_unregister_device_queued(self.as_raw()) };
    }

    /// Gives the get to the caller as a raw pointer (see [`Self::from_raw_get`]).
    pub(crate) fn into_raw(self) -> NonNull<IbDevice<T>> {
        core::mem::ManuallyDrop::new(self).0
    }

    /// Takes back a get given away by [`Self::into_raw`] (or one taken on a
    /// registered `IbDevice<T>` by other means).
    ///
    /// # Safety
    ///
    /// The caller owns a get on `this`, and gives it to the returned handle.
    pub(crate) unsafe fn from_raw_get(this: NonNull<IbDevice<T>>) -> Self {
        // INVARIANT: Per the contract.
        Self(this)
    }
}

impl<T: IbDriver> Deref for IbDeviceRef<T> {
    type Target = IbDevice<T>;

    fn deref(&self) -> &IbDevice<T> {
        // SAFETY: Registered with a get held, so the data is alive (type
        // invariant).
        unsafe { self.0.as_ref() }
    }
}

impl<T: IbDriver> Drop for IbDeviceRef<T> {
    fn drop(&mut self) {
        // SAFETY: Drops the get we hold (type invariant).
        unsafe { b::ib_device_put(self.as_raw()) };
    }
}

// SAFETY: A get may be dropped from any thread; `IbDevice<T>` is `Sync`.
unsafe impl<T: IbDriver> Send for IbDeviceRef<T> {}
// SAFETY: Shared access only reaches `&IbDevice<T>`, which is `Sync`.
unsafe impl<T: IbDriver> Sync for IbDeviceRef<T> {}

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
    /// Fills the attributes of a port (1-based). Process context.
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
    /// Descriptors of the per-port counters `rdma statistic` shows.
    fn port_counter_descs() -> &'static [b::rdma_stat_desc] {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// Reads a port's counters into `values`, in descriptor order. Process
    /// context.
    fn read_port_counters(_dev: &IbDevice<Self>, _port: u32, _values: &mut [u64]) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// The device is being freed, its data still alive: the last call into
    /// the driver for it (from `dealloc_driver`, after unregistration, or
    /// after a failed registration). The data is dropped right after.
    fn dealloc(_dev: &IbDevice<Self>) {}

    /// Driver data of a user context (`ib_ucontext`).
    type Ucontext: Send + Sync;
    /// Driver data of a protection domain (`ib_pd`).
    type Pd: Send + Sync;
    /// Driver data of a completion queue (`ib_cq`).
    type Cq: Send + Sync;
    /// Driver data of a memory region (`ib_mr`, allocated by the driver).
    type Mr: Send + Sync;
    /// Driver data of a queue pair (`ib_qp`).
    type Qp: Send + Sync;
    /// Driver data of an address handle (`ib_ah`).
    type Ah: Send + Sync;
    /// Driver data of a shared receive queue (`ib_srq`).
    type Srq: Send + Sync;
    /// Driver data of a memory window (`ib_mw`).
    type Mw: Send + Sync;

    /// Creates a user context. Process context.
    fn alloc_ucontext<'a>(
        dev: &IbDevice<Self>,
        slot: Slot<'a, b::ib_ucontext, Self::Ucontext>,
        udata: &mut Udata<'_>,
    ) -> Result<Created<'a, b::ib_ucontext, Self::Ucontext>>;

    /// Creates a protection domain, for a kernel (`udata` None) or user
    /// caller. Process context.
    fn alloc_pd<'a>(
        _dev: &IbDevice<Self>,
        _slot: Slot<'a, b::ib_pd, Self::Pd>,
        _udata: Option<&mut Udata<'_>>,
    ) -> Result<Created<'a, b::ib_pd, Self::Pd>> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// Destroys a protection domain (its data is dropped after `Ok`).
    fn dealloc_pd(_pd: &IbObject<b::ib_pd, Self::Pd>) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Registers user memory: `length` bytes at `start`, addressed from
    /// `iova`, with `access` rights. Process context.
    fn reg_user_mr(
        _pd: &IbObject<b::ib_pd, Self::Pd>,
        _start: u64,
        _length: u64,
        _iova: u64,
        _access: u32,
        _udata: &mut Udata<'_>,
    ) -> Result<Pin<KBox<IbMr<Self::Mr>>>> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// A DMA MR of a kernel PD: the kernel memory of the device's (virtual)
    /// DMA addresses. Process context.
    fn get_dma_mr(
        _pd: &IbObject<b::ib_pd, Self::Pd>,
        _access: u32,
    ) -> Result<Pin<KBox<IbMr<Self::Mr>>>> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// A fast-registration MR (`mr_type` `IB_MR_TYPE_MEM_REG`) of a kernel
    /// PD that maps up to `max_num_sg` pages. Process context.
    fn alloc_mr(
        _pd: &IbObject<b::ib_pd, Self::Pd>,
        _mr_type: u32,
        _max_num_sg: u32,
    ) -> Result<Pin<KBox<IbMr<Self::Mr>>>> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// `ib_map_mr_sg` begins on an MR from `alloc_mr`: forget the pages
    /// mapped before. Any context.
    fn begin_map_mr(_mr: &IbMr<Self::Mr>) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// `ib_map_mr_sg` maps the next page (`ib_sg_to_pages`' `set_page`):
    /// the DMA address of a chunk of the MR's page size. Any context.
    fn map_mr_page(_mr: &IbMr<Self::Mr>, _addr: u64) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Creates a memory window of a user PD (ib_core has no kernel MW
    /// API): its type and PD are set in the slot's `ib_mw`; the driver sets
    /// its R_Key. Process context.
    fn alloc_mw<'a>(
        _dev: &IbDevice<Self>,
        _slot: Slot<'a, b::ib_mw, Self::Mw>,
        _udata: &mut Udata<'_>,
    ) -> Result<Created<'a, b::ib_mw, Self::Mw>> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// Destroys a memory window (its data is dropped after `Ok`). Process
    /// context.
    fn dealloc_mw(_mw: &IbObject<b::ib_mw, Self::Mw>) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// The driver attributes of a QP's `rdma resource` entry. Process
    /// context.
    fn fill_res_qp(_qp: &IbObject<b::ib_qp, Self::Qp>, _attrs: &mut ResAttrs) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// The driver attributes of a CQ's `rdma resource` entry. Process
    /// context.
    fn fill_res_cq(_cq: &IbObject<b::ib_cq, Self::Cq>, _attrs: &mut ResAttrs) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// The driver attributes of an MR's `rdma resource` entry. Process
    /// context.
    fn fill_res_mr(_mr: &IbMr<Self::Mr>, _attrs: &mut ResAttrs) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Deregisters and frees an MR (from `reg_user_mr`, `get_dma_mr` or
    /// `alloc_mr`). Process context.
    fn dereg_mr(_dev: &IbDevice<Self>, _mr: Pin<KBox<IbMr<Self::Mr>>>) {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Creates an address handle, for a kernel (`udata` None) or user
    /// caller. A kernel caller may be in atomic context unless
    /// `init.flags` has `RDMA_CREATE_AH_SLEEPABLE`.
    fn create_ah<'a>(
        _dev: &IbDevice<Self>,
        _slot: Slot<'a, b::ib_ah, Self::Ah>,
        _init: &b::rdma_ah_init_attr,
        _udata: Option<&mut Udata<'_>>,
    ) -> Result<Created<'a, b::ib_ah, Self::Ah>> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// Fills an address handle's attributes.
    fn query_ah(_ah: &IbObject<b::ib_ah, Self::Ah>, _attr: &mut b::rdma_ah_attr) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Creates a shared receive queue; what is granted goes back in
    /// `init.attr`. Process context.
    fn create_srq<'a>(
        _dev: &IbDevice<Self>,
        _slot: Slot<'a, b::ib_srq, Self::Srq>,
        _init: &mut b::ib_srq_init_attr,
        _udata: Option<&mut Udata<'_>>,
    ) -> Result<Created<'a, b::ib_srq, Self::Srq>> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// Modifies a shared receive queue (`mask`: `IB_SRQ_*`). Process context.
    fn modify_srq(
        _srq: &IbObject<b::ib_srq, Self::Srq>,
        _attr: &b::ib_srq_attr,
        _mask: u32,
        _udata: Option<&mut Udata<'_>>,
    ) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// Posts receive work requests to a kernel SRQ; on failure sets
    /// `bad_wr` to the first request not posted. Any context.
    fn post_srq_recv(
        _srq: &IbObject<b::ib_srq, Self::Srq>,
        _wr: *const b::ib_recv_wr,
        _bad_wr: &mut *const b::ib_recv_wr,
    ) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// Fills a shared receive queue's attributes.
    fn query_srq(_srq: &IbObject<b::ib_srq, Self::Srq>, _attr: &mut b::ib_srq_attr) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Creates a queue pair; the capabilities granted go back in
    /// `init.cap`. Process context.
    fn create_qp<'a>(
        _dev: &IbDevice<Self>,
        _slot: Slot<'a, b::ib_qp, Self::Qp>,
        _init: &mut b::ib_qp_init_attr,
        _udata: Option<&mut Udata<'_>>,
    ) -> Result<Created<'a, b::ib_qp, Self::Qp>> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// Modifies a queue pair: the attributes `mask` names. Process context.
    fn modify_qp(
        _qp: &IbObject<b::ib_qp, Self::Qp>,
        _attr: &b::ib_qp_attr,
        _mask: u32,
        _udata: Option<&mut Udata<'_>>,
    ) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// Fills a queue pair's attributes. Process context.
    fn query_qp(
        _qp: &IbObject<b::ib_qp, Self::Qp>,
        _attr: &mut b::ib_qp_attr,
        _init: &mut b::ib_qp_init_attr,
    ) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// Attaches a UD QP to the multicast group `gid` (ib_core checked the
    /// QP type and the GID, and counts the attachment in the QP). Process
    /// context.
    fn attach_mcast(_qp: &IbObject<b::ib_qp, Self::Qp>, _gid: &b::ib_gid) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// Detaches a UD QP from a multicast group. Process context.
    fn detach_mcast(_qp: &IbObject<b::ib_qp, Self::Qp>, _gid: &b::ib_gid) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// Destroys a queue pair (its data is dropped after `Ok`). Process
    /// context.
    fn destroy_qp(_qp: &IbObject<b::ib_qp, Self::Qp>) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// Posts the send work requests of the list `wr` (NULL: a user QP's
    /// doorbell, its WQEs are in its ring); on failure sets `bad_wr` to the
    /// first request not posted. Any context with interrupts enabled:
    /// kernel consumers post from softirq and with BH spinlocks held.
    fn post_send(
        _qp: &IbObject<b::ib_qp, Self::Qp>,
        _wr: *const b::ib_send_wr,
        _bad_wr: &mut *const b::ib_send_wr,
    ) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// Posts the receive work requests of the list `wr` (kernel QPs); on
    /// failure sets `bad_wr` as for `post_send`. Any context with
    /// interrupts enabled.
    fn post_recv(
        _qp: &IbObject<b::ib_qp, Self::Qp>,
        _wr: *const b::ib_recv_wr,
        _bad_wr: &mut *const b::ib_recv_wr,
    ) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Creates a completion queue of at least `attr.cqe` entries, for a
    /// kernel (`udata` None) or user caller. Process context.
    fn create_cq<'a>(
        _dev: &IbDevice<Self>,
        _slot: Slot<'a, b::ib_cq, Self::Cq>,
        _attr: &b::ib_cq_init_attr,
        _udata: Option<&mut Udata<'_>>,
    ) -> Result<Created<'a, b::ib_cq, Self::Cq>> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// Destroys a completion queue (its data is dropped after `Ok`).
    /// Process context.
    fn destroy_cq(_cq: &IbObject<b::ib_cq, Self::Cq>) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// Resizes a user completion queue to at least `cqe` entries; returns
    /// how many it holds. Process context.
    fn resize_user_cq(
        _cq: &IbObject<b::ib_cq, Self::Cq>,
        _cqe: u32,
        _udata: &mut Udata<'_>,
    ) -> Result<u32> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// Moves up to `wc.len()` completions into `wc`; returns how many.
    /// Any context, including hard interrupts.
    fn poll_cq(_cq: &IbObject<b::ib_cq, Self::Cq>, _wc: &mut [b::ib_wc]) -> usize {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// Arms the completion handler (`IB_CQ_SOLICITED`/`IB_CQ_NEXT_COMP` in
    /// `flags`); with `IB_CQ_REPORT_MISSED_EVENTS`, returns whether
    /// completions are already waiting. Any context, including the
    /// completion handler itself.
    fn req_notify_cq(_cq: &IbObject<b::ib_cq, Self::Cq>, _flags: u32) -> Result<bool> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
}

/// A post verb's return value; on failure `bad_wr` (unless NULL) gets the
/// first work request not posted, as ib_core's callers expect.
///
/// # Safety
///
/// `bad_wr` is NULL or valid for a write.
unsafe fn post_result<W>(posted: Result, bad: *const W, bad_wr: *mut *const W) -> c_int {
    match posted {
        Ok(()) => 0,
        Err(e) => {
            if !bad_wr.is_null() {
                // SAFETY: Valid (the contract; checked non-NULL).
                unsafe { *bad_wr = bad };
            }
            e.to_errno()
        }
    }
}

/// The C entry points for one driver type.
struct Adapter<T>(PhantomData<T>);

impl<T: IbDriver> Adapter<T> {
    const OPS: b::ib_device_ops = b::ib_device_ops {
        // Set per device by `Unregistered::new` (ib_set_device_ops would
        // refuse a second, different owner).
        owner: ptr::null_mut(),
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
        alloc_ucontext: Some(Self::alloc_ucontext),
        dealloc_ucontext: Some(Self::dealloc_ucontext),
        // User rings are `SharedBuffer`s (ib/mmap.rs), the same for every driver.
        mmap: Some(Self::mmap),
        mmap_free: Some(Self::mmap_free),
        size_ib_ucontext: IbObject::<b::ib_ucontext, T::Ucontext>::SIZE,
        alloc_pd: if T::HAS_ALLOC_PD {
            Some(Self::alloc_pd)
        } else {
            None
        },
        dealloc_pd: if T::HAS_ALLOC_PD {
            Some(Self::dealloc_pd)
        } else {
            None
        },
        size_ib_pd: IbObject::<b::ib_pd, T::Pd>::SIZE,
        // One driver method serves both: kernel callers come through
        // create_cq (no udata), user space through create_user_cq.
        create_cq: if T::HAS_CREATE_CQ {
            Some(Self::create_cq)
        } else {
            None
        },
        create_user_cq: if T::HAS_CREATE_CQ {
            Some(Self::create_user_cq)
        } else {
            None
        },
        destroy_cq: if T::HAS_CREATE_CQ {
            Some(Self::destroy_cq)
        } else {
            None
        },
        resize_user_cq: if T::HAS_RESIZE_USER_CQ {
            Some(Self::resize_user_cq)
        } else {
            None
        },
        poll_cq: if T::HAS_POLL_CQ {
            Some(Self::poll_cq)
        } else {
            None
        },
        req_notify_cq: if T::HAS_REQ_NOTIFY_CQ {
            Some(Self::req_notify_cq)
        } else {
            None
        },
        attach_mcast: if T::HAS_ATTACH_MCAST {
            Some(Self::attach_mcast)
        } else {
            None
        },
        detach_mcast: if T::HAS_ATTACH_MCAST {
            Some(Self::detach_mcast)
        } else {
            None
        },
        post_srq_recv: if T::HAS_POST_SRQ_RECV {
            Some(Self::post_srq_recv)
        } else {
            None
        },
        post_send: if T::HAS_POST_SEND {
            Some(Self::post_send)
        } else {
            None
        },
        post_recv: if T::HAS_POST_RECV {
            Some(Self::post_recv)
        } else {
            None
        },
        size_ib_cq: IbObject::<b::ib_cq, T::Cq>::SIZE,
        create_ah: if T::HAS_CREATE_AH {
            Some(Self::create_ah)
        } else {
            None
        },
        create_user_ah: if T::HAS_CREATE_AH {
            Some(Self::create_ah)
        } else {
            None
        },
        destroy_ah: if T::HAS_CREATE_AH {
            Some(Self::destroy_ah)
        } else {
            None
        },
        query_ah: if T::HAS_QUERY_AH {
            Some(Self::query_ah)
        } else {
            None
        },
        size_ib_ah: IbObject::<b::ib_ah, T::Ah>::SIZE,
        create_srq: if T::HAS_CREATE_SRQ {
            Some(Self::create_srq)
        } else {
            None
        },
        modify_srq: if T::HAS_CREATE_SRQ {
            Some(Self::modify_srq)
        } else {
            None
        },
        query_srq: if T::HAS_CREATE_SRQ {
            Some(Self::query_srq)
        } else {
            None
        },
        destroy_srq: if T::HAS_CREATE_SRQ {
            Some(Self::destroy_srq)
        } else {
            None
        },
        size_ib_srq: IbObject::<b::ib_srq, T::Srq>::SIZE,
        create_qp: if T::HAS_CREATE_QP {
            Some(Self::create_qp)
        } else {
            None
        },
        modify_qp: if T::HAS_CREATE_QP {
            Some(Self::modify_qp)
        } else {
            None
        },
        query_qp: if T::HAS_CREATE_QP {
            Some(Self::query_qp)
        } else {
            None
        },
        destroy_qp: if T::HAS_CREATE_QP {
            Some(Self::destroy_qp)
        } else {
            None
        },
        size_ib_qp: IbObject::<b::ib_qp, T::Qp>::SIZE,
        reg_user_mr: if T::HAS_REG_USER_MR {
            Some(Self::reg_user_mr)
        } else {
            None
        },
        get_dma_mr: if T::HAS_GET_DMA_MR {
            Some(Self::get_dma_mr)
        } else {
            None
        },
        alloc_mw: if T::HAS_ALLOC_MW {
            Some(Self::alloc_mw)
        } else {
            None
        },
        dealloc_mw: if T::HAS_ALLOC_MW {
            Some(Self::dealloc_mw)
        } else {
            None
        },
        size_ib_mw: IbObject::<b::ib_mw, T::Mw>::SIZE,
        fill_res_qp_entry: if T::HAS_FILL_RES_QP {
            Some(Self::fill_res_qp_entry)
        } else {
            None
        },
        fill_res_cq_entry: if T::HAS_FILL_RES_CQ {
            Some(Self::fill_res_cq_entry)
        } else {
            None
        },
        fill_res_mr_entry: if T::HAS_FILL_RES_MR {
            Some(Self::fill_res_mr_entry)
        } else {
            None
        },
        alloc_mr: if T::HAS_ALLOC_MR {
            Some(Self::alloc_mr)
        } else {
            None
        },
        map_mr_sg: if T::HAS_ALLOC_MR {
            Some(Self::map_mr_sg)
        } else {
            None
        },
        dereg_mr: if T::HAS_REG_USER_MR {
            Some(Self::dereg_mr)
        } else {
            None
        },
        alloc_hw_port_stats: if T::HAS_PORT_COUNTER_DESCS {
            Some(Self::alloc_hw_port_stats)
        } else {
            None
        },
        get_hw_stats: if T::HAS_PORT_COUNTER_DESCS {
            Some(Self::get_hw_stats)
        } else {
            None
        },
        dealloc_driver: Some(Self::dealloc_driver),
        ..pin_init::zeroed()
    };

    /// # Safety
    ///
    /// `ibdev` is a device of this driver type (ib_core only calls the ops of
    /// a device that has them, and only between `Unregistered::new` and
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
    /// Called by ib_core only, with the valid arguments its `ib_device_ops`
    /// contract gives.
    unsafe extern "C" fn alloc_ucontext(
        uctx: *mut b::ib_ucontext,
        udata: *mut b::ib_udata,
    ) -> c_int {
        from_result(|| {
            // SAFETY: ib_core set the context's device, one of ours.
            let dev = unsafe { Self::dev((*uctx).device) };
            let live = Cell::new(false);
            // SAFETY: A fresh context allocated with our size for this call.
            let slot = unsafe { Slot::new(uctx, &live) };
            // SAFETY: ib_core passes a valid udata for the call.
            let mut udata = unsafe { Udata::from_raw(udata) }.ok_or(EINVAL)?;
            let result = T::alloc_ucontext(dev, slot, &mut udata);
            // SAFETY: The slot's object and flag.
            unsafe { finish_create(uctx, &live, result) }?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by ib_core only, once per context created by `alloc_ucontext`.
    unsafe extern "C" fn dealloc_ucontext(uctx: *mut b::ib_ucontext) {
        // SAFETY: A context of ours with initialised data, never used again.
        unsafe { IbObject::<b::ib_ucontext, T::Ucontext>::drop_data(uctx) };
    }

    /// # Safety
    ///
    /// Called by ib_core only, for a port of a device of ours.
    unsafe extern "C" fn alloc_hw_port_stats(
        _ibdev: *mut b::ib_device,
        _port: u32,
    ) -> *mut b::rdma_hw_stats {
        let descs = T::port_counter_descs();
        // SAFETY: 'static descriptors; ib_core frees the struct.
        unsafe {
            b::rdma_alloc_hw_stats_struct(
                descs.as_ptr(),
                descs.len() as c_int,
                b::RDMA_HW_STATS_DEFAULT_LIFESPAN as c_ulong,
            )
        }
    }

    /// # Safety
    ///
    /// Called by ib_core only, with a struct from `alloc_hw_port_stats` of
    /// this port, under its lock.
    unsafe extern "C" fn get_hw_stats(
        ibdev: *mut b::ib_device,
        stats: *mut b::rdma_hw_stats,
        port: u32,
        _index: c_int,
    ) -> c_int {
        from_result(|| {
            // SAFETY: A device of ours; `stats` has `num_counters` values,
            // ours to fill for the call.
            let (dev, values) = unsafe {
                let num = usize::try_from((*stats).num_counters)?;
                let values = (*stats).value.as_mut_ptr();
                (
                    Self::dev(ibdev),
                    core::slice::from_raw_parts_mut(values, num),
                )
            };
            T::read_port_counters(dev, port, values)?;
            // Every counter was updated.
            // SAFETY: As above.
            Ok(unsafe { (*stats).num_counters })
        })
    }

    /// # Safety
    ///
    /// Called by ib_uverbs only, with a live context of ours and the VMA
    /// being mapped.
    unsafe extern "C" fn mmap(uctx: *mut b::ib_ucontext, vma: *mut b::vm_area_struct) -> c_int {
        // SAFETY: Per the contract.
        from_result(|| unsafe { mmap::mmap(uctx, vma) }.map(|()| 0))
    }

    /// # Safety
    ///
    /// Called by ib_core only, once per mmap entry of ours.
    unsafe extern "C" fn mmap_free(entry: *mut b::rdma_user_mmap_entry) {
        // SAFETY: Per the contract.
        unsafe { mmap::free(entry) };
    }

    /// # Safety
    ///
    /// Called by ib_core only, with the valid arguments its `ib_device_ops`
    /// contract gives.
    unsafe extern "C" fn alloc_pd(pd: *mut b::ib_pd, udata: *mut b::ib_udata) -> c_int {
        from_result(|| {
            // SAFETY: ib_core set the PD's device, one of ours.
            let dev = unsafe { Self::dev((*pd).device) };
            let live = Cell::new(false);
            // SAFETY: A fresh PD allocated with our size for this call.
            let slot = unsafe { Slot::new(pd, &live) };
            // SAFETY: ib_core passes a valid udata or NULL.
            let mut udata = unsafe { Udata::from_raw(udata) };
            let result = T::alloc_pd(dev, slot, udata.as_mut());
            // SAFETY: The slot's object and flag.
            unsafe { finish_create(pd, &live, result) }?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by ib_core only, for a PD created by `alloc_pd`.
    unsafe extern "C" fn dealloc_pd(pd: *mut b::ib_pd, _udata: *mut b::ib_udata) -> c_int {
        from_result(|| {
            // SAFETY: A PD of ours with initialised data.
            T::dealloc_pd(unsafe { IbObject::from_raw(pd) })?;
            // SAFETY: Destroyed: ib_core frees it next.
            unsafe { IbObject::<b::ib_pd, T::Pd>::drop_data(pd) };
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by ib_core only (for kernel and user callers: `udata` NULL or
    /// not), with the valid arguments its `ib_device_ops` contract gives.
    unsafe extern "C" fn create_ah(
        ah: *mut b::ib_ah,
        init: *mut b::rdma_ah_init_attr,
        udata: *mut b::ib_udata,
    ) -> c_int {
        from_result(|| {
            // SAFETY: ib_core set the AH's device, one of ours.
            let dev = unsafe { Self::dev((*ah).device) };
            let live = Cell::new(false);
            // SAFETY: A fresh AH allocated with our size for this call.
            let slot = unsafe { Slot::new(ah, &live) };
            // SAFETY: ib_core passes a valid udata or NULL.
            let mut udata = unsafe { Udata::from_raw(udata) };
            // SAFETY: ib_core passes valid attributes for the call.
            let result = T::create_ah(dev, slot, unsafe { &*init }, udata.as_mut());
            // SAFETY: The slot's object and flag.
            unsafe { finish_create(ah, &live, result) }?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by ib_core only, for an AH created by `create_ah`, in atomic
    /// context unless `flags` has `RDMA_DESTROY_AH_SLEEPABLE`.
    unsafe extern "C" fn destroy_ah(ah: *mut b::ib_ah, _flags: u32) -> c_int {
        // SAFETY: Destroyed (the driver keeps nothing to undo but its data):
        // ib_core frees it next.
        unsafe { IbObject::<b::ib_ah, T::Ah>::drop_data(ah) };
        0
    }

    /// # Safety
    ///
    /// Called by ib_core only, for an AH created by `create_ah`.
    unsafe extern "C" fn query_ah(ah: *mut b::ib_ah, attr: *mut b::rdma_ah_attr) -> c_int {
        from_result(|| {
            // SAFETY: An AH of ours; a valid out parameter.
            T::query_ah(unsafe { IbObject::from_raw(ah) }, unsafe { &mut *attr })?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by ib_core only, with the valid arguments its `ib_device_ops`
    /// contract gives.
    unsafe extern "C" fn create_srq(
        srq: *mut b::ib_srq,
        init: *mut b::ib_srq_init_attr,
        udata: *mut b::ib_udata,
    ) -> c_int {
        from_result(|| {
            // SAFETY: ib_core set the SRQ's device, one of ours.
            let dev = unsafe { Self::dev((*srq).device) };
            let live = Cell::new(false);
            // SAFETY: A fresh SRQ allocated with our size for this call.
            let slot = unsafe { Slot::new(srq, &live) };
            // SAFETY: ib_core passes a valid udata or NULL.
            let mut udata = unsafe { Udata::from_raw(udata) };
            // SAFETY: ib_core passes valid attributes, ours for the call.
            let result = T::create_srq(dev, slot, unsafe { &mut *init }, udata.as_mut());
            // SAFETY: The slot's object and flag.
            unsafe { finish_create(srq, &live, result) }?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by ib_core only, for an SRQ created by `create_srq`.
    unsafe extern "C" fn modify_srq(
        srq: *mut b::ib_srq,
        attr: *mut b::ib_srq_attr,
        mask: b::ib_srq_attr_mask,
        udata: *mut b::ib_udata,
    ) -> c_int {
        from_result(|| {
            // SAFETY: ib_core passes a valid udata or NULL.
            let mut udata = unsafe { Udata::from_raw(udata) };
            // SAFETY: An SRQ of ours; ib_core passes valid attributes.
            let (srq, attr) = unsafe { (IbObject::from_raw(srq), &*attr) };
            T::modify_srq(srq, attr, mask, udata.as_mut())?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by ib_core only, for an SRQ created by `create_srq`.
    unsafe extern "C" fn query_srq(srq: *mut b::ib_srq, attr: *mut b::ib_srq_attr) -> c_int {
        from_result(|| {
            // SAFETY: An SRQ of ours; a valid out parameter.
            T::query_srq(unsafe { IbObject::from_raw(srq) }, unsafe { &mut *attr })?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by ib_core only, for an SRQ created by `create_srq` (ib_core
    /// refuses while QPs use it).
    unsafe extern "C" fn destroy_srq(srq: *mut b::ib_srq, _udata: *mut b::ib_udata) -> c_int {
        // SAFETY: Destroyed: ib_core frees it next.
        unsafe { IbObject::<b::ib_srq, T::Srq>::drop_data(srq) };
        0
    }

    /// # Safety
    ///
    /// Called by ib_core only, with the valid arguments its `ib_device_ops`
    /// contract gives.
    unsafe extern "C" fn create_qp(
        qp: *mut b::ib_qp,
        init: *mut b::ib_qp_init_attr,
        udata: *mut b::ib_udata,
    ) -> c_int {
        from_result(|| {
            // SAFETY: ib_core set the QP's device, one of ours.
            let dev = unsafe { Self::dev((*qp).device) };
            let live = Cell::new(false);
            // SAFETY: A fresh QP allocated with our size for this call.
            let slot = unsafe { Slot::new(qp, &live) };
            // SAFETY: ib_core passes a valid udata or NULL.
            let mut udata = unsafe { Udata::from_raw(udata) };
            // SAFETY: ib_core passes valid attributes, ours for the call.
            let result = T::create_qp(dev, slot, unsafe { &mut *init }, udata.as_mut());
            // SAFETY: The slot's object and flag.
            unsafe { finish_create(qp, &live, result) }?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by ib_core only, for a QP created by `create_qp`.
    unsafe extern "C" fn modify_qp(
        qp: *mut b::ib_qp,
        attr: *mut b::ib_qp_attr,
        mask: c_int,
        udata: *mut b::ib_udata,
    ) -> c_int {
        from_result(|| {
            // SAFETY: ib_core passes a valid udata or NULL.
            let mut udata = unsafe { Udata::from_raw(udata) };
            // SAFETY: A QP of ours; ib_core passes valid attributes.
            let (qp, attr) = unsafe { (IbObject::from_raw(qp), &*attr) };
            T::modify_qp(qp, attr, mask as u32, udata.as_mut())?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by ib_core only, for a QP created by `create_qp`.
    unsafe extern "C" fn query_qp(
        qp: *mut b::ib_qp,
        attr: *mut b::ib_qp_attr,
        _mask: c_int,
        init: *mut b::ib_qp_init_attr,
    ) -> c_int {
        from_result(|| {
            // SAFETY: A QP of ours; ib_core passes valid out parameters.
            let (qp, attr, init) = unsafe { (IbObject::from_raw(qp), &mut *attr, &mut *init) };
            T::query_qp(qp, attr, init)?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by ib_core only, for a QP created by `create_qp`.
    unsafe extern "C" fn destroy_qp(qp: *mut b::ib_qp, _udata: *mut b::ib_udata) -> c_int {
        from_result(|| {
            // SAFETY: A QP of ours with initialised data.
            T::destroy_qp(unsafe { IbObject::from_raw(qp) })?;
            // SAFETY: Destroyed: ib_core frees it next.
            unsafe { IbObject::<b::ib_qp, T::Qp>::drop_data(qp) };
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by ib_uverbs only, with the valid arguments its
    /// `ib_device_ops` contract gives.
    unsafe extern "C" fn reg_user_mr(
        pd: *mut b::ib_pd,
        start: u64,
        length: u64,
        iova: u64,
        access: c_int,
        _dmah: *mut b::ib_dmah,
        udata: *mut b::ib_udata,
    ) -> *mut b::ib_mr {
        let reg = || {
            // SAFETY: A live PD of ours for the call.
            let pd = unsafe { IbObject::from_raw(pd) };
            // SAFETY: ib_uverbs passes a valid udata for the call.
            let mut udata = unsafe { Udata::from_raw(udata) }.ok_or(EINVAL)?;
            let access = u32::try_from(access).map_err(|_| EINVAL)?;
            T::reg_user_mr(pd, start, length, iova, access, &mut udata)
        };
        match reg() {
            // SAFETY: ib_core keeps the MR until `dereg_mr` gives it back,
            // and never moves it.
            Ok(mr) => KBox::into_raw(unsafe { Pin::into_inner_unchecked(mr) }).cast(),
            Err(e) => e.to_ptr(),
        }
    }

    /// # Safety
    ///
    /// Called by ib_core only, for a live kernel PD of ours.
    unsafe extern "C" fn get_dma_mr(pd: *mut b::ib_pd, access: c_int) -> *mut b::ib_mr {
        let get = || {
            // SAFETY: A live PD of ours for the call.
            let pd = unsafe { IbObject::from_raw(pd) };
            T::get_dma_mr(pd, u32::try_from(access).map_err(|_| EINVAL)?)
        };
        match get() {
            // SAFETY: As for `reg_user_mr`.
            Ok(mr) => KBox::into_raw(unsafe { Pin::into_inner_unchecked(mr) }).cast(),
            Err(e) => e.to_ptr(),
        }
    }

    /// # Safety
    ///
    /// Called by ib_uverbs only, for a fresh MW allocated with our size.
    unsafe extern "C" fn alloc_mw(mw: *mut b::ib_mw, udata: *mut b::ib_udata) -> c_int {
        from_result(|| {
            // SAFETY: ib_core set the MW's device, one of ours.
            let dev = unsafe { Self::dev((*mw).device) };
            let live = Cell::new(false);
            // SAFETY: A fresh MW allocated with our size for this call.
            let slot = unsafe { Slot::new(mw, &live) };
            // SAFETY: ib_uverbs passes a valid udata.
            let mut udata = unsafe { Udata::from_raw(udata) }.ok_or(EINVAL)?;
            let result = T::alloc_mw(dev, slot, &mut udata);
            // SAFETY: The slot's object and flag.
            unsafe { finish_create(mw, &live, result) }?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by ib_uverbs only, for an MW created by `alloc_mw`.
    unsafe extern "C" fn dealloc_mw(mw: *mut b::ib_mw) -> c_int {
        from_result(|| {
            // SAFETY: An MW of ours with initialised data.
            T::dealloc_mw(unsafe { IbObject::from_raw(mw) })?;
            // SAFETY: Destroyed: ib_core frees it next.
            unsafe { IbObject::<b::ib_mw, T::Mw>::drop_data(mw) };
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by ib_core's nldev only, for a live QP of ours and the
    /// message it fills.
    unsafe extern "C" fn fill_res_qp_entry(msg: *mut b::sk_buff, qp: *mut b::ib_qp) -> c_int {
        from_result(|| {
            // SAFETY: Per the contract.
            let qp = unsafe { IbObject::from_raw(qp) };
            // SAFETY: The message of this call.
            unsafe { ResAttrs::fill(msg, |attrs| T::fill_res_qp(qp, attrs)) }?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// As for `fill_res_qp_entry`, for a CQ.
    unsafe extern "C" fn fill_res_cq_entry(msg: *mut b::sk_buff, cq: *mut b::ib_cq) -> c_int {
        from_result(|| {
            // SAFETY: Per the contract.
            let cq = unsafe { IbObject::from_raw(cq) };
            // SAFETY: The message of this call.
            unsafe { ResAttrs::fill(msg, |attrs| T::fill_res_cq(cq, attrs)) }?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// As for `fill_res_qp_entry`, for an MR.
    unsafe extern "C" fn fill_res_mr_entry(msg: *mut b::sk_buff, mr: *mut b::ib_mr) -> c_int {
        from_result(|| {
            // SAFETY: Per the contract.
            let mr = unsafe { IbMr::from_raw(mr) };
            // SAFETY: The message of this call.
            unsafe { ResAttrs::fill(msg, |attrs| T::fill_res_mr(mr, attrs)) }?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by ib_core only, for a live kernel PD of ours.
    unsafe extern "C" fn alloc_mr(
        pd: *mut b::ib_pd,
        mr_type: b::ib_mr_type,
        max_num_sg: u32,
    ) -> *mut b::ib_mr {
        // SAFETY: A live PD of ours for the call.
        let pd = unsafe { IbObject::from_raw(pd) };
        match T::alloc_mr(pd, mr_type, max_num_sg) {
            // SAFETY: As for `reg_user_mr`.
            Ok(mr) => KBox::into_raw(unsafe { Pin::into_inner_unchecked(mr) }).cast(),
            Err(e) => e.to_ptr(),
        }
    }

    /// # Safety
    ///
    /// Called by ib_core only (`ib_map_mr_sg`), for a live MR of ours from
    /// `alloc_mr` and a valid DMA-mapped scatterlist of `sg_nents` entries.
    unsafe extern "C" fn map_mr_sg(
        mr: *mut b::ib_mr,
        sg: *mut b::scatterlist,
        sg_nents: c_int,
        sg_offset: *mut c_uint,
    ) -> c_int {
        // SAFETY: One of our MRs, live for the call.
        if let Err(e) = T::begin_map_mr(unsafe { IbMr::from_raw(mr) }) {
            return e.to_errno();
        }
        // SAFETY: The arguments ib_core gave; `set_page` is called with
        // this MR only, during the call.
        unsafe { b::ib_sg_to_pages(mr, sg, sg_nents, sg_offset, Some(Self::map_mr_page)) }
    }

    /// # Safety
    ///
    /// Called by `ib_sg_to_pages` only, from `map_mr_sg`, for its MR.
    unsafe extern "C" fn map_mr_page(mr: *mut b::ib_mr, addr: u64) -> c_int {
        // SAFETY: One of our MRs, live for the call (`map_mr_sg`).
        match T::map_mr_page(unsafe { IbMr::from_raw(mr) }, addr) {
            Ok(()) => 0,
            Err(e) => e.to_errno(),
        }
    }

    /// # Safety
    ///
    /// Called by ib_core only, once, for an MR from `reg_user_mr`,
    /// `get_dma_mr` or `alloc_mr`.
    unsafe extern "C" fn dereg_mr(mr: *mut b::ib_mr, _udata: *mut b::ib_udata) -> c_int {
        // SAFETY: ib_core set the MR's device, one of ours.
        let dev = unsafe { Self::dev((*mr).device) };
        // SAFETY: The box `reg_user_mr` or `get_dma_mr` gave ib_core (first-field layout),
        // pinned, given back once.
        let mr = unsafe { Pin::new_unchecked(KBox::from_raw(mr.cast::<IbMr<T::Mr>>())) };
        T::dereg_mr(dev, mr);
        0
    }

    /// # Safety
    ///
    /// Called by ib_core only (a kernel caller: `attrs` is NULL), with the
    /// valid arguments its `ib_device_ops` contract gives.
    unsafe extern "C" fn create_cq(
        cq: *mut b::ib_cq,
        attr: *const b::ib_cq_init_attr,
        attrs: *mut b::uverbs_attr_bundle,
    ) -> c_int {
        if !attrs.is_null() {
            // SAFETY: Per the contract (a user caller after all).
            return unsafe { Self::create_user_cq(cq, attr, attrs) };
        }
        from_result(|| {
            // SAFETY: ib_core set the CQ's device, one of ours.
            let dev = unsafe { Self::dev((*cq).device) };
            let live = Cell::new(false);
            // SAFETY: A fresh CQ allocated with our size for this call.
            let slot = unsafe { Slot::new(cq, &live) };
            // SAFETY: ib_core passes valid attributes.
            let result = T::create_cq(dev, slot, unsafe { &*attr }, None);
            // SAFETY: The slot's object and flag.
            unsafe { finish_create(cq, &live, result) }?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by ib_core only (a user caller), with the valid arguments its
    /// `ib_device_ops` contract gives.
    unsafe extern "C" fn create_user_cq(
        cq: *mut b::ib_cq,
        attr: *const b::ib_cq_init_attr,
        attrs: *mut b::uverbs_attr_bundle,
    ) -> c_int {
        from_result(|| {
            // SAFETY: ib_core set the CQ's device, one of ours.
            let dev = unsafe { Self::dev((*cq).device) };
            let live = Cell::new(false);
            // SAFETY: A fresh CQ allocated with our size for this call.
            let slot = unsafe { Slot::new(cq, &live) };
            // SAFETY: uverbs passes its valid attribute bundle for the call.
            let udata = unsafe { &raw mut (*attrs).__bindgen_anon_1.hdr.driver_udata };
            // SAFETY: As above.
            let mut udata = unsafe { Udata::from_raw(udata) }.ok_or(EINVAL)?;
            // SAFETY: ib_core passes valid attributes.
            let result = T::create_cq(dev, slot, unsafe { &*attr }, Some(&mut udata));
            // SAFETY: The slot's object and flag.
            unsafe { finish_create(cq, &live, result) }?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by ib_core only, for a CQ created by `create_cq`.
    unsafe extern "C" fn destroy_cq(cq: *mut b::ib_cq, _udata: *mut b::ib_udata) -> c_int {
        from_result(|| {
            // SAFETY: A CQ of ours with initialised data.
            T::destroy_cq(unsafe { IbObject::from_raw(cq) })?;
            // SAFETY: Destroyed: ib_core frees it next.
            unsafe { IbObject::<b::ib_cq, T::Cq>::drop_data(cq) };
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by ib_core's callers only, for a live CQ of ours and an array
    /// of `num_entries` writable `ib_wc`.
    unsafe extern "C" fn poll_cq(
        cq: *mut b::ib_cq,
        num_entries: c_int,
        wc: *mut b::ib_wc,
    ) -> c_int {
        let Ok(len) = usize::try_from(num_entries) else {
            return EINVAL.to_errno();
        };
        if len == 0 || wc.is_null() {
            return 0;
        }
        // SAFETY: Per the contract, `wc` has `len` entries, ours for the call.
        let wc = unsafe { core::slice::from_raw_parts_mut(wc, len) };
        // SAFETY: A live CQ of ours.
        let polled = T::poll_cq(unsafe { IbObject::from_raw(cq) }, wc);
        // At most `num_entries`, which fits.
        c_int::try_from(polled).unwrap_or(num_entries)
    }

    /// # Safety
    ///
    /// Called by ib_uverbs only, for a live user CQ of ours, with a valid
    /// udata.
    unsafe extern "C" fn resize_user_cq(
        cq: *mut b::ib_cq,
        cqe: c_uint,
        udata: *mut b::ib_udata,
    ) -> c_int {
        from_result(|| {
            // SAFETY: A live CQ of ours.
            let object = unsafe { IbObject::from_raw(cq) };
            // SAFETY: ib_uverbs passes a valid udata.
            let mut udata = unsafe { Udata::from_raw(udata) }.ok_or(EINVAL)?;
            let capacity = T::resize_user_cq(object, cqe, &mut udata)?;
            // SAFETY: ib_uverbs holds the CQ for the call; it reports cqe.
            unsafe { (*cq).cqe = c_int::try_from(capacity).unwrap_or(c_int::MAX) };
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by ib_core's callers only, for a live CQ of ours.
    unsafe extern "C" fn req_notify_cq(cq: *mut b::ib_cq, flags: b::ib_cq_notify_flags) -> c_int {
        // SAFETY: A live CQ of ours.
        match T::req_notify_cq(unsafe { IbObject::from_raw(cq) }, flags) {
            Ok(missed) => c_int::from(missed),
            Err(e) => e.to_errno(),
        }
    }

    /// # Safety
    ///
    /// Called by ib_core's callers only, for a live SRQ of ours, with a
    /// valid work request list and out pointer.
    unsafe extern "C" fn post_srq_recv(
        srq: *mut b::ib_srq,
        wr: *const b::ib_recv_wr,
        bad_wr: *mut *const b::ib_recv_wr,
    ) -> c_int {
        let mut bad = wr;
        // SAFETY: A live SRQ of ours.
        let posted = T::post_srq_recv(unsafe { IbObject::from_raw(srq) }, wr, &mut bad);
        // SAFETY: ib_core's out pointer, valid or NULL.
        unsafe { post_result(posted, bad, bad_wr) }
    }

    /// # Safety
    ///
    /// Called by ib_core only, for a live QP of ours and a valid GID.
    unsafe extern "C" fn attach_mcast(qp: *mut b::ib_qp, gid: *mut b::ib_gid, _lid: u16) -> c_int {
        from_result(|| {
            // SAFETY: Per the contract.
            T::attach_mcast(unsafe { IbObject::from_raw(qp) }, unsafe { &*gid })?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// As for `attach_mcast`.
    unsafe extern "C" fn detach_mcast(qp: *mut b::ib_qp, gid: *mut b::ib_gid, _lid: u16) -> c_int {
        from_result(|| {
            // SAFETY: Per the contract.
            T::detach_mcast(unsafe { IbObject::from_raw(qp) }, unsafe { &*gid })?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by ib_core's callers only, for a live QP of ours, with a
    /// valid work request list (or NULL) and out pointer.
    unsafe extern "C" fn post_send(
        qp: *mut b::ib_qp,
        wr: *const b::ib_send_wr,
        bad_wr: *mut *const b::ib_send_wr,
    ) -> c_int {
        let mut bad = wr;
        // SAFETY: A live QP of ours.
        let posted = T::post_send(unsafe { IbObject::from_raw(qp) }, wr, &mut bad);
        // SAFETY: ib_core's out pointer, valid or NULL.
        unsafe { post_result(posted, bad, bad_wr) }
    }

    /// # Safety
    ///
    /// Called by ib_core's callers only, for a live QP of ours, with a
    /// valid work request list and out pointer.
    unsafe extern "C" fn post_recv(
        qp: *mut b::ib_qp,
        wr: *const b::ib_recv_wr,
        bad_wr: *mut *const b::ib_recv_wr,
    ) -> c_int {
        let mut bad = wr;
        // SAFETY: A live QP of ours.
        let posted = T::post_recv(unsafe { IbObject::from_raw(qp) }, wr, &mut bad);
        // SAFETY: ib_core's out pointer, valid or NULL.
        unsafe { post_result(posted, bad, bad_wr) }
    }

    /// # Safety
    ///
    /// Called by ib_core only, once per device of driver type `T`, after
    /// every other op has returned and before it frees the memory.
    unsafe extern "C" fn dealloc_driver(ibdev: *mut b::ib_device) {
        // SAFETY: A device of ours whose data is still initialised.
        T::dealloc(unsafe { Self::dev(ibdev) });
        let this = ibdev.cast::<IbDevice<T>>();
        // SAFETY: `data` is initialised (type invariant) and, this being the
        // last call, never used again.
        unsafe { ptr::drop_in_place(&raw mut (*this).data) };
    }
}
