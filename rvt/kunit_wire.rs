// SPDX-License-Identifier: GPL-2.0

//! KUnit: kernel verbs end to end over the loopback test backend with a
//! wire (`LoopData::wire`): each packet comes back to the same device from a
//! work item (never inside the sender's locked section, as for a real
//! wire). Two RC QPs of one device talk through it: fast-registration MRs (IBA 10.6.3.6), remote
//! access through them, SEND with Invalidate and Local Invalidate (10.6.5).

use kernel::{alloc::flags::GFP_ATOMIC, workqueue};

use super::*;

/// A packet on its way back to the device (freed if never delivered).
struct InFlight(*mut b::sk_buff);

// SAFETY: An skb is not tied to a thread.
unsafe impl Send for InFlight {}

impl Drop for InFlight {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: Ours, not delivered.
            unsafe { b::rvt_helper_kfree_skb(self.0) };
        }
    }
}

/// The wire of a `LoopData::wire` device: `skb` comes back to `dev` from
/// a work item. Lost if the device is being unregistered, or if no work
/// item can be allocated (the closure drops it).
pub(super) fn carry(dev: &Device<Loopback>, skb: *mut b::sk_buff) {
    let packet = InFlight(skb);
    let Some(get) = dev.try_get() else {
        return;
    };
    let _ = workqueue::system().try_spawn(GFP_ATOMIC, move || deliver(&get, packet));
}

/// The packet arrives at the device that sent it (in process context,
/// where rvt_roce's receive runs in softirq; the transport's locks disable
/// bottom halves either way).
fn deliver(dev: &DeviceRef<Loopback>, mut packet: InFlight) {
    let meta = b::rvt_rx_meta {
        port: 1,
        pkey: 0xffff,
        check: b::rvt_rx_check_RVT_RX_OK as u8,
        loopback: 1,
        ..Default::default()
    };
    let skb = core::mem::replace(&mut packet.0, core::ptr::null_mut());
    // SAFETY: A registered device (the get); the skb, linear with its data
    // at the BTH, is rvt's from here.
    unsafe { b::rvt_receive(dev.as_raw(), skb, &meta) };
}

/// The queues of the wire tests' RC QPs.
const WIRE_CAP: b::ib_qp_cap = b::ib_qp_cap {
    max_send_wr: 16,
    max_recv_wr: 16,
    max_send_sge: 2,
    max_recv_sge: 2,
    max_inline_data: 0,
    max_rdma_ctxs: 0,
};

/// An RC QP of the wire tests, signaling what asks for it.
fn wire_qp(pd: *mut b::ib_pd, cq: *mut b::ib_cq) -> Result<*mut b::ib_qp> {
    rc_qp(pd, cq, WIRE_CAP, b::ib_sig_type_IB_SIGNAL_REQ_WR)
}

/// The driver's modify_qp: ib_modify_qp's RoCE address checks want GID
/// table entries that a device without a netdev has none of.
fn modify(qp: *mut b::ib_qp, attr: &mut b::ib_qp_attr, mask: u32) -> Result {
    // SAFETY: A live QP of an rvt device; valid attributes.
    let ret = unsafe {
        match (*(*qp).device).ops.modify_qp {
            Some(modify) => modify(qp, attr, mask as c_int, core::ptr::null_mut()),
            None => -1,
        }
    };
    kernel::error::to_result(ret)
}

/// Takes `qp` to RTS, connected to QP `dest` of the same device.
fn connect(qp: *mut b::ib_qp, dest: u32) -> Result {
    let mut attr = b::ib_qp_attr {
        qp_state: b::ib_qp_state_IB_QPS_INIT,
        port_num: 1,
        qp_access_flags: (b::ib_access_flags_IB_ACCESS_REMOTE_WRITE
            | b::ib_access_flags_IB_ACCESS_REMOTE_READ) as c_int,
        ..Default::default()
    };
    modify(
        qp,
        &mut attr,
        b::ib_qp_attr_mask_IB_QP_STATE
            | b::ib_qp_attr_mask_IB_QP_PKEY_INDEX
            | b::ib_qp_attr_mask_IB_QP_PORT
            | b::ib_qp_attr_mask_IB_QP_ACCESS_FLAGS,
    )?;
    let mut attr = b::ib_qp_attr {
        qp_state: b::ib_qp_state_IB_QPS_RTR,
        path_mtu: b::ib_mtu_IB_MTU_1024,
        dest_qp_num: dest,
        max_dest_rd_atomic: 4,
        min_rnr_timer: 1,
        ..Default::default()
    };
    attr.ah_attr.type_ = b::rdma_ah_attr_type_RDMA_AH_ATTR_TYPE_ROCE;
    attr.ah_attr.port_num = 1;
    modify(
        qp,
        &mut attr,
        b::ib_qp_attr_mask_IB_QP_STATE
            | b::ib_qp_attr_mask_IB_QP_AV
            | b::ib_qp_attr_mask_IB_QP_PATH_MTU
            | b::ib_qp_attr_mask_IB_QP_DEST_QPN
            | b::ib_qp_attr_mask_IB_QP_RQ_PSN
            | b::ib_qp_attr_mask_IB_QP_MAX_DEST_RD_ATOMIC
            | b::ib_qp_attr_mask_IB_QP_MIN_RNR_TIMER,
    )?;
    let mut attr = b::ib_qp_attr {
        qp_state: b::ib_qp_state_IB_QPS_RTS,
        timeout: 14,
        retry_cnt: 3,
        rnr_retry: 3,
        max_rd_atomic: 4,
        ..Default::default()
    };
    modify(
        qp,
        &mut attr,
        b::ib_qp_attr_mask_IB_QP_STATE
            | b::ib_qp_attr_mask_IB_QP_SQ_PSN
            | b::ib_qp_attr_mask_IB_QP_TIMEOUT
            | b::ib_qp_attr_mask_IB_QP_RETRY_CNT
            | b::ib_qp_attr_mask_IB_QP_RNR_RETRY
            | b::ib_qp_attr_mask_IB_QP_MAX_QP_RD_ATOMIC,
    )
}

/// One SGE of kernel memory through the local DMA lkey (0).
fn kernel_sge(addr: *const u8, length: u32) -> b::ib_sge {
    b::ib_sge {
        addr: addr as u64,
        length,
        lkey: 0,
    }
}

/// Takes `qp` back to Reset, then to RTS connected to `dest`.
fn reset_and_connect(qp: *mut b::ib_qp, dest: u32) -> Result {
    let mut attr = b::ib_qp_attr {
        qp_state: b::ib_qp_state_IB_QPS_RESET,
        ..Default::default()
    };
    modify(qp, &mut attr, b::ib_qp_attr_mask_IB_QP_STATE)?;
    connect(qp, dest)
}

/// Connects RC QPs `a` and `b` to each other; their QPNs.
fn connect_pair(a: *mut b::ib_qp, b: *mut b::ib_qp) -> Result<(u32, u32)> {
    // SAFETY: Live QPs.
    let (qpn_a, qpn_b) = unsafe { ((*a).qp_num, (*b).qp_num) };
    connect(a, qpn_b)?;
    connect(b, qpn_a)?;
    Ok((qpn_a, qpn_b))
}

/// `ib_post_send` (a static inline in C: the device's op).
fn post_send(qp: *mut b::ib_qp, wr: &b::ib_send_wr) -> i32 {
    let mut bad: *const b::ib_send_wr = core::ptr::null();
    // SAFETY: A live kernel QP of an rvt device; a valid list.
    unsafe {
        match (*(*qp).device).ops.post_send {
            Some(post) => post(qp, wr, &mut bad),
            None => -1,
        }
    }
}

fn post_recv(qp: *mut b::ib_qp, wr: &b::ib_recv_wr) -> i32 {
    let mut bad: *const b::ib_recv_wr = core::ptr::null();
    // SAFETY: As for `post_send`.
    unsafe {
        match (*(*qp).device).ops.post_recv {
            Some(post) => post(qp, wr, &mut bad),
            None => -1,
        }
    }
}

/// Waits up to two seconds for the next completion of `cq`.
fn next_wc(cq: *mut b::ib_cq) -> Option<b::ib_wc> {
    let mut wc = [b::ib_wc::default(); 1];
    wait_for(|| poll(cq, &mut wc) == 1).then_some(wc[0])
}

/// The next completion of `cq`: its work request id and status.
fn next_status(cq: *mut b::ib_cq) -> Result<(u64, u32)> {
    let wc = next_wc(cq).ok_or(ETIMEDOUT)?;
    Ok((wr_id(&wc), wc.status))
}

/// The next completion of `cq`: its work request id, status and opcode.
fn next_op(cq: *mut b::ib_cq) -> Result<(u64, u32, u32)> {
    let wc = next_wc(cq).ok_or(ETIMEDOUT)?;
    Ok((wr_id(&wc), wc.status, wc.opcode))
}

/// A kernel work request on `sge` (its one SGE: kernel memory through the
/// local DMA lkey), signaled.
fn send_wr(wr_id: u64, opcode: u32, sge: &mut b::ib_sge) -> b::ib_send_wr {
    let mut wr = b::ib_send_wr {
        sg_list: sge,
        num_sge: 1,
        opcode,
        send_flags: b::ib_send_flags_IB_SEND_SIGNALED as c_int,
        ..Default::default()
    };
    wr.__bindgen_anon_1.wr_id = wr_id;
    wr
}

/// An RDMA READ or WRITE of `sge` from or to `remote_addr` under `rkey`.
fn rdma(
    qp: *mut b::ib_qp,
    opcode: u32,
    wr_id: u64,
    sge: &mut b::ib_sge,
    remote_addr: u64,
    rkey: u32,
) -> i32 {
    let wr = b::ib_rdma_wr {
        wr: send_wr(wr_id, opcode, sge),
        remote_addr,
        rkey,
    };
    post_send(qp, &wr.wr)
}

/// Posts `IB_WR_REG_MR` of `mr` with `key` and `access`.
fn register_mr(
    qp: *mut b::ib_qp,
    mr: *mut b::ib_mr,
    wr_id: u64,
    key: u32,
    access: u32,
    signaled: bool,
) -> i32 {
    let mut wr = b::ib_reg_wr {
        wr: b::ib_send_wr {
            opcode: b::ib_wr_opcode_IB_WR_REG_MR,
            send_flags: if signaled {
                b::ib_send_flags_IB_SEND_SIGNALED as c_int
            } else {
                0
            },
            ..Default::default()
        },
        mr,
        key,
        access: access as c_int,
    };
    wr.wr.__bindgen_anon_1.wr_id = wr_id;
    post_send(qp, &wr.wr)
}

fn local_inv(qp: *mut b::ib_qp, wr_id: u64, key: u32) -> i32 {
    let mut wr = b::ib_send_wr {
        opcode: b::ib_wr_opcode_IB_WR_LOCAL_INV,
        send_flags: b::ib_send_flags_IB_SEND_SIGNALED as c_int,
        ..Default::default()
    };
    wr.__bindgen_anon_1.wr_id = wr_id;
    wr.ex.invalidate_rkey = key;
    post_send(qp, &wr)
}

/// Maps `len` bytes of kernel memory at `buf` into `mr` in `page_size`
/// pages (as a ULP does after `ib_dma_map_sg`, whose virtual-DMA addresses
/// are the kernel addresses themselves). Returns what `ib_map_mr_sg` does.
fn map_mr(mr: *mut b::ib_mr, buf: *mut u8, len: u32, page_size: u32) -> i32 {
    let mut sg = b::scatterlist {
        // SG_END: the only entry.
        page_link: 0x02,
        length: len,
        dma_address: buf as u64,
        dma_length: len,
        ..Default::default()
    };
    // SAFETY: A live MR of an rvt device; one DMA-mapped entry.
    unsafe { b::ib_map_mr_sg(mr, &mut sg, 1, core::ptr::null_mut(), page_size) }
}

/// `ib_update_fast_reg_key` (a static inline in C): the MR's next key.
fn next_key(mr: *mut b::ib_mr, key8: u8) -> u32 {
    // SAFETY: The test's own live MR, not registered.
    unsafe {
        let key = ((*mr).lkey & 0xffff_ff00) | u32::from(key8);
        (*mr).lkey = key;
        (*mr).rkey = key;
        key
    }
}

fn alloc_mr(pd: *mut b::ib_pd, mr_type: u32, max_num_sg: u32) -> Result<*mut b::ib_mr> {
    // SAFETY: A live kernel PD.
    kernel::error::from_err_ptr(unsafe { b::ib_alloc_mr(pd, mr_type, max_num_sg) })
}

fn dereg_mr(mr: *mut b::ib_mr) {
    // SAFETY: A live MR, not used again.
    unsafe { b::ib_dereg_mr_user(mr, core::ptr::null_mut()) };
}

fn destroy_qp(qp: *mut b::ib_qp) {
    // SAFETY: A live kernel QP, not used again.
    unsafe { b::ib_destroy_qp_user(qp, core::ptr::null_mut()) };
}

const REMOTE_RW: u32 = b::ib_access_flags_IB_ACCESS_LOCAL_WRITE
    | b::ib_access_flags_IB_ACCESS_REMOTE_WRITE
    | b::ib_access_flags_IB_ACCESS_REMOTE_READ;

#[kunit_tests(rvt_wire)]
mod wire_tests {
    use super::*;

    // A fast-registration MR over two pages of kernel memory: registered
    // (unsignaled: no completion), written and read remotely across its
    // page boundary, invalidated by a SEND with Invalidate (the receive
    // completion says so), after which its key is refused.
    #[test]
    fn fast_registration_and_remote_invalidation() -> Result {
        let dev = register(c"rvt_kunit30", LoopData::wire())?;
        let pd = alloc_pd(&dev)?;
        let events = CqEvents::new();
        let cq = create_cq(&dev, 64, &events)?;
        let (a, b) = (wire_qp(pd, cq)?, wire_qp(pd, cq)?);
        connect_pair(a, b)?;
        let mut target = KVec::from_elem(0u8, 8192, GFP_KERNEL)?;
        let mut source = KVec::from_elem(0u8, 8192, GFP_KERNEL)?;
        for (i, byte) in source.iter_mut().enumerate() {
            *byte = (i % 251) as u8;
        }
        let mr = alloc_mr(pd, b::ib_mr_type_IB_MR_TYPE_MEM_REG, 4)?;
        assert_eq!(map_mr(mr, target.as_mut_ptr(), 8192, 4096), 1);
        // SAFETY: The test's live MR.
        let (iova, length) = unsafe { ((*mr).iova, (*mr).length) };
        assert_eq!((iova, length), (target.as_ptr() as u64, 8192));
        let key = next_key(mr, 0x5a);
        assert_eq!(register_mr(b, mr, 1, key, REMOTE_RW, false), 0);
        // 300 bytes across the page boundary of the region.
        let mut sge = kernel_sge(source.as_ptr(), 300);
        let write = b::ib_wr_opcode_IB_WR_RDMA_WRITE;
        assert_eq!(rdma(a, write, 2, &mut sge, iova + 4000, key), 0);
        assert_eq!(next_status(cq)?, (2, SUCCESS));
        assert!(target[4000..4300] == source[..300]);
        assert!(target[..4000].iter().all(|&x| x == 0));
        let mut readback = KVec::from_elem(0u8, 300, GFP_KERNEL)?;
        let mut sge = kernel_sge(readback.as_mut_ptr(), 300);
        let read = b::ib_wr_opcode_IB_WR_RDMA_READ;
        assert_eq!(rdma(a, read, 3, &mut sge, iova + 4000, key), 0);
        assert_eq!(next_status(cq)?, (3, SUCCESS));
        assert!(readback[..] == source[..300]);
        // SEND with Invalidate of the MR's key.
        let mut inbox = KVec::from_elem(0u8, 64, GFP_KERNEL)?;
        let mut rsge = [kernel_sge(inbox.as_mut_ptr(), 64)];
        assert_eq!(post_recv(b, &recv_wr(4, &mut rsge, 1)), 0);
        let mut sge = kernel_sge(source.as_ptr(), 16);
        let mut wr = send_wr(5, b::ib_wr_opcode_IB_WR_SEND_WITH_INV, &mut sge);
        wr.ex.invalidate_rkey = key;
        assert_eq!(post_send(a, &wr), 0);
        let mut seen = [(0u64, 0u32, 0u32, 0u32); 2];
        for s in &mut seen {
            let wc = next_wc(cq).ok_or(ETIMEDOUT)?;
            // SAFETY: The member rvt sets with IB_WC_WITH_INVALIDATE.
            let inv = unsafe { wc.ex.invalidate_rkey };
            *s = (wr_id(&wc), wc.status, wc.wc_flags as u32, inv);
        }
        seen.sort_unstable();
        let with_inv = b::ib_wc_flags_IB_WC_WITH_INVALIDATE;
        assert_eq!(seen[0], (4, SUCCESS, with_inv, key));
        assert_eq!((seen[1].0, seen[1].1), (5, SUCCESS));
        assert!(inbox[..16] == source[..16]);
        // The key names nothing now: the WRITE is refused remotely.
        let mut sge = kernel_sge(source.as_ptr(), 8);
        assert_eq!(rdma(a, write, 6, &mut sge, iova, key), 0);
        assert_eq!(next_status(cq)?, (6, b::ib_wc_status_IB_WC_REM_ACCESS_ERR));
        assert!(target[..8].iter().all(|&x| x == 0));
        destroy_qp(a);
        destroy_qp(b);
        dereg_mr(mr);
        destroy_cq(cq)?;
        dealloc_pd(pd);
        dev.unregister();
        Ok(())
    }

    // The rules of the memory operations, each in send queue order: an
    // unsignaled registration reports nothing; Local Invalidate needs the
    // current key; a free MR registers again under a new key and the old
    // one is refused; registering a valid MR fails the QP with a Local QP
    // Operation Error (as rdma_rxe reports it) and flushes what
    // follows. alloc_mr refuses other MR types and too many pages.
    #[test]
    fn fast_registration_rules() -> Result {
        let dev = register(c"rvt_kunit31", LoopData::wire())?;
        let pd = alloc_pd(&dev)?;
        let events = CqEvents::new();
        let cq = create_cq(&dev, 64, &events)?;
        let (a, b) = (wire_qp(pd, cq)?, wire_qp(pd, cq)?);
        let (qpn_a, qpn_b) = connect_pair(a, b)?;
        assert_eq!(
            alloc_mr(pd, b::ib_mr_type_IB_MR_TYPE_SG_GAPS, 4).err(),
            Some(EINVAL)
        );
        assert_eq!(
            alloc_mr(pd, b::ib_mr_type_IB_MR_TYPE_MEM_REG, 513).err(),
            Some(EINVAL)
        );
        let mut target = KVec::from_elem(0u8, 8192, GFP_KERNEL)?;
        let mr = alloc_mr(pd, b::ib_mr_type_IB_MR_TYPE_MEM_REG, 1)?;
        // One page of room: ib_map_mr_sg maps what fits (none of the one
        // two-page entry), then one page.
        assert!(map_mr(mr, target.as_mut_ptr(), 8192, 4096) < 1);
        assert_eq!(map_mr(mr, target.as_mut_ptr(), 4096, 4096), 1);
        // SAFETY: The test's live MR.
        let iova = unsafe { (*mr).iova };
        let first = next_key(mr, 1);
        assert_eq!(register_mr(b, mr, 10, first, REMOTE_RW, false), 0);
        // The wrong key fails the QP.
        assert_eq!(local_inv(b, 11, first ^ 0x80), 0);
        assert_eq!(
            next_op(cq)?,
            (
                11,
                b::ib_wc_status_IB_WC_LOC_QP_OP_ERR,
                b::ib_wc_opcode_IB_WC_LOCAL_INV
            )
        );
        reset_and_connect(b, qpn_a)?;
        // The MR is still registered under `first`; the right key frees it.
        assert_eq!(local_inv(b, 12, first), 0);
        assert_eq!(next_op(cq)?, (12, SUCCESS, b::ib_wc_opcode_IB_WC_LOCAL_INV));
        let second = next_key(mr, 2);
        assert_eq!(register_mr(b, mr, 13, second, REMOTE_RW, true), 0);
        assert_eq!(next_op(cq)?, (13, SUCCESS, b::ib_wc_opcode_IB_WC_REG_MR));
        let source = KVec::from_elem(0x77u8, 64, GFP_KERNEL)?;
        let mut sge = kernel_sge(source.as_ptr(), 64);
        let write = b::ib_wr_opcode_IB_WR_RDMA_WRITE;
        assert_eq!(rdma(a, write, 14, &mut sge, iova, second), 0);
        assert_eq!(next_status(cq)?, (14, SUCCESS));
        assert!(target[..64].iter().all(|&x| x == 0x77));
        // The old key names nothing: refused remotely (both QPs fail).
        assert_eq!(rdma(a, write, 15, &mut sge, iova, first), 0);
        assert_eq!(next_status(cq)?, (15, b::ib_wc_status_IB_WC_REM_ACCESS_ERR));
        // A Local Invalidate posted behind a WRITE still in flight waits
        // for it: it executes and completes after the WRITE's ACK.
        reset_and_connect(a, qpn_b)?;
        reset_and_connect(b, qpn_a)?;
        assert_eq!(rdma(a, write, 16, &mut sge, iova, second), 0);
        assert_eq!(local_inv(a, 17, second), 0);
        assert_eq!(next_status(cq)?, (16, SUCCESS));
        assert_eq!(next_op(cq)?, (17, SUCCESS, b::ib_wc_opcode_IB_WC_LOCAL_INV));
        // Registering the free MR succeeds, registering it again (valid)
        // fails; what follows is flushed.
        let third = next_key(mr, 3);
        assert_eq!(register_mr(b, mr, 18, third, REMOTE_RW, true), 0);
        assert_eq!(next_status(cq)?, (18, SUCCESS));
        assert_eq!(register_mr(b, mr, 19, next_key(mr, 4), REMOTE_RW, false), 0);
        assert_eq!(local_inv(b, 20, third), 0);
        assert_eq!(
            next_op(cq)?,
            (
                19,
                b::ib_wc_status_IB_WC_LOC_QP_OP_ERR,
                b::ib_wc_opcode_IB_WC_REG_MR
            )
        );
        assert_eq!(next_status(cq)?, (20, b::ib_wc_status_IB_WC_WR_FLUSH_ERR));
        destroy_qp(a);
        destroy_qp(b);
        dereg_mr(mr);
        destroy_cq(cq)?;
        dealloc_pd(pd);
        dev.unregister();
        Ok(())
    }
}
