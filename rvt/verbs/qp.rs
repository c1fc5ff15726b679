// SPDX-License-Identifier: GPL-2.0

//! Queue pairs (IBA 10.2.4, 11.2.5): creation with the rxe ring ABI, the
//! modify_qp state machine and its attribute rules, query, destroy.
//!
//! Only user QPs of the RC, UC and UD services exist so far, with their
//! own receive queue or an SRQ: a kernel
//! consumer posts through `ib_post_send`/`ib_post_recv`, which ib_core calls
//! without checking for the ops, so kernel QPs (and the GSI QP that ib_mad
//! creates for every port) are refused with `EOPNOTSUPP` until the
//! transport takes kernel work requests. A user QP posts to its mmap'd
//! rings; its send doorbell (`POST_SEND`) and received packets drive its
//! transport (rvt/transport/qp.rs), which owns its engine state.

use core::mem::size_of;

use kernel::{prelude::*, transmute::AsBytes};

use super::{
    quota::{Limit, Quota},
    table::Table,
};
use crate::{
    bindings as b,
    device::{self, RvtDevice},
    ib::{Created, IbDevice, IbObject, Slot, Udata},
    proto::engine::{Mtu, QpType},
    transport::qp::{QpDetails, QpSetup, QpTransport},
    uapi::queue::UserQueue,
};

/// Queue pairs per device.
pub(crate) const MAX_QP: u32 = 1 << 14;
/// Work requests per send or receive queue (`max_qp_wr`).
pub(crate) const MAX_QP_WR: u32 = 1 << 14;
/// Scatter/gather entries per work request (`max_send_sge`, `max_recv_sge`).
pub(crate) const MAX_SGE: u32 = 32;
/// Bytes of inline data per send work request.
pub(crate) const MAX_INLINE_DATA: u32 = 512;
/// RDMA READ and atomic requests in flight per QP, in each direction
/// (`max_qp_rd_atom`, `max_qp_init_rd_atom`): rdma_rxe's 128. perftest
/// gives a QP the peer's initiator depth as its responder resources, so a
/// smaller limit fails modify_qp against rdma_rxe. Responder resources
/// cost 40 bytes each per RC QP.
pub(crate) const MAX_RD_ATOMIC: u8 = 128;
/// QPNs 0 and 1 are the special QPs (IBA 10.2.4); general QPs get 2 and up,
/// 24 bits, short of 0xFFFFFF, the multicast QPN (IBA 9.8.1).
const FIRST_QPN: u32 = 2;
const MULTICAST_QPN: u32 = (1 << 24) - 1;
const LAST_QPN: u32 = MULTICAST_QPN - 1;
/// The largest value a 24-bit PSN or destination QPN field holds.
const MAX_24_BITS: u32 = (1 << 24) - 1;

/// rdma_user_rxe.h sizes: `struct rxe_send_wqe` up to its SGE array,
/// `struct rxe_recv_wqe` likewise, and one `struct rxe_sge`.
const RXE_SEND_WQE_HEADER: usize = 208;
const RXE_RECV_WQE_HEADER: usize = 40;
const RXE_SGE: usize = 16;

/// What rvt keeps per QP.
#[pin_data(PinnedDrop)]
pub(crate) struct Qp {
    _quota: Quota,
    service: QpType,
    /// The port's GSI QP (QP1).
    is_gsi: bool,
    /// The QPN table this QP is in (the device's, which outlives it).
    qpns: *const QpnTable,
    /// Its QPN, in the table from right after creation until the drop.
    qpn: u32,
    /// The capabilities granted (rounded up from what was asked).
    cap: b::ib_qp_cap,
    /// Whether every send WQE completes (`IB_SIGNAL_ALL_WR`) or only those
    /// asking to (`IB_SIGNAL_REQ_WR`).
    sq_sig_type: u32,
    /// The engine and what drives it, including the rings.
    #[pin]
    transport: QpTransport,
}

// SAFETY: `qpns` points into the device, which outlives its QPs and whose
// table is `Sync`; everything else is `Send`.
unsafe impl Send for Qp {}
// SAFETY: As above; the transport state is behind its lock.
unsafe impl Sync for Qp {}

/// The QPs of a device, by QPN, for lock-free lookups from the data path.
pub(crate) type QpnTable = Table<IbObject<b::ib_qp, Qp>>;

/// The rxe provider's create_qp response: where the rings are mapped.
#[repr(transparent)]
struct CreateQpResp(b::rxe_create_qp_resp);

// SAFETY: Two `struct mminfo`s (u64, u32, u32): no padding (rdma_user_rxe.h).
unsafe impl AsBytes for CreateQpResp {}

fn service(qp_type: u32) -> Result<QpType> {
    match qp_type {
        b::ib_qp_type_IB_QPT_RC => Ok(QpType::Rc),
        b::ib_qp_type_IB_QPT_UC => Ok(QpType::Uc),
        // The GSI QP is a UD QP with QPN 1 and the GSI Q_Key (IBA 13.4).
        b::ib_qp_type_IB_QPT_UD | b::ib_qp_type_IB_QPT_GSI => Ok(QpType::Ud),
        // XRC, raw packet and driver QPs are not offered.
        _ => Err(EOPNOTSUPP),
    }
}

/// Checks the requested capabilities (IBA 11.2.5.1) and returns what is
/// granted: rounded up as the rxe rings round them, so the provider's own
/// limits match the rings it maps.
fn grant(cap: &b::ib_qp_cap) -> Result<b::ib_qp_cap> {
    if cap.max_send_wr > MAX_QP_WR
        || cap.max_recv_wr > MAX_QP_WR
        || cap.max_send_sge > MAX_SGE
        || cap.max_recv_sge > MAX_SGE
        || cap.max_inline_data > MAX_INLINE_DATA
    {
        return Err(EINVAL);
    }
    // A send WQE carries its SGEs or its inline data in the same bytes.
    let payload = (cap.max_send_sge as usize * RXE_SGE).max(cap.max_inline_data as usize);
    Ok(b::ib_qp_cap {
        max_send_sge: (payload / RXE_SGE) as u32,
        max_inline_data: payload as u32,
        ..*cap
    })
}

/// `create_qp`: user RC, UC and UD QPs with their rxe rings.
/// `create_qp`: RC, UC and UD QPs, for user space with their rxe rings or
/// for kernel consumers, and the GSI QP (QP1) that ib_mad creates for the
/// port, which takes QPN 1 in `gsi`.
pub(crate) fn create<'a>(
    limit: &Limit,
    qpns: &QpnTable,
    gsi: &QpnTable,
    slot: Slot<'a, b::ib_qp, Qp>,
    init: &mut b::ib_qp_init_attr,
    mut udata: Option<&mut Udata<'_>>,
) -> Result<Created<'a, b::ib_qp, Qp>> {
    let service = service(init.qp_type)?;
    let is_gsi = init.qp_type == b::ib_qp_type_IB_QPT_GSI;
    if init.create_flags != 0 {
        return Err(EOPNOTSUPP);
    }
    // The GSI QP is ib_mad's, one per port (IBA 13.4).
    if is_gsi && (udata.is_some() || init.port_num != 1) {
        return Err(EINVAL);
    }
    let uses_srq = !init.srq.is_null();
    if uses_srq {
        // The SRQ's limits apply, not the QP's (IBA 11.2.5.1).
        init.cap.max_recv_wr = 0;
        init.cap.max_recv_sge = 0;
    }
    if init.send_cq.is_null() || init.recv_cq.is_null() {
        return Err(EINVAL);
    }
    let mut cap = grant(&init.cap)?;
    let (sq, rq, resp) = match udata.as_deref_mut() {
        Some(udata) => {
            udata.require_empty_input()?;
            if udata.out_len() < size_of::<b::rxe_create_qp_resp>() {
                return Err(EINVAL);
            }
            let sq_elem = RXE_SEND_WQE_HEADER + cap.max_inline_data as usize;
            let rq_elem = RXE_RECV_WQE_HEADER + cap.max_recv_sge as usize * RXE_SGE;
            let ucontext = udata.ucontext();
            // SAFETY: The caller's live context, which outlives its QPs.
            let sq = unsafe { UserQueue::new(ucontext, cap.max_send_wr, sq_elem) }?;
            let rq = if uses_srq {
                None
            } else {
                // SAFETY: As above.
                Some(unsafe { UserQueue::new(ucontext, cap.max_recv_wr, rq_elem) }?)
            };
            cap.max_send_wr = sq.capacity();
            cap.max_recv_wr = rq.as_ref().map_or(0, UserQueue::capacity);
            let resp = CreateQpResp(b::rxe_create_qp_resp {
                // No receive ring with an SRQ: the provider maps none.
                rq_mi: rq.as_ref().map(UserQueue::mmap_info).unwrap_or_default(),
                sq_mi: sq.mmap_info(),
            });
            (Some(sq), rq, Some(resp))
        }
        // A kernel QP's work requests come through post_send/post_recv.
        None => (None, None, None),
    };
    let raw = slot.as_raw();
    let sq_sig_type = init.sq_sig_type;
    let quota = limit.take()?;
    let table = if is_gsi { gsi } else { qpns };
    let reservation = table.reserve()?;
    let qpn = reservation.index();
    let transport = QpTransport::new(QpSetup {
        ibqp: raw,
        service,
        qpn,
        cap,
        sig_all: sq_sig_type == b::ib_sig_type_IB_SIGNAL_ALL_WR,
        sq,
        rq,
        srq: init.srq,
    })?;
    let created = slot.init(try_pin_init!(Qp {
        _quota: quota,
        service,
        is_gsi,
        qpns: core::ptr::from_ref(table),
        qpn,
        cap,
        sq_sig_type,
        transport <- transport,
    }? Error))?;
    // SAFETY: Being created: ib_core reads the QPN after create_qp returns.
    unsafe { (*raw).qp_num = qpn };
    // SAFETY: The QP stays alive and in place until its data is dropped,
    // which removes it from the table first (`PinnedDrop`); it is complete.
    unsafe { reservation.publish(created.object()) };
    init.cap = cap;
    if let (Some(udata), Some(resp)) = (udata, resp) {
        udata.respond(&resp)?;
    }
    Ok(created)
}

#[pinned_drop]
impl PinnedDrop for Qp {
    fn drop(self: Pin<&mut Self>) {
        // destroy_qp, or a creation that failed after the QP was published:
        // nothing reaches the QP, whose memory ib_core frees once destroy
        // returns, after this.
        self.shutdown();
    }
}

impl Qp {
    /// `modify_qp` (IBA 11.2.5.2): the transition and its attributes are
    /// checked as ib_core defines them (`ib_modify_qp_is_ok`), then the
    /// values; nothing is applied unless everything is valid. Process
    /// context.
    pub(crate) fn modify(
        &self,
        dev: &IbDevice<RvtDevice>,
        attr: &b::ib_qp_attr,
        mask: u32,
    ) -> Result {
        if mask & !b::ib_qp_attr_mask_IB_QP_ATTR_STANDARD_BITS != 0 {
            return Err(EOPNOTSUPP);
        }
        self.check_values(attr, mask)?;
        let has = |bit: u32| mask & bit != 0;
        let rvt = dev.data();
        let handle = device::handle(dev);
        // Resolved before the lock is taken (may look at routes).
        let path = if has(b::ib_qp_attr_mask_IB_QP_AV) && self.service != QpType::Ud {
            let mut ah_attr = attr.ah_attr;
            if ah_attr.grh.flow_label == 0 {
                // One flow label, hence one UDP source port, per connection.
                let dest = if has(b::ib_qp_attr_mask_IB_QP_DEST_QPN) {
                    attr.dest_qp_num
                } else {
                    0
                };
                // SAFETY: A pure function of its arguments.
                ah_attr.grh.flow_label = unsafe { b::rvt_helper_calc_flow_label(self.qpn, dest) };
            }
            // SAFETY: A callback of a device whose private area is live;
            // ib_core holds the AV's GID attribute for the call.
            let path = unsafe { rvt.ops().resolve_path(handle, 1, &ah_attr, true) }?;
            // Both ends must use the same path MTU: refuse, never clamp.
            // SAFETY: As above.
            let mtu = unsafe { rvt.ops().path_mtu(handle, &path) };
            if has(b::ib_qp_attr_mask_IB_QP_PATH_MTU) && attr.path_mtu > mtu {
                return Err(EINVAL);
            }
            Some(path)
        } else {
            None
        };
        // A UD QP's datagrams are bounded by the port's MTU (IBA 9.8).
        let port_mtu = if self.service == QpType::Ud && has(b::ib_qp_attr_mask_IB_QP_STATE) {
            // SAFETY: As above; modify_qp may sleep.
            let link = unsafe { rvt.ops().query_link(handle, 1) }?;
            Mtu::from_ib(link.active_mtu)
        } else {
            None
        };
        let qp_type = self.qp_type();
        self.transport.modify(attr, mask, path, port_mtu, |state| {
            let current = if has(b::ib_qp_attr_mask_IB_QP_CUR_STATE) {
                attr.cur_qp_state
            } else {
                state
            };
            let next = if has(b::ib_qp_attr_mask_IB_QP_STATE) {
                attr.qp_state
            } else {
                current
            };
            // IBA 11.2.5.2: the current state a caller names must be the
            // QP's; ib_modify_qp_is_ok indexes a table with the states.
            if current != state || next > b::ib_qp_state_IB_QPS_ERR {
                return Err(EINVAL);
            }
            // SAFETY: A pure function of its arguments, both states in range.
            if !unsafe { b::ib_modify_qp_is_ok(current, next, qp_type, mask) } {
                return Err(EINVAL);
            }
            Ok(())
        })
    }

    /// `post_send`: a kernel QP's work request list, or (`wr` NULL) a user
    /// QP's doorbell. On failure `bad_wr` names the first request not
    /// posted.
    pub(crate) fn post_send(
        &self,
        wr: *const b::ib_send_wr,
        bad_wr: &mut *const b::ib_send_wr,
    ) -> Result {
        if wr.is_null() {
            return self.transport.doorbell();
        }
        self.transport.post_kernel_sends(wr, bad_wr)
    }

    /// `post_recv`: a kernel QP's receive work request list.
    pub(crate) fn post_recv(
        &self,
        wr: *const b::ib_recv_wr,
        bad_wr: &mut *const b::ib_recv_wr,
    ) -> Result {
        self.transport.post_kernel_recvs(wr, bad_wr)
    }

    /// A received packet for this QP (checked, linear). Softirq, under RCU.
    pub(crate) fn receive(&self, skb: crate::transport::skb::OwnedSkb, meta: &b::rvt_rx_meta) {
        self.transport.receive(skb, meta);
    }

    /// What `rdma resource show qp -dd` shows of the transport.
    pub(crate) fn details(&self) -> QpDetails {
        self.transport.details()
    }

    /// Takes the QP out of the QPN table and stops its transport: nothing
    /// reaches the QP from the wire, its timer or its work item once this
    /// returns. Process context.
    fn shutdown(&self) {
        // SAFETY: The device's table outlives its QPs (type invariant).
        let qpns = unsafe { &*self.qpns };
        self.transport.shutdown(|| {
            qpns.remove(self.qpn);
        });
    }

    /// The value rules ib_modify_qp_is_ok does not cover.
    fn check_values(&self, attr: &b::ib_qp_attr, mask: u32) -> Result {
        let has = |bit: u32| mask & bit != 0;
        // Unsupported features: alternate paths (APM), rate limits,
        // capability changes.
        if has(b::ib_qp_attr_mask_IB_QP_ALT_PATH) || has(b::ib_qp_attr_mask_IB_QP_PATH_MIG_STATE) {
            return Err(EOPNOTSUPP);
        }
        let supported_access = b::ib_access_flags_IB_ACCESS_REMOTE_WRITE
            | b::ib_access_flags_IB_ACCESS_REMOTE_READ
            | b::ib_access_flags_IB_ACCESS_REMOTE_ATOMIC
            | b::ib_access_flags_IB_ACCESS_LOCAL_WRITE;
        let bad = (has(b::ib_qp_attr_mask_IB_QP_PORT) && attr.port_num != 1)
            || (has(b::ib_qp_attr_mask_IB_QP_PKEY_INDEX) && attr.pkey_index != 0)
            || (has(b::ib_qp_attr_mask_IB_QP_CAP) && !self.cap_unchanged(&attr.cap))
            || (has(b::ib_qp_attr_mask_IB_QP_ACCESS_FLAGS)
                && attr.qp_access_flags as u32 & !supported_access != 0)
            || (has(b::ib_qp_attr_mask_IB_QP_PATH_MTU)
                && !(b::ib_mtu_IB_MTU_256..=b::ib_mtu_IB_MTU_4096).contains(&attr.path_mtu))
            || (has(b::ib_qp_attr_mask_IB_QP_TIMEOUT) && attr.timeout > 31)
            || (has(b::ib_qp_attr_mask_IB_QP_RETRY_CNT) && attr.retry_cnt > 7)
            || (has(b::ib_qp_attr_mask_IB_QP_RNR_RETRY) && attr.rnr_retry > 7)
            || (has(b::ib_qp_attr_mask_IB_QP_MIN_RNR_TIMER) && attr.min_rnr_timer > 31)
            || (has(b::ib_qp_attr_mask_IB_QP_SQ_PSN) && attr.sq_psn > MAX_24_BITS)
            || (has(b::ib_qp_attr_mask_IB_QP_RQ_PSN) && attr.rq_psn > MAX_24_BITS)
            || (has(b::ib_qp_attr_mask_IB_QP_DEST_QPN) && attr.dest_qp_num > MAX_24_BITS)
            || (has(b::ib_qp_attr_mask_IB_QP_MAX_QP_RD_ATOMIC)
                && attr.max_rd_atomic > MAX_RD_ATOMIC)
            || (has(b::ib_qp_attr_mask_IB_QP_MAX_DEST_RD_ATOMIC)
                && attr.max_dest_rd_atomic > MAX_RD_ATOMIC);
        if bad {
            return Err(EINVAL);
        }
        Ok(())
    }

    /// IB_QP_CAP in modify_qp may only restate what was granted (rvt does
    /// not resize the rings of a live QP).
    fn cap_unchanged(&self, cap: &b::ib_qp_cap) -> bool {
        cap.max_send_wr <= self.cap.max_send_wr
            && cap.max_recv_wr <= self.cap.max_recv_wr
            && cap.max_send_sge <= self.cap.max_send_sge
            && cap.max_recv_sge <= self.cap.max_recv_sge
            && cap.max_inline_data <= self.cap.max_inline_data
    }

    fn qp_type(&self) -> u32 {
        match self.service {
            QpType::Rc => b::ib_qp_type_IB_QPT_RC,
            QpType::Uc => b::ib_qp_type_IB_QPT_UC,
            QpType::Ud if self.is_gsi => b::ib_qp_type_IB_QPT_GSI,
            QpType::Ud => b::ib_qp_type_IB_QPT_UD,
        }
    }

    /// `query_qp`: the attributes set so far, the live state and PSNs, the
    /// capabilities.
    pub(crate) fn query(&self, attr: &mut b::ib_qp_attr, init: &mut b::ib_qp_init_attr) {
        self.transport.query(attr);
        attr.cap = self.cap;
        // rvt keeps no reference on these: never hand them out.
        attr.ah_attr.grh.sgid_attr = core::ptr::null();
        attr.alt_ah_attr.grh.sgid_attr = core::ptr::null();
        attr.xmit_slave = core::ptr::null_mut();
        init.cap = self.cap;
        init.qp_type = self.qp_type();
        init.sq_sig_type = self.sq_sig_type;
    }
}

/// The QPN table of a device.
pub(crate) fn qpn_table() -> impl PinInit<QpnTable> {
    Table::with_range(FIRST_QPN, LAST_QPN)
}

/// The table of a device's GSI QP: QPN 1 only (IBA 10.2.4).
pub(crate) fn gsi_table() -> impl PinInit<QpnTable> {
    Table::with_range(crate::proto::engine::GSI_QPN, crate::proto::engine::GSI_QPN)
}
