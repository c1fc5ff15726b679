// SPDX-License-Identifier: GPL-2.0

//! The rvt side of one device: what rvt keeps per `ib_device`, and the
//! device-level verbs (query device/port/P_Key, port immutables).
//!
//! Lifetime: a backend allocates a device (`rvt_alloc_device`), initialises
//! its private area and registers it (`rvt_register_device`); from then on
//! the device lives until ib_core calls `dealloc_driver` after it is
//! unregistered (by the backend, by `rdma link delete`, or by
//! `rvt_unregister_backend` at the backend's module exit, which waits for all
//! of them). See rvt/backend/mod.rs for the C API.

use kernel::{
    prelude::*,
    sync::atomic::{Atomic, Relaxed},
};

use crate::{
    backend::{netdev::NetdevRef, ops::BackendOps, registry},
    bindings as b,
    ib::{Created, IbDevice, IbDriver, IbMr, IbObject, ResAttrs, Slot, Udata},
    transport::{skb::OwnedSkb, work::Workqueue},
    verbs::{
        ah::{self, Ah, AhTable},
        counters::{Counter, PortCounters, DESCS},
        cq::{self, Cq},
        mcast::{self, McastTable},
        mr::{self, Mr, MrKeys},
        mw::{self, Mw},
        pd::{self, Pd},
        qp::{self, Qp, QpnTable},
        quota::Limit,
        srq::{self, Srq},
        ucontext::{self, Ucontext},
    },
};

/// Name of the one P_Key a port has: the default, full-membership key (IBA 10.9.1.2).
const DEFAULT_PKEY: u16 = 0xffff;
/// GID table entries per RoCE port (ib_core fills them from the netdev's addresses).
const ROCE_GID_TABLE_LEN: u32 = 1024;
/// IBA 14.2.5: the Subnet Management Agent and the GSI of QP1 use 256-byte MADs.
const IB_MGMT_MAD_SIZE: u32 = 256;
/// Largest message a QP will accept (2^31, the RETH DMA length limit).
const MAX_MSG_SIZE: u32 = 1 << 31;
/// ABI version of the rdma-core rxe provider's private commands
/// (rdma_user_rxe.h; the provider refuses any other).
const RXE_UVERBS_ABI_VERSION: u32 = 2;
/// Firmware version shown by `ibv_devinfo` (rvt has no firmware; a version of the driver).
const FW_VERSION: u64 = 1;

/// The rvt side of one device, behind its `ib_device`.
///
/// # Invariants
///
/// Lives in an `IbDevice<RvtDevice>` (the only place `new` initialises one).
#[pin_data]
pub(crate) struct RvtDevice {
    ops: BackendOps,
    /// A reference on the bound netdev (RoCE), or none: held, never read,
    /// so that the backend's private area may point at the netdev until its
    /// `release` (dropped after it, with the rest of the data).
    #[pin]
    _netdev: NetdevRef,
    num_ports: u32,
    /// The backend's private area is live: set when the device is handed to
    /// `rvt_register_device`, from which point `dealloc` calls `release`.
    backend_data_live: Atomic<bool>,
    /// The port's counters (`rdma statistic`).
    counters: PortCounters,
    pd_limit: Limit,
    cq_limit: Limit,
    mr_limit: Limit,
    mw_limit: Limit,
    /// The MRs, by key, for lock-free lookups from the data path.
    #[pin]
    mr_keys: MrKeys,
    qp_limit: Limit,
    /// The QPs, by QPN, for lock-free lookups from the data path.
    #[pin]
    qpns: QpnTable,
    /// The GSI QP (QPN 1) of the port, once ib_mad created it.
    #[pin]
    gsi: QpnTable,
    ah_limit: Limit,
    srq_limit: Limit,
    /// The user AHs, by `ah_num`, for lock-free lookups from the data path.
    #[pin]
    ahs: AhTable,
    /// Where the QPs' work items run (dropped, which drains it, after the
    /// last QP is gone).
    workqueue: Workqueue,
    /// The UD QPs attached to multicast groups.
    #[pin]
    mcast: McastTable,
}

/// The C handle (`struct rvt_device *`) of a device: its `IbDevice` address.
pub(crate) fn handle(dev: &IbDevice<RvtDevice>) -> *mut b::rvt_device {
    core::ptr::from_ref(dev).cast_mut().cast()
}

impl RvtDevice {
    /// The data of a device of backend `ops` with `num_ports` ports, bound
    /// to `netdev` (NULL: none).
    ///
    /// # Safety
    ///
    /// `netdev` is NULL or a live net_device.
    pub(crate) unsafe fn new(
        ops: BackendOps,
        netdev: *mut b::net_device,
        num_ports: u32,
    ) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            ops,
            // SAFETY: Per the contract.
            _netdev <- unsafe { NetdevRef::hold(netdev) },
            num_ports,
            backend_data_live: Atomic::new(false),
            counters: PortCounters::new(),
            pd_limit: Limit::new(pd::MAX_PD),
            cq_limit: Limit::new(cq::MAX_CQ),
            mr_limit: Limit::new(mr::MAX_MR),
            mw_limit: Limit::new(mw::MAX_MW),
            mr_keys <- MrKeys::new(),
            qp_limit: Limit::new(qp::MAX_QP),
            qpns <- qp::qpn_table(),
            gsi <- qp::gsi_table(),
            ah_limit: Limit::new(ah::MAX_AH),
            srq_limit: Limit::new(srq::MAX_SRQ),
            ahs <- AhTable::new(ah::MAX_AH),
            workqueue: Workqueue::new()?,
            mcast <- McastTable::new()?,
        }? Error)
    }

    /// The backend's table.
    pub(crate) fn ops(&self) -> &BackendOps {
        &self.ops
    }

    /// The backend's private area becomes the device's (`rvt_register_device`).
    pub(crate) fn set_backend_data_live(&self) {
        self.backend_data_live.store(true, Relaxed);
    }

    /// A packet from the wire, `len` bytes as the backend handed it, with
    /// what the backend's checks found; `packet` (the BTH on) only when
    /// they passed. Counted, and handed to the QP of its destination QPN.
    /// Softirq (any context with IRQs on): the QPN lookup is lock-free.
    pub(crate) fn receive(&self, skb: OwnedSkb, meta: &b::rvt_rx_meta) {
        let counters = &self.counters;
        counters.add(Counter::RxPackets, 1);
        counters.add(Counter::RxBytes, skb.len().into());
        match u32::from(meta.check) {
            b::rvt_rx_check_RVT_RX_OK => {}
            b::rvt_rx_check_RVT_RX_BAD_ICRC => return counters.add(Counter::RxIcrcErrors, 1),
            _ => return counters.add(Counter::RxMalformed, 1),
        }
        // SAFETY: Checked packets are linear (backend.h).
        let Ok(pkt) = crate::proto::packet::parse(unsafe { skb.linear_data() }) else {
            return counters.add(Counter::RxMalformed, 1);
        };
        let qpn = pkt.bth().dest_qp;
        if qpn == crate::proto::engine::MULTICAST_QPN {
            return self.receive_multicast(skb, meta);
        }
        let table = if qpn == crate::proto::engine::GSI_QPN {
            &self.gsi
        } else {
            &self.qpns
        };
        let rcu = kernel::sync::rcu::read_lock();
        match table.get(qpn, &rcu) {
            None => counters.add(Counter::RxNoQp, 1),
            // The QP stays alive during the RCU read-side critical section
            // (destroy takes it out of the table and waits for one).
            Some(qp) => qp.data().receive(skb, meta),
        }
    }

    /// A datagram to a multicast group (IBA 10.5): a copy for each QP
    /// attached to the group of its destination GID.
    fn receive_multicast(&self, skb: OwnedSkb, meta: &b::rvt_rx_meta) {
        if meta.grh_present == 0 {
            return self.counters.add(Counter::RxNoQp, 1);
        }
        let mgid = mcast::destination_gid(&meta.grh);
        let mut members = [core::ptr::null(); mcast::MAX_MCAST_QP_ATTACH];
        // Inside the RCU read-side critical section: a QP found attached
        // stays alive until it ends (verbs/mcast.rs).
        let _rcu = kernel::sync::rcu::read_lock();
        let count = self.mcast.members(&mgid, &mut members);
        let Some((last, others)) = members[..count].split_last() else {
            return self.counters.add(Counter::RxNoQp, 1);
        };
        for &qp in others {
            let Some(copy) = skb.try_clone() else {
                self.counters.add(Counter::RxDropped, 1);
                continue;
            };
            // SAFETY: An attached QP, alive (see above).
            unsafe { &*qp }.data().receive(copy, meta);
        }
        // SAFETY: As above.
        unsafe { &**last }.data().receive(skb, meta);
    }

    /// The MRs by key.
    pub(crate) fn mr_keys(&self) -> &MrKeys {
        &self.mr_keys
    }

    /// The user AHs by `ah_num`.
    pub(crate) fn ahs(&self) -> &AhTable {
        &self.ahs
    }

    /// The workqueue of the device's QPs.
    pub(crate) fn workqueue(&self) -> &Workqueue {
        &self.workqueue
    }

    /// The port's counters.
    pub(crate) fn counters(&self) -> &PortCounters {
        &self.counters
    }

    pub(crate) fn check_port(&self, port: u32) -> Result {
        if port == 0 || port > self.num_ports {
            return Err(EINVAL);
        }
        Ok(())
    }
}

#[vtable]
impl IbDriver for RvtDevice {
    // The stock rdma-core rxe provider drives rvt devices (rdma_user_rxe.h ABI).
    const DRIVER_ID: u32 = b::rdma_driver_id_RDMA_DRIVER_RXE;
    const UVERBS_ABI_VER: u32 = RXE_UVERBS_ABI_VERSION;

    fn query_device(dev: &IbDevice<Self>, attr: &mut b::ib_device_attr) -> Result {
        // SAFETY: A callback of a device whose private area is live.
        let guid = unsafe { dev.data().ops.node_guid(handle(dev)) };
        let this = dev.data();
        // Only what exists is advertised, and the limits are enforced.
        attr.fw_ver = FW_VERSION;
        attr.sys_image_guid = guid;
        attr.max_mr_size = u64::MAX;
        attr.page_size_cap = 0xffff_f000;
        attr.vendor_id = 0x00_ffffff;
        // IBK_LOCAL_DMA_LKEY: kernel consumers address kernel memory through
        // the device's local_dma_lkey (0) in any PD, as for a software device
        // whose DMA addresses are kernel virtual addresses; user space can
        // never name it (user MRs get non-zero keys).
        attr.kernel_cap_flags = u64::from(
            b::ib_kernel_cap_flags_IBK_ALLOW_USER_UNREG | b::ib_kernel_cap_flags_IBK_LOCAL_DMA_LKEY,
        );
        attr.max_pkeys = 1;
        attr.max_pd = this.pd_limit.max();
        attr.max_cq = this.cq_limit.max();
        attr.max_cqe = cq::MAX_CQE;
        attr.max_mr = this.mr_limit.max();
        attr.max_mw = this.mw_limit.max();
        attr.max_qp = this.qp_limit.max();
        attr.max_ah = this.ah_limit.max();
        attr.max_srq = this.srq_limit.max();
        attr.max_srq_wr = srq::MAX_SRQ_WR;
        attr.max_srq_sge = srq::MAX_SRQ_SGE;
        attr.max_qp_wr = qp::MAX_QP_WR;
        attr.max_send_sge = qp::MAX_SGE;
        attr.max_recv_sge = qp::MAX_SGE;
        attr.max_mcast_grp = mcast::MAX_MCAST_GRP;
        attr.max_mcast_qp_attach = mcast::MAX_MCAST_QP_ATTACH as u32;
        attr.max_total_mcast_qp_attach = mcast::MAX_TOTAL_MCAST_QP_ATTACH as u32;
        // IBA 10.6.3.6, 11.4.1.1: fast registration, local and remote
        // invalidation (the base memory management extensions).
        attr.device_cap_flags |= b::ib_device_cap_flags_IB_DEVICE_MEM_MGT_EXTENSIONS as u64;
        // IBA 10.6.7: memory windows of type 1 and 2B.
        attr.device_cap_flags |= (b::ib_device_cap_flags_IB_DEVICE_MEM_WINDOW
            | b::ib_device_cap_flags_IB_DEVICE_MEM_WINDOW_TYPE_2B)
            as u64;
        attr.max_fast_reg_page_list_len = mr::MAX_FAST_REG_PAGES;
        attr.max_qp_rd_atom = qp::MAX_RD_ATOMIC.into();
        attr.max_qp_init_rd_atom = qp::MAX_RD_ATOMIC.into();
        // Every QP may hold its whole max_qp_rd_atom of responder resources
        // at once: they are per QP, with no device-wide pool to run out of.
        attr.max_res_rd_atom = this.qp_limit.max() * u32::from(qp::MAX_RD_ATOMIC);
        // An RDMA READ scatters its response over the same SGE list as any
        // send WQE (rdma_rw sizes its READs by this, and divides by it).
        attr.max_sge_rd = qp::MAX_SGE;
        // The responder executes atomics with the CPU's own 64-bit atomic
        // instructions (helpers.c): atomic against every device's and every
        // CPU's atomic accesses to that memory (IB_ATOMIC_GLOB).
        attr.atomic_cap = b::ib_atomic_cap_IB_ATOMIC_GLOB;
        Ok(())
    }

    fn query_port(dev: &IbDevice<Self>, port: u32, attr: &mut b::ib_port_attr) -> Result {
        let this = dev.data();
        this.check_port(port)?;
        // SAFETY: A callback of a device whose private area is live.
        let link = unsafe { this.ops.query_link(handle(dev), port) }?;
        attr.state = link.state;
        attr.phys_state = link.phys_state;
        attr.active_mtu = link.active_mtu;
        attr.max_mtu = link.max_mtu;
        attr.active_width = link.active_width;
        attr.active_speed = link.active_speed;
        attr.max_msg_sz = MAX_MSG_SIZE;
        attr.pkey_tbl_len = 1;
        attr.max_vl_num = 1;
        if this.ops.is_roce() {
            attr.gid_tbl_len = ROCE_GID_TABLE_LEN as i32;
            attr.port_cap_flags = b::ib_port_capability_mask_bits_IB_PORT_CM_SUP;
        } else {
            attr.gid_tbl_len = 1;
            attr.lid = link.lid;
            attr.sm_lid = link.sm_lid;
            attr.lmc = link.lmc;
            attr.sm_sl = link.sm_sl;
            attr.port_cap_flags = b::ib_port_capability_mask_bits_IB_PORT_CM_SUP
                | b::ib_port_capability_mask_bits_IB_PORT_SYS_IMAGE_GUID_SUP;
        }
        Ok(())
    }

    fn get_port_immutable(
        dev: &IbDevice<Self>,
        port: u32,
        immutable: &mut b::ib_port_immutable,
    ) -> Result {
        let this = dev.data();
        this.check_port(port)?;
        immutable.pkey_tbl_len = 1;
        immutable.max_mad_size = IB_MGMT_MAD_SIZE;
        if this.ops.is_roce() {
            immutable.gid_tbl_len = ROCE_GID_TABLE_LEN as i32;
            immutable.core_cap_flags = b::RDMA_CORE_PORT_IBA_ROCE_UDP_ENCAP;
        } else {
            immutable.gid_tbl_len = 1;
            immutable.core_cap_flags = b::RDMA_CORE_PORT_IBA_IB;
        }
        Ok(())
    }

    fn get_link_layer(dev: &IbDevice<Self>, _port: u32) -> u8 {
        dev.data().ops.get().link_layer
    }

    fn query_pkey(dev: &IbDevice<Self>, port: u32, index: u16) -> Result<u16> {
        dev.data().check_port(port)?;
        if index != 0 {
            return Err(EINVAL);
        }
        Ok(DEFAULT_PKEY)
    }

    type Ucontext = Ucontext;
    type Pd = Pd;
    type Cq = Cq;
    type Mr = Mr;
    type Qp = Qp;
    type Ah = Ah;
    type Srq = Srq;
    type Mw = Mw;

    fn create_srq<'a>(
        dev: &IbDevice<Self>,
        slot: Slot<'a, b::ib_srq, Srq>,
        init: &mut b::ib_srq_init_attr,
        udata: Option<&mut Udata<'_>>,
    ) -> Result<Created<'a, b::ib_srq, Srq>> {
        srq::create(&dev.data().srq_limit, slot, init, udata)
    }

    fn modify_srq(
        srq: &IbObject<b::ib_srq, Srq>,
        attr: &b::ib_srq_attr,
        mask: u32,
        udata: Option<&mut Udata<'_>>,
    ) -> Result {
        srq.data().modify(attr, mask, udata)
    }

    fn post_srq_recv(
        srq: &IbObject<b::ib_srq, Srq>,
        wr: *const b::ib_recv_wr,
        bad_wr: &mut *const b::ib_recv_wr,
    ) -> Result {
        srq.data().post_kernel(wr, bad_wr)
    }

    fn query_srq(srq: &IbObject<b::ib_srq, Srq>, attr: &mut b::ib_srq_attr) -> Result {
        srq.data().query(attr);
        Ok(())
    }

    fn create_ah<'a>(
        dev: &IbDevice<Self>,
        slot: Slot<'a, b::ib_ah, Ah>,
        init: &b::rdma_ah_init_attr,
        udata: Option<&mut Udata<'_>>,
    ) -> Result<Created<'a, b::ib_ah, Ah>> {
        let this = dev.data();
        let sleepable = init.flags & b::rdma_create_ah_flags_RDMA_CREATE_AH_SLEEPABLE != 0;
        // SAFETY: A callback of a device whose private area is live.
        let resolve = |attr: &b::rdma_ah_attr| unsafe {
            this.ops.resolve_path(handle(dev), 1, attr, sleepable)
        };
        ah::create(&this.ah_limit, &this.ahs, resolve, slot, init, udata)
    }

    fn query_ah(ah: &IbObject<b::ib_ah, Ah>, attr: &mut b::rdma_ah_attr) -> Result {
        ah.data().query(attr);
        Ok(())
    }

    fn alloc_ucontext<'a>(
        _dev: &IbDevice<Self>,
        slot: Slot<'a, b::ib_ucontext, Ucontext>,
        udata: &mut Udata<'_>,
    ) -> Result<Created<'a, b::ib_ucontext, Ucontext>> {
        ucontext::alloc(slot, udata)
    }

    fn alloc_pd<'a>(
        dev: &IbDevice<Self>,
        slot: Slot<'a, b::ib_pd, Pd>,
        udata: Option<&mut Udata<'_>>,
    ) -> Result<Created<'a, b::ib_pd, Pd>> {
        pd::alloc(&dev.data().pd_limit, slot, udata)
    }

    fn dealloc_pd(_pd: &IbObject<b::ib_pd, Pd>) -> Result {
        Ok(())
    }

    fn create_qp<'a>(
        dev: &IbDevice<Self>,
        slot: Slot<'a, b::ib_qp, Qp>,
        init: &mut b::ib_qp_init_attr,
        udata: Option<&mut Udata<'_>>,
    ) -> Result<Created<'a, b::ib_qp, Qp>> {
        let this = dev.data();
        qp::create(&this.qp_limit, &this.qpns, &this.gsi, slot, init, udata)
    }

    fn modify_qp(
        qp: &IbObject<b::ib_qp, Qp>,
        attr: &b::ib_qp_attr,
        mask: u32,
        udata: Option<&mut Udata<'_>>,
    ) -> Result {
        if let Some(udata) = udata {
            udata.require_empty_input()?;
        }
        // SAFETY: The QP's device is one of ours, alive for the call.
        let dev = unsafe { IbDevice::<Self>::from_raw(qp.device()) };
        qp.data().modify(dev, attr, mask)
    }

    fn query_qp(
        qp: &IbObject<b::ib_qp, Qp>,
        attr: &mut b::ib_qp_attr,
        init: &mut b::ib_qp_init_attr,
    ) -> Result {
        qp.data().query(attr, init);
        Ok(())
    }

    fn alloc_mw<'a>(
        dev: &IbDevice<Self>,
        slot: Slot<'a, b::ib_mw, Mw>,
        udata: &mut Udata<'_>,
    ) -> Result<Created<'a, b::ib_mw, Mw>> {
        let this = dev.data();
        mw::alloc(&this.mr_keys, &this.mw_limit, slot, udata)
    }

    fn dealloc_mw(_mw: &IbObject<b::ib_mw, Mw>) -> Result {
        Ok(())
    }

    fn fill_res_qp(qp: &IbObject<b::ib_qp, Qp>, attrs: &mut ResAttrs) -> Result {
        let d = qp.data().details();
        attrs.u32(c"sq_wqes", d.send_wqes)?;
        attrs.u32(c"staged_sends", d.staged_sends)?;
        attrs.u32(c"rd_atomic_in_flight", d.rd_atomic_in_flight)?;
        attrs.u32(c"responses_owed", d.responses_owed)?;
        attrs.u32(c"deferred_packets", d.deferred_packets)?;
        attrs.u32(c"held_completions", d.held_completions)
    }

    fn fill_res_cq(cq: &IbObject<b::ib_cq, Cq>, attrs: &mut ResAttrs) -> Result {
        attrs.u32(c"queued", cq.data().queued())
    }

    fn fill_res_mr(mr: &IbMr<Mr>, attrs: &mut ResAttrs) -> Result {
        let d = mr.data().details();
        attrs.string(c"kind", d.kind)?;
        if let Some((valid, pages)) = d.fast {
            attrs.u32(c"valid", u32::from(valid))?;
            attrs.u32(c"pages", pages)?;
        }
        Ok(())
    }

    fn attach_mcast(qp: &IbObject<b::ib_qp, Qp>, gid: &b::ib_gid) -> Result {
        // SAFETY: The QP's device is one of ours, alive for the call.
        let dev = unsafe { IbDevice::<Self>::from_raw(qp.device()) };
        let this = dev.data();
        // SAFETY: Plain bytes either way.
        let mgid = unsafe { gid.raw };
        if this.mcast.attach(mgid, core::ptr::from_ref(qp))? {
            // SAFETY: A device whose private area is live; may sleep.
            if let Err(e) = unsafe { this.ops.mcast_add(handle(dev), 1, gid) } {
                let _ = this.mcast.detach(mgid, core::ptr::from_ref(qp));
                return Err(e);
            }
        }
        Ok(())
    }

    fn detach_mcast(qp: &IbObject<b::ib_qp, Qp>, gid: &b::ib_gid) -> Result {
        // SAFETY: The QP's device is one of ours, alive for the call.
        let dev = unsafe { IbDevice::<Self>::from_raw(qp.device()) };
        let this = dev.data();
        // SAFETY: Plain bytes either way.
        let mgid = unsafe { gid.raw };
        if this.mcast.detach(mgid, core::ptr::from_ref(qp))? {
            // SAFETY: As for attach. Leaving fails only if never joined.
            let _ = unsafe { this.ops.mcast_del(handle(dev), 1, gid) };
        }
        Ok(())
    }

    fn destroy_qp(_qp: &IbObject<b::ib_qp, Qp>) -> Result {
        // The QP's data is dropped next, which shuts its transport down.
        Ok(())
    }

    fn post_send(
        qp: &IbObject<b::ib_qp, Qp>,
        wr: *const b::ib_send_wr,
        bad_wr: &mut *const b::ib_send_wr,
    ) -> Result {
        qp.data().post_send(wr, bad_wr)
    }

    fn post_recv(
        qp: &IbObject<b::ib_qp, Qp>,
        wr: *const b::ib_recv_wr,
        bad_wr: &mut *const b::ib_recv_wr,
    ) -> Result {
        qp.data().post_recv(wr, bad_wr)
    }

    fn reg_user_mr(
        pd: &IbObject<b::ib_pd, Pd>,
        start: u64,
        length: u64,
        iova: u64,
        access: u32,
        udata: &mut Udata<'_>,
    ) -> Result<Pin<KBox<IbMr<Mr>>>> {
        // SAFETY: The PD's device is one of ours, alive for the call.
        let dev = unsafe { IbDevice::<Self>::from_raw(pd.device()) }.data();
        mr::reg_user(
            &dev.mr_keys,
            &dev.mr_limit,
            pd,
            start,
            length,
            iova,
            access,
            udata,
        )
    }

    fn get_dma_mr(pd: &IbObject<b::ib_pd, Pd>, access: u32) -> Result<Pin<KBox<IbMr<Mr>>>> {
        // SAFETY: The PD's device is one of ours, alive for the call.
        let dev = unsafe { IbDevice::<Self>::from_raw(pd.device()) }.data();
        mr::get_dma(&dev.mr_keys, &dev.mr_limit, pd, access)
    }

    fn alloc_mr(
        pd: &IbObject<b::ib_pd, Pd>,
        mr_type: u32,
        max_num_sg: u32,
    ) -> Result<Pin<KBox<IbMr<Mr>>>> {
        // SAFETY: The PD's device is one of ours, alive for the call.
        let dev = unsafe { IbDevice::<Self>::from_raw(pd.device()) }.data();
        mr::alloc_fast(&dev.mr_keys, &dev.mr_limit, pd, mr_type, max_num_sg)
    }

    fn begin_map_mr(mr: &IbMr<Mr>) -> Result {
        mr::begin_map(mr.data())
    }

    fn map_mr_page(mr: &IbMr<Mr>, addr: u64) -> Result {
        mr::map_page(mr.data(), addr)
    }

    fn dereg_mr(dev: &IbDevice<Self>, mr: Pin<KBox<IbMr<Mr>>>) {
        mr::dereg(&dev.data().mr_keys, mr);
    }

    fn create_cq<'a>(
        dev: &IbDevice<Self>,
        slot: Slot<'a, b::ib_cq, Cq>,
        attr: &b::ib_cq_init_attr,
        udata: Option<&mut Udata<'_>>,
    ) -> Result<Created<'a, b::ib_cq, Cq>> {
        cq::create(&dev.data().cq_limit, slot, attr, udata)
    }

    fn destroy_cq(_cq: &IbObject<b::ib_cq, Cq>) -> Result {
        Ok(())
    }

    fn resize_user_cq(cq: &IbObject<b::ib_cq, Cq>, cqe: u32, udata: &mut Udata<'_>) -> Result<u32> {
        cq::resize_user(cq, cqe, udata)
    }

    fn poll_cq(cq: &IbObject<b::ib_cq, Cq>, wc: &mut [b::ib_wc]) -> usize {
        cq.data().poll(wc)
    }

    fn req_notify_cq(cq: &IbObject<b::ib_cq, Cq>, flags: u32) -> Result<bool> {
        cq.data().req_notify(flags)
    }

    fn port_counter_descs() -> &'static [b::rdma_stat_desc] {
        DESCS.as_slice()
    }

    fn read_port_counters(dev: &IbDevice<Self>, port: u32, values: &mut [u64]) -> Result {
        let this = dev.data();
        this.check_port(port)?;
        this.counters.read(values);
        Ok(())
    }

    fn dealloc(dev: &IbDevice<Self>) {
        let this = dev.data();
        if this.backend_data_live.load(Relaxed) {
            // SAFETY: The private area is live, and this is rvt's last
            // call into the backend for the device (see `IbDriver::dealloc`).
            unsafe { this.ops.release(handle(dev)) };
        }
        // Last: once out of the registry, the backend module may go.
        registry::remove(dev);
    }
}
