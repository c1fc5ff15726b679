//! BTH opcodes and the header layout of each (IBA vol. 1, 9.2 Table 38 and
//! the per-operation packet formats of 9.4 and 9.7; FLUSH and ATOMIC WRITE
//! from the IBA 1.5 memory placement extensions).
//!
//! The opcode byte is split into a transport prefix (bits 7:5, IBA 9.2.1:
//! 000 RC, 001 UC, 010 RD, 011 UD) and an operation code (bits 4:0). RD and
//! XRC are not modelled: their opcodes are "unknown" here.
//!
//! Deviation from the first API sketch: FLUSH carries a FETH, so the table has
//! a `has_feth()` column as well (see [`super::headers::Feth`]).

use super::headers::{Aeth, AtomicAckEth, AtomicEth, Bth, Deth, Feth, Ieth, ImmDt, Reth};

/// The transport service an opcode belongs to (IBA 9.2.1, opcode bits 7:5).
#[derive(Copy, Clone, PartialEq, Eq, Debug, Hash)]
pub enum Transport {
    /// Reliable Connection (prefix 000).
    Rc,
    /// Unreliable Connection (prefix 001).
    Uc,
    /// Unreliable Datagram (prefix 011).
    Ud,
}

/// The operation an opcode is part of.
#[derive(Copy, Clone, PartialEq, Eq, Debug, Hash)]
pub enum Operation {
    /// SEND (IBA 9.4.1), with or without immediate data or invalidate.
    Send,
    /// RDMA WRITE (IBA 9.4.2), with or without immediate data.
    RdmaWrite,
    /// RDMA READ request (IBA 9.4.3).
    ReadRequest,
    /// RDMA READ response (IBA 9.4.3, 9.7.5.1.5).
    ReadResponse,
    /// ACKNOWLEDGE (IBA 9.7.5.1).
    Acknowledge,
    /// ATOMIC ACKNOWLEDGE (IBA 9.4.5, 9.7.5.1.4).
    AtomicAcknowledge,
    /// ATOMIC CompareSwap (IBA 9.4.4).
    CompareSwap,
    /// ATOMIC FetchAdd (IBA 9.4.4).
    FetchAdd,
    /// FLUSH (IBA 1.5 memory placement extensions).
    Flush,
    /// ATOMIC WRITE (IBA 1.5 memory placement extensions).
    AtomicWrite,
}

/// Where a packet sits in its message (IBA 9.4: First, Middle, Last, Only).
/// Single-packet operations (requests and acknowledgements) are `Only`.
#[derive(Copy, Clone, PartialEq, Eq, Debug, Hash)]
pub enum Position {
    /// First packet of a multi-packet message.
    First,
    /// Middle packet of a multi-packet message.
    Middle,
    /// Last packet of a multi-packet message.
    Last,
    /// The only packet of a message.
    Only,
}

impl Position {
    /// True for `First` and `Only`: the packet starts a message.
    pub const fn starts_message(self) -> bool {
        matches!(self, Position::First | Position::Only)
    }

    /// True for `Last` and `Only`: the packet ends a message.
    pub const fn ends_message(self) -> bool {
        matches!(self, Position::Last | Position::Only)
    }
}

/// A BTH opcode (IBA 9.2 Table 38) of the RC, UC or UD transport.
#[derive(Copy, Clone, PartialEq, Eq, Debug, Hash)]
#[repr(u8)]
pub enum Opcode {
    /// RC SEND First.
    RcSendFirst = 0x00,
    /// RC SEND Middle.
    RcSendMiddle = 0x01,
    /// RC SEND Last.
    RcSendLast = 0x02,
    /// RC SEND Last with Immediate.
    RcSendLastWithImm = 0x03,
    /// RC SEND Only.
    RcSendOnly = 0x04,
    /// RC SEND Only with Immediate.
    RcSendOnlyWithImm = 0x05,
    /// RC RDMA WRITE First.
    RcWriteFirst = 0x06,
    /// RC RDMA WRITE Middle.
    RcWriteMiddle = 0x07,
    /// RC RDMA WRITE Last.
    RcWriteLast = 0x08,
    /// RC RDMA WRITE Last with Immediate.
    RcWriteLastWithImm = 0x09,
    /// RC RDMA WRITE Only.
    RcWriteOnly = 0x0a,
    /// RC RDMA WRITE Only with Immediate.
    RcWriteOnlyWithImm = 0x0b,
    /// RC RDMA READ Request.
    RcReadRequest = 0x0c,
    /// RC RDMA READ Response First.
    RcReadResponseFirst = 0x0d,
    /// RC RDMA READ Response Middle.
    RcReadResponseMiddle = 0x0e,
    /// RC RDMA READ Response Last.
    RcReadResponseLast = 0x0f,
    /// RC RDMA READ Response Only.
    RcReadResponseOnly = 0x10,
    /// RC Acknowledge.
    RcAcknowledge = 0x11,
    /// RC ATOMIC Acknowledge.
    RcAtomicAcknowledge = 0x12,
    /// RC CmpSwap.
    RcCompareSwap = 0x13,
    /// RC FetchAdd.
    RcFetchAdd = 0x14,
    /// RC SEND Last with Invalidate.
    RcSendLastWithInvalidate = 0x16,
    /// RC SEND Only with Invalidate.
    RcSendOnlyWithInvalidate = 0x17,
    /// RC FLUSH (IBA 1.5).
    RcFlush = 0x1c,
    /// RC ATOMIC WRITE (IBA 1.5).
    RcAtomicWrite = 0x1d,
    /// UC SEND First.
    UcSendFirst = 0x20,
    /// UC SEND Middle.
    UcSendMiddle = 0x21,
    /// UC SEND Last.
    UcSendLast = 0x22,
    /// UC SEND Last with Immediate.
    UcSendLastWithImm = 0x23,
    /// UC SEND Only.
    UcSendOnly = 0x24,
    /// UC SEND Only with Immediate.
    UcSendOnlyWithImm = 0x25,
    /// UC RDMA WRITE First.
    UcWriteFirst = 0x26,
    /// UC RDMA WRITE Middle.
    UcWriteMiddle = 0x27,
    /// UC RDMA WRITE Last.
    UcWriteLast = 0x28,
    /// UC RDMA WRITE Last with Immediate.
    UcWriteLastWithImm = 0x29,
    /// UC RDMA WRITE Only.
    UcWriteOnly = 0x2a,
    /// UC RDMA WRITE Only with Immediate.
    UcWriteOnlyWithImm = 0x2b,
    /// UD SEND Only.
    UdSendOnly = 0x64,
    /// UD SEND Only with Immediate.
    UdSendOnlyWithImm = 0x65,
}

/// Length in bytes of the Base Transport Header (IBA 9.2).
pub const BTH_LEN: usize = Bth::LEN;

impl Opcode {
    /// Every opcode this crate knows, in numeric order.
    pub const ALL: [Opcode; 39] = [
        Opcode::RcSendFirst,
        Opcode::RcSendMiddle,
        Opcode::RcSendLast,
        Opcode::RcSendLastWithImm,
        Opcode::RcSendOnly,
        Opcode::RcSendOnlyWithImm,
        Opcode::RcWriteFirst,
        Opcode::RcWriteMiddle,
        Opcode::RcWriteLast,
        Opcode::RcWriteLastWithImm,
        Opcode::RcWriteOnly,
        Opcode::RcWriteOnlyWithImm,
        Opcode::RcReadRequest,
        Opcode::RcReadResponseFirst,
        Opcode::RcReadResponseMiddle,
        Opcode::RcReadResponseLast,
        Opcode::RcReadResponseOnly,
        Opcode::RcAcknowledge,
        Opcode::RcAtomicAcknowledge,
        Opcode::RcCompareSwap,
        Opcode::RcFetchAdd,
        Opcode::RcSendLastWithInvalidate,
        Opcode::RcSendOnlyWithInvalidate,
        Opcode::RcFlush,
        Opcode::RcAtomicWrite,
        Opcode::UcSendFirst,
        Opcode::UcSendMiddle,
        Opcode::UcSendLast,
        Opcode::UcSendLastWithImm,
        Opcode::UcSendOnly,
        Opcode::UcSendOnlyWithImm,
        Opcode::UcWriteFirst,
        Opcode::UcWriteMiddle,
        Opcode::UcWriteLast,
        Opcode::UcWriteLastWithImm,
        Opcode::UcWriteOnly,
        Opcode::UcWriteOnlyWithImm,
        Opcode::UdSendOnly,
        Opcode::UdSendOnlyWithImm,
    ];

    /// The opcode with wire value `value`, or `None` if it is reserved or
    /// belongs to a transport this crate does not implement (RD, XRC, CNP).
    pub const fn from_u8(value: u8) -> Option<Opcode> {
        Some(match value {
            0x00 => Opcode::RcSendFirst,
            0x01 => Opcode::RcSendMiddle,
            0x02 => Opcode::RcSendLast,
            0x03 => Opcode::RcSendLastWithImm,
            0x04 => Opcode::RcSendOnly,
            0x05 => Opcode::RcSendOnlyWithImm,
            0x06 => Opcode::RcWriteFirst,
            0x07 => Opcode::RcWriteMiddle,
            0x08 => Opcode::RcWriteLast,
            0x09 => Opcode::RcWriteLastWithImm,
            0x0a => Opcode::RcWriteOnly,
            0x0b => Opcode::RcWriteOnlyWithImm,
            0x0c => Opcode::RcReadRequest,
            0x0d => Opcode::RcReadResponseFirst,
            0x0e => Opcode::RcReadResponseMiddle,
            0x0f => Opcode::RcReadResponseLast,
            0x10 => Opcode::RcReadResponseOnly,
            0x11 => Opcode::RcAcknowledge,
            0x12 => Opcode::RcAtomicAcknowledge,
            0x13 => Opcode::RcCompareSwap,
            0x14 => Opcode::RcFetchAdd,
            0x16 => Opcode::RcSendLastWithInvalidate,
            0x17 => Opcode::RcSendOnlyWithInvalidate,
            0x1c => Opcode::RcFlush,
            0x1d => Opcode::RcAtomicWrite,
            0x20 => Opcode::UcSendFirst,
            0x21 => Opcode::UcSendMiddle,
            0x22 => Opcode::UcSendLast,
            0x23 => Opcode::UcSendLastWithImm,
            0x24 => Opcode::UcSendOnly,
            0x25 => Opcode::UcSendOnlyWithImm,
            0x26 => Opcode::UcWriteFirst,
            0x27 => Opcode::UcWriteMiddle,
            0x28 => Opcode::UcWriteLast,
            0x29 => Opcode::UcWriteLastWithImm,
            0x2a => Opcode::UcWriteOnly,
            0x2b => Opcode::UcWriteOnlyWithImm,
            0x64 => Opcode::UdSendOnly,
            0x65 => Opcode::UdSendOnlyWithImm,
            _ => return None,
        })
    }

    /// The wire value of the opcode (BTH byte 0).
    #[inline]
    pub const fn as_u8(self) -> u8 {
        self as u8
    }

    /// The transport service (IBA 9.2.1, opcode bits 7:5).
    pub const fn transport(self) -> Transport {
        match self.as_u8() >> 5 {
            0b000 => Transport::Rc,
            0b001 => Transport::Uc,
            _ => Transport::Ud,
        }
    }

    /// The operation the packet belongs to.
    pub const fn operation(self) -> Operation {
        use Opcode::*;
        match self {
            RcSendFirst
            | RcSendMiddle
            | RcSendLast
            | RcSendLastWithImm
            | RcSendOnly
            | RcSendOnlyWithImm
            | RcSendLastWithInvalidate
            | RcSendOnlyWithInvalidate
            | UcSendFirst
            | UcSendMiddle
            | UcSendLast
            | UcSendLastWithImm
            | UcSendOnly
            | UcSendOnlyWithImm
            | UdSendOnly
            | UdSendOnlyWithImm => Operation::Send,
            RcWriteFirst | RcWriteMiddle | RcWriteLast | RcWriteLastWithImm | RcWriteOnly
            | RcWriteOnlyWithImm | UcWriteFirst | UcWriteMiddle | UcWriteLast
            | UcWriteLastWithImm | UcWriteOnly | UcWriteOnlyWithImm => Operation::RdmaWrite,
            RcReadRequest => Operation::ReadRequest,
            RcReadResponseFirst | RcReadResponseMiddle | RcReadResponseLast
            | RcReadResponseOnly => Operation::ReadResponse,
            RcAcknowledge => Operation::Acknowledge,
            RcAtomicAcknowledge => Operation::AtomicAcknowledge,
            RcCompareSwap => Operation::CompareSwap,
            RcFetchAdd => Operation::FetchAdd,
            RcFlush => Operation::Flush,
            RcAtomicWrite => Operation::AtomicWrite,
        }
    }

    /// The packet's place in its message; single-packet operations are `Only`.
    pub const fn position(self) -> Position {
        use Opcode::*;
        match self {
            RcSendFirst | RcWriteFirst | RcReadResponseFirst | UcSendFirst | UcWriteFirst => {
                Position::First
            }
            RcSendMiddle | RcWriteMiddle | RcReadResponseMiddle | UcSendMiddle | UcWriteMiddle => {
                Position::Middle
            }
            RcSendLast
            | RcSendLastWithImm
            | RcSendLastWithInvalidate
            | RcWriteLast
            | RcWriteLastWithImm
            | RcReadResponseLast
            | UcSendLast
            | UcSendLastWithImm
            | UcWriteLast
            | UcWriteLastWithImm => Position::Last,
            _ => Position::Only,
        }
    }

    /// True for packets sent by a requester (requests), false for responses
    /// (RDMA READ responses, ACKNOWLEDGE, ATOMIC ACKNOWLEDGE).
    pub const fn is_request(self) -> bool {
        !matches!(
            self.operation(),
            Operation::ReadResponse | Operation::Acknowledge | Operation::AtomicAcknowledge
        )
    }

    /// The packet carries a RETH (IBA 9.3.3): the first or only packet of an
    /// RDMA WRITE, an RDMA READ request, FLUSH and ATOMIC WRITE.
    pub const fn has_reth(self) -> bool {
        use Opcode::*;
        matches!(
            self,
            RcWriteFirst
                | RcWriteOnly
                | RcWriteOnlyWithImm
                | UcWriteFirst
                | UcWriteOnly
                | UcWriteOnlyWithImm
                | RcReadRequest
                | RcFlush
                | RcAtomicWrite
        )
    }

    /// The packet carries an AETH (IBA 9.3.5): ACKNOWLEDGE, ATOMIC
    /// ACKNOWLEDGE and the first, last and only RDMA READ response packets.
    pub const fn has_aeth(self) -> bool {
        use Opcode::*;
        matches!(
            self,
            RcAcknowledge
                | RcAtomicAcknowledge
                | RcReadResponseFirst
                | RcReadResponseLast
                | RcReadResponseOnly
        )
    }

    /// The packet carries an AtomicETH (IBA 9.3.4): CmpSwap and FetchAdd.
    pub const fn has_atomic_eth(self) -> bool {
        matches!(self, Opcode::RcCompareSwap | Opcode::RcFetchAdd)
    }

    /// The packet carries an AtomicAckETH (IBA 9.3.6): ATOMIC ACKNOWLEDGE.
    pub const fn has_atomic_ack_eth(self) -> bool {
        matches!(self, Opcode::RcAtomicAcknowledge)
    }

    /// The packet carries immediate data (ImmDt, IBA 9.3.7).
    pub const fn has_immdt(self) -> bool {
        use Opcode::*;
        matches!(
            self,
            RcSendLastWithImm
                | RcSendOnlyWithImm
                | RcWriteLastWithImm
                | RcWriteOnlyWithImm
                | UcSendLastWithImm
                | UcSendOnlyWithImm
                | UcWriteLastWithImm
                | UcWriteOnlyWithImm
                | UdSendOnlyWithImm
        )
    }

    /// The packet carries an IETH (IBA 9.3.8): SEND with Invalidate.
    pub const fn has_ieth(self) -> bool {
        matches!(
            self,
            Opcode::RcSendLastWithInvalidate | Opcode::RcSendOnlyWithInvalidate
        )
    }

    /// The packet carries a DETH (IBA 9.3.2): every UD packet.
    pub const fn has_deth(self) -> bool {
        matches!(self.transport(), Transport::Ud)
    }

    /// The packet carries a FETH (IBA 1.5 memory placement extensions): FLUSH.
    pub const fn has_feth(self) -> bool {
        matches!(self, Opcode::RcFlush)
    }

    /// The packet may carry a payload (SEND, RDMA WRITE, RDMA READ response,
    /// ATOMIC WRITE). Requests for READ/atomics/FLUSH and acknowledgements
    /// carry none.
    pub const fn has_payload(self) -> bool {
        matches!(
            self.operation(),
            Operation::Send
                | Operation::RdmaWrite
                | Operation::ReadResponse
                | Operation::AtomicWrite
        )
    }

    /// Length in bytes of the BTH plus every extension header of this opcode.
    pub const fn header_len(self) -> usize {
        // At most four terms of at most 28 bytes: the additions cannot wrap.
        let mut len = Bth::LEN;
        if self.has_deth() {
            len = len.wrapping_add(Deth::LEN);
        }
        if self.has_feth() {
            len = len.wrapping_add(Feth::LEN);
        }
        if self.has_reth() {
            len = len.wrapping_add(Reth::LEN);
        }
        if self.has_atomic_eth() {
            len = len.wrapping_add(AtomicEth::LEN);
        }
        if self.has_aeth() {
            len = len.wrapping_add(Aeth::LEN);
        }
        if self.has_atomic_ack_eth() {
            len = len.wrapping_add(AtomicAckEth::LEN);
        }
        if self.has_immdt() {
            len = len.wrapping_add(ImmDt::LEN);
        }
        if self.has_ieth() {
            len = len.wrapping_add(Ieth::LEN);
        }
        len
    }

    /// The SEND opcode for a packet at `position` of a message on `transport`,
    /// with immediate data and/or invalidate. `None` for combinations IBA does
    /// not define: both `with_imm` and `with_inv`, immediate or invalidate on a
    /// First/Middle packet, invalidate outside RC, UD messages other than Only.
    pub const fn send(
        transport: Transport,
        position: Position,
        with_imm: bool,
        with_inv: bool,
    ) -> Option<Opcode> {
        use Opcode::*;
        Some(match (transport, position, with_imm, with_inv) {
            (_, _, true, true) => return None,
            (Transport::Rc, Position::First, false, false) => RcSendFirst,
            (Transport::Rc, Position::Middle, false, false) => RcSendMiddle,
            (Transport::Rc, Position::Last, false, false) => RcSendLast,
            (Transport::Rc, Position::Last, true, false) => RcSendLastWithImm,
            (Transport::Rc, Position::Last, false, true) => RcSendLastWithInvalidate,
            (Transport::Rc, Position::Only, false, false) => RcSendOnly,
            (Transport::Rc, Position::Only, true, false) => RcSendOnlyWithImm,
            (Transport::Rc, Position::Only, false, true) => RcSendOnlyWithInvalidate,
            (Transport::Uc, Position::First, false, false) => UcSendFirst,
            (Transport::Uc, Position::Middle, false, false) => UcSendMiddle,
            (Transport::Uc, Position::Last, false, false) => UcSendLast,
            (Transport::Uc, Position::Last, true, false) => UcSendLastWithImm,
            (Transport::Uc, Position::Only, false, false) => UcSendOnly,
            (Transport::Uc, Position::Only, true, false) => UcSendOnlyWithImm,
            (Transport::Ud, Position::Only, false, false) => UdSendOnly,
            (Transport::Ud, Position::Only, true, false) => UdSendOnlyWithImm,
            _ => return None,
        })
    }

    /// The RDMA WRITE opcode for a packet at `position` on `transport`
    /// (RC or UC), with immediate data on the Last/Only packet. `None` for UD
    /// and for immediate data on a First/Middle packet.
    pub const fn write(transport: Transport, position: Position, with_imm: bool) -> Option<Opcode> {
        use Opcode::*;
        Some(match (transport, position, with_imm) {
            (Transport::Rc, Position::First, false) => RcWriteFirst,
            (Transport::Rc, Position::Middle, false) => RcWriteMiddle,
            (Transport::Rc, Position::Last, false) => RcWriteLast,
            (Transport::Rc, Position::Last, true) => RcWriteLastWithImm,
            (Transport::Rc, Position::Only, false) => RcWriteOnly,
            (Transport::Rc, Position::Only, true) => RcWriteOnlyWithImm,
            (Transport::Uc, Position::First, false) => UcWriteFirst,
            (Transport::Uc, Position::Middle, false) => UcWriteMiddle,
            (Transport::Uc, Position::Last, false) => UcWriteLast,
            (Transport::Uc, Position::Last, true) => UcWriteLastWithImm,
            (Transport::Uc, Position::Only, false) => UcWriteOnly,
            (Transport::Uc, Position::Only, true) => UcWriteOnlyWithImm,
            _ => return None,
        })
    }

    /// The RDMA READ response opcode for a packet at `position` (RC only).
    pub const fn read_response(position: Position) -> Opcode {
        match position {
            Position::First => Opcode::RcReadResponseFirst,
            Position::Middle => Opcode::RcReadResponseMiddle,
            Position::Last => Opcode::RcReadResponseLast,
            Position::Only => Opcode::RcReadResponseOnly,
        }
    }
}

impl From<Opcode> for u8 {
    fn from(opcode: Opcode) -> u8 {
        opcode.as_u8()
    }
}

impl TryFrom<u8> for Opcode {
    type Error = super::headers::WireError;

    fn try_from(value: u8) -> Result<Opcode, Self::Error> {
        Opcode::from_u8(value).ok_or(super::headers::WireError::UnknownOpcode(value))
    }
}
