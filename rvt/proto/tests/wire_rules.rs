//! Unit tests of the wire-format rules, each naming the IBA vol. 1 section or
//! table it checks. Expected bytes are written out by hand from the spec's
//! field layouts, not produced by the code under test.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use rvt_proto::aeth::{
    credit_code_for, credit_count, local_ack_timeout_ns, rnr_timer_ns, NakCode, Syndrome,
    CREDITS_INVALID,
};
use rvt_proto::headers::{
    Aeth, AtomicAckEth, AtomicEth, Bth, Deth, Feth, Ieth, ImmDt, Reth, WireError,
};
use rvt_proto::opcode::{Opcode, Operation, Position, Transport};
use rvt_proto::packet::{self, pad_count, write_packet, PacketHeaders};
use rvt_proto::psn::{Psn, PSN_MASK};

fn bth(opcode: Opcode) -> Bth {
    Bth::new(opcode, 0x12, Psn::new(7))
}

/// Headers for `opcode` with every extension header it needs set to a
/// recognisable value.
fn full_headers(opcode: Opcode) -> PacketHeaders {
    let mut h = PacketHeaders::new(bth(opcode));
    if opcode.has_reth() {
        h.reth = Some(Reth {
            va: 0x1000,
            rkey: 0x22,
            dma_len: 8,
        });
    }
    if opcode.has_aeth() {
        h.aeth = Some(Aeth {
            syndrome: 0x1f,
            msn: 3,
        });
    }
    if opcode.has_atomic_eth() {
        h.atomic_eth = Some(AtomicEth {
            va: 0x2000,
            rkey: 0x33,
            swap_add: 1,
            compare: 2,
        });
    }
    if opcode.has_atomic_ack_eth() {
        h.atomic_ack_eth = Some(AtomicAckEth { orig_data: 9 });
    }
    if opcode.has_immdt() {
        h.immdt = Some(ImmDt { imm: 0xdead_beef });
    }
    if opcode.has_ieth() {
        h.ieth = Some(Ieth { rkey: 0x44 });
    }
    if opcode.has_deth() {
        h.deth = Some(Deth {
            qkey: 0x8001_0000,
            src_qp: 1,
        });
    }
    if opcode.has_feth() {
        h.feth = Some(Feth {
            selectivity_level: 1,
            placement_type: 1,
        });
    }
    h
}

// ---------------------------------------------------------------- PSN (9.7.1)

/// IBA 9.7.1: PSNs are 24 bits and wrap.
#[test]
fn psn_is_24_bit_and_wraps() {
    assert_eq!(PSN_MASK, 0xff_ffff);
    assert_eq!(Psn::new(0xffff_ffff).value(), 0xff_ffff);
    assert_eq!(Psn::new(0xff_ffff).add(2).value(), 1);
    assert_eq!(Psn::new(1).sub(2).value(), 0xff_ffff);
    assert_eq!(Psn::default().value(), 0);
}

/// IBA 9.7.1: the signed distance covers [-2^23, 2^23).
#[test]
fn psn_distance_is_signed_half_window() {
    let a = Psn::new(0xff_fff0);
    assert_eq!(a.distance_to(Psn::new(0x10)), 0x20);
    assert_eq!(Psn::new(0x10).distance_to(a), -0x20);
    assert_eq!(Psn::new(0).distance_to(Psn::new(0x7f_ffff)), 0x7f_ffff);
    assert_eq!(Psn::new(0).distance_to(Psn::new(0x80_0000)), -0x80_0000);
    assert!(a.is_before(Psn::new(0)));
    assert!(!Psn::new(0).is_before(a));
    assert!(!a.is_before(a));
}

// ------------------------------------------------------ opcodes (9.2 Table 38)

/// IBA 9.2.1 Table 38: opcode values, transport prefix, round trip through
/// `from_u8`, and every other value unknown.
#[test]
fn opcode_values_and_transport_prefix() {
    let known: Vec<u8> = Opcode::ALL.iter().map(|o| o.as_u8()).collect();
    for value in 0..=255u8 {
        match Opcode::from_u8(value) {
            Some(op) => {
                assert_eq!(op.as_u8(), value);
                let want = match value >> 5 {
                    0 => Transport::Rc,
                    1 => Transport::Uc,
                    3 => Transport::Ud,
                    _ => panic!("{value:#x} must be unknown"),
                };
                assert_eq!(op.transport(), want);
            }
            None => assert!(!known.contains(&value)),
        }
    }
    assert_eq!(known.len(), 39);
    // RC 0x00-0x14, 0x16, 0x17, 0x1c, 0x1d; UC 0x20-0x2b; UD 0x64, 0x65.
    let mut want: Vec<u8> = (0x00..=0x14).collect();
    want.extend([0x16, 0x17, 0x1c, 0x1d]);
    want.extend(0x20..=0x2b);
    want.extend([0x64, 0x65]);
    assert_eq!(known, want);
    // 0x15 (reserved), RD (0x40..) and CNP (0x81) are rejected.
    for v in [0x15, 0x18, 0x1e, 0x2c, 0x40, 0x4a, 0x66, 0x81, 0xa0, 0xff] {
        assert_eq!(Opcode::from_u8(v), None, "{v:#x}");
        assert_eq!(Opcode::try_from(v), Err(WireError::UnknownOpcode(v)));
    }
}

/// IBA 9.2 Table 38 "header" column: the extension headers and total header
/// length of every opcode, written out from the table.
#[test]
fn opcode_header_layouts() {
    use Opcode::*;
    // (opcode, headers after the BTH, header bytes, payload allowed)
    let table: [(Opcode, &str, usize, bool); 39] = [
        (RcSendFirst, "", 12, true),
        (RcSendMiddle, "", 12, true),
        (RcSendLast, "", 12, true),
        (RcSendLastWithImm, "I", 16, true),
        (RcSendOnly, "", 12, true),
        (RcSendOnlyWithImm, "I", 16, true),
        (RcWriteFirst, "R", 28, true),
        (RcWriteMiddle, "", 12, true),
        (RcWriteLast, "", 12, true),
        (RcWriteLastWithImm, "I", 16, true),
        (RcWriteOnly, "R", 28, true),
        (RcWriteOnlyWithImm, "RI", 32, true),
        (RcReadRequest, "R", 28, false),
        (RcReadResponseFirst, "A", 16, true),
        (RcReadResponseMiddle, "", 12, true),
        (RcReadResponseLast, "A", 16, true),
        (RcReadResponseOnly, "A", 16, true),
        (RcAcknowledge, "A", 16, false),
        (RcAtomicAcknowledge, "AK", 24, false),
        (RcCompareSwap, "T", 40, false),
        (RcFetchAdd, "T", 40, false),
        (RcSendLastWithInvalidate, "V", 16, true),
        (RcSendOnlyWithInvalidate, "V", 16, true),
        (RcFlush, "FR", 32, false),
        (RcAtomicWrite, "R", 28, true),
        (UcSendFirst, "", 12, true),
        (UcSendMiddle, "", 12, true),
        (UcSendLast, "", 12, true),
        (UcSendLastWithImm, "I", 16, true),
        (UcSendOnly, "", 12, true),
        (UcSendOnlyWithImm, "I", 16, true),
        (UcWriteFirst, "R", 28, true),
        (UcWriteMiddle, "", 12, true),
        (UcWriteLast, "", 12, true),
        (UcWriteLastWithImm, "I", 16, true),
        (UcWriteOnly, "R", 28, true),
        (UcWriteOnlyWithImm, "RI", 32, true),
        (UdSendOnly, "D", 20, true),
        (UdSendOnlyWithImm, "DI", 24, true),
    ];
    assert_eq!(table.map(|t| t.0), Opcode::ALL);
    for (op, headers, len, payload) in table {
        let mut got = String::new();
        // In IBA order.
        for (has, c) in [
            (op.has_deth(), 'D'),
            (op.has_feth(), 'F'),
            (op.has_reth(), 'R'),
            (op.has_atomic_eth(), 'T'),
            (op.has_aeth(), 'A'),
            (op.has_atomic_ack_eth(), 'K'),
            (op.has_immdt(), 'I'),
            (op.has_ieth(), 'V'),
        ] {
            if has {
                got.push(c);
            }
        }
        assert_eq!(got, headers, "{op:?}");
        assert_eq!(op.header_len(), len, "{op:?}");
        assert_eq!(op.has_payload(), payload, "{op:?}");
        assert_eq!(full_headers(op).len(), len);
    }
}

/// IBA 9.4: First/Middle/Last/Only, and the operation of each opcode.
#[test]
fn opcode_position_and_operation() {
    use Opcode::*;
    assert_eq!(RcSendFirst.position(), Position::First);
    assert_eq!(UcWriteMiddle.position(), Position::Middle);
    assert_eq!(RcSendLastWithInvalidate.position(), Position::Last);
    assert_eq!(RcReadResponseOnly.position(), Position::Only);
    for op in [
        RcAcknowledge,
        RcAtomicAcknowledge,
        RcReadRequest,
        RcCompareSwap,
        RcFetchAdd,
        RcFlush,
        RcAtomicWrite,
        UdSendOnly,
    ] {
        assert_eq!(op.position(), Position::Only, "{op:?}");
    }
    assert_eq!(RcCompareSwap.operation(), Operation::CompareSwap);
    assert_eq!(RcFetchAdd.operation(), Operation::FetchAdd);
    assert_eq!(RcFlush.operation(), Operation::Flush);
    assert_eq!(RcAtomicWrite.operation(), Operation::AtomicWrite);
    assert_eq!(
        RcAtomicAcknowledge.operation(),
        Operation::AtomicAcknowledge
    );
    assert_eq!(UdSendOnlyWithImm.operation(), Operation::Send);
    for op in Opcode::ALL {
        let response = matches!(
            op.operation(),
            Operation::ReadResponse | Operation::Acknowledge | Operation::AtomicAcknowledge
        );
        assert_eq!(op.is_request(), !response, "{op:?}");
    }
}

/// The requester-side constructors produce exactly the opcodes of Table 38
/// and nothing IBA does not define.
#[test]
fn opcode_constructors() {
    let transports = [Transport::Rc, Transport::Uc, Transport::Ud];
    let positions = [
        Position::First,
        Position::Middle,
        Position::Last,
        Position::Only,
    ];
    let mut seen = Vec::new();
    for t in transports {
        for p in positions {
            for imm in [false, true] {
                for inv in [false, true] {
                    if let Some(op) = Opcode::send(t, p, imm, inv) {
                        assert_eq!(
                            (
                                op.transport(),
                                op.position(),
                                op.operation(),
                                op.has_immdt(),
                                op.has_ieth()
                            ),
                            (t, p, Operation::Send, imm, inv)
                        );
                        seen.push(op);
                    }
                }
                if let Some(op) = Opcode::write(t, p, imm) {
                    assert_eq!(
                        (
                            op.transport(),
                            op.position(),
                            op.operation(),
                            op.has_immdt()
                        ),
                        (t, p, Operation::RdmaWrite, imm)
                    );
                    seen.push(op);
                }
            }
        }
    }
    // 8 RC SEND + 6 UC SEND + 2 UD SEND + 6 RC WRITE + 6 UC WRITE.
    assert_eq!(seen.len(), 28);
    assert_eq!(
        Opcode::send(Transport::Rc, Position::Only, true, true),
        None
    );
    assert_eq!(
        Opcode::send(Transport::Uc, Position::Last, false, true),
        None
    );
    assert_eq!(
        Opcode::send(Transport::Ud, Position::First, false, false),
        None
    );
    assert_eq!(
        Opcode::send(Transport::Rc, Position::First, true, false),
        None
    );
    assert_eq!(Opcode::write(Transport::Ud, Position::Only, false), None);
    assert_eq!(Opcode::write(Transport::Rc, Position::Middle, true), None);
    for p in positions {
        let op = Opcode::read_response(p);
        assert_eq!(
            (op.operation(), op.position()),
            (Operation::ReadResponse, p)
        );
    }
}

// ----------------------------------------------------- headers (9.2, 9.3)

/// IBA 9.2 BTH layout: every field at its bit position, reserved bits zero.
#[test]
fn bth_layout() {
    let h = Bth {
        opcode: Opcode::RcSendLastWithImm,
        solicited: true,
        mig_req: true,
        pad_count: 3,
        tver: 0,
        pkey: 0xabcd,
        fecn: true,
        becn: false,
        dest_qp: 0x12_3456,
        ack_req: true,
        psn: Psn::new(0xfe_dcba),
    };
    let mut buf = [0u8; 12];
    h.write(&mut buf).unwrap();
    let want = [
        0x03, 0xf0, 0xab, 0xcd, 0x80, 0x12, 0x34, 0x56, 0x80, 0xfe, 0xdc, 0xba,
    ];
    assert_eq!(buf, want);
    assert_eq!(Bth::parse(&buf).unwrap(), h);
    // BECN is bit 6 of byte 4; TVer the low nibble of byte 1.
    let h2 = Bth {
        fecn: false,
        becn: true,
        solicited: false,
        mig_req: false,
        pad_count: 1,
        tver: 5,
        ..h
    };
    h2.write(&mut buf).unwrap();
    assert_eq!(&buf[..5], &[0x03, 0x15, 0xab, 0xcd, 0x40]);
}

/// `Bth::new`: default P_Key 0xFFFF (IBA 10.9.1.2), TVer 0, flags clear.
#[test]
fn bth_new_defaults() {
    let h = Bth::new(Opcode::RcSendOnly, 0x12_3456, Psn::new(9));
    let mut buf = [0u8; 12];
    h.write(&mut buf).unwrap();
    assert_eq!(
        buf,
        [0x04, 0x00, 0xff, 0xff, 0x00, 0x12, 0x34, 0x56, 0x00, 0x00, 0x00, 0x09]
    );
}

/// IBA 9.2: reserved bits are ignored on receive (byte 4 bits 5:0, byte 8
/// bits 6:0) and written as zero.
#[test]
fn bth_reserved_bits_ignored() {
    let buf = [
        0x11, 0x00, 0xff, 0xff, 0x3f, 0x00, 0x00, 0x01, 0x7f, 0x00, 0x00, 0x02,
    ];
    let h = Bth::parse(&buf).unwrap();
    assert!(!h.fecn && !h.becn && !h.ack_req);
    let mut out = [0u8; 12];
    h.write(&mut out).unwrap();
    assert_eq!(out[4], 0);
    assert_eq!(out[8], 0);
}

#[test]
fn bth_rejects_out_of_range_fields() {
    let mut buf = [0u8; 12];
    let base = bth(Opcode::RcSendOnly);
    for bad in [
        Bth {
            pad_count: 4,
            ..base
        },
        Bth { tver: 16, ..base },
        Bth {
            dest_qp: 0x100_0000,
            ..base
        },
    ] {
        assert_eq!(bad.write(&mut buf), Err(WireError::FieldOutOfRange));
    }
    assert_eq!(base.write(&mut buf[..11]), Err(WireError::BufferTooSmall));
    assert_eq!(Bth::parse(&buf[..11]), Err(WireError::Truncated));
    buf[0] = 0x15;
    assert_eq!(Bth::parse(&buf), Err(WireError::UnknownOpcode(0x15)));
}

/// IBA 9.3.3 RETH: VA (8), R_Key (4), DMA length (4), big-endian.
#[test]
fn reth_layout() {
    let h = Reth {
        va: 0x0102_0304_0506_0708,
        rkey: 0x090a_0b0c,
        dma_len: 0x0d0e_0f10,
    };
    let want: Vec<u8> = (1..=16).collect();
    let mut buf = [0u8; 16];
    h.write(&mut buf).unwrap();
    assert_eq!(buf.to_vec(), want);
    assert_eq!(Reth::parse(&want).unwrap(), h);
    assert_eq!(Reth::parse(&want[..15]), Err(WireError::Truncated));
}

/// IBA 9.3.5 AETH: syndrome (1), MSN (3).
#[test]
fn aeth_layout() {
    let h = Aeth {
        syndrome: 0x60,
        msn: 0xab_cdef,
    };
    let mut buf = [0u8; 4];
    h.write(&mut buf).unwrap();
    assert_eq!(buf, [0x60, 0xab, 0xcd, 0xef]);
    assert_eq!(Aeth::parse(&buf).unwrap(), h);
    assert_eq!(
        Aeth {
            msn: 0x100_0000,
            ..h
        }
        .write(&mut buf),
        Err(WireError::FieldOutOfRange)
    );
}

/// IBA 9.3.4 AtomicETH: VA (8), R_Key (4), Swap/Add data (8), Compare data (8).
#[test]
fn atomic_eth_layout() {
    let h = AtomicEth {
        va: 0x0102_0304_0506_0708,
        rkey: 0x090a_0b0c,
        swap_add: 0x0d0e_0f10_1112_1314,
        compare: 0x1516_1718_191a_1b1c,
    };
    let want: Vec<u8> = (1..=28).collect();
    let mut buf = [0u8; 28];
    h.write(&mut buf).unwrap();
    assert_eq!(buf.to_vec(), want);
    assert_eq!(AtomicEth::parse(&want).unwrap(), h);
}

/// IBA 9.3.6 AtomicAckETH, 9.3.7 ImmDt, 9.3.8 IETH: big-endian.
#[test]
fn small_header_layouts() {
    let mut buf = [0u8; 8];
    AtomicAckEth {
        orig_data: 0x0102_0304_0506_0708,
    }
    .write(&mut buf)
    .unwrap();
    assert_eq!(buf, [1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(
        AtomicAckEth::parse(&buf).unwrap().orig_data,
        0x0102_0304_0506_0708
    );
    ImmDt { imm: 0x0a0b_0c0d }.write(&mut buf).unwrap();
    assert_eq!(buf[..4], [0x0a, 0x0b, 0x0c, 0x0d]);
    assert_eq!(ImmDt::parse(&buf).unwrap().imm, 0x0a0b_0c0d);
    Ieth { rkey: 0x1122_3344 }.write(&mut buf).unwrap();
    assert_eq!(buf[..4], [0x11, 0x22, 0x33, 0x44]);
    assert_eq!(Ieth::parse(&buf).unwrap().rkey, 0x1122_3344);
    assert_eq!(ImmDt::parse(&buf[..3]), Err(WireError::Truncated));
}

/// IBA 9.3.2 DETH: Q_Key (4), reserved (1), source QP (3).
#[test]
fn deth_layout() {
    let h = Deth {
        qkey: 0x8001_0000,
        src_qp: 0x00_0001,
    };
    let mut buf = [0xffu8; 8];
    h.write(&mut buf).unwrap();
    assert_eq!(buf, [0x80, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01]);
    // The reserved byte is ignored on receive.
    buf[4] = 0x5a;
    assert_eq!(Deth::parse(&buf).unwrap(), h);
    assert_eq!(
        Deth {
            src_qp: 0x100_0000,
            ..h
        }
        .write(&mut buf),
        Err(WireError::FieldOutOfRange)
    );
}

/// FETH (IBA 1.5 FLUSH): bits 5:4 selectivity level, 3:0 placement type.
#[test]
fn feth_layout() {
    let h = Feth {
        selectivity_level: 2,
        placement_type: 0xb,
    };
    let mut buf = [0xffu8; 4];
    h.write(&mut buf).unwrap();
    assert_eq!(buf, [0, 0, 0, 0x2b]);
    assert_eq!(Feth::parse(&[0xff, 0xff, 0xff, 0xeb]).unwrap(), h);
    assert_eq!(
        Feth {
            selectivity_level: 4,
            placement_type: 0
        }
        .write(&mut buf),
        Err(WireError::FieldOutOfRange)
    );
}

// ----------------------------------------------------- packets (9.2, 9.3)

/// IBA 9.2 Table 38: headers are laid out in order; e.g. RDMA WRITE Only with
/// Immediate is BTH, RETH, ImmDt, payload.
#[test]
fn write_only_with_immediate_order() {
    let mut h = full_headers(Opcode::RcWriteOnlyWithImm);
    h.reth = Some(Reth {
        va: 0x1122_3344_5566_7788,
        rkey: 0x99aa_bbcc,
        dma_len: 3,
    });
    h.immdt = Some(ImmDt { imm: 0x0102_0304 });
    let mut buf = [0u8; 64];
    let n = write_packet(&h, b"abc", &mut buf).unwrap();
    assert_eq!(n, 12 + 16 + 4 + 3 + 1);
    assert_eq!((buf[1] >> 4) & 3, 1, "pad count");
    assert_eq!(
        &buf[12..20],
        &[0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88]
    );
    assert_eq!(&buf[28..32], &[1, 2, 3, 4]);
    assert_eq!(&buf[32..36], b"abc\0");
    let p = packet::parse(&buf[..n]).unwrap();
    assert_eq!(p.payload(), b"abc");
    assert_eq!(p.hdr().immdt, h.immdt);
}

/// UD SEND Only with Immediate is BTH, DETH, ImmDt (IBA 9.2 Table 38).
#[test]
fn ud_send_with_immediate_order() {
    let mut h = full_headers(Opcode::UdSendOnlyWithImm);
    h.deth = Some(Deth {
        qkey: 0x0a0b_0c0d,
        src_qp: 0x0e_0f10,
    });
    h.immdt = Some(ImmDt { imm: 0x1112_1314 });
    let mut buf = [0u8; 32];
    let n = h.write(&mut buf).unwrap();
    assert_eq!(n, 24);
    assert_eq!(
        &buf[12..24],
        &[0x0a, 0x0b, 0x0c, 0x0d, 0, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14]
    );
}

/// ATOMIC Acknowledge is BTH, AETH, AtomicAckETH; FLUSH is BTH, FETH, RETH.
#[test]
fn atomic_ack_and_flush_order() {
    let mut buf = [0u8; 64];
    let mut h = full_headers(Opcode::RcAtomicAcknowledge);
    h.aeth = Some(Aeth {
        syndrome: 0,
        msn: 0x01_0203,
    });
    h.atomic_ack_eth = Some(AtomicAckEth {
        orig_data: 0x0405_0607_0809_0a0b,
    });
    assert_eq!(h.write(&mut buf).unwrap(), 24);
    assert_eq!(&buf[12..24], &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0xa, 0xb]);
    let mut h = full_headers(Opcode::RcFlush);
    h.feth = Some(Feth {
        selectivity_level: 0,
        placement_type: 1,
    });
    h.reth = Some(Reth {
        va: 0,
        rkey: 0x0102_0304,
        dma_len: 0,
    });
    assert_eq!(h.write(&mut buf).unwrap(), 32);
    assert_eq!(&buf[12..16], &[0, 0, 0, 1]);
    assert_eq!(&buf[24..28], &[1, 2, 3, 4]);
}

/// IBA 9.2.4: pad count brings the payload to a multiple of 4 bytes.
#[test]
fn pad_count_rule() {
    for (len, pad) in [
        (0, 0),
        (1, 3),
        (2, 2),
        (3, 1),
        (4, 0),
        (4093, 3),
        (4096, 0),
        (usize::MAX, 1),
    ] {
        assert_eq!(pad_count(len), pad, "{len}");
    }
}

/// IBA 9.2.4: pad bytes are removed from the payload; zero pad on build.
#[test]
fn pad_removed_on_parse() {
    for len in 0..9usize {
        let payload: Vec<u8> = (0..len as u8).map(|i| i + 1).collect();
        let h = full_headers(Opcode::RcSendOnly);
        let mut buf = [0xeeu8; 64];
        let n = write_packet(&h, &payload, &mut buf).unwrap();
        assert_eq!(n, 12 + len + usize::from(pad_count(len)));
        assert_eq!(n % 4, 0);
        assert!(buf[12 + len..n].iter().all(|&b| b == 0), "pad is zero");
        let p = packet::parse(&buf[..n]).unwrap();
        assert_eq!(p.payload(), &payload[..]);
        assert_eq!(p.hdr().bth.pad_count, pad_count(len));
    }
}

/// Malformed packets are rejected with the specific error.
#[test]
fn parse_rejections() {
    let mut buf = [0u8; 64];
    let h = full_headers(Opcode::RcSendOnly);
    let n = write_packet(&h, b"abcd", &mut buf).unwrap();
    assert_eq!(n, 16);

    // IBA 9.2.1: unknown opcode.
    let mut bad = buf;
    bad[0] = 0x40;
    assert_eq!(
        packet::parse(&bad[..n]),
        Err(WireError::UnknownOpcode(0x40))
    );
    // IBA 9.2.5: TVer must be 0.
    let mut bad = buf;
    bad[1] |= 0x01;
    assert_eq!(
        packet::parse(&bad[..n]),
        Err(WireError::BadTransportVersion(1))
    );
    // IBA 9.2.4: pad count larger than the payload.
    let mut bad = buf;
    bad[1] |= 0x30;
    assert_eq!(packet::parse(&bad[..12]), Err(WireError::BadPadCount));
    // IBA 9.2.4: payload + pad not a multiple of 4.
    assert_eq!(packet::parse(&buf[..15]), Err(WireError::BadLength));
    // Too short for the BTH.
    assert_eq!(packet::parse(&buf[..11]), Err(WireError::Truncated));
    assert_eq!(packet::parse(&[]), Err(WireError::Truncated));

    // ACK: no payload allowed (IBA 9.7.5.1), no pad either.
    let ack = full_headers(Opcode::RcAcknowledge);
    let n = ack.write(&mut buf).unwrap();
    assert!(packet::parse(&buf[..n]).unwrap().payload().is_empty());
    assert_eq!(packet::parse(&buf[..n + 4]), Err(WireError::BadLength));
    let mut bad = buf;
    bad[1] |= 0x10;
    assert_eq!(packet::parse(&bad[..n]), Err(WireError::BadPadCount));
    // Missing extension header bytes.
    assert_eq!(packet::parse(&buf[..n - 1]), Err(WireError::Truncated));

    // READ request and atomics: no payload.
    for op in [
        Opcode::RcReadRequest,
        Opcode::RcCompareSwap,
        Opcode::RcFetchAdd,
        Opcode::RcFlush,
    ] {
        let n = full_headers(op).write(&mut buf).unwrap();
        assert_eq!(
            packet::parse(&buf[..n + 4]),
            Err(WireError::BadLength),
            "{op:?}"
        );
    }

    // ATOMIC WRITE: exactly 8 bytes of payload.
    let aw = full_headers(Opcode::RcAtomicWrite);
    assert_eq!(
        write_packet(&aw, &[0; 4], &mut buf),
        Err(WireError::BadLength)
    );
    let n = write_packet(&aw, &[7; 8], &mut buf).unwrap();
    assert_eq!(packet::parse(&buf[..n]).unwrap().payload(), &[7; 8]);
    assert_eq!(packet::parse(&buf[..n - 4]), Err(WireError::BadLength));
}

/// `PacketHeaders::write` insists on exactly the opcode's headers.
#[test]
fn header_set_must_match_opcode() {
    let mut buf = [0u8; 64];
    let mut h = full_headers(Opcode::RcWriteOnly);
    h.reth = None;
    assert_eq!(h.write(&mut buf), Err(WireError::MissingHeader));
    let mut h = full_headers(Opcode::RcSendOnly);
    h.immdt = Some(ImmDt { imm: 1 });
    assert_eq!(h.write(&mut buf), Err(WireError::UnexpectedHeader));
    let h = full_headers(Opcode::RcCompareSwap);
    assert_eq!(h.write(&mut buf[..39]), Err(WireError::BufferTooSmall));
    assert_eq!(h.write(&mut buf), Ok(40));
    assert_eq!(
        write_packet(&full_headers(Opcode::RcAcknowledge), b"x", &mut buf),
        Err(WireError::BadLength)
    );
    assert_eq!(
        write_packet(&full_headers(Opcode::RcSendOnly), &[0; 60], &mut buf),
        Err(WireError::BufferTooSmall)
    );
    for op in Opcode::ALL {
        let h = full_headers(op);
        assert_eq!(h.write(&mut buf), Ok(op.header_len()));
        let (parsed, rest) = PacketHeaders::parse(&buf[..op.header_len()]).unwrap();
        assert_eq!(parsed, h);
        assert!(rest.is_empty());
    }
}

// ------------------------------------------- AETH (9.7.5.1-2, Tables 42-45)

/// IBA 9.7.5.1 Table 42: bits 6:5 type (00 ACK, 01 RNR NAK, 11 NAK, 10
/// reserved), bits 4:0 value; Table 43: NAK codes 0-4, 5-31 reserved.
#[test]
fn syndrome_encoding() {
    assert_eq!(Syndrome::decode(0x00), Ok(Syndrome::Ack { credit_code: 0 }));
    assert_eq!(
        Syndrome::decode(0x1f),
        Ok(Syndrome::Ack {
            credit_code: CREDITS_INVALID
        })
    );
    assert_eq!(
        Syndrome::decode(0x20),
        Ok(Syndrome::RnrNak { timer_code: 0 })
    );
    assert_eq!(
        Syndrome::decode(0x3f),
        Ok(Syndrome::RnrNak { timer_code: 31 })
    );
    assert_eq!(
        Syndrome::decode(0x60),
        Ok(Syndrome::Nak(NakCode::PsnSequenceError))
    );
    assert_eq!(
        Syndrome::decode(0x61),
        Ok(Syndrome::Nak(NakCode::InvalidRequest))
    );
    assert_eq!(
        Syndrome::decode(0x62),
        Ok(Syndrome::Nak(NakCode::RemoteAccessError))
    );
    assert_eq!(
        Syndrome::decode(0x63),
        Ok(Syndrome::Nak(NakCode::RemoteOperationalError))
    );
    assert_eq!(
        Syndrome::decode(0x64),
        Ok(Syndrome::Nak(NakCode::InvalidRdRequest))
    );
    assert_eq!(Syndrome::decode(0x65), Err(WireError::BadSyndrome(0x65)));
    assert_eq!(Syndrome::decode(0x40), Err(WireError::BadSyndrome(0x40)));
    // Bit 7 is reserved: ignored on receive.
    assert_eq!(Syndrome::decode(0x80), Ok(Syndrome::Ack { credit_code: 0 }));
    for byte in 0..=0x7fu8 {
        if let Ok(s) = Syndrome::decode(byte) {
            assert_eq!(s.encode(), byte);
        }
    }
    assert_eq!(Syndrome::ACK_NO_CREDITS.encode(), 0x1f);
    assert_eq!(Syndrome::Nak(NakCode::RemoteAccessError).encode(), 0x62);
}

/// IBA 9.7.5.1 Table 44: credit count encoding.
#[test]
fn credit_count_table() {
    let want = [
        0, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536,
        2048, 3072, 4096, 6144, 8192, 12288, 16384, 24576, 32768,
    ];
    for (code, count) in want.iter().enumerate() {
        assert_eq!(credit_count(code as u8), Some(*count), "code {code}");
    }
    assert_eq!(credit_count(CREDITS_INVALID), None);
    assert_eq!(credit_count(32), None);
    // Advertised credits never exceed what is available.
    assert_eq!(credit_code_for(0), 0);
    assert_eq!(credit_code_for(5), 4);
    assert_eq!(credit_code_for(6), 5);
    assert_eq!(credit_code_for(100), 13);
    assert_eq!(credit_code_for(u32::MAX), 30);
    for credits in 0..40_000 {
        assert!(credit_count(credit_code_for(credits)).unwrap() <= credits);
    }
}

/// IBA 9.7.5.2.8 Table 45: RNR NAK timer field encoding.
#[test]
fn rnr_timer_table() {
    // (code, milliseconds * 100)
    let want: [(u8, u64); 32] = [
        (0, 65536),
        (1, 1),
        (2, 2),
        (3, 3),
        (4, 4),
        (5, 6),
        (6, 8),
        (7, 12),
        (8, 16),
        (9, 24),
        (10, 32),
        (11, 48),
        (12, 64),
        (13, 96),
        (14, 128),
        (15, 192),
        (16, 256),
        (17, 384),
        (18, 512),
        (19, 768),
        (20, 1024),
        (21, 1536),
        (22, 2048),
        (23, 3072),
        (24, 4096),
        (25, 6144),
        (26, 8192),
        (27, 12288),
        (28, 16384),
        (29, 24576),
        (30, 32768),
        (31, 49152),
    ];
    for (code, centi_ms) in want {
        assert_eq!(rnr_timer_ns(code), centi_ms * 10_000, "code {code}");
    }
    // Only the 5-bit field is used.
    assert_eq!(rnr_timer_ns(0x21), rnr_timer_ns(1));
}

/// IBA 9.7.6.1.3: local ACK timeout 4.096 µs × 2^timeout, 0 = infinite.
#[test]
fn local_ack_timeout() {
    assert_eq!(local_ack_timeout_ns(0), None);
    assert_eq!(local_ack_timeout_ns(1), Some(8_192));
    assert_eq!(local_ack_timeout_ns(14), Some(67_108_864)); // ~67 ms
    assert_eq!(local_ack_timeout_ns(31), Some(4_096 * (1u64 << 31))); // ~2.4 hours
    for t in 0..=255u8 {
        let _ = local_ack_timeout_ns(t);
    }
    assert_eq!(local_ack_timeout_ns(255), Some(u64::MAX));
}

/// IBA 9.2 Table 38, 9.2.4, 9.2.5: a `Packet` exists only in a form the
/// parser produces. `Packet::new` rejects extension headers that do not
/// match the opcode (immediate data on a SEND without Immediate, a missing
/// IETH on SEND with Invalidate), TVer != 0, a pad count that does not
/// complete the payload to 4 bytes, a payload on an opcode without one;
/// what it accepts equals the parse of its wire bytes.
#[test]
fn packet_new_accepts_only_what_parse_produces() {
    let mut h = full_headers(Opcode::RcSendOnly);
    h.immdt = Some(ImmDt { imm: 5 });
    assert_eq!(
        packet::Packet::new(h, b"ab").unwrap_err(),
        WireError::UnexpectedHeader
    );
    let mut h = full_headers(Opcode::RcSendOnlyWithInvalidate);
    h.ieth = None;
    assert_eq!(
        packet::Packet::new(h, b"ab").unwrap_err(),
        WireError::MissingHeader
    );
    let mut h = full_headers(Opcode::RcSendOnlyWithImm);
    h.bth.tver = 1;
    assert_eq!(
        packet::Packet::new(h, b"ab").unwrap_err(),
        WireError::BadTransportVersion(1)
    );
    h.bth.tver = 0;
    h.bth.pad_count = 1;
    assert_eq!(
        packet::Packet::new(h, b"ab").unwrap_err(),
        WireError::BadPadCount
    );
    let ack = full_headers(Opcode::RcAcknowledge);
    assert_eq!(
        packet::Packet::new(ack, b"x").unwrap_err(),
        WireError::BadLength
    );
    h.bth.pad_count = pad_count(2);
    let p = packet::Packet::new(h, b"ab").unwrap();
    let mut buf = [0u8; 64];
    let n = write_packet(&h, b"ab", &mut buf).unwrap();
    assert_eq!(packet::parse(&buf[..n]).unwrap(), p);
    // The opcode-dependent fields come from the opcode.
    assert_eq!(p.immediate(), h.immdt.map(|i| i.imm));
    assert_eq!(p.invalidate_rkey(), None);
    assert_eq!(p.reth(), None);
}
