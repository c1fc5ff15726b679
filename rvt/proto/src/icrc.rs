//! Invariant CRC (IBA vol. 1, 7.8.1; RoCEv2: annex A17) and variant CRC
//! (IBA 7.8.2).
//!
//! # ICRC
//! The ICRC is the CRC-32 of IEEE 802.3 (polynomial 0x04C11DB7, processed
//! least significant bit first, i.e. the reflected form 0xEDB88320, register
//! seeded with all ones, result complemented) over the packet with its
//! *variant* fields replaced by ones:
//!
//! - native IB, local packet (no GRH, IBA 7.8.1): the LRH with its VL field
//!   (byte 0 bits 7:4) set to ones;
//! - native IB, global packet (GRH present, IBA 7.8.1): the whole LRH (8 bytes)
//!   set to ones, since routers rewrite it; in the GRH, TClass, FlowLabel and
//!   HopLmt set to ones;
//! - RoCEv2 (annex A17.4): 8 bytes of ones stand in for the LRH; in the IPv4
//!   header, the TOS (DSCP/ECN), TTL and header checksum set to ones; in the
//!   IPv6 header, the traffic class, flow label and hop limit set to ones; in
//!   the UDP header, the checksum set to ones;
//! - always: BTH byte 4 (the former Resv8a, now FECN, BECN and Resv6a) set to
//!   ones.
//!
//! Coverage runs from the (masked) first header through the last pad byte;
//! the ICRC itself is not covered. For RoCEv2 the Ethernet header is not
//! covered, and the IPv4 header must have no options (IHL = 5, as every
//! RoCEv2 implementation sends).
//!
//! # Byte order
//! [`Icrc::finish`] returns the CRC as a `u32` in the usual software form
//! (what zlib's `crc32()` returns for the same bytes). On the wire the ICRC
//! occupies 4 bytes holding this value **least significant byte first**:
//! `finish().to_le_bytes()` ([`Icrc::finish_bytes`]); this is the order of
//! the Ethernet FCS and what every RoCEv2 device sends (checked against the
//! rdma_rxe captures in tests/data).
//!
//! # The CRC-32 primitive
//! Every ICRC computation runs on a [`Crc32`] the caller chooses: the
//! table-driven [`TableCrc32`] here (the default and the reference), or,
//! inside rvt.ko, the kernel's arch-accelerated `crc32_le`, which has exactly
//! the [`Crc32::update`] contract. The `*_with` constructors and functions
//! take one; the others use [`TableCrc32`].
//!
//! # VCRC
//! [`vcrc`] is the 16-bit CRC of IBA 7.8.2, polynomial 0x100B
//! (x^16 + x^12 + x^3 + x + 1), bits processed least significant first like
//! the ICRC (reflected form 0xD008), seeded with all ones, result
//! complemented, over every byte from the first LRH byte through the ICRC. It
//! is likewise carried least significant byte first (`vcrc(..).to_le_bytes()`).

use super::headers::{Bth, WireError};

/// Length of the ICRC on the wire.
pub const ICRC_LEN: usize = 4;
/// Length of the VCRC on the wire.
pub const VCRC_LEN: usize = 2;
/// Length of the LRH (IBA 7.7).
pub const LRH_LEN: usize = 8;
/// Length of the GRH (IBA 8.3), and of an IPv6 header.
pub const GRH_LEN: usize = 40;
/// Length of an IPv4 header without options, the only form RoCEv2 uses.
pub const IPV4_HEADER_LEN: usize = 20;
/// Length of an IPv6 header.
pub const IPV6_HEADER_LEN: usize = 40;
/// Length of a UDP header.
pub const UDP_HEADER_LEN: usize = 8;
/// UDP destination port of RoCEv2 (IBA annex A17.2).
pub const ROCE_V2_UDP_PORT: u16 = 4791;

/// The IEEE 802.3 CRC-32 polynomial in reflected (LSB-first) form.
pub const CRC32_POLY_REFLECTED: u32 = 0xedb8_8320;
/// The IBA VCRC polynomial 0x100B in reflected (LSB-first) form.
pub const VCRC_POLY_REFLECTED: u16 = 0xd008;

/// The byte-at-a-time table of a reflected CRC with polynomial `poly`:
/// entry `b` is the register after shifting byte `b` through a zero register.
/// Serves both the CRC-32 and the 16-bit VCRC (whose entries stay below 2^16).
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
// Evaluated at compile time only: an out-of-bounds index or an overflow
// would fail the build, not panic at run time.
const fn reflected_table(poly: u32) -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut byte = 0;
    while byte < 256 {
        let mut crc = byte as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ poly
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[byte] = crc;
        byte += 1;
    }
    table
}

/// Lookup tables for slicing-by-16 (16 KiB): `table[0]` is the classic
/// byte-at-a-time table, `table[k][b]` the CRC of byte `b` followed by `k`
/// zero bytes.
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
// Evaluated at compile time only (see `reflected_table`).
const fn build_crc32_tables() -> [[u32; 256]; 16] {
    let mut tables = [[0u32; 256]; 16];
    tables[0] = reflected_table(CRC32_POLY_REFLECTED);
    let mut k = 1;
    while k < 16 {
        let mut byte = 0;
        while byte < 256 {
            let prev = tables[k - 1][byte];
            tables[k][byte] = (prev >> 8) ^ tables[0][(prev & 0xff) as usize];
            byte += 1;
        }
        k += 1;
    }
    tables
}

static CRC32_TABLES: [[u32; 256]; 16] = build_crc32_tables();
static VCRC_TABLE: [u32; 256] = reflected_table(VCRC_POLY_REFLECTED as u32);

/// `table[index]`; a `u8` index is always in bounds, the compiler drops the
/// fallback.
#[inline(always)]
fn lookup32(table: &[u32; 256], index: u8) -> u32 {
    table.get(usize::from(index)).copied().unwrap_or(0)
}

/// Advances a CRC-32 register (reflected, no pre- or post-inversion) over
/// `bytes`. Start from `0xffff_ffff` and complement at the end for the
/// standard CRC-32; [`crc32`] does both.
pub fn crc32_update(mut crc: u32, bytes: &[u8]) -> u32 {
    let [t0, t1, t2, t3, t4, t5, t6, t7, t8, t9, t10, t11, t12, t13, t14, t15] = &CRC32_TABLES;
    let mut rest = bytes;
    // Slicing-by-16: fold 16 input bytes per step with sixteen independent
    // table lookups (the first four bytes absorb the register).
    while let Some((chunk, tail)) = rest.split_first_chunk::<16>() {
        let [b0, b1, b2, b3, b4, b5, b6, b7, b8, b9, b10, b11, b12, b13, b14, b15] = *chunk;
        let [c0, c1, c2, c3] = crc.to_le_bytes();
        crc = lookup32(t15, b0 ^ c0)
            ^ lookup32(t14, b1 ^ c1)
            ^ lookup32(t13, b2 ^ c2)
            ^ lookup32(t12, b3 ^ c3)
            ^ lookup32(t11, b4)
            ^ lookup32(t10, b5)
            ^ lookup32(t9, b6)
            ^ lookup32(t8, b7)
            ^ lookup32(t7, b8)
            ^ lookup32(t6, b9)
            ^ lookup32(t5, b10)
            ^ lookup32(t4, b11)
            ^ lookup32(t3, b12)
            ^ lookup32(t2, b13)
            ^ lookup32(t1, b14)
            ^ lookup32(t0, b15);
        rest = tail;
    }
    for &byte in rest {
        let [c0, ..] = crc.to_le_bytes();
        crc = lookup32(t0, c0 ^ byte) ^ (crc >> 8);
    }
    crc
}

/// The CRC-32 primitive of the ICRC, supplied by the caller.
pub trait Crc32 {
    /// Advances a CRC-32 register over `bytes`: the IEEE 802.3 polynomial
    /// in reflected form ([`CRC32_POLY_REFLECTED`]), least significant bit
    /// first, without pre- or post-inversion. This is the Linux kernel's
    /// `crc32_le(crc, bytes, len)` and [`crc32_update`].
    fn update(&self, crc: u32, bytes: &[u8]) -> u32;
}

/// The table-driven CRC-32 of this crate ([`crc32_update`],
/// slicing-by-16): the default and the reference.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct TableCrc32;

impl Crc32 for TableCrc32 {
    #[inline]
    fn update(&self, crc: u32, bytes: &[u8]) -> u32 {
        crc32_update(crc, bytes)
    }
}

/// The standard CRC-32 (IEEE 802.3, as zlib computes it) of `bytes`.
pub fn crc32(bytes: &[u8]) -> u32 {
    !crc32_update(0xffff_ffff, bytes)
}

/// The VCRC (IBA 7.8.2) of `bytes`: every byte of the packet from the first
/// LRH byte through the ICRC. On the wire: `vcrc(..).to_le_bytes()`.
pub fn vcrc(bytes: &[u8]) -> u16 {
    // A 16-bit register kept in a u32: table entries are below 2^16.
    let mut crc: u32 = 0xffff;
    for &byte in bytes {
        let [c0, ..] = crc.to_le_bytes();
        crc = lookup32(&VCRC_TABLE, c0 ^ byte) ^ (crc >> 8);
    }
    let [v0, v1, ..] = (!crc).to_le_bytes();
    u16::from_le_bytes([v0, v1])
}

/// The masked LRH RoCEv2 hashes first: 8 bytes of ones (annex A17.4).
const MASKED_LRH: [u8; LRH_LEN] = [0xff; LRH_LEN];

/// Copies a header of exactly `N` bytes into an array, or fails with
/// `BadNetworkHeader`.
fn exact<const N: usize>(header: &[u8]) -> Result<[u8; N], WireError> {
    <[u8; N]>::try_from(header).map_err(|_| WireError::BadNetworkHeader)
}

/// An IPv6 header or a GRH with TClass, FlowLabel and HopLmt set to ones
/// (IBA 7.8.1; annex A17.4 for IPv6). Byte 0 is IPVer(7:4) TClass(3:0 = high
/// half), byte 1 TClass low half and FlowLabel, bytes 2-3 FlowLabel, byte 7
/// HopLmt.
fn mask_ipv6_or_grh(mut header: [u8; GRH_LEN]) -> [u8; GRH_LEN] {
    header[0] |= 0x0f;
    header[1] = 0xff;
    header[2] = 0xff;
    header[3] = 0xff;
    header[7] = 0xff;
    header
}

/// A UDP header with the checksum (bytes 6-7) set to ones (annex A17.4).
fn masked_udp(udp_header: &[u8]) -> Result<[u8; UDP_HEADER_LEN], WireError> {
    let mut udp = exact::<UDP_HEADER_LEN>(udp_header)?;
    udp[6] = 0xff;
    udp[7] = 0xff;
    Ok(udp)
}

/// Incremental ICRC computation on the CRC-32 primitive `C`: make one with
/// a constructor for the variant (which hashes the masked network headers),
/// feed the BTH with [`Icrc::update_bth`], then everything after it
/// (extension headers, payload, pad) with [`Icrc::update`], and
/// [`Icrc::finish`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Icrc<C: Crc32 = TableCrc32> {
    /// CRC register (before the final complement).
    state: u32,
    crc: C,
}

impl Icrc<TableCrc32> {
    /// [`Icrc::roce_v4_with`] the table CRC.
    pub fn roce_v4(ip_header: &[u8], udp_header: &[u8]) -> Result<Self, WireError> {
        Icrc::roce_v4_with(TableCrc32, ip_header, udp_header)
    }

    /// [`Icrc::roce_v6_with`] the table CRC.
    pub fn roce_v6(ip_header: &[u8], udp_header: &[u8]) -> Result<Self, WireError> {
        Icrc::roce_v6_with(TableCrc32, ip_header, udp_header)
    }

    /// [`Icrc::roce_with`] the table CRC.
    pub fn roce(ip_and_udp: &[u8]) -> Result<Self, WireError> {
        Icrc::roce_with(TableCrc32, ip_and_udp)
    }

    /// [`Icrc::ib_with`] the table CRC.
    pub fn ib(lrh: &[u8], grh: Option<&[u8]>) -> Result<Self, WireError> {
        Icrc::ib_with(TableCrc32, lrh, grh)
    }
}

impl<C: Crc32> Icrc<C> {
    /// A computation over nothing yet (register all ones).
    const fn empty(crc: C) -> Self {
        Icrc {
            state: 0xffff_ffff,
            crc,
        }
    }

    /// Starts a RoCEv2 ICRC over IPv4: `ip_header` is the 20-byte IPv4
    /// header (version 4, no options) and `udp_header` the 8-byte UDP header.
    pub fn roce_v4_with(crc: C, ip_header: &[u8], udp_header: &[u8]) -> Result<Self, WireError> {
        let mut ip = exact::<IPV4_HEADER_LEN>(ip_header)?;
        if ip[0] != 0x45 {
            // Version 4, IHL 5: options are not supported.
            return Err(WireError::BadNetworkHeader);
        }
        let udp = masked_udp(udp_header)?;
        ip[1] = 0xff; // TOS: DSCP and ECN
        ip[8] = 0xff; // TTL
        ip[10] = 0xff; // header checksum
        ip[11] = 0xff;
        let mut icrc = Icrc::empty(crc);
        icrc.update(&MASKED_LRH);
        icrc.update(&ip);
        icrc.update(&udp);
        Ok(icrc)
    }

    /// Starts a RoCEv2 ICRC over IPv6: `ip_header` is the 40-byte IPv6
    /// header (version 6; extension headers are not supported) and
    /// `udp_header` the 8-byte UDP header.
    pub fn roce_v6_with(crc: C, ip_header: &[u8], udp_header: &[u8]) -> Result<Self, WireError> {
        let ip = exact::<IPV6_HEADER_LEN>(ip_header)?;
        if ip[0] >> 4 != 6 {
            return Err(WireError::BadNetworkHeader);
        }
        let udp = masked_udp(udp_header)?;
        let mut icrc = Icrc::empty(crc);
        icrc.update(&MASKED_LRH);
        icrc.update(&mask_ipv6_or_grh(ip));
        icrc.update(&udp);
        Ok(icrc)
    }

    /// Starts a RoCEv2 ICRC from the IP header and the UDP header as they
    /// lie back to back in the packet (28 bytes for IPv4, 48 for IPv6); the
    /// IP version is taken from the first nibble.
    pub fn roce_with(crc: C, ip_and_udp: &[u8]) -> Result<Self, WireError> {
        let version = ip_and_udp.first().map(|b| b >> 4);
        let ip_len = match version {
            Some(4) => IPV4_HEADER_LEN,
            Some(6) => IPV6_HEADER_LEN,
            _ => return Err(WireError::BadNetworkHeader),
        };
        let (ip, udp) = ip_and_udp
            .split_at_checked(ip_len)
            .ok_or(WireError::BadNetworkHeader)?;
        if ip_len == IPV4_HEADER_LEN {
            Icrc::roce_v4_with(crc, ip, udp)
        } else {
            Icrc::roce_v6_with(crc, ip, udp)
        }
    }

    /// Starts a native IB ICRC (IBA 7.8.1) from the 8-byte LRH and, for a
    /// global packet, the 40-byte GRH. Without a GRH only the LRH's VL is
    /// masked; with one, the whole LRH and the GRH's TClass, FlowLabel and
    /// HopLmt are.
    pub fn ib_with(crc: C, lrh: &[u8], grh: Option<&[u8]>) -> Result<Self, WireError> {
        let mut lrh = exact::<LRH_LEN>(lrh)?;
        let mut icrc = Icrc::empty(crc);
        match grh {
            None => {
                lrh[0] |= 0xf0; // VL
                icrc.update(&lrh);
            }
            Some(grh) => {
                let grh = exact::<GRH_LEN>(grh)?;
                icrc.update(&MASKED_LRH);
                icrc.update(&mask_ipv6_or_grh(grh));
            }
        }
        Ok(icrc)
    }

    /// Feeds the BTH, the first 12 bytes of `bth` (more may follow; only the
    /// BTH is hashed), with byte 4 (FECN, BECN, Resv6a; Resv8a in IBA 1.0)
    /// masked to ones.
    pub fn update_bth(&mut self, bth: &[u8]) -> Result<(), WireError> {
        let mut bytes = *bth
            .first_chunk::<{ Bth::LEN }>()
            .ok_or(WireError::Truncated)?;
        bytes[4] = 0xff;
        self.update(&bytes);
        Ok(())
    }

    /// Feeds `bytes` unmasked (extension headers, payload, pad).
    pub fn update(&mut self, bytes: &[u8]) {
        self.state = self.crc.update(self.state, bytes);
    }

    /// Feeds a whole transport packet from its BTH through its last pad byte
    /// (not the ICRC): [`Icrc::update_bth`] then [`Icrc::update`] on the rest.
    pub fn update_packet(&mut self, bth_onward: &[u8]) -> Result<(), WireError> {
        self.update_bth(bth_onward)?;
        self.update(bth_onward.get(Bth::LEN..).unwrap_or_default());
        Ok(())
    }

    /// The ICRC value (complemented register). On the wire it is stored
    /// least significant byte first: see [`Icrc::finish_bytes`].
    pub fn finish(&self) -> u32 {
        !self.state
    }

    /// The 4 ICRC bytes in wire order (`finish().to_le_bytes()`).
    pub fn finish_bytes(&self) -> [u8; ICRC_LEN] {
        self.finish().to_le_bytes()
    }
}

/// The RoCEv2 ICRC of a packet: `ip_and_udp` are the IP and UDP headers (28
/// or 48 bytes), `bth_onward` the BTH through the last pad byte.
pub fn roce_icrc(ip_and_udp: &[u8], bth_onward: &[u8]) -> Result<u32, WireError> {
    roce_icrc_with(TableCrc32, ip_and_udp, bth_onward)
}

/// [`roce_icrc`] on the CRC-32 primitive `crc`.
pub fn roce_icrc_with<C: Crc32>(
    crc: C,
    ip_and_udp: &[u8],
    bth_onward: &[u8],
) -> Result<u32, WireError> {
    let mut icrc = Icrc::roce_with(crc, ip_and_udp)?;
    icrc.update_packet(bth_onward)?;
    Ok(icrc.finish())
}

/// The native IB ICRC of a packet: `lrh` (8 bytes), the optional `grh` (40
/// bytes) and `bth_onward` the BTH through the last pad byte.
pub fn ib_icrc(lrh: &[u8], grh: Option<&[u8]>, bth_onward: &[u8]) -> Result<u32, WireError> {
    ib_icrc_with(TableCrc32, lrh, grh, bth_onward)
}

/// [`ib_icrc`] on the CRC-32 primitive `crc`.
pub fn ib_icrc_with<C: Crc32>(
    crc: C,
    lrh: &[u8],
    grh: Option<&[u8]>,
    bth_onward: &[u8],
) -> Result<u32, WireError> {
    let mut icrc = Icrc::ib_with(crc, lrh, grh)?;
    icrc.update_packet(bth_onward)?;
    Ok(icrc.finish())
}

/// Checks the ICRC at the end of a received RoCEv2 packet: `ip_and_udp` are
/// the IP and UDP headers, `bth_onward` the UDP payload (BTH through ICRC).
/// Returns the packet without its ICRC (what [`super::packet::parse`]
/// takes), `Truncated` if it is too short, `BadIcrc` if the ICRC differs.
pub fn check_roce<'a>(ip_and_udp: &[u8], bth_onward: &'a [u8]) -> Result<&'a [u8], WireError> {
    check_roce_with(TableCrc32, ip_and_udp, bth_onward)
}

/// [`check_roce`] on the CRC-32 primitive `crc`.
pub fn check_roce_with<'a, C: Crc32>(
    crc: C,
    ip_and_udp: &[u8],
    bth_onward: &'a [u8],
) -> Result<&'a [u8], WireError> {
    let (packet, icrc) = bth_onward
        .split_last_chunk::<ICRC_LEN>()
        .ok_or(WireError::Truncated)?;
    if roce_icrc_with(crc, ip_and_udp, packet)?.to_le_bytes() == *icrc {
        Ok(packet)
    } else {
        Err(WireError::BadIcrc)
    }
}
