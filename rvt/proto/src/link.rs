//! The native InfiniBand link and network layers (IBA vol. 1, chapters 7
//! and 8): the Local Route Header, the Global Route Header, and whole
//! packets framed by them, `LRH [GRH] BTH ... ICRC VCRC`, as a native IB
//! backend (rvt_qib) carries them.
//!
//! [`parse_ib`] checks a received packet from the outside in: the LRH
//! (link version 0, an IBA transport behind it, a packet length that fits
//! the buffer), the VCRC over everything the packet length covers, the GRH
//! if the LRH says one follows (IP version 6, next header 0x1B, a payload
//! length that agrees with the LRH's), then the ICRC; what it returns is
//! the transport part, BTH through the last pad byte, for
//! [`super::packet::parse`]. [`write_ib`] builds the same framing around a
//! transport part, computing both lengths and both CRCs. Bytes after the
//! packet length and its VCRC (an Ethernet carrier's padding) are ignored.
//! Like the transport headers, parsing never panics whatever the input,
//! and writing refuses values that do not fit their fields.

use super::headers::WireError;
use super::icrc::{ib_icrc, vcrc, GRH_LEN, ICRC_LEN, LRH_LEN, VCRC_LEN};

/// LNH, the link next header (IBA 7.7): what follows the LRH.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkNext {
    /// 00: raw, a non-IBA transport.
    Raw,
    /// 01: a raw IPv6 packet, a non-IBA transport.
    RawIpv6,
    /// 10: IBA local: the BTH follows.
    Local,
    /// 11: IBA global: a GRH, then the BTH.
    Global,
}

impl LinkNext {
    const fn from_bits(bits: u8) -> LinkNext {
        match bits & 0x3 {
            0 => LinkNext::Raw,
            1 => LinkNext::RawIpv6,
            2 => LinkNext::Local,
            _ => LinkNext::Global,
        }
    }

    const fn bits(self) -> u8 {
        match self {
            LinkNext::Raw => 0,
            LinkNext::RawIpv6 => 1,
            LinkNext::Local => 2,
            LinkNext::Global => 3,
        }
    }
}

/// The VL of subnet management packets (IBA 7.6: QP0 traffic uses VL15,
/// and only it).
pub const VL15: u8 = 15;
/// The permissive LID (IBA 4.1: 0xFFFF, directed-route SMPs).
pub const PERMISSIVE_LID: u16 = 0xffff;
/// The first multicast LID (IBA 4.1: 0xC000 to 0xFFFE).
pub const MULTICAST_LID_BASE: u16 = 0xc000;
/// The GRH next header of an IBA transport (IBA 8.3).
pub const NEXT_HEADER_IBA: u8 = 0x1b;
/// The GRH IP version (IBA 8.3).
pub const GRH_IP_VERSION: u8 = 6;
/// The most 4-byte words the LRH's 11-bit PktLen field counts.
pub const MAX_PACKET_WORDS: u16 = 0x7ff;

/// Local Route Header (IBA 7.7, 8 bytes).
///
/// Layout: byte 0 VL(7:4) LVer(3:0); byte 1 SL(7:4) reserved(3:2) LNH(1:0);
/// bytes 2-3 DLID; bytes 4-5 reserved(15:11) PktLen(10:0); bytes 6-7 SLID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Lrh {
    /// Virtual lane, 0..=15.
    pub vl: u8,
    /// Link version, 0..=15; only 0 is defined.
    pub lver: u8,
    /// Service level, 0..=15.
    pub sl: u8,
    /// What follows the LRH.
    pub lnh: LinkNext,
    /// Destination LID.
    pub dlid: u16,
    /// Packet length in 4-byte words, LRH through ICRC, the VCRC excluded;
    /// 11 bits.
    pub pkt_len: u16,
    /// Source LID.
    pub slid: u16,
}

impl Lrh {
    /// Length on the wire.
    pub const LEN: usize = LRH_LEN;

    /// Parses the first 8 bytes of `buf`.
    pub fn parse(buf: &[u8]) -> Result<Lrh, WireError> {
        let b = buf.first_chunk::<LRH_LEN>().ok_or(WireError::Truncated)?;
        Ok(Lrh {
            vl: b[0] >> 4,
            lver: b[0] & 0x0f,
            sl: b[1] >> 4,
            lnh: LinkNext::from_bits(b[1]),
            dlid: u16::from_be_bytes([b[2], b[3]]),
            pkt_len: u16::from_be_bytes([b[4], b[5]]) & MAX_PACKET_WORDS,
            slid: u16::from_be_bytes([b[6], b[7]]),
        })
    }

    /// Writes the 8 bytes of the header to the start of `buf`.
    pub fn write(&self, buf: &mut [u8]) -> Result<(), WireError> {
        if self.vl > 0x0f || self.lver > 0x0f || self.sl > 0x0f || self.pkt_len > MAX_PACKET_WORDS {
            return Err(WireError::FieldOutOfRange);
        }
        let b = buf
            .first_chunk_mut::<LRH_LEN>()
            .ok_or(WireError::BufferTooSmall)?;
        b[0] = (self.vl << 4) | self.lver;
        b[1] = (self.sl << 4) | self.lnh.bits();
        b[2..4].copy_from_slice(&self.dlid.to_be_bytes());
        b[4..6].copy_from_slice(&self.pkt_len.to_be_bytes());
        b[6..8].copy_from_slice(&self.slid.to_be_bytes());
        Ok(())
    }
}

/// Global Route Header (IBA 8.3, 40 bytes; the layout of an IPv6 header).
///
/// Layout: byte 0 IPVer(7:4) TClass(7:4); byte 1 TClass(3:0)
/// FlowLabel(19:16); bytes 2-3 FlowLabel(15:0); bytes 4-5 PayLen; byte 6
/// NxtHdr; byte 7 HopLmt; bytes 8-23 SGID; bytes 24-39 DGID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Grh {
    /// IP version; 6 for a GRH.
    pub ip_version: u8,
    /// Traffic class.
    pub traffic_class: u8,
    /// Flow label, 20 bits.
    pub flow_label: u32,
    /// Bytes after the GRH through the ICRC, the VCRC excluded.
    pub payload_len: u16,
    /// Next header: 0x1B for an IBA transport.
    pub next_header: u8,
    /// Hop limit.
    pub hop_limit: u8,
    /// Source GID.
    pub sgid: [u8; 16],
    /// Destination GID.
    pub dgid: [u8; 16],
}

impl Grh {
    /// Length on the wire.
    pub const LEN: usize = GRH_LEN;

    /// Parses the first 40 bytes of `buf`.
    pub fn parse(buf: &[u8]) -> Result<Grh, WireError> {
        let b = buf.first_chunk::<GRH_LEN>().ok_or(WireError::Truncated)?;
        let mut grh = Grh {
            ip_version: b[0] >> 4,
            traffic_class: (b[0] << 4) | (b[1] >> 4),
            flow_label: u32::from_be_bytes([0, b[1] & 0x0f, b[2], b[3]]),
            payload_len: u16::from_be_bytes([b[4], b[5]]),
            next_header: b[6],
            hop_limit: b[7],
            sgid: [0; 16],
            dgid: [0; 16],
        };
        grh.sgid.copy_from_slice(&b[8..24]);
        grh.dgid.copy_from_slice(&b[24..40]);
        Ok(grh)
    }

    /// Writes the 40 bytes of the header to the start of `buf`.
    pub fn write(&self, buf: &mut [u8]) -> Result<(), WireError> {
        if self.ip_version > 0x0f || self.flow_label > 0x000f_ffff {
            return Err(WireError::FieldOutOfRange);
        }
        let b = buf
            .first_chunk_mut::<GRH_LEN>()
            .ok_or(WireError::BufferTooSmall)?;
        let [_, f2, f1, f0] = self.flow_label.to_be_bytes();
        b[0] = (self.ip_version << 4) | (self.traffic_class >> 4);
        b[1] = (self.traffic_class << 4) | f2;
        b[2] = f1;
        b[3] = f0;
        b[4..6].copy_from_slice(&self.payload_len.to_be_bytes());
        b[6] = self.next_header;
        b[7] = self.hop_limit;
        b[8..24].copy_from_slice(&self.sgid);
        b[24..40].copy_from_slice(&self.dgid);
        Ok(())
    }
}

/// A native IB packet [`parse_ib`] accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IbPacket<'a> {
    /// Its LRH.
    pub lrh: Lrh,
    /// Its GRH, if the LRH says one follows.
    pub grh: Option<Grh>,
    /// The transport part: BTH through the last pad byte (the ICRC checked
    /// and cut off).
    pub transport: &'a [u8],
}

/// Checks and unwraps a native IB packet at the start of `buf` (see the
/// module documentation for the order of the checks).
pub fn parse_ib(buf: &[u8]) -> Result<IbPacket<'_>, WireError> {
    let lrh = Lrh::parse(buf)?;
    // IBA 7.7: link version 0 is the only one; rvt carries IBA
    // transports only (LNH 10 or 11).
    if lrh.lver != 0 || !matches!(lrh.lnh, LinkNext::Local | LinkNext::Global) {
        return Err(WireError::BadLinkHeader);
    }
    let len = usize::from(lrh.pkt_len).saturating_mul(4);
    let (packet, rest) = buf.split_at_checked(len).ok_or(WireError::Truncated)?;
    let carried = rest.first_chunk::<VCRC_LEN>().ok_or(WireError::Truncated)?;
    // IBA 7.8.2: the VCRC covers every byte the packet length counts.
    if vcrc(packet) != u16::from_le_bytes(*carried) {
        return Err(WireError::BadVcrc);
    }
    let (lrh_bytes, after_lrh) = packet
        .split_at_checked(LRH_LEN)
        .ok_or(WireError::BadLinkHeader)?;
    let (grh, grh_bytes, transport_and_icrc) = match lrh.lnh {
        LinkNext::Global => {
            let grh = Grh::parse(after_lrh)?;
            let (grh_bytes, after) = after_lrh
                .split_at_checked(GRH_LEN)
                .ok_or(WireError::Truncated)?;
            // IBA 8.3: a GRH in front of an IBA transport, with a payload
            // length that agrees with the LRH's packet length.
            if grh.ip_version != GRH_IP_VERSION
                || grh.next_header != NEXT_HEADER_IBA
                || usize::from(grh.payload_len) != after.len()
            {
                return Err(WireError::BadNetworkHeader);
            }
            (Some(grh), Some(grh_bytes), after)
        }
        _ => (None, None, after_lrh),
    };
    let transport_len = transport_and_icrc
        .len()
        .checked_sub(ICRC_LEN)
        .filter(|&n| n >= super::headers::Bth::LEN)
        .ok_or(WireError::Truncated)?;
    let (transport, icrc) = transport_and_icrc
        .split_at_checked(transport_len)
        .ok_or(WireError::Truncated)?;
    let icrc = icrc.first_chunk::<ICRC_LEN>().ok_or(WireError::Truncated)?;
    if ib_icrc(lrh_bytes, grh_bytes, transport)? != u32::from_le_bytes(*icrc) {
        return Err(WireError::BadIcrc);
    }
    Ok(IbPacket {
        lrh,
        grh,
        transport,
    })
}

/// The bytes [`write_ib`] writes for a transport part of `transport_len`
/// bytes, with or without a GRH.
pub const fn ib_packet_len(transport_len: usize, global: bool) -> usize {
    let grh = if global { GRH_LEN } else { 0 };
    LRH_LEN
        .saturating_add(grh)
        .saturating_add(transport_len)
        .saturating_add(ICRC_LEN)
        .saturating_add(VCRC_LEN)
}

/// Writes a native IB packet to the start of `buf`: `lrh` (its LNH and
/// packet length set from what follows), `grh` if given (its payload
/// length set), `transport` (BTH through the last pad byte: a multiple of 4
/// bytes), the ICRC and the VCRC. Returns the bytes written.
pub fn write_ib(
    lrh: &Lrh,
    grh: Option<&Grh>,
    transport: &[u8],
    buf: &mut [u8],
) -> Result<usize, WireError> {
    if transport.len() % 4 != 0 || transport.len() < super::headers::Bth::LEN {
        return Err(WireError::BadLength);
    }
    let total = ib_packet_len(transport.len(), grh.is_some());
    let covered = total.saturating_sub(VCRC_LEN);
    let words = u16::try_from(covered / 4)
        .ok()
        .filter(|&w| w <= MAX_PACKET_WORDS)
        .ok_or(WireError::FieldOutOfRange)?;
    let out = buf.get_mut(..total).ok_or(WireError::BufferTooSmall)?;
    let (lrh_out, rest) = out
        .split_at_mut_checked(LRH_LEN)
        .ok_or(WireError::BufferTooSmall)?;
    let lrh = Lrh {
        lnh: if grh.is_some() {
            LinkNext::Global
        } else {
            LinkNext::Local
        },
        pkt_len: words,
        ..*lrh
    };
    lrh.write(lrh_out)?;
    let (grh_out, rest) = match grh {
        Some(grh) => {
            let (grh_out, rest) = rest
                .split_at_mut_checked(GRH_LEN)
                .ok_or(WireError::BufferTooSmall)?;
            let payload_len = transport.len().saturating_add(ICRC_LEN);
            let grh = Grh {
                payload_len: u16::try_from(payload_len).map_err(|_| WireError::FieldOutOfRange)?,
                ..*grh
            };
            grh.write(grh_out)?;
            (Some(&*grh_out), rest)
        }
        None => (None, rest),
    };
    let (transport_out, icrc_out) = rest
        .split_at_mut_checked(transport.len())
        .ok_or(WireError::BufferTooSmall)?;
    transport_out.copy_from_slice(transport);
    let icrc = ib_icrc(lrh_out, grh_out, transport_out)?;
    icrc_out
        .first_chunk_mut::<ICRC_LEN>()
        .ok_or(WireError::BufferTooSmall)?
        .copy_from_slice(&icrc.to_le_bytes());
    // IBA 7.8.2: the VCRC covers LRH through ICRC.
    let (covered_bytes, vcrc_out) = out
        .split_at_mut_checked(covered)
        .ok_or(WireError::BufferTooSmall)?;
    let v = vcrc(covered_bytes);
    vcrc_out
        .first_chunk_mut::<VCRC_LEN>()
        .ok_or(WireError::BufferTooSmall)?
        .copy_from_slice(&v.to_le_bytes());
    Ok(total)
}
