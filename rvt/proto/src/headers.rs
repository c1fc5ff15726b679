//! Transport header formats (IBA vol. 1, 9.2 and 9.3): BTH and the extension
//! headers RETH, AETH, AtomicETH, AtomicAckETH, ImmDt, IETH, DETH, and the
//! FETH of FLUSH (IBA 1.5 memory placement extensions).
//!
//! Every header has `LEN` (bytes on the wire), `parse` (reads the first `LEN`
//! bytes of a buffer, big-endian as IBA 9.2 requires: "all fields are in big
//! endian byte order") and `write` (writes exactly `LEN` bytes). Reserved
//! bits are written as zero and ignored on parse (IBA 9.2: "reserved fields
//! shall be set to zero on transmit and ignored on receive"). `write` refuses
//! values that do not fit their wire field rather than truncating them.
//!
//! Deviation from the first API sketch: `Feth` (FLUSH) exists, and
//! `WireError` has a few more variants (`FieldOutOfRange`, `BadSyndrome`,
//! `BadNetworkHeader`, `BadIcrc`).

use super::opcode::Opcode;
use super::psn::{Psn, PSN_MASK};

/// Why a buffer could not be parsed or a header could not be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WireError {
    /// The input ends before the header (or headers) it must contain.
    Truncated,
    /// The BTH opcode is reserved or of an unsupported transport (RD, XRC).
    UnknownOpcode(u8),
    /// The BTH transport header version is not 0 (IBA 9.2.5).
    BadTransportVersion(u8),
    /// The BTH pad count exceeds the payload, or is non-zero on a packet that
    /// carries no payload (IBA 9.2: pad bytes follow the payload).
    BadPadCount,
    /// The payload length is impossible for the opcode (payload on an opcode
    /// that carries none, ATOMIC WRITE payload other than 8 bytes).
    BadLength,
    /// `write`: the opcode requires an extension header that is `None`.
    MissingHeader,
    /// `write`: an extension header is set that the opcode does not carry.
    UnexpectedHeader,
    /// `write`: the output buffer is shorter than what must be written.
    BufferTooSmall,
    /// `write`: a value does not fit its wire field (24-bit QPN, PSN or MSN,
    /// 2-bit pad count, 4-bit TVer, FETH fields).
    FieldOutOfRange,
    /// An AETH syndrome uses a reserved encoding (IBA 9.7.5.1 Table 42/43).
    BadSyndrome(u8),
    /// ICRC: an IP or UDP header given to the ICRC has the wrong length or
    /// version for the variant requested.
    BadNetworkHeader,
    /// The ICRC of a received packet does not match its contents (IBA 7.8.1).
    BadIcrc,
    /// Native IB: the LRH has a link version other than 0 or no IBA
    /// transport behind it (IBA 7.7).
    BadLinkHeader,
    /// Native IB: the VCRC does not match the packet (IBA 7.8.2).
    BadVcrc,
}

/// The first `N` bytes of `buf` as an array, or `Truncated`.
#[inline]
fn head<const N: usize>(buf: &[u8]) -> Result<&[u8; N], WireError> {
    buf.first_chunk::<N>().ok_or(WireError::Truncated)
}

/// The first `N` bytes of `buf` as a mutable array, or `BufferTooSmall`.
#[inline]
fn head_mut<const N: usize>(buf: &mut [u8]) -> Result<&mut [u8; N], WireError> {
    buf.first_chunk_mut::<N>().ok_or(WireError::BufferTooSmall)
}

/// Big-endian 24-bit value from three bytes.
#[inline]
const fn be24(b0: u8, b1: u8, b2: u8) -> u32 {
    u32::from_be_bytes([0, b0, b1, b2])
}

/// Checks that `value` fits in 24 bits and returns its three low bytes,
/// most significant first.
#[inline]
fn to_be24(value: u32) -> Result<[u8; 3], WireError> {
    if value & !PSN_MASK != 0 {
        return Err(WireError::FieldOutOfRange);
    }
    let [_, b0, b1, b2] = value.to_be_bytes();
    Ok([b0, b1, b2])
}

/// `LEN`, `parse` and `write` of a header made of one big-endian integer
/// field filling all of it.
macro_rules! single_field_header {
    ($header:ident, $field:ident, $int:ty) => {
        impl $header {
            /// Length on the wire.
            pub const LEN: usize = core::mem::size_of::<$int>();

            /// Parses the first `LEN` bytes of `buf`.
            pub fn parse(buf: &[u8]) -> Result<$header, WireError> {
                let bytes = head::<{ $header::LEN }>(buf)?;
                Ok($header {
                    $field: <$int>::from_be_bytes(*bytes),
                })
            }

            /// Writes the `LEN` bytes of the header to the start of `buf`.
            pub fn write(&self, buf: &mut [u8]) -> Result<(), WireError> {
                *head_mut::<{ $header::LEN }>(buf)? = self.$field.to_be_bytes();
                Ok(())
            }
        }
    };
}

/// Base Transport Header (IBA 9.2, 12 bytes).
///
/// Layout: byte 0 OpCode; byte 1 SE(7) M(6) PadCnt(5:4) TVer(3:0); bytes 2-3
/// P_Key; byte 4 FECN(7) BECN(6) reserved(5:0); bytes 5-7 DestQP; byte 8
/// AckReq(7) reserved(6:0); bytes 9-11 PSN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Bth {
    /// Opcode (IBA 9.2.1).
    pub opcode: Opcode,
    /// Solicited Event (IBA 9.2.2).
    pub solicited: bool,
    /// MigReq (IBA 9.2.3, automatic path migration).
    pub mig_req: bool,
    /// Pad count: bytes added after the payload to reach a 4-byte multiple
    /// (IBA 9.2.4), 0..=3.
    pub pad_count: u8,
    /// Transport header version (IBA 9.2.5), 0..=15; only 0 is valid.
    pub tver: u8,
    /// Partition key (IBA 9.2.6).
    pub pkey: u16,
    /// Forward explicit congestion notification (IBA annex A10).
    pub fecn: bool,
    /// Backward explicit congestion notification (IBA annex A10).
    pub becn: bool,
    /// Destination QP number (IBA 9.2.7), 24 bits.
    pub dest_qp: u32,
    /// Acknowledge request (IBA 9.2.8).
    pub ack_req: bool,
    /// Packet sequence number (IBA 9.2.9).
    pub psn: Psn,
}

/// The default partition key, full membership (IBA 10.9.1.2).
pub const DEFAULT_PKEY: u16 = 0xffff;

impl Bth {
    /// Length on the wire.
    pub const LEN: usize = 12;

    /// A BTH with the given opcode, destination QP and PSN, the default
    /// P_Key, TVer 0 and every flag and the pad count clear.
    pub const fn new(opcode: Opcode, dest_qp: u32, psn: Psn) -> Bth {
        Bth {
            opcode,
            solicited: false,
            mig_req: false,
            pad_count: 0,
            tver: 0,
            pkey: DEFAULT_PKEY,
            fecn: false,
            becn: false,
            dest_qp,
            ack_req: false,
            psn,
        }
    }

    /// Parses the first 12 bytes of `buf`. Fails with `UnknownOpcode` for
    /// opcodes this crate does not model; any TVer is accepted here (the
    /// packet parser rejects TVer != 0).
    pub fn parse(buf: &[u8]) -> Result<Bth, WireError> {
        let b = head::<{ Bth::LEN }>(buf)?;
        let opcode = Opcode::from_u8(b[0]).ok_or(WireError::UnknownOpcode(b[0]))?;
        Ok(Bth {
            opcode,
            solicited: b[1] & 0x80 != 0,
            mig_req: b[1] & 0x40 != 0,
            pad_count: (b[1] >> 4) & 0x3,
            tver: b[1] & 0x0f,
            pkey: u16::from_be_bytes([b[2], b[3]]),
            fecn: b[4] & 0x80 != 0,
            becn: b[4] & 0x40 != 0,
            dest_qp: be24(b[5], b[6], b[7]),
            ack_req: b[8] & 0x80 != 0,
            psn: Psn::new(be24(b[9], b[10], b[11])),
        })
    }

    /// Writes the 12 bytes of the header to the start of `buf`.
    pub fn write(&self, buf: &mut [u8]) -> Result<(), WireError> {
        if self.pad_count > 3 || self.tver > 0x0f {
            return Err(WireError::FieldOutOfRange);
        }
        let qp = to_be24(self.dest_qp)?;
        let psn = to_be24(self.psn.value())?;
        let b = head_mut::<{ Bth::LEN }>(buf)?;
        b[0] = self.opcode.as_u8();
        b[1] = (u8::from(self.solicited) << 7)
            | (u8::from(self.mig_req) << 6)
            | (self.pad_count << 4)
            | self.tver;
        b[2..4].copy_from_slice(&self.pkey.to_be_bytes());
        b[4] = (u8::from(self.fecn) << 7) | (u8::from(self.becn) << 6);
        b[5..8].copy_from_slice(&qp);
        b[8] = u8::from(self.ack_req) << 7;
        b[9..12].copy_from_slice(&psn);
        Ok(())
    }
}

/// RDMA Extended Transport Header (IBA 9.3.3, 16 bytes): VA, R_Key, DMA
/// length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Reth {
    /// Virtual address of the remote buffer.
    pub va: u64,
    /// Remote key.
    pub rkey: u32,
    /// Length of the whole RDMA operation in bytes.
    pub dma_len: u32,
}

impl Reth {
    /// Length on the wire.
    pub const LEN: usize = 16;

    /// Parses the first 16 bytes of `buf`.
    pub fn parse(buf: &[u8]) -> Result<Reth, WireError> {
        let b = head::<{ Reth::LEN }>(buf)?;
        Ok(Reth {
            va: u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
            rkey: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
            dma_len: u32::from_be_bytes([b[12], b[13], b[14], b[15]]),
        })
    }

    /// Writes the 16 bytes of the header to the start of `buf`.
    pub fn write(&self, buf: &mut [u8]) -> Result<(), WireError> {
        let b = head_mut::<{ Reth::LEN }>(buf)?;
        b[0..8].copy_from_slice(&self.va.to_be_bytes());
        b[8..12].copy_from_slice(&self.rkey.to_be_bytes());
        b[12..16].copy_from_slice(&self.dma_len.to_be_bytes());
        Ok(())
    }
}

/// ACK Extended Transport Header (IBA 9.3.5, 4 bytes): syndrome and MSN.
/// The syndrome byte is kept raw; [`super::aeth::Syndrome`] decodes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Aeth {
    /// Syndrome byte (IBA 9.7.5.1 Table 42).
    pub syndrome: u8,
    /// Message sequence number, 24 bits (IBA 9.7.5.1.1).
    pub msn: u32,
}

impl Aeth {
    /// Length on the wire.
    pub const LEN: usize = 4;

    /// Parses the first 4 bytes of `buf`.
    pub fn parse(buf: &[u8]) -> Result<Aeth, WireError> {
        let b = head::<{ Aeth::LEN }>(buf)?;
        Ok(Aeth {
            syndrome: b[0],
            msn: be24(b[1], b[2], b[3]),
        })
    }

    /// Writes the 4 bytes of the header to the start of `buf`.
    pub fn write(&self, buf: &mut [u8]) -> Result<(), WireError> {
        let msn = to_be24(self.msn)?;
        let b = head_mut::<{ Aeth::LEN }>(buf)?;
        b[0] = self.syndrome;
        b[1..4].copy_from_slice(&msn);
        Ok(())
    }
}

/// Atomic Extended Transport Header (IBA 9.3.4, 28 bytes): VA, R_Key,
/// Swap (or Add) data, Compare data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct AtomicEth {
    /// Virtual address of the 8-byte remote operand.
    pub va: u64,
    /// Remote key.
    pub rkey: u32,
    /// Swap data (CmpSwap) or add data (FetchAdd).
    pub swap_add: u64,
    /// Compare data (CmpSwap; ignored by FetchAdd).
    pub compare: u64,
}

impl AtomicEth {
    /// Length on the wire.
    pub const LEN: usize = 28;

    /// Parses the first 28 bytes of `buf`.
    pub fn parse(buf: &[u8]) -> Result<AtomicEth, WireError> {
        let b = head::<{ AtomicEth::LEN }>(buf)?;
        Ok(AtomicEth {
            va: u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
            rkey: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
            swap_add: u64::from_be_bytes([b[12], b[13], b[14], b[15], b[16], b[17], b[18], b[19]]),
            compare: u64::from_be_bytes([b[20], b[21], b[22], b[23], b[24], b[25], b[26], b[27]]),
        })
    }

    /// Writes the 28 bytes of the header to the start of `buf`.
    pub fn write(&self, buf: &mut [u8]) -> Result<(), WireError> {
        let b = head_mut::<{ AtomicEth::LEN }>(buf)?;
        b[0..8].copy_from_slice(&self.va.to_be_bytes());
        b[8..12].copy_from_slice(&self.rkey.to_be_bytes());
        b[12..20].copy_from_slice(&self.swap_add.to_be_bytes());
        b[20..28].copy_from_slice(&self.compare.to_be_bytes());
        Ok(())
    }
}

/// Atomic Acknowledge Extended Transport Header (IBA 9.3.6, 8 bytes): the
/// original value of the remote operand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct AtomicAckEth {
    /// Value of the remote operand before the atomic operation.
    pub orig_data: u64,
}

/// Immediate Data Extended Transport Header (IBA 9.3.7, 4 bytes).
///
/// `imm` is the 4 wire bytes read big-endian; the verbs layer hands
/// `imm_data` around in network byte order, so `imm.to_be_bytes()` are the
/// bytes of `ib_wc.ex.imm_data` as it lies in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ImmDt {
    /// Immediate data.
    pub imm: u32,
}

/// Invalidate Extended Transport Header (IBA 9.3.8, 4 bytes): the R_Key to
/// invalidate at the responder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Ieth {
    /// R_Key to invalidate.
    pub rkey: u32,
}

single_field_header!(AtomicAckEth, orig_data, u64);
single_field_header!(ImmDt, imm, u32);
single_field_header!(Ieth, rkey, u32);

/// Datagram Extended Transport Header (IBA 9.3.2, 8 bytes): Q_Key,
/// reserved byte, source QP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Deth {
    /// Queue key.
    pub qkey: u32,
    /// Source QP number, 24 bits.
    pub src_qp: u32,
}

impl Deth {
    /// Length on the wire.
    pub const LEN: usize = 8;

    /// Parses the first 8 bytes of `buf`.
    pub fn parse(buf: &[u8]) -> Result<Deth, WireError> {
        let b = head::<{ Deth::LEN }>(buf)?;
        Ok(Deth {
            qkey: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            src_qp: be24(b[5], b[6], b[7]),
        })
    }

    /// Writes the 8 bytes of the header to the start of `buf`.
    pub fn write(&self, buf: &mut [u8]) -> Result<(), WireError> {
        let src_qp = to_be24(self.src_qp)?;
        let b = head_mut::<{ Deth::LEN }>(buf)?;
        b[0..4].copy_from_slice(&self.qkey.to_be_bytes());
        b[4] = 0;
        b[5..8].copy_from_slice(&src_qp);
        Ok(())
    }
}

/// FLUSH Extended Transport Header (IBA 1.5 memory placement extensions,
/// 4 bytes): bits 31:6 reserved, bits 5:4 selectivity level, bits 3:0
/// placement type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Feth {
    /// Selectivity level (0 = the memory region range, 1 = the whole memory
    /// region), 2 bits.
    pub selectivity_level: u8,
    /// Placement type bit mask (bit 0 global visibility, bit 1 persistence),
    /// 4 bits.
    pub placement_type: u8,
}

impl Feth {
    /// Length on the wire.
    pub const LEN: usize = 4;

    /// Parses the first 4 bytes of `buf`.
    pub fn parse(buf: &[u8]) -> Result<Feth, WireError> {
        let b = head::<{ Feth::LEN }>(buf)?;
        Ok(Feth {
            selectivity_level: (b[3] >> 4) & 0x3,
            placement_type: b[3] & 0x0f,
        })
    }

    /// Writes the 4 bytes of the header to the start of `buf`.
    pub fn write(&self, buf: &mut [u8]) -> Result<(), WireError> {
        if self.selectivity_level > 0x3 || self.placement_type > 0x0f {
            return Err(WireError::FieldOutOfRange);
        }
        let b = head_mut::<{ Feth::LEN }>(buf)?;
        *b = [0, 0, 0, (self.selectivity_level << 4) | self.placement_type];
        Ok(())
    }
}
