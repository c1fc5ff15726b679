//! Whole transport packets: BTH, the extension headers the opcode requires,
//! payload and pad (IBA vol. 1, 9.2 Table 38 and 9.3; the ICRC is handled by
//! the caller and [`super::icrc`]).
//!
//! The buffers here span the BTH through the last pad byte: no LRH/GRH or
//! IP/UDP header before, no ICRC (or VCRC) after. Extension headers follow
//! the BTH in the fixed IBA order DETH, FETH, RETH, AtomicETH, AETH,
//! AtomicAckETH, ImmDt, IETH (IBA 9.2 Table 38 lists each opcode's headers in
//! this order; e.g. RDMA WRITE Only with Immediate is BTH RETH ImmDt, UD SEND
//! Only with Immediate is BTH DETH ImmDt, ATOMIC Acknowledge is BTH AETH
//! AtomicAckETH; FLUSH is BTH FETH RETH).
//!
//! Addition to the first API sketch: `PacketHeaders::feth` (FLUSH),
//! `PacketHeaders::new` and [`write_packet`].

use super::headers::{
    Aeth, AtomicAckEth, AtomicEth, Bth, Deth, Feth, Ieth, ImmDt, Reth, WireError,
};
use super::opcode::{Opcode, Operation};

/// The BTH and extension headers of one packet; an extension header is
/// `Some` exactly when the BTH opcode carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PacketHeaders {
    /// Base transport header.
    pub bth: Bth,
    /// RDMA extended transport header (RDMA WRITE first/only, READ request,
    /// FLUSH, ATOMIC WRITE).
    pub reth: Option<Reth>,
    /// ACK extended transport header (ACK, ATOMIC ACK, READ response
    /// first/last/only).
    pub aeth: Option<Aeth>,
    /// Atomic extended transport header (CmpSwap, FetchAdd).
    pub atomic_eth: Option<AtomicEth>,
    /// Atomic acknowledge extended transport header (ATOMIC ACK).
    pub atomic_ack_eth: Option<AtomicAckEth>,
    /// Immediate data (… with Immediate opcodes).
    pub immdt: Option<ImmDt>,
    /// Invalidate extended transport header (SEND … with Invalidate).
    pub ieth: Option<Ieth>,
    /// Datagram extended transport header (every UD packet).
    pub deth: Option<Deth>,
    /// FLUSH extended transport header (FLUSH).
    pub feth: Option<Feth>,
}

/// A valid packet: its headers and its payload with the pad removed.
///
/// Only [`parse`] and [`Packet::new`] make one, and both check the same
/// rules, so a `Packet` always satisfies them: TVer = 0, exactly the
/// extension headers its opcode requires (IBA 9.2 Table 38), a BTH pad count
/// that brings the payload to a multiple of 4 bytes (9.2.4), no payload on an
/// opcode without one, an 8-byte ATOMIC WRITE payload. The opcode-dependent
/// fields (immediate data, the R_Key to invalidate, ...) are read through
/// accessors that consult the opcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<'a> {
    hdr: PacketHeaders,
    payload: &'a [u8],
}

impl<'a> Packet<'a> {
    /// A packet of `hdr` and `payload` (pad excluded), if the parser could
    /// have produced it: fails with `BadTransportVersion`, `MissingHeader`
    /// / `UnexpectedHeader` (headers that do not match the opcode),
    /// `BadPadCount` (a pad count other than [`pad_count`] of the payload,
    /// or any pad on an opcode without payload) or `BadLength` (a payload
    /// on an opcode without one, an ATOMIC WRITE payload that is not 8
    /// bytes).
    pub fn new(hdr: PacketHeaders, payload: &'a [u8]) -> Result<Self, WireError> {
        if hdr.bth.tver != 0 {
            return Err(WireError::BadTransportVersion(hdr.bth.tver));
        }
        hdr.check_headers()?;
        let op = hdr.bth.opcode;
        if !op.has_payload() {
            if hdr.bth.pad_count != 0 {
                return Err(WireError::BadPadCount);
            }
            if !payload.is_empty() {
                return Err(WireError::BadLength);
            }
        } else if hdr.bth.pad_count != pad_count(payload.len()) {
            return Err(WireError::BadPadCount);
        }
        if op.operation() == Operation::AtomicWrite && payload.len() != ATOMIC_WRITE_PAYLOAD_LEN {
            return Err(WireError::BadLength);
        }
        Ok(Packet { hdr, payload })
    }

    /// BTH and extension headers.
    pub const fn hdr(&self) -> &PacketHeaders {
        &self.hdr
    }

    /// The BTH.
    pub const fn bth(&self) -> Bth {
        self.hdr.bth
    }

    /// The opcode.
    pub const fn opcode(&self) -> Opcode {
        self.hdr.bth.opcode
    }

    /// The payload, without pad bytes (empty for opcodes with no payload).
    pub const fn payload(&self) -> &'a [u8] {
        self.payload
    }

    /// Immediate data (IBA 9.3.5), exactly for the "with Immediate"
    /// opcodes.
    pub fn immediate(&self) -> Option<u32> {
        self.extension(Opcode::has_immdt, self.hdr.immdt)
            .map(|i| i.imm)
    }

    /// The R_Key to invalidate (IBA 9.3.7 IETH), exactly for SEND with
    /// Invalidate.
    pub fn invalidate_rkey(&self) -> Option<u32> {
        self.extension(Opcode::has_ieth, self.hdr.ieth)
            .map(|i| i.rkey)
    }

    /// The RETH, exactly for the opcodes that carry one.
    pub fn reth(&self) -> Option<Reth> {
        self.extension(Opcode::has_reth, self.hdr.reth)
    }

    /// The FETH, exactly for FLUSH (IBA 1.5 memory placement extensions).
    pub fn feth(&self) -> Option<Feth> {
        self.extension(Opcode::has_feth, self.hdr.feth)
    }

    /// The AETH, exactly for the opcodes that carry one.
    pub fn aeth(&self) -> Option<Aeth> {
        self.extension(Opcode::has_aeth, self.hdr.aeth)
    }

    /// The AtomicETH, exactly for CmpSwap and FetchAdd.
    pub fn atomic_eth(&self) -> Option<AtomicEth> {
        self.extension(Opcode::has_atomic_eth, self.hdr.atomic_eth)
    }

    /// The AtomicAckETH, exactly for ATOMIC Acknowledge.
    pub fn atomic_ack_eth(&self) -> Option<AtomicAckEth> {
        self.extension(Opcode::has_atomic_ack_eth, self.hdr.atomic_ack_eth)
    }

    /// The DETH, exactly for UD (and RD) opcodes.
    pub fn deth(&self) -> Option<Deth> {
        self.extension(Opcode::has_deth, self.hdr.deth)
    }

    /// `header` if the opcode carries it (by construction it is then
    /// present), else `None` whatever the headers hold.
    fn extension<T>(&self, carries: fn(Opcode) -> bool, header: Option<T>) -> Option<T> {
        header.filter(|_| carries(self.hdr.bth.opcode))
    }
}

/// Splits `n` bytes off the front of `buf`.
#[inline]
fn take<'a>(buf: &mut &'a [u8], n: usize) -> Result<&'a [u8], WireError> {
    let (head, rest) = buf.split_at_checked(n).ok_or(WireError::Truncated)?;
    *buf = rest;
    Ok(head)
}

/// Splits `n` bytes off the front of a mutable `buf`.
// A cursor over a mutable slice is a `&mut &mut [u8]` advanced in place.
#[allow(clippy::mut_mut)]
#[inline]
fn take_mut<'a>(buf: &mut &'a mut [u8], n: usize) -> Result<&'a mut [u8], WireError> {
    let (head, rest) = core::mem::take(buf)
        .split_at_mut_checked(n)
        .ok_or(WireError::BufferTooSmall)?;
    *buf = rest;
    Ok(head)
}

/// Checks that `header` is present exactly when `required`.
#[inline]
fn check_presence<T>(header: &Option<T>, required: bool) -> Result<(), WireError> {
    match (header.is_some(), required) {
        (true, false) => Err(WireError::UnexpectedHeader),
        (false, true) => Err(WireError::MissingHeader),
        _ => Ok(()),
    }
}

/// Writes `header` (if any) at the front of `out` and advances `out`.
#[allow(clippy::mut_mut)] // the cursor of `take_mut`
#[inline]
fn put<T>(
    out: &mut &mut [u8],
    header: &Option<T>,
    len: usize,
    write: fn(&T, &mut [u8]) -> Result<(), WireError>,
) -> Result<(), WireError> {
    if let Some(h) = header {
        write(h, take_mut(out, len)?)?;
    }
    Ok(())
}

/// Parses a header of `len` bytes off the front of `rest` if `present`.
#[inline]
fn get<T>(
    rest: &mut &[u8],
    present: bool,
    len: usize,
    parse: fn(&[u8]) -> Result<T, WireError>,
) -> Result<Option<T>, WireError> {
    if present {
        parse(take(rest, len)?).map(Some)
    } else {
        Ok(None)
    }
}

impl PacketHeaders {
    /// Headers with `bth` and no extension header; set the ones the opcode
    /// requires before writing.
    pub const fn new(bth: Bth) -> PacketHeaders {
        PacketHeaders {
            bth,
            reth: None,
            aeth: None,
            atomic_eth: None,
            atomic_ack_eth: None,
            immdt: None,
            ieth: None,
            deth: None,
            feth: None,
        }
    }

    /// Length in bytes of the BTH and the extension headers of the opcode
    /// (what [`PacketHeaders::write`] writes).
    #[allow(clippy::len_without_is_empty)] // Never empty: the BTH is always there.
    pub const fn len(&self) -> usize {
        self.bth.opcode.header_len()
    }

    /// Checks that exactly the extension headers the opcode requires are set
    /// (IBA 9.2 Table 38).
    pub fn check_headers(&self) -> Result<(), WireError> {
        let op = self.bth.opcode;
        check_presence(&self.deth, op.has_deth())?;
        check_presence(&self.feth, op.has_feth())?;
        check_presence(&self.reth, op.has_reth())?;
        check_presence(&self.atomic_eth, op.has_atomic_eth())?;
        check_presence(&self.aeth, op.has_aeth())?;
        check_presence(&self.atomic_ack_eth, op.has_atomic_ack_eth())?;
        check_presence(&self.immdt, op.has_immdt())?;
        check_presence(&self.ieth, op.has_ieth())
    }

    /// Writes the BTH and the opcode's extension headers, in IBA order, to the
    /// front of `buf` and returns the number of bytes written
    /// (= [`PacketHeaders::len`]). Fails with `MissingHeader` or
    /// `UnexpectedHeader` if the set of headers does not match the opcode,
    /// `BufferTooSmall` if `buf` is short, `FieldOutOfRange` if a value does
    /// not fit its field. The BTH pad count is written as given.
    pub fn write(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        self.check_headers()?;
        let len = self.len();
        let mut out = buf.get_mut(..len).ok_or(WireError::BufferTooSmall)?;
        self.bth.write(take_mut(&mut out, Bth::LEN)?)?;
        put(&mut out, &self.deth, Deth::LEN, Deth::write)?;
        put(&mut out, &self.feth, Feth::LEN, Feth::write)?;
        put(&mut out, &self.reth, Reth::LEN, Reth::write)?;
        put(&mut out, &self.atomic_eth, AtomicEth::LEN, AtomicEth::write)?;
        put(&mut out, &self.aeth, Aeth::LEN, Aeth::write)?;
        put(
            &mut out,
            &self.atomic_ack_eth,
            AtomicAckEth::LEN,
            AtomicAckEth::write,
        )?;
        put(&mut out, &self.immdt, ImmDt::LEN, ImmDt::write)?;
        put(&mut out, &self.ieth, Ieth::LEN, Ieth::write)?;
        Ok(len)
    }

    /// Parses the BTH and the extension headers its opcode requires from the
    /// front of `buf`; returns them and the bytes that follow (payload and
    /// pad). Checks TVer = 0 (IBA 9.2.5) but not the payload.
    pub fn parse(buf: &[u8]) -> Result<(PacketHeaders, &[u8]), WireError> {
        let mut rest = buf;
        let bth = Bth::parse(take(&mut rest, Bth::LEN)?)?;
        if bth.tver != 0 {
            return Err(WireError::BadTransportVersion(bth.tver));
        }
        let op = bth.opcode;
        let mut hdr = PacketHeaders::new(bth);
        hdr.deth = get(&mut rest, op.has_deth(), Deth::LEN, Deth::parse)?;
        hdr.feth = get(&mut rest, op.has_feth(), Feth::LEN, Feth::parse)?;
        hdr.reth = get(&mut rest, op.has_reth(), Reth::LEN, Reth::parse)?;
        hdr.atomic_eth = get(
            &mut rest,
            op.has_atomic_eth(),
            AtomicEth::LEN,
            AtomicEth::parse,
        )?;
        hdr.aeth = get(&mut rest, op.has_aeth(), Aeth::LEN, Aeth::parse)?;
        hdr.atomic_ack_eth = get(
            &mut rest,
            op.has_atomic_ack_eth(),
            AtomicAckEth::LEN,
            AtomicAckEth::parse,
        )?;
        hdr.immdt = get(&mut rest, op.has_immdt(), ImmDt::LEN, ImmDt::parse)?;
        hdr.ieth = get(&mut rest, op.has_ieth(), Ieth::LEN, Ieth::parse)?;
        Ok((hdr, rest))
    }
}

/// Length of the payload of ATOMIC WRITE (IBA 1.5: an 8-byte value).
pub const ATOMIC_WRITE_PAYLOAD_LEN: usize = 8;

/// Parses a packet from its BTH to its last pad byte (no ICRC: the backend
/// verifies and strips it).
///
/// Rules checked: known opcode (IBA 9.2.1), TVer = 0 (9.2.5), every
/// extension header of the opcode present (9.2 Table 38, else `Truncated`),
/// payload plus pad a multiple of 4 bytes and pad count not larger than the
/// payload (9.2.4, else `BadLength` / `BadPadCount`), no payload and no pad on
/// opcodes that carry none (else `BadLength` / `BadPadCount`), an ATOMIC
/// WRITE payload of exactly 8 bytes. Path-MTU and message-length rules belong
/// to the engine.
pub fn parse(buf: &[u8]) -> Result<Packet<'_>, WireError> {
    let (hdr, rest) = PacketHeaders::parse(buf)?;
    if !hdr.bth.opcode.has_payload() {
        // Packet::new rejects a pad count and any bytes left.
        return Packet::new(hdr, rest);
    }
    // IBA 9.2.4: payload + pad bytes is a multiple of 4.
    if rest.len() & 3 != 0 {
        return Err(WireError::BadLength);
    }
    let pad = usize::from(hdr.bth.pad_count);
    let payload_len = rest.len().checked_sub(pad).ok_or(WireError::BadPadCount)?;
    let payload = rest.get(..payload_len).ok_or(WireError::BadPadCount)?;
    Packet::new(hdr, payload)
}

/// The BTH pad count for a payload of `payload_len` bytes: the number of
/// bytes (0..=3) that bring it to a multiple of 4 (IBA 9.2.4).
pub const fn pad_count(payload_len: usize) -> u8 {
    // (4 - len mod 4) mod 4, with bit operations: 0 -> 0, 1 -> 3, 2 -> 2, 3 -> 1.
    (payload_len.wrapping_neg() & 3) as u8
}

/// Builds a whole packet (headers, payload, zeroed pad) into `buf` and
/// returns its length, not counting the ICRC that follows. The BTH pad count
/// written is [`pad_count`] of the payload, whatever `hdr.bth.pad_count` says.
/// Fails like [`PacketHeaders::write`], with `BadLength` for a payload on an
/// opcode that carries none (or an ATOMIC WRITE payload that is not 8 bytes),
/// and with `BufferTooSmall` if the packet does not fit.
pub fn write_packet(
    hdr: &PacketHeaders,
    payload: &[u8],
    buf: &mut [u8],
) -> Result<usize, WireError> {
    let op = hdr.bth.opcode;
    if !op.has_payload() && !payload.is_empty() {
        return Err(WireError::BadLength);
    }
    if op.operation() == Operation::AtomicWrite && payload.len() != ATOMIC_WRITE_PAYLOAD_LEN {
        return Err(WireError::BadLength);
    }
    let pad = pad_count(payload.len());
    let mut hdr = *hdr;
    hdr.bth.pad_count = pad;
    let total = hdr
        .len()
        .checked_add(payload.len())
        .and_then(|n| n.checked_add(usize::from(pad)))
        .ok_or(WireError::BufferTooSmall)?;
    let mut out = buf.get_mut(..total).ok_or(WireError::BufferTooSmall)?;
    let header_len = hdr.write(out)?;
    let _ = take_mut(&mut out, header_len)?;
    take_mut(&mut out, payload.len())?.copy_from_slice(payload);
    out.fill(0);
    Ok(total)
}
