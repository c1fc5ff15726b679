//! RDMA ATOMIC WRITE and RDMA FLUSH (IBA vol. 1 release 1.5, the memory
//! placement extensions), one rule per test: the requester posts them, the
//! responder executes them once with their access checks, and duplicates
//! are acknowledged again, never executed again.

mod support;

use rvt_proto::aeth::{NakCode, Syndrome};
use rvt_proto::engine::{
    AccessFlags, AttrUpdate, DropReason, Mtu, Placement, PostError, QpType, Selectivity, SendWr,
    Verdict, WcOpcode, WcStatus, WrOpcode,
};
use rvt_proto::headers::{Feth, Reth};
use rvt_proto::opcode::Opcode;
use rvt_proto::packet::PacketHeaders;
use support::{bth, parse_frame, LinkCfg, Pair, Rx, ALL_RIGHTS, FLUSH_GLOBAL};

type P = Pair<16, 16, 4>;

const RKEY: u32 = 0x4242;
const VA: u64 = 0x10_0000;

fn cfg() -> LinkCfg {
    LinkCfg {
        mtu: Mtu::M256,
        ack_req_interval: 0,
        sq_psn: 100,
        ..LinkCfg::default()
    }
}

/// A pair whose B has a 4 KiB region at VA with `rights`.
fn pair(rights: AccessFlags) -> P {
    let mut p = P::new(QpType::Rc, &cfg());
    p.b.mem.add_region(RKEY, VA, vec![0; 4096], rights);
    p
}

fn atomic_write_wr(id: u64, off: u64) -> SendWr {
    let mut wr = SendWr::new(id, WrOpcode::AtomicWrite);
    wr.rkey = RKEY;
    wr.remote_va = VA + off;
    wr.len = 8;
    wr
}

fn flush_wr(id: u64, placement: Placement, selectivity: Selectivity, len: u32) -> SendWr {
    let mut wr = SendWr::new(
        id,
        WrOpcode::Flush {
            placement,
            selectivity,
        },
    );
    wr.rkey = RKEY;
    wr.remote_va = VA + 64;
    wr.len = len;
    wr
}

fn region(p: &P) -> &[u8] {
    &p.b.mem.region(RKEY).unwrap().buf.data
}

/// The syndrome of the only frame B has to send now.
fn b_answer(p: &mut P) -> Syndrome {
    let frames = p.b.drain(p.now);
    assert_eq!(frames.len(), 1);
    Syndrome::decode(parse_frame(&frames[0]).aeth().unwrap().syndrome).unwrap()
}

/// An injected request from A's side at B's expected PSN (100).
fn inject(p: &mut P, hdr: &PacketHeaders, payload: &[u8]) -> Rx {
    p.b.inject(hdr, payload)
}

fn atomic_write_hdr(va: u64, dma_len: u32) -> PacketHeaders {
    let mut hdr = PacketHeaders::new(bth(Opcode::RcAtomicWrite, 0x22, 100));
    hdr.reth = Some(Reth {
        va,
        rkey: RKEY,
        dma_len,
    });
    hdr
}

fn flush_hdr(placement_type: u8, selectivity_level: u8) -> PacketHeaders {
    let mut hdr = PacketHeaders::new(bth(Opcode::RcFlush, 0x22, 100));
    hdr.feth = Some(Feth {
        selectivity_level,
        placement_type,
    });
    hdr.reth = Some(Reth {
        va: VA,
        rkey: RKEY,
        dma_len: 64,
    });
    hdr
}

// IBA 1.5 ATOMIC WRITE: the 8 bytes of the WQE land at the remote VA in one
// store, the responder ACKs it and the WQE completes as IB_WC_ATOMIC_WRITE.
#[test]
fn iba_1_5_atomic_write_stores_eight_bytes_and_completes() {
    let mut p = pair(ALL_RIGHTS);
    p.a.post(&atomic_write_wr(1, 16), &[1, 2, 3, 4, 5, 6, 7, 8]);
    p.pump();
    assert_eq!(&region(&p)[16..24], &[1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(p.b.mem.atomic_write_log.len(), 1);
    let wcs = p.a.rec.send_wcs();
    assert_eq!(wcs.len(), 1);
    assert_eq!(wcs[0].status, WcStatus::Success);
    assert_eq!(wcs[0].opcode, WcOpcode::AtomicWrite);
    assert_eq!(wcs[0].byte_len, 8);
    let req = &p.log[0].1;
    assert_eq!(req[0], Opcode::RcAtomicWrite as u8);
    assert!(parse_frame(req).bth().ack_req);
}

// IBA 1.5 / 9.7.5.2: a duplicate ATOMIC WRITE (its ACK was lost) is
// acknowledged again and not executed again, so a later WRITE to the same
// bytes is not undone by the retry.
#[test]
fn iba_1_5_duplicate_atomic_write_is_acked_not_executed() {
    let mut p = pair(ALL_RIGHTS);
    p.a.post(&atomic_write_wr(1, 0), &[9; 8]);
    let mut wr = SendWr::new(2, WrOpcode::RdmaWrite);
    wr.rkey = RKEY;
    wr.remote_va = VA;
    wr.len = 8;
    p.a.post(&wr, &[7; 8]);
    // B's ACKs are lost: A times out and sends both again.
    p.pump_filtered(|from_a, _, _| from_a);
    assert_eq!(&region(&p)[0..8], &[7; 8]);
    p.settle(10);
    assert_eq!(p.b.mem.atomic_write_log.len(), 1, "executed once");
    assert_eq!(&region(&p)[0..8], &[7; 8], "the later WRITE stands");
    let dups = p
        .verdicts
        .iter()
        .filter(|(a, v)| *a && *v == Verdict::Duplicate)
        .count();
    assert!(dups >= 1);
    assert_eq!(p.a.rec.send_wcs().len(), 2);
    assert!(p
        .a
        .rec
        .send_wcs()
        .iter()
        .all(|w| w.status == WcStatus::Success));
}

// IBA 1.5: the VA of an ATOMIC WRITE must be 8-byte aligned: NAK invalid
// request, the QP enters Error.
#[test]
fn iba_1_5_atomic_write_unaligned_is_invalid_request() {
    let mut p = pair(ALL_RIGHTS);
    let rx = inject(&mut p, &atomic_write_hdr(VA + 4, 8), &[1; 8]);
    assert_eq!(rx, Rx::Received(Verdict::Dropped(DropReason::Alignment)));
    assert_eq!(b_answer(&mut p), Syndrome::Nak(NakCode::InvalidRequest));
    assert!(p.b.mem.atomic_write_log.is_empty());
}

// IBA 1.5: an ATOMIC WRITE's DMA length is 8: any other is an invalid
// request.
#[test]
fn iba_1_5_atomic_write_dma_length_must_be_eight() {
    let mut p = pair(ALL_RIGHTS);
    let rx = inject(&mut p, &atomic_write_hdr(VA, 16), &[1; 8]);
    assert_eq!(rx, Rx::Received(Verdict::Dropped(DropReason::Length)));
    assert_eq!(b_answer(&mut p), Syndrome::Nak(NakCode::InvalidRequest));
}

// IBA 1.5 / 9.7.5.1: ATOMIC WRITE needs the QP's remote write right (NAK
// invalid request) and the region's (NAK remote access error, the
// requester's WQE completes IB_WC_REM_ACCESS_ERR).
#[test]
fn iba_1_5_atomic_write_access_rights() {
    let mut p = pair(ALL_RIGHTS);
    p.b.modify(&AttrUpdate {
        access: Some(AccessFlags(
            AccessFlags::REMOTE_READ.0 | AccessFlags::REMOTE_ATOMIC.0,
        )),
        ..AttrUpdate::default()
    })
    .unwrap();
    let rx = inject(&mut p, &atomic_write_hdr(VA, 8), &[1; 8]);
    assert_eq!(rx, Rx::Received(Verdict::Dropped(DropReason::Access)));
    assert_eq!(b_answer(&mut p), Syndrome::Nak(NakCode::InvalidRequest));

    let mut p = pair(AccessFlags::REMOTE_READ);
    p.a.post(&atomic_write_wr(1, 0), &[1; 8]);
    p.pump();
    assert!(p.b.mem.atomic_write_log.is_empty());
    assert_eq!(p.a.rec.send_wcs()[0].status, WcStatus::RemAccessErr);
}

// IBA 1.5 FLUSH: the requester sends FETH + RETH with AckReq; the responder
// flushes the range (or the whole region) at the placement type and ACKs;
// the WQE completes as IB_WC_FLUSH. A zero-length range flushes nothing.
#[test]
fn iba_1_5_flush_range_and_region() {
    let mut p = pair(ALL_RIGHTS);
    let both = Placement(Placement::GLOBAL.0 | Placement::PERSISTENT.0);
    p.a.post(
        &flush_wr(1, Placement::GLOBAL, Selectivity::Range, 128),
        &[],
    );
    p.a.post(&flush_wr(2, both, Selectivity::Region, 0), &[]);
    p.a.post(&flush_wr(3, Placement::GLOBAL, Selectivity::Range, 0), &[]);
    p.pump();
    assert_eq!(
        p.b.mem.flush_log,
        vec![
            (RKEY, VA + 64, 128, Selectivity::Range, Placement::GLOBAL),
            (RKEY, VA + 64, 0, Selectivity::Region, both),
        ]
    );
    let wcs = p.a.rec.send_wcs();
    assert_eq!(wcs.len(), 3);
    assert!(wcs
        .iter()
        .all(|w| w.status == WcStatus::Success && w.opcode == WcOpcode::Flush));
    let first = parse_frame(&p.log[0].1);
    assert_eq!(first.bth().opcode, Opcode::RcFlush);
    assert!(first.bth().ack_req);
    assert_eq!(
        first.feth(),
        Some(Feth {
            selectivity_level: 0,
            placement_type: 1
        })
    );
}

// IBA 1.5: a FLUSH whose placement type is empty or has reserved bits, or
// whose selectivity level is reserved (2, 3), is an invalid request.
#[test]
fn iba_1_5_flush_reserved_placement_or_selectivity_is_invalid_request() {
    for (plt, sel) in [(0u8, 0u8), (4, 0), (9, 0), (1, 2), (2, 3)] {
        let mut p = pair(ALL_RIGHTS);
        let rx = inject(&mut p, &flush_hdr(plt, sel), &[]);
        assert_eq!(
            rx,
            Rx::Received(Verdict::Dropped(DropReason::FlushType)),
            "placement {plt} selectivity {sel}"
        );
        assert_eq!(b_answer(&mut p), Syndrome::Nak(NakCode::InvalidRequest));
        assert!(p.b.mem.flush_log.is_empty());
    }
}

// IBA 1.5: the region must grant flushing at each requested placement type
// (here global visibility only, persistence asked): NAK remote access error.
#[test]
fn iba_1_5_flush_without_the_placement_right_is_remote_access_error() {
    let rights = AccessFlags(AccessFlags::ALL_REMOTE.0 | FLUSH_GLOBAL.0);
    let mut p = pair(rights);
    p.a.post(
        &flush_wr(1, Placement::PERSISTENT, Selectivity::Range, 64),
        &[],
    );
    p.pump();
    assert!(p.b.mem.flush_log.is_empty());
    assert_eq!(p.a.rec.send_wcs()[0].status, WcStatus::RemAccessErr);
    // Global visibility is granted.
    let mut p = pair(rights);
    p.a.post(&flush_wr(1, Placement::GLOBAL, Selectivity::Region, 0), &[]);
    p.pump();
    assert_eq!(p.a.rec.send_wcs()[0].status, WcStatus::Success);
}

// IBA 1.5 / 9.5: a FLUSH behind WRITEs executes after they are placed and
// is acknowledged only after it ran; its duplicate is acknowledged again,
// not flushed again.
#[test]
fn iba_1_5_flush_after_writes_and_duplicate_not_reexecuted() {
    let mut p = pair(ALL_RIGHTS);
    let mut wr = SendWr::new(1, WrOpcode::RdmaWrite);
    wr.rkey = RKEY;
    wr.remote_va = VA + 64;
    wr.len = 600;
    p.a.post(&wr, &[5; 600]);
    p.a.post(
        &flush_wr(2, Placement::GLOBAL, Selectivity::Range, 600),
        &[],
    );
    // The ACKs are lost once: everything is sent again.
    p.pump_filtered(|from_a, _, _| from_a);
    assert_eq!(p.b.mem.flush_log.len(), 1);
    assert_eq!(&region(&p)[64..664], &[5; 600][..]);
    p.settle(10);
    assert_eq!(p.b.mem.flush_log.len(), 1, "flushed once");
    let wcs = p.a.rec.send_wcs();
    assert_eq!(wcs.len(), 2);
    assert!(wcs.iter().all(|w| w.status == WcStatus::Success));
}

// IBA 1.5: ATOMIC WRITE and FLUSH are RC operations (refused on UC and
// UD), and a FLUSH must name a valid placement type.
#[test]
fn iba_1_5_placement_operations_are_rc_only() {
    let mut p = P::new(QpType::Uc, &cfg());
    let wr = atomic_write_wr(1, 0);
    assert_eq!(
        p.a.qp.post_send(&wr, &mut p.a.rec),
        Err(PostError::InvalidOpcode)
    );
    let wr = flush_wr(1, Placement::GLOBAL, Selectivity::Region, 0);
    assert_eq!(
        p.a.qp.post_send(&wr, &mut p.a.rec),
        Err(PostError::InvalidOpcode)
    );
    let mut p = pair(ALL_RIGHTS);
    for bad in [Placement(0), Placement(4)] {
        let wr = flush_wr(1, bad, Selectivity::Range, 8);
        assert_eq!(
            p.a.qp.post_send(&wr, &mut p.a.rec),
            Err(PostError::InvalidOpcode)
        );
    }
}
