//! The requester: send queue, segmentation and packet generation (IBA vol. 1,
//! 9.4, 9.7), and the completer that consumes responses (ACK, NAK, RNR
//! NAK, RDMA READ responses, ATOMIC ACKs; 9.7.5.1), retransmits (9.7.6.1,
//! 9.7.5.2.8) and completes WQEs in order.
//!
//! State, in PSN terms: `una` is the oldest PSN not yet acknowledged,
//! `psn` the next PSN to transmit (moved back by a retry: go-back-N),
//! `max_sent` one past the highest PSN ever transmitted. Responses are valid
//! only in `[una, max_sent)`; anything else is a stale duplicate or a ghost
//! and is dropped (IBA 9.7.5).

use core::ops::DerefMut;

use super::super::aeth::{credit_count, local_ack_timeout_ns, rnr_timer_ns, NakCode, Syndrome};
use super::super::headers::{AtomicEth, Bth, Deth, Feth, Ieth, ImmDt, Reth};
use super::super::opcode::{Opcode, Operation, Position};
use super::super::packet::{Packet, PacketHeaders};
use super::super::psn::Psn;
use super::attr::{QpAttrs, QpState, QpType};
use super::io::{Payload, Sink, Timer, Transmit, MAX_HEADER_LEN};
use super::mem::Memory;
use super::ring::Ring;
use super::verdict::{DropReason, Verdict};
use super::wc::{Completion, Queue, WcFlags, WcOpcode, WcStatus};
use super::wr::{PostError, SendFlags, SendWr, WrOpcode};
use super::{expired, packets, position, transport_of};

/// Largest number of PSNs the requester keeps unacknowledged. IBA 9.7.1
/// limits outstanding PSNs to less than half the PSN space (2^23) so that
/// the responder can tell duplicates from new requests; the engine stays
/// well inside that.
const PSN_WINDOW: u32 = 1 << 22;

/// Most PSNs of SEND and RDMA WRITE packets the requester has outstanding
/// before it waits for acknowledgements (READ and atomic requests are
/// bounded by `max_rd_atomic` instead). IBA 9.7 leaves the window to the
/// link's flow control; a software responder behind a lossy, slower path
/// has none. It queues everything that arrives and acknowledges in order,
/// so an unbounded window lets the newest packet's wait for an ACK grow
/// with the window. Once it exceeds the local ACK timeout (0.5 s on a
/// connection rdma_cm set up), the requester times out, retransmits the
/// whole window again and gives up with RETRY_EXC_ERR; rdma_rxe as the
/// responder did this to 64 KiB ib_write_bw -R from a 100-deep queue.
/// rdma_rxe itself keeps 128 (RXE_MAX_UNACKED_PSNS).
const UNACKED_PSN_LIMIT: i32 = 256;

/// Largest RDMA length a RETH can describe (the RETH DMA length of
/// IBA 9.3.3; RDMA messages are limited to 2^31 bytes).
pub(super) const MAX_DMA_LEN: u32 = 1 << 31;

/// One send WQE and its transmission state: the element of the send queue
/// storage the caller provides at QP creation ([`super::Qp::new`]); its
/// contents are the engine's (fill new storage with [`SendWqe::EMPTY`]).
#[derive(Copy, Clone, Debug)]
pub struct SendWqe {
    /// The work request as posted.
    wr: SendWr,
    /// The first packet has been transmitted: `first`, `npsn` and `mtu`
    /// are fixed from then on, so retransmissions reuse the same PSNs.
    sent: bool,
    /// First PSN of the WQE.
    first: Psn,
    /// PSNs the WQE uses: request packets for SEND/WRITE, response packets
    /// for READ (IBA 9.7.1: a READ request consumes one PSN per expected
    /// response packet), 1 for atomics.
    npsn: u32,
    /// Path MTU at first transmission.
    mtu: u32,
    /// RDMA READ: the next response PSN expected (first missing byte).
    read_next: Psn,
    /// Counted in `rd_out` (a READ/atomic that has been sent).
    counted: bool,
}

impl SendWqe {
    /// An unused entry, to fill send queue storage with.
    pub const EMPTY: SendWqe = SendWqe {
        wr: SendWr::new(0, WrOpcode::Send),
        sent: false,
        first: Psn::new(0),
        npsn: 1,
        mtu: 256,
        read_next: Psn::new(0),
        counted: false,
    };

    /// One past the last PSN of the WQE.
    fn end(&self) -> Psn {
        self.first.add(self.npsn)
    }
}

/// How a retry was triggered (IBA 9.7.6.1.3: both count
/// against the transport retry counter).
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
enum RetryCause {
    /// Local ACK timeout.
    Timeout,
    /// A NAK (PSN sequence error) or a response implying lost READ/atomic
    /// responses.
    Nak,
}

/// What the requester knows of its peer's end-to-end credits (IBA
/// 9.7.7.2), in message sequence numbers: every send WQE is one message
/// (the responder's MSN counts them all, 9.7.5.1.1), the first after Reset
/// being number 1.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
enum Credits {
    /// No AETH received yet: the next message needing a receive WQE goes
    /// as a probe (one packet) at once.
    Unknown,
    /// The peer sends credit code 31 ("invalid": no flow control, or an
    /// SRQ): no limit.
    Unlimited,
    /// The limit sequence number: messages up to this number have a
    /// receive WQE (the advertised MSN plus the advertised credits).
    Upto(Psn),
}

/// An RNR wait: the PSN the RNR NAK named and when the wait ends.
#[derive(Clone, Copy, Debug)]
struct RnrWait {
    psn: Psn,
    until: u64,
}

/// Requester state of one QP whose send queue lives in `SQ`.
#[derive(Clone, Debug)]
pub(super) struct Requester<SQ> {
    sq: Ring<SQ>,
    /// Index (from the head) of the WQE to transmit next.
    tx_idx: usize,
    /// Next PSN to transmit.
    psn: Psn,
    /// One past the highest PSN ever transmitted.
    max_sent: Psn,
    /// Oldest unacknowledged PSN.
    una: Psn,
    /// READ/atomic WQEs sent and not completed.
    rd_out: u32,
    /// Transport retries left (IBA 9.7.6.1.3).
    retry_left: u8,
    /// RNR retries left, 7 = infinite (IBA 9.7.5.2.8).
    rnr_left: u8,
    /// PSN the current retry started from: a second NAK for the same PSN
    /// (a duplicated NAK, or responses of the pre-retry flight) does not
    /// start another retry. Cleared by forward progress.
    guard: Option<Psn>,
    /// Waiting out an RNR NAK (IBA 9.7.5.2.8): transmission is paused.
    rnr: Option<RnrWait>,
    /// Local ACK timeout deadline.
    rto: Option<u64>,
    /// The last packet transmitted, until the caller took it or handed it
    /// back.
    pending: Option<TxUndo>,
    /// The peer's end-to-end credits (IBA 9.7.7.2).
    credits: Credits,
    /// The message sequence number of the head WQE (the WQE at index `i`
    /// is message `head_ssn + i`).
    head_ssn: Psn,
    /// Without credits and nothing outstanding, the local ACK timeout
    /// expired: one packet may go as a probe (IBA 9.7.7.2.5).
    probe_due: bool,
    /// Packets sent since the last one with AckReq.
    since_ack_req: u32,
}

/// What transmitting one request packet changed, so that a packet the
/// caller hands back is produced again, and whether taking it completes a
/// UC/UD WQE.
#[derive(Copy, Clone, Debug)]
struct TxUndo {
    tx_idx: usize,
    psn: Psn,
    max_sent: Psn,
    rd_out: u32,
    rto: Option<u64>,
    since_ack_req: u32,
    /// The packet was the first of its WQE: handing it back unstarts the
    /// WQE (the next poll starts it again with the same PSNs and MTU).
    started: bool,
    /// The last packet of a UC/UD WQE: it completes once taken (IBA 9.8).
    completes: bool,
    probe_due: bool,
}

/// Outcome of applying an implicit acknowledgement.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
enum Implicit {
    /// Continue processing the response.
    Continue,
    /// A retry was started (or suppressed); the response is consumed.
    Retried,
}

impl<SQ: DerefMut<Target = [SendWqe]>> Requester<SQ> {
    /// An empty requester whose send queue holds `sq.len()` WQEs.
    pub(super) const fn new(sq: SQ) -> Self {
        Requester {
            sq: Ring::new(sq),
            tx_idx: 0,
            psn: Psn::new(0),
            max_sent: Psn::new(0),
            una: Psn::new(0),
            rd_out: 0,
            retry_left: 0,
            rnr_left: 0,
            guard: None,
            rnr: None,
            rto: None,
            pending: None,
            credits: Credits::Unknown,
            head_ssn: Psn::new(1),
            probe_due: false,
            since_ack_req: 0,
        }
    }

    /// Sets the send PSN (`sq_psn`); only meaningful with an idle queue.
    pub(super) fn set_psn(&mut self, psn: Psn) {
        self.psn = psn;
        self.max_sent = psn;
        self.una = psn;
    }

    /// Reloads the retry counters from the attributes (on entering RTS and
    /// on forward progress).
    pub(super) fn reset_counters(&mut self, attrs: &QpAttrs) {
        self.retry_left = attrs.retry_cnt;
        self.rnr_left = attrs.rnr_retry;
        self.guard = None;
    }

    /// The PSN the next new request packet will carry.
    pub(super) fn next_new_psn(&self) -> Psn {
        self.max_sent
    }

    /// READ/atomic WQEs sent and not completed.
    pub(super) fn rd_atomic_in_flight(&self) -> u32 {
        self.rd_out
    }

    /// True if no started WQE is waiting for its completion.
    pub(super) fn drained(&self) -> bool {
        self.sq.get(0).is_none_or(|e| !e.sent)
    }

    /// Number of WQEs on the send queue.
    pub(super) fn len(&self) -> usize {
        self.sq.len()
    }

    /// Current deadline of `timer`.
    pub(super) fn deadline(&self, timer: Timer) -> Option<u64> {
        match timer {
            Timer::Retransmit => self.rto,
            Timer::Rnr => self.rnr.map(|wait| wait.until),
            Timer::Ack => None,
        }
    }

    /// Validates `wr` for `attrs` (IBA 9.4, 9.8: the operations each
    /// service supports) and queues it.
    pub(super) fn post(&mut self, attrs: &QpAttrs, wr: &SendWr) -> Result<u32, PostError> {
        let op = wr.opcode;
        match attrs.qp_type {
            QpType::Rc => {
                if op.is_read_or_atomic() && attrs.max_rd_atomic == 0 {
                    return Err(PostError::InvalidOpcode);
                }
                if wr.len > MAX_DMA_LEN {
                    return Err(PostError::TooLong);
                }
                if let WrOpcode::Flush { placement, .. } = op {
                    if !placement.is_valid() {
                        return Err(PostError::InvalidOpcode);
                    }
                }
            }
            QpType::Uc => {
                if op.is_read_or_atomic() || op.is_placement() || op == WrOpcode::SendWithInv {
                    return Err(PostError::InvalidOpcode);
                }
                if wr.len > MAX_DMA_LEN {
                    return Err(PostError::TooLong);
                }
            }
            QpType::Ud => {
                if !matches!(op, WrOpcode::Send | WrOpcode::SendWithImm) {
                    return Err(PostError::InvalidOpcode);
                }
                // IBA 9.8: a UD message is a single packet.
                if wr.len > attrs.path_mtu.bytes() {
                    return Err(PostError::TooLong);
                }
                if wr.ud.remote_qpn > super::attr::MULTICAST_QPN {
                    return Err(PostError::InvalidOpcode);
                }
            }
        }
        let mut entry = SendWqe::EMPTY;
        entry.wr = *wr;
        if op.is_atomic() || op == WrOpcode::AtomicWrite {
            entry.wr.len = 8;
        }
        self.sq.push(entry).map_err(|_| PostError::QueueFull)
    }

    // ------------------------------------------------------------------
    // Transmission
    // ------------------------------------------------------------------

    /// Builds the next request packet into `buf`, if one may be sent now.
    pub(super) fn poll(
        &mut self,
        attrs: &QpAttrs,
        now: u64,
        buf: &mut [u8; MAX_HEADER_LEN],
    ) -> Result<Option<Transmit>, WcStatus> {
        if !matches!(attrs.state, QpState::Rts | QpState::Sqd) || self.rnr.is_some() {
            return Ok(None);
        }
        let Some(&entry) = self.sq.get(self.tx_idx) else {
            return Ok(None);
        };
        let new_packet = self.psn == self.max_sent;
        if attrs.qp_type == QpType::Rc
            && new_packet
            && !entry.wr.opcode.is_read_or_atomic()
            && self.una.distance_to(self.psn) >= UNACKED_PSN_LIMIT
        {
            return Ok(None);
        }
        // IBA 9.7.7.2: a new packet of a message that needs a receive WQE
        // the peer has not promised goes only as the limited-ACK probe.
        let probe = new_packet && self.lacks_credit(attrs, self.tx_idx, &entry);
        if probe && !self.probe_allowed(attrs, now) {
            return Ok(None);
        }
        let undo = TxUndo {
            tx_idx: self.tx_idx,
            psn: self.psn,
            max_sent: self.max_sent,
            rd_out: self.rd_out,
            rto: self.rto,
            since_ack_req: self.since_ack_req,
            started: !entry.sent,
            completes: false,
            probe_due: self.probe_due,
        };
        let mut e = entry;
        let rc = attrs.qp_type == QpType::Rc;
        if !e.sent {
            // IBA 10.3.1: in SQD no new WQE is started.
            if attrs.state != QpState::Rts {
                return Ok(None);
            }
            let is_rd = e.wr.opcode.is_read_or_atomic();
            // Fence indicator (IBA chapter 10): wait for earlier
            // READs/atomics to complete.
            if rc && e.wr.flags.contains(SendFlags::FENCE) && self.rd_out > 0 {
                return Ok(None);
            }
            // At most max_rd_atomic outstanding READ/atomic requests
            // (the initiator depth of IBA 9.7 / chapter 10).
            if is_rd && self.rd_out >= u32::from(attrs.max_rd_atomic) {
                return Ok(None);
            }
            let mtu = attrs.path_mtu.bytes();
            let npsn = if e.wr.opcode.is_atomic() || e.wr.opcode.is_placement() {
                1
            } else {
                packets(e.wr.len, mtu)
            };
            if rc {
                let outstanding = u32::try_from(self.una.distance_to(self.psn)).unwrap_or(0);
                if outstanding.saturating_add(npsn) > PSN_WINDOW && outstanding > 0 {
                    return Ok(None);
                }
            }
            e.sent = true;
            e.first = self.psn;
            e.npsn = npsn;
            e.mtu = mtu;
            e.read_next = self.psn;
            if is_rd {
                e.counted = true;
                self.rd_out = self.rd_out.saturating_add(1);
            }
            if let Some(slot) = self.sq.get_mut(self.tx_idx) {
                *slot = e;
            }
        }
        // The WQE exists, so it has a slot; the cursor lies inside it. If
        // not, the engine's state is inconsistent: fail rather than send
        // another packet (or another WQE's data).
        let Some(slot) = self.sq.slot(self.tx_idx) else {
            return Err(WcStatus::LocQpOpErr);
        };
        let k = match u32::try_from(e.first.distance_to(self.psn)) {
            Ok(k) if k < e.npsn => k,
            _ => return Err(WcStatus::LocQpOpErr),
        };
        let (mut hdr, payload, next_psn, done) = build_request(attrs, &e, slot, k);
        if rc
            && done
            && !probe
            && hdr.bth.ack_req
            && !e.wr.opcode.is_read_or_atomic()
            && !e.wr.opcode.is_placement()
            && self.since_ack_req.saturating_add(1) < attrs.ack_req_interval
            && self.another_packet_follows(attrs)
        {
            // IBA 9.7.5.1.1: an ACK covers every request before its PSN, so
            // a SEND or WRITE with more requests right behind it leaves the
            // AckReq to a later packet (at most `ack_req_interval` on), so
            // the responder sends fewer ACKs (measured with 16 64-byte
            // WRITEs queued: 0.375 ACKs per message instead of 1;
            // Documentation/performance.md).
            hdr.bth.ack_req = false;
        }
        self.since_ack_req = if hdr.bth.ack_req {
            0
        } else {
            self.since_ack_req.saturating_add(1)
        };
        if probe {
            // IBA 9.7.7.2.5: the probe asks for the ACK that carries the
            // peer's credits.
            hdr.bth.ack_req = true;
            self.probe_due = false;
        }
        let Ok(header_len) = hdr.write(buf) else {
            return Err(WcStatus::LocQpOpErr);
        };
        let pad = hdr.bth.pad_count;
        self.psn = next_psn;
        if self.max_sent.distance_to(self.psn) > 0 {
            self.max_sent = self.psn;
        }
        if done {
            self.tx_idx = self.tx_idx.saturating_add(1);
        }
        if rc && self.rto.is_none() {
            // IBA 9.7.6.1.3: the local ACK timer runs while a request is
            // outstanding.
            self.rto = local_ack_timeout_ns(attrs.timeout).map(|t| now.saturating_add(t));
        }
        // UC/UD: no acknowledgement; the WQE is complete once its last
        // packet was taken by the caller (IBA 9.8), see `taken`.
        self.pending = Some(TxUndo {
            completes: !rc && done,
            ..undo
        });
        let ah = if attrs.qp_type == QpType::Ud {
            e.wr.ud.ah
        } else {
            0
        };
        Ok(Some(Transmit {
            header_len,
            payload,
            pad,
            ah,
        }))
    }

    /// The caller took the last packet (copied its payload): a UC/UD WQE
    /// whose last packet it was completes.
    pub(super) fn taken<S: Sink>(&mut self, attrs: &QpAttrs, sink: &mut S) {
        if self.pending.take().is_some_and(|u| u.completes) {
            self.complete_head(attrs, WcStatus::Success, sink);
            self.una = self.psn;
        }
    }

    /// The caller could not send the last packet: the requester goes back
    /// to where it was before building it, so the next poll builds the same
    /// packet.
    pub(super) fn hand_back(&mut self) {
        let Some(u) = self.pending.take() else {
            return;
        };
        if let (true, Some(wqe)) = (u.started, self.sq.get_mut(u.tx_idx)) {
            wqe.sent = false;
            wqe.counted = false;
        }
        self.tx_idx = u.tx_idx;
        self.psn = u.psn;
        self.max_sent = u.max_sent;
        self.rd_out = u.rd_out;
        self.rto = u.rto;
        self.probe_due = u.probe_due;
        self.since_ack_req = u.since_ack_req;
    }

    /// The QP moved from RTS to SQD: no new WQE starts, so if the last
    /// packet sent ended a WQE and left its AckReq to a packet that now
    /// will not follow, it goes again, asking (a duplicate the responder
    /// acknowledges, IBA 9.7.5.1.1), and the drain needs no ACK timer (none
    /// runs with `timeout` 0).
    pub(super) fn draining(&mut self) {
        let idle = self.psn == self.max_sent && self.sq.get(self.tx_idx).is_none_or(|e| !e.sent);
        if self.since_ack_req > 0 && idle && self.una != self.max_sent {
            self.rewind(self.max_sent.sub(1));
        }
    }

    /// True if a request packet will follow the current WQE's last one
    /// without waiting: the next WQE was sent before (a retransmission goes
    /// on to it) or may start now. Every WQE in the engine's queue is a
    /// wire operation (rvt executes local ones outside the engine, in
    /// order), so the last packet before the queue ends, before the QP
    /// leaves RTS, or before a WQE that waits for the peer's credits (whose
    /// ACK only an AckReq brings) keeps its AckReq and nothing waits for
    /// the ACK timer. (A WQE behind a fence or the READ/atomic limit waits
    /// for READ responses, which come anyway.)
    fn another_packet_follows(&self, attrs: &QpAttrs) -> bool {
        let idx = self.tx_idx.saturating_add(1);
        self.sq.get(idx).is_some_and(|next| {
            next.sent || (attrs.state == QpState::Rts && !self.lacks_credit(attrs, idx, next))
        })
    }

    /// True if the WQE at index `idx` needs a receive WQE at the peer
    /// (SEND, RDMA WRITE with immediate) beyond the credits it advertised
    /// (IBA 9.7.7.2, with flow control on; RC only).
    fn lacks_credit(&self, attrs: &QpAttrs, idx: usize, e: &SendWqe) -> bool {
        if !attrs.flow_control || attrs.qp_type != QpType::Rc || !e.wr.opcode.consumes_recv() {
            return false;
        }
        let ssn = self.head_ssn.add(u32::try_from(idx).unwrap_or(u32::MAX));
        match self.credits {
            Credits::Unlimited => false,
            Credits::Unknown => true,
            Credits::Upto(lsn) => lsn.distance_to(ssn) > 0,
        }
    }

    /// Without credits, whether one packet may go now as the probe of IBA
    /// 9.7.7.2.5: only with nothing outstanding (otherwise the responses
    /// to come carry the credits), and then at once if no credits were ever
    /// advertised or the local ACK timeout is off, else once the local ACK
    /// timeout expired without a credit update (the responder sends one
    /// when its receive queue refills, [`super::Qp::recv_posted`]; the
    /// probe recovers a lost update). Arms that timer.
    fn probe_allowed(&mut self, attrs: &QpAttrs, now: u64) -> bool {
        if self.una != self.max_sent {
            return false;
        }
        if self.probe_due || self.credits == Credits::Unknown {
            return true;
        }
        match local_ack_timeout_ns(attrs.timeout) {
            None => true,
            Some(t) => {
                if self.rto.is_none() {
                    self.rto = Some(now.saturating_add(t));
                }
                false
            }
        }
    }

    /// An AETH with an ACK syndrome carrying `credit_code` and `msn`
    /// (IBA 9.7.7.2): code 31 means no limit; otherwise messages up to
    /// MSN + credits have a receive WQE. The limit only grows: a promise
    /// stays valid (a WQE counted is used only by a message it was counted
    /// for), so a reordered, older ACK cannot take credits back.
    fn update_credits(&mut self, credit_code: u8, msn: u32) {
        let Some(n) = credit_count(credit_code) else {
            self.credits = Credits::Unlimited;
            return;
        };
        let lsn = Psn::new(msn).add(n);
        self.credits = match self.credits {
            Credits::Upto(old) if old.distance_to(lsn) <= 0 => Credits::Upto(old),
            _ => Credits::Upto(lsn),
        };
        self.probe_due = false;
    }

    // ------------------------------------------------------------------
    // Completion
    // ------------------------------------------------------------------

    /// Pops the head WQE and reports its completion when required (IBA
    /// 10.7.3.1: unsignaled successful WQEs produce no completion, errors
    /// always do).
    fn complete_head<S: Sink>(&mut self, attrs: &QpAttrs, status: WcStatus, sink: &mut S) {
        let Some((slot, e)) = self.sq.pop() else {
            return;
        };
        self.head_ssn = self.head_ssn.next();
        if e.counted {
            self.rd_out = self.rd_out.saturating_sub(1);
        }
        if e.sent && self.una.distance_to(e.end()) > 0 && status == WcStatus::Success {
            self.una = e.end();
        }
        // Keep the transmit cursor on the same WQE, or move it to the new
        // head if it was inside the completed one.
        if self.tx_idx > 0 {
            self.tx_idx = self.tx_idx.wrapping_sub(1);
        } else if let Some(h) = self.sq.get(0) {
            if h.sent {
                self.psn = match h.wr.opcode {
                    WrOpcode::RdmaRead => h.read_next,
                    _ => h.first,
                };
            } else {
                self.psn = self.max_sent;
            }
        } else {
            self.psn = self.max_sent;
        }
        let signaled = attrs.sq_sig_all || e.wr.flags.contains(SendFlags::SIGNALED);
        if status == WcStatus::Success && !signaled {
            // IBA 10.7.3.1: no completion; the slot's end is still explicit.
            sink.send_slot_released(slot, e.wr.wr_id);
            return;
        }
        let flags = if e.wr.opcode.has_imm() {
            WcFlags::WITH_IMM
        } else {
            WcFlags::NONE
        };
        sink.completion(&Completion {
            queue: Queue::Send,
            wr_id: e.wr.wr_id,
            slot,
            status,
            opcode: wc_opcode(e.wr.opcode),
            byte_len: e.wr.len,
            flags,
            ex: 0,
            src_qp: 0,
            solicited: false,
        });
    }

    /// Completes the head with `head_status` (if any) and flushes every
    /// other WQE with `IB_WC_WR_FLUSH_ERR` (IBA 10.3.1: in the Error
    /// state all outstanding and new WQEs complete in error).
    pub(super) fn flush<S: Sink>(
        &mut self,
        attrs: &QpAttrs,
        head_status: Option<WcStatus>,
        sink: &mut S,
    ) {
        if let Some(status) = head_status {
            self.complete_head(attrs, status, sink);
        }
        while !self.sq.is_empty() {
            self.complete_head(attrs, WcStatus::WrFlushErr, sink);
        }
        self.stop();
    }

    /// Forgets all queued WQEs without completions (Modify to Reset).
    pub(super) fn reset(&mut self) {
        self.sq.clear();
        self.stop();
        self.rd_out = 0;
        self.credits = Credits::Unknown;
        self.head_ssn = Psn::new(1);
    }

    /// Cancels timers and transmission state.
    fn stop(&mut self) {
        self.tx_idx = 0;
        self.rnr = None;
        self.guard = None;
        self.rto = None;
        self.probe_due = false;
    }

    /// Forward progress: reload the counters (IBA 9.7.6.1.3; the engine
    /// reloads the retry counters whenever a response makes progress) and restart the
    /// local ACK timer if anything is still outstanding.
    fn progress(&mut self, attrs: &QpAttrs, now: u64) {
        self.reset_counters(attrs);
        let deadline = if self.una != self.max_sent && self.rnr.is_none() {
            local_ack_timeout_ns(attrs.timeout).map(|t| now.saturating_add(t))
        } else {
            None
        };
        self.rto = deadline;
    }

    /// Moves the transmit cursor back to `from` (go-back-N, IBA 9.7.5:
    /// retransmit starting with the NAKed / unacknowledged PSN, possibly in
    /// the middle of a WQE). A READ restarts from its first missing response
    /// PSN (IBA 9.7.5: re-issue the READ for the remaining data).
    fn rewind(&mut self, from: Psn) {
        let mut i = 0usize;
        while let Some(e) = self.sq.get(i) {
            if !e.sent {
                break;
            }
            if from.distance_to(e.end()) > 0 {
                self.tx_idx = i;
                self.psn = match e.wr.opcode {
                    WrOpcode::RdmaRead => e.read_next,
                    WrOpcode::CompareSwap | WrOpcode::FetchAdd => e.first,
                    _ => {
                        if e.first.distance_to(from) > 0 {
                            from
                        } else {
                            e.first
                        }
                    }
                };
                return;
            }
            i = i.wrapping_add(1);
        }
        self.tx_idx = i;
        self.psn = self.max_sent;
    }

    /// Starts a retry from `from` unless one from the same PSN is already
    /// running (for NAK-triggered retries); `Err` when the retry counter is
    /// exhausted (IBA 9.7.6.1.3: `IB_WC_RETRY_EXC_ERR`).
    fn retry(
        &mut self,
        attrs: &QpAttrs,
        from: Psn,
        cause: RetryCause,
        now: u64,
    ) -> Result<(), WcStatus> {
        if cause == RetryCause::Nak && self.guard == Some(from) {
            return Ok(());
        }
        if self.retry_left == 0 {
            return Err(WcStatus::RetryExcErr);
        }
        self.retry_left = self.retry_left.saturating_sub(1);
        self.guard = Some(from);
        self.rewind(from);
        let deadline = local_ack_timeout_ns(attrs.timeout).map(|t| now.saturating_add(t));
        self.rto = deadline;
        Ok(())
    }

    /// Applies an implicit acknowledgement of every PSN before `upto` (IBA
    /// 9.7.5: an ACK, NAK or response acknowledges all earlier requests):
    /// SEND/RDMA WRITE WQEs wholly before `upto` complete. An RDMA READ or
    /// atomic whose responses are missing although later PSNs are
    /// acknowledged lost its responses: returns the PSN to re-request it
    /// from.
    fn ack_upto<S: Sink>(
        &mut self,
        attrs: &QpAttrs,
        upto: Psn,
        now: u64,
        sink: &mut S,
    ) -> Option<Psn> {
        let mut progressed = false;
        let mut lost: Option<Psn> = None;
        while let Some(&e) = self.sq.get(0) {
            if !e.sent || e.first.distance_to(upto) <= 0 {
                break;
            }
            match e.wr.opcode {
                WrOpcode::RdmaRead => {
                    if e.read_next.distance_to(upto) > 0 {
                        lost = Some(e.read_next);
                    }
                    break;
                }
                WrOpcode::CompareSwap | WrOpcode::FetchAdd => {
                    lost = Some(e.first);
                    break;
                }
                _ => {
                    if e.end().distance_to(upto) >= 0 {
                        self.complete_head(attrs, WcStatus::Success, sink);
                        progressed = true;
                    } else {
                        if self.una.distance_to(upto) > 0 {
                            self.una = upto;
                            progressed = true;
                        }
                        break;
                    }
                }
            }
        }
        if progressed {
            self.progress(attrs, now);
        }
        lost
    }

    /// [`Self::ack_upto`], then a retry of a READ/atomic whose responses
    /// were lost (IBA 9.7.5).
    fn implicit_ack<S: Sink>(
        &mut self,
        attrs: &QpAttrs,
        upto: Psn,
        now: u64,
        sink: &mut S,
    ) -> Result<Implicit, WcStatus> {
        let Some(from) = self.ack_upto(attrs, upto, now, sink) else {
            return Ok(Implicit::Continue);
        };
        self.retry(attrs, from, RetryCause::Nak, now)?;
        Ok(Implicit::Retried)
    }

    /// A fatal NAK for PSN `p` (IBA 9.7.5.1, 9.9: remote access error,
    /// invalid request, remote operational error, invalid RD request):
    /// everything before `p` is acknowledged; the NAKed WQE completes with
    /// `status` and the QP enters Error (the caller does both with the
    /// status returned). The responder stopped when it sent the NAK, so a
    /// READ/atomic before `p` whose responses are missing can never
    /// complete: it, and the WQEs between it and `p` that completions in
    /// order hold back, are flushed (`IB_WC_WR_FLUSH_ERR`) ahead of the
    /// NAKed WQE, which keeps the error (documented choice).
    fn on_fatal_nak<S: Sink>(
        &mut self,
        attrs: &QpAttrs,
        p: Psn,
        status: WcStatus,
        now: u64,
        sink: &mut S,
    ) -> WcStatus {
        let _lost = self.ack_upto(attrs, p, now, sink);
        while let Some(&e) = self.sq.get(0) {
            if !e.sent || e.end().distance_to(p) < 0 {
                break;
            }
            self.complete_head(attrs, WcStatus::WrFlushErr, sink);
        }
        status
    }

    /// Processes a response packet (IBA 9.7.5.1). `Err(status)` means the
    /// head WQE fails with `status` and the QP must enter the Error state.
    pub(super) fn on_response<M: Memory, S: Sink>(
        &mut self,
        attrs: &QpAttrs,
        pkt: &Packet<'_>,
        now: u64,
        mem: &mut M,
        sink: &mut S,
    ) -> Result<Verdict, WcStatus> {
        if attrs.qp_type != QpType::Rc
            || !matches!(attrs.state, QpState::Rts | QpState::Sqd | QpState::Sqe)
        {
            return Ok(Verdict::Dropped(DropReason::State));
        }
        // Valid responses lie in [una, max_sent); others are stale
        // duplicates or ghosts and are dropped silently.
        let off = self.una.distance_to(pkt.bth().psn);
        if off >= self.una.distance_to(self.max_sent) {
            return Ok(Verdict::Dropped(DropReason::UnexpectedResponse));
        }
        // IBA 9.7.7.2: every AETH with an ACK syndrome carries credits,
        // also a duplicate one (the responder's credit update repeats the
        // last ACK).
        if let Some(aeth) = pkt.aeth() {
            if let Ok(Syndrome::Ack { credit_code }) = Syndrome::decode(aeth.syndrome) {
                self.update_credits(credit_code, aeth.msn);
            }
        }
        if off < 0 {
            return Ok(Verdict::Duplicate);
        }
        match pkt.bth().opcode.operation() {
            Operation::Acknowledge => self.on_ack(attrs, pkt, now, sink),
            Operation::ReadResponse => self.on_read_response(attrs, pkt, now, mem, sink),
            Operation::AtomicAcknowledge => self.on_atomic_ack(attrs, pkt, now, mem, sink),
            _ => Ok(Verdict::Dropped(DropReason::Opcode)),
        }
    }

    /// An ACK, NAK or RNR NAK (IBA 9.7.5.1) inside the outstanding window.
    fn on_ack<S: Sink>(
        &mut self,
        attrs: &QpAttrs,
        pkt: &Packet<'_>,
        now: u64,
        sink: &mut S,
    ) -> Result<Verdict, WcStatus> {
        let p = pkt.bth().psn;
        let Some(aeth) = pkt.aeth() else {
            return Err(WcStatus::LocQpOpErr);
        };
        let Ok(syndrome) = Syndrome::decode(aeth.syndrome) else {
            return Ok(Verdict::Dropped(DropReason::BadSyndrome));
        };
        match syndrome {
            Syndrome::Ack { .. } => {
                self.implicit_ack(attrs, p.next(), now, sink)?;
            }
            Syndrome::RnrNak { timer_code } => {
                return self.on_rnr_nak(attrs, p, timer_code, now, sink);
            }
            Syndrome::Nak(NakCode::PsnSequenceError) => {
                if self.implicit_ack(attrs, p, now, sink)? == Implicit::Continue {
                    self.retry(attrs, p, RetryCause::Nak, now)?;
                }
            }
            Syndrome::Nak(code) => {
                let status = match code {
                    NakCode::InvalidRequest => WcStatus::RemInvReqErr,
                    NakCode::RemoteAccessError => WcStatus::RemAccessErr,
                    NakCode::InvalidRdRequest => WcStatus::RemInvRdReqErr,
                    NakCode::RemoteOperationalError | NakCode::PsnSequenceError => {
                        WcStatus::RemOpErr
                    }
                };
                return Err(self.on_fatal_nak(attrs, p, status, now, sink));
            }
        }
        Ok(Verdict::Accepted)
    }

    /// An ATOMIC ACK (IBA 9.4.4): the original value goes to the head
    /// atomic WQE's buffer, which completes.
    fn on_atomic_ack<M: Memory, S: Sink>(
        &mut self,
        attrs: &QpAttrs,
        pkt: &Packet<'_>,
        now: u64,
        mem: &mut M,
        sink: &mut S,
    ) -> Result<Verdict, WcStatus> {
        let p = pkt.bth().psn;
        if self.implicit_ack(attrs, p, now, sink)? == Implicit::Retried {
            return Ok(Verdict::OutOfSequence { nak_sent: false });
        }
        let Some(e) = self.sq.get(0) else {
            return Ok(Verdict::Dropped(DropReason::UnexpectedResponse));
        };
        if !e.wr.opcode.is_atomic() || e.first != p || !e.sent {
            return Ok(Verdict::Dropped(DropReason::UnexpectedResponse));
        }
        let (Some(ack), Some(aeth)) = (pkt.atomic_ack_eth(), pkt.aeth()) else {
            return Err(WcStatus::LocQpOpErr);
        };
        if !matches!(Syndrome::decode(aeth.syndrome), Ok(Syndrome::Ack { .. })) {
            return Err(WcStatus::BadRespErr);
        }
        let slot = self.sq.slot(0).ok_or(WcStatus::LocQpOpErr)?;
        if mem
            .write_send(slot, 0, &ack.orig_data.to_ne_bytes())
            .is_err()
        {
            return Err(WcStatus::LocProtErr);
        }
        self.una = p.next();
        self.complete_head(attrs, WcStatus::Success, sink);
        self.progress(attrs, now);
        Ok(Verdict::Accepted)
    }

    /// RNR NAK for PSN `p` (IBA 9.7.5.2.8): wait the advertised time, then
    /// resend from `p`; `IB_WC_RNR_RETRY_EXC_ERR` once the RNR retry count
    /// is used up (7 means infinite). If the NAK also shows that responses
    /// of an earlier READ/atomic were lost (IBA 9.7.5: it implicitly NAKs
    /// them), the re-request of that READ/atomic is where transmission
    /// resumes, and it too waits for the RNR time (this retry counts
    /// against `rnr_retry` only).
    fn on_rnr_nak<S: Sink>(
        &mut self,
        attrs: &QpAttrs,
        p: Psn,
        timer_code: u8,
        now: u64,
        sink: &mut S,
    ) -> Result<Verdict, WcStatus> {
        let lost = self.ack_upto(attrs, p, now, sink);
        if self.rnr.is_some_and(|wait| wait.psn == p) {
            // A duplicate of the RNR NAK being waited out.
            return Ok(Verdict::Duplicate);
        }
        if self.rnr_left == 0 {
            return Err(WcStatus::RnrRetryExcErr);
        }
        if self.rnr_left != 7 {
            self.rnr_left = self.rnr_left.saturating_sub(1);
        }
        let from = lost.unwrap_or(p);
        self.guard = Some(from);
        self.rewind(from);
        self.rto = None;
        self.rnr = Some(RnrWait {
            psn: p,
            until: now.saturating_add(rnr_timer_ns(timer_code)),
        });
        Ok(Verdict::Accepted)
    }

    /// An RDMA READ response (IBA 9.4.3, 9.7.5): accepted only at the next
    /// expected PSN and placed by its offset; a gap re-issues the READ from
    /// the first missing byte.
    fn on_read_response<M: Memory, S: Sink>(
        &mut self,
        attrs: &QpAttrs,
        pkt: &Packet<'_>,
        now: u64,
        mem: &mut M,
        sink: &mut S,
    ) -> Result<Verdict, WcStatus> {
        let p = pkt.bth().psn;
        if self.implicit_ack(attrs, p, now, sink)? == Implicit::Retried {
            return Ok(Verdict::OutOfSequence { nak_sent: false });
        }
        let Some(&e) = self.sq.get(0) else {
            return Ok(Verdict::Dropped(DropReason::UnexpectedResponse));
        };
        if e.wr.opcode != WrOpcode::RdmaRead
            || !e.sent
            || e.first.distance_to(p) < 0
            || p.distance_to(e.end()) <= 0
        {
            return Ok(Verdict::Dropped(DropReason::UnexpectedResponse));
        }
        let d = e.read_next.distance_to(p);
        if d < 0 {
            // A response already placed.
            return Ok(Verdict::Duplicate);
        }
        if d > 0 {
            self.retry(attrs, e.read_next, RetryCause::Nak, now)?;
            return Ok(Verdict::OutOfSequence { nak_sent: false });
        }
        let k = u32::try_from(e.first.distance_to(p)).map_err(|_| WcStatus::LocQpOpErr)?;
        let offset = k.saturating_mul(e.mtu);
        let expect = e.wr.len.saturating_sub(offset).min(e.mtu);
        let is_last = k.saturating_add(1) >= e.npsn;
        let pos = pkt.bth().opcode.position();
        let pos_ok = if is_last {
            pos.ends_message()
        } else {
            matches!(pos, Position::First | Position::Middle)
        };
        // IBA 9.9 (error handling): an unexpected opcode or length in
        // a response is a "bad response" error.
        if !pos_ok || usize::try_from(expect).ok() != Some(pkt.payload().len()) {
            return Err(WcStatus::BadRespErr);
        }
        if let Some(aeth) = pkt.aeth() {
            if !matches!(Syndrome::decode(aeth.syndrome), Ok(Syndrome::Ack { .. })) {
                return Err(WcStatus::BadRespErr);
            }
        }
        let slot = self.sq.slot(0).ok_or(WcStatus::LocQpOpErr)?;
        if !pkt.payload().is_empty() && mem.write_send(slot, offset, pkt.payload()).is_err() {
            return Err(WcStatus::LocProtErr);
        }
        if let Some(h) = self.sq.get_mut(0) {
            h.read_next = p.next();
        }
        self.una = p.next();
        if is_last {
            self.complete_head(attrs, WcStatus::Success, sink);
        }
        self.progress(attrs, now);
        Ok(Verdict::Accepted)
    }

    /// Serves the requester's timers due at `now`: the end of an RNR wait
    /// resumes transmission, a local ACK timeout retransmits. `Err` when
    /// the retry counter is exhausted.
    pub(super) fn handle_timeout(&mut self, attrs: &QpAttrs, now: u64) -> Result<(), WcStatus> {
        if self.rnr.is_some_and(|wait| wait.until <= now) {
            self.rnr = None;
        }
        if !expired(&mut self.rto, now) || self.rnr.is_some() {
            return Ok(());
        }
        if self.una == self.max_sent {
            // Nothing outstanding: the timer waited for a credit update
            // (IBA 9.7.7.2.5); the probe may go.
            self.probe_due = true;
            return Ok(());
        }
        // IBA 9.7.6.1.3: local ACK timeout, retransmit from the oldest
        // unacknowledged PSN.
        self.retry(attrs, self.una, RetryCause::Timeout, now)
    }
}

/// The work completion opcode of a send WQE.
fn wc_opcode(op: WrOpcode) -> WcOpcode {
    match op {
        WrOpcode::Send | WrOpcode::SendWithImm | WrOpcode::SendWithInv => WcOpcode::Send,
        WrOpcode::RdmaWrite | WrOpcode::RdmaWriteWithImm => WcOpcode::RdmaWrite,
        WrOpcode::RdmaRead => WcOpcode::RdmaRead,
        WrOpcode::CompareSwap => WcOpcode::CompSwap,
        WrOpcode::FetchAdd => WcOpcode::FetchAdd,
        WrOpcode::AtomicWrite => WcOpcode::AtomicWrite,
        WrOpcode::Flush { .. } => WcOpcode::Flush,
    }
}

/// Headers, payload descriptor, next PSN and "WQE fully sent" for the
/// packet at PSN index `k` of WQE `e` in `slot`.
fn build_request(
    attrs: &QpAttrs,
    e: &SendWqe,
    slot: u32,
    k: u32,
) -> (PacketHeaders, Payload, Psn, bool) {
    let transport = transport_of(attrs.qp_type);
    let wr = &e.wr;
    let psn = e.first.add(k);
    let dest_qp = if attrs.qp_type == QpType::Ud {
        wr.ud.remote_qpn
    } else {
        attrs.dest_qpn
    };
    let mut bth = Bth::new(Opcode::RcSendOnly, dest_qp, psn);
    bth.pkey = attrs.pkey;
    let rc = attrs.qp_type == QpType::Rc;
    match wr.opcode {
        WrOpcode::RdmaRead => {
            // IBA 9.4.3 / 9.7.5: a (re-issued) READ request asks for
            // the data from the response PSN `psn` on.
            let offset = k.saturating_mul(e.mtu);
            bth.opcode = Opcode::RcReadRequest;
            bth.ack_req = true;
            let mut hdr = PacketHeaders::new(bth);
            hdr.reth = Some(Reth {
                va: wr.remote_va.wrapping_add(u64::from(offset)),
                rkey: wr.rkey,
                dma_len: wr.len.saturating_sub(offset),
            });
            (hdr, Payload::None, e.end(), true)
        }
        WrOpcode::CompareSwap | WrOpcode::FetchAdd => {
            let (opcode, swap_add, compare) = if wr.opcode == WrOpcode::CompareSwap {
                (Opcode::RcCompareSwap, wr.swap, wr.compare_add)
            } else {
                (Opcode::RcFetchAdd, wr.compare_add, 0)
            };
            bth.opcode = opcode;
            bth.ack_req = true;
            let mut hdr = PacketHeaders::new(bth);
            hdr.atomic_eth = Some(AtomicEth {
                va: wr.remote_va,
                rkey: wr.rkey,
                swap_add,
                compare,
            });
            (hdr, Payload::None, psn.next(), true)
        }
        WrOpcode::AtomicWrite => {
            // IBA 1.5: RETH (DMA length 8) and the 8 bytes as payload;
            // acknowledged by an ACK, so AckReq is set.
            bth.opcode = Opcode::RcAtomicWrite;
            bth.ack_req = true;
            let mut hdr = PacketHeaders::new(bth);
            hdr.reth = Some(Reth {
                va: wr.remote_va,
                rkey: wr.rkey,
                dma_len: 8,
            });
            let payload = Payload::Local {
                slot,
                offset: 0,
                len: 8,
            };
            (hdr, payload, psn.next(), true)
        }
        WrOpcode::Flush {
            placement,
            selectivity,
        } => {
            // IBA 1.5: FETH and RETH, no payload; acknowledged by an ACK.
            bth.opcode = Opcode::RcFlush;
            bth.ack_req = true;
            let mut hdr = PacketHeaders::new(bth);
            hdr.feth = Some(Feth {
                selectivity_level: selectivity.level(),
                placement_type: placement.0,
            });
            hdr.reth = Some(Reth {
                va: wr.remote_va,
                rkey: wr.rkey,
                dma_len: wr.len,
            });
            (hdr, Payload::None, psn.next(), true)
        }
        _ => {
            let offset = k.saturating_mul(e.mtu);
            let len = wr.len.saturating_sub(offset).min(e.mtu);
            let last = k.saturating_add(1) >= e.npsn;
            let pos = position(k == 0, last);
            let is_write = matches!(wr.opcode, WrOpcode::RdmaWrite | WrOpcode::RdmaWriteWithImm);
            let with_imm = wr.opcode.has_imm() && last;
            let with_inv = wr.opcode == WrOpcode::SendWithInv && last;
            let opcode = if is_write {
                Opcode::write(transport, pos, with_imm)
            } else {
                Opcode::send(transport, pos, with_imm, with_inv)
            };
            bth.opcode = opcode.unwrap_or(Opcode::RcSendOnly);
            bth.solicited = last && wr.flags.contains(SendFlags::SOLICITED);
            // IBA 9.2.8: AckReq on the last packet of a message and
            // periodically inside long ones.
            let periodic = attrs.ack_req_interval != 0
                && k.saturating_add(1)
                    .checked_rem(attrs.ack_req_interval)
                    .unwrap_or(1)
                    == 0;
            bth.ack_req = rc && (last || periodic);
            bth.pad_count = super::super::packet::pad_count(usize::try_from(len).unwrap_or(0));
            let mut hdr = PacketHeaders::new(bth);
            if is_write && pos.starts_message() {
                hdr.reth = Some(Reth {
                    va: wr.remote_va,
                    rkey: wr.rkey,
                    dma_len: wr.len,
                });
            }
            if with_imm {
                hdr.immdt = Some(ImmDt { imm: wr.imm_or_inv });
            }
            if with_inv {
                hdr.ieth = Some(Ieth {
                    rkey: wr.imm_or_inv,
                });
            }
            if attrs.qp_type == QpType::Ud {
                // Q_Keys (IBA 9.3.2 DETH, chapter 10): a work request Q_Key
                // with bit 31 set selects the QP's own Q_Key.
                let qkey = if wr.ud.remote_qkey & 0x8000_0000 != 0 {
                    attrs.qkey
                } else {
                    wr.ud.remote_qkey
                };
                hdr.deth = Some(Deth {
                    qkey,
                    src_qp: attrs.qpn,
                });
            }
            let payload = if len == 0 {
                Payload::None
            } else {
                Payload::Local { slot, offset, len }
            };
            (hdr, payload, psn.next(), last)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::io::rts_rc_attrs;
    use super::*;

    // An impossible state (the transmit cursor outside the WQE it points
    // at) is reported as IB_WC_LOC_QP_OP_ERR, which moves the QP to Error
    // (IBA 10.3.1); it is not clamped to
    // the WQE's first packet and sent.
    #[test]
    fn transmit_cursor_outside_its_wqe_is_an_error() {
        let attrs = rts_rc_attrs();
        let mut storage = [SendWqe::EMPTY; 4];
        let mut r = Requester::new(&mut storage[..]);
        r.set_psn(Psn::new(10));
        let mut wr = SendWr::new(1, WrOpcode::Send);
        wr.len = 3 * 1024;
        r.post(&attrs, &wr).unwrap();
        let mut buf = [0u8; MAX_HEADER_LEN];
        assert!(r.poll(&attrs, 0, &mut buf).unwrap().is_some());
        r.psn = Psn::new(50);
        assert_eq!(r.poll(&attrs, 0, &mut buf), Err(WcStatus::LocQpOpErr));
    }

    // IBA 9.7.7.2: the limit (MSN + credits) only grows, so an older ACK
    // that arrives late cannot take credits back; code 31 lifts the limit.
    #[test]
    fn credit_limit_only_grows_and_code_31_is_unlimited() {
        let mut storage = [SendWqe::EMPTY; 4];
        let mut r = Requester::new(&mut storage[..]);
        r.update_credits(5, 10); // 6 credits after MSN 10
        assert_eq!(r.credits, Credits::Upto(Psn::new(16)));
        r.update_credits(1, 11); // an older view: 1 after MSN 11
        assert_eq!(r.credits, Credits::Upto(Psn::new(16)));
        r.update_credits(2, 0xff_ffff); // near the MSN wrap, still behind
        assert_eq!(r.credits, Credits::Upto(Psn::new(16)));
        r.update_credits(3, 15);
        assert_eq!(r.credits, Credits::Upto(Psn::new(18)));
        r.update_credits(super::super::super::aeth::CREDITS_INVALID, 15);
        assert_eq!(r.credits, Credits::Unlimited);
    }
}
