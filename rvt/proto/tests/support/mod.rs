//! Shared host-test support for the engine tests: a tiny seeded PRNG, a
//! vector-backed [`Memory`], a recording [`Sink`], RoCEv2 framing with a real
//! ICRC, and a `Node` (QP + memory + sink) that turns the engine's transmit
//! descriptors into wire bytes and wire bytes back into `receive` calls.
#![allow(dead_code)]

use rvt_proto::engine::{
    AccessFlags, AtomicOp, AttrUpdate, Completion, MemError, Memory, ModifyError, Mtu, Payload,
    Placement, PostError, Qp, QpState, QpType, Queue, RecvQueue, RecvWqe, RemoteAccess,
    ResponderResource, RxMeta, Selectivity, SendWqe, Sink, Timer, Verdict, WcFlags, WcOpcode,
    WcStatus, MAX_HEADER_LEN,
};
use rvt_proto::icrc;
use rvt_proto::packet;
use std::collections::VecDeque;

/// SplitMix64: small, fast, good enough for test workloads, and stable
/// across platforms (a seed replays exactly).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5851_f42d_4c95_7f2d)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 if `n == 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `ppm` / 1e6.
    pub fn chance(&mut self, ppm: u32) -> bool {
        self.below(1_000_000) < u64::from(ppm)
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }

    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut v = vec![0u8; len];
        self.fill(&mut v);
        v
    }
}

/// The seeds of a simulation: `RVT_SIM_SEED=s` replays one, else
/// `RVT_SIM_SEEDS=n` (or `default`) from `base` on.
pub fn seeds(base: u64, default: u64) -> Vec<u64> {
    let env = |n: &str| {
        std::env::var(n)
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    match env("RVT_SIM_SEED") {
        Some(s) => vec![s],
        None => (0..env("RVT_SIM_SEEDS").unwrap_or(default))
            .map(|i| base + i)
            .collect(),
    }
}

/// A byte buffer that counts how often each byte was written.
#[derive(Clone, Debug, Default)]
pub struct Buf {
    pub data: Vec<u8>,
    pub writes: Vec<u8>,
}

impl Buf {
    pub fn new(data: Vec<u8>) -> Buf {
        let writes = vec![0; data.len()];
        Buf { data, writes }
    }

    pub fn zeroed(len: usize) -> Buf {
        Buf::new(vec![0; len])
    }

    /// Writes `src` at `off`; false if out of bounds.
    pub fn write(&mut self, off: usize, src: &[u8]) -> bool {
        let Some(end) = off.checked_add(src.len()) else {
            return false;
        };
        if end > self.data.len() {
            return false;
        }
        self.data[off..end].copy_from_slice(src);
        for w in &mut self.writes[off..end] {
            *w = w.saturating_add(1);
        }
        true
    }

    /// Checks that `range` holds `expect` and was written exactly once.
    pub fn check_once(&self, off: usize, expect: &[u8]) -> Result<(), String> {
        let end = off + expect.len();
        if end > self.data.len() {
            return Err(format!("range {off}..{end} beyond {}", self.data.len()));
        }
        if self.data[off..end] != *expect {
            let first = (off..end)
                .find(|&i| self.data[i] != expect[i - off])
                .unwrap();
            return Err(format!("data mismatch at byte {first} of {off}..{end}"));
        }
        if let Some(i) = (off..end).find(|&i| self.writes[i] != 1) {
            return Err(format!(
                "byte {i} of {off}..{end} written {} times",
                self.writes[i]
            ));
        }
        Ok(())
    }

    /// Checks that no byte in `off..` was written more than once.
    pub fn check_at_most_once(&self) -> Result<(), String> {
        match self.writes.iter().position(|&w| w > 1) {
            Some(i) => Err(format!("byte {i} written {} times", self.writes[i])),
            None => Ok(()),
        }
    }
}

/// A memory region reachable by R_Key.
#[derive(Clone, Debug)]
pub struct Region {
    pub rkey: u32,
    pub va: u64,
    pub buf: Buf,
    pub access: AccessFlags,
    pub valid: bool,
}

/// Vector-backed memory: remote regions, per-slot send and receive buffers,
/// and the QP's receive queue (receive WQEs not yet taken by the engine).
#[derive(Clone, Debug, Default)]
pub struct TestMem {
    pub regions: Vec<Region>,
    pub send: Vec<Option<Buf>>,
    pub recv: Vec<Option<Buf>>,
    pub rq: VecDeque<RecvWqe>,
    /// Every atomic executed: rkey, va, op, original value.
    pub atomic_log: Vec<(u32, u64, AtomicOp, u64)>,
    pub invalidated: Vec<u32>,
    /// Every ATOMIC WRITE executed: rkey, va, value.
    pub atomic_write_log: Vec<(u32, u64, [u8; 8])>,
    /// Every FLUSH executed: rkey, va, len, selectivity, placement.
    pub flush_log: Vec<(u32, u64, u32, Selectivity, Placement)>,
    /// Count of memory calls, for tests that want to see no side effects.
    pub calls: u64,
}

impl TestMem {
    pub fn new(send_slots: usize, recv_slots: usize) -> TestMem {
        TestMem {
            send: vec![None; send_slots],
            recv: vec![None; recv_slots],
            ..TestMem::default()
        }
    }

    pub fn add_region(&mut self, rkey: u32, va: u64, data: Vec<u8>, access: AccessFlags) {
        self.regions.push(Region {
            rkey,
            va,
            buf: Buf::new(data),
            access,
            valid: true,
        });
    }

    pub fn region(&self, rkey: u32) -> Option<&Region> {
        self.regions.iter().find(|r| r.rkey == rkey)
    }

    fn region_mut(&mut self, rkey: u32) -> Option<&mut Region> {
        self.regions.iter_mut().find(|r| r.rkey == rkey && r.valid)
    }

    /// Offset of `va..va+len` in region `rkey`, if inside and allowed.
    fn locate(&self, rkey: u32, va: u64, len: u64, right: AccessFlags) -> Option<usize> {
        let r = self.regions.iter().find(|r| r.rkey == rkey && r.valid)?;
        if !r.access.contains(right) {
            return None;
        }
        let off = va.checked_sub(r.va)?;
        let end = off.checked_add(len)?;
        if end > r.buf.data.len() as u64 {
            return None;
        }
        usize::try_from(off).ok()
    }

    /// The bytes a transmit descriptor names.
    pub fn payload(&self, p: &Payload) -> Vec<u8> {
        match *p {
            Payload::None => Vec::new(),
            Payload::Local { slot, offset, len } => {
                let b = self.send[slot as usize].as_ref().expect("send buffer");
                b.data[offset as usize..(offset + len) as usize].to_vec()
            }
            Payload::Remote { rkey, va, len } => {
                let r = self.region(rkey).expect("region");
                let off = (va - r.va) as usize;
                r.buf.data[off..off + len as usize].to_vec()
            }
        }
    }
}

/// The MR rights `IB_ACCESS_FLUSH_GLOBAL` / `IB_ACCESS_FLUSH_PERSISTENT`
/// (`enum ib_access_flags`), which test regions may carry.
pub const FLUSH_GLOBAL: AccessFlags = AccessFlags(1 << 8);
pub const FLUSH_PERSISTENT: AccessFlags = AccessFlags(1 << 9);
/// Every remote right a test region can have, flushes included.
pub const ALL_RIGHTS: AccessFlags =
    AccessFlags(AccessFlags::ALL_REMOTE.0 | FLUSH_GLOBAL.0 | FLUSH_PERSISTENT.0);

fn right_of(access: RemoteAccess) -> AccessFlags {
    match access {
        RemoteAccess::Read => AccessFlags::REMOTE_READ,
        RemoteAccess::Write => AccessFlags::REMOTE_WRITE,
        RemoteAccess::Atomic => AccessFlags::REMOTE_ATOMIC,
    }
}

/// Writes into the buffer of a WQE slot.
fn write_slot(
    bufs: &mut [Option<Buf>],
    slot: u32,
    offset: u32,
    data: &[u8],
) -> Result<(), MemError> {
    let b = bufs
        .get_mut(slot as usize)
        .and_then(Option::as_mut)
        .ok_or(MemError::Local)?;
    if b.write(offset as usize, data) {
        Ok(())
    } else {
        Err(MemError::Local)
    }
}

impl Memory for TestMem {
    fn check_remote(
        &mut self,
        rkey: u32,
        va: u64,
        len: u32,
        access: RemoteAccess,
    ) -> Result<(), MemError> {
        self.calls += 1;
        self.locate(rkey, va, u64::from(len), right_of(access))
            .map(|_| ())
            .ok_or(MemError::Access)
    }

    fn write_remote(&mut self, rkey: u32, va: u64, data: &[u8]) -> Result<(), MemError> {
        self.calls += 1;
        let off = self
            .locate(rkey, va, data.len() as u64, AccessFlags::REMOTE_WRITE)
            .ok_or(MemError::Access)?;
        let r = self.region_mut(rkey).ok_or(MemError::Access)?;
        if r.buf.write(off, data) {
            Ok(())
        } else {
            Err(MemError::Access)
        }
    }

    fn atomic(&mut self, rkey: u32, va: u64, op: AtomicOp) -> Result<u64, MemError> {
        self.calls += 1;
        let off = self
            .locate(rkey, va, 8, AccessFlags::REMOTE_ATOMIC)
            .ok_or(MemError::Access)?;
        let r = self.region_mut(rkey).ok_or(MemError::Access)?;
        let cell: &mut [u8] = &mut r.buf.data[off..off + 8];
        let orig = u64::from_ne_bytes(cell.try_into().unwrap());
        cell.copy_from_slice(&op.apply(orig).to_ne_bytes());
        self.atomic_log.push((rkey, va, op, orig));
        Ok(orig)
    }

    fn atomic_write(&mut self, rkey: u32, va: u64, value: [u8; 8]) -> Result<(), MemError> {
        self.calls += 1;
        let off = self
            .locate(rkey, va, 8, AccessFlags::REMOTE_WRITE)
            .ok_or(MemError::Access)?;
        let r = self.region_mut(rkey).ok_or(MemError::Access)?;
        if !r.buf.write(off, &value) {
            return Err(MemError::Access);
        }
        self.atomic_write_log.push((rkey, va, value));
        Ok(())
    }

    fn flush(
        &mut self,
        rkey: u32,
        va: u64,
        len: u32,
        selectivity: Selectivity,
        placement: Placement,
    ) -> Result<(), MemError> {
        self.calls += 1;
        let mut right = AccessFlags(0);
        if placement.contains(Placement::GLOBAL) {
            right.0 |= FLUSH_GLOBAL.0;
        }
        if placement.contains(Placement::PERSISTENT) {
            right.0 |= FLUSH_PERSISTENT.0;
        }
        let ok = match selectivity {
            Selectivity::Range => self.locate(rkey, va, u64::from(len), right).is_some(),
            Selectivity::Region => self
                .regions
                .iter()
                .any(|r| r.rkey == rkey && r.valid && r.access.contains(right)),
        };
        if !ok {
            return Err(MemError::Access);
        }
        self.flush_log.push((rkey, va, len, selectivity, placement));
        Ok(())
    }

    fn invalidate(&mut self, rkey: u32) -> Result<(), MemError> {
        self.calls += 1;
        let r = self.region_mut(rkey).ok_or(MemError::Operational)?;
        r.valid = false;
        self.invalidated.push(rkey);
        Ok(())
    }

    fn write_recv(&mut self, slot: u32, offset: u32, data: &[u8]) -> Result<(), MemError> {
        self.calls += 1;
        write_slot(&mut self.recv, slot, offset, data)
    }

    fn write_send(&mut self, slot: u32, offset: u32, data: &[u8]) -> Result<(), MemError> {
        self.calls += 1;
        write_slot(&mut self.send, slot, offset, data)
    }
}

impl RecvQueue for TestMem {
    fn take_recv(&mut self) -> Option<RecvWqe> {
        self.rq.pop_front()
    }

    fn available(&self) -> Option<u32> {
        u32::try_from(self.rq.len()).ok()
    }
}

/// A shared receive queue (SRQ) serving several QPs, with the SRQ limit
/// event (IBA 11.2.3) raised by the caller when a take leaves fewer WQEs
/// than `limit` (then disarmed, as `ib_modify_srq` arms it once).
#[derive(Clone, Debug, Default)]
pub struct Srq {
    pub queue: VecDeque<RecvWqe>,
    pub limit: Option<usize>,
    pub limit_events: u32,
}

impl RecvQueue for Srq {
    fn take_recv(&mut self) -> Option<RecvWqe> {
        let wqe = self.queue.pop_front()?;
        if self.limit.is_some_and(|l| self.queue.len() < l) {
            self.limit = None;
            self.limit_events += 1;
        }
        Some(wqe)
    }
}

/// A node's memory with an SRQ instead of its own receive queue.
pub struct SrqMem<'a> {
    pub mem: &'a mut TestMem,
    pub srq: &'a mut Srq,
}

impl RecvQueue for SrqMem<'_> {
    fn take_recv(&mut self) -> Option<RecvWqe> {
        self.srq.take_recv()
    }
}

impl Memory for SrqMem<'_> {
    fn check_remote(
        &mut self,
        rkey: u32,
        va: u64,
        len: u32,
        a: RemoteAccess,
    ) -> Result<(), MemError> {
        self.mem.check_remote(rkey, va, len, a)
    }
    fn write_remote(&mut self, rkey: u32, va: u64, data: &[u8]) -> Result<(), MemError> {
        self.mem.write_remote(rkey, va, data)
    }
    fn atomic(&mut self, rkey: u32, va: u64, op: AtomicOp) -> Result<u64, MemError> {
        self.mem.atomic(rkey, va, op)
    }
    fn atomic_write(&mut self, rkey: u32, va: u64, value: [u8; 8]) -> Result<(), MemError> {
        self.mem.atomic_write(rkey, va, value)
    }

    fn flush(
        &mut self,
        rkey: u32,
        va: u64,
        len: u32,
        selectivity: Selectivity,
        placement: Placement,
    ) -> Result<(), MemError> {
        self.mem.flush(rkey, va, len, selectivity, placement)
    }

    fn invalidate(&mut self, rkey: u32) -> Result<(), MemError> {
        self.mem.invalidate(rkey)
    }
    fn write_recv(&mut self, slot: u32, offset: u32, data: &[u8]) -> Result<(), MemError> {
        self.mem.write_recv(slot, offset, data)
    }
    fn write_send(&mut self, slot: u32, offset: u32, data: &[u8]) -> Result<(), MemError> {
        self.mem.write_send(slot, offset, data)
    }
}

/// A sink that records everything.
#[derive(Clone, Debug, Default)]
pub struct Recorder {
    pub wcs: Vec<Completion>,
    pub state_changes: Vec<QpState>,
    /// Receive completions ever recorded (the test RQ frees its slots).
    pub recv_completed: u64,
    /// Unsignaled send WQEs that completed silently: (slot, wr_id).
    pub released: Vec<(u32, u64)>,
}

pub const TIMERS: [Timer; 3] = [Timer::Retransmit, Timer::Rnr, Timer::Ack];

impl Recorder {
    pub fn send_wcs(&self) -> Vec<Completion> {
        self.wcs
            .iter()
            .filter(|w| w.queue == Queue::Send)
            .copied()
            .collect()
    }

    pub fn recv_wcs(&self) -> Vec<Completion> {
        self.wcs
            .iter()
            .filter(|w| w.queue == Queue::Recv)
            .copied()
            .collect()
    }
}

impl Sink for Recorder {
    fn completion(&mut self, wc: &Completion) {
        if wc.queue == Queue::Recv {
            self.recv_completed += 1;
        }
        self.wcs.push(*wc);
    }

    fn send_slot_released(&mut self, slot: u32, wr_id: u64) {
        self.released.push((slot, wr_id));
    }

    fn state_changed(&mut self, state: QpState) {
        self.state_changes.push(state);
    }
}

/// The fixed IPv4 + UDP header pair every simulated packet is framed with
/// (RoCEv2, UDP destination port 4791): the ICRC covers it masked.
pub const NET_HDR: [u8; 28] = [
    0x45, 0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 10, 0, 0, 1, 10, 0, 0,
    2, // IPv4
    0xc0, 0x00, 0x12, 0xb7, 0x00, 0x00, 0x00, 0x00, // UDP src 49152 dst 4791
];

/// Wire bytes: headers, payload, pad, ICRC.
pub fn frame(hdr: &[u8], payload: &[u8], pad: u8) -> Vec<u8> {
    let mut v = Vec::with_capacity(hdr.len() + payload.len() + 8);
    v.extend_from_slice(hdr);
    v.extend_from_slice(payload);
    v.extend(std::iter::repeat_n(0u8, pad as usize));
    let crc = icrc::roce_icrc(&NET_HDR, &v).expect("icrc");
    v.extend_from_slice(&crc.to_le_bytes());
    v
}

/// What happened to a delivered frame.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum Rx {
    /// Parsed and handed to the QP, which returned this verdict.
    Received(Verdict),
    BadIcrc,
    BadPacket,
}

impl Rx {
    /// Checks the verdict on a frame that a correct engine sent over a
    /// lossy, reordering, duplicating (but otherwise faithful) channel:
    /// such a frame may be late, repeated, unwanted or too long for the
    /// receive buffer posted, never malformed or unauthorised, and never
    /// reveals an inconsistent engine state.
    pub fn check_from_correct_peer(self) -> Result<(), String> {
        use rvt_proto::engine::DropReason::*;
        match self {
            Rx::BadIcrc | Rx::BadPacket => Ok(()),
            Rx::Received(Verdict::Dropped(
                State | NoReceiveWqe | ReceiveTooSmall | MessageAbandoned | UnknownDuplicate
                | UnexpectedResponse,
            )) => Ok(()),
            Rx::Received(Verdict::Dropped(reason)) => {
                Err(format!("a correct peer's packet dropped for {reason:?}"))
            }
            Rx::Received(_) => Ok(()),
        }
    }

    /// The QP's verdict; panics if the frame did not reach the QP.
    pub fn verdict(self) -> Verdict {
        match self {
            Rx::Received(v) => v,
            other => panic!("frame not received: {other:?}"),
        }
    }
}

/// A QP with its memory and sink.
/// A QP whose queue storage is allocated by the test (as rvt.ko does with
/// `KVec`).
pub type TestQp = Qp<Vec<SendWqe>, Vec<ResponderResource>>;

/// A QP of `qp_type` and `qpn` with `sq` send WQEs and `rd` responder
/// resources.
pub fn test_qp(qp_type: QpType, qpn: u32, sq: usize, rd: usize) -> TestQp {
    Qp::new(
        qp_type,
        qpn,
        vec![SendWqe::EMPTY; sq],
        vec![ResponderResource::EMPTY; rd],
    )
}

/// `RQ` is the depth of the node's own receive queue (its slots are
/// `0..RQ`, in order).
pub struct Node<const SQ: usize, const RQ: usize, const RD: usize> {
    pub qp: TestQp,
    pub mem: TestMem,
    pub rec: Recorder,
    pub grh: Option<[u8; 40]>,
    /// Receive WQEs ever posted.
    pub recv_posted: u64,
}

impl<const SQ: usize, const RQ: usize, const RD: usize> Node<SQ, RQ, RD> {
    pub fn new(qp_type: QpType, qpn: u32) -> Self {
        Node {
            qp: test_qp(qp_type, qpn, SQ, RD),
            mem: TestMem::new(SQ, RQ),
            rec: Recorder::default(),
            grh: None,
            recv_posted: 0,
        }
    }

    /// Receive WQEs posted and not yet completed (queued or taken by the
    /// engine).
    pub fn recv_queue_len(&self) -> usize {
        (self.recv_posted - self.rec.recv_completed) as usize
    }

    /// Posts a receive WQE of `len` bytes into the node's RQ (its slot is
    /// the next of the ring); in Error it completes at once with
    /// `IB_WC_WR_FLUSH_ERR` (IBA 10.3.1), after the slot is known.
    pub fn post_recv_wqe(&mut self, wr_id: u64, len: u32) -> Result<u32, PostError> {
        match self.qp.state() {
            QpState::Reset => return Err(PostError::InvalidState),
            _ if self.recv_queue_len() >= RQ => return Err(PostError::QueueFull),
            _ => {}
        }
        let slot = (self.recv_posted % RQ as u64) as u32;
        self.recv_posted += 1;
        self.mem.recv[slot as usize] = Some(Buf::zeroed(len as usize));
        self.mem.rq.push_back(RecvWqe { wr_id, slot, len });
        // End-to-end credits (IBA 9.7.7.2): the engine learns the count.
        self.qp.recv_posted(&self.mem, &mut self.rec);
        self.flush_rq_in_error();
        Ok(slot)
    }

    /// The caller's half of entering Error: the WQEs still in its own RQ
    /// complete with `IB_WC_WR_FLUSH_ERR`, after those the engine held.
    pub fn flush_rq_in_error(&mut self) {
        if self.qp.state() != QpState::Error {
            return;
        }
        while let Some(w) = self.mem.rq.pop_front() {
            self.rec.completion(&Completion {
                queue: Queue::Recv,
                wr_id: w.wr_id,
                slot: w.slot,
                status: WcStatus::WrFlushErr,
                opcode: WcOpcode::Recv,
                byte_len: 0,
                flags: WcFlags::NONE,
                ex: 0,
                src_qp: 0,
                solicited: false,
            });
        }
    }

    /// Modify QP, then the caller's flush of its RQ in Error.
    pub fn modify(&mut self, upd: &AttrUpdate) -> Result<(), ModifyError> {
        let r = self.qp.modify(upd, &mut self.rec);
        self.flush_rq_in_error();
        r
    }

    /// The next packet the QP builds, framed (the payload copied), or None.
    fn next_frame(&mut self, now: u64) -> Option<Vec<u8>> {
        let mut hdr = [0u8; MAX_HEADER_LEN];
        let t = self.qp.poll_transmit(now, &mut hdr, &mut self.rec);
        self.flush_rq_in_error();
        let t = t?;
        let payload = self.mem.payload(&t.payload);
        Some(frame(&hdr[..t.header_len], &payload, t.pad))
    }

    /// The next packet to send, framed and taken, or None.
    pub fn transmit(&mut self, now: u64) -> Option<Vec<u8>> {
        let bytes = self.next_frame(now)?;
        self.qp.transmit_taken(&mut self.rec);
        Some(bytes)
    }

    /// The next packet, which the device refuses (queue full): it is
    /// framed, then handed back to the engine. Returns its bytes.
    pub fn transmit_refused(&mut self, now: u64) -> Option<Vec<u8>> {
        let bytes = self.next_frame(now)?;
        self.qp.hand_back_transmit();
        Some(bytes)
    }

    /// Every packet the QP has to send now.
    pub fn drain(&mut self, now: u64) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while let Some(p) = self.transmit(now) {
            out.push(p);
            assert!(out.len() < 1_000_000, "poll_transmit does not stop");
        }
        out
    }

    /// Checks the ICRC, parses and hands the packet to the QP.
    pub fn deliver(&mut self, bytes: &[u8], now: u64) -> Rx {
        let Ok(body) = icrc::check_roce(&NET_HDR, bytes) else {
            return Rx::BadIcrc;
        };
        let Ok(pkt) = packet::parse(body) else {
            return Rx::BadPacket;
        };
        let meta = RxMeta {
            grh: self.grh.as_ref(),
        };
        let verdict = self
            .qp
            .receive(&pkt, &meta, now, &mut self.mem, &mut self.rec);
        self.flush_rq_in_error();
        Rx::Received(verdict)
    }

    /// Like [`Self::deliver`], with receive WQEs taken from `srq` (the
    /// node's own RQ is not used; its receive buffers are the SRQ's).
    pub fn deliver_srq(&mut self, bytes: &[u8], now: u64, srq: &mut Srq) -> Rx {
        let Ok(body) = icrc::check_roce(&NET_HDR, bytes) else {
            return Rx::BadIcrc;
        };
        let Ok(pkt) = packet::parse(body) else {
            return Rx::BadPacket;
        };
        let mut mem = SrqMem {
            mem: &mut self.mem,
            srq,
        };
        Rx::Received(
            self.qp
                .receive(&pkt, &RxMeta::default(), now, &mut mem, &mut self.rec),
        )
    }

    /// Serves the timers due at `now`; false if none was due.
    pub fn fire_timers(&mut self, now: u64) -> bool {
        if self.next_deadline().is_none_or(|d| d > now) {
            return false;
        }
        self.qp.handle_timeout(now, &mut self.rec);
        self.flush_rq_in_error();
        true
    }

    /// The QP's earliest deadline; checks that it is the earliest of the
    /// per-timer deadlines (one mechanism, nothing hidden).
    pub fn next_deadline(&self) -> Option<u64> {
        let next = self.qp.poll_timeout();
        let each = TIMERS.iter().filter_map(|&t| self.qp.deadline(t)).min();
        assert_eq!(next, each, "poll_timeout is the earliest deadline");
        next
    }
}

/// Connection parameters for a pair of RC/UC QPs.
#[derive(Clone, Copy, Debug)]
pub struct LinkCfg {
    pub mtu: Mtu,
    pub timeout: u8,
    pub retry_cnt: u8,
    pub rnr_retry: u8,
    pub min_rnr_timer: u8,
    pub max_rd_atomic: u8,
    pub max_dest_rd_atomic: u8,
    pub sq_psn: u32,
    pub ack_delay_ns: u64,
    pub ack_req_interval: u32,
    /// End-to-end flow control (IBA 9.7.7.2) on both QPs.
    pub flow_control: bool,
}

impl Default for LinkCfg {
    fn default() -> Self {
        LinkCfg {
            mtu: Mtu::M1024,
            timeout: 10,
            retry_cnt: 7,
            rnr_retry: 7,
            min_rnr_timer: 1,
            max_rd_atomic: 4,
            max_dest_rd_atomic: 4,
            sq_psn: 0,
            ack_delay_ns: 4_000,
            ack_req_interval: 16,
            flow_control: false,
        }
    }
}

/// Brings `qp` (number `qpn`) through Init and RTR to RTS towards `peer`,
/// sending from `sq_psn` and expecting `rq_psn`.
pub fn bring_up<const SQ: usize, const RQ: usize, const RD: usize>(
    node: &mut Node<SQ, RQ, RD>,
    peer: u32,
    cfg: &LinkCfg,
    sq_psn: u32,
    rq_psn: u32,
) {
    let rec = &mut node.rec;
    let qp = &mut node.qp;
    qp.modify(
        &AttrUpdate {
            state: Some(QpState::Init),
            access: Some(AccessFlags::ALL_REMOTE),
            pkey: Some(0xffff),
            qkey: Some(0x1111_1111),
            ..AttrUpdate::default()
        },
        rec,
    )
    .unwrap();
    qp.modify(
        &AttrUpdate {
            state: Some(QpState::Rtr),
            dest_qpn: Some(peer),
            path_mtu: Some(cfg.mtu),
            rq_psn: Some(rq_psn),
            max_dest_rd_atomic: Some(cfg.max_dest_rd_atomic),
            min_rnr_timer: Some(cfg.min_rnr_timer),
            ack_delay_ns: Some(cfg.ack_delay_ns),
            flow_control: Some(cfg.flow_control),
            ..AttrUpdate::default()
        },
        rec,
    )
    .unwrap();
    qp.modify(
        &AttrUpdate {
            state: Some(QpState::Rts),
            sq_psn: Some(sq_psn),
            timeout: Some(cfg.timeout),
            retry_cnt: Some(cfg.retry_cnt),
            rnr_retry: Some(cfg.rnr_retry),
            max_rd_atomic: Some(cfg.max_rd_atomic),
            ack_req_interval: Some(cfg.ack_req_interval),
            ..AttrUpdate::default()
        },
        rec,
    )
    .unwrap();
}

/// Connects two nodes of `qp_type` (QPNs 0x11 and 0x22) with `cfg`; A sends
/// from `cfg.sq_psn`, B from `cfg.sq_psn + 0x1000` (mod 2^24).
pub fn connect<const SQ: usize, const RQ: usize, const RD: usize>(
    qp_type: QpType,
    cfg: &LinkCfg,
) -> (Node<SQ, RQ, RD>, Node<SQ, RQ, RD>) {
    let mut a = Node::new(qp_type, 0x11);
    let mut b = Node::new(qp_type, 0x22);
    let pa = cfg.sq_psn & 0xff_ffff;
    let pb = (cfg.sq_psn + 0x1000) & 0xff_ffff;
    bring_up(&mut a, 0x22, cfg, pa, pb);
    bring_up(&mut b, 0x11, cfg, pb, pa);
    (a, b)
}

/// Two connected nodes and a clock, for scripted scenarios.
pub struct Pair<const SQ: usize, const RQ: usize, const RD: usize> {
    pub a: Node<SQ, RQ, RD>,
    pub b: Node<SQ, RQ, RD>,
    pub now: u64,
    /// Every frame sent, in order: (from A?, bytes).
    pub log: Vec<(bool, Vec<u8>)>,
    /// The receiver's verdict on every frame delivered: (from A?, verdict).
    pub verdicts: Vec<(bool, Verdict)>,
}

impl<const SQ: usize, const RQ: usize, const RD: usize> Pair<SQ, RQ, RD> {
    pub fn new(qp_type: QpType, cfg: &LinkCfg) -> Self {
        let (a, b) = connect(qp_type, cfg);
        Pair {
            a,
            b,
            now: 0,
            log: Vec::new(),
            verdicts: Vec::new(),
        }
    }

    /// Exchanges packets until both sides are quiet; `keep(from_a, index,
    /// bytes)` decides per frame whether it is delivered (`index` counts
    /// every frame of this call). Returns the number of frames sent.
    ///
    /// A receiver that defers a packet (`Verdict::Deferred`, IBA 9.5) keeps
    /// it and every later one in a backlog, delivered again after it
    /// drained its transmissions, as rvt.ko does.
    pub fn pump_filtered(&mut self, mut keep: impl FnMut(bool, usize, &[u8]) -> bool) -> usize {
        let mut n = 0;
        let mut backlog: [VecDeque<Vec<u8>>; 2] = Default::default();
        loop {
            let mut moved = false;
            for from_a in [true, false] {
                let frames = if from_a {
                    self.a.drain(self.now)
                } else {
                    self.b.drain(self.now)
                };
                // The sender drained: its own backlog goes in again.
                moved |= self.redeliver(!from_a, &mut backlog[usize::from(from_a)]);
                for f in frames {
                    moved = true;
                    self.log.push((from_a, f.clone()));
                    let deliver = keep(from_a, n, &f);
                    n += 1;
                    if deliver {
                        backlog[usize::from(!from_a)].push_back(f);
                    }
                }
                moved |= self.redeliver(from_a, &mut backlog[usize::from(!from_a)]);
            }
            if !moved {
                return n;
            }
            assert!(n < 10_000_000, "pump does not converge");
        }
    }

    /// Delivers the frames of `backlog` (sent by A if `from_a`) in order
    /// until the receiver defers one; true if any was delivered.
    fn redeliver(&mut self, from_a: bool, backlog: &mut VecDeque<Vec<u8>>) -> bool {
        let mut any = false;
        while let Some(f) = backlog.pop_front() {
            let to = if from_a { &mut self.b } else { &mut self.a };
            let rx = to.deliver(&f, self.now);
            if let Rx::Received(v) = rx {
                self.verdicts.push((from_a, v));
            }
            if rx == Rx::Received(Verdict::Deferred) {
                backlog.push_front(f);
                return any;
            }
            any = true;
        }
        any
    }

    /// Exchanges packets without loss until quiet.
    pub fn pump(&mut self) -> usize {
        self.pump_filtered(|_, _, _| true)
    }

    /// Advances the clock to the earliest timer deadline and fires it;
    /// false if no timer is armed.
    pub fn advance(&mut self) -> bool {
        let next = [self.a.next_deadline(), self.b.next_deadline()]
            .into_iter()
            .flatten()
            .min();
        let Some(t) = next else {
            return false;
        };
        self.now = self.now.max(t);
        self.a.fire_timers(self.now);
        self.b.fire_timers(self.now);
        true
    }

    /// Pumps and fires timers until nothing is left to do (at most `limit`
    /// timer rounds).
    pub fn settle(&mut self, limit: usize) {
        self.pump();
        for _ in 0..limit {
            if !self.advance() {
                return;
            }
            self.pump();
        }
    }
}

/// Opcode byte and PSN of a frame.
pub fn opcode_psn(frame: &[u8]) -> (u8, u32) {
    (
        frame[0],
        u32::from_be_bytes([0, frame[9], frame[10], frame[11]]),
    )
}

impl<const SQ: usize, const RQ: usize, const RD: usize> Node<SQ, RQ, RD> {
    /// Posts `wr` with `data` as its local buffer (for READ/atomics a zeroed
    /// buffer of `wr.len` / 8 bytes is used when `data` is empty).
    pub fn post(&mut self, wr: &rvt_proto::engine::SendWr, data: &[u8]) -> u32 {
        use rvt_proto::engine::WrOpcode;
        let slot = self.qp.post_send(wr, &mut self.rec).expect("post_send");
        let buf = match wr.opcode {
            WrOpcode::RdmaRead if data.is_empty() => Buf::zeroed(wr.len as usize),
            WrOpcode::CompareSwap | WrOpcode::FetchAdd => Buf::zeroed(8),
            _ => Buf::new(data.to_vec()),
        };
        self.mem.send[slot as usize] = Some(buf);
        slot
    }

    /// Posts a receive WQE of `len` bytes.
    pub fn post_recv(&mut self, wr_id: u64, len: u32) -> u32 {
        self.post_recv_wqe(wr_id, len).expect("post_recv")
    }

    /// Builds a frame from `hdr` and `payload` and delivers it.
    pub fn inject(&mut self, hdr: &rvt_proto::packet::PacketHeaders, payload: &[u8]) -> Rx {
        let mut buf = vec![0u8; hdr.len() + payload.len() + 4];
        let n = packet::write_packet(hdr, payload, &mut buf).expect("write_packet");
        buf.truncate(n);
        let crc = icrc::roce_icrc(&NET_HDR, &buf).expect("icrc");
        buf.extend_from_slice(&crc.to_le_bytes());
        let now = 0;
        self.deliver(&buf, now)
    }
}

/// A BTH for injected packets.
pub fn bth(opcode: rvt_proto::opcode::Opcode, dest_qp: u32, psn: u32) -> rvt_proto::headers::Bth {
    let mut b = rvt_proto::headers::Bth::new(opcode, dest_qp, rvt_proto::psn::Psn::new(psn));
    b.ack_req = true;
    b
}

/// Parses a frame (without checking the ICRC) for assertions.
pub fn parse_frame(frame: &[u8]) -> rvt_proto::packet::Packet<'_> {
    packet::parse(&frame[..frame.len() - 4]).expect("parse")
}
