//! Property tests of the wire layer: parse(build(h)) == h for every header and
//! for whole packets of every opcode; no input makes a parser panic; PSN and
//! syndrome algebra (IBA vol. 1, 9.2, 9.3, 9.7.1, 9.7.5.1).
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use proptest::prelude::*;

use rvt_proto::aeth::{NakCode, Syndrome};
use rvt_proto::headers::{
    Aeth, AtomicAckEth, AtomicEth, Bth, Deth, Feth, Ieth, ImmDt, Reth, WireError,
};
use rvt_proto::icrc::{self, Icrc};
use rvt_proto::opcode::{Opcode, Operation};
use rvt_proto::packet::{self, pad_count, write_packet, PacketHeaders};
use rvt_proto::psn::{Psn, PSN_HALF, PSN_MASK};

fn opcode() -> impl Strategy<Value = Opcode> {
    proptest::sample::select(Opcode::ALL.to_vec())
}

prop_compose! {
    fn bth_for(op: Opcode)(
        solicited: bool, mig_req: bool, pad_count in 0u8..4, pkey: u16, fecn: bool,
        becn: bool, dest_qp in 0u32..=PSN_MASK, ack_req: bool, psn in 0u32..=PSN_MASK,
    ) -> Bth {
        Bth { opcode: op, solicited, mig_req, pad_count, tver: 0, pkey, fecn, becn, dest_qp, ack_req, psn: Psn::new(psn) }
    }
}

fn bth() -> impl Strategy<Value = Bth> {
    (opcode(), 0u8..16).prop_flat_map(|(op, tver)| bth_for(op).prop_map(move |b| Bth { tver, ..b }))
}

prop_compose! {
    fn reth()(va: u64, rkey: u32, dma_len: u32) -> Reth { Reth { va, rkey, dma_len } }
}
prop_compose! {
    fn aeth()(syndrome: u8, msn in 0u32..=PSN_MASK) -> Aeth { Aeth { syndrome, msn } }
}
prop_compose! {
    fn atomic_eth()(va: u64, rkey: u32, swap_add: u64, compare: u64) -> AtomicEth {
        AtomicEth { va, rkey, swap_add, compare }
    }
}
prop_compose! {
    fn deth()(qkey: u32, src_qp in 0u32..=PSN_MASK) -> Deth { Deth { qkey, src_qp } }
}
prop_compose! {
    fn feth()(selectivity_level in 0u8..4, placement_type in 0u8..16) -> Feth {
        Feth { selectivity_level, placement_type }
    }
}

/// Headers for `op` with exactly the extension headers it requires.
fn headers_for(op: Opcode) -> impl Strategy<Value = PacketHeaders> {
    (
        bth_for(op),
        reth(),
        aeth(),
        atomic_eth(),
        any::<u64>(),
        any::<u32>(),
        any::<u32>(),
        deth(),
        feth(),
    )
        .prop_map(move |(bth, r, a, at, orig, imm, inv, d, f)| PacketHeaders {
            bth,
            reth: op.has_reth().then_some(r),
            aeth: op.has_aeth().then_some(a),
            atomic_eth: op.has_atomic_eth().then_some(at),
            atomic_ack_eth: op
                .has_atomic_ack_eth()
                .then_some(AtomicAckEth { orig_data: orig }),
            immdt: op.has_immdt().then_some(ImmDt { imm }),
            ieth: op.has_ieth().then_some(Ieth { rkey: inv }),
            deth: op.has_deth().then_some(d),
            feth: op.has_feth().then_some(f),
        })
}

/// A whole packet: headers for a random opcode and a payload it may carry.
fn packet() -> impl Strategy<Value = (PacketHeaders, Vec<u8>)> {
    opcode().prop_flat_map(|op| {
        let len = if op.operation() == Operation::AtomicWrite {
            8..9usize
        } else if op.has_payload() {
            0..300usize
        } else {
            0..1usize
        };
        (headers_for(op), proptest::collection::vec(any::<u8>(), len))
    })
}

/// Round trip of one header type through `write` then `parse`, and a check
/// that `write` writes exactly `LEN` bytes.
macro_rules! round_trip {
    ($ty:ty, $value:expr) => {{
        let value: $ty = $value;
        let mut buf = [0xa5u8; 64];
        value.write(&mut buf).unwrap();
        assert!(
            buf[<$ty>::LEN..].iter().all(|&b| b == 0xa5),
            "wrote past LEN"
        );
        prop_assert_eq!(<$ty>::parse(&buf).unwrap(), value);
        prop_assert_eq!(
            <$ty>::parse(&buf[..<$ty>::LEN - 1]),
            Err(WireError::Truncated)
        );
        prop_assert_eq!(
            value.write(&mut buf[..<$ty>::LEN - 1]),
            Err(WireError::BufferTooSmall)
        );
    }};
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// IBA 9.2, 9.3: every header survives write then parse.
    #[test]
    fn headers_round_trip(
        b in bth(), r in reth(), a in aeth(), at in atomic_eth(), orig: u64, imm: u32,
        inv: u32, d in deth(), f in feth(),
    ) {
        round_trip!(Bth, b);
        round_trip!(Reth, r);
        round_trip!(Aeth, a);
        round_trip!(AtomicEth, at);
        round_trip!(AtomicAckEth, AtomicAckEth { orig_data: orig });
        round_trip!(ImmDt, ImmDt { imm });
        round_trip!(Ieth, Ieth { rkey: inv });
        round_trip!(Deth, d);
        round_trip!(Feth, f);
    }

    /// Parsing arbitrary header bytes and writing them back reproduces them
    /// up to the reserved bits, which are written as zero (IBA 9.2).
    #[test]
    fn header_bytes_round_trip(bytes in proptest::array::uniform32(any::<u8>())) {
        let mut out = [0u8; 32];
        if let Ok(b) = Bth::parse(&bytes) {
            b.write(&mut out).unwrap();
            let mut want = bytes;
            want[4] &= 0xc0;
            want[8] &= 0x80;
            prop_assert_eq!(&out[..12], &want[..12]);
        } else {
            prop_assert!(Opcode::from_u8(bytes[0]).is_none());
        }
        Deth::parse(&bytes).unwrap().write(&mut out).unwrap();
        let mut want = bytes;
        want[4] = 0;
        prop_assert_eq!(&out[..8], &want[..8]);
        AtomicEth::parse(&bytes).unwrap().write(&mut out).unwrap();
        prop_assert_eq!(&out[..28], &bytes[..28]);
        Feth::parse(&bytes).unwrap().write(&mut out).unwrap();
        prop_assert_eq!(&out[..4], &[0, 0, 0, bytes[3] & 0x3f]);
    }

    /// Whole packets of every opcode: parse(build(h, payload)) == (h, payload).
    #[test]
    fn packets_round_trip((hdr, payload) in packet()) {
        let mut buf = vec![0u8; 400];
        let n = write_packet(&hdr, &payload, &mut buf).unwrap();
        prop_assert_eq!(n, hdr.len() + payload.len() + usize::from(pad_count(payload.len())));
        prop_assert_eq!(n % 4, 0);
        let p = packet::parse(&buf[..n]).unwrap();
        let want = PacketHeaders { bth: Bth { pad_count: pad_count(payload.len()), ..hdr.bth }, ..hdr };
        prop_assert_eq!(*p.hdr(), want);
        prop_assert_eq!(p.payload(), &payload[..]);
        // The header-only writer agrees with the packet writer.
        let mut hbuf = [0u8; 64];
        let hn = p.hdr().write(&mut hbuf).unwrap();
        prop_assert_eq!(&hbuf[..hn], &buf[..hn]);
        // Any shorter buffer is an error, never a panic or a wrong parse.
        for cut in 0..n {
            if let Ok(short) = packet::parse(&buf[..cut]) {
                // Only possible by dropping whole 4-byte words of payload+pad.
                prop_assert!(hdr.bth.opcode.has_payload());
                prop_assert_eq!(short.hdr().bth.opcode, hdr.bth.opcode);
                prop_assert!(short.payload().len() < payload.len());
            }
        }
        // A too-small output buffer is refused.
        prop_assert_eq!(write_packet(&hdr, &payload, &mut buf[..n - 1]), Err(WireError::BufferTooSmall));
    }

    /// No byte string makes the packet parser panic; whatever parses is
    /// self-consistent and rebuilds to the same bytes up to reserved bits
    /// and pad contents.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(p) = packet::parse(&bytes) {
            let op = p.hdr().bth.opcode;
            prop_assert_eq!(p.hdr().bth.tver, 0);
            prop_assert!(p.hdr().check_headers().is_ok());
            prop_assert_eq!(op.header_len() + p.payload().len() + usize::from(p.hdr().bth.pad_count), bytes.len());
            prop_assert!(op.has_payload() || p.payload().is_empty());
            let mut out = vec![0u8; bytes.len()];
            let n = write_packet(p.hdr(), p.payload(), &mut out).unwrap();
            prop_assert_eq!(n, bytes.len());
            prop_assert_eq!(packet::parse(&out).unwrap(), p);
        }
        let _ = PacketHeaders::parse(&bytes);
        let _ = icrc::Icrc::roce(&bytes);
        let _ = icrc::check_roce(&bytes[..bytes.len().min(48)], &bytes[bytes.len().min(48)..]);
        if bytes.len() >= 8 {
            let _ = icrc::ib_icrc(&bytes[..8], None, &bytes[8..]);
        }
        let _ = icrc::vcrc(&bytes);
    }

    /// Mutations of valid packets (one byte changed, or truncated) never
    /// panic the parser either.
    #[test]
    fn mutated_packets_never_panic((hdr, payload) in packet(), at: usize, value: u8, cut: usize) {
        let mut buf = vec![0u8; 400];
        let n = write_packet(&hdr, &payload, &mut buf).unwrap();
        buf.truncate(n);
        let i = at % n;
        buf[i] = value;
        let _ = packet::parse(&buf);
        let _ = packet::parse(&buf[..cut % (n + 1)]);
    }

    /// The incremental ICRC does not depend on how the input is split.
    #[test]
    fn icrc_split_invariant(data in proptest::collection::vec(any::<u8>(), 12..600), split: usize) {
        let ip_udp = {
            let mut v = vec![0x45u8; 20];
            v.extend_from_slice(&[0x12, 0x34, 0x12, 0xb7, 0, 0, 0, 0]);
            v
        };
        let whole = icrc::roce_icrc(&ip_udp, &data).unwrap();
        let mut inc = Icrc::roce(&ip_udp).unwrap();
        inc.update_bth(&data).unwrap();
        let rest = &data[12..];
        let k = split % (rest.len() + 1);
        inc.update(&rest[..k]);
        inc.update(&rest[k..]);
        prop_assert_eq!(inc.finish(), whole);
    }

    /// IBA 9.7.1: PSN arithmetic modulo 2^24.
    #[test]
    fn psn_algebra(a in 0u32..=PSN_MASK, n: u32, d in -(PSN_HALF as i32)..(PSN_HALF as i32)) {
        let p = Psn::new(a);
        prop_assert_eq!(p.add(n).sub(n), p);
        prop_assert_eq!(p.add(n).value(), a.wrapping_add(n) & PSN_MASK);
        let q = p.add(d as u32);
        prop_assert_eq!(p.distance_to(q), d);
        if d != -(PSN_HALF as i32) {
            prop_assert_eq!(q.distance_to(p), -d);
        }
        prop_assert_eq!(p.is_before(q), d > 0);
        prop_assert_eq!(p.next(), p.add(1));
    }

    /// IBA 9.7.5.1 Tables 42/43: decode never panics; decode(encode(s)) == s
    /// and encode(decode(b)) == b without the reserved bit 7.
    #[test]
    fn syndrome_round_trip(byte: u8, code in 0u8..32, nak in 0u8..5) {
        if let Ok(s) = Syndrome::decode(byte) {
            prop_assert_eq!(s.encode(), byte & 0x7f);
        }
        for s in [
            Syndrome::Ack { credit_code: code },
            Syndrome::RnrNak { timer_code: code },
            Syndrome::Nak(NakCode::from_code(nak).unwrap()),
        ] {
            prop_assert_eq!(Syndrome::decode(s.encode()), Ok(s));
        }
    }
}
