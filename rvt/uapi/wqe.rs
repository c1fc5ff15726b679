// SPDX-License-Identifier: GPL-2.0

//! Work queue entries as the rxe provider writes them into the SQ and RQ
//! rings (rdma_user_rxe.h `struct rxe_send_wqe` and `struct rxe_recv_wqe`;
//! offsets in Documentation/rxe-user-abi.md, section 10), parsed from a
//! kernel copy of the slot (`UserQueue::read_slot`), never from the ring.
//!
//! Only what the transport needs is read; the fields rdma_rxe keeps in the
//! WQE for itself (status, state, iova, mask, PSNs, the DMA cursor) are
//! ignored, whatever user space put there. Every value read is checked
//! here or by the transport before it is used: a WQE that breaks a rule is
//! [`Malformed`], which completes it in error and moves its QP to Error.

use crate::{
    bindings as b,
    proto::engine::{QpType, SendFlags, SendWr, UdDest, WcStatus, WrOpcode},
};

/// Bytes of `struct rxe_send_wqe` before its payload (SGEs or inline data).
pub(crate) const SEND_WQE_HEADER: usize = 208;
/// Bytes of `struct rxe_recv_wqe` before its SGEs.
pub(crate) const RECV_WQE_HEADER: usize = 40;
/// Bytes of one `struct rxe_sge` (= `ib_sge` = `ibv_sge`).
pub(crate) const SGE_LEN: usize = 16;
/// The largest message (the RETH DMA length limit, IBA 9.4.3).
const MAX_MESSAGE: u32 = 1 << 31;
/// The 24 bits of a QPN.
const QPN_MASK: u32 = (1 << 24) - 1;

fn u32_at(bytes: &[u8], offset: usize) -> u32 {
    bytes
        .get(offset..offset + 4)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u32::from_le_bytes)
}

fn u64_at(bytes: &[u8], offset: usize) -> u64 {
    bytes
        .get(offset..offset + 8)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}

/// One scatter/gather entry.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub(crate) struct Sge {
    pub(crate) addr: u64,
    pub(crate) length: u32,
    pub(crate) lkey: u32,
}

/// The `index`th SGE of an array copied from a ring (zero past its end).
pub(crate) fn sge(array: &[u8], index: usize) -> Sge {
    let at = index * SGE_LEN;
    Sge {
        addr: u64_at(array, at),
        length: u32_at(array, at + 8),
        lkey: u32_at(array, at + 12),
    }
}

/// Writes an SGE array in this layout (the copy of a kernel work
/// request's list); the sum of the lengths, or `None` if it overflows or
/// `dst` is too small.
pub(crate) fn write_sges(dst: &mut [u8], sges: &[b::ib_sge]) -> Option<u32> {
    let mut len = 0u32;
    for (i, sge) in sges.iter().enumerate() {
        let d = dst.get_mut(i * SGE_LEN..(i + 1) * SGE_LEN)?;
        d[..8].copy_from_slice(&sge.addr.to_le_bytes());
        d[8..12].copy_from_slice(&sge.length.to_le_bytes());
        d[12..].copy_from_slice(&sge.lkey.to_le_bytes());
        len = len.checked_add(sge.length)?;
    }
    Some(len)
}

/// The fields of a send WQE's header the transport reads.
#[derive(Clone, Copy, Default, Debug)]
pub(crate) struct SendHeader {
    pub(crate) wr_id: u64,
    pub(crate) opcode: u32,
    pub(crate) send_flags: u32,
    /// `ex`: immediate data (network order) or the R_Key to invalidate.
    pub(crate) ex: [u8; 4],
    /// RDMA: `wr.rdma`; atomics: `wr.atomic`.
    pub(crate) remote_addr: u64,
    pub(crate) rdma_rkey: u32,
    pub(crate) compare_add: u64,
    pub(crate) swap: u64,
    pub(crate) atomic_rkey: u32,
    /// UD: `wr.ud`.
    pub(crate) remote_qpn: u32,
    pub(crate) remote_qkey: u32,
    pub(crate) ah_num: u32,
    /// `dma.length`: the inline data length (the provider's sum otherwise,
    /// which the kernel recomputes).
    pub(crate) dma_length: u32,
    /// `dma.num_sge`.
    pub(crate) num_sge: u32,
    /// BIND_MW: `wr.mw`.
    pub(crate) mw: BindFields,
}

/// `wr.mw` of a BIND_MW WQE: the window's current and new R_Keys, the
/// L_Key of the MR it opens, and the window.
#[derive(Clone, Copy, Default, Debug)]
pub(crate) struct BindFields {
    pub(crate) addr: u64,
    pub(crate) length: u64,
    pub(crate) mr_lkey: u32,
    pub(crate) mw_rkey: u32,
    pub(crate) rkey: u32,
    pub(crate) access: u32,
}

impl SendHeader {
    /// Reads a header from its copy.
    pub(crate) fn parse(copy: &[u8; SEND_WQE_HEADER]) -> Self {
        let ex = [copy[20], copy[21], copy[22], copy[23]];
        Self {
            wr_id: u64_at(copy, 0),
            opcode: u32_at(copy, 12),
            send_flags: u32_at(copy, 16),
            ex,
            remote_addr: u64_at(copy, 24),
            rdma_rkey: u32_at(copy, 32),
            compare_add: u64_at(copy, 32),
            swap: u64_at(copy, 40),
            atomic_rkey: u32_at(copy, 48),
            remote_qpn: u32_at(copy, 24),
            remote_qkey: u32_at(copy, 28),
            ah_num: u32_at(copy, 36),
            dma_length: u32_at(copy, 184),
            num_sge: u32_at(copy, 196),
            mw: BindFields {
                addr: u64_at(copy, 24),
                length: u64_at(copy, 32),
                mr_lkey: u32_at(copy, 40),
                mw_rkey: u32_at(copy, 44),
                rkey: u32_at(copy, 48),
                access: u32_at(copy, 52),
            },
        }
    }
}

/// Why a WQE was refused.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Malformed {
    /// An opcode the QP's service does not have, or one rvt does not
    /// implement.
    Opcode,
    /// More SGEs than the QP was created with.
    NumSge,
    /// More inline data than the QP was created with.
    InlineLen,
    /// A message longer than 2^31 bytes, or an atomic without an 8-byte
    /// local buffer.
    Length,
    /// A UD send without an address handle number (the provider's legacy
    /// in-WQE address vector, which rvt never trusts).
    NoAh,
    /// An atomic whose remote address is not 8-byte aligned (IBA 9.4.4).
    Align,
}

impl Malformed {
    /// The status the WQE completes with.
    pub(crate) fn status(self) -> WcStatus {
        match self {
            Malformed::InlineLen | Malformed::Length => WcStatus::LocLenErr,
            _ => WcStatus::LocQpOpErr,
        }
    }
}

/// Where a send WQE's data is: its SGE array or inline bytes, both in the
/// WQE's payload copy.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Data {
    /// This many SGEs.
    Sges(u32),
    /// This many inline bytes.
    Inline(u32),
}

/// What a QP allows in its send WQEs.
pub(crate) struct SendLimits {
    pub(crate) service: QpType,
    pub(crate) max_sge: u32,
    pub(crate) max_inline: u32,
    /// `IB_SIGNAL_ALL_WR`: every WQE completes.
    pub(crate) sig_all: bool,
}

/// The engine's work request for a send WQE whose header is `h` and whose
/// payload copy (the bytes after the header) is `payload`.
pub(crate) fn to_send_wr(
    h: &SendHeader,
    payload: &[u8],
    limits: &SendLimits,
) -> Result<(SendWr, Data), Malformed> {
    let opcode = opcode(h.opcode, limits.service)?;
    let mut flags = SendFlags::NONE;
    for (ib, flag) in [
        (b::ib_send_flags_IB_SEND_FENCE as u32, SendFlags::FENCE),
        (
            b::ib_send_flags_IB_SEND_SIGNALED as u32,
            SendFlags::SIGNALED,
        ),
        (
            b::ib_send_flags_IB_SEND_SOLICITED as u32,
            SendFlags::SOLICITED,
        ),
    ] {
        if h.send_flags & ib != 0 {
            flags = flags.with(flag);
        }
    }
    if limits.sig_all {
        flags = flags.with(SendFlags::SIGNALED);
    }
    let inline = h.send_flags & b::ib_send_flags_IB_SEND_INLINE as u32 != 0;
    let (len, data) = if inline {
        // Inline data is a payload to send: not for READ or atomics.
        if !matches!(
            opcode,
            WrOpcode::Send
                | WrOpcode::SendWithImm
                | WrOpcode::SendWithInv
                | WrOpcode::RdmaWrite
                | WrOpcode::RdmaWriteWithImm
        ) {
            return Err(Malformed::Opcode);
        }
        if h.dma_length > limits.max_inline || h.dma_length as usize > payload.len() {
            return Err(Malformed::InlineLen);
        }
        (h.dma_length, Data::Inline(h.dma_length))
    } else {
        if h.num_sge > limits.max_sge {
            return Err(Malformed::NumSge);
        }
        let mut len = 0u32;
        for i in 0..h.num_sge as usize {
            len = len
                .checked_add(sge(payload, i).length)
                .filter(|&l| l <= MAX_MESSAGE)
                .ok_or(Malformed::Length)?;
        }
        (len, Data::Sges(h.num_sge))
    };
    let mut wr = SendWr::new(h.wr_id, opcode);
    wr.flags = flags;
    wr.len = len;
    match opcode {
        WrOpcode::SendWithImm | WrOpcode::RdmaWriteWithImm => {
            // The provider stores the immediate data in network order.
            wr.imm_or_inv = u32::from_be_bytes(h.ex);
        }
        WrOpcode::SendWithInv => wr.imm_or_inv = u32::from_le_bytes(h.ex),
        _ => {}
    }
    match opcode {
        WrOpcode::RdmaWrite | WrOpcode::RdmaWriteWithImm | WrOpcode::RdmaRead => {
            wr.remote_va = h.remote_addr;
            wr.rkey = h.rdma_rkey;
        }
        WrOpcode::CompareSwap | WrOpcode::FetchAdd => {
            // The original value lands in one 8-byte local buffer.
            if h.num_sge != 1 || sge(payload, 0).length < 8 {
                return Err(Malformed::Length);
            }
            if h.remote_addr % 8 != 0 {
                return Err(Malformed::Align);
            }
            wr.remote_va = h.remote_addr;
            wr.rkey = h.atomic_rkey;
            wr.compare_add = h.compare_add;
            wr.swap = h.swap;
            wr.len = 8;
        }
        _ => {}
    }
    if limits.service == QpType::Ud {
        if h.ah_num == 0 {
            return Err(Malformed::NoAh);
        }
        wr.ud = UdDest {
            ah: h.ah_num,
            remote_qpn: h.remote_qpn & QPN_MASK,
            remote_qkey: h.remote_qkey,
        };
    }
    Ok((wr, data))
}

/// The engine's opcode for an `IB_WR_*` value on a QP of `service`.
fn opcode(ib: u32, service: QpType) -> Result<WrOpcode, Malformed> {
    let op = match ib {
        b::ib_wr_opcode_IB_WR_SEND => WrOpcode::Send,
        b::ib_wr_opcode_IB_WR_SEND_WITH_IMM => WrOpcode::SendWithImm,
        b::ib_wr_opcode_IB_WR_RDMA_WRITE => WrOpcode::RdmaWrite,
        b::ib_wr_opcode_IB_WR_RDMA_WRITE_WITH_IMM => WrOpcode::RdmaWriteWithImm,
        b::ib_wr_opcode_IB_WR_RDMA_READ => WrOpcode::RdmaRead,
        b::ib_wr_opcode_IB_WR_ATOMIC_CMP_AND_SWP => WrOpcode::CompareSwap,
        b::ib_wr_opcode_IB_WR_ATOMIC_FETCH_AND_ADD => WrOpcode::FetchAdd,
        b::ib_wr_opcode_IB_WR_SEND_WITH_INV => WrOpcode::SendWithInv,
        // Memory operations never reach the engine (the transport executes
        // LOCAL_INV and BIND_MW of RC and UC QPs, REG_MR of kernel QPs);
        // FLUSH and ATOMIC_WRITE (no MR rights for them yet), anything else.
        _ => return Err(Malformed::Opcode),
    };
    let allowed = match service {
        QpType::Rc => true,
        QpType::Uc => matches!(
            op,
            WrOpcode::Send
                | WrOpcode::SendWithImm
                | WrOpcode::RdmaWrite
                | WrOpcode::RdmaWriteWithImm
        ),
        QpType::Ud => matches!(op, WrOpcode::Send | WrOpcode::SendWithImm),
    };
    if allowed {
        Ok(op)
    } else {
        Err(Malformed::Opcode)
    }
}

/// The fields of a receive WQE's header the transport reads.
#[derive(Clone, Copy, Default, Debug)]
pub(crate) struct RecvHeader {
    pub(crate) wr_id: u64,
    /// `dma.num_sge`.
    pub(crate) num_sge: u32,
}

impl RecvHeader {
    /// Reads a header from its copy.
    pub(crate) fn parse(copy: &[u8; RECV_WQE_HEADER]) -> Self {
        Self {
            wr_id: u64_at(copy, 0),
            num_sge: u32_at(copy, 28),
        }
    }
}

/// The capacity of a receive WQE with `num_sge` SGEs in `sges` (at most
/// `max_sge`): the sum of their lengths, or `None` if the WQE is malformed.
pub(crate) fn recv_len(sges: &[u8], num_sge: u32, max_sge: u32) -> Option<u32> {
    if num_sge > max_sge {
        return None;
    }
    let mut len = 0u32;
    for i in 0..num_sge as usize {
        len = len.checked_add(sge(sges, i).length)?;
    }
    Some(len)
}
