//! Scripted RC scenarios, one IBA rule each (IBA vol. 1, chapter 9.7 and
//! the completion rules of chapters 10 and 11).

mod support;

use rvt_proto::aeth::{NakCode, Syndrome};
use rvt_proto::engine::{
    AccessFlags, AttrUpdate, Completion, DropReason, Mtu, QpState, QpType, Queue, RecvWqe,
    SendFlags, SendWr, Timer, Verdict, WcFlags, WcOpcode, WcStatus, WrOpcode,
};
use rvt_proto::headers::{AtomicEth, Reth};
use rvt_proto::opcode::Opcode;
use rvt_proto::packet::PacketHeaders;
use support::{bth, opcode_psn, parse_frame, LinkCfg, Pair, Rng};

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

fn pair_with(cfg: &LinkCfg) -> P {
    let mut p = P::new(QpType::Rc, cfg);
    let mut rng = Rng::new(7);
    for n in [&mut p.a, &mut p.b] {
        n.mem
            .add_region(RKEY, VA, rng.bytes(64 << 10), AccessFlags::ALL_REMOTE);
    }
    p
}

fn pair() -> P {
    pair_with(&cfg())
}

fn send_wr(id: u64, len: u32) -> SendWr {
    let mut wr = SendWr::new(id, WrOpcode::Send);
    wr.len = len;
    wr
}

fn rdma_wr(id: u64, op: WrOpcode, len: u32, off: u64) -> SendWr {
    let mut wr = SendWr::new(id, op);
    wr.len = len;
    wr.rkey = RKEY;
    wr.remote_va = VA + off;
    wr
}

/// The receive buffer a completion names.
fn recv_buf<'a>(n: &'a support::Node<16, 16, 4>, wc: &Completion) -> &'a support::Buf {
    n.mem.recv[wc.slot as usize].as_ref().unwrap()
}

/// Syndrome and PSN of the single ACK/NAK in `frames`.
fn only_ack(frames: &[Vec<u8>]) -> (Syndrome, u32) {
    assert_eq!(frames.len(), 1, "exactly one packet");
    let pk = parse_frame(&frames[0]);
    let syn = Syndrome::decode(pk.hdr().aeth.unwrap().syndrome).unwrap();
    (syn, pk.hdr().bth.psn.value())
}

fn statuses(wcs: &[Completion]) -> Vec<(u64, WcStatus)> {
    wcs.iter().map(|w| (w.wr_id, w.status)).collect()
}

/// What `statuses` gives when the WQEs `ids` all succeeded, in order.
fn successes(ids: &[u64]) -> Vec<(u64, WcStatus)> {
    ids.iter().map(|&id| (id, WcStatus::Success)).collect()
}

/// Frames of `log` from A (true) or B with opcode `op`.
fn count(p: &P, from_a: bool, op: Opcode) -> usize {
    p.log
        .iter()
        .filter(|(a, f)| *a == from_a && f[0] == op.as_u8())
        .count()
}

fn naks(p: &P, code: Option<NakCode>) -> Vec<u32> {
    p.log
        .iter()
        .filter(|(a, f)| !*a && f[0] == Opcode::RcAcknowledge.as_u8())
        .filter_map(|(_, f)| {
            let pk = parse_frame(f);
            let syn = Syndrome::decode(pk.hdr().aeth.unwrap().syndrome).unwrap();
            match (syn, code) {
                (Syndrome::Nak(c), Some(want)) if c == want => Some(pk.hdr().bth.psn.value()),
                (Syndrome::RnrNak { .. }, None) => Some(pk.hdr().bth.psn.value()),
                _ => None,
            }
        })
        .collect()
}

// IBA 9.4.1 / 9.7.1: a SEND is cut into path-MTU packets First, Middle...,
// Last with consecutive PSNs; AckReq on the last packet (9.2.8).
#[test]
fn send_segmented_by_path_mtu() {
    let mut p = pair();
    let data = Rng::new(1).bytes(256 * 2 + 100);
    p.b.post_recv(1, 1000);
    p.a.post(&send_wr(10, data.len() as u32), &data);
    let frames = p.a.drain(0);
    let shape: Vec<(u8, u32, bool, usize)> = frames
        .iter()
        .map(|f| {
            let pk = parse_frame(f);
            (
                f[0],
                pk.hdr().bth.psn.value(),
                pk.hdr().bth.ack_req,
                pk.payload().len(),
            )
        })
        .collect();
    assert_eq!(
        shape,
        vec![
            (Opcode::RcSendFirst.as_u8(), 100, false, 256),
            (Opcode::RcSendMiddle.as_u8(), 101, false, 256),
            (Opcode::RcSendLast.as_u8(), 102, true, 100),
        ]
    );
    for f in &frames {
        p.b.deliver(f, 0);
    }
    p.pump();
    let wc = p.b.rec.recv_wcs();
    assert_eq!(wc.len(), 1);
    assert_eq!((wc[0].opcode, wc[0].byte_len), (WcOpcode::Recv, 612));
    recv_buf(&p.b, &wc[0]).check_once(0, &data).unwrap();
    assert_eq!(statuses(&p.a.rec.send_wcs()), vec![(10, WcStatus::Success)]);
}

// IBA 9.2.8: AckReq also set periodically inside long messages.
#[test]
fn ack_req_periodic() {
    let mut c = cfg();
    c.ack_req_interval = 4;
    let mut p = pair_with(&c);
    let data = vec![7u8; 256 * 10];
    p.a.post(
        &rdma_wr(1, WrOpcode::RdmaWrite, data.len() as u32, 0),
        &data,
    );
    let acks: Vec<bool> =
        p.a.drain(0)
            .iter()
            .map(|f| parse_frame(f).hdr().bth.ack_req)
            .collect();
    let mut want = vec![false; 10];
    want[3] = true;
    want[7] = true;
    want[9] = true;
    assert_eq!(acks, want);
}

// IBA 9.7.5.1.1 (an ACK covers every request before it): small messages
// queued one behind another share an AckReq (requester.rs,
// another_packet_follows): every ack_req_interval-th packet and the last
// one before the queue ends ask for an ACK, and all complete without the
// local ACK timer. A message with nothing behind it always asks.
#[test]
fn queued_small_messages_share_an_ack_req() {
    let mut c = cfg();
    c.ack_req_interval = 4;
    let mut p = pair_with(&c);
    let asks = |frames: &[Vec<u8>]| -> Vec<usize> {
        let bits = frames.iter().map(|f| parse_frame(f).hdr().bth.ack_req);
        bits.enumerate()
            .filter(|&(_, b)| b)
            .map(|(i, _)| i)
            .collect()
    };
    for i in 0..14 {
        p.b.post_recv(i, 8);
        p.a.post(&send_wr(i, 8), &[i as u8; 8]);
    }
    let frames = p.a.drain(0);
    assert_eq!(asks(&frames), vec![3, 7, 11, 13]);
    for f in &frames {
        p.b.deliver(f, 0);
    }
    p.settle(10);
    assert_eq!(p.a.rec.send_wcs().len(), 14);
    assert!(
        p.now < 4_000_000,
        "completed at {} ns: the ACK timer fired",
        p.now
    );
    p.b.post_recv(14, 8);
    p.a.post(&send_wr(14, 8), &[14; 8]);
    assert_eq!(asks(&p.a.drain(p.now)), vec![0]);
}

// A QP sent to SQD after a SEND that left its AckReq to the next WQE
// (which now does not start) sends that SEND's last packet again, asking,
// so the drain needs no ACK timer (requester.rs, draining).
#[test]
fn sqd_asks_for_the_ack_a_queued_message_left_to_the_next() {
    let mut c = cfg();
    c.ack_req_interval = 4;
    c.timeout = 0;
    let mut p = pair_with(&c);
    for i in 0..3 {
        p.b.post_recv(i, 8);
        p.a.post(&send_wr(i, 8), &[i as u8; 8]);
    }
    let first = p.a.transmit(0).unwrap();
    assert!(!parse_frame(&first).hdr().bth.ack_req);
    let sqd = AttrUpdate {
        state: Some(QpState::Sqd),
        ..AttrUpdate::default()
    };
    p.a.modify(&sqd).unwrap();
    let again = p.a.drain(0);
    assert_eq!(again.len(), 1);
    assert_eq!(opcode_psn(&again[0]), opcode_psn(&first));
    assert!(parse_frame(&again[0]).hdr().bth.ack_req);
    for f in [&first, &again[0]] {
        p.b.deliver(f, 0);
    }
    p.settle(10);
    assert_eq!(statuses(&p.a.rec.send_wcs()), vec![(0, WcStatus::Success)]);
}

// IBA 9.4.2: RETH on the first packet only, immediate data on the last.
#[test]
fn write_with_imm_headers_and_completion() {
    let mut p = pair();
    let data = Rng::new(2).bytes(600);
    let mut wr = rdma_wr(3, WrOpcode::RdmaWriteWithImm, 600, 64);
    wr.imm_or_inv = 0xdead_beef;
    wr.flags = wr.flags.with(SendFlags::SOLICITED);
    p.b.post_recv(9, 0);
    p.a.post(&wr, &data);
    let frames = p.a.drain(0);
    let hdrs: Vec<PacketHeaders> = frames.iter().map(|f| *parse_frame(f).hdr()).collect();
    assert!(hdrs[0].reth.is_some() && hdrs[1].reth.is_none() && hdrs[2].reth.is_none());
    assert_eq!(hdrs[2].bth.opcode, Opcode::RcWriteLastWithImm);
    assert!(hdrs[2].bth.solicited && !hdrs[0].bth.solicited);
    for f in &frames {
        p.b.deliver(f, 0);
    }
    p.pump();
    let wc = p.b.rec.recv_wcs();
    assert_eq!(wc.len(), 1);
    assert_eq!(
        (
            wc[0].opcode,
            wc[0].byte_len,
            wc[0].flags,
            wc[0].ex,
            wc[0].solicited
        ),
        (
            WcOpcode::RecvRdmaWithImm,
            600,
            WcFlags::WITH_IMM,
            0xdead_beef,
            true
        )
    );
    p.b.mem
        .region(RKEY)
        .unwrap()
        .buf
        .check_once(64, &data)
        .unwrap();
    assert_eq!(statuses(&p.a.rec.send_wcs()), vec![(3, WcStatus::Success)]);
}

// IBA 9.7.1: an RDMA READ request consumes one PSN per response packet.
#[test]
fn read_consumes_one_psn_per_response() {
    let mut p = pair();
    p.a.post(&rdma_wr(1, WrOpcode::RdmaRead, 256 * 3 - 1, 0), &[]);
    p.a.post(&send_wr(2, 0), &[]);
    let f = p.a.drain(0);
    assert_eq!(opcode_psn(&f[0]), (Opcode::RcReadRequest.as_u8(), 100));
    assert_eq!(opcode_psn(&f[1]), (Opcode::RcSendOnly.as_u8(), 103));
}

// The requester's window (requester.rs, UNACKED_PSN_LIMIT): at most 256
// SEND/WRITE PSNs go unacknowledged, so a slow responder's queue (and the
// wait of the newest packet for its ACK) stays bounded. The next packet
// waits for an ACK, even in the middle of a message.
#[test]
fn unacknowledged_write_psns_are_bounded() {
    const BIG: u32 = 0x5151;
    let mut p = pair();
    p.b.mem
        .add_region(BIG, VA, vec![0; 400 * 256], AccessFlags::ALL_REMOTE);
    let mut rng = Rng::new(11);
    let (one, two) = (rng.bytes(200 * 256), rng.bytes(200 * 256));
    let write = |id, off| SendWr {
        rkey: BIG,
        ..rdma_wr(id, WrOpcode::RdmaWrite, 200 * 256, off)
    };
    p.a.post(&write(1, 0), &one);
    p.a.post(&write(2, 200 * 256), &two);
    let first = p.a.drain(0);
    assert_eq!(first.len(), 256);
    assert_eq!(
        opcode_psn(&first[255]),
        (Opcode::RcWriteMiddle.as_u8(), 100 + 255)
    );
    assert!(p.a.drain(0).is_empty(), "nothing more before an ACK");
    for f in &first {
        p.b.deliver(f, 0);
    }
    p.pump();
    let region = &p.b.mem.region(BIG).unwrap().buf;
    region.check_once(0, &one).unwrap();
    region.check_once(200 * 256, &two).unwrap();
    assert_eq!(statuses(&p.a.rec.send_wcs()), successes(&[1, 2]));
}

// READ requests are bounded by max_rd_atomic, not by that window: a READ
// goes out behind a READ of 256 PSNs, a SEND behind both waits.
#[test]
fn reads_are_not_held_by_the_unacknowledged_window() {
    let mut p = pair();
    p.b.post_recv(1, 8);
    p.a.post(&rdma_wr(1, WrOpcode::RdmaRead, 256 * 256, 0), &[]);
    p.a.post(&rdma_wr(2, WrOpcode::RdmaRead, 8, 0), &[]);
    p.a.post(&send_wr(3, 8), &[3; 8]);
    let first = p.a.drain(0);
    let ops: Vec<_> = first.iter().map(|f| opcode_psn(f)).collect();
    let read = Opcode::RcReadRequest.as_u8();
    assert_eq!(ops, vec![(read, 100), (read, 356)]);
    for f in &first {
        p.b.deliver(f, 0);
    }
    p.settle(10);
    assert_eq!(statuses(&p.a.rec.send_wcs()), successes(&[1, 2, 3]));
}

// No more than max_rd_atomic READ/atomic requests outstanding.
#[test]
fn max_rd_atomic_bounds_outstanding_reads() {
    let mut c = cfg();
    c.max_rd_atomic = 2;
    let mut p = pair_with(&c);
    for i in 0..4 {
        p.a.post(&rdma_wr(i, WrOpcode::RdmaRead, 100, 0), &[]);
    }
    let first = p.a.drain(0);
    assert_eq!(first.len(), 2);
    p.pump_filtered(|_, _, _| true);
    for f in &first {
        p.b.deliver(f, 0);
    }
    p.pump();
    // The last two were sent only after responses completed the first two.
    assert_eq!(count(&p, true, Opcode::RcReadRequest), 2);
    assert_eq!(p.a.rec.send_wcs().len(), 4);
}

// Fence indicator: a fenced WQE waits until earlier READs complete.
#[test]
fn fence_waits_for_outstanding_read() {
    let mut p = pair();
    p.b.post_recv(1, 16);
    p.a.post(&rdma_wr(1, WrOpcode::RdmaRead, 8, 0), &[]);
    let mut wr = send_wr(2, 4);
    wr.flags = wr.flags.with(SendFlags::FENCE);
    p.a.post(&wr, &[1, 2, 3, 4]);
    let f = p.a.drain(0);
    assert_eq!(f.len(), 1, "the fenced SEND must wait");
    p.b.deliver(&f[0], 0);
    p.pump();
    assert_eq!(statuses(&p.a.rec.send_wcs()), successes(&[1, 2]));
}

// IBA 9.7.5: a lost packet inside a message: the responder
// NAKs (PSN sequence error) once for the gap, the requester goes back to the
// NAKed PSN in the middle of the WQE (go-back-N), not to its start.
#[test]
fn nak_go_back_n_into_partial_wqe() {
    let mut p = pair();
    let data = Rng::new(3).bytes(256 * 6);
    p.b.post_recv(1, 2000);
    p.a.post(&send_wr(1, data.len() as u32), &data);
    let mut dropped = false;
    p.pump_filtered(|from_a, _, f| {
        if from_a && opcode_psn(f).1 == 102 && !dropped {
            dropped = true;
            return false;
        }
        true
    });
    assert_eq!(naks(&p, Some(NakCode::PsnSequenceError)), vec![102]);
    let psns: Vec<u32> = p
        .log
        .iter()
        .filter(|(a, _)| *a)
        .map(|(_, f)| opcode_psn(f).1)
        .collect();
    assert_eq!(psns, vec![100, 101, 102, 103, 104, 105, 102, 103, 104, 105]);
    let wc = p.b.rec.recv_wcs();
    assert_eq!(wc.len(), 1);
    recv_buf(&p.b, &wc[0]).check_once(0, &data).unwrap();
    assert_eq!(statuses(&p.a.rec.send_wcs()), vec![(1, WcStatus::Success)]);
}

// IBA 9.7.5: exactly one NAK per sequence gap; later
// out-of-sequence packets are dropped silently.
#[test]
fn one_nak_per_gap() {
    let mut p = pair();
    p.b.post_recv(1, 4000);
    let data = vec![3u8; 256 * 8];
    p.a.post(&send_wr(1, data.len() as u32), &data);
    let frames = p.a.drain(0);
    let verdicts: Vec<Verdict> = frames
        .iter()
        .skip(1)
        .map(|f| p.b.deliver(f, 0).verdict())
        .collect();
    assert_eq!(verdicts[0], Verdict::OutOfSequence { nak_sent: true });
    assert!(verdicts[1..]
        .iter()
        .all(|v| *v == Verdict::OutOfSequence { nak_sent: false }));
    assert_eq!(
        only_ack(&p.b.drain(0)),
        (Syndrome::Nak(NakCode::PsnSequenceError), 100)
    );
    // The expected PSN closes the gap; a new gap gets a new NAK.
    assert_eq!(p.b.deliver(&frames[0], 0).verdict(), Verdict::Accepted);
    assert_eq!(p.b.deliver(&frames[1], 0).verdict(), Verdict::Accepted);
    assert_eq!(
        p.b.deliver(&frames[3], 0).verdict(),
        Verdict::OutOfSequence { nak_sent: true }
    );
    assert_eq!(
        only_ack(&p.b.drain(0)),
        (Syndrome::Nak(NakCode::PsnSequenceError), 102)
    );
}

// IBA 9.7.5.2.8: no receive WQE -> RNR NAK; the requester waits the
// advertised RNR timer and resends.
#[test]
fn rnr_nak_wait_then_resend() {
    let mut c = cfg();
    c.min_rnr_timer = 14; // 1.28 ms
    let mut p = pair_with(&c);
    p.a.post(&send_wr(1, 10), &[5; 10]);
    p.pump();
    assert_eq!(naks(&p, None), vec![100]);
    assert_eq!(
        p.verdicts,
        vec![(true, Verdict::RnrNak), (false, Verdict::Accepted)]
    );
    assert!(p.a.rec.send_wcs().is_empty());
    let rnr_deadline = p.a.next_deadline().unwrap();
    assert_eq!(rnr_deadline, 1_280_000);
    p.b.post_recv(7, 10);
    // Nothing is resent before the timer.
    assert!(p.a.drain(0).is_empty());
    p.advance();
    p.pump();
    assert_eq!(statuses(&p.a.rec.send_wcs()), vec![(1, WcStatus::Success)]);
    assert_eq!(statuses(&p.b.rec.recv_wcs()), vec![(7, WcStatus::Success)]);
}

/// True for READ response frames (to lose them in a filter).
fn is_read_response(f: &[u8]) -> bool {
    [
        Opcode::RcReadResponseFirst,
        Opcode::RcReadResponseMiddle,
        Opcode::RcReadResponseLast,
        Opcode::RcReadResponseOnly,
    ]
    .iter()
    .any(|op| f[0] == op.as_u8())
}

// IBA 9.7.5.2.8 with 9.7.5: an RNR NAK whose PSN lies beyond a READ whose
// responses were lost (the NAK implicitly NAKs them) still starts the RNR
// wait: the RNR timer is armed, nothing (not even the READ re-request) is
// sent before the advertised RNR time, and it counts against rnr_retry.
#[test]
fn rnr_nak_during_read_rerequest_waits() {
    let mut c = cfg();
    c.min_rnr_timer = 14; // 1.28 ms
    let mut p = pair_with(&c);
    p.a.post(&rdma_wr(1, WrOpcode::RdmaRead, 512, 0), &[]);
    p.a.post(&send_wr(2, 10), &[5; 10]);
    p.pump_filtered(|from_a, _, f| from_a || !is_read_response(f));
    assert_eq!(naks(&p, None), vec![102], "RNR NAK for the SEND");
    assert!(p.a.drain(0).is_empty(), "no resend before the RNR time");
    assert_eq!(p.a.qp.deadline(Timer::Rnr), Some(1_280_000));
    p.b.post_recv(7, 10);
    assert!(p.advance());
    assert_eq!(p.now, 1_280_000);
    p.pump();
    assert_eq!(count(&p, true, Opcode::RcReadRequest), 2);
    assert_eq!(statuses(&p.a.rec.send_wcs()), successes(&[1, 2]));
    assert_eq!(statuses(&p.b.rec.recv_wcs()), vec![(7, WcStatus::Success)]);

    // The same RNR NAKs count against rnr_retry: with 1 RNR retry the
    // second one ends the QP with IB_WC_RNR_RETRY_EXC_ERR.
    c.rnr_retry = 1;
    let mut p = pair_with(&c);
    p.a.post(&rdma_wr(1, WrOpcode::RdmaRead, 512, 0), &[]);
    p.a.post(&send_wr(2, 10), &[5; 10]);
    p.pump_filtered(|from_a, _, f| from_a || !is_read_response(f));
    for _ in 0..20 {
        if !p.advance() {
            break;
        }
        p.pump_filtered(|from_a, _, f| from_a || !is_read_response(f));
    }
    assert_eq!(naks(&p, None), vec![102, 102]);
    let wcs = p.a.rec.send_wcs();
    assert_eq!(
        wcs.iter()
            .find(|w| w.status != WcStatus::WrFlushErr)
            .map(|w| w.status),
        Some(WcStatus::RnrRetryExcErr)
    );
    assert_eq!(p.a.qp.state(), QpState::Error);
}

// IBA 9.7.5.1 / 9.9: a fatal NAK (here remote access error) for a WQE
// behind a READ whose responses were lost reaches the user as the NAKed
// WQE's error completion, then flush; it is not discarded in favour of a
// READ re-request the stopped responder never answers (which would end in
// IB_WC_RETRY_EXC_ERR). The unfinishable READ is flushed ahead of it.
#[test]
fn fatal_nak_behind_lost_read_responses() {
    let mut p = pair();
    p.a.post(&rdma_wr(1, WrOpcode::RdmaRead, 512, 0), &[]);
    let mut bad = rdma_wr(2, WrOpcode::RdmaWrite, 10, 0);
    bad.rkey = RKEY + 1;
    p.a.post(&bad, &[2; 10]);
    p.a.post(&send_wr(3, 10), &[3; 10]);
    p.pump_filtered(|from_a, _, f| from_a || !is_read_response(f));
    assert_eq!(naks(&p, Some(NakCode::RemoteAccessError)), vec![102]);
    p.settle(20);
    assert_eq!(
        statuses(&p.a.rec.send_wcs()),
        vec![
            (1, WcStatus::WrFlushErr),
            (2, WcStatus::RemAccessErr),
            (3, WcStatus::WrFlushErr)
        ]
    );
    assert_eq!(p.a.qp.state(), QpState::Error);
    assert_eq!(p.a.rec.state_changes, vec![QpState::Error]);
    assert_eq!(count(&p, true, Opcode::RcReadRequest), 1, "no READ retry");
}

// IBA 9.7.5.2.8: an RNR NAK that arrives after a READ re-request already
// went out (a gap in its responses started the retry) still rewinds: once
// the RNR time is over, transmission resumes at the first PSN not yet
// acknowledged, so nothing stalls without a timer.
#[test]
fn rnr_nak_after_read_rerequest_resumes() {
    let mut p = pair();
    p.a.post(&rdma_wr(1, WrOpcode::RdmaRead, 512, 0), &[]);
    p.a.post(&send_wr(2, 10), &[5; 10]);
    let batch = p.a.drain(0);
    assert_eq!(p.b.deliver(&batch[0], 0).verdict(), Verdict::Accepted);
    // The SEND waits for the READ responses (IBA 9.5), then is RNR NAKed.
    assert_eq!(p.b.deliver(&batch[1], 0).verdict(), Verdict::Deferred);
    let mut from_b = p.b.drain(0);
    assert_eq!(p.b.deliver(&batch[1], 0).verdict(), Verdict::RnrNak);
    from_b.extend(p.b.drain(0));
    assert_eq!(from_b.len(), 3, "READ responses 100, 101 and RNR NAK 102");
    // Response 100 is lost: 101 starts the READ re-request, which goes out.
    p.a.deliver(&from_b[1], 0);
    let resent = p.a.drain(0);
    assert_eq!(opcode_psn(&resent[0]), (Opcode::RcReadRequest.as_u8(), 100));
    // The RNR NAK of the first flight arrives only now.
    p.a.deliver(&from_b[2], 0);
    for f in resent {
        p.b.deliver(&f, 0);
    }
    for f in p.b.drain(0) {
        p.a.deliver(&f, 0);
    }
    assert_eq!(statuses(&p.a.rec.send_wcs()), vec![(1, WcStatus::Success)]);
    p.b.post_recv(7, 10);
    p.settle(10);
    assert_eq!(statuses(&p.a.rec.send_wcs()), successes(&[1, 2]));
    assert_eq!(statuses(&p.b.rec.recv_wcs()), vec![(7, WcStatus::Success)]);
}

// IBA 9.7.5.2.8: rnr_retry RNR NAKs are retried, then the WQE completes
// with IB_WC_RNR_RETRY_EXC_ERR, the QP enters Error and the rest flushes.
#[test]
fn rnr_retry_exhausted() {
    let mut c = cfg();
    c.rnr_retry = 2;
    let mut p = pair_with(&c);
    p.a.post(&send_wr(1, 10), &[5; 10]);
    p.a.post(&send_wr(2, 10), &[5; 10]);
    p.settle(20);
    assert_eq!(naks(&p, None).len(), 3);
    assert_eq!(
        statuses(&p.a.rec.send_wcs()),
        vec![(1, WcStatus::RnrRetryExcErr), (2, WcStatus::WrFlushErr)]
    );
    assert_eq!(p.a.qp.state(), QpState::Error);
    assert_eq!(p.a.rec.state_changes, vec![QpState::Error]);
}

// IBA 9.7.5.2.8: rnr_retry = 7 retries forever.
#[test]
fn rnr_retry_seven_is_infinite() {
    let mut p = pair();
    p.a.post(&send_wr(1, 10), &[5; 10]);
    p.pump();
    for _ in 0..30 {
        assert!(p.advance());
        p.pump();
    }
    assert_eq!(naks(&p, None).len(), 31);
    p.b.post_recv(1, 10);
    p.settle(5);
    assert_eq!(statuses(&p.a.rec.send_wcs()), vec![(1, WcStatus::Success)]);
}

// IBA 9.7.6.1.3: local ACK timeout -> retransmit from the oldest
// unacknowledged PSN; the duplicate is re-ACKed, not re-executed (C9-105).
#[test]
fn ack_timeout_retransmits_duplicate_reacked() {
    let mut p = pair();
    p.b.post_recv(1, 100);
    p.b.post_recv(2, 100);
    p.a.post(&send_wr(1, 50), &[1; 50]);
    // Lose every ACK of the first round.
    p.pump_filtered(|from_a, _, _| from_a);
    assert!(p.a.rec.send_wcs().is_empty());
    assert_eq!(p.b.rec.recv_wcs().len(), 1);
    assert!(p.advance());
    p.pump();
    assert_eq!(count(&p, true, Opcode::RcSendOnly), 2);
    assert_eq!(statuses(&p.a.rec.send_wcs()), vec![(1, WcStatus::Success)]);
    assert_eq!(
        p.b.rec.recv_wcs().len(),
        1,
        "the duplicate SEND is not executed again"
    );
    assert_eq!(p.verdicts.last(), Some(&(false, Verdict::Accepted)));
    assert!(p.verdicts.contains(&(true, Verdict::Duplicate)));
    assert_eq!(p.b.recv_queue_len(), 1);
}

// IBA 9.7.6.1.3: retry_cnt retransmissions, then IB_WC_RETRY_EXC_ERR and
// flush (IBA 10.3.1).
#[test]
fn retry_exhausted_then_flush() {
    let mut c = cfg();
    c.retry_cnt = 3;
    let mut p = pair_with(&c);
    p.b.post_recv(1, 100);
    p.a.post(&send_wr(1, 50), &[1; 50]);
    p.a.post(&rdma_wr(2, WrOpcode::RdmaWrite, 10, 0), &[2; 10]);
    p.a.post(&rdma_wr(3, WrOpcode::RdmaRead, 10, 0), &[]);
    p.pump_filtered(|from_a, _, _| !from_a);
    for _ in 0..10 {
        if !p.advance() {
            break;
        }
        p.pump_filtered(|from_a, _, _| !from_a);
    }
    assert_eq!(
        count(&p, true, Opcode::RcSendOnly),
        4,
        "1 + retry_cnt transmissions"
    );
    assert_eq!(
        statuses(&p.a.rec.send_wcs()),
        vec![
            (1, WcStatus::RetryExcErr),
            (2, WcStatus::WrFlushErr),
            (3, WcStatus::WrFlushErr)
        ]
    );
    assert_eq!(p.a.qp.state(), QpState::Error);
    assert_eq!(p.a.next_deadline(), None, "timers cancelled");
}

// IBA 9.7.5: a lost READ response: the READ is re-issued for the
// remaining data only, starting at the first missing byte.
#[test]
fn read_retry_from_first_missing_byte() {
    let mut p = pair();
    p.a.post(&rdma_wr(1, WrOpcode::RdmaRead, 256 * 4, 512), &[]);
    let mut dropped = false;
    p.pump_filtered(|from_a, _, f| {
        if !from_a && opcode_psn(f) == (Opcode::RcReadResponseMiddle.as_u8(), 101) && !dropped {
            dropped = true;
            return false;
        }
        true
    });
    let reqs: Vec<(u32, u64, u32)> = p
        .log
        .iter()
        .filter(|(a, f)| *a && f[0] == Opcode::RcReadRequest.as_u8())
        .map(|(_, f)| {
            let pk = parse_frame(f);
            let r = pk.hdr().reth.unwrap();
            (pk.hdr().bth.psn.value(), r.va, r.dma_len)
        })
        .collect();
    assert_eq!(
        reqs,
        vec![(100, VA + 512, 1024), (101, VA + 512 + 256, 768)]
    );
    // The replay starts a new response run: First at PSN 101.
    let replay: Vec<(u8, u32)> = p
        .log
        .iter()
        .filter(|(a, _)| !*a)
        .map(|(_, f)| opcode_psn(f))
        .skip(4)
        .collect();
    assert_eq!(
        replay,
        vec![
            (Opcode::RcReadResponseFirst.as_u8(), 101),
            (Opcode::RcReadResponseMiddle.as_u8(), 102),
            (Opcode::RcReadResponseLast.as_u8(), 103)
        ]
    );
    let wc = p.a.rec.send_wcs();
    assert_eq!(statuses(&wc), vec![(1, WcStatus::Success)]);
    let expect = p.b.mem.region(RKEY).unwrap().buf.data[512..512 + 1024].to_vec();
    p.a.mem.send[wc[0].slot as usize]
        .as_ref()
        .unwrap()
        .check_once(0, &expect)
        .unwrap();
}

// IBA 9.4.4 / 9.7: a lost ATOMIC ACK: the retried atomic is answered
// from the responder resources with the original value, not re-executed.
#[test]
fn atomic_replayed_not_reexecuted() {
    let mut p = pair();
    let mut wr = rdma_wr(1, WrOpcode::FetchAdd, 8, 64);
    wr.compare_add = 5;
    p.a.post(&wr, &[]);
    let orig = u64::from_ne_bytes(
        p.b.mem.region(RKEY).unwrap().buf.data[64..72]
            .try_into()
            .unwrap(),
    );
    p.pump_filtered(|from_a, _, _| from_a);
    assert!(p.advance());
    p.pump();
    assert_eq!(count(&p, false, Opcode::RcAtomicAcknowledge), 2);
    assert_eq!(p.b.mem.atomic_log.len(), 1);
    let wc = p.a.rec.send_wcs();
    assert_eq!(statuses(&wc), vec![(1, WcStatus::Success)]);
    assert_eq!(wc[0].opcode, WcOpcode::FetchAdd);
    let got = &p.a.mem.send[wc[0].slot as usize].as_ref().unwrap().data;
    assert_eq!(got.as_slice(), &orig.to_ne_bytes());
    let now = u64::from_ne_bytes(
        p.b.mem.region(RKEY).unwrap().buf.data[64..72]
            .try_into()
            .unwrap(),
    );
    assert_eq!(now, orig.wrapping_add(5));
}

// IBA 9.7.5.1: ACKs coalesce; one ACK implicitly completes every earlier
// WQE, in order.
#[test]
fn coalesced_ack_completes_in_order() {
    let mut p = pair();
    for i in 0..5 {
        p.b.post_recv(i, 10);
        p.a.post(&send_wr(i, 10), &[i as u8; 10]);
    }
    p.pump();
    assert_eq!(count(&p, false, Opcode::RcAcknowledge), 1);
    assert_eq!(
        statuses(&p.a.rec.send_wcs()),
        (0..5).map(|i| (i, WcStatus::Success)).collect::<Vec<_>>()
    );
}

// Responder ACK coalescing: without AckReq the ACK waits at most
// ack_delay_ns.
#[test]
fn ack_delay_is_bounded() {
    let mut p = pair();
    let data = vec![1u8; 512];
    p.a.post(&rdma_wr(1, WrOpcode::RdmaWrite, 512, 0), &data);
    let f = p.a.drain(0);
    p.b.deliver(&f[0], 0); // First, no AckReq
    assert!(p.b.drain(0).is_empty());
    assert_eq!(p.b.next_deadline(), Some(4_000));
    p.b.fire_timers(4_000);
    let ack = p.b.drain(4_000);
    assert_eq!(ack.len(), 1);
    assert_eq!(opcode_psn(&ack[0]), (Opcode::RcAcknowledge.as_u8(), 100));
}

// IBA 10.7.3.1: unsignaled WQEs complete silently; errors always report.
#[test]
fn unsignaled_and_flush() {
    let mut p = pair();
    p.b.post_recv(1, 10);
    p.b.post_recv(2, 10);
    let mut wr = send_wr(1, 1);
    wr.flags = SendFlags::NONE;
    p.a.post(&wr, &[1]);
    p.a.post(&send_wr(2, 1), &[1]);
    p.a.post(&wr, &[1]);
    p.pump();
    // 1 silent, 2 signaled, 3: RNR pending.
    assert_eq!(statuses(&p.a.rec.send_wcs()), vec![(2, WcStatus::Success)]);
    p.a.modify(&AttrUpdate {
        state: Some(QpState::Error),
        ..AttrUpdate::default()
    })
    .unwrap();
    assert_eq!(
        statuses(&p.a.rec.send_wcs()),
        vec![(2, WcStatus::Success), (1, WcStatus::WrFlushErr)],
        "the pending unsignaled WQE (wr_id 1 reused) flushes"
    );
    // IBA 10.3.1: a post in Error completes with IB_WC_WR_FLUSH_ERR, but
    // only in the next poll_transmit, after post_send returned its slot.
    let slot = p.a.post(&send_wr(4, 1), &[1]);
    assert_eq!(p.a.rec.send_wcs().len(), 2, "not inside post_send");
    assert!(p.a.drain(0).is_empty());
    let wcs = p.a.rec.send_wcs();
    assert_eq!(
        (wcs.len(), wcs[2].wr_id, wcs[2].slot, wcs[2].status),
        (3, 4, slot, WcStatus::WrFlushErr)
    );
    // Receive side flush on error too; posting in Error flushes at once.
    p.a.post_recv(9, 1);
    assert_eq!(
        statuses(&p.a.rec.recv_wcs()),
        vec![(9, WcStatus::WrFlushErr)]
    );
}

// IBA 9.4.2 / 9.9: an R_Key violation -> NAK remote access error;
// the requester completes the WQE with IB_WC_REM_ACCESS_ERR, both QPs end
// in Error.
#[test]
fn rkey_violation_remote_access_error() {
    let mut p = pair();
    p.a.post(
        &rdma_wr(1, WrOpcode::RdmaWrite, 16, (64 << 10) - 8),
        &[0; 16],
    );
    p.a.post(&send_wr(2, 1), &[1]);
    p.pump();
    assert_eq!(naks(&p, Some(NakCode::RemoteAccessError)), vec![100]);
    assert_eq!(p.verdicts[0], (true, Verdict::Dropped(DropReason::RKey)));
    assert_eq!(
        statuses(&p.a.rec.send_wcs()),
        vec![(1, WcStatus::RemAccessErr), (2, WcStatus::WrFlushErr)]
    );
    assert_eq!(p.a.qp.state(), QpState::Error);
    assert_eq!(p.b.qp.state(), QpState::Error);
    assert!(p
        .b
        .mem
        .region(RKEY)
        .unwrap()
        .buf
        .writes
        .iter()
        .all(|&w| w == 0));
}

// A WRITE with immediate beyond its region (found by tests/vm's verbs
// fuzzer): the receive WQE it claimed completes with IB_WC_LOC_ACCESS_ERR
// (the responder's status for a protection error on an RDMA WRITE with
// immediate, IBA 10.8.3), not a flush that hides the cause; the next one
// is flushed; the requester sees IB_WC_REM_ACCESS_ERR.
#[test]
fn write_with_imm_rkey_violation_completes_its_receive_with_local_access_error() {
    let mut p = pair();
    p.b.post_recv(7, 0);
    p.b.post_recv(8, 0);
    let mut wr = rdma_wr(1, WrOpcode::RdmaWriteWithImm, 16, (64 << 10) - 8);
    wr.imm_or_inv = 5;
    p.a.post(&wr, &[0; 16]);
    p.pump();
    assert_eq!(naks(&p, Some(NakCode::RemoteAccessError)), vec![100]);
    assert_eq!(
        statuses(&p.b.rec.recv_wcs()),
        vec![(7, WcStatus::LocAccessErr), (8, WcStatus::WrFlushErr)]
    );
    assert_eq!(
        statuses(&p.a.rec.send_wcs()),
        vec![(1, WcStatus::RemAccessErr)]
    );
    assert_eq!(p.b.qp.state(), QpState::Error);
}

// IBA 9.4: per-opcode length rules (First/Middle exactly the MTU).
#[test]
fn short_middle_packet_is_invalid_request() {
    let mut p = pair();
    p.b.post_recv(1, 4000);
    let r = p.b.inject(
        &PacketHeaders::new(bth(Opcode::RcSendFirst, 0x22, 100)),
        &[0; 256],
    );
    assert_eq!(r, support::Rx::Received(Verdict::Accepted));
    let r = p.b.inject(
        &PacketHeaders::new(bth(Opcode::RcSendMiddle, 0x22, 101)),
        &[0; 100],
    );
    assert_eq!(r.verdict(), Verdict::Dropped(DropReason::Length));
    assert_eq!(
        only_ack(&p.b.drain(0)),
        (Syndrome::Nak(NakCode::InvalidRequest), 101)
    );
    assert_eq!(
        statuses(&p.b.rec.recv_wcs()),
        vec![(1, WcStatus::RemInvReqErr)]
    );
    assert_eq!(p.b.qp.state(), QpState::Error);
}

// IBA 9.7 / 9.9: a Middle packet without a First is an opcode sequence
// error (NAK invalid request).
#[test]
fn middle_without_first_is_invalid_request() {
    let mut p = pair();
    let r = p.b.inject(
        &PacketHeaders::new(bth(Opcode::RcWriteMiddle, 0x22, 100)),
        &[0; 256],
    );
    assert_eq!(r.verdict(), Verdict::Dropped(DropReason::OpcodeSequence));
    assert_eq!(naks(&p, None).len(), 0);
    assert_eq!(
        only_ack(&p.b.drain(0)).0,
        Syndrome::Nak(NakCode::InvalidRequest)
    );
}

// IBA 9.4.4: a misaligned atomic is an invalid request; nothing executes.
#[test]
fn misaligned_atomic_is_invalid_request() {
    let mut p = pair();
    let mut h = PacketHeaders::new(bth(Opcode::RcFetchAdd, 0x22, 100));
    h.atomic_eth = Some(AtomicEth {
        va: VA + 3,
        rkey: RKEY,
        swap_add: 1,
        compare: 0,
    });
    assert_eq!(
        p.b.inject(&h, &[]).verdict(),
        Verdict::Dropped(DropReason::Alignment)
    );
    assert_eq!(
        only_ack(&p.b.drain(0)).0,
        Syndrome::Nak(NakCode::InvalidRequest)
    );
    assert!(p.b.mem.atomic_log.is_empty());
}

// QP access flags: a READ to a QP without remote read rights
// is NAKed.
#[test]
fn qp_access_flags_enforced() {
    let mut p = pair();
    p.b.qp
        .modify(
            &AttrUpdate {
                access: Some(AccessFlags::REMOTE_WRITE),
                ..AttrUpdate::default()
            },
            &mut p.b.rec,
        )
        .unwrap();
    p.a.post(&rdma_wr(1, WrOpcode::RdmaRead, 16, 0), &[]);
    p.pump();
    assert_eq!(naks(&p, Some(NakCode::InvalidRequest)), vec![100]);
    assert_eq!(p.verdicts[0], (true, Verdict::Dropped(DropReason::Access)));
    assert_eq!(
        statuses(&p.a.rec.send_wcs()),
        vec![(1, WcStatus::RemInvReqErr)]
    );
}

// IBA 9.7: a duplicate READ asking for more than the original range is
// not answered (only a subset is replayed).
#[test]
fn duplicate_read_outside_original_is_ignored() {
    let mut p = pair();
    p.a.post(&rdma_wr(1, WrOpcode::RdmaRead, 256, 0), &[]);
    let f = p.a.drain(0);
    p.b.deliver(&f[0], 0);
    assert_eq!(p.b.drain(0).len(), 1);
    let mut h = PacketHeaders::new(bth(Opcode::RcReadRequest, 0x22, 100));
    h.reth = Some(Reth {
        va: VA,
        rkey: RKEY,
        dma_len: 512,
    });
    assert_eq!(
        p.b.inject(&h, &[]).verdict(),
        Verdict::Dropped(DropReason::UnknownDuplicate)
    );
    assert!(p.b.drain(0).is_empty(), "larger range: dropped");
    h.reth = Some(Reth {
        va: VA,
        rkey: RKEY,
        dma_len: 256,
    });
    assert_eq!(p.b.inject(&h, &[]).verdict(), Verdict::Duplicate);
    assert_eq!(p.b.drain(0).len(), 1, "same range: replayed");
}

/// (opcode, PSN, payload) of every frame in `frames`.
fn shapes(frames: &[Vec<u8>]) -> Vec<(Opcode, u32, Vec<u8>)> {
    frames
        .iter()
        .map(|f| {
            let pk = parse_frame(f);
            (
                pk.hdr().bth.opcode,
                pk.hdr().bth.psn.value(),
                pk.payload().to_vec(),
            )
        })
        .collect()
}

// IBA 9.7.5.2 (C9-105 ff.): a duplicate READ that asks for a subset of an
// earlier READ (starting later, ending earlier) is answered for exactly its
// own range: its PSN, VA and DMA length, as a response run of its own
// (First/Only first), never the stored original's tail.
#[test]
fn duplicate_read_subset_answers_its_own_range() {
    let mut p = pair();
    p.a.post(&rdma_wr(1, WrOpcode::RdmaRead, 256 * 4, 0), &[]);
    let f = p.a.drain(0);
    p.b.deliver(&f[0], 0);
    assert_eq!(p.b.drain(0).len(), 4, "original responses, PSN 100..=103");
    let data = p.b.mem.region(RKEY).unwrap().buf.data.clone();
    let mut h = PacketHeaders::new(bth(Opcode::RcReadRequest, 0x22, 101));
    h.reth = Some(Reth {
        va: VA + 256,
        rkey: RKEY,
        dma_len: 256,
    });
    p.b.inject(&h, &[]);
    assert_eq!(
        shapes(&p.b.drain(0)),
        vec![(Opcode::RcReadResponseOnly, 101, data[256..512].to_vec())]
    );
    h.bth.psn = rvt_proto::psn::Psn::new(102);
    h.reth = Some(Reth {
        va: VA + 512,
        rkey: RKEY,
        dma_len: 300,
    });
    p.b.inject(&h, &[]);
    assert_eq!(
        shapes(&p.b.drain(0)),
        vec![
            (Opcode::RcReadResponseFirst, 102, data[512..768].to_vec()),
            (Opcode::RcReadResponseLast, 103, data[768..812].to_vec()),
        ]
    );
}

// IBA 9.9.3: a SEND longer than the receive buffer: Local Length Error at
// the responder, NAK invalid request, IB_WC_REM_INV_REQ_ERR at the
// requester.
#[test]
fn receive_buffer_too_small() {
    let mut p = pair();
    p.b.post_recv(1, 10);
    p.a.post(&send_wr(1, 11), &[0; 11]);
    p.pump();
    assert_eq!(
        p.verdicts[0],
        (true, Verdict::Dropped(DropReason::ReceiveTooSmall))
    );
    assert_eq!(
        statuses(&p.b.rec.recv_wcs()),
        vec![(1, WcStatus::LocLenErr)]
    );
    assert_eq!(
        statuses(&p.a.rec.send_wcs()),
        vec![(1, WcStatus::RemInvReqErr)]
    );
}

// IBA 9.4.1: SEND with Invalidate: the R_Key is invalidated and reported
// in the receive completion.
#[test]
fn send_with_invalidate() {
    let mut p = pair();
    p.b.post_recv(1, 10);
    let mut wr = send_wr(1, 4);
    wr.opcode = WrOpcode::SendWithInv;
    wr.imm_or_inv = RKEY;
    p.a.post(&wr, &[1, 2, 3, 4]);
    p.pump();
    let wc = p.b.rec.recv_wcs();
    assert_eq!(
        (wc[0].status, wc[0].flags, wc[0].ex),
        (WcStatus::Success, WcFlags::WITH_INVALIDATE, RKEY)
    );
    assert_eq!(p.b.mem.invalidated, vec![RKEY]);
    assert_eq!(wc[0].queue, Queue::Recv);
}

// IBA 9.7.1: PSNs wrap modulo 2^24.
#[test]
fn psn_wraps_around() {
    let mut c = cfg();
    c.sq_psn = 0xff_fffe;
    let mut p = pair_with(&c);
    let data = Rng::new(5).bytes(256 * 5);
    p.b.post_recv(1, 2000);
    p.a.post(&send_wr(1, data.len() as u32), &data);
    let mut dropped = false;
    p.pump_filtered(|from_a, _, f| {
        if from_a && opcode_psn(f).1 == 0 && !dropped {
            dropped = true;
            return false;
        }
        true
    });
    let psns: Vec<u32> = p
        .log
        .iter()
        .filter(|(a, _)| *a)
        .map(|(_, f)| opcode_psn(f).1)
        .collect();
    assert_eq!(psns, vec![0xff_fffe, 0xff_ffff, 0, 1, 2, 0, 1, 2]);
    assert_eq!(statuses(&p.a.rec.send_wcs()), vec![(1, WcStatus::Success)]);
}

// IBA 9.7.5: responses outside the outstanding PSN window ("ghosts")
// are ignored.
#[test]
fn ghost_ack_ignored() {
    let mut p = pair();
    p.b.post_recv(1, 10);
    p.a.post(&send_wr(1, 1), &[1]);
    let f = p.a.drain(0);
    let mut h = PacketHeaders::new(bth(Opcode::RcAcknowledge, 0x11, 500));
    h.aeth = Some(rvt_proto::headers::Aeth {
        syndrome: Syndrome::ACK_NO_CREDITS.encode(),
        msn: 1,
    });
    assert_eq!(
        p.a.inject(&h, &[]).verdict(),
        Verdict::Dropped(DropReason::UnexpectedResponse)
    );
    assert!(p.a.rec.send_wcs().is_empty());
    p.b.deliver(&f[0], 0);
    p.pump();
    assert_eq!(statuses(&p.a.rec.send_wcs()), vec![(1, WcStatus::Success)]);
}

// IBA 9.4.2 / 9.4.3: a zero-length RDMA WRITE and READ need no valid R_Key.
#[test]
fn zero_length_rdma() {
    let mut p = pair();
    let mut w = rdma_wr(1, WrOpcode::RdmaWrite, 0, 0);
    w.rkey = 0xbad;
    let mut r = rdma_wr(2, WrOpcode::RdmaRead, 0, 0);
    r.rkey = 0xbad;
    p.a.post(&w, &[]);
    p.a.post(&r, &[]);
    p.pump();
    assert_eq!(statuses(&p.a.rec.send_wcs()), successes(&[1, 2]));
}

// Timers as one mechanism (IBA 9.7.5.2.8 RNR wait, 9.7.6.1.3 local ACK
// timeout): the engine owns its deadlines. poll_timeout() is always the
// earliest armed one; a served deadline is never left armed, an early
// handle_timeout changes nothing, and the resend after the RNR wait arms the
// local ACK timeout, visible through poll_timeout() at once.
#[test]
fn timers_are_one_mechanism_owned_by_the_engine() {
    let mut c = cfg();
    c.min_rnr_timer = 14; // 1.28 ms
    c.timeout = 14; // 4.096 us * 2^14 = 67.1 ms
    let mut p = pair_with(&c);
    p.a.post(&send_wr(1, 10), &[5; 10]);
    p.pump();
    assert_eq!(naks(&p, None), vec![100], "RNR NAK for the SEND");
    assert_eq!(
        p.a.qp.deadline(Timer::Retransmit),
        None,
        "RTO stops in the wait"
    );
    assert_eq!(p.a.qp.poll_timeout(), Some(1_280_000));

    p.a.qp.handle_timeout(1_279_999, &mut p.a.rec);
    assert_eq!(
        p.a.qp.poll_timeout(),
        Some(1_280_000),
        "early call: unchanged"
    );
    assert!(p.a.drain(1_279_999).is_empty(), "still waiting");

    p.b.post_recv(7, 10);
    p.now = 1_280_000;
    p.a.qp.handle_timeout(p.now, &mut p.a.rec);
    assert_eq!(
        p.a.qp.deadline(Timer::Rnr),
        None,
        "the served RNR deadline is gone"
    );
    assert_eq!(
        p.a.qp.poll_timeout(),
        None,
        "nothing armed before the resend"
    );
    let resend = p.a.drain(p.now);
    assert_eq!(resend.len(), 1);
    let rto = 1_280_000 + 4_096 * (1 << 14);
    assert_eq!(p.a.qp.poll_timeout(), Some(rto), "the resend armed the RTO");
    p.a.qp.handle_timeout(p.now, &mut p.a.rec);
    assert_eq!(
        p.a.qp.poll_timeout(),
        Some(rto),
        "a repeated call changes nothing"
    );
    assert_eq!(p.b.deliver(&resend[0], p.now).verdict(), Verdict::Accepted);
    p.pump();
    assert_eq!(statuses(&p.a.rec.send_wcs()), vec![(1, WcStatus::Success)]);
    assert_eq!(p.a.qp.poll_timeout(), None, "acknowledged: nothing armed");
}

/// An SRQ of `n` WQEs of `len` bytes, slots 0.., with receive buffers in
/// both responders `b1`, `b2` (the SRQ's buffers, reachable from either).
fn srq_for(n: u32, len: u32, nodes: [&mut support::Node<16, 16, 4>; 2]) -> support::Srq {
    let mut srq = support::Srq::default();
    for slot in 0..n {
        srq.queue.push_back(RecvWqe {
            wr_id: 100 + u64::from(slot),
            slot,
            len,
        });
    }
    for node in nodes {
        for slot in 0..n as usize {
            node.mem.recv[slot] = Some(support::Buf::zeroed(len as usize));
        }
    }
    srq
}

/// Delivers every frame `from` has to send to `to`, taking receive WQEs from
/// `srq`, and the answers back.
fn pump_srq(
    from: &mut support::Node<16, 16, 4>,
    to: &mut support::Node<16, 16, 4>,
    srq: &mut support::Srq,
) {
    loop {
        let frames = from.drain(0);
        let answers = to.drain(0);
        if frames.is_empty() && answers.is_empty() {
            return;
        }
        for f in frames {
            let _ = to.deliver_srq(&f, 0, srq);
        }
        for f in answers {
            let _ = from.deliver(&f, 0);
        }
    }
}

// IBA 10.2.9 / 11.2.3 shared receive queues: one receive queue serves two
// QPs through the RecvQueue trait. WQEs are taken in order and only when a
// message needs one (a multi-packet SEND takes one WQE, an RDMA WRITE
// without immediate none), each completion names the SRQ slot it used, and
// the caller's SRQ raises its limit event from take_recv.
#[test]
fn srq_serves_two_qps_through_the_recv_queue_trait() {
    let (mut a1, mut b1) = support::connect::<16, 16, 4>(QpType::Rc, &cfg());
    let (mut a2, mut b2) = support::connect::<16, 16, 4>(QpType::Rc, &cfg());
    b2.mem
        .add_region(RKEY, VA, vec![0; 4096], AccessFlags::ALL_REMOTE);
    let mut srq = srq_for(3, 1000, [&mut b1, &mut b2]);
    srq.limit = Some(2);
    a1.post(&send_wr(1, 600), &[1; 600]); // 3 packets at MTU 256
    pump_srq(&mut a1, &mut b1, &mut srq);
    assert_eq!(srq.queue.len(), 2, "one WQE for a three-packet SEND");
    assert_eq!(srq.limit_events, 0);
    a2.post(&rdma_wr(2, WrOpcode::RdmaWrite, 300, 0), &[2; 300]);
    pump_srq(&mut a2, &mut b2, &mut srq);
    assert_eq!(srq.queue.len(), 2, "an RDMA WRITE takes no WQE");
    a2.post(&send_wr(3, 10), &[3; 10]);
    pump_srq(&mut a2, &mut b2, &mut srq);
    assert_eq!(srq.queue.len(), 1);
    assert_eq!(srq.limit_events, 1, "below the limit: the caller's event");
    let wc1 = b1.rec.recv_wcs();
    let wc2 = b2.rec.recv_wcs();
    assert_eq!(
        (wc1.len(), wc1[0].wr_id, wc1[0].slot, wc1[0].byte_len),
        (1, 100, 0, 600)
    );
    assert_eq!(
        (wc2.len(), wc2[0].wr_id, wc2[0].slot, wc2[0].byte_len),
        (1, 101, 1, 10)
    );
    recv_buf(&b1, &wc1[0]).check_once(0, &[1; 600]).unwrap();
    recv_buf(&b2, &wc2[0]).check_once(0, &[3; 10]).unwrap();
    assert_eq!(
        statuses(&a1.rec.send_wcs())
            .into_iter()
            .chain(statuses(&a2.rec.send_wcs()))
            .collect::<Vec<_>>(),
        successes(&[1, 2, 3])
    );
}

// IBA 10.3.1 / 11.4: when an SRQ QP enters Error only the receive WQE it
// holds (the SEND in progress) completes with IB_WC_WR_FLUSH_ERR; the WQEs
// still in the SRQ stay for the other QPs. Reset also flushes a held WQE:
// it is never lost without a completion.
#[test]
fn srq_qp_error_flushes_only_the_wqe_it_holds() {
    for to in [QpState::Error, QpState::Reset] {
        let (mut a, mut b) = support::connect::<16, 16, 4>(QpType::Rc, &cfg());
        let (_, mut other) = support::connect::<16, 16, 4>(QpType::Rc, &cfg());
        let mut srq = srq_for(3, 1000, [&mut b, &mut other]);
        a.post(&send_wr(1, 600), &[1; 600]);
        let frames = a.drain(0);
        assert_eq!(
            b.deliver_srq(&frames[0], 0, &mut srq).verdict(),
            Verdict::Accepted,
            "SEND First takes a WQE"
        );
        assert_eq!(srq.queue.len(), 2);
        b.qp.modify(
            &AttrUpdate {
                state: Some(to),
                ..AttrUpdate::default()
            },
            &mut b.rec,
        )
        .unwrap();
        assert_eq!(
            statuses(&b.rec.recv_wcs()),
            vec![(100, WcStatus::WrFlushErr)],
            "{to:?}: the held WQE flushes"
        );
        assert_eq!(srq.queue.len(), 2, "{to:?}: the SRQ keeps the rest");
    }
}

// ib_query_qp (IBA 11.2.5.3) reports the live state, not the attributes
// last set: the send PSN after a 3-packet SEND and a 2-PSN READ (IBA 9.7.1),
// the peer's expected PSN, the READ in flight and the responses owed for
// it, and whether the send queue is drained.
#[test]
fn query_reports_live_psns_counts_and_drain() {
    let mut p = pair();
    let idle = p.a.qp.status();
    assert_eq!((idle.send_psn, idle.sq_drained), (100, true));
    assert_eq!(p.b.qp.status().expected_psn, 100);
    p.b.post_recv(1, 1000);
    p.a.post(&send_wr(1, 600), &[1; 600]);
    p.a.post(&rdma_wr(2, WrOpcode::RdmaRead, 512, 0), &[]);
    for f in p.a.drain(0) {
        let _ = p.b.deliver(&f, 0);
    }
    let a = p.a.qp.status();
    assert_eq!(a.send_psn, 105, "3 SEND packets + 2 READ response PSNs");
    assert_eq!(a.rd_atomic_in_flight, 1);
    assert!(!a.sq_drained);
    assert_eq!(p.a.qp.attrs().sq_psn, 100, "attrs keep the value set");
    let b = p.b.qp.status();
    assert_eq!((b.expected_psn, b.responses_owed), (105, 1));
    assert_eq!(b.state, QpState::Rts);
    p.pump();
    assert_eq!(p.b.qp.status().responses_owed, 0);
    let a = p.a.qp.status();
    assert_eq!(
        (a.send_psn, a.rd_atomic_in_flight, a.sq_drained),
        (105, 0, true)
    );
    assert_eq!(statuses(&p.a.rec.send_wcs()), successes(&[1, 2]));
}

// IBA 10.3.1 (SQD, the send queue drain): moved to SQD with a 3-packet
// SEND started, the QP finishes that message (its ACK completes it) and
// starts none of the WQEs behind it, posted before or during SQD;
// status() reports the drain; back in RTS the rest go out in order.
#[test]
fn sqd_finishes_the_started_message_and_starts_no_other() {
    // No credits: without SQD every WQE would go out at once.
    let mut p = pair_with(&LinkCfg {
        flow_control: false,
        ..cfg()
    });
    for id in 1..=3 {
        p.b.post_recv(id, 1000);
    }
    p.a.post(&send_wr(1, 600), &[1; 600]);
    p.a.post(&send_wr(2, 100), &[2; 100]);
    let first = p.a.transmit(0).expect("the first packet of SEND 1");
    let sqd = AttrUpdate {
        state: Some(QpState::Sqd),
        ..Default::default()
    };
    p.a.modify(&sqd).unwrap();
    p.a.post(&send_wr(3, 100), &[3; 100]);
    assert!(!p.a.qp.status().sq_drained, "SEND 1 is in flight");
    let rest = p.a.drain(0);
    assert_eq!(rest.len(), 2, "only the rest of SEND 1 goes out");
    for f in [first].iter().chain(&rest) {
        let _ = p.b.deliver(f, 0);
    }
    p.pump();
    assert_eq!(statuses(&p.a.rec.send_wcs()), vec![(1, WcStatus::Success)]);
    let status = p.a.qp.status();
    assert!(status.sq_drained && status.state == QpState::Sqd, "drained");
    assert!(p.a.drain(1).is_empty(), "SQD starts nothing");
    let rts = AttrUpdate {
        state: Some(QpState::Rts),
        ..Default::default()
    };
    p.a.modify(&rts).unwrap();
    p.pump();
    assert_eq!(statuses(&p.a.rec.send_wcs()), successes(&[1, 2, 3]));
    assert_eq!(statuses(&p.b.rec.recv_wcs()), successes(&[1, 2, 3]));
}

// Transmit back-pressure (issue 6; DESIGN.md section 6: retried promptly,
// never left to the ACK timeout): every packet the device refuses is handed
// back and produced again, byte for byte, by the next poll_transmit, for
// requests (a 3-packet SEND, a READ) and READ responses alike; the exchange
// completes without any timer firing.
#[test]
fn handed_back_packet_is_produced_again_at_once() {
    let mut p = pair();
    p.b.post_recv(1, 1000);
    p.a.post(&send_wr(1, 600), &[1; 600]);
    p.a.post(&rdma_wr(2, WrOpcode::RdmaRead, 700, 0), &[]);
    let mut refused = 0;
    loop {
        let mut moved = false;
        for from_a in [true, false] {
            let (tx, rx) = if from_a {
                (&mut p.a, &mut p.b)
            } else {
                (&mut p.b, &mut p.a)
            };
            while let Some(first) = tx.transmit_refused(0) {
                refused += 1;
                let again = tx.transmit(0).expect("the handed-back packet");
                assert_eq!(first, again, "the same packet again");
                assert_eq!(rx.deliver(&again, 0).verdict(), Verdict::Accepted);
                moved = true;
            }
        }
        if !moved {
            break;
        }
    }
    // 3 SEND + 1 READ request; 3 READ responses (they acknowledge the SEND).
    assert_eq!(refused, 7);
    assert_eq!(p.now, 0);
    assert_eq!(statuses(&p.a.rec.send_wcs()), successes(&[1, 2]));
    p.a.mem.send[1]
        .as_ref()
        .unwrap()
        .check_once(0, &p.b.mem.region(RKEY).unwrap().buf.data[..700])
        .unwrap();
}

// IBA 10.7.3.1 with an explicit slot lifetime: an unsignaled send WQE that
// succeeds reports no completion, but its slot is released to the caller
// (Sink::send_slot_released) before a later post_send can hand the same
// slot out again, so the caller never overwrites an SGE list it still
// holds.
#[test]
fn unsignaled_wqe_releases_its_slot_before_reuse() {
    let mut p: Pair<2, 16, 4> = Pair::new(QpType::Rc, &cfg());
    let mut wr = send_wr(1, 1);
    wr.flags = SendFlags::NONE;
    for _ in 0..2 {
        p.b.post_recv(1, 10);
    }
    let s1 = p.a.post(&wr, &[1]);
    p.a.post(&send_wr(2, 1), &[1]);
    assert_eq!(
        p.a.qp.post_send(&send_wr(3, 1), &mut p.a.rec),
        Err(rvt_proto::engine::PostError::QueueFull)
    );
    p.pump();
    assert_eq!(p.a.rec.released, vec![(s1, 1)], "released, not completed");
    assert_eq!(statuses(&p.a.rec.send_wcs()), vec![(2, WcStatus::Success)]);
    let again = p.a.post(&send_wr(3, 1), &[1]);
    assert_eq!(again, s1, "the released slot is the one reused");
}

// IBA 9.5 ordering under batched receives: requests execute in PSN order.
// A READ's response payload is copied when the caller transmits it, so a
// later WRITE to the same bytes that arrives in the same receive batch
// (before the caller drained poll_transmit) must not execute first: it is
// deferred (nothing changes, no NAK) until the READ responses are out, then
// delivered again; the READ returns the bytes as they were before the WRITE.
#[test]
fn write_behind_owed_read_responses_is_deferred() {
    let mut p = pair();
    let before = p.b.mem.region(RKEY).unwrap().buf.data[..600].to_vec();
    p.a.post(&rdma_wr(1, WrOpcode::RdmaRead, 600, 0), &[]);
    p.a.post(&rdma_wr(2, WrOpcode::RdmaWrite, 300, 100), &[9; 300]);
    let batch = p.a.drain(0);
    assert_eq!(batch.len(), 3, "READ request + 2 WRITE packets");
    assert_eq!(p.b.deliver(&batch[0], 0).verdict(), Verdict::Accepted);
    assert_eq!(p.b.deliver(&batch[1], 0).verdict(), Verdict::Deferred);
    assert_eq!(p.b.qp.status().expected_psn, 103, "nothing executed");
    assert_eq!(p.b.mem.region(RKEY).unwrap().buf.data[..600], before[..]);
    let responses = p.b.drain(0);
    assert_eq!(responses.len(), 3, "3 READ responses, no NAK");
    for f in &batch[1..] {
        assert_eq!(p.b.deliver(f, 0).verdict(), Verdict::Accepted);
    }
    for f in &responses {
        assert_eq!(p.a.deliver(f, 0).verdict(), Verdict::Accepted);
    }
    p.pump();
    assert_eq!(statuses(&p.a.rec.send_wcs()), successes(&[1, 2]));
    send_buf(&p.a, 0).check_once(0, &before).unwrap();
    assert_eq!(p.b.mem.region(RKEY).unwrap().buf.data[100..400], [9; 300]);
}

// IBA 9.5 / 9.7.5.2: a duplicate atomic (its ATOMIC ACK was lost) is
// answered with that ATOMIC ACK only. The READ behind it, whose responses
// all went out, is not sent again unasked: a later WRITE has changed its
// bytes since, and the requester would take them for the READ's (found by
// seed 2002588 of tests/sim.rs's rc-bidi).
#[test]
fn duplicate_atomic_replays_no_later_read() {
    let mut p = pair();
    let mut fetch_add = rdma_wr(1, WrOpcode::FetchAdd, 8, 1024);
    fetch_add.compare_add = 1;
    p.a.post(&fetch_add, &[]);
    p.a.post(&rdma_wr(2, WrOpcode::RdmaRead, 600, 0), &[]);
    p.a.post(&rdma_wr(3, WrOpcode::RdmaWrite, 300, 100), &[9; 300]);
    let batch = p.a.drain(0);
    assert_eq!(batch.len(), 4, "atomic, READ request, 2 WRITE packets");
    for f in &batch[..2] {
        assert_eq!(p.b.deliver(f, 0).verdict(), Verdict::Accepted);
    }
    let responses = p.b.drain(0);
    assert_eq!(responses.len(), 4, "ATOMIC ACK and 3 READ responses");
    for f in &batch[2..] {
        assert_eq!(p.b.deliver(f, 0).verdict(), Verdict::Accepted);
    }
    p.b.drain(0);
    assert_eq!(p.b.deliver(&batch[0], 0).verdict(), Verdict::Duplicate);
    let replay = p.b.drain(0);
    assert_eq!(replay.len(), 1, "the ATOMIC ACK only");
    assert_eq!(replay[0][0], Opcode::RcAtomicAcknowledge.as_u8());
    // The first ATOMIC ACK was lost: the requester asks again from there,
    // and everything completes with the atomic executed once.
    for f in &responses[1..] {
        p.a.deliver(f, 0);
    }
    p.pump();
    assert_eq!(statuses(&p.a.rec.send_wcs()), successes(&[1, 2, 3]));
    assert_eq!(p.b.mem.atomic_log.len(), 1);
}

// IBA 9.7.1: of the PSN space, the half behind the expected PSN holds the
// duplicates, and the PSN exactly 2^23 away is one of them: a SEND there
// is acknowledged again, not executed (no receive WQE is taken).
#[test]
fn psn_half_the_space_away_is_a_duplicate() {
    let mut p = pair();
    p.b.post_recv(1, 64);
    let r = p.b.inject(
        &PacketHeaders::new(bth(Opcode::RcSendOnly, 0x22, 100 + (1 << 23))),
        &[7; 16],
    );
    assert_eq!(r.verdict(), Verdict::Duplicate);
    assert_eq!(p.b.qp.status().expected_psn, 100);
    assert!(p.b.rec.recv_wcs().is_empty(), "no receive WQE consumed");
}

/// The local buffer of send slot `slot`.
fn send_buf(n: &support::Node<16, 16, 4>, slot: usize) -> &support::Buf {
    n.mem.send[slot].as_ref().unwrap()
}
