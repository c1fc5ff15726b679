//! Deterministic two-endpoint simulation of RC queue pairs over a lossy
//! channel (loss, reordering, duplication, corruption caught by the real
//! RoCEv2 ICRC), with random workloads of SEND / SEND_IMM / WRITE /
//! WRITE_IMM / READ / CMP_SWAP / FETCH_ADD of 0..1 MiB over MTUs 256..4096,
//! receive-queue starvation (RNR), and small or large retry counts.
//!
//! Checked per seed: every byte lands exactly once at the right place;
//! both completion streams equal the expected ones, in order; atomics run
//! exactly once; the run ends within a bounded number of steps; exhausted
//! retries give `IB_WC_RETRY_EXC_ERR` / `IB_WC_RNR_RETRY_EXC_ERR` followed by
//! `IB_WC_WR_FLUSH_ERR` for everything after.
//!
//! `RVT_SIM_SEEDS=n` runs n seeds per scenario (default below);
//! `RVT_SIM_SEED=s` replays one seed. A failing seed prints itself.

mod support;

use std::collections::{BTreeMap, VecDeque};

use rvt_proto::engine::{
    AtomicOp, AttrUpdate, Completion, Mtu, Placement, QpState, QpType, Selectivity, SendFlags,
    SendWr, Verdict, WcFlags, WcOpcode, WcStatus, WrOpcode,
};
use support::{connect, Buf, LinkCfg, Node, Rng};

const SQ: usize = 32;
const RQ: usize = 64;
const RD: usize = 8;
type SimNode = Node<SQ, RQ, RD>;

/// Remote region layout (per node): atomic slots, READ source, WRITE area.
const MR_VA: u64 = 0x7f00_0000_0000;
const MR_RKEY: u32 = 0x0abc_0100;
const ATOMIC_SLOTS: usize = 16;
const READ_SRC: usize = ATOMIC_SLOTS * 8;
const READ_SRC_LEN: usize = (1 << 20) + 8192;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Send,
    SendImm,
    Write,
    WriteImm,
    Read,
    CmpSwap,
    FetchAdd,
    /// IBA 1.5 RDMA ATOMIC WRITE of 8 bytes into the WRITE area.
    AtomicWrite,
    /// IBA 1.5 RDMA FLUSH of a range of the READ source or the region.
    Flush,
}

impl Kind {
    /// Consumes a receive WQE at the peer.
    fn consumes_recv(self) -> bool {
        matches!(self, Kind::Send | Kind::SendImm | Kind::WriteImm)
    }
}

#[derive(Clone, Debug)]
struct Op {
    kind: Kind,
    wr: SendWr,
    /// SEND/WRITE payload; READ: the expected data.
    data: Vec<u8>,
    /// Offset in the peer's region (WRITE target, READ source, atomic slot).
    target: usize,
    /// Atomics: the original value the peer must return.
    expect_orig: u64,
    /// READ: the source bytes after every WRITE of the workload into the
    /// READ source (what a re-executed READ may see instead of `data`).
    newer: Vec<u8>,
    /// Index in the peer's receive plan (ops that consume a receive WQE).
    plan: Option<usize>,
}

/// A receive WQE the peer's workload will consume.
#[derive(Clone, Debug)]
struct Plan {
    len: u32,
}

#[derive(Clone, Debug)]
struct Scenario {
    name: &'static str,
    bidirectional: bool,
    lenient: bool,
    /// The lossy-links scenario's combined tc netem setting instead of a
    /// random channel (see `Netem`), with large WRITEs or READs only.
    netem: bool,
}

/// What `tc qdisc add ... netem loss 5% duplicate 5% corrupt 1% delay 10ms
/// 5ms reorder 25% 50% limit 1000` does to every packet but ACKs
/// (tests/vm/lossy-links.sh, the combined setting): a quarter of the
/// packets go at once, the others wait 10 ms +/- 5 ms (the jitter reorders
/// them too); the queue holds at most 1000 packets and drops what comes
/// when it is full.
#[derive(Clone, Copy, Debug)]
struct Netem {
    /// Chances (ppm) of loss, duplication and corruption.
    loss: u32,
    dup: u32,
    corrupt: u32,
    /// The transmitter's time per packet (a software device under TCG is
    /// far slower than the 1 ns per byte of the random channel).
    tx_ns_per_packet: u64,
    limit: usize,
}

#[derive(Clone, Debug)]
struct Cfg {
    link: LinkCfg,
    loss: u32,
    dup: u32,
    reorder: u32,
    corrupt: u32,
    ops: usize,
    max_size: u32,
    recv_window: usize,
    starve: u32,
    unsignaled: u32,
    /// Receive batching: packets are handed to the receiver only at
    /// multiples of this interval (a NAPI-style poll), so several are
    /// received before the QP transmits again (IBA 9.5 ordering must hold
    /// under any interleaving).
    rx_batch_ns: u64,
    /// Chance (ppm) that the device refuses a packet (queue full): it is
    /// handed back and the device is busy for a while.
    tx_fail: u32,
    netem: Option<Netem>,
    /// Every op of this kind and size (else random ones).
    only: Option<(Kind, u32)>,
}

struct Side {
    node: SimNode,
    ops: Vec<Op>,
    next_post: usize,
    post_hold: u64,
    /// Posted, not yet reclaimed: (slot, op index).
    fifo: VecDeque<(u32, usize)>,
    results: Vec<Option<(WcStatus, Option<Buf>)>>,
    /// The peer's consuming ops, in order.
    plan: Vec<Plan>,
    next_recv: usize,
    recv_hold: u64,
    recv_slots: Vec<Option<usize>>,
    recv_results: Vec<Option<(Completion, Option<Buf>)>>,
    next_recv_done: usize,
    tx_free_at: u64,
    rnr_retry: u8,
    /// Frames received but not yet handed to the QP, in order: the QP
    /// deferred the first (IBA 9.5: it waits for owed READ responses to be
    /// transmitted), so the rest wait behind it. (corrupted, bytes).
    backlog: VecDeque<(bool, Vec<u8>)>,
}

/// The simulated wire.
struct Channel {
    q: BTreeMap<(u64, u64), (bool, bool, Vec<u8>)>,
    /// Packets in `q` per direction (to A, to B).
    queued: [usize; 2],
    seq: u64,
    stats: Stats,
}

#[derive(Default, Debug, Clone)]
struct Stats {
    packets: u64,
    lost: u64,
    dups: u64,
    corrupted: u64,
    bad_icrc: u64,
    steps: u64,
    bytes: u64,
    seq_naks: u64,
    rnr_naks: u64,
    errored_runs: u64,
    read_requests: u64,
    tx_refused: u64,
    deferred: u64,
    /// Runs in which no READ was re-requested (READ data checked strictly).
    strict_read_runs: u64,
}

fn gen_size(rng: &mut Rng, max: u32) -> u32 {
    let r = rng.below(100);
    let cap = |v: u64| (v as u32).min(max);
    if r < 35 {
        cap(rng.below(300))
    } else if r < 70 {
        cap(rng.below(16 << 10))
    } else if r < 92 {
        cap(rng.below(128 << 10))
    } else {
        cap(rng.below(u64::from(max) + 1))
    }
}

/// Builds `n` ops from `rng` against a peer whose region starts with the
/// given READ source and atomic values; returns the ops, the peer's receive
/// plan and the size of the WRITE area needed.
fn gen_workload(
    rng: &mut Rng,
    cfg: &Cfg,
    peer_src: &[u8],
    atomics: &mut [u64; ATOMIC_SLOTS],
    wr_base: u64,
) -> (Vec<Op>, Vec<Plan>, usize) {
    let mut ops = Vec::new();
    let mut plan = Vec::new();
    let mut write_off = READ_SRC + READ_SRC_LEN;
    // The READ source as the peer's responder will have it when each op
    // executes (IBA 9.5: in order): some small WRITEs land in it, each byte
    // at most once, so a READ posted before such a WRITE must return the
    // old bytes and one posted after it the new ones.
    let mut shadow = peer_src.to_vec();
    let mut shadow_off = 0usize;
    for i in 0..cfg.ops {
        let kind = match (cfg.only, rng.below(100)) {
            (Some((kind, _)), _) => kind,
            (None, 0..=24) => Kind::Send,
            (None, 25..=34) => Kind::SendImm,
            (None, 35..=54) => Kind::Write,
            (None, 55..=64) => Kind::WriteImm,
            (None, 65..=82) => Kind::Read,
            (None, 83..=89) => Kind::CmpSwap,
            (None, 90..=94) => Kind::FetchAdd,
            (None, 95..=97) => Kind::AtomicWrite,
            _ => Kind::Flush,
        };
        let wr_id = wr_base + i as u64;
        let mut op = Op {
            kind,
            wr: SendWr::new(wr_id, WrOpcode::Send),
            data: Vec::new(),
            target: 0,
            expect_orig: 0,
            newer: Vec::new(),
            plan: None,
        };
        let len = match cfg.only {
            Some((_, len)) => len,
            None => gen_size(rng, cfg.max_size),
        };
        match kind {
            Kind::Send | Kind::SendImm | Kind::Write | Kind::WriteImm => {
                op.data = rng.bytes(len as usize);
                op.wr.len = len;
                op.wr.opcode = match kind {
                    Kind::Send => WrOpcode::Send,
                    Kind::SendImm => WrOpcode::SendWithImm,
                    Kind::Write => WrOpcode::RdmaWrite,
                    _ => WrOpcode::RdmaWriteWithImm,
                };
                op.wr.imm_or_inv = rng.next_u64() as u32;
                let into_read_src =
                    len <= 4096 && shadow_off + len as usize <= READ_SRC_LEN && rng.chance(250_000);
                if matches!(kind, Kind::Write | Kind::WriteImm) && into_read_src {
                    op.target = READ_SRC + shadow_off;
                    shadow[shadow_off..shadow_off + len as usize].copy_from_slice(&op.data);
                    shadow_off += len as usize + rng.below(16) as usize;
                    op.wr.remote_va = MR_VA + op.target as u64;
                    op.wr.rkey = MR_RKEY;
                } else if matches!(kind, Kind::Write | Kind::WriteImm) {
                    op.target = write_off;
                    write_off += len as usize + rng.below(16) as usize;
                    op.wr.remote_va = MR_VA + op.target as u64;
                    op.wr.rkey = MR_RKEY;
                }
            }
            Kind::Read => {
                let max_off = READ_SRC_LEN - len as usize;
                let off = if rng.chance(300_000) {
                    // Where the next WRITEs into the READ source will land.
                    shadow_off
                        .saturating_sub(rng.below(64) as usize)
                        .min(max_off)
                } else {
                    rng.below(max_off as u64 + 1) as usize
                };
                op.target = READ_SRC + off;
                op.data = shadow[off..off + len as usize].to_vec();
                op.wr.opcode = WrOpcode::RdmaRead;
                op.wr.len = len;
                op.wr.remote_va = MR_VA + op.target as u64;
                op.wr.rkey = MR_RKEY;
            }
            Kind::CmpSwap | Kind::FetchAdd => {
                let slot = rng.below(ATOMIC_SLOTS as u64) as usize;
                op.target = slot * 8;
                op.wr.remote_va = MR_VA + op.target as u64;
                op.wr.rkey = MR_RKEY;
                let cur = atomics[slot];
                op.expect_orig = cur;
                if kind == Kind::CmpSwap {
                    op.wr.opcode = WrOpcode::CompareSwap;
                    op.wr.compare_add = if rng.chance(600_000) {
                        cur
                    } else {
                        rng.next_u64()
                    };
                    op.wr.swap = rng.next_u64();
                } else {
                    op.wr.opcode = WrOpcode::FetchAdd;
                    op.wr.compare_add = rng.next_u64() >> rng.below(64);
                }
                let a = if kind == Kind::CmpSwap {
                    AtomicOp::CompareSwap {
                        compare: op.wr.compare_add,
                        swap: op.wr.swap,
                    }
                } else {
                    AtomicOp::FetchAdd {
                        add: op.wr.compare_add,
                    }
                };
                atomics[slot] = a.apply(cur);
            }
            Kind::AtomicWrite => {
                write_off = (write_off + 7) & !7;
                op.target = write_off;
                write_off += 8 + 8 * rng.below(2) as usize;
                op.data = rng.bytes(8);
                op.wr.opcode = WrOpcode::AtomicWrite;
                op.wr.len = 8;
                op.wr.remote_va = MR_VA + op.target as u64;
                op.wr.rkey = MR_RKEY;
            }
            Kind::Flush => {
                let placement = Placement([1, 2, 3][rng.below(3) as usize]);
                let selectivity = if rng.chance(300_000) {
                    Selectivity::Region
                } else {
                    Selectivity::Range
                };
                op.wr.opcode = WrOpcode::Flush {
                    placement,
                    selectivity,
                };
                let len = len.min(READ_SRC_LEN as u32);
                op.target = READ_SRC + rng.below(u64::from(READ_SRC_LEN as u32 - len) + 1) as usize;
                op.wr.len = len;
                op.wr.remote_va = MR_VA + op.target as u64;
                op.wr.rkey = MR_RKEY;
            }
        }
        if rng.chance(100_000) && matches!(kind, Kind::Read | Kind::CmpSwap | Kind::FetchAdd) {
            op.wr.flags = op.wr.flags.with(SendFlags::FENCE);
        }
        if rng.chance(100_000) {
            op.wr.flags = op.wr.flags.with(SendFlags::FENCE);
        }
        if kind.consumes_recv() {
            op.plan = Some(plan.len());
            let need = if kind == Kind::WriteImm { 0 } else { len };
            plan.push(Plan {
                len: need + rng.below(64) as u32,
            });
        }
        ops.push(op);
    }
    for op in ops.iter_mut().filter(|o| o.kind == Kind::Read) {
        let off = op.target - READ_SRC;
        op.newer = shadow[off..off + op.data.len()].to_vec();
    }
    (ops, plan, write_off + 64)
}

/// The bytes a READ must have returned. IBA 9.5: requests execute in
/// order, so without a re-request the READ sees none of the later WRITEs
/// into its source (`strict`); a READ re-executed after lost responses
/// (IBA 9.7.5.2) may see them, byte by byte old or new.
fn read_expect(op: &Op, got: &Buf, strict: bool) -> Vec<u8> {
    if strict {
        return op.data.clone();
    }
    op.data
        .iter()
        .zip(&op.newer)
        .zip(&got.data)
        .map(|((&old, &new), &g)| if g == new { new } else { old })
        .collect()
}

/// A FLUSH that reaches `Memory::flush` (a zero-length range does not).
fn reaches_flush(o: &Op) -> bool {
    match o.wr.opcode {
        WrOpcode::Flush { selectivity, .. } => selectivity == Selectivity::Region || o.wr.len != 0,
        _ => false,
    }
}

fn wc_opcode_of(kind: Kind) -> WcOpcode {
    match kind {
        Kind::Send | Kind::SendImm => WcOpcode::Send,
        Kind::Write | Kind::WriteImm => WcOpcode::RdmaWrite,
        Kind::Read => WcOpcode::RdmaRead,
        Kind::CmpSwap => WcOpcode::CompSwap,
        Kind::FetchAdd => WcOpcode::FetchAdd,
        Kind::AtomicWrite => WcOpcode::AtomicWrite,
        Kind::Flush => WcOpcode::Flush,
    }
}

impl Channel {
    fn insert(&mut self, when: u64, to_b: bool, corrupted: bool, bytes: Vec<u8>) {
        self.queued[usize::from(to_b)] += 1;
        self.q.insert((when, self.seq), (to_b, corrupted, bytes));
    }

    fn send(&mut self, rng: &mut Rng, cfg: &Cfg, to_b: bool, mut bytes: Vec<u8>, at: u64) {
        self.stats.packets += 1;
        // Classify NAKs: opcode RC ACKNOWLEDGE, AETH syndrome after the BTH.
        if bytes[0] == 0x0c {
            self.stats.read_requests += 1;
        }
        if bytes[0] == 0x11 {
            match bytes[12] & 0x60 {
                0x20 => self.stats.rnr_naks += 1,
                0x60 if bytes[12] & 0x1f == 0 => self.stats.seq_naks += 1,
                _ => {}
            }
        }
        self.stats.bytes += bytes.len() as u64;
        // tc netem leaves ACKs alone (netem_except_acks).
        let netem = cfg.netem.filter(|_| bytes[0] != 0x11);
        let (loss, corrupt, dup) = match netem {
            Some(n) => (n.loss, n.corrupt, n.dup),
            None => (cfg.loss, cfg.corrupt, cfg.dup),
        };
        let full = netem.is_some_and(|n| self.queued[usize::from(to_b)] >= n.limit);
        if full || rng.chance(loss) {
            self.stats.lost += 1;
            return;
        }
        let corrupted = rng.chance(corrupt);
        if corrupted {
            // Flip one bit anywhere but BTH byte 4 (FECN/BECN/reserved, which
            // the ICRC masks and the receiver ignores).
            let mut i = rng.below(bytes.len() as u64) as usize;
            if i == 4 {
                i = 5;
            }
            bytes[i] ^= 1 << rng.below(8);
            self.stats.corrupted += 1;
        }
        let delay = |rng: &mut Rng| match netem {
            Some(_) if rng.chance(250_000) => 2_000,
            Some(_) => 5_000_000 + rng.below(10_000_000),
            None if rng.chance(cfg.reorder) => 2_000 + rng.below(30_000),
            None => 2_000,
        };
        let when = (at + delay(rng)).next_multiple_of(cfg.rx_batch_ns);
        if rng.chance(dup) {
            self.stats.dups += 1;
            self.seq += 1;
            let again = match netem {
                Some(_) => at + delay(rng),
                None => when + rng.below(50_000),
            };
            self.insert(again, to_b, corrupted, bytes.clone());
        }
        self.seq += 1;
        self.insert(when, to_b, corrupted, bytes);
    }
}

impl Side {
    fn new(node: SimNode, ops: Vec<Op>, plan: Vec<Plan>, rnr_retry: u8) -> Side {
        let n = ops.len();
        let p = plan.len();
        Side {
            node,
            ops,
            next_post: 0,
            post_hold: 0,
            fifo: VecDeque::new(),
            results: vec![None; n],
            plan,
            next_recv: 0,
            recv_hold: 0,
            recv_slots: vec![None; RQ],
            recv_results: vec![None; p],
            next_recv_done: 0,
            tx_free_at: 0,
            rnr_retry,
            backlog: VecDeque::new(),
        }
    }

    /// Hands the backlog to the QP in order until it defers a frame.
    fn receive_backlog(&mut self, now: u64, stats: &mut Stats) -> Result<(), String> {
        while let Some((corrupted, bytes)) = self.backlog.pop_front() {
            let rx = self.node.deliver(&bytes, now);
            if rx == support::Rx::Received(Verdict::Deferred) {
                stats.deferred += 1;
                self.backlog.push_front((corrupted, bytes));
                return Ok(());
            }
            if corrupted != (rx == support::Rx::BadIcrc) {
                return Err(format!("corrupted={corrupted} but delivery gave {rx:?}"));
            }
            if rx == support::Rx::BadIcrc {
                stats.bad_icrc += 1;
            }
            rx.check_from_correct_peer()?;
        }
        Ok(())
    }

    fn done(&self) -> bool {
        self.next_post == self.ops.len() && self.fifo.is_empty()
    }

    /// The app posts what it may (send WQEs, receive WQEs under its
    /// starvation policy).
    fn app(&mut self, rng: &mut Rng, cfg: &Cfg, now: u64) -> Result<(), String> {
        while self.next_post < self.ops.len() && self.fifo.len() < SQ && now >= self.post_hold {
            let i = self.next_post;
            let mut wr = self.ops[i].wr;
            // Unsignaled WQEs only while at most half the queue is in use,
            // so a signaled completion always comes to reclaim them.
            if self.fifo.len() < SQ / 2 && i + 1 < self.ops.len() && rng.chance(cfg.unsignaled) {
                wr.flags = SendFlags(wr.flags.0 & !SendFlags::SIGNALED.0);
            }
            self.ops[i].wr = wr;
            let slot = self
                .node
                .qp
                .post_send(&wr, &mut self.node.rec)
                .map_err(|e| format!("post_send {i}: {e:?}"))?;
            let buf = match self.ops[i].kind {
                Kind::Read => Buf::zeroed(self.ops[i].data.len()),
                Kind::CmpSwap | Kind::FetchAdd => Buf::zeroed(8),
                _ => Buf::new(self.ops[i].data.clone()),
            };
            self.node.mem.send[slot as usize] = Some(buf);
            self.fifo.push_back((slot, i));
            self.next_post += 1;
            if rng.chance(30_000) {
                self.post_hold = now + rng.below(200_000);
            }
        }
        while self.next_recv < self.plan.len()
            && self.node.recv_queue_len() < cfg.recv_window
            && now >= self.recv_hold
        {
            if rng.chance(cfg.starve) {
                self.recv_hold = now + rng.range(10_000, 2_000_000);
                break;
            }
            let i = self.next_recv;
            let slot = self
                .node
                .post_recv_wqe(0x8000_0000 + i as u64, self.plan[i].len)
                .map_err(|e| format!("post_recv {i}: {e:?}"))?;
            self.recv_slots[slot as usize] = Some(i);
            self.next_recv += 1;
        }
        Ok(())
    }

    /// Takes the recorded completions and matches them with the workload.
    fn reap(&mut self) -> Result<(), String> {
        let wcs = std::mem::take(&mut self.node.rec.wcs);
        for wc in wcs {
            match wc.queue {
                rvt_proto::engine::Queue::Send => {
                    let pos = self
                        .fifo
                        .iter()
                        .position(|&(s, _)| s == wc.slot)
                        .ok_or_else(|| format!("send completion for unknown slot: {wc:?}"))?;
                    for (n, (slot, i)) in self.fifo.drain(..=pos).enumerate() {
                        let buf = self.node.mem.send[slot as usize].take();
                        let op = &self.ops[i];
                        if n < pos {
                            // Completed silently: must be an unsignaled success.
                            if op.wr.flags.contains(SendFlags::SIGNALED) {
                                return Err(format!(
                                    "completion of op {} overtook signaled op {i}",
                                    wc.wr_id
                                ));
                            }
                            self.results[i] = Some((WcStatus::Success, buf));
                            continue;
                        }
                        if wc.wr_id != op.wr.wr_id {
                            return Err(format!("op {i}: wr_id {:#x} in {wc:?}", op.wr.wr_id));
                        }
                        if wc.status == WcStatus::Success {
                            if !op.wr.flags.contains(SendFlags::SIGNALED) {
                                return Err(format!("op {i}: unsignaled success reported"));
                            }
                            let len = if matches!(op.kind, Kind::CmpSwap | Kind::FetchAdd) {
                                8
                            } else {
                                op.wr.len
                            };
                            if wc.opcode != wc_opcode_of(op.kind) || wc.byte_len != len {
                                return Err(format!(
                                    "op {i} ({:?}): bad completion {wc:?}",
                                    op.kind
                                ));
                            }
                        }
                        self.results[i] = Some((wc.status, buf));
                    }
                }
                rvt_proto::engine::Queue::Recv => {
                    let i = self.recv_slots[wc.slot as usize]
                        .take()
                        .ok_or_else(|| format!("recv completion for unknown slot: {wc:?}"))?;
                    if i != self.next_recv_done {
                        return Err(format!(
                            "recv completion for plan {i}, expected {}",
                            self.next_recv_done
                        ));
                    }
                    if wc.wr_id != 0x8000_0000 + i as u64 {
                        return Err(format!("recv plan {i}: wr_id in {wc:?}"));
                    }
                    self.next_recv_done += 1;
                    let buf = self.node.mem.recv[wc.slot as usize].take();
                    self.recv_results[i] = Some((wc, buf));
                }
            }
        }
        Ok(())
    }
}

fn gen_cfg(rng: &mut Rng, sc: &Scenario) -> Cfg {
    if sc.netem {
        // ib_write_bw / ib_read_bw -s 1048576 over rvt_roce on a 1500-byte
        // veth, perftest's QP attributes.
        let read = rng.chance(500_000);
        return Cfg {
            link: LinkCfg {
                mtu: Mtu::M1024,
                timeout: 14,
                retry_cnt: 7,
                rnr_retry: 7,
                max_rd_atomic: 16.min(RD as u8),
                max_dest_rd_atomic: 16.min(RD as u8),
                sq_psn: rng.below(1 << 24) as u32,
                ..LinkCfg::default()
            },
            loss: 0,
            dup: 0,
            reorder: 0,
            corrupt: 0,
            ops: 5,
            max_size: 1 << 20,
            recv_window: 8,
            starve: 0,
            unsignaled: 0,
            rx_batch_ns: 1,
            tx_fail: 0,
            netem: Some(Netem {
                loss: 50_000,
                dup: 50_000,
                corrupt: 10_000,
                tx_ns_per_packet: [1_000, 10_000, 30_000][rng.below(3) as usize],
                limit: 1000,
            }),
            only: Some((if read { Kind::Read } else { Kind::Write }, 1 << 20)),
        };
    }
    let mtu = [Mtu::M256, Mtu::M512, Mtu::M1024, Mtu::M2048, Mtu::M4096][rng.below(5) as usize];
    let lossy = rng.chance(800_000);
    let small = sc.lenient;
    let max_rd = rng.range(1, RD as u64) as u8;
    let link = LinkCfg {
        mtu,
        timeout: if small {
            rng.range(9, 13) as u8
        } else {
            rng.range(12, 14) as u8
        },
        retry_cnt: if small { rng.below(4) as u8 } else { 7 },
        rnr_retry: if small { rng.below(4) as u8 } else { 7 },
        min_rnr_timer: rng.range(1, 14) as u8,
        max_rd_atomic: max_rd,
        max_dest_rd_atomic: rng.range(u64::from(max_rd), RD as u64) as u8,
        sq_psn: if rng.chance(300_000) {
            0xff_ffff - rng.below(64) as u32
        } else {
            rng.below(1 << 24) as u32
        },
        ack_delay_ns: rng.range(500, 20_000),
        ack_req_interval: [0, 1, 4, 16, 64][rng.below(5) as usize],
        flow_control: rng.chance(500_000),
    };
    let mut amount = |max: u64| if lossy { rng.range(0, max) as u32 } else { 0 };
    let (loss, dup, reorder, corrupt) = (
        amount(30_000),
        amount(20_000),
        amount(20_000),
        amount(10_000),
    );
    Cfg {
        link,
        loss,
        dup,
        reorder,
        corrupt,
        ops: rng.range(5, 40) as usize,
        max_size: if rng.chance(700_000) { 1 << 20 } else { 4096 },
        recv_window: rng.range(1, 24) as usize,
        starve: rng.range(0, 150_000) as u32,
        unsignaled: rng.range(0, 300_000) as u32,
        rx_batch_ns: [1, 1, 5_000, 50_000][rng.below(4) as usize],
        tx_fail: [0, 5_000, 50_000][rng.below(3) as usize],
        netem: None,
        only: None,
    }
}

/// Checks the results of `req`'s workload against the peer `resp`.
fn check_direction(
    req: &Side,
    resp: &Side,
    lenient: bool,
    strict_reads: bool,
    who: &str,
) -> Result<(), String> {
    let mut first_err = None;
    for (i, r) in req.results.iter().enumerate() {
        let Some((status, _)) = r else {
            return Err(format!("{who}: op {i} never completed"));
        };
        match (first_err, *status) {
            (None, WcStatus::Success) => {}
            (None, s) => {
                let ok = s == WcStatus::RetryExcErr
                    || (s == WcStatus::RnrRetryExcErr && req.rnr_retry < 7);
                if !lenient || !ok {
                    return Err(format!(
                        "{who}: op {i} ({:?}) failed with {s:?}",
                        req.ops[i].kind
                    ));
                }
                first_err = Some(i);
            }
            (Some(_), WcStatus::WrFlushErr) => {}
            (Some(e), s) => {
                return Err(format!("{who}: op {i} has {s:?} after the error of op {e}"));
            }
        }
    }
    let ok_ops = first_err.unwrap_or(req.ops.len());
    let region = &resp.node.mem.region(MR_RKEY).unwrap().buf;
    // Data of completed operations.
    for (i, op) in req.ops.iter().enumerate().take(ok_ops) {
        let buf = req.results[i].as_ref().unwrap().1.as_ref();
        match op.kind {
            Kind::Write | Kind::WriteImm | Kind::AtomicWrite => region
                .check_once(op.target, &op.data)
                .map_err(|e| format!("{who}: WRITE op {i}: {e}"))?,
            Kind::Read => {
                let buf = buf.ok_or("no READ buffer")?;
                buf.check_once(0, &read_expect(op, buf, strict_reads))
                    .map_err(|e| format!("{who}: READ op {i} (len {}): {e}", op.data.len()))?
            }
            Kind::CmpSwap | Kind::FetchAdd => buf
                .ok_or("no atomic buffer")?
                .check_once(0, &op.expect_orig.to_ne_bytes())
                .map_err(|e| format!("{who}: atomic op {i}: {e}"))?,
            _ => {}
        }
    }
    // Bytes of operations that did not complete (executed or not at the
    // peer) were written at most once and only with the right values.
    region
        .check_at_most_once()
        .map_err(|e| format!("{who}: peer region: {e}"))?;
    for op in req.ops.iter().skip(ok_ops) {
        if matches!(op.kind, Kind::Write | Kind::WriteImm | Kind::AtomicWrite) {
            for (j, b) in op.data.iter().enumerate() {
                let k = op.target + j;
                if region.writes[k] == 1 && region.data[k] != *b {
                    return Err(format!("{who}: partial WRITE wrote a wrong byte at {k}"));
                }
            }
        }
    }
    // Atomics: executed exactly once each, in order: the peer's log is a
    // prefix of the atomic ops, at least as long as the completed ones.
    let atomics: Vec<&Op> = req
        .ops
        .iter()
        .filter(|o| matches!(o.kind, Kind::CmpSwap | Kind::FetchAdd))
        .collect();
    let log = &resp.node.mem.atomic_log;
    if log.len() > atomics.len() {
        return Err(format!(
            "{who}: {} atomics executed for {} posted",
            log.len(),
            atomics.len()
        ));
    }
    for (n, (rkey, va, aop, orig)) in log.iter().enumerate() {
        let o = atomics[n];
        let want = if o.kind == Kind::CmpSwap {
            AtomicOp::CompareSwap {
                compare: o.wr.compare_add,
                swap: o.wr.swap,
            }
        } else {
            AtomicOp::FetchAdd {
                add: o.wr.compare_add,
            }
        };
        if *rkey != MR_RKEY || *va != o.wr.remote_va || *aop != want || *orig != o.expect_orig {
            return Err(format!("{who}: atomic #{n} executed out of order or twice"));
        }
    }
    let ok_atomics = req.ops[..ok_ops]
        .iter()
        .filter(|o| matches!(o.kind, Kind::CmpSwap | Kind::FetchAdd))
        .count();
    if log.len() < ok_atomics {
        return Err(format!("{who}: completed atomics were not executed"));
    }
    // FLUSHes (IBA 1.5): executed once each, in order (the peer's log is
    // a prefix of the posted ones that reach `Memory::flush`: all but
    // zero-length ranges), every completed one executed.
    let flushes: Vec<&Op> = req.ops.iter().filter(|o| reaches_flush(o)).collect();
    let flog = &resp.node.mem.flush_log;
    if flog.len() > flushes.len() {
        return Err(format!(
            "{who}: {} FLUSHes executed for {} posted",
            flog.len(),
            flushes.len()
        ));
    }
    for (n, &(rkey, va, len, sel, plt)) in flog.iter().enumerate() {
        let o = flushes[n];
        let want = WrOpcode::Flush {
            placement: plt,
            selectivity: sel,
        };
        if rkey != MR_RKEY || va != o.wr.remote_va || len != o.wr.len || want != o.wr.opcode {
            return Err(format!("{who}: FLUSH #{n} executed out of order or twice"));
        }
    }
    let ok_flushes = req.ops[..ok_ops]
        .iter()
        .filter(|o| reaches_flush(o))
        .count();
    if flog.len() < ok_flushes {
        return Err(format!("{who}: completed FLUSHes were not executed"));
    }
    // The peer's receive completions: a successful prefix (at least all
    // completed consuming ops), then flushes.
    let consumed_ok = req.ops[..ok_ops]
        .iter()
        .filter(|o| o.plan.is_some())
        .count();
    let mut flushing = false;
    for (p, r) in resp.recv_results.iter().enumerate() {
        let Some((wc, buf)) = r else {
            if p < resp.next_recv {
                return Err(format!("{who}: posted receive {p} never completed"));
            }
            continue;
        };
        if wc.status == WcStatus::WrFlushErr {
            flushing = true;
            if p < consumed_ok {
                return Err(format!(
                    "{who}: receive {p} flushed although its op completed"
                ));
            }
            continue;
        }
        if flushing || wc.status != WcStatus::Success {
            return Err(format!("{who}: receive {p}: {wc:?}"));
        }
        let op = req
            .ops
            .iter()
            .find(|o| o.plan == Some(p))
            .ok_or("receive without op")?;
        let (opcode, len) = match op.kind {
            Kind::WriteImm => (WcOpcode::RecvRdmaWithImm, op.wr.len),
            _ => (WcOpcode::Recv, op.wr.len),
        };
        let imm = matches!(op.kind, Kind::SendImm | Kind::WriteImm);
        if wc.opcode != opcode
            || wc.byte_len != len
            || wc.flags.contains(WcFlags::WITH_IMM) != imm
            || (imm && wc.ex != op.wr.imm_or_inv)
        {
            return Err(format!("{who}: receive {p} for {:?}: {wc:?}", op.kind));
        }
        if op.kind != Kind::WriteImm {
            let buf = buf.as_ref().ok_or("no receive buffer")?;
            buf.check_once(0, &op.data)
                .map_err(|e| format!("{who}: SEND into receive {p}: {e}"))?;
            if buf.writes[op.data.len()..].iter().any(|&w| w != 0) {
                return Err(format!("{who}: SEND wrote past its length in receive {p}"));
            }
        }
    }
    if resp.next_recv_done < consumed_ok {
        return Err(format!(
            "{who}: {} receives completed, {consumed_ok} needed",
            resp.next_recv_done
        ));
    }
    Ok(())
}

fn run_seed(sc: &Scenario, seed: u64) -> Result<Stats, String> {
    let mut rng = Rng::new(seed);
    let cfg = gen_cfg(&mut rng, sc);
    let (mut a, mut b): (SimNode, SimNode) = connect(QpType::Rc, &cfg.link);
    let mut atomics_a = [0u64; ATOMIC_SLOTS];
    let mut atomics_b = [0u64; ATOMIC_SLOTS];
    for v in atomics_a.iter_mut().chain(atomics_b.iter_mut()) {
        *v = rng.next_u64();
    }
    let src_a = rng.bytes(READ_SRC_LEN);
    let src_b = rng.bytes(READ_SRC_LEN);
    let (ops_a, plan_b, len_b) = gen_workload(&mut rng, &cfg, &src_b, &mut atomics_b.clone(), 0);
    let (ops_b, plan_a, len_a) = if sc.bidirectional {
        gen_workload(&mut rng, &cfg, &src_a, &mut atomics_a.clone(), 1 << 32)
    } else {
        (Vec::new(), Vec::new(), READ_SRC + READ_SRC_LEN)
    };
    for (node, atomics, src, len) in [
        (&mut a, &atomics_a, &src_a, len_a),
        (&mut b, &atomics_b, &src_b, len_b),
    ] {
        let mut region = vec![0u8; len];
        for (i, v) in atomics.iter().enumerate() {
            region[i * 8..i * 8 + 8].copy_from_slice(&v.to_ne_bytes());
        }
        region[READ_SRC..READ_SRC + READ_SRC_LEN].copy_from_slice(src);
        node.mem
            .add_region(MR_RKEY, MR_VA, region, support::ALL_RIGHTS);
    }
    let rnr = cfg.link.rnr_retry;
    let mut sides = [
        Side::new(a, ops_a, plan_a, rnr),
        Side::new(b, ops_b, plan_b, rnr),
    ];
    let mut ch = Channel {
        q: BTreeMap::new(),
        queued: [0; 2],
        seq: 0,
        stats: Stats::default(),
    };
    let total_bytes: u64 = sides
        .iter()
        .flat_map(|s| s.ops.iter())
        .map(|o| u64::from(o.wr.len) + 64)
        .sum();
    let mtu = u64::from(cfg.link.mtu.bytes());
    // Under the netem setting go-back-N collapses (each gap restarts a
    // burst into a full queue): seeds need up to 1500 packets per packet
    // of payload, so its bound is far larger.
    let collapse = if cfg.netem.is_some() { 200 } else { 1 };
    let max_steps = (200_000 + 60 * (total_bytes / mtu + 1)) * collapse;
    let mut now: u64 = 0;
    let mut steps: u64 = 0;
    loop {
        steps += 1;
        if steps > max_steps {
            return Err(format!("no termination after {steps} steps (t = {now} ns)"));
        }
        // Deliver what is due.
        while let Some((&(at, seq), _)) = ch.q.first_key_value() {
            if at > now {
                break;
            }
            let (to_b, corrupted, bytes) = ch.q.remove(&(at, seq)).unwrap();
            ch.queued[usize::from(to_b)] -= 1;
            sides[usize::from(to_b)]
                .backlog
                .push_back((corrupted, bytes));
        }
        for s in sides.iter_mut() {
            s.receive_backlog(now, &mut ch.stats)?;
        }
        for s in sides.iter_mut() {
            s.node.fire_timers(now);
            s.reap()?;
            s.app(&mut rng, &cfg, now)?;
        }
        for (i, s) in sides.iter_mut().enumerate() {
            while s.tx_free_at <= now {
                if rng.chance(cfg.tx_fail) {
                    // The device queue is full: the packet goes back to the
                    // engine, which must produce the same one when asked
                    // again; the device is busy for a while.
                    let Some(refused) = s.node.transmit_refused(now) else {
                        break;
                    };
                    if s.node.transmit_refused(now).as_ref() != Some(&refused) {
                        return Err("a handed-back packet was not produced again".into());
                    }
                    ch.stats.tx_refused += 1;
                    s.tx_free_at = now + rng.range(100, 20_000);
                    break;
                }
                let Some(p) = s.node.transmit(now) else {
                    break;
                };
                // 1 ns per byte on the wire (8 Gb/s).
                let cost = cfg
                    .netem
                    .map_or(p.len() as u64 + 20, |n| n.tx_ns_per_packet);
                s.tx_free_at = now.max(s.tx_free_at) + cost;
                ch.send(&mut rng, &cfg, i == 0, p, s.tx_free_at);
            }
            // Transmitted: what the QP deferred may be executed now.
            s.receive_backlog(now, &mut ch.stats)?;
            s.reap()?;
        }
        if sides.iter().all(Side::done) {
            break;
        }
        // Next event.
        let mut next = u64::MAX;
        if let Some((&(at, _), _)) = ch.q.first_key_value() {
            next = next.min(at);
        }
        for s in &sides {
            if let Some(d) = s.node.next_deadline() {
                next = next.min(d);
            }
            if s.tx_free_at > now {
                next = next.min(s.tx_free_at);
            }
            if s.post_hold > now && s.next_post < s.ops.len() {
                next = next.min(s.post_hold);
            }
            if s.recv_hold > now && s.next_recv < s.plan.len() {
                next = next.min(s.recv_hold);
            }
        }
        if next == u64::MAX {
            return Err(format!(
                "stalled at t = {now} ns: A posted {}/{} pending {}, B posted {}/{} pending {}",
                sides[0].next_post,
                sides[0].ops.len(),
                sides[0].fifo.len(),
                sides[1].next_post,
                sides[1].ops.len(),
                sides[1].fifo.len()
            ));
        }
        now = next.max(now);
    }
    // Tear down: both QPs to Error flush the receive queues.
    for s in sides.iter_mut() {
        s.node
            .modify(&AttrUpdate {
                state: Some(QpState::Error),
                ..AttrUpdate::default()
            })
            .map_err(|e| format!("{e:?}"))?;
        s.reap()?;
    }
    if sides
        .iter()
        .any(|s| s.results.iter().flatten().any(|r| r.0 != WcStatus::Success))
    {
        ch.stats.errored_runs = 1;
    }
    let [sa, sb] = &sides;
    // No READ request went out twice: every READ executed exactly once.
    let reads = sides
        .iter()
        .flat_map(|s| &s.ops[..s.next_post])
        .filter(|o| o.kind == Kind::Read)
        .count() as u64;
    let strict_reads = ch.stats.read_requests == reads;
    if strict_reads {
        ch.stats.strict_read_runs = 1;
    }
    check_direction(sa, sb, sc.lenient, strict_reads, "A->B")?;
    check_direction(sb, sa, sc.lenient, strict_reads, "B->A")?;
    ch.stats.steps = steps;
    Ok(ch.stats)
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

fn run(sc: Scenario, default_seeds: u64) {
    let seeds: Vec<u64> = match env_u64("RVT_SIM_SEED") {
        Some(s) => vec![s],
        None => {
            let n = env_u64("RVT_SIM_SEEDS").unwrap_or(default_seeds);
            let base = match sc.name {
                "rc-uni" => 1_000_000,
                "rc-bidi" => 2_000_000,
                "rc-netem" => 4_000_000,
                _ => 3_000_000,
            };
            (0..n).map(|i| base + i).collect()
        }
    };
    let mut total = Stats::default();
    for seed in seeds {
        let res = std::panic::catch_unwind(|| run_seed(&sc, seed));
        match res {
            Ok(Ok(st)) => {
                total.packets += st.packets;
                total.lost += st.lost;
                total.dups += st.dups;
                total.corrupted += st.corrupted;
                total.bad_icrc += st.bad_icrc;
                total.steps += st.steps;
                total.bytes += st.bytes;
                total.seq_naks += st.seq_naks;
                total.rnr_naks += st.rnr_naks;
                total.errored_runs += st.errored_runs;
                total.read_requests += st.read_requests;
                total.tx_refused += st.tx_refused;
                total.deferred += st.deferred;
                total.strict_read_runs += st.strict_read_runs;
            }
            Ok(Err(e)) => panic!(
                "simulation {} seed {seed} failed: {e}\n  replay: RVT_SIM_SEED={seed} cargo test --test sim {}",
                sc.name,
                sc.name.replace('-', "_")
            ),
            Err(p) => {
                eprintln!(
                    "simulation {} seed {seed} panicked; replay: RVT_SIM_SEED={seed} cargo test --test sim",
                    sc.name
                );
                std::panic::resume_unwind(p);
            }
        }
    }
    eprintln!("{}: {total:?}", sc.name);
}

#[test]
fn rc_uni() {
    run(
        Scenario {
            name: "rc-uni",
            bidirectional: false,
            lenient: false,
            netem: false,
        },
        24,
    );
}

#[test]
fn rc_bidi() {
    run(
        Scenario {
            name: "rc-bidi",
            bidirectional: true,
            lenient: false,
            netem: false,
        },
        16,
    );
}

#[test]
fn rc_small_retry() {
    run(
        Scenario {
            name: "rc-small-retry",
            bidirectional: true,
            lenient: true,
            netem: false,
        },
        24,
    );
}

#[test]
fn rc_netem() {
    run(
        Scenario {
            name: "rc-netem",
            bidirectional: false,
            lenient: false,
            netem: true,
        },
        4,
    );
}
