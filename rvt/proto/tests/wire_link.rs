//! The native IB framing (rvt_proto::link): round trips, and every way a
//! received packet can be wrong is an error, never a panic. The known
//! answers, computed independently, are in wire_crc.rs.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use proptest::prelude::*;
use rvt_proto::headers::{Bth, WireError};
use rvt_proto::icrc;
use rvt_proto::link::{self, Grh, LinkNext, Lrh};
use rvt_proto::opcode::Opcode;
use rvt_proto::psn::Psn;

fn lrh(vl: u8, sl: u8, dlid: u16, slid: u16) -> Lrh {
    Lrh {
        vl,
        lver: 0,
        sl,
        lnh: LinkNext::Local,
        dlid,
        pkt_len: 0,
        slid,
    }
}

fn grh(tclass: u8, flow: u32, hops: u8, seed: u8) -> Grh {
    Grh {
        ip_version: 6,
        traffic_class: tclass,
        flow_label: flow,
        payload_len: 0,
        next_header: link::NEXT_HEADER_IBA,
        hop_limit: hops,
        sgid: [seed; 16],
        dgid: [seed.wrapping_add(1); 16],
    }
}

/// A SEND Only of `payload` bytes to QP 0x10203, padded to 4 bytes.
fn transport(payload: usize) -> Vec<u8> {
    let mut bth = Bth::new(Opcode::RcSendOnly, 0x10203, Psn::new(77));
    bth.pad_count = ((4 - payload % 4) % 4) as u8;
    let mut t = vec![0u8; Bth::LEN];
    bth.write(&mut t).unwrap();
    t.extend((0..payload).map(|i| i as u8));
    t.resize(t.len() + usize::from(bth.pad_count), 0);
    t
}

fn build(l: &Lrh, g: Option<&Grh>, t: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; link::ib_packet_len(t.len(), g.is_some())];
    let n = link::write_ib(l, g, t, &mut buf).unwrap();
    assert_eq!(n, buf.len());
    buf
}

/// Rewrites the VCRC after a change to the packet's covered bytes, so the
/// check behind it is the one a test reaches.
fn reseal(p: &mut [u8]) {
    let n = p.len() - 2;
    let v = icrc::vcrc(&p[..n]);
    p[n..].copy_from_slice(&v.to_le_bytes());
}

proptest! {
    #[test]
    fn write_then_parse_round_trips(
        vl in 0u8..16, sl in 0u8..16, dlid: u16, slid: u16, payload in 0usize..600,
        global: bool, tclass: u8, flow in 0u32..(1 << 20), hops: u8, seed: u8,
        padding in 0usize..40,
    ) {
        let t = transport(payload);
        let g = grh(tclass, flow, hops, seed);
        let mut p = build(&lrh(vl, sl, dlid, slid), global.then_some(&g), &t);
        // An Ethernet carrier pads short frames: what follows is ignored.
        p.resize(p.len() + padding, 0xee);
        let got = link::parse_ib(&p).unwrap();
        prop_assert_eq!(got.transport, &t[..]);
        prop_assert_eq!((got.lrh.vl, got.lrh.sl, got.lrh.dlid, got.lrh.slid), (vl, sl, dlid, slid));
        prop_assert_eq!(got.lrh.lnh, if global { LinkNext::Global } else { LinkNext::Local });
        if global {
            let h = got.grh.unwrap();
            prop_assert_eq!((h.traffic_class, h.flow_label, h.hop_limit), (tclass, flow, hops));
            prop_assert_eq!(usize::from(h.payload_len), t.len() + 4);
        } else {
            prop_assert!(got.grh.is_none());
        }
    }

    /// Whatever the bytes, parse_ib returns; a flipped bit anywhere in a
    /// valid packet is caught (the VCRC covers all but itself, which
    /// then no longer matches).
    #[test]
    fn any_bit_flip_is_an_error(payload in 0usize..100, global: bool, bit in 0usize..8, at in 0usize..10_000) {
        let t = transport(payload);
        let mut p = build(&lrh(0, 0, 1, 2), global.then_some(&grh(0, 0, 64, 9)), &t);
        let at = at % p.len();
        p[at] ^= 1 << bit;
        prop_assert!(link::parse_ib(&p).is_err());
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = link::parse_ib(&bytes);
    }
}

#[test]
fn every_truncation_is_an_error() {
    for global in [false, true] {
        let p = build(
            &lrh(1, 2, 3, 4),
            global.then_some(&grh(1, 2, 3, 4)),
            &transport(33),
        );
        for n in 0..p.len() {
            assert_eq!(
                link::parse_ib(&p[..n]).unwrap_err(),
                WireError::Truncated,
                "{n} bytes"
            );
        }
    }
}

#[test]
fn link_version_and_next_header_are_checked() {
    let good = build(&lrh(1, 2, 3, 4), None, &transport(8));
    let mut p = good.clone();
    p[0] |= 0x01; // LVer 1
    reseal(&mut p);
    assert_eq!(link::parse_ib(&p).unwrap_err(), WireError::BadLinkHeader);
    for lnh in [0u8, 1] {
        let mut p = good.clone();
        p[1] = (p[1] & !3) | lnh; // a raw, non-IBA transport
        reseal(&mut p);
        assert_eq!(link::parse_ib(&p).unwrap_err(), WireError::BadLinkHeader);
    }
    let mut p = good.clone();
    let last = p.len() - 1;
    p[last] ^= 0x80;
    assert_eq!(link::parse_ib(&p).unwrap_err(), WireError::BadVcrc);
    let mut p = good;
    p[20] ^= 1; // payload: the ICRC no longer matches once the VCRC does
    reseal(&mut p);
    assert_eq!(link::parse_ib(&p).unwrap_err(), WireError::BadIcrc);
}

#[test]
fn grh_fields_are_checked() {
    let good = build(&lrh(0, 0, 5, 6), Some(&grh(0, 0, 64, 1)), &transport(16));
    for (at, value) in [(0usize, 0x40u8), (6, 0x11)] {
        // IP version 4; next header UDP.
        let mut p = good.clone();
        p[8 + at] = value;
        reseal(&mut p);
        assert_eq!(link::parse_ib(&p).unwrap_err(), WireError::BadNetworkHeader);
    }
    // A payload length that disagrees with the LRH's packet length.
    let mut p = good.clone();
    p[8 + 5] = p[8 + 5].wrapping_add(4);
    reseal(&mut p);
    assert_eq!(link::parse_ib(&p).unwrap_err(), WireError::BadNetworkHeader);
    // A local packet too short for a BTH and an ICRC.
    let mut short = vec![0u8; 8 + 16 + 2];
    lrh(0, 0, 1, 1).write(&mut short).unwrap();
    let l = Lrh {
        pkt_len: 6,
        ..Lrh::parse(&short).unwrap()
    };
    l.write(&mut short).unwrap();
    short.truncate(8 + 12 + 4);
    short.resize(8 + 12 + 4 + 2, 0);
    reseal(&mut short);
    assert!(link::parse_ib(&short).is_err());
}

#[test]
fn write_refuses_what_does_not_fit() {
    let mut buf = vec![0u8; 9000];
    let t = transport(8);
    assert_eq!(
        link::write_ib(&lrh(16, 0, 1, 1), None, &t, &mut buf).unwrap_err(),
        WireError::FieldOutOfRange
    );
    assert_eq!(
        link::write_ib(&lrh(0, 0, 1, 1), None, &t[..t.len() - 1], &mut buf).unwrap_err(),
        WireError::BadLength
    );
    // 2047 words is the most PktLen counts: LRH + transport + ICRC.
    let big = vec![0u8; 2047 * 4 - 8 - 4 + 4];
    assert_eq!(
        link::write_ib(&lrh(0, 0, 1, 1), None, &big, &mut buf).unwrap_err(),
        WireError::FieldOutOfRange
    );
    let fits = vec![0u8; 2047 * 4 - 8 - 4];
    assert!(link::write_ib(&lrh(0, 0, 1, 1), None, &fits, &mut buf).is_ok());
    assert_eq!(
        link::write_ib(&lrh(0, 0, 1, 1), None, &t, &mut buf[..10]).unwrap_err(),
        WireError::BufferTooSmall
    );
    let mut g = grh(0, 1 << 20, 1, 1);
    assert_eq!(
        link::write_ib(&lrh(0, 0, 1, 1), Some(&g), &t, &mut buf).unwrap_err(),
        WireError::FieldOutOfRange
    );
    g.flow_label = 0;
    assert!(link::write_ib(&lrh(0, 0, 1, 1), Some(&g), &t, &mut buf).is_ok());
}
