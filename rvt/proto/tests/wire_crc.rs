//! ICRC and VCRC vectors computed independently of the code under test.
//!
//! The reference here is a bit-serial shift register written from the
//! definitions of IBA vol. 1, 7.8.1 (ICRC: the IEEE 802.3 CRC-32, polynomial
//! 0x04C11DB7) and 7.8.2 (VCRC: polynomial 0x100B): register seeded with all
//! ones, data bits fed least significant bit of each byte first (the IBA and
//! Ethernet transmission order), the remainder complemented and sent highest
//! power first, so the x^(n-1) coefficient lands in bit 0 of the first CRC
//! byte. The masked byte streams for native IB are also built here, from the
//! variant-field list of IBA 7.8.1, without calling the masking code.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use rvt_proto::headers::WireError;
use rvt_proto::icrc::{self, Crc32, Icrc};
use rvt_proto::link;
use std::cell::Cell;

/// Bit-serial CRC of `width` bits with (non-reflected) polynomial `poly`,
/// returned as the value whose little-endian bytes are the CRC bytes in
/// transmission order.
fn serial_crc(poly: u32, width: u32, data: &[u8]) -> u32 {
    let mask: u64 = (1u64 << width) - 1;
    let top: u64 = 1u64 << (width - 1);
    let mut reg: u64 = mask;
    for &byte in data {
        for i in 0..8 {
            let bit = u64::from((byte >> i) & 1);
            let feedback = u64::from(reg & top != 0) ^ bit;
            reg = (reg << 1) & mask;
            if feedback == 1 {
                reg ^= u64::from(poly);
            }
        }
    }
    let remainder = !reg & mask;
    // Coefficient of x^(width-1) is sent first, i.e. becomes bit 0 of the
    // first byte: reverse the bit order of the remainder.
    let mut out = 0u32;
    for i in 0..width {
        if remainder & (1u64 << (width - 1 - i)) != 0 {
            out |= 1 << i;
        }
    }
    out
}

fn ref_crc32(data: &[u8]) -> u32 {
    serial_crc(0x04c1_1db7, 32, data)
}

fn ref_crc16_vcrc(data: &[u8]) -> u16 {
    serial_crc(0x100b, 16, data) as u16
}

/// Deterministic filler bytes.
fn bytes(seed: u32, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// The reference agrees with the catalogued check value of CRC-32/ISO-HDLC
/// (the IEEE 802.3 CRC): "123456789" -> 0xCBF43926. This pins down the
/// reference's conventions independently of the code under test.
#[test]
fn reference_matches_published_crc32_check_value() {
    assert_eq!(ref_crc32(b"123456789"), 0xcbf4_3926);
}

/// IBA 7.8.1: the table-driven CRC-32 equals the bit-serial definition for
/// all lengths 0..300 (every slicing-by-8 tail) and random contents.
#[test]
fn crc32_matches_bit_serial_definition() {
    assert_eq!(icrc::crc32(b"123456789"), 0xcbf4_3926);
    assert_eq!(icrc::crc32(&[]), 0);
    for len in 0..300 {
        let data = bytes(len as u32, len);
        assert_eq!(icrc::crc32(&data), ref_crc32(&data), "len {len}");
    }
}

/// The register after the RoCEv2 pseudo-LRH of 8 bytes of ones is the
/// well-known 0xDEBB20E3 (the CRC-32 residue), so no per-packet work is lost
/// on it.
#[test]
fn roce_pseudo_lrh_register() {
    assert_eq!(icrc::crc32_update(0xffff_ffff, &[0xff; 8]), 0xdebb_20e3);
}

/// A native IB local packet: LRH (8), BTH (12), RETH (16), payload (5), pad.
fn local_packet() -> (Vec<u8>, Vec<u8>) {
    // LRH: VL 3, LVer 0, SL 5, LNH 10b (IBA local), DLID 0x0012, PktLen
    // (in 4-byte words, LRH through ICRC), SLID 0x0034 (IBA 7.7).
    let transport_len = 12 + 16 + 8;
    let pkt_len_words = ((8 + transport_len + 4) / 4) as u16;
    let mut lrh = vec![0x30, 0x52, 0x00, 0x12];
    lrh.extend_from_slice(&pkt_len_words.to_be_bytes());
    lrh.extend_from_slice(&[0x00, 0x34]);
    // BTH: RDMA WRITE Only (0x0a), pad 3, P_Key 0xffff, FECN+BECN set,
    // DestQP 0x000102, AckReq, PSN 0x030405.
    let mut transport = vec![
        0x0a, 0x30, 0xff, 0xff, 0xc0, 0x00, 0x01, 0x02, 0x80, 0x03, 0x04, 0x05,
    ];
    transport.extend_from_slice(&bytes(7, 16)); // RETH
    transport.extend_from_slice(b"hello\0\0\0");
    (lrh, transport)
}

/// IBA 7.8.1, local packet (no GRH): LRH VL and BTH byte 4 are variant.
#[test]
fn ib_local_icrc_vector() {
    let (lrh, transport) = local_packet();
    let mut masked = lrh.clone();
    masked[0] |= 0xf0; // VL
    let mut t = transport.clone();
    t[4] = 0xff; // BTH Resv8a (FECN, BECN, Resv6a)
    masked.extend_from_slice(&t);
    let want = ref_crc32(&masked);
    assert_eq!(icrc::ib_icrc(&lrh, None, &transport).unwrap(), want);

    // Changing a variant field does not change it; an invariant one does.
    let mut lrh2 = lrh.clone();
    lrh2[0] = 0x70; // other VL
    assert_eq!(icrc::ib_icrc(&lrh2, None, &transport).unwrap(), want);
    lrh2[1] = 0x62; // other SL: invariant within a subnet
    assert_ne!(icrc::ib_icrc(&lrh2, None, &transport).unwrap(), want);
    let mut t2 = transport.clone();
    t2[4] = 0x00;
    assert_eq!(icrc::ib_icrc(&lrh, None, &t2).unwrap(), want);
}

/// IBA 7.8.1, global packet (GRH present): the whole LRH, and GRH TClass,
/// FlowLabel and HopLmt are variant, besides BTH byte 4.
#[test]
fn ib_global_icrc_vector() {
    let (mut lrh, transport) = local_packet();
    lrh[1] = 0x53; // LNH 11b: IBA global
                   // GRH (IBA 8.3): IPVer 6, TClass 0xab, FlowLabel 0xcdef1, PayLen,
                   // NxtHdr 0x1b, HopLmt 0x40, SGID, DGID.
    let mut grh = vec![0x6a, 0xbc, 0xde, 0xf1];
    grh.extend_from_slice(&((transport.len() + 4) as u16).to_be_bytes());
    grh.extend_from_slice(&[0x1b, 0x40]);
    grh.extend_from_slice(&bytes(11, 32)); // SGID, DGID
    let mut masked = vec![0xff; 8];
    let mut g = grh.clone();
    g[0] = 0x6f;
    g[1] = 0xff;
    g[2] = 0xff;
    g[3] = 0xff;
    g[7] = 0xff;
    masked.extend_from_slice(&g);
    let mut t = transport.clone();
    t[4] = 0xff;
    masked.extend_from_slice(&t);
    let want = ref_crc32(&masked);
    assert_eq!(icrc::ib_icrc(&lrh, Some(&grh), &transport).unwrap(), want);

    // A router rewrites the LRH (DLID, SLID, SL, VL) and HopLmt: no change.
    let mut lrh2 = lrh.clone();
    lrh2[2..4].copy_from_slice(&[0x77, 0x77]);
    let mut grh2 = grh.clone();
    grh2[7] = 0x3f;
    assert_eq!(icrc::ib_icrc(&lrh2, Some(&grh2), &transport).unwrap(), want);
    // The SGID is invariant.
    grh2[8] ^= 1;
    assert_ne!(icrc::ib_icrc(&lrh2, Some(&grh2), &transport).unwrap(), want);
}

/// A caller's CRC-32 primitive: bit-at-a-time over the reflected
/// polynomial, counting the bytes it is given.
struct BitwiseCrc32<'a> {
    bytes_seen: &'a Cell<usize>,
}

impl Crc32 for BitwiseCrc32<'_> {
    fn update(&self, mut crc: u32, bytes: &[u8]) -> u32 {
        self.bytes_seen.set(self.bytes_seen.get() + bytes.len());
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ icrc::CRC32_POLY_REFLECTED
                } else {
                    crc >> 1
                };
            }
        }
        crc
    }
}

/// IBA 7.8.1 / annex A17.4: the ICRC is the CRC-32 over the masked headers
/// and the packet whatever computes the CRC-32: a primitive the caller
/// supplies (rvt.ko: the kernel's crc32_le) is the one used, for every
/// covered byte, and gives the same ICRC as the table reference.
#[test]
fn caller_supplied_crc32_computes_the_icrc() {
    let seen = Cell::new(0);
    let crc = || BitwiseCrc32 { bytes_seen: &seen };
    let (lrh, transport) = local_packet();
    assert_eq!(
        icrc::ib_icrc_with(crc(), &lrh, None, &transport).unwrap(),
        icrc::ib_icrc(&lrh, None, &transport).unwrap()
    );
    assert_eq!(seen.get(), lrh.len() + transport.len());
    let net = {
        let mut v = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 0x40, 0x11, 0, 0];
        v.extend_from_slice(&bytes(3, 8)); // addresses
        v.extend_from_slice(&[0xc0, 0x00, 0x12, 0xb7, 0, 0, 0, 0]); // UDP
        v
    };
    seen.set(0);
    let want = icrc::roce_icrc(&net, &transport).unwrap();
    assert_eq!(icrc::roce_icrc_with(crc(), &net, &transport).unwrap(), want);
    assert_eq!(seen.get(), 8 + net.len() + transport.len());
    let mut wire = transport.clone();
    wire.extend_from_slice(&want.to_le_bytes());
    assert_eq!(
        icrc::check_roce_with(crc(), &net, &wire).unwrap(),
        &transport[..]
    );
    wire[20] ^= 1;
    assert_eq!(
        icrc::check_roce_with(crc(), &net, &wire),
        Err(WireError::BadIcrc)
    );
    let mut inc = Icrc::roce_with(crc(), &net).unwrap();
    inc.update_packet(&transport).unwrap();
    assert_eq!(inc.finish(), want);
}

#[test]
fn ib_icrc_rejects_bad_lengths() {
    let (lrh, transport) = local_packet();
    assert_eq!(
        icrc::ib_icrc(&lrh[..7], None, &transport),
        Err(WireError::BadNetworkHeader)
    );
    assert_eq!(
        icrc::ib_icrc(&lrh, Some(&[0u8; 39]), &transport),
        Err(WireError::BadNetworkHeader)
    );
    assert_eq!(
        icrc::ib_icrc(&lrh, None, &transport[..11]),
        Err(WireError::Truncated)
    );
    assert_eq!(
        Icrc::roce_v4(&[0x46; 20], &[0; 8]),
        Err(WireError::BadNetworkHeader)
    );
    assert_eq!(
        Icrc::roce_v6(&[0x45; 40], &[0; 8]),
        Err(WireError::BadNetworkHeader)
    );
    assert_eq!(Icrc::roce(&[0x45; 20]), Err(WireError::BadNetworkHeader));
    assert_eq!(Icrc::roce(&[]), Err(WireError::BadNetworkHeader));
    assert_eq!(
        icrc::check_roce(&[0x45; 28], &[0; 3]),
        Err(WireError::Truncated)
    );
}

/// IBA 7.8.2: the VCRC equals the bit-serial CRC-16 with polynomial 0x100B,
/// over the whole packet from the LRH through the ICRC.
#[test]
fn vcrc_matches_bit_serial_definition() {
    for len in 0..100 {
        let data = bytes(1000 + len as u32, len);
        assert_eq!(icrc::vcrc(&data), ref_crc16_vcrc(&data), "len {len}");
    }
    // A whole local packet with its ICRC.
    let (lrh, transport) = local_packet();
    let icrc = icrc::ib_icrc(&lrh, None, &transport).unwrap();
    let mut packet = lrh.clone();
    packet.extend_from_slice(&transport);
    packet.extend_from_slice(&icrc.to_le_bytes());
    assert_eq!(icrc::vcrc(&packet), ref_crc16_vcrc(&packet));
    // Unlike the ICRC, the VCRC covers the variant fields.
    let mut other_vl = packet.clone();
    other_vl[0] ^= 0x10;
    assert_ne!(icrc::vcrc(&other_vl), icrc::vcrc(&packet));
}

/// A whole native IB packet framed by hand (IBA 7.7, 8.3: LRH, GRH,
/// transport, ICRC, VCRC), both CRCs from the bit-serial reference: parse_ib
/// accepts it and returns its fields, and write_ib builds the same bytes.
fn framed_by_hand(global: bool) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let (mut lrh, transport) = local_packet();
    let mut grh = Vec::new();
    if global {
        lrh[1] = 0x53; // LNH 11b
        grh = vec![0x6a, 0xbc, 0xde, 0xf1];
        grh.extend_from_slice(&((transport.len() + 4) as u16).to_be_bytes());
        grh.extend_from_slice(&[0x1b, 0x40]);
        grh.extend_from_slice(&bytes(11, 32));
        let words = ((8 + 40 + transport.len() + 4) / 4) as u16;
        lrh[4..6].copy_from_slice(&words.to_be_bytes());
    }
    // The ICRC over the masked headers (IBA 7.8.1), as the vectors above.
    let mut masked = if global { vec![0xff; 8] } else { lrh.clone() };
    if global {
        let mut g = grh.clone();
        g[0] |= 0x0f;
        g[1..4].copy_from_slice(&[0xff; 3]);
        g[7] = 0xff;
        masked.extend_from_slice(&g);
    } else {
        masked[0] |= 0xf0;
    }
    let mut t = transport.clone();
    t[4] = 0xff;
    masked.extend_from_slice(&t);
    let mut packet = lrh.clone();
    packet.extend_from_slice(&grh);
    packet.extend_from_slice(&transport);
    packet.extend_from_slice(&ref_crc32(&masked).to_le_bytes());
    let v = ref_crc16_vcrc(&packet);
    packet.extend_from_slice(&v.to_le_bytes());
    (packet, grh, transport)
}

#[test]
fn ib_packets_framed_by_hand_parse_and_are_rebuilt_byte_for_byte() {
    for global in [false, true] {
        let (packet, grh, transport) = framed_by_hand(global);
        let got = link::parse_ib(&packet).unwrap();
        assert_eq!(
            (
                got.lrh.vl,
                got.lrh.lver,
                got.lrh.sl,
                got.lrh.dlid,
                got.lrh.slid
            ),
            (3, 0, 5, 0x0012, 0x0034)
        );
        assert_eq!(usize::from(got.lrh.pkt_len) * 4, packet.len() - 2);
        assert_eq!(got.transport, &transport[..]);
        let mut rebuilt = vec![0u8; packet.len()];
        let g = got.grh;
        assert_eq!(g.is_some(), global);
        if let Some(g) = g {
            assert_eq!(
                (
                    g.ip_version,
                    g.traffic_class,
                    g.flow_label,
                    g.next_header,
                    g.hop_limit
                ),
                (6, 0xab, 0xcdef1, 0x1b, 0x40)
            );
            assert_eq!(&g.sgid[..], &grh[8..24]);
            assert_eq!(&g.dgid[..], &grh[24..40]);
        }
        let n = link::write_ib(&got.lrh, g.as_ref(), got.transport, &mut rebuilt).unwrap();
        assert_eq!(n, packet.len());
        assert_eq!(rebuilt, packet, "global {global}");
    }
}
