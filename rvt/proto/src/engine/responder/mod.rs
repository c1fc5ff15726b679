//! The responder: request validation and execution for RC (IBA vol. 1, 9.7
//! reliable service, 9.9 error handling), UC and UD (9.8 unreliable
//! service), with ACK/NAK generation (9.7.5.1), the responder resources of
//! RDMA READ and atomic requests, and RNR NAKs (9.7.5.2.8).
//!
//! * this file: the responder's state, its ACK and NAK state machines, the
//!   one place fatal errors are applied, and the dispatch of a request;
//! * `message`: message assembly shared by RC and UC (opcode sequence,
//!   SEND offset, WRITE cursor, receive completions);
//! * `rc`: the RC request handlers and duplicates;
//! * `unreliable`: UC and UD requests;
//! * `resources`: the READ/atomic responder resources and their response
//!   cursor;
//! * `transmit`: building responses, NAKs and ACKs, and handing one back.
//!
//! Outgoing packets leave in this order: pending RDMA READ responses and
//! ATOMIC ACKs (in PSN order), then a NAK, or else an owed ACK. An ACK
//! (whose PSN is the last accepted one) therefore never overtakes the
//! responses of earlier READs, which the requester would otherwise take as
//! lost.

mod message;
mod rc;
mod resources;
mod transmit;
mod unreliable;

use core::ops::DerefMut;

use super::super::aeth::{credit_code_for, NakCode, Syndrome};
use super::super::headers::Aeth;
use super::super::packet::Packet;
use super::super::psn::Psn;
use super::attr::{QpAttrs, QpState, QpType};
use super::io::{RxMeta, Sink, Timer};
use super::mem::{MemError, Memory};
use super::verdict::{DropReason, Verdict};
use super::wc::{WcOpcode, WcStatus};
use super::wr::{RecvQueue, RecvWqe};
use message::{recv_wc, InMsg};
use resources::{Cursor, Resources};

pub use resources::ResponderResource;

/// Bytes reserved for the GRH at the start of every UD receive buffer
/// (the first 40 bytes of a UD receive buffer hold the GRH, IBA chapter 11).
pub const UD_GRH_LEN: u32 = 40;

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
    /// Whether an ACK is owed, and when it goes.
    ack: AckState,
    /// RC: the sequence gap or fatal error being NAKed.
    nak: NakState,
    res: Resources<RD>,
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

/// A NAK to send: its AETH syndrome and PSN.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct Nak {
    syndrome: u8,
    psn: Psn,
}

/// Where an RC responder stands with NAKs (IBA 9.7.5.2, 9.9).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum NakState {
    /// Requests arrive in sequence; the next gap is NAKed.
    InSequence,
    /// A PSN sequence error or an RNR NAK left a gap at the expected PSN.
    /// Its NAK is `owed` until sent, once; later out-of-sequence packets
    /// are dropped silently until the expected PSN arrives (IBA 9.7.5: one
    /// NAK per sequence error).
    Gap { owed: Option<Nak> },
    /// A fatal error (IBA 9.9): its NAK, if it has one, is owed until
    /// sent; no request is accepted any more.
    Fatal { owed: Option<Nak> },
}

impl NakState {
    /// True after a fatal error.
    fn is_fatal(self) -> bool {
        matches!(self, NakState::Fatal { .. })
    }

    /// True while a NAK waits to be sent.
    fn is_owed(self) -> bool {
        matches!(
            self,
            NakState::Gap { owed: Some(_) } | NakState::Fatal { owed: Some(_) }
        )
    }

    /// The NAK to send now, if one is owed; it is not owed any more.
    fn take_owed(&mut self) -> Option<Nak> {
        match self {
            NakState::InSequence => None,
            NakState::Gap { owed } | NakState::Fatal { owed } => owed.take(),
        }
    }
}

/// What transmitting one response, ACK or NAK changed, so that a packet the
/// caller hands back is produced again.
#[derive(Copy, Clone, Debug)]
struct TxUndo {
    ack: AckState,
    nak: NakState,
    cursor: Cursor,
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
            ack: AckState::Idle,
            nak: NakState::InSequence,
            res: Resources::new(res),
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
        self.res.owed()
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
        self.msg = InMsg::None;
        self.nak = NakState::InSequence;
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
        if attrs.qp_type != QpType::Rc || !attrs.flow_control || !live || self.nak.is_fatal() {
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
        if !self.nak.is_fatal() {
            self.nak = NakState::InSequence;
        }
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
        self.nak = NakState::Fatal {
            owed: code.map(|code| Nak {
                syndrome: Syndrome::Nak(code).encode(),
                psn,
            }),
        };
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
    /// operational error (IBA 9.9). The receive WQE a WRITE with immediate
    /// claimed (if any) completes with the responder's side of it: Local
    /// Access Error for the violation (the completion status IBA 10.8.3
    /// defines for a protection error on an RDMA WRITE with immediate;
    /// ibv_poll_cq(3)), else Local QP Operation Error.
    fn remote_mem_error<S: Sink>(&mut self, e: MemError, psn: Psn, sink: &mut S) -> Fatal {
        let (reason, code, status) = match e {
            MemError::Access => (
                DropReason::RKey,
                NakCode::RemoteAccessError,
                WcStatus::LocAccessErr,
            ),
            _ => (
                DropReason::LocalPlacement,
                NakCode::RemoteOperationalError,
                WcStatus::LocQpOpErr,
            ),
        };
        self.fatal(reason, Some(code), psn, Some(status), sink)
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
        ) || self.nak.is_fatal()
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
}
