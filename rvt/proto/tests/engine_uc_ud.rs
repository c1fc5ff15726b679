//! UC and UD rules (IBA vol. 1, 9.8 unreliable services; Q_Keys and UD
//! receive buffers of the verbs chapters).

mod support;

use rvt_proto::engine::{
    AccessFlags, AttrUpdate, DropReason, Mtu, PostError, QpState, QpType, SendWr, UdDest, Verdict,
    WcFlags, WcOpcode, WcStatus, WrOpcode, GSI_QKEY, GSI_QPN, UD_GRH_LEN,
};
use rvt_proto::headers::Deth;
use rvt_proto::opcode::Opcode;
use rvt_proto::packet::PacketHeaders;
use support::{bth, opcode_psn, parse_frame, LinkCfg, Node, Pair, Rng};

type P = Pair<8, 8, 2>;
type N = Node<8, 8, 2>;

fn cfg() -> LinkCfg {
    LinkCfg {
        mtu: Mtu::M256,
        sq_psn: 10,
        max_rd_atomic: 2,
        max_dest_rd_atomic: 2,
        ..LinkCfg::default()
    }
}

fn send_wr(id: u64, len: u32) -> SendWr {
    let mut wr = SendWr::new(id, WrOpcode::Send);
    wr.len = len;
    wr
}

// IBA 9.8: UC has no acknowledgements; a send WQE completes once its
// last packet was taken by the caller.
#[test]
fn uc_send_completes_without_ack() {
    let mut p = P::new(QpType::Uc, &cfg());
    let data = Rng::new(1).bytes(600);
    p.b.post_recv(5, 1000);
    p.a.post(&send_wr(1, 600), &data);
    let frames = p.a.drain(0);
    assert_eq!(
        frames.iter().map(|f| f[0]).collect::<Vec<_>>(),
        vec![
            Opcode::UcSendFirst.as_u8(),
            Opcode::UcSendMiddle.as_u8(),
            Opcode::UcSendLast.as_u8()
        ]
    );
    assert!(frames.iter().all(|f| !parse_frame(f).hdr().bth.ack_req));
    assert_eq!(p.a.rec.send_wcs().len(), 1);
    assert_eq!(p.a.rec.send_wcs()[0].status, WcStatus::Success);
    for f in &frames {
        p.b.deliver(f, 0);
    }
    assert!(p.b.drain(0).is_empty(), "a UC responder sends nothing");
    let wc = p.b.rec.recv_wcs();
    assert_eq!((wc[0].wr_id, wc[0].byte_len), (5, 600));
    p.b.mem.recv[wc[0].slot as usize]
        .as_ref()
        .unwrap()
        .check_once(0, &data)
        .unwrap();
}

// IBA 9.8: a PSN gap drops the rest of the message; the receive WQE is
// reused by the next message, which resynchronises on its First packet.
#[test]
fn uc_gap_drops_message_and_resyncs() {
    let mut p = P::new(QpType::Uc, &cfg());
    let m1 = Rng::new(2).bytes(700);
    let m2 = Rng::new(3).bytes(300);
    p.b.post_recv(5, 1000);
    p.a.post(&send_wr(1, 700), &m1);
    p.a.post(&send_wr(2, 300), &m2);
    let frames = p.a.drain(0);
    assert_eq!(frames.len(), 5);
    let verdicts: Vec<Verdict> = frames
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 1)
        .map(|(_, f)| p.b.deliver(f, 0).verdict())
        .collect();
    assert_eq!(
        verdicts,
        vec![
            Verdict::Accepted,
            Verdict::OutOfSequence { nak_sent: false },
            Verdict::Accepted,
            Verdict::Accepted
        ]
    );
    let wc = p.b.rec.recv_wcs();
    assert_eq!(wc.len(), 1);
    assert_eq!((wc[0].wr_id, wc[0].byte_len), (5, 300));
    let buf = p.b.mem.recv[wc[0].slot as usize].as_ref().unwrap();
    assert_eq!(&buf.data[..300], m2.as_slice());
}

// IBA 9.8: UC RDMA WRITE with immediate consumes a receive WQE; a WRITE
// whose R_Key fails is dropped silently (no NAK, QP stays up).
#[test]
fn uc_write_imm_and_bad_rkey() {
    let mut p = P::new(QpType::Uc, &cfg());
    p.b.mem
        .add_region(7, 0x1000, vec![0; 4096], AccessFlags::ALL_REMOTE);
    let data = Rng::new(4).bytes(500);
    let mut wr = SendWr::new(1, WrOpcode::RdmaWriteWithImm);
    wr.len = 500;
    wr.rkey = 7;
    wr.remote_va = 0x1100;
    wr.imm_or_inv = 77;
    let mut bad = wr;
    bad.wr_id = 2;
    bad.rkey = 8;
    p.b.post_recv(9, 0);
    p.b.post_recv(10, 0);
    p.a.post(&bad, &data);
    p.a.post(&wr, &data);
    p.pump();
    assert_eq!(p.verdicts[0], (true, Verdict::Dropped(DropReason::RKey)));
    let wc = p.b.rec.recv_wcs();
    assert_eq!(wc.len(), 1);
    assert_eq!(
        (wc[0].wr_id, wc[0].opcode, wc[0].byte_len, wc[0].ex),
        (9, WcOpcode::RecvRdmaWithImm, 500, 77)
    );
    assert_eq!(p.b.qp.state(), QpState::Rts);
    p.b.mem
        .region(7)
        .unwrap()
        .buf
        .check_once(0x100, &data)
        .unwrap();
}

// UC supports neither RDMA READ nor atomics (IBA 9.8).
#[test]
fn uc_rejects_read() {
    let mut p = P::new(QpType::Uc, &cfg());
    let wr = SendWr::new(1, WrOpcode::RdmaRead);
    assert_eq!(
        p.a.qp.post_send(&wr, &mut p.a.rec),
        Err(PostError::InvalidOpcode)
    );
}

fn ud_pair(qpn_b: u32) -> (N, N) {
    let mut a = N::new(QpType::Ud, 0x31);
    let mut b = N::new(QpType::Ud, qpn_b);
    for n in [&mut a, &mut b] {
        let rec = &mut n.rec;
        n.qp.modify(
            &AttrUpdate {
                state: Some(QpState::Init),
                qkey: Some(0x1234),
                pkey: Some(0xffff),
                ..AttrUpdate::default()
            },
            rec,
        )
        .unwrap();
        n.qp.modify(
            &AttrUpdate {
                state: Some(QpState::Rtr),
                path_mtu: Some(Mtu::M1024),
                ..AttrUpdate::default()
            },
            rec,
        )
        .unwrap();
        n.qp.modify(
            &AttrUpdate {
                state: Some(QpState::Rts),
                sq_psn: Some(1),
                ..AttrUpdate::default()
            },
            rec,
        )
        .unwrap();
    }
    (a, b)
}

/// Headers of a UD SEND Only to `dest_qp` with the Q_Key of `ud_pair`.
fn ud_send_headers(dest_qp: u32) -> PacketHeaders {
    let mut h = PacketHeaders::new(bth(Opcode::UdSendOnly, dest_qp, 1));
    h.deth = Some(Deth {
        qkey: 0x1234,
        src_qp: 5,
    });
    h
}

fn ud_wr(id: u64, len: u32, qpn: u32, qkey: u32) -> SendWr {
    let mut wr = send_wr(id, len);
    wr.ud = UdDest {
        ah: 42,
        remote_qpn: qpn,
        remote_qkey: qkey,
    };
    wr
}

// IBA 9.8: a UD SEND is one packet with a DETH; the receive
// buffer starts with the 40-byte GRH slot, filled from the caller's
// metadata (IB_WC_GRH), and byte_len counts it.
#[test]
fn ud_send_with_grh() {
    let (mut a, mut b) = ud_pair(0x32);
    let grh: [u8; 40] = core::array::from_fn(|i| i as u8);
    b.grh = Some(grh);
    let data = Rng::new(5).bytes(100);
    b.post_recv(3, 200);
    let mut wr = ud_wr(1, 100, 0x32, 0x1234);
    wr.opcode = WrOpcode::SendWithImm;
    wr.imm_or_inv = 9;
    a.post(&wr, &data);
    let mut hdr = [0u8; rvt_proto::engine::MAX_HEADER_LEN];
    let t = a.qp.poll_transmit(0, &mut hdr, &mut a.rec).unwrap();
    assert_eq!(t.ah, 42);
    let f = support::frame(&hdr[..t.header_len], &a.mem.payload(&t.payload), t.pad);
    let pk = parse_frame(&f);
    assert_eq!(pk.hdr().bth.opcode, Opcode::UdSendOnlyWithImm);
    assert_eq!(
        pk.hdr().deth,
        Some(Deth {
            qkey: 0x1234,
            src_qp: 0x31
        })
    );
    a.qp.transmit_taken(&mut a.rec);
    assert_eq!(a.rec.send_wcs()[0].status, WcStatus::Success);
    b.deliver(&f, 0);
    let wc = b.rec.recv_wcs();
    assert_eq!(wc.len(), 1);
    assert_eq!(
        (wc[0].byte_len, wc[0].src_qp, wc[0].ex),
        (100 + UD_GRH_LEN, 0x31, 9)
    );
    assert_eq!(wc[0].flags, WcFlags::GRH.with(WcFlags::WITH_IMM));
    let buf = b.mem.recv[wc[0].slot as usize].as_ref().unwrap();
    assert_eq!(&buf.data[..40], &grh);
    buf.check_once(40, &data).unwrap();
}

// Controlled Q_Keys: a work request Q_Key with the high bit set uses the QP's
// Q_Key; a DETH Q_Key that does not match the QP's is dropped silently.
#[test]
fn ud_qkey_rules() {
    let (mut a, mut b) = ud_pair(0x32);
    b.post_recv(3, 200);
    a.post(&ud_wr(1, 10, 0x32, 0x8000_0000), &[1; 10]);
    a.post(&ud_wr(2, 10, 0x32, 0x9999), &[2; 10]);
    let verdicts: Vec<Verdict> = a
        .drain(0)
        .iter()
        .map(|f| b.deliver(f, 0).verdict())
        .collect();
    assert_eq!(
        verdicts,
        vec![Verdict::Accepted, Verdict::Dropped(DropReason::QKey)]
    );
    let wc = b.rec.recv_wcs();
    assert_eq!(wc.len(), 1);
    let buf = b.mem.recv[wc[0].slot as usize].as_ref().unwrap();
    assert_eq!(buf.data[40], 1);
}

// GSI (IBA chapter 13): QP1 accepts only the well-known Q_Key 0x80010000,
// whatever its own Q_Key attribute says.
#[test]
fn gsi_qkey() {
    let (mut a, mut b) = ud_pair(GSI_QPN);
    // The sender's own Q_Key is the GSI one (as for the MAD layer's QP1):
    // a work request Q_Key with bit 31 set selects it.
    a.qp.modify(
        &AttrUpdate {
            qkey: Some(GSI_QKEY),
            ..AttrUpdate::default()
        },
        &mut a.rec,
    )
    .unwrap();
    b.post_recv(3, 300);
    a.post(&ud_wr(1, 10, GSI_QPN, 0x1234), &[1; 10]);
    a.post(&ud_wr(2, 10, GSI_QPN, GSI_QKEY), &[2; 10]);
    for f in a.drain(0) {
        b.deliver(&f, 0);
    }
    let wc = b.rec.recv_wcs();
    assert_eq!(wc.len(), 1);
    assert_eq!(
        b.mem.recv[wc[0].slot as usize].as_ref().unwrap().data[40],
        2
    );
}

// UD: no receive WQE -> dropped (no RNR NAK); longer than the MTU is
// refused at post time; a receive buffer that is too small completes with
// IB_WC_LOC_LEN_ERR and the QP stays usable (documented choice).
#[test]
fn ud_limits() {
    let (mut a, mut b) = ud_pair(0x32);
    assert_eq!(
        a.qp.post_send(&ud_wr(1, 1025, 0x32, 0x1234), &mut a.rec),
        Err(PostError::TooLong)
    );
    a.post(&ud_wr(2, 10, 0x32, 0x1234), &[1; 10]);
    for f in a.drain(0) {
        assert_eq!(
            b.deliver(&f, 0).verdict(),
            Verdict::Dropped(DropReason::NoReceiveWqe)
        );
    }
    assert!(b.rec.recv_wcs().is_empty());
    assert!(b.drain(0).is_empty());
    b.post_recv(7, 45);
    b.post_recv(8, 100);
    a.post(&ud_wr(3, 10, 0x32, 0x1234), &[1; 10]);
    a.post(&ud_wr(4, 10, 0x32, 0x1234), &[2; 10]);
    for f in a.drain(0) {
        b.deliver(&f, 0);
    }
    let st: Vec<(u64, WcStatus)> = b
        .rec
        .recv_wcs()
        .iter()
        .map(|w| (w.wr_id, w.status))
        .collect();
    assert_eq!(st, vec![(7, WcStatus::LocLenErr), (8, WcStatus::Success)]);
    assert_eq!(b.qp.state(), QpState::Rts);
}

// IBA 9.8: a UD message is a single packet of at most the path MTU; a
// received UD packet with a longer payload is dropped (not delivered, the
// receive WQE stays posted), whatever the receive buffer could hold.
#[test]
fn ud_payload_longer_than_path_mtu_dropped() {
    let (_a, mut b) = ud_pair(0x32);
    b.post_recv(3, 4096);
    let h = ud_send_headers(0x32);
    assert_eq!(
        b.inject(&h, &[7; 1028]).verdict(),
        Verdict::Dropped(DropReason::Length)
    );
    assert!(
        b.rec.recv_wcs().is_empty(),
        "1028 bytes > 1024 MTU: dropped"
    );
    assert_eq!(b.mem.calls, 0, "nothing placed");
    assert_eq!(b.recv_queue_len(), 1);
    b.inject(&h, &[7; 1024]);
    assert_eq!(b.rec.recv_wcs().len(), 1, "exactly the MTU: delivered");
}

// IBA 9.6: a packet with a P_Key that does not match is
// dropped.
#[test]
fn pkey_mismatch_dropped() {
    let (_a, mut b) = ud_pair(0x32);
    b.post_recv(3, 200);
    let mut h = ud_send_headers(0x32);
    h.bth.pkey = 0x8001;
    assert_eq!(
        b.inject(&h, &[0; 8]).verdict(),
        Verdict::Dropped(DropReason::PKey)
    );
    assert!(b.rec.recv_wcs().is_empty());
    h.bth.pkey = 0x7fff;
    b.inject(&h, &[0; 8]);
    assert_eq!(b.rec.recv_wcs().len(), 1);
}

// A UD QP ignores RC/UC opcodes; packets for another QPN are dropped.
#[test]
fn wrong_transport_or_qpn_dropped() {
    let (_a, mut b) = ud_pair(0x32);
    b.post_recv(3, 200);
    let r = b.inject(
        &PacketHeaders::new(bth(Opcode::RcSendOnly, 0x32, 1)),
        &[0; 8],
    );
    assert_eq!(r.verdict(), Verdict::Dropped(DropReason::WrongTransport));
    let mut h = ud_send_headers(0x33);
    assert_eq!(
        b.inject(&h, &[0; 8]).verdict(),
        Verdict::Dropped(DropReason::WrongQpn)
    );
    assert!(b.rec.recv_wcs().is_empty());
    assert_eq!(b.mem.calls, 0);
    // A QP in Error receives nothing.
    b.qp.modify(
        &AttrUpdate {
            state: Some(QpState::Error),
            ..AttrUpdate::default()
        },
        &mut b.rec,
    )
    .unwrap();
    h.bth.dest_qp = 0x32;
    assert_eq!(
        b.inject(&h, &[0; 8]).verdict(),
        Verdict::Dropped(DropReason::State)
    );
    let _ = opcode_psn;
}

// IBA 9.8 with the caller's buffer lifetime: a UC/UD send WQE completes
// only once the caller took the payload of its last packet
// (transmit_taken, or its next call on the QP), never inside the
// poll_transmit that returns the packet: a CQE posted from there would let
// the consumer reuse the buffer before it is copied. A packet handed back
// (device queue full) completes nothing.
#[test]
fn unreliable_send_completes_only_after_the_payload_was_taken() {
    let (mut a, _b) = ud_pair(0x32);
    a.post(&ud_wr(1, 100, 0x32, 0x1111_1111), &[4; 100]);
    let mut hdr = [0u8; rvt_proto::engine::MAX_HEADER_LEN];
    assert!(a.qp.poll_transmit(0, &mut hdr, &mut a.rec).is_some());
    assert!(a.rec.send_wcs().is_empty(), "UD: not before the copy");
    a.qp.hand_back_transmit();
    assert!(a.rec.send_wcs().is_empty(), "UD: handed back");
    assert!(a.qp.poll_transmit(0, &mut hdr, &mut a.rec).is_some());
    assert!(a.rec.send_wcs().is_empty());
    a.qp.transmit_taken(&mut a.rec);
    assert_eq!(a.rec.send_wcs().len(), 1, "UD: taken");

    let mut p = P::new(QpType::Uc, &cfg());
    p.a.post(&send_wr(2, 600), &[5; 600]);
    for _ in 0..3 {
        assert!(p.a.qp.poll_transmit(0, &mut hdr, &mut p.a.rec).is_some());
    }
    assert!(p.a.rec.send_wcs().is_empty(), "UC: last packet not taken");
    assert!(p.a.qp.poll_transmit(0, &mut hdr, &mut p.a.rec).is_none());
    assert_eq!(
        p.a.rec.send_wcs().len(),
        1,
        "UC: the next call took the last packet"
    );
}
