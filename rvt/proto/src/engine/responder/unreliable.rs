//! UC and UD requests (IBA 9.8 unreliable service): no acknowledgements;
//! what RC would NAK drops the packet (UC: the rest of its message).

use core::ops::DerefMut;

use super::super::super::opcode::{Opcode, Operation, Position};
use super::super::super::packet::Packet;
use super::super::super::psn::Psn;
use super::super::attr::{AccessFlags, QpAttrs, GSI_QKEY, GSI_QPN};
use super::super::io::RxMeta;
use super::super::mem::Memory;
use super::super::verdict::{DropReason, Verdict};
use super::super::wc::{WcFlags, WcOpcode, WcStatus};
use super::super::wr::RecvQueue;
use super::message::{
    length_ok, message_wc, payload_len, place_write, recv_error_reason, recv_wc, InMsg,
};
use super::{Fatal, Responder, ResponderResource, Sink, UD_GRH_LEN};

impl<RD: DerefMut<Target = [ResponderResource]>> Responder<RD> {
    /// UC request (IBA 9.8): no acknowledgements; a PSN gap or an invalid
    /// packet drops the rest of the message and the next First/Only packet
    /// resynchronises (the receive WQE of a dropped SEND is reused).
    pub(super) fn uc_request<M: Memory + RecvQueue, S: Sink>(
        &mut self,
        attrs: &QpAttrs,
        pkt: &Packet<'_>,
        mem: &mut M,
        sink: &mut S,
    ) -> Result<Verdict, Fatal> {
        let bth = pkt.bth();
        let psn = bth.psn;
        let pos = bth.opcode.position();
        let operation = bth.opcode.operation();
        if self.msg == InMsg::Abandoned || psn != self.epsn {
            if !pos.starts_message() {
                let verdict = if psn != self.epsn {
                    Verdict::OutOfSequence { nak_sent: false }
                } else {
                    Verdict::Dropped(DropReason::MessageAbandoned)
                };
                self.msg = InMsg::Abandoned;
                return Ok(verdict);
            }
            self.msg = InMsg::None;
        }
        if pos.starts_message() && self.msg != InMsg::None {
            // A new message while one is in progress: the old one is lost
            // (IBA 9.8).
            self.msg = InMsg::None;
        }
        self.epsn = psn.next();
        // UC opcodes are SEND and RDMA WRITE only.
        let seq_ok = self.msg.in_sequence(operation, pos);
        if !seq_ok {
            return Ok(self.drop_uc_msg(DropReason::OpcodeSequence));
        }
        if !length_ok(pos, pkt.payload().len(), attrs.path_mtu.bytes()) {
            return Ok(self.drop_uc_msg(DropReason::Length));
        }
        if operation == Operation::Send {
            self.uc_send(pkt, mem, sink)
        } else {
            self.uc_write(attrs, pkt, mem, sink)
        }
    }

    /// A UC SEND packet in sequence (IBA 9.8).
    fn uc_send<M: Memory + RecvQueue, S: Sink>(
        &mut self,
        pkt: &Packet<'_>,
        mem: &mut M,
        sink: &mut S,
    ) -> Result<Verdict, Fatal> {
        let bth = pkt.bth();
        let pos = bth.opcode.position();
        if pos.starts_message() {
            if !self.claim_wqe(mem) {
                return Ok(self.drop_uc_msg(DropReason::NoReceiveWqe));
            }
            self.msg = InMsg::Send { off: 0 };
        }
        let off = match self.place_send(pkt, mem) {
            Ok(off) => off,
            Err(status) => return self.local_recv_error(status, bth.psn, sink),
        };
        if pos.ends_message() {
            self.complete_head(message_wc(WcOpcode::Recv, off, pkt), sink);
            self.msg = InMsg::None;
        }
        Ok(Verdict::Accepted)
    }

    /// A UC RDMA WRITE packet in sequence (IBA 9.8; the RETH rules of
    /// 9.4.2 as for RC, but a violation drops the message).
    fn uc_write<M: Memory + RecvQueue, S: Sink>(
        &mut self,
        attrs: &QpAttrs,
        pkt: &Packet<'_>,
        mem: &mut M,
        sink: &mut S,
    ) -> Result<Verdict, Fatal> {
        let bth = pkt.bth();
        let pos = bth.opcode.position();
        if !attrs.access.contains(AccessFlags::REMOTE_WRITE) {
            return Ok(self.drop_uc_msg(DropReason::Access));
        }
        let Some(target) = self.write_target(pkt) else {
            return Err(self.internal(bth.psn, sink));
        };
        if !target.shape_ok(pos, payload_len(pkt), attrs.path_mtu.bytes()) {
            return Ok(self.drop_uc_msg(DropReason::Length));
        }
        if pkt.immediate().is_some() && !self.claim_wqe(mem) {
            return Ok(self.drop_uc_msg(DropReason::NoReceiveWqe));
        }
        if place_write(target, pkt, mem).is_err() {
            return Ok(self.drop_uc_msg(DropReason::RKey));
        }
        self.write_placed(target, pkt, sink);
        Ok(Verdict::Accepted)
    }

    /// UC: abandon the current message until the next First/Only; the
    /// packet is dropped for `reason`.
    fn drop_uc_msg(&mut self, reason: DropReason) -> Verdict {
        self.msg = InMsg::Abandoned;
        Verdict::Dropped(reason)
    }

    /// UC/UD: a receive WQE could not take a message. It completes with
    /// `status` (`IB_WC_LOC_LEN_ERR` / `IB_WC_LOC_PROT_ERR`) and is consumed;
    /// the rest of a UC message is dropped. Documented choice: the QP stays
    /// operational, so a peer cannot move an unreliable QP (e.g. QP1) to
    /// Error with one oversized datagram. A missing receive WQE (checked
    /// before) is an inconsistent engine state: the QP enters Error.
    fn local_recv_error<S: Sink>(
        &mut self,
        status: WcStatus,
        psn: Psn,
        sink: &mut S,
    ) -> Result<Verdict, Fatal> {
        let reason = recv_error_reason(status);
        if reason == DropReason::Internal {
            return Err(self.fatal(reason, None, psn, None, sink));
        }
        self.complete_head(recv_wc(status, WcOpcode::Recv, 0), sink);
        Ok(self.drop_uc_msg(reason))
    }

    /// UD request (IBA 9.8): one SEND Only packet; Q_Key check against the
    /// DETH (IBA 9.6; QP1 uses the GSI Q_Key 0x80010000); no RNR NAK: a
    /// packet without a receive WQE is dropped.
    pub(super) fn ud_request<M: Memory + RecvQueue, S: Sink>(
        &mut self,
        attrs: &QpAttrs,
        pkt: &Packet<'_>,
        meta: &RxMeta<'_>,
        mem: &mut M,
        sink: &mut S,
    ) -> Result<Verdict, Fatal> {
        let bth = pkt.bth();
        if !matches!(bth.opcode, Opcode::UdSendOnly | Opcode::UdSendOnlyWithImm) {
            return Ok(Verdict::Dropped(DropReason::Opcode));
        }
        let Some(deth) = pkt.deth() else {
            return Err(self.internal(bth.psn, sink));
        };
        // IBA 9.8: a UD message is one packet of at most the path MTU.
        if !length_ok(Position::Only, pkt.payload().len(), attrs.path_mtu.bytes()) {
            return Ok(Verdict::Dropped(DropReason::Length));
        }
        let qkey = if attrs.qpn == GSI_QPN {
            GSI_QKEY
        } else {
            attrs.qkey
        };
        if deth.qkey != qkey {
            return Ok(Verdict::Dropped(DropReason::QKey));
        }
        if !self.claim_wqe(mem) {
            return Ok(Verdict::Dropped(DropReason::NoReceiveWqe));
        }
        let mut flags = WcFlags::NONE;
        if let Some(grh) = meta.grh {
            if let Err(status) = self.place_recv(0, grh, 0, mem) {
                return self.local_recv_error(status, bth.psn, sink);
            }
            flags = WcFlags::GRH;
        }
        let len = match self.place_recv(0, pkt.payload(), UD_GRH_LEN, mem) {
            Ok(len) => len,
            Err(status) => return self.local_recv_error(status, bth.psn, sink),
        };
        let mut wc = message_wc(WcOpcode::Recv, len.saturating_add(UD_GRH_LEN), pkt);
        wc.src_qp = deth.src_qp;
        wc.flags = wc.flags.with(flags);
        self.complete_head(wc, sink);
        Ok(Verdict::Accepted)
    }
}
