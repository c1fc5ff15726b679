//! The responder: request validation and execution for RC (IBA vol. 1, 9.7
//! reliable service, 9.9 error handling), UC and UD (9.8 unreliable
//! service), with ACK/NAK generation (9.7.5.1), the responder resources of
//! RDMA READ and atomic requests, and RNR NAKs (9.7.5.2.8).
//!
//! Outgoing packets leave in this order: pending RDMA READ responses and
//! ATOMIC ACKs (in PSN order), then a NAK, or else an owed ACK. An ACK
//! (whose PSN is the last accepted one) therefore never overtakes the
//! responses of earlier READs, which the requester would otherwise take as
//! lost.

use core::ops::DerefMut;

use super::super::aeth::{credit_code_for, NakCode, Syndrome};
use super::super::headers::{Aeth, AtomicAckEth, Bth};
use super::super::opcode::{Opcode, Operation, Position};
use super::super::packet::{Packet, PacketHeaders};
use super::super::psn::Psn;
use super::attr::{AccessFlags, QpAttrs, QpState, QpType, GSI_QKEY, GSI_QPN};
use super::io::{Payload, RxMeta, Sink, Timer, Transmit, MAX_HEADER_LEN};
use super::mem::{AtomicOp, MemError, Memory, Placement, RemoteAccess, Selectivity};
use super::requester::MAX_DMA_LEN;
use super::ring::Ring;
use super::verdict::{DropReason, Verdict};
use super::wc::{Completion, Queue, WcFlags, WcOpcode, WcStatus};
use super::wr::{RecvQueue, RecvWqe};
use super::{packets, position};

/// Bytes reserved for the GRH at the start of every UD receive buffer
/// (the first 40 bytes of a UD receive buffer hold the GRH, IBA chapter 11).
pub const UD_GRH_LEN: u32 = 40;

/// What a READ/atomic responder resource holds.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
enum ResKind {
    /// RDMA READ of `len` bytes at `va` under `rkey`.
    Read { rkey: u32, va: u64, len: u32 },
    /// Executed atomic with its original value (replayed, never
    /// re-executed: IBA 9.4.4, 9.7).
    Atomic { orig: u64 },
}

/// A responder resource: one per outstanding READ/atomic request,
/// `max_dest_rd_atomic` of them (IBA 9.7). The element of the responder
/// resource storage the caller provides at QP creation
/// ([`super::Qp::new`]); its contents are the engine's (fill new storage
/// with [`ResponderResource::EMPTY`]).
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub struct ResponderResource {
    kind: ResKind,
    /// First PSN.
    first: Psn,
    /// PSNs used (response packets of a READ; 1 for an atomic).
    npsn: u32,
    /// Path MTU the responses are cut with.
    mtu: u32,
    /// Every response packet has been sent at least once.
    done_once: bool,
}

impl ResponderResource {
    /// An unused entry, to fill responder resource storage with.
    pub const EMPTY: ResponderResource = ResponderResource {
        kind: ResKind::Atomic { orig: 0 },
        first: Psn::new(0),
        npsn: 1,
        mtu: 256,
        done_once: false,
    };

    fn end(&self) -> Psn {
        self.first.add(self.npsn)
    }

    fn contains(&self, p: Psn) -> bool {
        self.first.distance_to(p) >= 0 && p.distance_to(self.end()) > 0
    }

    /// Bytes of response payload (0 for an atomic).
    fn payload_len(&self) -> u32 {
        match self.kind {
            ResKind::Read { len, .. } => len,
            ResKind::Atomic { .. } => 0,
        }
    }

    /// The run of every response of this resource.
    fn full_run(&self) -> Run {
        Run {
            start: self.first,
            next: self.first,
            end: self.end(),
            end_byte: self.payload_len(),
        }
    }
}

/// A run of response packets of one resource: PSNs `start .. end`, the
/// last one's payload ending at byte `end_byte` of the resource. The
/// original responses are one run; a replay answers exactly the range of
/// the duplicate request (IBA 9.7.5.2, C9-105 ff.: its PSN, VA and DMA
/// length), and its first packet is a First/Only again.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
struct Run {
    start: Psn,
    /// PSN of the next packet to send.
    next: Psn,
    end: Psn,
    end_byte: u32,
}

impl Run {
    const EMPTY: Run = Run {
        start: Psn::new(0),
        next: Psn::new(0),
        end: Psn::new(0),
        end_byte: 0,
    };
}

/// The multi-packet message being received.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
enum InMsg {
    /// Between messages.
    None,
    /// A SEND into the head receive WQE, `off` bytes so far.
    Send { off: u32 },
    /// An RDMA WRITE.
    Write(WriteTarget),
}

impl InMsg {
    /// The opcode sequence check (IBA 9.7 / 9.9 for RC, 9.8 for UC): a
    /// Middle/Last continues a message of the same operation, a First/Only
    /// starts one between messages.
    fn in_sequence(self, operation: Operation, pos: Position) -> bool {
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
struct WriteTarget {
    rkey: u32,
    va: u64,
    off: u32,
    total: u32,
}

impl WriteTarget {
    /// IBA 9.4.2: every packet of an RDMA WRITE carries exactly the path
    /// MTU until the last, which carries the rest of the DMA length.
    fn shape_ok(&self, pos: Position, payload_len: u32, mtu: u32) -> bool {
        let remaining = self.total.saturating_sub(self.off);
        if remaining > mtu {
            payload_len == mtu && !pos.ends_message()
        } else {
            payload_len == remaining && pos.ends_message()
        }
    }
}

/// A fatal responder error (IBA 9.9): the NAK is queued and the receive WQE
/// in use, if any, completed; the QP then enters the Error state. Carries
/// the reason the packet was rejected.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub(super) struct Fatal(pub(super) DropReason);

/// Responder state of a QP whose READ/atomic resources live in `RD`.
#[derive(Clone, Debug)]
pub(super) struct Responder<RD> {
    /// The receive WQE taken from the caller's [`RecvQueue`] for the
    /// message in progress (or kept for the next one after a UC message
    /// was dropped, IBA 9.8).
    wqe: Option<RecvWqe>,
    /// Expected PSN (RC, UC).
    epsn: Psn,
    /// Message sequence number (IBA 9.7.5.1.1), 24 bits.
    msn: Psn,
    msg: InMsg,
    /// RC: a NAK (sequence or RNR) was sent for the current gap; later
    /// out-of-sequence packets are dropped silently until the expected PSN
    /// arrives (IBA 9.7.5: one NAK per sequence error).
    nak_sent: bool,
    /// UC: dropping packets until the next First/Only (IBA 9.8).
    uc_drop: bool,
    /// Whether an ACK is owed, and when it goes.
    ack: AckState,
    /// NAK or RNR NAK to send: syndrome byte and PSN.
    nak: Option<(u8, Psn)>,
    /// Fatal error: after the NAK nothing more is sent.
    fatal: bool,
    res: Ring<RD>,
    /// Next resource with responses to send (index from the oldest).
    cur: usize,
    /// The responses of `res[cur]` being sent.
    run: Run,
    /// The last packet transmitted, until the caller took it or handed it
    /// back.
    pending: Option<TxUndo>,
    /// End-to-end credits (IBA 9.7.7.2): the WQEs the receive queue
    /// reported after the last request or [`Responder::recv_posted`];
    /// `None` = not counted (an SRQ, or nothing reported yet).
    rq_available: Option<u32>,
    /// The credit code of the last AETH sent.
    advertised: Option<u8>,
}

/// Whether an ACK is owed and when it goes out (IBA 9.7.5.1: an ACK may
/// cover several requests; AckReq, IBA 9.2.8, and duplicates, C9-105, ask
/// for one at once).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum AckState {
    /// Nothing to acknowledge.
    Idle,
    /// An ACK is owed; it is coalesced until `deadline` (the ACK timer).
    Delayed { deadline: u64 },
    /// An ACK is owed and goes out at the next poll.
    Now,
}

impl AckState {
    /// Whether the owed ACK goes out at `now`.
    fn due(self, now: u64) -> bool {
        match self {
            AckState::Idle => false,
            AckState::Delayed { deadline } => now >= deadline,
            AckState::Now => true,
        }
    }
}

/// What transmitting one response, ACK or NAK changed, so that a packet the
/// caller hands back is produced again.
#[derive(Copy, Clone, Debug)]
struct TxUndo {
    ack: AckState,
    nak: Option<(u8, Psn)>,
    cur: usize,
    run: Run,
    /// `done_once` of the resource at `cur` before the packet was built.
    done_once: bool,
    advertised: Option<u8>,
}

impl<RD: DerefMut<Target = [ResponderResource]>> Responder<RD> {
    /// An empty responder with `res.len()` READ/atomic resources.
    pub(super) const fn new(res: RD) -> Self {
        Responder {
            wqe: None,
            epsn: Psn::new(0),
            msn: Psn::new(0),
            msg: InMsg::None,
            nak_sent: false,
            uc_drop: false,
            ack: AckState::Idle,
            nak: None,
            fatal: false,
            res: Ring::new(res),
            cur: 0,
            run: Run::EMPTY,
            pending: None,
            rq_available: None,
            advertised: None,
        }
    }

    /// The next PSN expected.
    pub(super) fn expected_psn(&self) -> Psn {
        self.epsn
    }

    /// READ/atomic requests whose responses are not all sent yet: the
    /// resources from the response cursor on.
    pub(super) fn responses_owed(&self) -> u32 {
        let owed = self.res.len().saturating_sub(self.cur);
        u32::try_from(owed).unwrap_or(u32::MAX)
    }

    /// True if a READ response with payload is still to be transmitted
    /// (the caller copies READ data only when it transmits the response).
    fn read_payload_owed(&self) -> bool {
        let mut i = self.cur;
        while let Some(r) = self.res.get(i) {
            if r.payload_len() > 0 {
                return true;
            }
            i = i.wrapping_add(1);
        }
        false
    }

    /// The number of READ/atomic resources the storage holds.
    pub(super) fn resource_capacity(&self) -> usize {
        self.res.capacity()
    }

    /// Sets the expected PSN (`rq_psn`).
    pub(super) fn set_psn(&mut self, psn: Psn) {
        self.epsn = psn;
    }

    /// Current deadline of `timer`.
    pub(super) fn deadline(&self, timer: Timer) -> Option<u64> {
        match timer {
            Timer::Ack => match self.ack {
                AckState::Delayed { deadline } => Some(deadline),
                AckState::Idle | AckState::Now => None,
            },
            _ => None,
        }
    }

    /// Makes sure a receive WQE is held for the message starting now: the
    /// one kept from a dropped UC message, or the next one of `rq`. False
    /// if the receive queue is empty.
    fn claim_wqe<R: RecvQueue>(&mut self, rq: &mut R) -> bool {
        if self.wqe.is_none() {
            self.wqe = rq.take_recv();
        }
        self.wqe.is_some()
    }

    /// Reports a receive completion for the WQE held; it is given back.
    fn complete_head<S: Sink>(&mut self, wc: Completion, sink: &mut S) {
        if let Some(wqe) = self.wqe.take() {
            sink.completion(&Completion {
                wr_id: wqe.wr_id,
                slot: wqe.slot,
                ..wc
            });
        }
    }

    /// Completes the receive WQE held, if any, with `IB_WC_WR_FLUSH_ERR`
    /// (IBA 10.3.1; the caller flushes the WQEs still in its own RQ) and
    /// stops ACK generation; a fatal NAK and responses already owed are
    /// still sent.
    pub(super) fn flush<S: Sink>(&mut self, sink: &mut S) {
        self.complete_head(recv_wc(WcStatus::WrFlushErr, WcOpcode::Recv, 0), sink);
        self.msg = InMsg::None;
        self.forget_ack();
    }

    /// Forgets everything (Modify to Reset). A receive WQE held is flushed
    /// first: it may belong to an SRQ that outlives this QP's state, so it
    /// is never lost without a completion.
    pub(super) fn reset<S: Sink>(&mut self, sink: &mut S) {
        self.flush(sink);
        self.res.clear();
        self.cur = 0;
        self.msg = InMsg::None;
        self.nak = None;
        self.nak_sent = false;
        self.uc_drop = false;
        self.fatal = false;
        self.ack = AckState::Idle;
        self.msn = Psn::new(0);
        self.rq_available = None;
        self.advertised = None;
    }

    /// The ACK syndrome of the next AETH (IBA 9.7.5.1 Table 44). With
    /// end-to-end flow control (IBA 9.7.7.2) and a counted receive queue it
    /// carries the credit code of the WQEs available to messages after the
    /// MSN: those in the queue plus the one held for the message in
    /// progress (which completes as MSN + 1); rounded down by the table, so
    /// it never promises more. Otherwise code 31 (no credit count, which
    /// the requester treats as unlimited; SRQ QPs are exempt, 9.7.7.2).
    fn ack_syndrome(&self, attrs: &QpAttrs) -> Syndrome {
        match self.rq_available {
            Some(n) if attrs.flow_control => Syndrome::Ack {
                credit_code: credit_code_for(n.saturating_add(u32::from(self.wqe.is_some()))),
            },
            _ => Syndrome::ACK_NO_CREDITS,
        }
    }

    /// The AETH of the next ACK, READ response or ATOMIC ACK, whose credit
    /// code is recorded as advertised.
    fn ack_aeth(&mut self, attrs: &QpAttrs) -> Aeth {
        let syndrome = self.ack_syndrome(attrs);
        if let Syndrome::Ack { credit_code } = syndrome {
            self.advertised = Some(credit_code);
        }
        Aeth {
            syndrome: syndrome.encode(),
            msn: self.msn.value(),
        }
    }

    /// The caller's receive queue now holds `available` WQEs (it posted
    /// some; IBA 9.7.7.2 end-to-end credits). If that raises the credit
    /// code above the one last advertised, an ACK of the last accepted PSN
    /// goes out at once with the new credits, so a requester waiting for
    /// credits resumes without probing (and without an RNR NAK).
    pub(super) fn recv_posted(&mut self, attrs: &QpAttrs, available: Option<u32>) {
        self.rq_available = available;
        let live = matches!(attrs.state, QpState::Rts | QpState::Sqd | QpState::Sqe);
        if attrs.qp_type != QpType::Rc || !attrs.flow_control || !live || self.fatal {
            return;
        }
        if let Syndrome::Ack { credit_code } = self.ack_syndrome(attrs) {
            if self.advertised.is_some_and(|a| a < credit_code) {
                self.ack = AckState::Now;
            }
        }
    }

    /// No ACK is owed any more (it is being sent; or a NAK, READ response
    /// or ATOMIC ACK acknowledges what it would have; or the QP flushed):
    /// its timer is cancelled.
    fn forget_ack(&mut self) {
        self.ack = AckState::Idle;
    }

    /// Serves the ACK coalescing timer if it is due at `now`.
    pub(super) fn handle_timeout(&mut self, now: u64) {
        if let AckState::Delayed { deadline } = self.ack {
            if deadline <= now {
                self.ack = AckState::Now;
            }
        }
    }

    /// Records that an ACK is owed; immediate if `immediate` (AckReq, IBA
    /// 9.2.8, or a duplicate, C9-105), else within the coalescing delay
    /// (a coalesced ACK keeps the deadline of the first request it covers).
    fn owe_ack(&mut self, attrs: &QpAttrs, immediate: bool, now: u64) {
        self.ack = match self.ack {
            _ if immediate => AckState::Now,
            AckState::Idle => AckState::Delayed {
                deadline: now.saturating_add(attrs.ack_delay_ns),
            },
            owed => owed,
        };
    }

    /// The expected PSN arrived: the gap (if any) is closed.
    fn accepted(&mut self, next: Psn) {
        self.epsn = next;
        self.nak_sent = false;
        self.nak = None;
    }

    /// Starts a fatal error for `reason`: NAK `code` for PSN `psn`; the
    /// receive WQE in use (if `wqe_status`) completes with that status.
    fn fatal<S: Sink>(
        &mut self,
        reason: DropReason,
        code: Option<NakCode>,
        psn: Psn,
        wqe_status: Option<WcStatus>,
        sink: &mut S,
    ) -> Fatal {
        if let Some(code) = code {
            self.nak = Some((Syndrome::Nak(code).encode(), psn));
        }
        self.fatal = true;
        if let Some(status) = wqe_status {
            self.complete_head(recv_wc(status, WcOpcode::Recv, 0), sink);
        }
        self.msg = InMsg::None;
        Fatal(reason)
    }

    /// A fatal error for `reason` answered with NAK Invalid Request (IBA
    /// 9.9); no receive WQE completes.
    fn invalid_request<S: Sink>(&mut self, reason: DropReason, psn: Psn, sink: &mut S) -> Fatal {
        self.fatal(reason, Some(NakCode::InvalidRequest), psn, None, sink)
    }

    /// A fatal R_Key / range violation: NAK Remote Access Error (IBA 9.9).
    fn remote_access_error<S: Sink>(&mut self, psn: Psn, sink: &mut S) -> Fatal {
        self.fatal(
            DropReason::RKey,
            Some(NakCode::RemoteAccessError),
            psn,
            None,
            sink,
        )
    }

    /// A fatal `Memory` failure on an RDMA WRITE or atomic target: an access
    /// violation is a remote access error, anything else a remote
    /// operational error (IBA 9.9).
    fn remote_mem_error<S: Sink>(&mut self, e: MemError, psn: Psn, sink: &mut S) -> Fatal {
        match e {
            MemError::Access => self.remote_access_error(psn, sink),
            _ => self.fatal(
                DropReason::LocalPlacement,
                Some(NakCode::RemoteOperationalError),
                psn,
                None,
                sink,
            ),
        }
    }

    /// The engine found its own responder state inconsistent: NAK Remote
    /// Operational Error and move the QP to Error rather than act on it.
    fn internal<S: Sink>(&mut self, psn: Psn, sink: &mut S) -> Fatal {
        self.fatal(
            DropReason::Internal,
            Some(NakCode::RemoteOperationalError),
            psn,
            None,
            sink,
        )
    }

    // ------------------------------------------------------------------
    // Receive
    // ------------------------------------------------------------------

    /// Processes a request packet. `Err(Fatal)` means the QP must enter the
    /// Error state (the NAK is already queued).
    pub(super) fn on_request<M: Memory + RecvQueue, S: Sink>(
        &mut self,
        attrs: &QpAttrs,
        pkt: &Packet<'_>,
        meta: &RxMeta<'_>,
        now: u64,
        mem: &mut M,
        sink: &mut S,
    ) -> Result<Verdict, Fatal> {
        if !matches!(
            attrs.state,
            QpState::Rtr | QpState::Rts | QpState::Sqd | QpState::Sqe
        ) || self.fatal
        {
            return Ok(Verdict::Dropped(DropReason::State));
        }
        match attrs.qp_type {
            QpType::Rc => {
                let verdict = self.rc_request(attrs, pkt, now, mem, sink);
                // The credits the next AETH advertises (IBA 9.7.7.2).
                self.rq_available = mem.available();
                verdict
            }
            QpType::Uc => self.uc_request(attrs, pkt, mem, sink),
            QpType::Ud => self.ud_request(attrs, pkt, meta, mem, sink),
        }
    }

    /// RC request (IBA 9.7 reliable service).
    fn rc_request<M: Memory + RecvQueue, S: Sink>(
        &mut self,
        attrs: &QpAttrs,
        pkt: &Packet<'_>,
        now: u64,
        mem: &mut M,
        sink: &mut S,
    ) -> Result<Verdict, Fatal> {
        let bth = pkt.bth();
        let psn = bth.psn;
        let d = self.epsn.distance_to(psn);
        if d > 0 {
            // IBA 9.7.5: PSN sequence error. One NAK per gap: later
            // out-of-sequence packets are dropped silently.
            let nak_sent = !self.nak_sent;
            if nak_sent {
                self.nak_sent = true;
                self.nak = Some((Syndrome::Nak(NakCode::PsnSequenceError).encode(), self.epsn));
                self.forget_ack();
            }
            return Ok(Verdict::OutOfSequence { nak_sent });
        }
        if d < 0 {
            return Ok(self.duplicate(attrs, pkt, now));
        }
        let op = bth.opcode;
        if op.operation() != Operation::ReadRequest && self.read_payload_owed() {
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

    /// Places a SEND packet into the head receive WQE after the bytes of
    /// the message so far (IBA 9.4.1) and returns the bytes so far.
    /// `IB_WC_LOC_QP_OP_ERR` if no SEND is in progress (an inconsistent
    /// state).
    fn place_send<M: Memory>(&mut self, pkt: &Packet<'_>, mem: &mut M) -> Result<u32, WcStatus> {
        let InMsg::Send { off } = self.msg else {
            return Err(WcStatus::LocQpOpErr);
        };
        let off = self.place_recv(off, pkt.payload(), 0, mem)?;
        self.msg = InMsg::Send { off };
        Ok(off)
    }

    /// Copies `payload` into the receive WQE held at `base + off`, checking
    /// its capacity; returns the new offset (without `base`).
    fn place_recv<M: Memory>(
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

    /// Queues an RNR NAK for `psn` (IBA 9.7.5.2.8): no receive WQE.
    fn rnr_nak(&mut self, attrs: &QpAttrs, psn: Psn) {
        let syndrome = Syndrome::RnrNak {
            timer_code: attrs.min_rnr_timer,
        };
        self.nak = Some((syndrome.encode(), psn));
        // Packets after the RNR'd one are out of sequence; they are dropped
        // without a sequence NAK until the requester resends this PSN.
        self.nak_sent = true;
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

    /// The RDMA WRITE this packet continues (the message in progress) or
    /// starts (its RETH).
    fn write_target(&self, pkt: &Packet<'_>) -> Option<WriteTarget> {
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
    fn write_placed<S: Sink>(
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

    /// Makes room for a new responder resource: the oldest one is evicted
    /// once all its responses went out at least once; otherwise the
    /// requester exceeded `max_dest_rd_atomic` (NAK Invalid Request).
    fn make_room(&mut self, attrs: &QpAttrs) -> bool {
        let limit = usize::from(attrs.max_dest_rd_atomic).min(self.res.capacity());
        if limit == 0 {
            return false;
        }
        while self.res.len() >= limit {
            let Some(oldest) = self.res.get(0) else {
                return false;
            };
            if !oldest.done_once {
                return false;
            }
            let _ = self.res.pop();
            if self.cur > 0 {
                self.cur = self.cur.wrapping_sub(1);
            } else {
                // A replay of the evicted resource is abandoned; continue
                // with the first resource not yet sent in full.
                self.skip_sent();
            }
        }
        true
    }

    /// Moves the response cursor to the first resource not sent in full.
    fn skip_sent(&mut self) {
        let mut i = 0usize;
        while let Some(r) = self.res.get(i) {
            if !r.done_once {
                break;
            }
            i = i.wrapping_add(1);
        }
        self.cur = i;
        if let Some(r) = self.res.get(i) {
            self.run = r.full_run();
        }
    }

    /// Appends a resource; the cursor moves to it if it was idle.
    fn push_resource(&mut self, r: ResponderResource) -> bool {
        let idle = self.cur >= self.res.len();
        if self.res.push(r).is_err() {
            return false;
        }
        if idle {
            self.cur = self.res.len().saturating_sub(1);
            self.run = r.full_run();
        }
        true
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
        if !self.make_room(attrs) {
            return Err(self.invalid_request(DropReason::TooManyRdAtomic, psn, sink));
        }
        if reth.dma_len > 0
            && mem
                .check_remote(reth.rkey, reth.va, reth.dma_len, RemoteAccess::Read)
                .is_err()
        {
            return Err(self.remote_access_error(psn, sink));
        }
        let mtu = attrs.path_mtu.bytes();
        let npsn = packets(reth.dma_len, mtu);
        let r = ResponderResource {
            kind: ResKind::Read {
                rkey: reth.rkey,
                va: reth.va,
                len: reth.dma_len,
            },
            first: psn,
            npsn,
            mtu,
            done_once: false,
        };
        if !self.push_resource(r) {
            return Err(self.internal(psn, sink));
        }
        // IBA 9.7.1: the READ consumes one PSN per response packet; the MSN
        // counts it now (C9-148). The responses acknowledge everything
        // before, so an owed ACK is dropped.
        self.accepted(psn.add(npsn));
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
        if !self.make_room(attrs) {
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
        let r = ResponderResource {
            kind: ResKind::Atomic { orig },
            first: psn,
            npsn: 1,
            mtu: attrs.path_mtu.bytes(),
            done_once: false,
        };
        if !self.push_resource(r) {
            return Err(self.internal(psn, sink));
        }
        self.accepted(psn.next());
        self.msn = self.msn.next();
        self.forget_ack();
        Ok(Verdict::Accepted)
    }

    /// A duplicate request (IBA 9.7): SEND/WRITE are acknowledged again
    /// without being executed (C9-105); a READ is replayed from the
    /// requested PSN if it asks for a subset of the original; an atomic gets
    /// its saved result again. Requests no longer in the resources are
    /// dropped.
    fn duplicate(&mut self, attrs: &QpAttrs, pkt: &Packet<'_>, now: u64) -> Verdict {
        let psn = pkt.bth().psn;
        let replay = match pkt.bth().opcode.operation() {
            // IBA 1.5: a duplicate ATOMIC WRITE or FLUSH is acknowledged
            // again like a WRITE, never executed again.
            Operation::Send | Operation::RdmaWrite | Operation::AtomicWrite | Operation::Flush => {
                if self.nak.is_none() {
                    self.owe_ack(attrs, true, now);
                }
                return Verdict::Duplicate;
            }
            Operation::ReadRequest => self.duplicate_read(pkt),
            Operation::CompareSwap | Operation::FetchAdd => self
                .find_resource(psn)
                .and_then(|i| Some((i, *self.res.get(i)?)))
                .filter(|(_, r)| r.first == psn && matches!(r.kind, ResKind::Atomic { .. }))
                .map(|(i, r)| (i, r.full_run())),
            _ => return Verdict::Dropped(DropReason::Opcode),
        };
        match replay {
            Some((i, run)) => {
                self.replay(i, run);
                Verdict::Duplicate
            }
            None => Verdict::Dropped(DropReason::UnknownDuplicate),
        }
    }

    /// The resource and response run a duplicate READ asks for, if it names
    /// a subset of a READ in the resources (IBA 9.7.5.2: it starts at the
    /// byte of its PSN and ends within the original range; it is answered
    /// for exactly that range).
    fn duplicate_read(&self, pkt: &Packet<'_>) -> Option<(usize, Run)> {
        let psn = pkt.bth().psn;
        let reth = pkt.reth()?;
        let i = self.find_resource(psn)?;
        let r = self.res.get(i)?;
        let ResKind::Read { rkey, va, len } = r.kind else {
            return None;
        };
        let k = u32::try_from(r.first.distance_to(psn)).ok()?;
        let skip = k.saturating_mul(r.mtu);
        let end = va.saturating_add(u64::from(len));
        let req_end = reth.va.saturating_add(u64::from(reth.dma_len));
        if reth.rkey != rkey
            || reth.va != va.wrapping_add(u64::from(skip))
            || req_end > end
            || reth.va < va
        {
            return None;
        }
        let run = Run {
            start: psn,
            next: psn,
            end: psn.add(packets(reth.dma_len, r.mtu)),
            end_byte: skip.saturating_add(reth.dma_len),
        };
        Some((i, run))
    }

    /// Index of the resource whose PSN range holds `psn`.
    fn find_resource(&self, psn: Psn) -> Option<usize> {
        let mut i = 0usize;
        while let Some(r) = self.res.get(i) {
            if r.contains(psn) {
                return Some(i);
            }
            i = i.wrapping_add(1);
        }
        None
    }

    /// Replays `run` of resource `i`: the response cursor moves back to it
    /// unless it is already at or before its start. Responses still owed
    /// from the resource the cursor is in are not given up: the run ends
    /// at the later of both ends.
    fn replay(&mut self, i: usize, mut run: Run) {
        let idle = self.cur >= self.res.len();
        if !idle && i == self.cur {
            if self.run.end.distance_to(run.end) < 0 {
                run.end = self.run.end;
                run.end_byte = self.run.end_byte;
            }
            if run.start.distance_to(self.run.next) > 0 {
                self.run = run;
            } else {
                self.run.end = run.end;
                self.run.end_byte = run.end_byte;
            }
        } else if idle || i < self.cur {
            self.cur = i;
            self.run = run;
        }
    }

    /// UC request (IBA 9.8): no acknowledgements; a PSN gap or an invalid
    /// packet drops the rest of the message and the next First/Only packet
    /// resynchronises (the receive WQE of a dropped SEND is reused).
    fn uc_request<M: Memory + RecvQueue, S: Sink>(
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
        if self.uc_drop || psn != self.epsn {
            self.msg = InMsg::None;
            if !pos.starts_message() {
                self.uc_drop = true;
                return Ok(if psn != self.epsn {
                    Verdict::OutOfSequence { nak_sent: false }
                } else {
                    Verdict::Dropped(DropReason::MessageAbandoned)
                });
            }
            self.uc_drop = false;
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
        self.msg = InMsg::None;
        self.uc_drop = true;
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
    fn ud_request<M: Memory + RecvQueue, S: Sink>(
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

    // ------------------------------------------------------------------
    // Transmit
    // ------------------------------------------------------------------

    /// Builds the next response / ACK / NAK packet, if any.
    pub(super) fn poll(
        &mut self,
        attrs: &QpAttrs,
        now: u64,
        buf: &mut [u8; MAX_HEADER_LEN],
    ) -> Result<Option<Transmit>, Fatal> {
        if attrs.qp_type != QpType::Rc {
            return Ok(None);
        }
        let live = matches!(
            attrs.state,
            QpState::Rtr | QpState::Rts | QpState::Sqd | QpState::Sqe
        );
        if !live && !self.fatal {
            return Ok(None);
        }
        let undo = TxUndo {
            ack: self.ack,
            nak: self.nak,
            cur: self.cur,
            run: self.run,
            done_once: self.res.get(self.cur).is_some_and(|r| r.done_once),
            advertised: self.advertised,
        };
        let t = self.build_next(attrs, now, buf)?;
        if t.is_some() {
            self.pending = Some(undo);
        }
        Ok(t)
    }

    /// The caller took the last packet.
    pub(super) fn taken(&mut self) {
        self.pending = None;
    }

    /// The caller could not send the last packet: the responder goes back
    /// to where it was before building it, so the next poll builds the same
    /// packet.
    pub(super) fn hand_back(&mut self) {
        let Some(u) = self.pending.take() else {
            return;
        };
        if let Some(r) = self.res.get_mut(u.cur) {
            r.done_once = u.done_once;
        }
        self.ack = u.ack;
        self.nak = u.nak;
        self.cur = u.cur;
        self.run = u.run;
        self.advertised = u.advertised;
    }

    /// Builds the next response, NAK or ACK: responses owed go first.
    fn build_next(
        &mut self,
        attrs: &QpAttrs,
        now: u64,
        buf: &mut [u8; MAX_HEADER_LEN],
    ) -> Result<Option<Transmit>, Fatal> {
        let live = matches!(
            attrs.state,
            QpState::Rtr | QpState::Rts | QpState::Sqd | QpState::Sqe
        );
        if let Some(t) = self.poll_response(attrs, buf)? {
            return Ok(Some(t));
        }
        let mut bth = Bth::new(Opcode::RcAcknowledge, attrs.dest_qpn, self.epsn.sub(1));
        bth.pkey = attrs.pkey;
        let mut hdr = PacketHeaders::new(bth);
        if let Some((syndrome, psn)) = self.nak.take() {
            hdr.bth.psn = psn;
            hdr.aeth = Some(Aeth {
                syndrome,
                msn: self.msn.value(),
            });
        } else if live && self.ack.due(now) {
            // IBA 9.7.5.1: a (coalesced) ACK of everything up to the last
            // accepted PSN, with the MSN and the credits (IBA 9.7.7.2;
            // code 31 without flow control).
            self.forget_ack();
            hdr.aeth = Some(self.ack_aeth(attrs));
        } else {
            return Ok(None);
        }
        let Ok(header_len) = hdr.write(buf) else {
            return Err(self.broken());
        };
        Ok(Some(Transmit {
            header_len,
            payload: Payload::None,
            pad: 0,
            ah: 0,
        }))
    }

    /// The engine found its responder state inconsistent while
    /// transmitting: nothing more is sent and the QP must enter Error.
    fn broken(&mut self) -> Fatal {
        self.fatal = true;
        self.nak = None;
        self.res.clear();
        self.cur = 0;
        Fatal(DropReason::Internal)
    }

    /// The next READ response or ATOMIC ACK (IBA 9.4.3, 9.4.4).
    fn poll_response(
        &mut self,
        attrs: &QpAttrs,
        buf: &mut [u8; MAX_HEADER_LEN],
    ) -> Result<Option<Transmit>, Fatal> {
        let Some(&r) = self.res.get(self.cur) else {
            return Ok(None);
        };
        let run = self.run;
        // The run lies inside its resource; if not, fail rather than send
        // another PSN's bytes.
        let k = match u32::try_from(r.first.distance_to(run.next)) {
            Ok(k) if k < r.npsn => k,
            _ => return Err(self.broken()),
        };
        let psn = r.first.add(k);
        let last = run.end.distance_to(psn.next()) >= 0;
        let mut bth = Bth::new(Opcode::RcAtomicAcknowledge, attrs.dest_qpn, psn);
        bth.pkey = attrs.pkey;
        let aeth = self.ack_aeth(attrs);
        let (hdr, payload) = match r.kind {
            ResKind::Atomic { orig } => {
                let mut hdr = PacketHeaders::new(bth);
                hdr.aeth = Some(aeth);
                hdr.atomic_ack_eth = Some(AtomicAckEth { orig_data: orig });
                (hdr, Payload::None)
            }
            ResKind::Read { rkey, va, .. } => {
                let offset = k.saturating_mul(r.mtu);
                let plen = run.end_byte.saturating_sub(offset).min(r.mtu);
                let pos = position(psn == run.start, last);
                bth.opcode = Opcode::read_response(pos);
                bth.pad_count = super::super::packet::pad_count(usize::try_from(plen).unwrap_or(0));
                let mut hdr = PacketHeaders::new(bth);
                if pos != Position::Middle {
                    hdr.aeth = Some(aeth);
                }
                let payload = if plen == 0 {
                    Payload::None
                } else {
                    Payload::Remote {
                        rkey,
                        va: va.wrapping_add(u64::from(offset)),
                        len: plen,
                    }
                };
                (hdr, payload)
            }
        };
        let Ok(header_len) = hdr.write(buf) else {
            return Err(self.broken());
        };
        if last {
            if let Some(e) = self.res.get_mut(self.cur) {
                e.done_once |= run.end == e.end();
            }
            self.cur = self.cur.saturating_add(1);
            if let Some(n) = self.res.get(self.cur) {
                self.run = n.full_run();
            }
        } else {
            self.run.next = psn.next();
        }
        Ok(Some(Transmit {
            header_len,
            payload,
            pad: hdr.bth.pad_count,
            ah: 0,
        }))
    }
}

/// Packet length rules (IBA 9.4 packet formats): First and Middle packets
/// carry exactly the path MTU, Last packets 1..=MTU bytes, Only packets at
/// most the MTU.
fn length_ok(pos: Position, len: usize, mtu: u32) -> bool {
    let mtu = usize::try_from(mtu).unwrap_or(usize::MAX);
    match pos {
        Position::First | Position::Middle => len == mtu,
        Position::Last => len >= 1 && len <= mtu,
        Position::Only => len <= mtu,
    }
}

/// Payload bytes of `pkt` (a packet is far below 4 GiB).
fn payload_len(pkt: &Packet<'_>) -> u32 {
    u32::try_from(pkt.payload().len()).unwrap_or(u32::MAX)
}

/// Places an RDMA WRITE packet of `target`: the first packet checks the
/// R_Key and the whole RETH range (IBA 9.4.2; a zero-length WRITE checks
/// nothing), then the payload is written at its offset.
fn place_write<M: Memory>(
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
fn message_wc(opcode: WcOpcode, byte_len: u32, pkt: &Packet<'_>) -> Completion {
    let mut wc = recv_wc(WcStatus::Success, opcode, byte_len);
    wc.solicited = pkt.bth().solicited;
    if let Some(imm) = pkt.immediate() {
        wc.flags = WcFlags::WITH_IMM;
        wc.ex = imm;
    }
    wc
}

/// The drop reason of a local receive WQE failure.
fn recv_error_reason(status: WcStatus) -> DropReason {
    match status {
        WcStatus::LocLenErr => DropReason::ReceiveTooSmall,
        WcStatus::LocQpOpErr => DropReason::Internal,
        _ => DropReason::LocalPlacement,
    }
}

/// A receive completion skeleton (wr_id and slot are filled in on pop).
fn recv_wc(status: WcStatus, opcode: WcOpcode, byte_len: u32) -> Completion {
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::io::rts_rc_attrs;
    use super::*;

    // An impossible state (the response cursor outside the READ resource it
    // points at) stops the responder with an internal error that moves the
    // QP to Error; it is not clamped to the READ's first response and sent.
    #[test]
    fn response_cursor_outside_its_resource_is_an_error() {
        let attrs = rts_rc_attrs();
        let mut storage = [ResponderResource::EMPTY; 1];
        let mut resp = Responder::new(&mut storage[..]);
        let read = ResponderResource {
            kind: ResKind::Read {
                rkey: 1,
                va: 0,
                len: 4096,
            },
            first: Psn::new(5),
            npsn: 4,
            mtu: 1024,
            done_once: false,
        };
        assert!(resp.push_resource(read));
        let mut buf = [0u8; MAX_HEADER_LEN];
        assert!(resp.poll(&attrs, 0, &mut buf).unwrap().is_some());
        resp.run.next = Psn::new(100);
        assert_eq!(
            resp.poll(&attrs, 0, &mut buf),
            Err(Fatal(DropReason::Internal))
        );
        assert_eq!(resp.poll(&attrs, 0, &mut buf), Ok(None));
    }
}
