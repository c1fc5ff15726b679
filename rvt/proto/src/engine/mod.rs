//! The transport engine: RC, UC and UD queue pairs as sans-IO state
//! machines (IBA vol. 1, chapter 9 transport, chapter 10/11 verbs semantics).
//!
//! A [`Qp`] is a few hundred bytes of state plus two storage slices the
//! caller allocates once at creation, whose lengths are the queue depths:
//! the send queue ([`SendWqe`]) and the READ/atomic responder resources
//! ([`ResponderResource`]). It never owns or touches payload memory; the
//! caller provides:
//!
//! * a [`Memory`] for R_Key checks, payload placement, atomics and
//!   invalidation, and with it a [`RecvQueue`] (the QP's own receive queue
//!   or an SRQ) from which the engine takes receive WQEs when it needs one,
//! * a [`Sink`] receiving completions, the release of unsignaled send slots
//!   and the engine-initiated move to the Error state,
//! * a header buffer for each packet to transmit ([`Qp::poll_transmit`]);
//!   the returned [`Transmit`] says which payload bytes to copy after it,
//!   and the caller then says whether it took the packet
//!   ([`Qp::transmit_taken`]) or hands it back ([`Qp::hand_back_transmit`]).
//!
//! Events in: [`Qp::post_send`], [`Qp::receive`] (a parsed packet plus
//! [`RxMeta`]; a [`Verdict::Deferred`] packet is delivered again after the
//! next drain), [`Qp::handle_timeout`], [`Qp::modify`]. After every event
//! the caller drains [`Qp::poll_transmit`] until it returns `None` (or
//! later, if it must pace transmissions) and re-arms its timer at
//! [`Qp::poll_timeout`]. [`Qp::status`] is the live state for
//! `ib_query_qp`.
//!
//! See `Documentation/proto-engine.md` for the list of IBA rules implemented
//! and not implemented.

mod attr;
mod io;
mod mem;
mod requester;
mod responder;
mod ring;
mod verdict;
mod wc;
mod wr;

pub use attr::{
    transition_allowed, AccessFlags, AttrUpdate, ModifyError, Mtu, QpAttrs, QpState, QpStatus,
    QpType, GSI_QKEY, GSI_QPN, MULTICAST_QPN,
};
pub use io::{Payload, RxMeta, Sink, Timer, Transmit, MAX_HEADER_LEN};
pub use mem::{AtomicOp, MemError, Memory, Placement, RemoteAccess, Selectivity};
pub use requester::SendWqe;
pub use responder::{ResponderResource, UD_GRH_LEN};
pub use verdict::{DropReason, Verdict};
pub use wc::{Completion, Queue, WcFlags, WcOpcode, WcStatus};
pub use wr::{PostError, RecvQueue, RecvWqe, SendFlags, SendWr, UdDest, WrOpcode};

use core::ops::DerefMut;

use super::opcode::{Position, Transport};
use super::packet::Packet;
use super::psn::{Psn, PSN_MASK};
use requester::Requester;
use responder::{Fatal, Responder};

/// One queue pair. Its send queue lives in `SQ` and its responder
/// resources for RDMA READ / atomic requests in `RD`: storage the caller
/// provides at creation (any owner of a slice: a kernel `KVec` or
/// `KBox<[T]>`, a `Vec`, `&mut [T]`), whose lengths are the send queue depth
/// and the upper bound of `max_dest_rd_atomic`. Receive WQEs stay in the
/// caller's receive queue until a message takes one ([`RecvQueue`]).
///
/// The `Qp` itself is small and of fixed size whatever the depths (see
/// `Documentation/proto-engine.md`, "Sizes"), so it is built by value, e.g.
/// as a field of a pin-initialised kernel object; nothing in it is
/// self-referential.
///
/// Calling contract:
///
/// * Every `now` argument is in nanoseconds on one monotonic clock (in the
///   kernel `ktime_get_ns()`), never smaller than the `now` of an earlier
///   call on the same QP. The engine never reads a clock itself.
/// * The engine owns its deadlines ([`Timer`]). After any call that takes
///   `&mut self`, the caller reads [`Qp::poll_timeout`] and arms its one
///   timer for the QP there (or disarms it on `None`); when it fires, it
///   calls [`Qp::handle_timeout`]. A call that is early, late or repeated
///   is harmless: due timers are served as at `now`, others are untouched.
/// * After every event the caller drains [`Qp::poll_transmit`].
/// * Calls on one QP are serialised by the caller (one lock per QP); the
///   engine holds no references between calls.
#[derive(Clone, Debug)]
pub struct Qp<SQ, RD> {
    attrs: QpAttrs,
    req: Requester<SQ>,
    resp: Responder<RD>,
}

impl<SQ, RD> Qp<SQ, RD>
where
    SQ: DerefMut<Target = [SendWqe]>,
    RD: DerefMut<Target = [ResponderResource]>,
{
    /// A QP of `qp_type` with number `qpn` (24 bits) in the Reset state,
    /// whose send queue holds `send_queue.len()` WQEs and which keeps up to
    /// `responder_resources.len()` READ/atomic requests for
    /// `max_dest_rd_atomic`. The storage's contents do not matter (entries
    /// are written before they are read); [`SendWqe::EMPTY`] and
    /// [`ResponderResource::EMPTY`] fill it.
    pub const fn new(qp_type: QpType, qpn: u32, send_queue: SQ, responder_resources: RD) -> Self {
        Qp {
            attrs: QpAttrs::new(qp_type, qpn & PSN_MASK),
            req: Requester::new(send_queue),
            resp: Responder::new(responder_resources),
        }
    }

    /// The current attributes.
    pub fn attrs(&self) -> &QpAttrs {
        &self.attrs
    }

    /// The current state.
    pub fn state(&self) -> QpState {
        self.attrs.state
    }

    /// The live state for `ib_query_qp`: current PSNs, READ/atomic counts
    /// and whether the send queue is drained.
    pub fn status(&self) -> QpStatus {
        QpStatus {
            state: self.attrs.state,
            send_psn: self.req.next_new_psn().value(),
            expected_psn: self.resp.expected_psn().value(),
            rd_atomic_in_flight: self.req.rd_atomic_in_flight(),
            responses_owed: self.resp.responses_owed(),
            sq_drained: self.req.drained(),
        }
    }

    /// Send WQEs not yet completed.
    pub fn send_queue_len(&self) -> usize {
        self.req.len()
    }

    /// The current deadline of `timer` ([`Self::poll_timeout`] is the
    /// earliest of them).
    pub fn deadline(&self, timer: Timer) -> Option<u64> {
        match timer {
            Timer::Ack => self.resp.deadline(timer),
            _ => self.req.deadline(timer),
        }
    }

    /// Modify QP (IBA 10.3.1): applies the attributes set in
    /// `upd`, then the state change. Moving to Error flushes the send queue
    /// and the receive WQE held (the caller flushes its own RQ); moving to
    /// Reset forgets the send queue and flushes the receive WQE held.
    pub fn modify<S: Sink>(&mut self, upd: &AttrUpdate, sink: &mut S) -> Result<(), ModifyError> {
        self.transmit_taken(sink);
        let to = upd.state.unwrap_or(self.attrs.state);
        if upd.state.is_some() && !transition_allowed(self.attrs.state, to) {
            return Err(ModifyError::InvalidTransition);
        }
        let small = |v: Option<u8>, max: u8| v.is_none_or(|v| v <= max);
        if !small(upd.retry_cnt, 7)
            || !small(upd.rnr_retry, 7)
            || !small(upd.min_rnr_timer, 31)
            || !small(upd.timeout, 31)
            || upd
                .max_dest_rd_atomic
                .is_some_and(|v| usize::from(v) > self.resp.resource_capacity())
            || upd.dest_qpn.is_some_and(|v| v > PSN_MASK)
            || upd.sq_psn.is_some_and(|v| v > PSN_MASK)
            || upd.rq_psn.is_some_and(|v| v > PSN_MASK)
        {
            return Err(ModifyError::InvalidValue);
        }
        let a = &mut self.attrs;
        if let Some(v) = upd.dest_qpn {
            a.dest_qpn = v;
        }
        if let Some(v) = upd.path_mtu {
            a.path_mtu = v;
        }
        if let Some(v) = upd.timeout {
            a.timeout = v;
        }
        if let Some(v) = upd.retry_cnt {
            a.retry_cnt = v;
        }
        if let Some(v) = upd.rnr_retry {
            a.rnr_retry = v;
        }
        if let Some(v) = upd.min_rnr_timer {
            a.min_rnr_timer = v;
        }
        if let Some(v) = upd.max_rd_atomic {
            a.max_rd_atomic = v;
        }
        if let Some(v) = upd.max_dest_rd_atomic {
            a.max_dest_rd_atomic = v;
        }
        if let Some(v) = upd.access {
            a.access = v;
        }
        if let Some(v) = upd.qkey {
            a.qkey = v;
        }
        if let Some(v) = upd.pkey {
            a.pkey = v;
        }
        if let Some(v) = upd.ack_delay_ns {
            a.ack_delay_ns = v;
        }
        if let Some(v) = upd.ack_req_interval {
            a.ack_req_interval = v;
        }
        if let Some(v) = upd.flow_control {
            a.flow_control = v;
        }
        if let Some(v) = upd.sq_psn {
            self.req.set_psn(Psn::new(v));
            self.attrs.sq_psn = v;
        }
        if let Some(v) = upd.rq_psn {
            self.resp.set_psn(Psn::new(v));
            self.attrs.rq_psn = v;
        }
        let from = self.attrs.state;
        if upd.state.is_some() {
            match to {
                QpState::Reset => {
                    self.req.reset();
                    self.resp.reset(sink);
                    self.attrs.state = QpState::Reset;
                }
                QpState::Error => {
                    if from != QpState::Error {
                        self.enter_error(None, sink, false);
                    }
                }
                _ => {
                    self.attrs.state = to;
                    if to == QpState::Rts && from != QpState::Rts {
                        self.req.reset_counters(&self.attrs);
                    }
                    if to == QpState::Sqd && from == QpState::Rts {
                        self.req.draining();
                    }
                }
            }
        }
        Ok(())
    }

    /// Moves the QP to Error (IBA 10.3.1): the head send WQE completes with
    /// `head_status` (if any), everything else on the send queue and the
    /// receive WQE held are flushed; the caller then flushes its own RQ.
    fn enter_error<S: Sink>(&mut self, head_status: Option<WcStatus>, sink: &mut S, notify: bool) {
        self.attrs.state = QpState::Error;
        self.req.flush(&self.attrs, head_status, sink);
        self.resp.flush(sink);
        if notify {
            sink.state_changed(QpState::Error);
        }
    }

    /// Post a send work request (`ib_post_send`). Returns the send queue slot
    /// that names the WQE in [`Payload::Local`], [`Memory::write_send`] and
    /// its [`Completion`]. In the Error state the request is accepted and
    /// completes with `IB_WC_WR_FLUSH_ERR` in the next
    /// [`Self::poll_transmit`], never inside this call, so the caller knows
    /// the slot before its completion names it (IBA 10.3.1: the Error state
    /// flushes; `ib_drain_sq` relies on it).
    pub fn post_send<S: Sink>(&mut self, wr: &SendWr, sink: &mut S) -> Result<u32, PostError> {
        self.transmit_taken(sink);
        match self.attrs.state {
            QpState::Rts | QpState::Sqd | QpState::Sqe => self.req.post(&self.attrs, wr),
            // The flush completion comes from the next poll_transmit, once
            // the caller knows the slot.
            QpState::Error => self.req.post(&self.attrs, wr),
            _ => Err(PostError::InvalidState),
        }
    }

    /// A packet arrived for this QP (the caller verified the ICRC and
    /// dispatched by destination QPN). Requests go to the responder,
    /// responses to the requester's completer. Packets of another transport
    /// service, with a foreign P_Key (IBA 9.6 header validation: silently
    /// dropped) or in a state that does not receive are dropped. Returns
    /// what happened to the packet, for the caller's counters. Receive
    /// WQEs are taken from `mem`'s [`RecvQueue`] as messages need them.
    pub fn receive<M: Memory + RecvQueue, S: Sink>(
        &mut self,
        pkt: &Packet<'_>,
        meta: &RxMeta<'_>,
        now: u64,
        mem: &mut M,
        sink: &mut S,
    ) -> Verdict {
        self.transmit_taken(sink);
        let bth = &pkt.bth();
        if bth.opcode.transport() != transport_of(self.attrs.qp_type) {
            return Verdict::Dropped(DropReason::WrongTransport);
        }
        let qpn_ok = bth.dest_qp == self.attrs.qpn
            || (self.attrs.qp_type == QpType::Ud && bth.dest_qp == MULTICAST_QPN);
        if !qpn_ok {
            return Verdict::Dropped(DropReason::WrongQpn);
        }
        if self.attrs.qpn != GSI_QPN && !pkey_match(bth.pkey, self.attrs.pkey) {
            return Verdict::Dropped(DropReason::PKey);
        }
        if bth.opcode.is_request() {
            match self.resp.on_request(&self.attrs, pkt, meta, now, mem, sink) {
                Ok(verdict) => verdict,
                Err(Fatal(reason)) => {
                    self.enter_error(None, sink, true);
                    Verdict::Dropped(reason)
                }
            }
        } else {
            match self.req.on_response(&self.attrs, pkt, now, mem, sink) {
                Ok(verdict) => verdict,
                Err(status) => {
                    self.enter_error(Some(status), sink, true);
                    failed_response_verdict(status)
                }
            }
        }
    }

    /// Builds the next packet to transmit into `buf` (BTH and extension
    /// headers) and returns its descriptor, or `None` if nothing may be sent
    /// now. Responder output (READ responses, ATOMIC ACKs, ACKs, NAKs) goes
    /// first, then requests.
    ///
    /// The packet is the caller's once it copied the payload: it then calls
    /// [`Self::transmit_taken`], or [`Self::hand_back_transmit`] if it could
    /// not send it (device queue full), before any other call on this QP.
    /// Any other call (this one included) first takes the packet still
    /// pending as taken.
    pub fn poll_transmit<S: Sink>(
        &mut self,
        now: u64,
        buf: &mut [u8; MAX_HEADER_LEN],
        sink: &mut S,
    ) -> Option<Transmit> {
        self.transmit_taken(sink);
        if self.attrs.state == QpState::Error {
            // Send WQEs posted in Error (IBA 10.3.1).
            self.req.flush(&self.attrs, None, sink);
        }
        match self.resp.poll(&self.attrs, now, buf) {
            Ok(Some(t)) => return Some(t),
            Ok(None) => {}
            Err(Fatal(_)) => {
                if self.attrs.state != QpState::Error {
                    self.enter_error(None, sink, true);
                }
                return None;
            }
        }
        match self.req.poll(&self.attrs, now, buf) {
            Ok(t) => t,
            Err(status) => {
                self.enter_error(Some(status), sink, true);
                None
            }
        }
    }

    /// The caller took the packet [`Self::poll_transmit`] returned last: its
    /// payload is copied (or referenced by the skb), so the WQE's buffer is
    /// no longer needed for it. A UC/UD send WQE whose last packet it was
    /// completes now (IBA 9.8: no acknowledgement), never before. Harmless
    /// if nothing is pending.
    pub fn transmit_taken<S: Sink>(&mut self, sink: &mut S) {
        self.resp.taken();
        self.req.taken(&self.attrs, sink);
    }

    /// Transmit back-pressure: the caller could not send the packet
    /// [`Self::poll_transmit`] returned last (device queue full,
    /// `NET_XMIT_DROP`). The engine goes back to where it was before that
    /// packet, so the next `poll_transmit` produces the same packet at once
    /// (same headers and payload), without waiting for a local ACK timeout.
    /// Only valid directly after that `poll_transmit`; otherwise (nothing
    /// pending) it does nothing.
    pub fn hand_back_transmit(&mut self) {
        self.resp.hand_back();
        self.req.hand_back();
    }

    /// The caller posted receive WQEs to this QP's own receive queue `rq`
    /// (call it after `ib_post_recv`; not needed for an SRQ). With
    /// end-to-end flow control ([`QpAttrs::flow_control`], IBA 9.7.7.2)
    /// and more credits than last advertised, an ACK carrying them is
    /// owed at once (drain [`Self::poll_transmit`]), so a requester
    /// waiting for credits resumes. Otherwise it only records the count.
    pub fn recv_posted<R: RecvQueue + ?Sized, S: Sink>(&mut self, rq: &R, sink: &mut S) {
        self.transmit_taken(sink);
        self.resp.recv_posted(&self.attrs, rq.available());
    }

    /// The earliest deadline of the engine's timers ([`Timer`]), or `None`
    /// if none is armed: when the clock reaches it the caller calls
    /// [`Self::handle_timeout`]. The engine owns its deadlines; any call
    /// that takes `&mut self` may move, arm or disarm them, so the caller
    /// reads this again after every such call (e.g. re-arms its one hrtimer
    /// per QP).
    pub fn poll_timeout(&self) -> Option<u64> {
        [Timer::Retransmit, Timer::Rnr, Timer::Ack]
            .into_iter()
            .filter_map(|t| self.deadline(t))
            .min()
    }

    /// Serves every timer whose deadline is at or before `now` (IBA
    /// 9.7.6.1.3 local ACK timeout, 9.7.5.2.8 RNR wait, ACK coalescing).
    /// An early or repeated call changes nothing. Afterwards drain
    /// [`Self::poll_transmit`] and re-read [`Self::poll_timeout`].
    pub fn handle_timeout<S: Sink>(&mut self, now: u64, sink: &mut S) {
        self.transmit_taken(sink);
        self.resp.handle_timeout(now);
        if let Err(status) = self.req.handle_timeout(&self.attrs, now) {
            self.enter_error(Some(status), sink, true);
        }
    }
}

/// The verdict of a response whose processing failed the head send WQE
/// with `status`: a response the WQE does not allow or a local failure
/// drops it; a NAK or an exhausted retry counter was a valid response.
fn failed_response_verdict(status: WcStatus) -> Verdict {
    match status {
        WcStatus::BadRespErr => Verdict::Dropped(DropReason::BadResponse),
        WcStatus::LocProtErr => Verdict::Dropped(DropReason::LocalPlacement),
        WcStatus::LocQpOpErr => Verdict::Dropped(DropReason::Internal),
        _ => Verdict::Accepted,
    }
}

/// The BTH transport of a QP type.
const fn transport_of(t: QpType) -> Transport {
    match t {
        QpType::Rc => Transport::Rc,
        QpType::Uc => Transport::Uc,
        QpType::Ud => Transport::Ud,
    }
}

/// P_Key match (the partition membership rule checked by IBA 9.6
/// header validation): the low 15 bits are equal and at least one
/// side is a full member (bit 15); the invalid P_Keys 0x0000/0x8000 never
/// match.
pub const fn pkey_match(a: u16, b: u16) -> bool {
    a & 0x7fff == b & 0x7fff && a & 0x7fff != 0 && (a | b) & 0x8000 != 0
}

/// Packets (PSNs) a message of `len` bytes needs at `mtu`: at least one
/// (IBA 9.7.1; a zero-length message is one packet).
fn packets(len: u32, mtu: u32) -> u32 {
    let q = len.checked_div(mtu).unwrap_or(0);
    let r = len.checked_rem(mtu).unwrap_or(0);
    let n = if r != 0 { q.saturating_add(1) } else { q };
    n.max(1)
}

/// The position of a packet that is (or is not) first and last.
const fn position(first: bool, last: bool) -> Position {
    match (first, last) {
        (true, true) => Position::Only,
        (true, false) => Position::First,
        (false, true) => Position::Last,
        (false, false) => Position::Middle,
    }
}

/// True if `deadline` has passed at `now`; it is then disarmed. An unarmed
/// timer or one not yet due is left alone (an early
/// [`Qp::handle_timeout`] changes nothing).
fn expired(deadline: &mut Option<u64>, now: u64) -> bool {
    match *deadline {
        Some(d) if d <= now => {
            *deadline = None;
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // IBA 9.7.1 / 9.4.3: a message needs ceil(len / MTU) packets, at least 1.
    #[test]
    fn packet_count() {
        assert_eq!(packets(0, 256), 1);
        assert_eq!(packets(1, 256), 1);
        assert_eq!(packets(256, 256), 1);
        assert_eq!(packets(257, 256), 2);
        assert_eq!(packets(1 << 20, 4096), 256);
        assert_eq!(packets(u32::MAX, 256), 1 << 24);
    }

    // IBA 9.6: P_Key membership rule.
    #[test]
    fn pkey_rule() {
        assert!(pkey_match(0xffff, 0xffff));
        assert!(pkey_match(0x7fff, 0xffff));
        assert!(!pkey_match(0x7fff, 0x7fff));
        assert!(!pkey_match(0x8000, 0x8000));
        assert!(!pkey_match(0xffff, 0x8001));
    }

    // IBA 10.3.1: the QP state diagram.
    #[test]
    fn transitions() {
        use QpState::*;
        assert!(transition_allowed(Reset, Init));
        assert!(!transition_allowed(Reset, Rtr));
        assert!(transition_allowed(Init, Rtr));
        assert!(!transition_allowed(Init, Rts));
        assert!(transition_allowed(Rtr, Rts));
        assert!(transition_allowed(Rts, Error));
        assert!(!transition_allowed(Error, Rts));
        assert!(transition_allowed(Error, Reset));
    }
}
