//! RC requests (IBA 9.7 reliable service, 9.9 error handling): the PSN
//! check with its sequence NAKs and duplicates, the opcode sequence, access
//! and length checks, then one handler per operation.

use core::ops::DerefMut;

use super::super::super::aeth::{NakCode, Syndrome};
use super::super::super::headers::Bth;
use super::super::super::opcode::{Opcode, Operation};
use super::super::super::packet::Packet;
use super::super::super::psn::Psn;
use super::super::attr::{AccessFlags, QpAttrs};
use super::super::mem::{AtomicOp, Memory, Placement, RemoteAccess, Selectivity};
use super::super::requester::MAX_DMA_LEN;
use super::super::verdict::{DropReason, Verdict};
use super::super::wc::{WcFlags, WcOpcode, WcStatus};
use super::super::wr::RecvQueue;
use super::message::{length_ok, message_wc, payload_len, place_write, recv_error_reason, InMsg};
use super::resources::Replay;
use super::{Fatal, Nak, NakState, Responder, ResponderResource, Sink};

impl<RD: DerefMut<Target = [ResponderResource]>> Responder<RD> {
    /// RC request (IBA 9.7 reliable service).
    pub(super) fn rc_request<M: Memory + RecvQueue, S: Sink>(
        &mut self,
        attrs: &QpAttrs,
        pkt: &Packet<'_>,
        now: u64,
        mem: &mut M,
        sink: &mut S,
    ) -> Result<Verdict, Fatal> {
        let bth = pkt.bth();
        let psn = bth.psn;
        if self.epsn.is_before(psn) {
            // IBA 9.7.5: PSN sequence error. One NAK per gap: later
            // out-of-sequence packets are dropped silently.
            let nak_sent = self.nak == NakState::InSequence;
            if nak_sent {
                self.nak = NakState::Gap {
                    owed: Some(Nak {
                        syndrome: Syndrome::Nak(NakCode::PsnSequenceError).encode(),
                        psn: self.epsn,
                    }),
                };
                self.forget_ack();
            }
            return Ok(Verdict::OutOfSequence { nak_sent });
        }
        if psn != self.epsn {
            // IBA 9.7.1: behind the expected PSN, in the half of the PSN
            // space that is not ahead (the PSN exactly 2^23 away too).
            return Ok(self.duplicate(attrs, pkt, now));
        }
        let op = bth.opcode;
        if op.operation() != Operation::ReadRequest && self.res.read_payload_owed() {
            // IBA 9.5: this request must not change memory that an earlier
            // READ's responses, not yet transmitted, will still read.
            return Ok(Verdict::Deferred);
        }
        let pos = op.position();
        let operation = op.operation();
        // IBA 9.7 / 9.9: opcode sequence check (NAK Invalid Request).
        let seq_ok = self.msg.in_sequence(operation, pos);
        let in_send = matches!(self.msg, InMsg::Send { .. });
        let busy_status = if in_send {
            Some(WcStatus::RemInvReqErr)
        } else {
            None
        };
        if !seq_ok {
            return Err(self.fatal(
                DropReason::OpcodeSequence,
                Some(NakCode::InvalidRequest),
                psn,
                busy_status,
                sink,
            ));
        }
        // The QP's remote access rights (NAK Invalid Request, as
        // rdma_rxe does).
        let right = match operation {
            Operation::Send => None,
            Operation::RdmaWrite => Some(AccessFlags::REMOTE_WRITE),
            Operation::ReadRequest => Some(AccessFlags::REMOTE_READ),
            Operation::CompareSwap | Operation::FetchAdd => Some(AccessFlags::REMOTE_ATOMIC),
            // IBA 1.5: ATOMIC WRITE writes (the QP's remote write right);
            // FLUSH is checked against the region's flush rights only.
            Operation::AtomicWrite => Some(AccessFlags::REMOTE_WRITE),
            Operation::Flush => None,
            _ => {
                return Err(self.fatal(
                    DropReason::Opcode,
                    Some(NakCode::InvalidRequest),
                    psn,
                    busy_status,
                    sink,
                ));
            }
        };
        if let Some(right) = right {
            if !attrs.access.contains(right) {
                return Err(self.invalid_request(DropReason::Access, psn, sink));
            }
        }
        let mtu = attrs.path_mtu.bytes();
        if !length_ok(pos, pkt.payload().len(), mtu) {
            return Err(self.fatal(
                DropReason::Length,
                Some(NakCode::InvalidRequest),
                psn,
                busy_status,
                sink,
            ));
        }
        match operation {
            Operation::Send => self.rc_send(attrs, pkt, now, mem, sink),
            Operation::RdmaWrite => self.rc_write(attrs, pkt, now, mem, sink),
            Operation::ReadRequest => self.rc_read(attrs, pkt, mem, sink),
            Operation::AtomicWrite => self.rc_atomic_write(attrs, pkt, now, mem, sink),
            Operation::Flush => self.rc_flush(attrs, pkt, now, mem, sink),
            _ => self.rc_atomic(attrs, pkt, mem, sink),
        }
    }

    /// A one-packet request (ATOMIC WRITE, FLUSH) has been executed: its
    /// PSN is accepted, the message completes (MSN + 1) and it is
    /// acknowledged (at once with AckReq, else coalesced).
    fn executed_in_one_packet(&mut self, attrs: &QpAttrs, bth: Bth, now: u64) -> Verdict {
        self.accepted(bth.psn.next());
        self.msn = self.msn.next();
        self.owe_ack(attrs, bth.ack_req, now);
        Verdict::Accepted
    }

    /// An RDMA ATOMIC WRITE with the expected PSN (IBA 1.5 memory placement
    /// extensions): an 8-byte DMA length and payload at an 8-byte aligned
    /// VA (else NAK invalid request), stored once through
    /// [`Memory::atomic_write`] (R_Key failure: NAK remote access error),
    /// then acknowledged. A duplicate is acknowledged again and never
    /// executed again (like a WRITE, C9-105), so a later WRITE to the same
    /// bytes is never undone by a retry.
    fn rc_atomic_write<M: Memory, S: Sink>(
        &mut self,
        attrs: &QpAttrs,
        pkt: &Packet<'_>,
        now: u64,
        mem: &mut M,
        sink: &mut S,
    ) -> Result<Verdict, Fatal> {
        let bth = pkt.bth();
        let psn = bth.psn;
        let Some(reth) = pkt.reth() else {
            return Err(self.internal(psn, sink));
        };
        let Ok(value) = <[u8; 8]>::try_from(pkt.payload()) else {
            return Err(self.invalid_request(DropReason::Length, psn, sink));
        };
        if reth.dma_len != 8 {
            return Err(self.invalid_request(DropReason::Length, psn, sink));
        }
        if reth.va & 7 != 0 {
            return Err(self.invalid_request(DropReason::Alignment, psn, sink));
        }
        if let Err(e) = mem.atomic_write(reth.rkey, reth.va, value) {
            return Err(self.remote_mem_error(e, psn, sink));
        }
        Ok(self.executed_in_one_packet(attrs, bth, now))
    }

    /// An RDMA FLUSH with the expected PSN (IBA 1.5): the placement type
    /// must be non-empty without reserved bits and the selectivity level 0
    /// (range) or 1 (whole region), else NAK invalid request; the flush
    /// runs through [`Memory::flush`] (rights or range failure: NAK remote
    /// access error; a zero-length range flushes nothing) after every
    /// earlier request was placed, and only then is it acknowledged. A
    /// duplicate is acknowledged again, not executed again.
    fn rc_flush<M: Memory, S: Sink>(
        &mut self,
        attrs: &QpAttrs,
        pkt: &Packet<'_>,
        now: u64,
        mem: &mut M,
        sink: &mut S,
    ) -> Result<Verdict, Fatal> {
        let bth = pkt.bth();
        let psn = bth.psn;
        let (Some(feth), Some(reth)) = (pkt.feth(), pkt.reth()) else {
            return Err(self.internal(psn, sink));
        };
        let placement = Placement(feth.placement_type);
        let selectivity = Selectivity::from_level(feth.selectivity_level);
        let Some(selectivity) = selectivity.filter(|_| placement.is_valid()) else {
            return Err(self.invalid_request(DropReason::FlushType, psn, sink));
        };
        if selectivity == Selectivity::Region || reth.dma_len != 0 {
            if let Err(e) = mem.flush(reth.rkey, reth.va, reth.dma_len, selectivity, placement) {
                return Err(self.remote_mem_error(e, psn, sink));
            }
        }
        Ok(self.executed_in_one_packet(attrs, bth, now))
    }

    /// A SEND packet with the expected PSN (IBA 9.4.1; RNR NAK 9.7.5.2.8).
    fn rc_send<M: Memory + RecvQueue, S: Sink>(
        &mut self,
        attrs: &QpAttrs,
        pkt: &Packet<'_>,
        now: u64,
        mem: &mut M,
        sink: &mut S,
    ) -> Result<Verdict, Fatal> {
        let bth = pkt.bth();
        let pos = bth.opcode.position();
        if pos.starts_message() {
            if !self.claim_wqe(mem) {
                self.rnr_nak(attrs, bth.psn);
                return Ok(Verdict::RnrNak);
            }
            self.msg = InMsg::Send { off: 0 };
        }
        let total = match self.place_send(pkt, mem) {
            Ok(total) => total,
            Err(status) => {
                // IBA 9.9: receive buffer too small: NAK Invalid Request and
                // Local Length Error; a local placement fault: NAK Remote
                // Operational Error.
                let code = if status == WcStatus::LocLenErr {
                    NakCode::InvalidRequest
                } else {
                    NakCode::RemoteOperationalError
                };
                let reason = recv_error_reason(status);
                return Err(self.fatal(reason, Some(code), bth.psn, Some(status), sink));
            }
        };
        if pos.ends_message() {
            let mut wc = message_wc(WcOpcode::Recv, total, pkt);
            if let Some(rkey) = pkt.invalidate_rkey() {
                // IBA 9.4.1: SEND with Invalidate.
                if mem.invalidate(rkey).is_err() {
                    return Err(self.fatal(
                        DropReason::Invalidate,
                        Some(NakCode::InvalidRequest),
                        bth.psn,
                        Some(WcStatus::RemInvReqErr),
                        sink,
                    ));
                }
                wc.flags = wc.flags.with(WcFlags::WITH_INVALIDATE);
                wc.ex = rkey;
            }
            self.complete_head(wc, sink);
            self.msg = InMsg::None;
            self.msn = self.msn.next();
        }
        self.accepted(bth.psn.next());
        self.owe_ack(attrs, bth.ack_req, now);
        Ok(Verdict::Accepted)
    }

    /// Queues an RNR NAK for `psn` (IBA 9.7.5.2.8): no receive WQE.
    fn rnr_nak(&mut self, attrs: &QpAttrs, psn: Psn) {
        let syndrome = Syndrome::RnrNak {
            timer_code: attrs.min_rnr_timer,
        };
        // Packets after the RNR'd one are out of sequence; they are dropped
        // without a sequence NAK until the requester resends this PSN.
        self.nak = NakState::Gap {
            owed: Some(Nak {
                syndrome: syndrome.encode(),
                psn,
            }),
        };
        self.forget_ack();
    }

    /// An RDMA WRITE packet with the expected PSN (IBA 9.4.2).
    fn rc_write<M: Memory + RecvQueue, S: Sink>(
        &mut self,
        attrs: &QpAttrs,
        pkt: &Packet<'_>,
        now: u64,
        mem: &mut M,
        sink: &mut S,
    ) -> Result<Verdict, Fatal> {
        let bth = pkt.bth();
        let psn = bth.psn;
        let pos = bth.opcode.position();
        let Some(target) = self.write_target(pkt) else {
            return Err(self.internal(psn, sink));
        };
        if target.total > MAX_DMA_LEN {
            return Err(self.invalid_request(DropReason::Length, psn, sink));
        }
        if !target.shape_ok(pos, payload_len(pkt), attrs.path_mtu.bytes()) {
            return Err(self.invalid_request(DropReason::Length, psn, sink));
        }
        if pkt.immediate().is_some() && !self.claim_wqe(mem) {
            // The receive WQE is consumed by the last packet: RNR before
            // anything of this packet is placed.
            self.rnr_nak(attrs, psn);
            return Ok(Verdict::RnrNak);
        }
        if let Err(e) = place_write(target, pkt, mem) {
            return Err(self.remote_mem_error(e, psn, sink));
        }
        if self.write_placed(target, pkt, sink) {
            self.msn = self.msn.next();
        }
        self.accepted(psn.next());
        self.owe_ack(attrs, bth.ack_req, now);
        Ok(Verdict::Accepted)
    }

    /// An RDMA READ request with the expected PSN (IBA 9.4.3).
    fn rc_read<M: Memory, S: Sink>(
        &mut self,
        attrs: &QpAttrs,
        pkt: &Packet<'_>,
        mem: &mut M,
        sink: &mut S,
    ) -> Result<Verdict, Fatal> {
        let psn = pkt.bth().psn;
        let Some(reth) = pkt.reth() else {
            return Err(self.internal(psn, sink));
        };
        if reth.dma_len > MAX_DMA_LEN {
            return Err(self.invalid_request(DropReason::Length, psn, sink));
        }
        if !self.res.make_room(attrs.max_dest_rd_atomic) {
            return Err(self.invalid_request(DropReason::TooManyRdAtomic, psn, sink));
        }
        if reth.dma_len > 0
            && mem
                .check_remote(reth.rkey, reth.va, reth.dma_len, RemoteAccess::Read)
                .is_err()
        {
            return Err(self.remote_access_error(psn, sink));
        }
        // IBA 9.7.1: the READ consumes one PSN per response packet.
        let r = ResponderResource::read(psn, reth, attrs.path_mtu.bytes());
        self.resource_accepted(psn, r, sink)
    }

    /// The READ or atomic request at `psn` executed into resource `r`: its
    /// PSNs are accepted and the MSN counts it now (C9-148). Its responses
    /// acknowledge everything before, so an owed ACK is dropped.
    fn resource_accepted<S: Sink>(
        &mut self,
        psn: Psn,
        r: ResponderResource,
        sink: &mut S,
    ) -> Result<Verdict, Fatal> {
        if !self.res.push(r) {
            return Err(self.internal(psn, sink));
        }
        self.accepted(r.end());
        self.msn = self.msn.next();
        self.forget_ack();
        Ok(Verdict::Accepted)
    }

    /// An atomic request with the expected PSN (IBA 9.4.4): executed once,
    /// its result kept for replays.
    fn rc_atomic<M: Memory, S: Sink>(
        &mut self,
        attrs: &QpAttrs,
        pkt: &Packet<'_>,
        mem: &mut M,
        sink: &mut S,
    ) -> Result<Verdict, Fatal> {
        let bth = pkt.bth();
        let psn = bth.psn;
        let Some(eth) = pkt.atomic_eth() else {
            return Err(self.internal(psn, sink));
        };
        // IBA 9.4.4: the VA of an atomic must be 8-byte aligned.
        if eth.va & 7 != 0 {
            return Err(self.invalid_request(DropReason::Alignment, psn, sink));
        }
        if !self.res.make_room(attrs.max_dest_rd_atomic) {
            return Err(self.invalid_request(DropReason::TooManyRdAtomic, psn, sink));
        }
        let op = if bth.opcode == Opcode::RcCompareSwap {
            AtomicOp::CompareSwap {
                compare: eth.compare,
                swap: eth.swap_add,
            }
        } else {
            AtomicOp::FetchAdd { add: eth.swap_add }
        };
        let orig = match mem.atomic(eth.rkey, eth.va, op) {
            Ok(v) => v,
            Err(e) => return Err(self.remote_mem_error(e, psn, sink)),
        };
        let r = ResponderResource::atomic(psn, orig, attrs.path_mtu.bytes());
        self.resource_accepted(psn, r, sink)
    }

    /// A duplicate request (IBA 9.7): SEND/WRITE are acknowledged again
    /// without being executed (C9-105); a READ is replayed from the
    /// requested PSN if it asks for a subset of the original; an atomic gets
    /// its saved result again. Requests no longer in the resources are
    /// dropped, and so is one for a resource after the one whose responses
    /// are being sent again (the requester asks again).
    fn duplicate(&mut self, attrs: &QpAttrs, pkt: &Packet<'_>, now: u64) -> Verdict {
        let psn = pkt.bth().psn;
        let replayed = match pkt.bth().opcode.operation() {
            // IBA 1.5: a duplicate ATOMIC WRITE or FLUSH is acknowledged
            // again like a WRITE, never executed again.
            Operation::Send | Operation::RdmaWrite | Operation::AtomicWrite | Operation::Flush => {
                if !self.nak.is_owed() {
                    self.owe_ack(attrs, true, now);
                }
                return Verdict::Duplicate;
            }
            Operation::ReadRequest => match pkt.reth() {
                Some(reth) => self.res.replay_read(psn, reth),
                None => Replay::Unknown,
            },
            Operation::CompareSwap | Operation::FetchAdd => self.res.replay_atomic(psn),
            _ => return Verdict::Dropped(DropReason::Opcode),
        };
        match replayed {
            Replay::Replayed => Verdict::Duplicate,
            Replay::Unknown | Replay::Later => Verdict::Dropped(DropReason::UnknownDuplicate),
        }
    }
}
