// SPDX-License-Identifier: GPL-2.0

//! Memory windows (IBA 10.6.7): remote access to part of an MR under an
//! R_Key of its own. Type 1 windows are bound with `ibv_bind_mw` (the rxe
//! provider posts that as a BIND_MW work request) and rebound or unbound
//! (zero length) at will; type 2B windows are bound by BIND_MW work
//! requests to the QP that posts them, used only through that QP, and
//! invalidated by Local Invalidate or a SEND with Invalidate arriving on it.
//!
//! A window's R_Key is an index in the device's MW table (from
//! [`MW_INDEX_BASE`], above every MR index, so one key space names both)
//! and an 8-bit key each bind changes. A binding names its MR by key, not
//! by pointer: every access looks the MR up again (under the same RCU
//! read-side critical section), so an MR deregistered or re-registered
//! under a window simply stops being reachable through it. The binding sits
//! behind an IRQ-safe lock that every access through the window holds, so
//! once an invalidation or rebind has taken it, no access uses the old one.

use kernel::{new_spinlock_irq, prelude::*, sync::SpinLockIrq};

use super::{
    mr::{Bounds, MrFault, MrKeys},
    quota::{Limit, Quota},
    table::Table,
};
use crate::{
    bindings as b,
    ib::{Created, IbObject, Slot, Udata},
};

/// Memory windows per device (`max_mw`).
pub(crate) const MAX_MW: u32 = 1 << 16;

/// The first key index of a memory window: MR indices are all below it.
pub(crate) const MW_INDEX_BASE: u32 = 1 << 20;

/// The rights a window may grant (IBA 10.6.7.2.1); zero-based windows are
/// not implemented.
const WINDOW_ACCESS: u32 = b::ib_access_flags_IB_ACCESS_REMOTE_READ
    | b::ib_access_flags_IB_ACCESS_REMOTE_WRITE
    | b::ib_access_flags_IB_ACCESS_REMOTE_ATOMIC;

/// The MWs of a device, by key index.
pub(crate) type MwTable = Table<IbObject<b::ib_mw, Mw>>;

/// What a window is bound to.
#[derive(Clone, Copy)]
struct Binding {
    /// The MR's key at bind time (looked up again at every access).
    mr_key: u32,
    /// Type 2B: the QP it is bound to.
    qpn: u32,
    window: Bounds,
}

/// A window's key and binding.
struct MwState {
    key: u32,
    bound: Option<Binding>,
}

/// What rvt keeps per MW.
///
/// # Invariants
///
/// `table` is the device's MW table, which outlives the MW; the MW is in
/// it at `index` from its creation until it is dropped.
#[pin_data(PinnedDrop)]
pub(crate) struct Mw {
    _quota: Quota,
    /// Compared, never dereferenced.
    pd: *mut b::ib_pd,
    type2: bool,
    table: *const MwTable,
    index: u32,
    #[pin]
    state: SpinLockIrq<MwState>,
}

// SAFETY: `pd` is only compared; `table` points into the device, which
// outlives its MWs, and is `Sync`; the state is behind its lock.
unsafe impl Send for Mw {}
// SAFETY: As above.
unsafe impl Sync for Mw {}

#[pinned_drop]
impl PinnedDrop for Mw {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: The device's table outlives its MWs (type invariant);
        // dealloc_mw runs in process context, where `remove` may wait.
        unsafe { &*self.table }.remove(self.index);
    }
}

/// A bind as its work request (`IBV_WR_BIND_MW`) asked for it.
#[derive(Clone, Copy)]
pub(crate) struct MwBind {
    /// The window's current R_Key.
    pub(crate) mw_key: u32,
    /// The R_Key it gets (the same index, another 8-bit key).
    pub(crate) new_key: u32,
    /// The L_Key of the MR it opens.
    pub(crate) mr_key: u32,
    pub(crate) addr: u64,
    pub(crate) length: u64,
    pub(crate) access: u32,
}

/// `alloc_mw` (user space only: ib_core has no kernel MW API): a type 1
/// window starts bound to nothing, a type 2 window free.
pub(crate) fn alloc<'a>(
    keys: &MrKeys,
    limit: &Limit,
    slot: Slot<'a, b::ib_mw, Mw>,
    udata: &mut Udata<'_>,
) -> Result<Created<'a, b::ib_mw, Mw>> {
    udata.require_empty_input()?;
    let raw = slot.as_raw();
    // SAFETY: ib_core set the type and PD before the call.
    let (mw_type, pd) = unsafe { ((*raw).type_, (*raw).pd) };
    let type2 = match mw_type {
        b::ib_mw_type_IB_MW_TYPE_1 => false,
        b::ib_mw_type_IB_MW_TYPE_2 => true,
        _ => return Err(EINVAL),
    };
    let quota = limit.take()?;
    let table = keys.windows();
    let reservation = table.reserve()?;
    let index = reservation.index();
    let key = keys.new_key(index);
    // INVARIANT: published in the table below, removed when dropped.
    let created = slot.init(pin_init!(Mw {
        _quota: quota,
        pd,
        type2,
        table: core::ptr::from_ref(table),
        index,
        state <- new_spinlock_irq!(MwState { key, bound: None }),
    }))?;
    // SAFETY: The MW's data stays alive and in place until it is dropped,
    // which removes it from the table first; it is complete.
    unsafe { reservation.publish(created.object()) };
    // SAFETY: Ours until we return: ib_uverbs reads the key afterwards.
    unsafe { (*raw).rkey = key };
    Ok(created)
}

impl Mw {
    /// Runs `op` on the MR behind the window `key` names, if the access
    /// (`len` bytes at `va` with `access`) lies in the window and the QP
    /// `qpn` of `pd` may use it; the binding is held meanwhile. `op` gets
    /// the MR's key: the window granted the rights, the MR only bounds the
    /// range.
    pub(crate) fn access<R>(
        &self,
        key: u32,
        pd: *mut b::ib_pd,
        qpn: u32,
        window_check: impl FnOnce(&Bounds) -> Result<(), MrFault>,
        op: impl FnOnce(u32) -> Result<R, MrFault>,
    ) -> Result<R, MrFault> {
        if self.pd != pd {
            return Err(MrFault);
        }
        let st = self.state.lock();
        let bound = st.bound.filter(|_| st.key == key).ok_or(MrFault)?;
        if self.type2 && bound.qpn != qpn {
            return Err(MrFault);
        }
        window_check(&bound.window)?;
        op(bound.mr_key)
    }
}

impl MrKeys {
    /// Executes a bind (IBA 10.6.7.2) posted on QP `qpn` of `pd`: the MW
    /// and the MR in `pd`, the key naming the MW as it is now and keeping
    /// its index, a type 2 MW free, rights a window may grant (remote write
    /// or atomic only over an MR with local write), an MR that allows
    /// binding and holds the whole window. A zero length unbinds a type 1
    /// window and is refused for type 2. Local rights are ignored. Anything
    /// else is refused, the MW left as it was.
    pub(crate) fn bind_mw(
        &self,
        pd: *mut b::ib_pd,
        qpn: u32,
        bind: &MwBind,
        rcu: &kernel::sync::rcu::Guard,
    ) -> Result<(), MrFault> {
        let index = bind.mw_key >> 8;
        let mw = self.windows().get(index, rcu).ok_or(MrFault)?.data();
        // Local rights mean nothing for a window (rdma_rxe ignores them
        // too); anything else beyond remote access is refused.
        let access = bind.access
            & !(b::ib_access_flags_IB_ACCESS_LOCAL_WRITE | b::ib_access_flags_IB_ACCESS_MW_BIND);
        if mw.pd != pd || bind.new_key >> 8 != index || access & !WINDOW_ACCESS != 0 {
            return Err(MrFault);
        }
        let window = Bounds::new(bind.addr, bind.length, access);
        let bound = if bind.length == 0 {
            // Unbinds a type 1 window; a type 2 window is bound to
            // something (IBA 10.6.7.2.2, rdma_rxe alike).
            if mw.type2 {
                return Err(MrFault);
            }
            None
        } else {
            let mr = self.lookup(bind.mr_key, rcu).ok_or(MrFault)?;
            let mut needs = b::ib_access_flags_IB_ACCESS_MW_BIND;
            if access
                & (b::ib_access_flags_IB_ACCESS_REMOTE_WRITE
                    | b::ib_access_flags_IB_ACCESS_REMOTE_ATOMIC)
                != 0
            {
                needs |= b::ib_access_flags_IB_ACCESS_LOCAL_WRITE;
            }
            mr.check_range(pd, bind.addr, bind.length, needs)?;
            Some(Binding {
                mr_key: bind.mr_key,
                qpn,
                window,
            })
        };
        let mut st = mw.state.lock();
        if st.key != bind.mw_key || (mw.type2 && st.bound.is_some()) {
            return Err(MrFault);
        }
        st.key = bind.new_key;
        st.bound = bound;
        Ok(())
    }

    /// Invalidates the type 2B window `key` names for its QP `qpn` of `pd`
    /// (IBA 10.6.7.2.5: Local Invalidate, or a SEND with Invalidate
    /// arriving on that QP); type 1 windows cannot be invalidated.
    pub(crate) fn invalidate_mw(
        &self,
        pd: *mut b::ib_pd,
        qpn: u32,
        key: u32,
        rcu: &kernel::sync::rcu::Guard,
    ) -> Result<(), MrFault> {
        let mw = self.windows().get(key >> 8, rcu).ok_or(MrFault)?.data();
        if mw.pd != pd || !mw.type2 {
            return Err(MrFault);
        }
        let mut st = mw.state.lock();
        match st.bound {
            Some(bound) if st.key == key && bound.qpn == qpn => {
                st.bound = None;
                Ok(())
            }
            _ => Err(MrFault),
        }
    }
}
