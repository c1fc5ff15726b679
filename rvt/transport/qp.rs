// SPDX-License-Identifier: GPL-2.0

//! The transport of one QP: its engine state (rvt/proto) behind one lock,
//! and every event that drives it.
//!
//! Execution model (Documentation/architecture.md, "The data path"):
//!
//! | context | entry | does |
//! |---|---|---|
//! | process (uverbs write) | [`QpTransport::doorbell`], [`QpTransport::modify`] | copies new SQ WQEs into the engine, transmits up to a budget |
//! | softirq (UDP receive) | [`QpTransport::receive`] | the engine takes the packet; its ACKs and responses go out at once |
//! | softirq (soft hrtimer) | the QP's timer | retransmission, RNR and ACK-coalescing deadlines, transmit back-pressure, a full CQ |
//! | process (rvt_wq) | the QP's work item | what the other entries left over their budget |
//!
//! Every entry takes the lock (`spin_lock_bh`), runs the engine, then
//! [`QpTransport::run`]: consume the SQ ring, transmit a bounded batch,
//! flush what Error flushes, hand completions to the CQs and program the
//! timer at the engine's next deadline. CQ handlers, the QP's async event
//! and the work item are fired after the lock is dropped ([`Notify`]).
//!
//! Teardown ([`QpTransport::shutdown`]): the QP leaves the QPN table (an
//! RCU grace period: no receive can still see it), then `closing` is set
//! under the lock (no later holder arms the timer or queues the work), the
//! timer is cancelled synchronously and the work disabled synchronously.
//! Those three are the only ways into a QP from outside its verbs, so
//! nothing reaches it once destroy returns and ib_core frees it.

use kernel::{
    bindings as kb, new_spinlock_irq,
    prelude::*,
    sync::{
        atomic::{Atomic, Relaxed},
        rcu, SpinLockIrq,
    },
};

use super::{
    kwr,
    lock::{new_spinlock_bh, SpinLockBh},
    mem::{Accessor, KernelRq, QpMem, RecvSlots, RecvSource, SendSlots},
    timer::{now_ns, QpTimer},
    work::QpWork,
};
use crate::{
    bindings as b,
    device::{self, RvtDevice},
    ib::{IbDevice, IbObject},
    proto::{
        aeth::{NakCode, Syndrome},
        engine::{
            self, AttrUpdate, Completion, DropReason, Mtu, Payload, PostError, QpState, QpType,
            Queue, ResponderResource, RxMeta, SendWqe, Sink, Timer, Transmit, Verdict, WcFlags,
            MAX_HEADER_LEN,
        },
        packet::Packet,
    },
    transport::skb::OwnedSkb,
    uapi::{
        queue::UserQueue,
        wqe::{self, SendHeader, SendLimits, SEND_WQE_HEADER},
    },
    verbs::{
        counters::Counter,
        cq::{Cq, CqEntry, Fire},
        mr::FastReg,
        mw::MwBind,
        srq::Srq,
    },
};

/// Packets an entry in process context or softirq transmits before it
/// leaves the rest to the work item (a bounded time with BHs off).
const INLINE_BUDGET: u32 = 16;
/// Packets the work item transmits before it queues itself again.
const WORK_BUDGET: u32 = 64;
/// Transmit back-pressure: the first wait before sending again, doubled up
/// to the maximum while the backend stays busy (never the ACK timeout).
const TX_BACKOFF_MIN_NS: u64 = 10_000;
const TX_BACKOFF_MAX_NS: u64 = 1_000_000;
/// How soon a completion a full CQ refused is offered again: first, and at
/// most (doubling while the CQ stays full, so a user who leaves a CQ full
/// costs little).
const CQ_RETRY_MIN_NS: u64 = 100_000;
const CQ_RETRY_MAX_NS: u64 = 10_000_000;
/// Received packets an RC QP keeps while its engine defers one (about a
/// window of requests at the peer; more are dropped and retransmitted).
const DEFERRED_MAX: usize = 64;

type EngineQp = engine::Qp<KVVec<SendWqe>, KVVec<ResponderResource>>;

/// A copy of the attributes modify_qp was given, for query_qp.
#[derive(Clone, Copy)]
struct QpAttr(b::ib_qp_attr);

// SAFETY: The pointers in an `ib_qp_attr` (the AH's GID attribute, the
// bonding slave) are cleared in the copy and never dereferenced.
unsafe impl Send for QpAttr {}

/// A completion a CQ refused (it was full), kept in order until it fits.
#[derive(Clone, Copy)]
struct HeldWc {
    wc: b::ib_wc,
    solicited: bool,
}

// SAFETY: The pointers of an `ib_wc` (the QP, the consumer's `wr_cqe`) are
// values handed to the consumer, never dereferenced here.
unsafe impl Send for HeldWc {}

/// The completions of one work queue that its CQ refused, oldest first.
///
/// # Invariants
///
/// `head < buf.len()` unless `buf` is empty; `len <= buf.len()`.
struct Held {
    buf: KVVec<HeldWc>,
    head: usize,
    len: usize,
}

impl Held {
    fn with_capacity(capacity: usize) -> Result<Self> {
        let empty = HeldWc {
            wc: b::ib_wc::default(),
            solicited: false,
        };
        Ok(Self {
            buf: KVVec::from_elem(empty, capacity.max(1), GFP_KERNEL)?,
            head: 0,
            len: 0,
        })
    }

    fn room(&self) -> usize {
        self.buf.len() - self.len
    }

    /// Keeps a completion; false (lost) only if more completions were
    /// produced than the queue admits, which admission control rules out.
    fn push(&mut self, wc: HeldWc) -> bool {
        if self.len == self.buf.len() {
            return false;
        }
        let tail = (self.head + self.len) % self.buf.len();
        if let Some(slot) = self.buf.get_mut(tail) {
            *slot = wc;
        }
        self.len += 1;
        true
    }

    fn front(&self) -> Option<&HeldWc> {
        if self.len == 0 {
            return None;
        }
        self.buf.get(self.head)
    }

    fn pop(&mut self) {
        if self.len != 0 {
            self.head = (self.head + 1) % self.buf.len();
            self.len -= 1;
        }
    }
}

/// The completions of a QP that full CQs refused: its send queue's and its
/// receive queue's.
struct HeldQueues {
    send: Held,
    recv: Held,
}

/// The state behind the QP's lock.
struct Locked {
    engine: EngineQp,
    attr: QpAttr,
    /// RC/UC: where the QP sends (resolved at modify with IB_QP_AV).
    path: Option<b::rvt_path>,
    /// The last `now` given to the engine (it must never decrease).
    last_now: u64,
    /// The deadline the timer is programmed for.
    armed: Option<u64>,
    /// The SQ ring index of the next WQE to copy into the engine (the
    /// consumer index published to user space).
    sq_next: u32,
    /// The RQ ring index of the next receive WQE to take.
    rq_next: u32,
    sends: SendSlots,
    recvs: RecvSlots,
    /// One send WQE's header and payload, copied out of the ring.
    scratch: KVVec<u8>,
    /// Completions full CQs refused, per work queue.
    held: HeldQueues,
    pace: TxPace,
    /// A completion waits for room in its CQ: offered again at this time,
    /// after waiting `cq_backoff_ns`.
    cq_retry_at: Option<u64>,
    cq_backoff_ns: u64,
    /// Received packets the engine deferred and those behind them.
    deferred: Deferred,
    /// A kernel QP's posted receive WQEs (their SGEs in `recvs`).
    krq: KernelRq,
    /// A kernel UD QP's AH paths, by the id its send WQEs carry (the
    /// engine's `UdDest::ah`): at most the send queue's depth are in
    /// flight, so an id's entry lives until its packet went out.
    kah: KVVec<b::rvt_path>,
    kah_next: u32,
    /// In SQD: `IB_EVENT_SQ_DRAINED` is owed once the send queue drains.
    sqd_notify: bool,
    /// On an SRQ: `IB_EVENT_QP_LAST_WQE_REACHED` was raised since the QP
    /// last left Reset.
    last_wqe_reported: bool,
}

/// A received packet a QP keeps.
struct Kept {
    skb: OwnedSkb,
    meta: b::rvt_rx_meta,
}

/// The packets a QP keeps, oldest first: what its engine deferred (IBA
/// 9.5, a request that writes behind RDMA READ responses not yet sent) and
/// everything that arrived after it.
///
/// # Invariants
///
/// The `len` entries from `head` (wrapping) are `Some`, the others `None`.
struct Deferred {
    buf: KVVec<Option<Kept>>,
    head: usize,
    len: usize,
}

impl Deferred {
    fn new(capacity: usize) -> Result<Self> {
        let mut buf = KVVec::with_capacity(capacity, GFP_KERNEL)?;
        for _ in 0..capacity {
            buf.push(None, GFP_KERNEL)?;
        }
        Ok(Self {
            buf,
            head: 0,
            len: 0,
        })
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn push_back(&mut self, kept: Kept) -> Result<(), Kept> {
        if self.len == self.buf.len() {
            return Err(kept);
        }
        let tail = (self.head + self.len) % self.buf.len();
        match self.buf.get_mut(tail) {
            Some(slot) => *slot = Some(kept),
            None => return Err(kept),
        }
        self.len += 1;
        Ok(())
    }

    fn push_front(&mut self, kept: Kept) {
        // Only after `pop_front`, whose slot is free.
        let head = (self.head + self.buf.len() - 1) % self.buf.len();
        if let Some(slot) = self.buf.get_mut(head) {
            *slot = Some(kept);
            self.head = head;
            self.len += 1;
        }
    }

    fn pop_front(&mut self) -> Option<Kept> {
        if self.len == 0 {
            return None;
        }
        let kept = self.buf.get_mut(self.head)?.take();
        self.head = (self.head + 1) % self.buf.len();
        self.len -= 1;
        kept
    }
}

/// Transmit back-pressure.
struct TxPace {
    /// Nothing is sent before this time.
    retry_at: Option<u64>,
    /// The next wait.
    backoff_ns: u64,
}

impl TxPace {
    /// The backend was busy at `now`: wait, longer each time in a row.
    fn back_off(&mut self, now: u64) {
        self.retry_at = Some(now + self.backoff_ns);
        self.backoff_ns = (self.backoff_ns * 2).min(TX_BACKOFF_MAX_NS);
    }
}

impl Locked {
    /// The engine's `now`: the clock read under the lock, never smaller
    /// than before (two CPUs may read it in either order before locking).
    fn tick(&mut self) -> u64 {
        self.last_now = self.last_now.max(now_ns());
        self.last_now
    }
}

/// What an entry owes once it dropped the lock.
#[derive(Default)]
struct Notify {
    send: Fire,
    recv: Fire,
    /// The engine moved the QP to Error: `IB_EVENT_QP_FATAL`.
    qp_fatal: bool,
    /// Transmission is left over: queue the work item.
    work: bool,
    /// Taking a WQE from the QP's SRQ fired its limit.
    srq_limit: bool,
    /// The SQD drain the consumer asked to hear of is complete:
    /// `IB_EVENT_SQ_DRAINED`.
    sq_drained: bool,
    /// A QP on an SRQ entered Error: `IB_EVENT_QP_LAST_WQE_REACHED`.
    last_wqe_reached: bool,
}

/// What `run` needs besides the QP: the device and an RCU read-side
/// critical section for the MR and AH lookups of the data path.
struct Ctx<'a> {
    dev: &'a IbDevice<RvtDevice>,
    rcu: &'a rcu::Guard,
}

impl Ctx<'_> {
    fn rvt(&self) -> &RvtDevice {
        self.dev.data()
    }
}

/// The transport of one QP.
///
/// # Invariants
///
/// `ibqp` is the QP this transport belongs to, alive (with its device,
/// PD and CQs, which ib_core keeps while the QP exists) as long as this
/// object; `timer` and `work` only run while it is alive
/// ([`QpTransport::shutdown`] runs before it is dropped).
#[pin_data]
pub(crate) struct QpTransport {
    #[pin]
    state: SpinLockBh<Locked>,
    #[pin]
    timer: QpTimer,
    #[pin]
    work: QpWork,
    /// Set under the lock by `shutdown`: nothing arms the timer or queues
    /// the work any more.
    closing: Atomic<bool>,
    /// The state as of the last locked section (`enum ib_qp_state`), for
    /// kernel posts, which check it without the lock.
    ib_state: Atomic<u32>,
    /// A kernel QP's posted work requests on their way to the engine.
    #[pin]
    staged: SpinLockIrq<Staged>,
    /// A kernel QP's work requests posted and not completed yet, per queue
    /// (IBA 11.4.1: a post beyond the queue's depth fails).
    kernel_posted: KernelOutstanding,
    /// The engine's path MTU in bytes as of the last locked section: a
    /// kernel UD post longer than it fails at once (IBA 9.8).
    path_mtu: Atomic<u32>,
    ibqp: *mut b::ib_qp,
    service: QpType,
    qpn: u32,
    cap: b::ib_qp_cap,
    sig_all: bool,
    /// A user QP's send ring (none: a kernel QP, which posts work requests).
    sq: Option<UserQueue>,
    rq: Option<UserQueue>,
    /// The SRQ the QP takes its receive WQEs from, or NULL (ib_core keeps
    /// it while the QP exists).
    srq: *mut b::ib_srq,
}

// SAFETY: The pointer is to ib_core objects alive for the transport's life
// (type invariant), used from any thread; the state is behind the lock.
unsafe impl Send for QpTransport {}
// SAFETY: As above.
unsafe impl Sync for QpTransport {}

/// A QP's transport as `rdma resource show qp -dd` shows it.
pub(crate) struct QpDetails {
    /// Send WQEs the engine holds (started or not, until they complete).
    pub(crate) send_wqes: u32,
    /// A kernel QP's work requests posted and not in the engine yet.
    pub(crate) staged_sends: u32,
    pub(crate) rd_atomic_in_flight: u32,
    pub(crate) responses_owed: u32,
    /// Received packets kept behind a deferred one (IBA 9.5).
    pub(crate) deferred_packets: u32,
    /// Completions waiting for room in a full CQ.
    pub(crate) held_completions: u32,
}

/// How a QP is set up: fixed at creation.
pub(crate) struct QpSetup {
    pub(crate) ibqp: *mut b::ib_qp,
    pub(crate) service: QpType,
    pub(crate) qpn: u32,
    pub(crate) cap: b::ib_qp_cap,
    pub(crate) sig_all: bool,
    /// A user QP's rings (a kernel QP has none).
    pub(crate) sq: Option<UserQueue>,
    pub(crate) rq: Option<UserQueue>,
    /// The SRQ (`init.srq`), or NULL.
    pub(crate) srq: *mut b::ib_srq,
}

/// The engine's state for an `enum ib_qp_state` value, and back (the same
/// order, IBA 10.3.1).
pub(crate) fn engine_state(ib: u32) -> Option<QpState> {
    Some(match ib {
        b::ib_qp_state_IB_QPS_RESET => QpState::Reset,
        b::ib_qp_state_IB_QPS_INIT => QpState::Init,
        b::ib_qp_state_IB_QPS_RTR => QpState::Rtr,
        b::ib_qp_state_IB_QPS_RTS => QpState::Rts,
        b::ib_qp_state_IB_QPS_SQD => QpState::Sqd,
        b::ib_qp_state_IB_QPS_SQE => QpState::Sqe,
        b::ib_qp_state_IB_QPS_ERR => QpState::Error,
        _ => return None,
    })
}

pub(crate) fn ib_state(state: QpState) -> u32 {
    match state {
        QpState::Reset => b::ib_qp_state_IB_QPS_RESET,
        QpState::Init => b::ib_qp_state_IB_QPS_INIT,
        QpState::Rtr => b::ib_qp_state_IB_QPS_RTR,
        QpState::Rts => b::ib_qp_state_IB_QPS_RTS,
        QpState::Sqd => b::ib_qp_state_IB_QPS_SQD,
        QpState::Sqe => b::ib_qp_state_IB_QPS_SQE,
        QpState::Error => b::ib_qp_state_IB_QPS_ERR,
    }
}

/// The engine's attribute update for a modify_qp call (`attr`, `mask`),
/// whose values were checked. The engine keeps the P_Key itself: index 0
/// is the one P_Key, the default.
pub(crate) fn attr_update(attr: &b::ib_qp_attr, mask: u32) -> AttrUpdate {
    let has = |bit: u32| mask & bit != 0;
    let mut upd = AttrUpdate::default();
    if has(b::ib_qp_attr_mask_IB_QP_STATE) {
        upd.state = engine_state(attr.qp_state);
    }
    if has(b::ib_qp_attr_mask_IB_QP_DEST_QPN) {
        upd.dest_qpn = Some(attr.dest_qp_num);
    }
    if has(b::ib_qp_attr_mask_IB_QP_PATH_MTU) {
        upd.path_mtu = Mtu::from_ib(attr.path_mtu);
    }
    if has(b::ib_qp_attr_mask_IB_QP_SQ_PSN) {
        upd.sq_psn = Some(attr.sq_psn);
    }
    if has(b::ib_qp_attr_mask_IB_QP_RQ_PSN) {
        upd.rq_psn = Some(attr.rq_psn);
    }
    if has(b::ib_qp_attr_mask_IB_QP_TIMEOUT) {
        upd.timeout = Some(attr.timeout);
    }
    if has(b::ib_qp_attr_mask_IB_QP_RETRY_CNT) {
        upd.retry_cnt = Some(attr.retry_cnt);
    }
    if has(b::ib_qp_attr_mask_IB_QP_RNR_RETRY) {
        upd.rnr_retry = Some(attr.rnr_retry);
    }
    if has(b::ib_qp_attr_mask_IB_QP_MIN_RNR_TIMER) {
        upd.min_rnr_timer = Some(attr.min_rnr_timer);
    }
    if has(b::ib_qp_attr_mask_IB_QP_MAX_QP_RD_ATOMIC) {
        upd.max_rd_atomic = Some(attr.max_rd_atomic);
    }
    if has(b::ib_qp_attr_mask_IB_QP_MAX_DEST_RD_ATOMIC) {
        upd.max_dest_rd_atomic = Some(attr.max_dest_rd_atomic);
    }
    if has(b::ib_qp_attr_mask_IB_QP_ACCESS_FLAGS) {
        upd.access = Some(engine::AccessFlags(attr.qp_access_flags as u32));
    }
    if has(b::ib_qp_attr_mask_IB_QP_QKEY) {
        upd.qkey = Some(attr.qkey);
    }
    upd
}

/// Copies the attributes `mask` names from `from` into `to`, for query_qp.
fn apply(to: &mut b::ib_qp_attr, from: &b::ib_qp_attr, mask: u32) {
    let has = |bit: u32| mask & bit != 0;
    if has(b::ib_qp_attr_mask_IB_QP_ACCESS_FLAGS) {
        to.qp_access_flags = from.qp_access_flags;
    }
    if has(b::ib_qp_attr_mask_IB_QP_PKEY_INDEX) {
        to.pkey_index = from.pkey_index;
    }
    if has(b::ib_qp_attr_mask_IB_QP_PORT) {
        to.port_num = from.port_num;
    }
    if has(b::ib_qp_attr_mask_IB_QP_QKEY) {
        to.qkey = from.qkey;
    }
    if has(b::ib_qp_attr_mask_IB_QP_AV) {
        to.ah_attr = from.ah_attr;
        // rvt keeps no reference on it: never hand it out.
        to.ah_attr.grh.sgid_attr = core::ptr::null();
    }
    if has(b::ib_qp_attr_mask_IB_QP_PATH_MTU) {
        to.path_mtu = from.path_mtu;
    }
    if has(b::ib_qp_attr_mask_IB_QP_TIMEOUT) {
        to.timeout = from.timeout;
    }
    if has(b::ib_qp_attr_mask_IB_QP_RETRY_CNT) {
        to.retry_cnt = from.retry_cnt;
    }
    if has(b::ib_qp_attr_mask_IB_QP_RNR_RETRY) {
        to.rnr_retry = from.rnr_retry;
    }
    if has(b::ib_qp_attr_mask_IB_QP_MAX_QP_RD_ATOMIC) {
        to.max_rd_atomic = from.max_rd_atomic;
    }
    if has(b::ib_qp_attr_mask_IB_QP_MIN_RNR_TIMER) {
        to.min_rnr_timer = from.min_rnr_timer;
    }
    if has(b::ib_qp_attr_mask_IB_QP_MAX_DEST_RD_ATOMIC) {
        to.max_dest_rd_atomic = from.max_dest_rd_atomic;
    }
    if has(b::ib_qp_attr_mask_IB_QP_DEST_QPN) {
        to.dest_qp_num = from.dest_qp_num;
    }
}

/// How a received packet arrived, as a RoCE UD receive completion reports
/// it: its network header type (IPv4 or IPv6) and the VLAN it came in on.
#[derive(Clone, Copy, Default)]
struct Arrival {
    network: Option<u8>,
    vlan: Option<u16>,
}

/// The engine's sink for one locked section: completions go to the CQs
/// (or wait in order for room), a fatal error is noted for its event.
struct QpSink<'a> {
    t: &'a QpTransport,
    held: &'a mut HeldQueues,
    notify: &'a mut Notify,
    /// How the packet being received arrived (RoCE UD receive completions
    /// say it).
    arrival: Arrival,
    /// A send WQE that failed locally (its slot) and the status its
    /// completion reports instead of the flush the engine gives it.
    fail: Option<(u32, engine::WcStatus)>,
}

impl<'a> QpSink<'a> {
    /// A sink for completions with no received packet and no local failure.
    fn new(t: &'a QpTransport, held: &'a mut HeldQueues, notify: &'a mut Notify) -> Self {
        Self {
            t,
            held,
            notify,
            arrival: Arrival::default(),
            fail: None,
        }
    }

    /// Hands a completion of `queue` to its CQ, or holds it if the CQ is
    /// full or holds earlier ones: completions reach the CQ in order.
    fn push(&mut self, queue: Queue, wc: b::ib_wc, solicited: bool) {
        let t = self.t;
        let (cq, held, fire) = match queue {
            Queue::Send => (t.send_cq(), &mut self.held.send, &mut self.notify.send),
            Queue::Recv => (t.recv_cq(), &mut self.held.recv, &mut self.notify.recv),
        };
        if held.front().is_none() {
            let entry = CqEntry { wc, qp_num: t.qpn };
            let (pushed, owed) = Cq::push_quiet(cq, &entry, solicited);
            fire.merge(owed);
            if pushed.is_ok() {
                return;
            }
        }
        // Admission (`consume_sq`, `drain_staged`, `take_recv`) leaves room
        // for it.
        kernel::warn_on!(!held.push(HeldWc { wc, solicited }));
    }
}

impl Sink for QpSink<'_> {
    fn completion(&mut self, c: &Completion) {
        let t = self.t;
        let mut c = *c;
        if let Some((slot, status)) = self.fail {
            if c.queue == Queue::Send && c.slot == slot {
                c.status = status;
                self.fail = None;
            }
        }
        let c = &c;
        if t.sq.is_none() {
            // A kernel WQE is no longer outstanding once it completes.
            let posted = match c.queue {
                Queue::Send => &t.kernel_posted.sends,
                Queue::Recv => &t.kernel_posted.recvs,
            };
            if c.queue == Queue::Send || t.srq.is_null() {
                completed(posted);
            }
        }
        let wc = t.to_ib_wc(c, self.arrival);
        self.push(c.queue, wc, c.solicited);
    }

    fn send_slot_released(&mut self, _slot: u32, _wr_id: u64) {
        // The WQE's copy stays in its slot until the slot is posted again;
        // a user ring slot was given back when it was copied.
        if self.t.sq.is_none() {
            completed(&self.t.kernel_posted.sends);
        }
    }

    fn state_changed(&mut self, state: QpState) {
        if state == QpState::Error {
            self.notify.qp_fatal = true;
        }
    }
}

impl QpTransport {
    /// A QP's transport in the Reset state.
    pub(crate) fn new(setup: QpSetup) -> Result<impl PinInit<Self, Error>> {
        let kernel = setup.sq.is_none();
        let sq_depth = match &setup.sq {
            Some(sq) => sq.capacity() as usize,
            None => setup.cap.max_send_wr as usize,
        };
        let rq_depth = match (&setup.rq, kernel && setup.srq.is_null()) {
            (Some(rq), _) => rq.capacity() as usize,
            (None, true) => setup.cap.max_recv_wr as usize,
            (None, false) => 0,
        };
        let resources = if setup.service == QpType::Rc {
            crate::verbs::qp::MAX_RD_ATOMIC.into()
        } else {
            0
        };
        let engine = EngineQp::new(
            setup.service,
            setup.qpn,
            KVVec::from_elem(SendWqe::EMPTY, sq_depth, GFP_KERNEL)?,
            KVVec::from_elem(ResponderResource::EMPTY, resources, GFP_KERNEL)?,
        );
        let payload = (setup.cap.max_send_sge as usize * wqe::SGE_LEN)
            .max(setup.cap.max_inline_data as usize);
        let locked = Locked {
            engine,
            attr: QpAttr(Default::default()),
            path: None,
            last_now: 0,
            armed: None,
            sq_next: 0,
            rq_next: 0,
            sends: SendSlots::new(sq_depth, payload)?,
            recvs: if setup.srq.is_null() {
                // Ring indices run to the capacity (one slot is kept free);
                // a kernel RQ uses `rq_depth` of them.
                RecvSlots::new(rq_depth + 1, setup.cap.max_recv_sge)?
            } else {
                // SAFETY: ib_core holds the SRQ, one of ours, for the QP.
                let srq = unsafe { IbObject::<b::ib_srq, Srq>::from_raw(setup.srq) };
                // The one WQE the engine holds at a time.
                RecvSlots::new(1, srq.data().max_sge())?
            },
            scratch: KVVec::from_elem(0u8, SEND_WQE_HEADER + payload, GFP_KERNEL)?,
            held: HeldQueues {
                send: Held::with_capacity(sq_depth)?,
                // With an SRQ the engine holds one WQE at a time.
                recv: Held::with_capacity(rq_depth.max(1))?,
            },
            pace: TxPace {
                retry_at: None,
                backoff_ns: TX_BACKOFF_MIN_NS,
            },
            krq: KernelRq::new(if kernel { rq_depth } else { 0 })?,
            kah: KVVec::from_elem(
                b::rvt_path { data: [0; 64] },
                if kernel && setup.service == QpType::Ud {
                    sq_depth + 1
                } else {
                    0
                },
                GFP_KERNEL,
            )?,
            kah_next: 0,
            deferred: Deferred::new(if setup.service == QpType::Rc {
                DEFERRED_MAX
            } else {
                0
            })?,
            cq_retry_at: None,
            cq_backoff_ns: CQ_RETRY_MIN_NS,
            sqd_notify: false,
            last_wqe_reported: false,
        };
        let empty_send = StagedSend::Local {
            wr_id: 0,
            signaled: false,
            op: LocalOp::Invalidate(0),
        };
        let kernel_rq = if kernel && setup.srq.is_null() {
            rq_depth
        } else {
            0
        };
        let staged = Staged {
            sends: StageRing::new(empty_send, if kernel { sq_depth } else { 0 }, payload)?,
            recvs: StageRing::new(
                StagedRecv::default(),
                kernel_rq,
                setup.cap.max_recv_sge as usize * wqe::SGE_LEN,
            )?,
        };
        Ok(try_pin_init!(Self {
            state <- new_spinlock_bh!(locked, "rvt_qp"),
            timer <- QpTimer::new(Self::timer_fn),
            work <- QpWork::new(Self::work_fn),
            closing: Atomic::new(false),
            ib_state: Atomic::new(b::ib_qp_state_IB_QPS_RESET),
            kernel_posted: KernelOutstanding {
                sends: Atomic::new(0),
                recvs: Atomic::new(0),
            },
            path_mtu: Atomic::new(0),
            staged <- new_spinlock_irq!(staged, "rvt_qp_staged"),
            ibqp: setup.ibqp,
            service: setup.service,
            qpn: setup.qpn,
            cap: setup.cap,
            sig_all: setup.sig_all,
            sq: setup.sq,
            rq: setup.rq,
            srq: setup.srq,
        }? Error))
    }

    /// This QP's memory accesses during the locked section of `cx`.
    fn accessor<'a>(&self, cx: &'a Ctx<'_>) -> Accessor<'a> {
        Accessor {
            keys: cx.rvt().mr_keys(),
            rcu: cx.rcu,
            pd: self.pd(),
            kernel: self.sq.is_none(),
            qpn: self.qpn,
        }
    }

    fn dev(&self) -> &IbDevice<RvtDevice> {
        // SAFETY: The QP's device is one of ours and outlives it (type
        // invariant).
        unsafe { IbDevice::from_raw((*self.ibqp).device) }
    }

    fn send_cq(&self) -> &IbObject<b::ib_cq, Cq> {
        // SAFETY: ib_core set the CQs before create_qp and keeps them while
        // the QP exists (type invariant); they are ours.
        unsafe { IbObject::from_raw((*self.ibqp).send_cq) }
    }

    fn recv_cq(&self) -> &IbObject<b::ib_cq, Cq> {
        // SAFETY: As for the send CQ.
        unsafe { IbObject::from_raw((*self.ibqp).recv_cq) }
    }

    fn srq(&self) -> Option<&IbObject<b::ib_srq, Srq>> {
        // SAFETY: ib_core keeps the SRQ, one of ours, while the QP exists
        // (type invariant).
        (!self.srq.is_null()).then(|| unsafe { IbObject::from_raw(self.srq) })
    }

    fn pd(&self) -> *mut b::ib_pd {
        // SAFETY: Set before create_qp and never changed (type invariant).
        unsafe { (*self.ibqp).pd }
    }

    /// The kernel completion for an engine completion.
    fn to_ib_wc(&self, c: &Completion, arrival: Arrival) -> b::ib_wc {
        let mut wc = b::ib_wc {
            status: c.status as u32,
            opcode: c.opcode as u32,
            byte_len: c.byte_len,
            qp: self.ibqp,
            src_qp: c.src_qp,
            wc_flags: c.flags.0 as c_int,
            port_num: 1,
            ..Default::default()
        };
        wc.__bindgen_anon_1.wr_id = c.wr_id;
        if c.flags.contains(WcFlags::WITH_IMM) {
            // ImmDt as it was on the wire: network order in memory.
            wc.ex.imm_data = c.ex.to_be();
        } else if c.flags.contains(WcFlags::WITH_INVALIDATE) {
            wc.ex.invalidate_rkey = c.ex;
        }
        if let Some(network) = arrival.network {
            wc.wc_flags |= b::ib_wc_flags_IB_WC_WITH_NETWORK_HDR_TYPE as c_int;
            wc.network_hdr_type = network;
        }
        if let Some(vlan) = arrival.vlan {
            // ib_cm answers a request from the GID of this VLAN
            // (ib_init_ah_attr_from_wc matches the GID entry's VLAN).
            wc.wc_flags |= b::ib_wc_flags_IB_WC_WITH_VLAN as c_int;
            wc.vlan_id = vlan;
        }
        wc
    }

    fn limits(&self) -> SendLimits {
        SendLimits {
            service: self.service,
            max_sge: self.cap.max_send_sge,
            max_inline: self.cap.max_inline_data,
            sig_all: self.sig_all,
        }
    }

    /// Locks the state, runs `f` on it and the shared run, and fires what
    /// is owed after unlocking. `None` if the QP is being destroyed.
    fn with_locked<R>(
        &self,
        budget: u32,
        f: impl FnOnce(&Self, &mut Locked, &Ctx<'_>, &mut Notify) -> R,
    ) -> Option<R> {
        let dev = self.dev();
        let mut notify = Notify::default();
        let result = {
            let mut guard = self.state.lock();
            if self.closing.load(Relaxed) {
                return None;
            }
            let rcu = rcu::read_lock();
            let cx = Ctx { dev, rcu: &rcu };
            let st: &mut Locked = &mut guard;
            let result = f(self, st, &cx, &mut notify);
            self.run(st, &cx, budget, &mut notify);
            result
        };
        self.fire(notify);
        Some(result)
    }

    /// The POST_SEND doorbell: user space posted send WQEs to the ring.
    /// Process context.
    pub(crate) fn doorbell(&self) -> Result {
        self.with_locked(INLINE_BUDGET, |_, st, _, _| {
            // rxe semantics: no sends before RTS (IBA 10.3.1).
            match st.engine.state() {
                QpState::Reset | QpState::Init | QpState::Rtr => Err(EINVAL),
                _ => Ok(()),
            }
        })
        .unwrap_or(Err(EINVAL))
    }

    /// A packet for this QP (checked, linear); `meta` from the backend.
    /// Softirq, inside the caller's RCU read-side critical section.
    pub(crate) fn receive(&self, skb: OwnedSkb, meta: &b::rvt_rx_meta) {
        self.with_locked(INLINE_BUDGET, |t, st, cx, n| {
            // IBA 9.5: behind a deferred packet, every packet waits its turn.
            if !st.deferred.is_empty() {
                t.keep(st, cx, skb, meta);
                return;
            }
            let verdict = {
                // SAFETY: Checked packets are linear (backend.h).
                let Ok(pkt) = crate::proto::packet::parse(unsafe { skb.linear_data() }) else {
                    return;
                };
                let verdict = t.deliver(st, cx, n, &pkt, meta);
                count_verdict(cx.rvt(), verdict, &pkt);
                verdict
            };
            if verdict == Verdict::Deferred {
                t.keep(st, cx, skb, meta);
            }
        });
    }

    /// Keeps a packet for later delivery, in order (or drops it, counted,
    /// when too many wait: the requester retransmits it).
    fn keep(&self, st: &mut Locked, cx: &Ctx<'_>, mut skb: OwnedSkb, meta: &b::rvt_rx_meta) {
        skb.detach();
        if let Err(dropped) = st.deferred.push_back(Kept { skb, meta: *meta }) {
            drop(dropped);
            cx.rvt().counters().add(Counter::RxDeferredDropped, 1);
        }
    }

    /// Delivers the oldest kept packet again; false if there is none or the
    /// engine defers it again (it then stays first).
    fn redeliver(&self, st: &mut Locked, cx: &Ctx<'_>, n: &mut Notify) -> bool {
        let Some(kept) = st.deferred.pop_front() else {
            return false;
        };
        let verdict = {
            // SAFETY: Kept packets were checked, hence linear.
            let Ok(pkt) = crate::proto::packet::parse(unsafe { kept.skb.linear_data() }) else {
                return true;
            };
            let verdict = self.deliver(st, cx, n, &pkt, &kept.meta);
            if verdict != Verdict::Deferred {
                count_verdict(cx.rvt(), verdict, &pkt);
            }
            verdict
        };
        if verdict == Verdict::Deferred {
            st.deferred.push_front(kept);
            return false;
        }
        true
    }

    /// Hands a packet to the engine.
    fn deliver(
        &self,
        st: &mut Locked,
        cx: &Ctx<'_>,
        n: &mut Notify,
        pkt: &Packet<'_>,
        meta: &b::rvt_rx_meta,
    ) -> Verdict {
        let now = st.tick();
        let grh = (meta.grh_present != 0).then_some(&meta.grh);
        let arrival = Arrival {
            network: grh.map(network_type),
            vlan: (meta.vlan_present != 0).then_some(meta.vlan_id),
        };
        let rx = RxMeta { grh };
        let Locked {
            engine,
            sends,
            recvs,
            rq_next,
            held,
            krq,
            ..
        } = st;
        let mut srq_limit = false;
        let source = match (&self.rq, self.srq()) {
            (Some(ring), _) => RecvSource::Rq {
                ring,
                next: rq_next,
            },
            (None, Some(srq)) => RecvSource::Srq {
                srq: srq.data(),
                limit_reached: &mut srq_limit,
            },
            (None, None) => RecvSource::Kernel { rq: krq },
        };
        let mut mem = QpMem::new(self.accessor(cx), sends, recvs, source, held.recv.room());
        let mut sink = QpSink::new(self, held, &mut *n);
        if self.service == QpType::Ud {
            sink.arrival = arrival;
        }
        let verdict = engine.receive(pkt, &rx, now, &mut mem, &mut sink);
        n.srq_limit |= srq_limit;
        verdict
    }

    /// `modify_qp` after ib_core's and rvt's attribute checks: `path` is
    /// the resolved IB_QP_AV of an RC/UC QP, `port_mtu` the port's active
    /// MTU for a UD QP moving to Init, RTR or RTS (where the engine bounds
    /// its datagrams). `check` sees the current state first (under the
    /// lock) and refuses the call or not.
    pub(crate) fn modify(
        &self,
        attr: &b::ib_qp_attr,
        mask: u32,
        path: Option<b::rvt_path>,
        port_mtu: Option<Mtu>,
        check: impl FnOnce(u32) -> Result,
    ) -> Result {
        self.with_locked(INLINE_BUDGET, |t, st, _, n| {
            check(ib_state(st.engine.state()))?;
            let mut upd = attr_update(attr, mask);
            if let Some(mtu) = port_mtu {
                upd.path_mtu = Some(mtu);
            }
            let mut sink = QpSink::new(t, &mut st.held, &mut *n);
            st.engine.modify(&upd, &mut sink).map_err(|_| EINVAL)?;
            apply(&mut st.attr.0, attr, mask);
            // IBA 11.2.5.2: entering SQD with the notification asked for,
            // the consumer hears once the drain is complete (`run`); an
            // SQD to SQD modify keeps what was asked, leaving SQD forgets it.
            match upd.state {
                Some(QpState::Sqd) => {
                    st.sqd_notify |= mask & b::ib_qp_attr_mask_IB_QP_EN_SQD_ASYNC_NOTIFY != 0
                        && attr.en_sqd_async_notify != 0;
                }
                Some(_) => st.sqd_notify = false,
                None => {}
            }
            if path.is_some() {
                st.path = path;
            }
            if upd.state == Some(QpState::Reset) {
                // Reset is the only way out of Error (IBA 10.3.1): a later
                // entry into Error is reported again.
                st.last_wqe_reported = false;
                // IBA 10.3.1: Reset empties both queues without completions.
                if let Some(sq) = &t.sq {
                    st.sq_next = sq.producer();
                    sq.publish_consumer(st.sq_next);
                }
                st.krq.clear();
                if let Some(rq) = &t.rq {
                    st.rq_next = rq.producer();
                    rq.publish_consumer(st.rq_next);
                }
                // Completions already made (held for a full CQ) are still
                // delivered; packets kept for the old incarnation are not.
                while st.deferred.pop_front().is_some() {}
                {
                    let mut staged = t.staged.lock();
                    staged.sends.clear();
                    staged.recvs.clear();
                }
                t.kernel_posted.sends.store(0, Relaxed);
                t.kernel_posted.recvs.store(0, Relaxed);
            }
            Ok(())
        })
        .unwrap_or(Err(EINVAL))
    }

    pub(crate) fn details(&self) -> QpDetails {
        let st = self.state.lock();
        let status = st.engine.status();
        let staged_sends = self.staged.lock().sends.len;
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        QpDetails {
            send_wqes: count(st.engine.send_queue_len()),
            staged_sends: count(staged_sends),
            rd_atomic_in_flight: status.rd_atomic_in_flight,
            responses_owed: status.responses_owed,
            deferred_packets: count(st.deferred.len),
            held_completions: count(st.held.send.len + st.held.recv.len),
        }
    }

    /// `query_qp`: what modify set, with the live state and PSNs.
    pub(crate) fn query(&self, attr: &mut b::ib_qp_attr) {
        let st = self.state.lock();
        let status = st.engine.status();
        *attr = st.attr.0;
        attr.qp_state = ib_state(status.state);
        attr.cur_qp_state = attr.qp_state;
        attr.sq_psn = status.send_psn;
        attr.rq_psn = status.expected_psn;
        attr.sq_draining = u8::from(status.state == QpState::Sqd && !status.sq_drained);
    }

    /// Stops everything that could reach the QP from outside its verbs;
    /// returns once none of it runs. First thing in destroy (process
    /// context); `unpublish` takes the QP out of the QPN table and waits
    /// for an RCU grace period.
    pub(crate) fn shutdown(&self, unpublish: impl FnOnce()) {
        unpublish();
        {
            let mut st = self.state.lock();
            self.closing.store(true, Relaxed);
            st.armed = None;
        }
        // A callback that ran before `closing` may have armed the timer or
        // queued the work; none will after it.
        self.timer.cancel_sync();
        self.work.disable_sync();
    }

    /// The shared tail of every locked section.
    fn run(&self, st: &mut Locked, cx: &Ctx<'_>, budget: u32, n: &mut Notify) {
        let now = st.tick();
        self.offer_held(st, now, n);
        let waiting = self.drain_staged(st, n) | self.consume_sq(st, n);
        if st.pace.retry_at.is_some_and(|at| at <= now) {
            st.pace.retry_at = None;
        }
        if st.pace.retry_at.is_none() {
            let more = self.drain_tx(st, cx, now, budget, n);
            n.work |= more;
        }
        // A memory operation waited for WQEs that this transmission
        // completed (UC, UD): the work item executes it and what follows.
        n.work |= waiting && st.engine.send_queue_len() == 0;
        if st.engine.state() == QpState::Error {
            self.flush_rq(st, n);
            // IBA 11.6.3.1, Last WQE Reached: entering Error completed
            // the receive WQE the engine held in error, and no other WQE
            // of the SRQ will be taken; the consumer hears once, so it
            // may destroy the QP knowing no receive of it is left
            // (ib_drain_qp waits for this event, up to 60 s).
            if self.srq().is_some() && !st.last_wqe_reported {
                st.last_wqe_reported = true;
                n.last_wqe_reached = true;
            }
        }
        if st.sqd_notify {
            // Only in SQD (the engine may have moved the QP to Error).
            let status = st.engine.status();
            if status.state != QpState::Sqd || status.sq_drained {
                st.sqd_notify = false;
                n.sq_drained = status.state == QpState::Sqd;
            }
        }
        self.ib_state.store(ib_state(st.engine.state()), Relaxed);
        self.path_mtu
            .store(st.engine.attrs().path_mtu.bytes(), Relaxed);
        // Whatever this run left held (a full CQ) is offered again later,
        // also when nothing else would run the QP.
        if st.cq_retry_at.is_none() && (st.held.send.len != 0 || st.held.recv.len != 0) {
            st.cq_retry_at = Some(now + st.cq_backoff_ns);
        }
        let want = [st.engine.poll_timeout(), st.pace.retry_at, st.cq_retry_at]
            .into_iter()
            .flatten()
            .min();
        if want != st.armed {
            match want {
                Some(deadline) => self.timer.arm(deadline),
                None => self.timer.try_disarm(),
            }
            st.armed = want;
        }
    }

    /// Offers the completions full CQs refused again, in order.
    fn offer_held(&self, st: &mut Locked, now: u64, n: &mut Notify) {
        if st.cq_retry_at.is_some_and(|at| at > now) {
            return;
        }
        st.cq_retry_at = None;
        let mut refused = false;
        for (held, cq, fire) in [
            (&mut st.held.send, self.send_cq(), &mut n.send),
            (&mut st.held.recv, self.recv_cq(), &mut n.recv),
        ] {
            while let Some(wc) = held.front() {
                let entry = CqEntry {
                    wc: wc.wc,
                    qp_num: self.qpn,
                };
                let (pushed, owed) = Cq::push_quiet(cq, &entry, wc.solicited);
                fire.merge(owed);
                if pushed.is_err() {
                    refused = true;
                    break;
                }
                held.pop();
            }
        }
        st.cq_backoff_ns = if refused {
            (st.cq_backoff_ns * 2).min(CQ_RETRY_MAX_NS)
        } else {
            CQ_RETRY_MIN_NS
        };
    }

    /// Copies the send WQEs user space posted into the engine, while it and
    /// the held completions have room: the ring slot goes back to user
    /// space once copied. A malformed WQE completes in error and moves the
    /// QP to Error (the WQEs after it are flushed).
    fn consume_sq(&self, st: &mut Locked, n: &mut Notify) -> bool {
        let Some(sq) = &self.sq else {
            return false;
        };
        if matches!(
            st.engine.state(),
            QpState::Reset | QpState::Init | QpState::Rtr
        ) {
            return false;
        }
        let producer = sq.producer();
        let capacity = sq.capacity() as usize;
        let limits = self.limits();
        while st.sq_next != producer {
            if st.engine.send_queue_len() + (capacity - st.held.send.room()) >= capacity {
                break;
            }
            sq.read_slot(st.sq_next, 0, &mut st.scratch);
            let (head, payload) = st.scratch.split_at(SEND_WQE_HEADER);
            let Ok(head) = <&[u8; SEND_WQE_HEADER]>::try_from(head) else {
                break;
            };
            let header = SendHeader::parse(head);
            if let Some(op) = user_local_op(&header) {
                if self.service != QpType::Ud {
                    if !local_op_may_start(&st.engine) {
                        return waits_for_wqes(&st.engine);
                    }
                    let signaled = self.sig_all
                        || header.send_flags & b::ib_send_flags_IB_SEND_SIGNALED as u32 != 0;
                    self.execute_local(st, n, header.wr_id, signaled, op);
                    st.sq_next = sq.next(st.sq_next);
                    sq.publish_consumer(st.sq_next);
                    continue;
                }
            }
            let mut sink = QpSink::new(self, &mut st.held, &mut *n);
            let failed = match wqe::to_send_wr(&header, payload, &limits) {
                Ok((wr, data)) => match st.engine.post_send(&wr, &mut sink) {
                    Ok(slot) => {
                        st.sends.store(slot, data, payload);
                        None
                    }
                    // Left in the ring: the engine's slots are busy.
                    Err(PostError::QueueFull | PostError::InvalidState) => break,
                    Err(PostError::TooLong) => Some(engine::WcStatus::LocLenErr),
                    Err(PostError::InvalidOpcode) => Some(engine::WcStatus::LocQpOpErr),
                },
                Err(malformed) => Some(malformed.status()),
            };
            if let Some(status) = failed {
                fail_posted(&mut st.engine, &mut sink, header.wr_id, status);
            }
            st.sq_next = sq.next(st.sq_next);
            sq.publish_consumer(st.sq_next);
        }
        false
    }

    /// In Error: the receive WQEs user space posted complete as flushed
    /// (IBA 10.3.1; the provider posts without a system call, so every run
    /// looks again).
    fn flush_rq(&self, st: &mut Locked, n: &mut Notify) {
        // The producer is read once, and at most a ring's worth is flushed
        // per run: a user moving it on all the time cannot keep us here.
        let producer = self.rq.as_ref().map(UserQueue::producer);
        let mut budget = self
            .rq
            .as_ref()
            .map_or(usize::MAX, |rq| rq.capacity() as usize);
        while st.held.recv.room() > 0 && budget > 0 {
            budget -= 1;
            let (wr_id, slot) = match &self.rq {
                Some(rq) => {
                    if Some(st.rq_next) == producer {
                        return;
                    }
                    let index = st.rq_next;
                    let wr_id = st.recvs.wr_id_of(rq, index);
                    st.rq_next = rq.next(index);
                    rq.publish_consumer(st.rq_next);
                    (wr_id, index)
                }
                None => match st.krq.pop() {
                    Some((slot, wr_id, _)) => (wr_id, slot),
                    None => return,
                },
            };
            let mut sink = QpSink::new(self, &mut st.held, &mut *n);
            sink.completion(&Completion {
                queue: Queue::Recv,
                wr_id,
                slot,
                status: engine::WcStatus::WrFlushErr,
                opcode: engine::WcOpcode::Recv,
                byte_len: 0,
                flags: WcFlags::NONE,
                ex: 0,
                src_qp: 0,
                solicited: false,
            });
        }
    }

    /// `post_send` of a kernel QP: each work request of the list is checked
    /// (the same rules as a user WQE's) and copied (its SGE list, or its
    /// inline data from the kernel addresses it names, and its AH's path)
    /// into the QP's staging queue; a refused request fails the call,
    /// `bad_wr` naming it (`EINVAL`: invalid, or the QP is not in RTS;
    /// `ENOMEM`: the queue is full). Any context: with interrupts on, the
    /// requests go to the engine and transmission starts at once; with them
    /// off (ib_mad posts under an IRQ-safe lock) the work item does it.
    pub(crate) fn post_kernel_sends(
        &self,
        first: *const b::ib_send_wr,
        bad_wr: &mut *const b::ib_send_wr,
    ) -> Result {
        if self.sq.is_some() || self.closing.load(Relaxed) {
            return Err(EINVAL);
        }
        let state = engine_state(self.ib_state.load(Relaxed));
        if matches!(
            state,
            Some(QpState::Reset | QpState::Init | QpState::Rtr) | None
        ) {
            return Err(EINVAL);
        }
        let posted = {
            let mut staged = self.staged.lock();
            // SAFETY: ib_core passes a valid list.
            unsafe { kwr::for_each(first, bad_wr, |w| self.stage_send(&mut staged, w)) }
        };
        // Those before a refused one are posted: run them either way.
        self.kick();
        posted
    }

    /// Runs the QP now if interrupts are on, else leaves it to the work item.
    fn kick(&self) {
        // SAFETY: Reads the CPU's interrupt flag.
        if unsafe { b::rvt_helper_irqs_disabled() } {
            if !self.closing.load(Relaxed) {
                self.work.queue(self.dev().data().workqueue());
            }
        } else {
            self.with_locked(INLINE_BUDGET, |_, _, _, _| {});
        }
    }

    fn stage_send(&self, staged: &mut Staged, wr: &b::ib_send_wr) -> Result {
        // IBA 11.4.1.1: at most max_send_wr outstanding, counted until each
        // one's completion.
        if self.kernel_posted.sends.load(Relaxed) >= self.cap.max_send_wr {
            return Err(ENOMEM);
        }
        if let Some(op) = self.local_op(wr)? {
            let (entry, _) = staged.sends.tail().ok_or(ENOMEM)?;
            *entry = StagedSend::Local {
                // SAFETY: Both members of the union are the same 64 bits.
                wr_id: unsafe { wr.__bindgen_anon_1.wr_id },
                signaled: self.sig_all
                    || wr.send_flags & b::ib_send_flags_IB_SEND_SIGNALED as c_int != 0,
                op,
            };
            staged.sends.commit();
            self.kernel_posted.sends.add(1u32, Relaxed);
            return Ok(());
        }
        let limits = self.limits();
        let num_sge = u32::try_from(wr.num_sge).map_err(|_| EINVAL)?;
        if num_sge > limits.max_sge {
            return Err(EINVAL);
        }
        // SAFETY: A kernel work request's `sg_list` holds `num_sge` SGEs.
        let sges = unsafe { kwr::sges(wr.sg_list, num_sge) };
        let (entry, payload) = staged.sends.tail().ok_or(ENOMEM)?;
        let mut header = SendHeader {
            // SAFETY: Both members of the union are the same 64 bits.
            wr_id: unsafe { wr.__bindgen_anon_1.wr_id },
            opcode: wr.opcode,
            send_flags: wr.send_flags as u32,
            num_sge,
            ..Default::default()
        };
        // SAFETY: Both members of the union are the same 32 bits.
        let ex = unsafe { wr.ex.invalidate_rkey };
        header.ex = if wr.opcode == b::ib_wr_opcode_IB_WR_SEND_WITH_INV {
            ex.to_le_bytes()
        } else {
            // ImmDt is stored in network order.
            ex.to_ne_bytes()
        };
        if wr.send_flags & b::ib_send_flags_IB_SEND_INLINE as c_int != 0 {
            let mut len = 0usize;
            for sge in sges {
                let piece = sge.length as usize;
                let dst = payload.get_mut(len..len + piece).ok_or(EINVAL)?;
                // SAFETY: A kernel consumer's inline SGE names kernel memory
                // it owns, `length` bytes at the virtual address `addr`
                // (rvt is a virtual-DMA device).
                unsafe {
                    core::ptr::copy_nonoverlapping(
                        sge.addr as usize as *const u8,
                        dst.as_mut_ptr(),
                        piece,
                    )
                };
                len += piece;
            }
            header.dma_length = u32::try_from(len).map_err(|_| EINVAL)?;
        } else {
            wqe::write_sges(payload, sges).ok_or(EINVAL)?;
        }
        let path = self.kernel_wr_fields(wr, &mut header)?;
        let (wr_copy, data) = wqe::to_send_wr(&header, payload, &limits).map_err(|_| EINVAL)?;
        // IBA 9.8: a datagram fits in one packet.
        if self.service == QpType::Ud && wr_copy.len > self.path_mtu.load(Relaxed) {
            return Err(EINVAL);
        }
        *entry = StagedSend::Engine {
            wr: wr_copy,
            data,
            path,
        };
        staged.sends.commit();
        self.kernel_posted.sends.add(1u32, Relaxed);
        Ok(())
    }

    /// The memory operation a kernel work request asks for, if it is one:
    /// a fast registration of one of this device's fast-registration MRs
    /// (its address, length and page size read now, as `ib_map_mr_sg` and
    /// the consumer left them), or a Local Invalidate. `EINVAL` for an MR
    /// that is not such an MR.
    fn local_op(&self, wr: &b::ib_send_wr) -> Result<Option<LocalOp>> {
        match wr.opcode {
            b::ib_wr_opcode_IB_WR_REG_MR => {
                // SAFETY: A REG_MR work request is the `wr` of an `ib_reg_wr`.
                let reg =
                    unsafe { &*kernel::container_of!(core::ptr::from_ref(wr), b::ib_reg_wr, wr) };
                let mr = reg.mr;
                if mr.is_null() {
                    return Err(EINVAL);
                }
                // SAFETY: The consumer's live MR, read while it posts; only
                // one of this device's is used further.
                let (device, mr_type) = unsafe { ((*mr).device, (*mr).type_) };
                if device != self.dev().as_raw() || mr_type != b::ib_mr_type_IB_MR_TYPE_MEM_REG {
                    return Err(EINVAL);
                }
                // SAFETY: As above.
                let (iova, length, page_size) =
                    unsafe { ((*mr).iova, (*mr).length, (*mr).page_size) };
                Ok(Some(LocalOp::Register(FastReg {
                    mr,
                    key: reg.key,
                    access: reg.access as u32,
                    iova,
                    length,
                    page_size,
                })))
            }
            b::ib_wr_opcode_IB_WR_LOCAL_INV => {
                // SAFETY: Both members of the union are the same 32 bits.
                let key = unsafe { wr.ex.invalidate_rkey };
                Ok(Some(LocalOp::Invalidate(key)))
            }
            _ => Ok(None),
        }
    }

    /// Fills the opcode-specific fields of a kernel work request into
    /// `header`; for UD, checks the AH (in the QP's PD) and returns its
    /// path (the WQE names it by an id given when it reaches the engine).
    fn kernel_wr_fields(
        &self,
        wr: &b::ib_send_wr,
        header: &mut SendHeader,
    ) -> Result<Option<b::rvt_path>> {
        let wr_ptr = core::ptr::from_ref(wr);
        match (self.service, wr.opcode) {
            (QpType::Ud, _) => {
                // SAFETY: A UD work request is the `wr` of an `ib_ud_wr`.
                let ud = unsafe { &*kernel::container_of!(wr_ptr, b::ib_ud_wr, wr) };
                if ud.ah.is_null() {
                    return Err(EINVAL);
                }
                // SAFETY: The consumer's live AH, one of ours.
                let ah = unsafe { IbObject::<b::ib_ah, crate::verbs::ah::Ah>::from_raw(ud.ah) };
                // SAFETY: ib_core set the AH's PD at creation.
                if unsafe { (*ah.as_raw()).pd } != self.pd() {
                    return Err(EINVAL);
                }
                // Any non-zero value: the id is set when the WQE is posted.
                header.ah_num = 1;
                header.remote_qpn = ud.remote_qpn;
                header.remote_qkey = ud.remote_qkey;
                Ok(Some(*ah.data().path()))
            }
            (
                _,
                b::ib_wr_opcode_IB_WR_RDMA_WRITE
                | b::ib_wr_opcode_IB_WR_RDMA_WRITE_WITH_IMM
                | b::ib_wr_opcode_IB_WR_RDMA_READ,
            ) => {
                // SAFETY: An RDMA work request is the `wr` of an `ib_rdma_wr`.
                let rdma = unsafe { &*kernel::container_of!(wr_ptr, b::ib_rdma_wr, wr) };
                header.remote_addr = rdma.remote_addr;
                header.rdma_rkey = rdma.rkey;
                Ok(None)
            }
            (
                _,
                b::ib_wr_opcode_IB_WR_ATOMIC_CMP_AND_SWP
                | b::ib_wr_opcode_IB_WR_ATOMIC_FETCH_AND_ADD,
            ) => {
                // SAFETY: An atomic work request is the `wr` of an `ib_atomic_wr`.
                let atomic = unsafe { &*kernel::container_of!(wr_ptr, b::ib_atomic_wr, wr) };
                header.remote_addr = atomic.remote_addr;
                header.compare_add = atomic.compare_add;
                header.swap = atomic.swap;
                header.atomic_rkey = atomic.rkey;
                Ok(None)
            }
            _ => Ok(None),
        }
    }

    /// `post_recv` of a kernel QP (not on an SRQ): each work request is
    /// checked and its SGE list copied into the staging queue. `EINVAL`
    /// (too many SGEs, a QP in Reset), `ENOMEM` (the queue is full),
    /// `bad_wr` naming the request. Any context, as for `post_send`.
    pub(crate) fn post_kernel_recvs(
        &self,
        first: *const b::ib_recv_wr,
        bad_wr: &mut *const b::ib_recv_wr,
    ) -> Result {
        if self.sq.is_some() || !self.srq.is_null() || self.closing.load(Relaxed) {
            return Err(EINVAL);
        }
        if self.ib_state.load(Relaxed) == b::ib_qp_state_IB_QPS_RESET {
            return Err(EINVAL);
        }
        let posted = {
            let mut staged = self.staged.lock();
            // SAFETY: ib_core passes a valid list.
            unsafe { kwr::for_each(first, bad_wr, |w| self.stage_recv(&mut staged, w)) }
        };
        // Those before a refused one are posted: run them either way.
        self.kick();
        posted
    }

    fn stage_recv(&self, staged: &mut Staged, w: &b::ib_recv_wr) -> Result {
        let num_sge = u32::try_from(w.num_sge).map_err(|_| EINVAL)?;
        if num_sge > self.cap.max_recv_sge {
            return Err(EINVAL);
        }
        // IBA 11.4.1.2: at most max_recv_wr outstanding, counted until each
        // one's completion.
        if self.kernel_posted.recvs.load(Relaxed) >= self.cap.max_recv_wr {
            return Err(ENOMEM);
        }
        // SAFETY: A kernel work request's `sg_list` holds `num_sge` SGEs.
        let sges = unsafe { kwr::sges(w.sg_list, num_sge) };
        let (entry, bytes) = staged.recvs.tail().ok_or(ENOMEM)?;
        let len = wqe::write_sges(bytes, sges).ok_or(EINVAL)?;
        *entry = StagedRecv {
            // SAFETY: Both members of the union are the same 64 bits.
            wr_id: unsafe { w.__bindgen_anon_1.wr_id },
            num_sge,
            len,
        };
        staged.recvs.commit();
        self.kernel_posted.recvs.add(1u32, Relaxed);
        Ok(())
    }

    /// Moves staged kernel work requests to the engine and the RQ, in
    /// order, while they have room (the rest waits for completions), and
    /// executes memory operations once the engine's send queue is empty.
    /// True if a memory operation waits for the WQEs before it.
    fn drain_staged(&self, st: &mut Locked, n: &mut Notify) -> bool {
        if self.sq.is_some() {
            return false;
        }
        let mut staged = self.staged.lock();
        let mut posted_recv = false;
        while let Some((entry, bytes)) = staged.recvs.front() {
            let Some(slot) = st.krq.tail() else {
                break;
            };
            if st.recvs.store_bytes(slot, bytes, entry.num_sge).is_none() {
                break;
            }
            st.krq.push(slot, entry.wr_id, entry.len);
            staged.recvs.pop();
            posted_recv = true;
        }
        let capacity = st.sends.slots();
        let mut waiting = false;
        while let Some((entry, payload)) = staged.sends.front() {
            if st.engine.send_queue_len() + (capacity - st.held.send.room()) >= capacity {
                break;
            }
            let (mut wr, data, path) = match entry {
                StagedSend::Engine { wr, data, path } => (wr, data, path),
                StagedSend::Local {
                    wr_id,
                    signaled,
                    op,
                } => {
                    if !local_op_may_start(&st.engine) {
                        waiting = waits_for_wqes(&st.engine);
                        break;
                    }
                    self.execute_local(st, n, wr_id, signaled, op);
                    staged.sends.pop();
                    continue;
                }
            };
            if let Some(path) = path {
                st.kah_next = st.kah_next.wrapping_add(1).max(1);
                wr.ud.ah = st.kah_next;
                let len = st.kah.len() as u32;
                if let Some(kah) = st.kah.get_mut((st.kah_next % len.max(1)) as usize) {
                    *kah = path;
                }
            }
            let mut sink = QpSink::new(self, &mut st.held, &mut *n);
            match st.engine.post_send(&wr, &mut sink) {
                Ok(slot) => st.sends.store(slot, data, payload),
                Err(PostError::QueueFull) => break,
                // The state went back to Reset, Init or RTR since the post
                // was accepted: as if it had been posted in Error (IBA
                // 10.3.1, a flushed WQE).
                Err(PostError::InvalidState) => fail_posted(
                    &mut st.engine,
                    &mut sink,
                    wr.wr_id,
                    engine::WcStatus::WrFlushErr,
                ),
                Err(PostError::TooLong) => fail_posted(
                    &mut st.engine,
                    &mut sink,
                    wr.wr_id,
                    engine::WcStatus::LocLenErr,
                ),
                Err(PostError::InvalidOpcode) => fail_posted(
                    &mut st.engine,
                    &mut sink,
                    wr.wr_id,
                    engine::WcStatus::LocQpOpErr,
                ),
            }
            staged.sends.pop();
        }
        drop(staged);
        if posted_recv {
            // IBA 9.7.7.2: more credits to advertise, maybe.
            let mut sink = QpSink::new(self, &mut st.held, n);
            let posted = KernelRqCount(st.krq.len());
            st.engine.recv_posted(&posted, &mut sink);
        }
        waiting
    }

    /// Executes a memory operation of the send queue, every WQE before it
    /// completed: flushed in Error; else registered, invalidated or bound,
    /// and on failure the QP moves to Error (IBA 10.8.3.2). Its completion
    /// is reported if it failed or was signaled.
    fn execute_local(
        &self,
        st: &mut Locked,
        n: &mut Notify,
        wr_id: u64,
        signaled: bool,
        op: LocalOp,
    ) {
        let mut sink = QpSink::new(self, &mut st.held, n);
        let (opcode, failed) = op.completion();
        let status = if st.engine.state() == QpState::Error {
            b::ib_wc_status_IB_WC_WR_FLUSH_ERR
        } else {
            let keys = self.dev().data().mr_keys();
            let rcu = rcu::read_lock();
            let (pd, qpn) = (self.pd(), self.qpn);
            let done = match op {
                LocalOp::Register(reg) => keys.fast_register(pd, &reg, &rcu),
                LocalOp::Invalidate(key) => keys.invalidate(pd, qpn, key, false, &rcu),
                LocalOp::Bind(bind) => keys.bind_mw(pd, qpn, &bind, &rcu),
            };
            if done.is_ok() {
                b::ib_wc_status_IB_WC_SUCCESS
            } else {
                to_error(&mut st.engine, &mut sink);
                failed
            }
        };
        if self.sq.is_none() {
            completed(&self.kernel_posted.sends);
        }
        if signaled || status != b::ib_wc_status_IB_WC_SUCCESS {
            let mut wc = b::ib_wc {
                status,
                opcode,
                qp: self.ibqp,
                port_num: 1,
                ..Default::default()
            };
            wc.__bindgen_anon_1.wr_id = wr_id;
            sink.push(Queue::Send, wc, false);
        }
    }

    /// Transmits up to `budget` packets; true if the engine had more.
    fn drain_tx(
        &self,
        st: &mut Locked,
        cx: &Ctx<'_>,
        now: u64,
        budget: u32,
        n: &mut Notify,
    ) -> bool {
        let rvt = cx.rvt();
        let handle = device::handle(cx.dev);
        for _ in 0..budget {
            let mut header = [0u8; MAX_HEADER_LEN];
            let mut sink = QpSink::new(self, &mut st.held, &mut *n);
            let Some(t) = st.engine.poll_transmit(now, &mut header, &mut sink) else {
                // The responses are out: what the engine deferred goes in
                // again, in order (IBA 9.5), and may owe more packets.
                if self.redeliver(st, cx, n) {
                    continue;
                }
                return false;
            };
            let Some(path) = self.path_of(&st.path, &st.kah, cx, &t) else {
                // No path (an RC/UC QP without one, a UD AH destroyed or
                // of another PD): the WQE fails, the QP goes to Error.
                rvt.counters().add(Counter::TxErrors, 1);
                fail_local(&mut st.engine, &mut sink, &t, engine::WcStatus::LocQpOpErr);
                continue;
            };
            let payload = t.payload.len() as usize;
            let len = t.header_len + payload + usize::from(t.pad);
            // SAFETY: A device whose private area is live (it has a QP).
            let skb = unsafe { rvt.ops().get_send_buffer(handle, 1, &path, len as u32) };
            if skb.is_null() {
                st.engine.hand_back_transmit();
                st.pace.back_off(now);
                rvt.counters().add(Counter::TxBusy, 1);
                return false;
            }
            // SAFETY: A fresh skb with room for `len` bytes (backend.h).
            let data = unsafe { b::skb_put(skb, len as u32) }.cast::<u8>();
            // SAFETY: `skb_put` returned `len` writable bytes, ours.
            let out = unsafe { core::slice::from_raw_parts_mut(data, len) };
            let (head, rest) = out.split_at_mut(t.header_len);
            head.copy_from_slice(header.get(..t.header_len).unwrap_or(&[]));
            let (body, pad) = rest.split_at_mut(payload);
            pad.fill(0);
            let copied = super::mem::copy_payload(&self.accessor(cx), &st.sends, &t.payload, body);
            if copied.is_err() {
                // SAFETY: Ours, not handed to the backend.
                unsafe { b::rvt_helper_kfree_skb(skb) };
                rvt.counters().add(Counter::TxCopyErrors, 1);
                match t.payload {
                    // The WQE's own memory (an lkey gone or out of range):
                    // IBA 10.8.3.2, a local protection error.
                    Payload::Local { .. } => {
                        fail_local(&mut st.engine, &mut sink, &t, engine::WcStatus::LocProtErr)
                    }
                    // A READ response whose region went since the request
                    // was checked: lost like on the wire (the requester
                    // retries, then fails).
                    _ => st.engine.transmit_taken(&mut sink),
                }
                continue;
            }
            // SAFETY: As for `get_send_buffer`; the skb is the backend's now.
            let sent = unsafe { rvt.ops().send(handle, 1, skb, &path) };
            if sent == 0 {
                st.engine.transmit_taken(&mut sink);
                st.pace.backoff_ns = TX_BACKOFF_MIN_NS;
                rvt.counters().add(Counter::TxPackets, 1);
                rvt.counters().add(Counter::TxBytes, len as u64);
            } else if sent == EBUSY.to_errno() {
                // The same packet again after a short wait.
                st.engine.hand_back_transmit();
                st.pace.back_off(now);
                rvt.counters().add(Counter::TxBusy, 1);
                return false;
            } else {
                // Lost as on the wire: RC retransmits.
                st.engine.transmit_taken(&mut sink);
                rvt.counters().add(Counter::TxErrors, 1);
            }
        }
        true
    }

    /// Where a packet goes: the QP's path (RC/UC), or the path of the UD
    /// work request's AH, which must still exist and be in the QP's PD.
    fn path_of(
        &self,
        qp_path: &Option<b::rvt_path>,
        kah: &[b::rvt_path],
        cx: &Ctx<'_>,
        t: &Transmit,
    ) -> Option<b::rvt_path> {
        if t.ah == 0 {
            return *qp_path;
        }
        if self.sq.is_none() {
            // A kernel UD QP: the path its WQE's AH had when posted.
            let len = kah.len() as u32;
            return kah.get(t.ah.checked_rem(len)? as usize).copied();
        }
        let ah = cx.rvt().ahs().get(t.ah, cx.rcu)?;
        // SAFETY: A live AH (the RCU guard): ib_core set its PD at creation.
        if unsafe { (*ah.as_raw()).pd } != self.pd() {
            return None;
        }
        Some(*ah.data().path())
    }

    /// Fires what a locked section owed, with no lock held.
    fn fire(&self, n: Notify) {
        let (send, recv) = (self.send_cq(), self.recv_cq());
        if core::ptr::eq(send, recv) {
            let mut both = n.send;
            both.merge(n.recv);
            Cq::fire(send, both);
        } else {
            Cq::fire(send, n.send);
            Cq::fire(recv, n.recv);
        }
        if n.qp_fatal {
            self.raise(b::ib_event_type_IB_EVENT_QP_FATAL);
        }
        if n.sq_drained {
            self.raise(b::ib_event_type_IB_EVENT_SQ_DRAINED);
        }
        if n.last_wqe_reached {
            self.raise(b::ib_event_type_IB_EVENT_QP_LAST_WQE_REACHED);
        }
        if n.srq_limit {
            if let Some(srq) = self.srq() {
                srq_limit_reached(srq);
            }
        }
        if n.work && !self.closing.load(Relaxed) {
            self.work.queue(self.dev().data().workqueue());
        }
    }

    /// Calls the QP's async event handler (IBA 11.6.3).
    fn raise(&self, event: u32) {
        let qp = self.ibqp;
        // SAFETY: ib_core set the handler and context before create_qp.
        let (handler, context) = unsafe { ((*qp).event_handler, (*qp).qp_context) };
        let Some(handler) = handler else {
            return;
        };
        let mut ev = b::ib_event {
            // SAFETY: As above.
            device: unsafe { (*qp).device },
            event,
            ..Default::default()
        };
        ev.element.qp = qp;
        // SAFETY: The consumer's handler with a valid event, no lock held.
        unsafe { handler(&mut ev, context) };
    }

    fn on_timer(&self) {
        self.with_locked(WORK_BUDGET, |t, st, cx, n| {
            st.armed = None;
            let now = st.tick();
            if st
                .engine
                .deadline(Timer::Retransmit)
                .is_some_and(|d| d <= now)
            {
                cx.rvt().counters().add(Counter::RetransmitTimeouts, 1);
            }
            let mut sink = QpSink::new(t, &mut st.held, &mut *n);
            st.engine.handle_timeout(now, &mut sink);
        });
    }

    /// # Safety
    ///
    /// Called by the hrtimer core for the `timer` of a live transport.
    unsafe extern "C" fn timer_fn(timer: *mut kb::hrtimer) -> kb::hrtimer_restart {
        // SAFETY: `QpTimer` is a transparent wrapper of the hrtimer, the
        // `timer` field of a transport that is alive while its timer can
        // run (type invariant).
        let t = unsafe { &*kernel::container_of!(timer.cast::<QpTimer>(), QpTransport, timer) };
        t.on_timer();
        kb::hrtimer_restart::HRTIMER_NORESTART
    }

    /// # Safety
    ///
    /// Called by the workqueue for the `work` of a live transport.
    unsafe extern "C" fn work_fn(work: *mut kb::work_struct) {
        // SAFETY: As for the timer: `QpWork` wraps the work item, which
        // runs only while its transport is alive (type invariant).
        let t = unsafe { &*kernel::container_of!(work.cast::<QpWork>(), QpTransport, work) };
        t.with_locked(WORK_BUDGET, |_, _, _, _| {});
    }
}

/// Whether a memory operation at the head of the send queue may execute:
/// in order, once every WQE before it has completed, and not in SQD, where
/// no new WQE starts (IBA 10.3.1).
fn local_op_may_start(engine: &EngineQp) -> bool {
    engine.send_queue_len() == 0 && engine.state() != QpState::Sqd
}

/// Whether a memory operation that may not start waits for the WQEs
/// before it, whose completions run the QP again; one that waits for the
/// QP to leave SQD is run by that modify.
fn waits_for_wqes(engine: &EngineQp) -> bool {
    engine.send_queue_len() != 0
}

/// The memory operation a user send WQE asks for, if it is one (RC and UC
/// only: on UD the WQE is refused as any other opcode UD lacks).
fn user_local_op(header: &SendHeader) -> Option<LocalOp> {
    match header.opcode {
        b::ib_wr_opcode_IB_WR_LOCAL_INV => Some(LocalOp::Invalidate(u32::from_le_bytes(header.ex))),
        b::ib_wr_opcode_IB_WR_BIND_MW => {
            let mw = header.mw;
            Some(LocalOp::Bind(MwBind {
                mw_key: mw.mw_rkey,
                new_key: mw.rkey,
                mr_key: mw.mr_lkey,
                addr: mw.addr,
                length: mw.length,
                access: mw.access,
            }))
        }
        _ => None,
    }
}

/// A send WQE the engine did not take fails with `status`: the QP moves to
/// Error first, which flushes the WQEs before it in order, then its own
/// completion follows (IBA 10.8.3.2: a local error completes the WQE in
/// error and the QP enters Error; the completion is the report).
fn fail_posted(engine: &mut EngineQp, sink: &mut QpSink<'_>, wr_id: u64, status: engine::WcStatus) {
    to_error(engine, sink);
    sink.completion(&Completion {
        queue: Queue::Send,
        wr_id,
        slot: u32::MAX,
        status,
        opcode: engine::WcOpcode::Send,
        byte_len: 0,
        flags: WcFlags::NONE,
        ex: 0,
        src_qp: 0,
        solicited: false,
    });
}

/// A packet `poll_transmit` gave cannot be built from its WQE: the packet is
/// handed back, the QP moved to Error (which flushes the send queue in
/// order) and the WQE's completion reports `status` (IBA 10.8.3.2: a local
/// error completes the WQE in error and the QP enters Error).
fn fail_local(
    engine: &mut EngineQp,
    sink: &mut QpSink<'_>,
    t: &Transmit,
    status: engine::WcStatus,
) {
    engine.hand_back_transmit();
    if let Payload::Local { slot, .. } = t.payload {
        sink.fail = Some((slot, status));
    }
    to_error(engine, sink);
    sink.fail = None;
}

/// Moves the QP to Error, which flushes its send queue and the receive WQE
/// the engine holds in order (IBA 10.3.1).
fn to_error(engine: &mut EngineQp, sink: &mut QpSink<'_>) {
    let update = AttrUpdate {
        state: Some(QpState::Error),
        ..Default::default()
    };
    // Error is reachable from every state.
    let _ = engine.modify(&update, sink);
}

/// One outstanding kernel work request fewer (never below zero: Reset
/// forgets them all at once).
fn completed(outstanding: &Atomic<u32>) {
    let mut now = outstanding.load(Relaxed);
    while now != 0 {
        match outstanding.cmpxchg(now, now - 1, Relaxed) {
            Ok(_) => return,
            Err(current) => now = current,
        }
    }
}

/// A kernel QP's outstanding work requests, per queue.
struct KernelOutstanding {
    sends: Atomic<u32>,
    recvs: Atomic<u32>,
}

/// The kernel QP's receive queue as the engine counts it for credits.
struct KernelRqCount(usize);

impl engine::RecvQueue for KernelRqCount {
    fn take_recv(&mut self) -> Option<engine::RecvWqe> {
        None
    }

    fn available(&self) -> Option<u32> {
        u32::try_from(self.0).ok()
    }
}

/// A kernel send work request, checked and copied, waiting for the engine.
#[derive(Clone, Copy)]
enum StagedSend {
    /// A WQE for the engine, and for UD its AH's path.
    Engine {
        wr: engine::SendWr,
        data: wqe::Data,
        path: Option<b::rvt_path>,
    },
    /// A memory operation rvt executes itself once every WQE before it has
    /// completed (IBA 10.6.3.6 Fast Registration, 10.6.5 Local Invalidate:
    /// executed and completed in send queue order).
    Local {
        wr_id: u64,
        /// A completion is reported on success too.
        signaled: bool,
        op: LocalOp,
    },
}

/// A memory operation of a send queue.
#[derive(Clone, Copy)]
enum LocalOp {
    /// `IB_WR_REG_MR` (kernel QPs).
    Register(FastReg),
    /// `IB_WR_LOCAL_INV` of a key.
    Invalidate(u32),
    /// `IB_WR_BIND_MW` (user QPs: ib_core has no kernel MW API).
    Bind(MwBind),
}

impl LocalOp {
    /// The completion's opcode, and its status on failure (rdma_rxe's:
    /// a Local QP Operation Error, a Memory Window Bind Error for a bind).
    fn completion(&self) -> (u32, u32) {
        match self {
            LocalOp::Register(_) => (
                b::ib_wc_opcode_IB_WC_REG_MR,
                b::ib_wc_status_IB_WC_LOC_QP_OP_ERR,
            ),
            LocalOp::Invalidate(_) => (
                b::ib_wc_opcode_IB_WC_LOCAL_INV,
                b::ib_wc_status_IB_WC_LOC_QP_OP_ERR,
            ),
            LocalOp::Bind(_) => (
                b::ib_wc_opcode_IB_WC_BIND_MW,
                b::ib_wc_status_IB_WC_MW_BIND_ERR,
            ),
        }
    }
}

/// A kernel receive work request, checked and copied, waiting for the RQ.
#[derive(Clone, Copy, Default)]
struct StagedRecv {
    wr_id: u64,
    num_sge: u32,
    len: u32,
}

/// A fixed ring of staged work requests, each with `stride` bytes (its
/// SGE list or inline data).
///
/// # Invariants
///
/// `items.len() * stride == bytes.len()`; the `len` entries from `head`
/// (wrapping) are staged.
struct StageRing<T> {
    items: KVVec<T>,
    bytes: KVVec<u8>,
    stride: usize,
    head: usize,
    len: usize,
}

impl<T: Copy> StageRing<T> {
    fn new(empty: T, depth: usize, stride: usize) -> Result<Self> {
        Ok(Self {
            items: KVVec::from_elem(empty, depth, GFP_KERNEL)?,
            bytes: KVVec::from_elem(0u8, depth * stride, GFP_KERNEL)?,
            stride,
            head: 0,
            len: 0,
        })
    }

    fn at(&mut self, index: usize) -> Option<(&mut T, &mut [u8])> {
        let at = index * self.stride;
        let bytes = self.bytes.get_mut(at..at + self.stride)?;
        Some((self.items.get_mut(index)?, bytes))
    }

    /// The free entry after the staged ones (filled, then `commit`ted).
    fn tail(&mut self) -> Option<(&mut T, &mut [u8])> {
        let depth = self.items.len();
        if self.len == depth {
            return None;
        }
        self.at((self.head + self.len) % depth)
    }

    fn commit(&mut self) {
        self.len += 1;
    }

    fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
    }

    fn front(&self) -> Option<(T, &[u8])> {
        if self.len == 0 {
            return None;
        }
        let at = self.head * self.stride;
        Some((
            *self.items.get(self.head)?,
            self.bytes.get(at..at + self.stride)?,
        ))
    }

    fn pop(&mut self) {
        if self.len != 0 {
            self.head = (self.head + 1) % self.items.len();
            self.len -= 1;
        }
    }
}

/// A kernel QP's staged work requests (behind an IRQ-safe lock: kernel
/// consumers post from any context, ib_mad with interrupts off).
struct Staged {
    sends: StageRing<StagedSend>,
    recvs: StageRing<StagedRecv>,
}

/// Calls an SRQ's async event handler with `IB_EVENT_SRQ_LIMIT_REACHED`
/// (IBA 11.6.3.2), no lock held.
fn srq_limit_reached(srq: &IbObject<b::ib_srq, Srq>) {
    let raw = srq.as_raw();
    // SAFETY: ib_core set the handler and context before create_srq.
    let (handler, context) = unsafe { ((*raw).event_handler, (*raw).srq_context) };
    let Some(handler) = handler else {
        return;
    };
    let mut ev = b::ib_event {
        device: srq.device(),
        event: b::ib_event_type_IB_EVENT_SRQ_LIMIT_REACHED,
        ..Default::default()
    };
    ev.element.srq = raw;
    // SAFETY: The consumer's handler with a valid event.
    unsafe { handler(&mut ev, context) };
}

/// The RoCEv2 network header type of a UD GRH slot (IBA annex A17: the
/// IPv6 header, or an IPv4 header in its last 20 bytes).
fn network_type(grh: &[u8; 40]) -> u8 {
    let ipv4 = grh[..20].iter().all(|&byte| byte == 0) && grh[20] >> 4 == 4;
    if ipv4 {
        b::rdma_network_type_RDMA_NETWORK_IPV4 as u8
    } else {
        b::rdma_network_type_RDMA_NETWORK_IPV6 as u8
    }
}

/// The `rx_drop_*` counter of a drop reason.
fn drop_counter(reason: DropReason) -> Counter {
    use DropReason::*;
    match reason {
        PKey | QKey => Counter::RxDropKey,
        Length => Counter::RxDropLength,
        WrongTransport | Opcode | OpcodeSequence | MessageAbandoned => Counter::RxDropOpcode,
        Access | RKey | Alignment | FlushType | TooManyRdAtomic | Invalidate => {
            Counter::RxDropAccess
        }
        NoReceiveWqe | ReceiveTooSmall | LocalPlacement => Counter::RxDropReceiveBuffer,
        UnknownDuplicate | UnexpectedResponse | BadResponse | BadSyndrome => {
            Counter::RxDropResponse
        }
        State | WrongQpn | Internal => Counter::RxDropOther,
    }
}

/// Counts what the engine did with a packet.
fn count_verdict(rvt: &RvtDevice, verdict: Verdict, pkt: &Packet<'_>) {
    let counter = match verdict {
        Verdict::Accepted => {
            // The NAKs a requester acted on.
            let nak = match pkt.aeth().map(|aeth| Syndrome::decode(aeth.syndrome)) {
                Some(Ok(Syndrome::Nak(NakCode::PsnSequenceError))) => Counter::RxSeqNaksReceived,
                Some(Ok(Syndrome::RnrNak { .. })) => Counter::RxRnrNaksReceived,
                _ => return,
            };
            return rvt.counters().add(nak, 1);
        }
        Verdict::Duplicate => Counter::RxDuplicates,
        Verdict::OutOfSequence { nak_sent } => {
            if nak_sent {
                rvt.counters().add(Counter::RxSeqNaksSent, 1);
            }
            Counter::RxOutOfSequence
        }
        Verdict::RnrNak => Counter::RxRnrNaksSent,
        Verdict::Deferred => Counter::RxDeferred,
        Verdict::Dropped(DropReason::State) => Counter::RxQpNotReady,
        Verdict::Dropped(reason) => {
            rvt.counters().add(Counter::RxDropped, 1);
            drop_counter(reason)
        }
    };
    rvt.counters().add(counter, 1);
}
