//! Queue storage chosen at QP creation (issue 6: runtime queue depths
//! without allocation in the engine) and the size of the engine state that
//! the caller builds by value.

mod support;

use rvt_proto::engine::{
    AttrUpdate, ModifyError, QpState, QpType, ResponderResource, SendWqe, SendWr, WcStatus,
    WrOpcode,
};
use support::{LinkCfg, Pair, TestQp};

/// The send queue depth rvt advertises at least.
const DEEP: usize = 16384;

fn send_wr(id: u64, len: u32) -> SendWr {
    let mut wr = SendWr::new(id, WrOpcode::Send);
    wr.len = len;
    wr
}

// Issue 6 / IBA 10.2.4 (the depths are attributes chosen at QP creation):
// the send queue holds exactly as many WQEs as the storage the caller gave,
// here the 16384 rvt advertises; every one is sent and completes in order,
// and the next post is refused (-ENOMEM) until one completes.
#[test]
fn send_queue_depth_is_the_callers_storage_length() {
    let mut p: Pair<DEEP, DEEP, 4> = Pair::new(QpType::Rc, &LinkCfg::default());
    for i in 0..DEEP as u64 {
        p.b.post_recv(i, 8);
        p.a.post(&send_wr(i, 1), &[i as u8]);
    }
    let refused = p.a.qp.post_send(&send_wr(0, 1), &mut p.a.rec);
    assert_eq!(refused, Err(rvt_proto::engine::PostError::QueueFull));
    p.settle(100);
    let wcs = p.a.rec.send_wcs();
    assert_eq!(wcs.len(), DEEP);
    assert!(wcs
        .iter()
        .enumerate()
        .all(|(i, w)| w.wr_id == i as u64 && w.status == WcStatus::Success));
    assert_eq!(p.b.rec.recv_wcs().len(), DEEP);
    assert!(p.a.qp.post_send(&send_wr(0, 1), &mut p.a.rec).is_ok());
}

// IBA 10.2.4 / 9.7: max_dest_rd_atomic may be at most the number of
// responder resources the caller's storage holds (rdma_rxe offers 128).
#[test]
fn max_dest_rd_atomic_is_bounded_by_the_resource_storage() {
    let mut qp = support::test_qp(QpType::Rc, 0x22, 4, 128);
    let mut rec = support::Recorder::default();
    let set = |v: u8| AttrUpdate {
        max_dest_rd_atomic: Some(v),
        ..AttrUpdate::default()
    };
    assert_eq!(qp.modify(&set(128), &mut rec), Ok(()));
    assert_eq!(
        qp.modify(&set(129), &mut rec),
        Err(ModifyError::InvalidValue)
    );
    assert_eq!(qp.state(), QpState::Reset);
}

/// Bytes of engine state (the storage aside) on a 64-bit host.
const QP_STATE_MAX: usize = 512;

// In-place construction (a kernel stack is 16 KiB): the Qp holds no queue
// storage, so its by-value size is small and the same for every depth, and
// building, bringing up and driving a QP with a 16384-deep send queue and
// 128 responder resources works on a thread with a 32 KiB stack. (The
// earlier Qp<SQ, RQ, RD> with inline rings was 88 bytes per send WQE:
// 1.4 MiB at this depth, built by value.)
#[test]
fn qp_state_is_small_whatever_the_depths() {
    let size = std::mem::size_of::<TestQp>();
    assert!(size <= QP_STATE_MAX, "Qp is {size} bytes");
    let borrowed =
        std::mem::size_of::<rvt_proto::engine::Qp<&mut [SendWqe], &mut [ResponderResource]>>();
    assert!(borrowed <= size, "borrowed storage: {borrowed} bytes");
    let worker = std::thread::Builder::new()
        .stack_size(32 << 10)
        .spawn(|| {
            let mut p: Pair<DEEP, DEEP, 128> = Pair::new(QpType::Rc, &LinkCfg::default());
            for i in 0..DEEP as u64 {
                p.b.post_recv(i, 8);
                p.a.post(&send_wr(i, 1), &[1]);
            }
            p.settle(100);
            p.a.rec.send_wcs().len()
        })
        .unwrap();
    assert_eq!(worker.join().unwrap(), DEEP, "every WQE completed");
}

// The per-QP memory of the queue scheme (Documentation/proto-engine.md,
// "Sizes"): one send WQE entry and one responder resource stay within
// their budget on a 64-bit host.
#[test]
fn storage_entries_stay_within_their_memory_budget() {
    assert!(std::mem::size_of::<SendWqe>() <= 88);
    assert!(std::mem::size_of::<ResponderResource>() <= 40);
}
