//! Message assembly shared by RC and UC (IBA 9.4.1, 9.4.2, 9.7, 9.8): the
//! opcode sequence of a multi-packet message, the SEND offset into the
//! receive WQE, the RDMA WRITE cursor, and the receive completions a message
//! ends with.

use core::ops::DerefMut;

use super::super::super::opcode::{Operation, Position};
use super::super::super::packet::Packet;
use super::super::mem::{MemError, Memory, RemoteAccess};
use super::super::verdict::DropReason;
use super::super::wc::{Completion, Queue, WcFlags, WcOpcode, WcStatus};
use super::super::wr::RecvQueue;
use super::{Responder, ResponderResource, Sink};

/// The multi-packet message being received.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub(super) enum InMsg {
    /// Between messages.
    None,
    /// A SEND into the head receive WQE, `off` bytes so far.
    Send { off: u32 },
    /// An RDMA WRITE.
    Write(WriteTarget),
    /// UC: the message in progress was abandoned (a PSN gap or an invalid
    /// packet); packets are dropped until the next First/Only (IBA 9.8).
    Abandoned,
}

impl InMsg {
    /// The opcode sequence check (IBA 9.7 / 9.9 for RC, 9.8 for UC): a
    /// Middle/Last continues a message of the same operation, a First/Only
    /// starts one between messages.
    pub(super) fn in_sequence(self, operation: Operation, pos: Position) -> bool {
        matches!(
            (self, operation, pos),
            (
                InMsg::Send { .. },
                Operation::Send,
                Position::Middle | Position::Last
            ) | (
                InMsg::Write(_),
                Operation::RdmaWrite,
                Position::Middle | Position::Last
            ) | (InMsg::None, _, Position::First | Position::Only)
        )
    }
}

/// Where an RDMA WRITE message goes: `off` of `total` bytes (the RETH DMA
/// length) placed so far at `va` under `rkey`.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub(super) struct WriteTarget {
    rkey: u32,
    va: u64,
    off: u32,
    pub(super) total: u32,
}

impl WriteTarget {
    /// IBA 9.4.2: every packet of an RDMA WRITE carries exactly the path
    /// MTU until the last, which carries the rest of the DMA length.
    pub(super) fn shape_ok(&self, pos: Position, payload_len: u32, mtu: u32) -> bool {
        let remaining = self.total.saturating_sub(self.off);
        if remaining > mtu {
            payload_len == mtu && !pos.ends_message()
        } else {
            payload_len == remaining && pos.ends_message()
        }
    }
}

impl<RD: DerefMut<Target = [ResponderResource]>> Responder<RD> {
    /// Makes sure a receive WQE is held for the message starting now: the
    /// one kept from a dropped UC message, or the next one of `rq`. False
    /// if the receive queue is empty.
    pub(super) fn claim_wqe<R: RecvQueue>(&mut self, rq: &mut R) -> bool {
        if self.wqe.is_none() {
            self.wqe = rq.take_recv();
        }
        self.wqe.is_some()
    }

    /// Reports a receive completion for the WQE held; it is given back.
    pub(super) fn complete_head<S: Sink>(&mut self, wc: Completion, sink: &mut S) {
        if let Some(wqe) = self.wqe.take() {
            sink.completion(&Completion {
                wr_id: wqe.wr_id,
                slot: wqe.slot,
                ..wc
            });
        }
    }

    /// Places a SEND packet into the head receive WQE after the bytes of
    /// the message so far (IBA 9.4.1) and returns the bytes so far.
    /// `IB_WC_LOC_QP_OP_ERR` if no SEND is in progress (an inconsistent
    /// state).
    pub(super) fn place_send<M: Memory>(
        &mut self,
        pkt: &Packet<'_>,
        mem: &mut M,
    ) -> Result<u32, WcStatus> {
        let InMsg::Send { off } = self.msg else {
            return Err(WcStatus::LocQpOpErr);
        };
        let off = self.place_recv(off, pkt.payload(), 0, mem)?;
        self.msg = InMsg::Send { off };
        Ok(off)
    }

    /// Copies `payload` into the receive WQE held at `base + off`, checking
    /// its capacity; returns the new offset (without `base`).
    pub(super) fn place_recv<M: Memory>(
        &self,
        off: u32,
        payload: &[u8],
        base: u32,
        mem: &mut M,
    ) -> Result<u32, WcStatus> {
        let Some(wqe) = self.wqe else {
            return Err(WcStatus::LocQpOpErr);
        };
        let len = u32::try_from(payload.len()).map_err(|_| WcStatus::LocLenErr)?;
        let new_off = off.checked_add(len).ok_or(WcStatus::LocLenErr)?;
        let end = new_off.checked_add(base).ok_or(WcStatus::LocLenErr)?;
        if end > wqe.len {
            return Err(WcStatus::LocLenErr);
        }
        if !payload.is_empty() {
            let at = off.checked_add(base).ok_or(WcStatus::LocLenErr)?;
            mem.write_recv(wqe.slot, at, payload)
                .map_err(|_| WcStatus::LocProtErr)?;
        }
        Ok(new_off)
    }

    /// The RDMA WRITE this packet continues (the message in progress) or
    /// starts (its RETH).
    pub(super) fn write_target(&self, pkt: &Packet<'_>) -> Option<WriteTarget> {
        match (self.msg, pkt.reth()) {
            (InMsg::Write(target), _) => Some(target),
            (InMsg::None, Some(reth)) => Some(WriteTarget {
                rkey: reth.rkey,
                va: reth.va,
                off: 0,
                total: reth.dma_len,
            }),
            _ => None,
        }
    }

    /// An RDMA WRITE packet of `target` was placed: on the last packet the
    /// message ends (true) and a WRITE with immediate completes the head
    /// receive WQE as `IB_WC_RECV_RDMA_WITH_IMM` with the DMA length as
    /// `byte_len` (IBA 9.4.2); otherwise the cursor advances.
    pub(super) fn write_placed<S: Sink>(
        &mut self,
        target: WriteTarget,
        pkt: &Packet<'_>,
        sink: &mut S,
    ) -> bool {
        if !pkt.opcode().position().ends_message() {
            self.msg = InMsg::Write(WriteTarget {
                off: target.off.saturating_add(payload_len(pkt)),
                ..target
            });
            return false;
        }
        if pkt.immediate().is_some() {
            let wc = message_wc(WcOpcode::RecvRdmaWithImm, target.total, pkt);
            self.complete_head(wc, sink);
        }
        self.msg = InMsg::None;
        true
    }
}

/// Packet length rules (IBA 9.4 packet formats): First and Middle packets
/// carry exactly the path MTU, Last packets 1..=MTU bytes, Only packets at
/// most the MTU.
pub(super) fn length_ok(pos: Position, len: usize, mtu: u32) -> bool {
    let mtu = usize::try_from(mtu).unwrap_or(usize::MAX);
    match pos {
        Position::First | Position::Middle => len == mtu,
        Position::Last => len >= 1 && len <= mtu,
        Position::Only => len <= mtu,
    }
}

/// Payload bytes of `pkt` (a packet is far below 4 GiB).
pub(super) fn payload_len(pkt: &Packet<'_>) -> u32 {
    u32::try_from(pkt.payload().len()).unwrap_or(u32::MAX)
}

/// Places an RDMA WRITE packet of `target`: the first packet checks the
/// R_Key and the whole RETH range (IBA 9.4.2; a zero-length WRITE checks
/// nothing), then the payload is written at its offset.
pub(super) fn place_write<M: Memory>(
    target: WriteTarget,
    pkt: &Packet<'_>,
    mem: &mut M,
) -> Result<(), MemError> {
    let WriteTarget {
        rkey,
        va,
        off,
        total,
    } = target;
    if pkt.opcode().position().starts_message() && total > 0 {
        mem.check_remote(rkey, va, total, RemoteAccess::Write)
            .map_err(|_| MemError::Access)?;
    }
    if pkt.payload().is_empty() {
        return Ok(());
    }
    mem.write_remote(rkey, va.wrapping_add(u64::from(off)), pkt.payload())
}

/// A successful receive completion of `opcode` and `byte_len` for the last
/// packet `pkt` of a message: its solicited event bit and immediate data.
pub(super) fn message_wc(opcode: WcOpcode, byte_len: u32, pkt: &Packet<'_>) -> Completion {
    let mut wc = recv_wc(WcStatus::Success, opcode, byte_len);
    wc.solicited = pkt.bth().solicited;
    if let Some(imm) = pkt.immediate() {
        wc.flags = WcFlags::WITH_IMM;
        wc.ex = imm;
    }
    wc
}

/// The drop reason of a local receive WQE failure.
pub(super) fn recv_error_reason(status: WcStatus) -> DropReason {
    match status {
        WcStatus::LocLenErr => DropReason::ReceiveTooSmall,
        WcStatus::LocQpOpErr => DropReason::Internal,
        _ => DropReason::LocalPlacement,
    }
}

/// A receive completion skeleton (wr_id and slot are filled in on pop).
pub(super) fn recv_wc(status: WcStatus, opcode: WcOpcode, byte_len: u32) -> Completion {
    Completion {
        queue: Queue::Recv,
        wr_id: 0,
        slot: 0,
        status,
        opcode,
        byte_len,
        flags: WcFlags::NONE,
        ex: 0,
        src_qp: 0,
        solicited: false,
    }
}
