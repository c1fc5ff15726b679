//! End-to-end flow control (IBA vol. 1, 9.7.7.2): the AETH credit field of
//! the responder's ACKs, and the requester that honours it, one rule per
//! test; and a slow receiver that never sees an RNR NAK with credits on.

mod support;

use rvt_proto::aeth::{credit_count, Syndrome, CREDITS_INVALID};
use rvt_proto::engine::{AttrUpdate, Mtu, QpType, SendWr, Verdict, WcStatus, WrOpcode};
use rvt_proto::opcode::Opcode;
use support::{parse_frame, LinkCfg, Pair, Srq};

type P = Pair<32, 32, 4>;

fn cfg() -> LinkCfg {
    LinkCfg {
        mtu: Mtu::M256,
        ack_req_interval: 0,
        sq_psn: 100,
        ..LinkCfg::default()
    }
}

/// A connected RC pair, with end-to-end flow control on both sides if
/// `credits`.
fn pair(credits: bool) -> P {
    let mut p = P::new(QpType::Rc, &cfg());
    for n in [&mut p.a, &mut p.b] {
        n.modify(&AttrUpdate {
            flow_control: Some(credits),
            ..AttrUpdate::default()
        })
        .unwrap();
    }
    p
}

fn send_wr(id: u64, op: WrOpcode, len: u32) -> SendWr {
    let mut wr = SendWr::new(id, op);
    wr.len = len;
    wr.rkey = 0x42;
    wr.remote_va = 0x1000;
    wr
}

/// The credit codes of the ACKs B sent (frames of the log from B).
fn ack_codes(p: &P) -> Vec<u8> {
    p.log
        .iter()
        .filter(|(from_a, f)| !*from_a && f[0] == Opcode::RcAcknowledge as u8)
        .filter_map(|(_, f)| {
            let aeth = parse_frame(f).aeth()?;
            match Syndrome::decode(aeth.syndrome) {
                Ok(Syndrome::Ack { credit_code }) => Some(credit_code),
                _ => None,
            }
        })
        .collect()
}

/// Request packets A sent.
fn requests(p: &P) -> usize {
    p.log.iter().filter(|(from_a, _)| *from_a).count()
}

/// RNR NAKs B sent (its verdicts on A's frames).
fn rnr_naks(p: &P) -> usize {
    p.verdicts
        .iter()
        .filter(|(from_a, v)| *from_a && *v == Verdict::RnrNak)
        .count()
}

fn ok_sends(p: &P) -> usize {
    p.a.rec
        .send_wcs()
        .iter()
        .filter(|wc| wc.status == WcStatus::Success)
        .count()
}

// IBA 9.7.7.2: with flow control, the responder's ACK carries the credit
// code of the receive WQEs still available (Table 44, rounded down: 5
// WQEs, one consumed, leaves 4 = code 4; then 3 = code 3).
#[test]
fn iba_9_7_7_2_ack_advertises_the_receive_queue() {
    let mut p = pair(true);
    for i in 0..5 {
        p.b.post_recv(i, 256);
    }
    p.a.post(&send_wr(1, WrOpcode::Send, 10), &[1; 10]);
    p.pump();
    p.a.post(&send_wr(2, WrOpcode::Send, 10), &[2; 10]);
    p.pump();
    assert_eq!(ack_codes(&p), vec![4, 3]);
    assert_eq!(credit_count(4), Some(4));
}

// IBA 9.7.7.2: without flow control (the default) ACKs carry code 31, "no
// credit count", as before.
#[test]
fn iba_9_7_7_2_flow_control_off_advertises_invalid_code() {
    let mut p = pair(false);
    p.b.post_recv(1, 256);
    p.a.post(&send_wr(1, WrOpcode::Send, 10), &[1; 10]);
    p.pump();
    assert_eq!(ack_codes(&p), vec![CREDITS_INVALID]);
}

// IBA 9.7.7.2: QPs on a shared receive queue are exempt: a RecvQueue that
// reports no count (the default `available`, an SRQ) advertises code 31.
#[test]
fn iba_9_7_7_2_srq_advertises_invalid_code() {
    let mut p = pair(true);
    let mut srq = Srq::default();
    p.b.mem.recv[0] = Some(support::Buf::zeroed(256));
    srq.queue.push_back(rvt_proto::engine::RecvWqe {
        wr_id: 9,
        slot: 0,
        len: 256,
    });
    p.a.post(&send_wr(1, WrOpcode::Send, 10), &[1; 10]);
    let f = p.a.drain(0).remove(0);
    let rx = p.b.deliver_srq(&f, 0, &mut srq);
    assert_eq!(rx, support::Rx::Received(Verdict::Accepted));
    let ack = p.b.drain(0).remove(0);
    let aeth = parse_frame(&ack).aeth().unwrap();
    assert_eq!(
        Syndrome::decode(aeth.syndrome),
        Ok(Syndrome::ACK_NO_CREDITS)
    );
}

// IBA 9.7.7.2: the requester starts a SEND only within the advertised
// credits (MSN + credits); the rest wait, without RNR NAKs, until a credit
// update (the ACK the responder sends when its queue refills) lets them go.
#[test]
fn iba_9_7_7_2_requester_stops_at_the_credit_limit_and_resumes() {
    let mut p = pair(true);
    for i in 0..2 {
        p.b.post_recv(i, 256);
    }
    for i in 0..5 {
        p.a.post(&send_wr(i, WrOpcode::Send, 10), &[1; 10]);
    }
    p.pump();
    assert_eq!(ok_sends(&p), 2);
    assert_eq!(requests(&p), 2);
    for i in 2..5 {
        p.b.post_recv(i, 256);
    }
    p.pump();
    assert_eq!(ok_sends(&p), 5);
    assert_eq!(requests(&p), 5);
    assert_eq!(rnr_naks(&p), 0);
}

// IBA 9.7.7.2: credits limit the messages that consume a receive WQE (SEND,
// RDMA WRITE with immediate); a plain RDMA WRITE, READ or atomic is never
// held back by them.
#[test]
fn iba_9_7_7_2_credits_limit_write_with_immediate_not_write() {
    let mut p = pair(true);
    p.b.mem.add_region(
        0x42,
        0x1000,
        vec![0; 4096],
        rvt_proto::engine::AccessFlags::ALL_REMOTE,
    );
    p.b.post_recv(0, 256);
    // The first message learns the credits (one WQE: code 0 after it).
    p.a.post(&send_wr(1, WrOpcode::Send, 10), &[1; 10]);
    p.pump();
    assert_eq!(ok_sends(&p), 1);
    p.a.post(&send_wr(2, WrOpcode::RdmaWriteWithImm, 10), &[2; 10]);
    p.a.post(&send_wr(3, WrOpcode::RdmaWrite, 10), &[3; 10]);
    p.pump();
    // Completions are in order, so the WRITE waits behind the WRITE_IMM,
    // but nothing of the WRITE_IMM went out; nor may it be skipped.
    assert_eq!(ok_sends(&p), 1);
    assert_eq!(requests(&p), 1);
    // A plain WRITE on its own goes without credits.
    let mut q = pair(true);
    q.b.mem.add_region(
        0x42,
        0x1000,
        vec![0; 4096],
        rvt_proto::engine::AccessFlags::ALL_REMOTE,
    );
    q.b.post_recv(0, 256);
    q.a.post(&send_wr(1, WrOpcode::Send, 10), &[1; 10]);
    q.a.post(&send_wr(2, WrOpcode::RdmaWrite, 10), &[3; 10]);
    q.a.post(&send_wr(3, WrOpcode::RdmaWrite, 300), &[3; 300]);
    q.pump();
    assert_eq!(ok_sends(&q), 3);
    p.b.post_recv(1, 256);
    p.pump();
    assert_eq!(ok_sends(&p), 3);
    assert_eq!(rnr_naks(&p), 0);
}

// IBA 9.7.7.2.5: with no credits and nothing outstanding, the requester
// sends one packet, the limited-ACK probe with AckReq set, only after the
// local ACK timeout without a credit update (here the update was lost), and
// the probe's ACK brings the credits: a multi-packet SEND then continues.
#[test]
fn iba_9_7_7_2_5_probe_after_a_lost_credit_update() {
    let mut p = pair(true);
    p.b.post_recv(0, 256);
    p.a.post(&send_wr(1, WrOpcode::Send, 10), &[1; 10]);
    p.pump();
    assert_eq!(ok_sends(&p), 1);
    p.a.post(&send_wr(2, WrOpcode::Send, 3 * 256), &[2; 3 * 256]);
    p.pump();
    assert_eq!(requests(&p), 1, "no credit: the SEND waits");
    // B's queue refills; its credit update is lost.
    p.b.post_recv(1, 1024);
    let lost = p.b.drain(p.now);
    assert_eq!(lost.len(), 1, "one credit update ACK");
    p.pump();
    assert_eq!(requests(&p), 1);
    // The local ACK timeout: exactly one probe packet (First, AckReq).
    let deadline = p.a.next_deadline().expect("probe timer armed");
    p.now = deadline;
    p.a.fire_timers(p.now);
    let probe = p.a.drain(p.now);
    assert_eq!(probe.len(), 1, "one packet");
    let pkt = parse_frame(&probe[0]);
    assert_eq!(pkt.bth().opcode, Opcode::RcSendFirst);
    assert!(pkt.bth().ack_req);
    p.b.deliver(&probe[0], p.now);
    p.pump();
    assert_eq!(ok_sends(&p), 2);
    assert_eq!(rnr_naks(&p), 0);
}

// IBA 9.7.7.2.5: a probe the responder cannot take (no receive WQE) is RNR
// NAKed and retried after the RNR time like any request; it is one packet
// each time, and the message completes once a WQE is there.
#[test]
fn iba_9_7_7_2_5_probe_without_wqe_is_rnr_naked_once() {
    let mut p = pair(true);
    p.a.post(&send_wr(1, WrOpcode::Send, 3 * 256), &[1; 3 * 256]);
    // No credits known yet: the first packet goes as the probe at once.
    p.pump();
    assert_eq!(requests(&p), 1);
    assert_eq!(rnr_naks(&p), 1);
    p.b.post_recv(0, 1024);
    p.settle(10);
    assert_eq!(ok_sends(&p), 1);
    assert_eq!(rnr_naks(&p), 1);
}

/// A slow receiver: B posts one receive WQE every 50 µs while A has 30
/// SENDs queued; returns (SENDs completed, RNR NAKs).
fn slow_receiver(credits: bool) -> (usize, usize) {
    let mut p = pair(credits);
    p.b.post_recv(0, 512);
    for i in 0..30 {
        let len = [10, 200, 300, 512][i % 4];
        p.a.post(
            &send_wr(i as u64, WrOpcode::Send, len),
            &vec![i as u8; len as usize],
        );
    }
    let mut posted = 1;
    for _ in 0..100_000 {
        p.pump();
        if ok_sends(&p) == 30 {
            break;
        }
        p.now += 50_000;
        if posted < 30 && p.b.recv_queue_len() < 2 {
            p.b.post_recv(posted, 512);
            posted += 1;
        }
        p.a.fire_timers(p.now);
        p.b.fire_timers(p.now);
    }
    // Every SEND landed in order in its own WQE.
    let recv = p.b.rec.recv_wcs();
    assert_eq!(recv.len(), ok_sends(&p));
    assert!(recv.iter().all(|wc| wc.status == WcStatus::Success));
    (ok_sends(&p), rnr_naks(&p))
}

// IBA 9.7.7.2: with a slow receiver, credits keep the requester from ever
// sending a message the responder has no WQE for: no RNR NAK at all, while
// without credits the same run is full of them.
#[test]
fn iba_9_7_7_2_slow_receiver_sees_no_rnr_nak_with_credits() {
    let (done, rnr) = slow_receiver(true);
    assert_eq!(done, 30);
    assert_eq!(rnr, 0, "credits on: no RNR NAK");
    let (done, rnr) = slow_receiver(false);
    assert_eq!(done, 30);
    assert!(rnr > 0, "credits off: RNR NAKs ({rnr})");
}
