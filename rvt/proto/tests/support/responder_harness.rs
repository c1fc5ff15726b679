//! Drives one QP with an arbitrary byte string interpreted as a sequence of
//! events: raw packets, structured packets close to what the QP expects,
//! receive/send posts, timer expiries and transmit polls. Shared by the
//! cargo-fuzz target `responder` (fuzz/fuzz_targets/responder.rs includes
//! this file) and by `tests/engine_fuzz.rs` (random inputs and regression
//! inputs in `cargo test`).
//!
//! Besides "never panics", it checks that every completion names a live
//! slot exactly once and that transmit descriptors stay inside what the
//! engine was given.

use rvt_proto::engine::{
    AccessFlags, AtomicOp, AttrUpdate, Completion, DropReason, MemError, Memory, Mtu, Payload,
    Placement, Qp, QpState, QpType, Queue, RecvQueue, RecvWqe, RemoteAccess, ResponderResource,
    RxMeta, Selectivity, SendWqe, SendWr, Sink, UdDest, Verdict, WrOpcode, MAX_HEADER_LEN,
};
use rvt_proto::headers::{Aeth, AtomicAckEth, AtomicEth, Bth, Deth, Feth, Ieth, ImmDt, Reth};
use rvt_proto::opcode::{Opcode, Operation};
use rvt_proto::packet::{self, Packet, PacketHeaders};
use rvt_proto::psn::Psn;

const SQ: usize = 8;
const RQ: usize = 8;
const RD: usize = 4;
const RKEY: u32 = 0x100;
const VA: u64 = 0x1_0000;
const REGION: usize = 8192;
const RECV_LEN: usize = 2048;

/// No input may reveal an inconsistent engine state: every `Packet` is one
/// the parser produces, so `DropReason::Internal` would be an engine bug.
fn assert_consistent(verdict: Verdict) {
    assert_ne!(verdict, Verdict::Dropped(DropReason::Internal));
}

struct Mem {
    region: Vec<u8>,
    /// The caller's receive queue: WQEs not yet taken by the engine.
    rq: std::collections::VecDeque<RecvWqe>,
    recv_live: [bool; RQ],
    send_live: [bool; SQ],
}

impl RecvQueue for Mem {
    fn take_recv(&mut self) -> Option<RecvWqe> {
        self.rq.pop_front()
    }

    fn available(&self) -> Option<u32> {
        u32::try_from(self.rq.len()).ok()
    }
}

impl Mem {
    fn range(&self, rkey: u32, va: u64, len: u64) -> Result<usize, MemError> {
        if rkey != RKEY {
            return Err(MemError::Access);
        }
        let off = va.checked_sub(VA).ok_or(MemError::Access)?;
        let end = off.checked_add(len).ok_or(MemError::Access)?;
        if end > REGION as u64 {
            return Err(MemError::Access);
        }
        Ok(off as usize)
    }
}

impl Memory for Mem {
    fn check_remote(
        &mut self,
        rkey: u32,
        va: u64,
        len: u32,
        _: RemoteAccess,
    ) -> Result<(), MemError> {
        self.range(rkey, va, u64::from(len)).map(|_| ())
    }

    fn write_remote(&mut self, rkey: u32, va: u64, data: &[u8]) -> Result<(), MemError> {
        let off = self.range(rkey, va, data.len() as u64)?;
        self.region[off..off + data.len()].copy_from_slice(data);
        Ok(())
    }

    fn atomic(&mut self, rkey: u32, va: u64, op: AtomicOp) -> Result<u64, MemError> {
        let off = self.range(rkey, va, 8)?;
        let cell = &mut self.region[off..off + 8];
        let orig = u64::from_ne_bytes(cell.try_into().unwrap());
        cell.copy_from_slice(&op.apply(orig).to_ne_bytes());
        Ok(orig)
    }

    fn atomic_write(&mut self, rkey: u32, va: u64, value: [u8; 8]) -> Result<(), MemError> {
        assert_eq!(va & 7, 0, "ATOMIC WRITE at an unaligned VA");
        let off = self.range(rkey, va, 8)?;
        self.region[off..off + 8].copy_from_slice(&value);
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
        assert!(placement.is_valid(), "FLUSH with an invalid placement type");
        match selectivity {
            Selectivity::Range => {
                assert!(len > 0, "zero-length FLUSH range passed");
                self.range(rkey, va, u64::from(len)).map(|_| ())
            }
            Selectivity::Region if rkey == RKEY => Ok(()),
            Selectivity::Region => Err(MemError::Access),
        }
    }

    fn invalidate(&mut self, rkey: u32) -> Result<(), MemError> {
        if rkey == RKEY {
            Ok(())
        } else {
            Err(MemError::Operational)
        }
    }

    fn write_recv(&mut self, slot: u32, offset: u32, data: &[u8]) -> Result<(), MemError> {
        assert!(
            self.recv_live[slot as usize],
            "write into a free receive slot"
        );
        assert!(offset as usize + data.len() <= RECV_LEN, "receive overflow");
        Ok(())
    }

    fn write_send(&mut self, slot: u32, offset: u32, data: &[u8]) -> Result<(), MemError> {
        assert!(self.send_live[slot as usize], "write into a free send slot");
        if offset as usize + data.len() > REGION {
            return Err(MemError::Local);
        }
        Ok(())
    }
}

#[derive(Default)]
struct Rec {
    wcs: Vec<Completion>,
    released: Vec<u32>,
}

impl Sink for Rec {
    fn completion(&mut self, wc: &Completion) {
        self.wcs.push(*wc);
    }
    fn send_slot_released(&mut self, slot: u32, _: u64) {
        self.released.push(slot);
    }
    fn state_changed(&mut self, state: QpState) {
        assert_eq!(state, QpState::Error);
    }
}

/// Byte reader that yields zeros when exhausted.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    fn u64(&mut self) -> u64 {
        u64::from(self.u32()) | (u64::from(self.u32()) << 32)
    }
    fn take(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.0.len());
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a
    }
}

const TYPES: [QpType; 3] = [QpType::Rc, QpType::Uc, QpType::Ud];
const MTUS: [Mtu; 5] = [Mtu::M256, Mtu::M512, Mtu::M1024, Mtu::M2048, Mtu::M4096];
const WR_OPS: [WrOpcode; 11] = [
    WrOpcode::AtomicWrite,
    WrOpcode::Flush {
        placement: Placement::GLOBAL,
        selectivity: Selectivity::Range,
    },
    WrOpcode::Flush {
        placement: Placement(3),
        selectivity: Selectivity::Region,
    },
    WrOpcode::Send,
    WrOpcode::SendWithImm,
    WrOpcode::SendWithInv,
    WrOpcode::RdmaWrite,
    WrOpcode::RdmaWriteWithImm,
    WrOpcode::RdmaRead,
    WrOpcode::CompareSwap,
    WrOpcode::FetchAdd,
];

/// Runs the harness on `data`.
pub fn run(data: &[u8]) {
    let mut b = Bytes(data);
    let setup = b.u8();
    let qp_type = TYPES[usize::from(setup % 3)];
    let mtu = MTUS[usize::from((setup / 3) % 5)];
    let qpn = if setup & 0x80 != 0 { 1 } else { 0x22 };
    // Borrowed storage (the tests' nodes own theirs in a Vec).
    let mut send_queue = [SendWqe::EMPTY; SQ];
    let mut resources = [ResponderResource::EMPTY; RD];
    let mut qp = Qp::new(qp_type, qpn, &mut send_queue[..], &mut resources[..]);
    let mut rec = Rec::default();
    let mut mem = Mem {
        region: vec![0; REGION],
        rq: Default::default(),
        recv_live: [false; RQ],
        send_live: [false; SQ],
    };
    let base = b.u32() & 0xff_ffff;
    let cfg = b.u8();
    for (state, upd) in [
        (
            QpState::Init,
            AttrUpdate {
                access: Some(AccessFlags(u32::from(cfg & 0x0e))),
                qkey: Some(0x1234),
                pkey: Some(0xffff),
                ..AttrUpdate::default()
            },
        ),
        (
            QpState::Rtr,
            AttrUpdate {
                dest_qpn: Some(0x11),
                path_mtu: Some(mtu),
                rq_psn: Some(base),
                max_dest_rd_atomic: Some((cfg >> 4) % (RD as u8 + 1)),
                min_rnr_timer: Some(1),
                // End-to-end credits (IBA 9.7.7.2) on half the runs.
                flow_control: Some(base & 1 != 0),
                ..AttrUpdate::default()
            },
        ),
        (
            QpState::Rts,
            AttrUpdate {
                sq_psn: Some(base ^ 0x55_5555),
                timeout: Some(cfg >> 6),
                retry_cnt: Some(cfg & 7),
                rnr_retry: Some((cfg >> 3) & 7),
                max_rd_atomic: Some(2),
                ..AttrUpdate::default()
            },
        ),
    ] {
        let upd = AttrUpdate {
            state: Some(state),
            ..upd
        };
        qp.modify(&upd, &mut rec).expect("bring-up");
    }
    let mut now: u64 = 0;
    let mut hdr_buf = [0u8; MAX_HEADER_LEN];
    let mut sq_psn = Psn::new(base ^ 0x55_5555);
    let mut steps = 0;
    while !b.0.is_empty() && steps < 4096 {
        steps += 1;
        let cmd = b.u8();
        match cmd % 8 {
            0 => {
                // Raw bytes through the parser.
                // Short packets byte-exact, long ones in 33-byte steps (up
                // to 4191 bytes) so one command does not eat the input.
                let l = usize::from(b.u8());
                let len = if l < 128 { l } else { (l - 128) * 33 + 128 };
                let raw = b.take(len).to_vec();
                if let Ok(pkt) = packet::parse(&raw) {
                    let verdict = qp.receive(&pkt, &RxMeta::default(), now, &mut mem, &mut rec);
                    assert_consistent(verdict);
                }
            }
            1..=3 => {
                // A structured packet near the expected PSNs.
                let op = Opcode::ALL[usize::from(b.u8()) % Opcode::ALL.len()];
                let delta = i32::from(b.u8() as i8);
                let which = b.u8();
                let anchor = if which & 1 == 0 { base } else { sq_psn.value() };
                let psn = Psn::new(anchor).add(delta as u32);
                let pkey = if which & 4 != 0 { 0xffff } else { b.u16() };
                let dest_qp = if which & 8 != 0 {
                    b.u32() & 0xff_ffff
                } else {
                    qpn
                };
                let mut h = PacketHeaders::new(Bth::new(op, dest_qp, psn));
                h.bth.solicited = which & 2 != 0;
                h.bth.ack_req = which & 16 != 0;
                h.bth.pkey = pkey;
                let rkey = if which & 32 != 0 { b.u32() } else { RKEY };
                let va = VA.wrapping_add(u64::from(b.u16()));
                if op.has_reth() {
                    h.reth = Some(Reth {
                        va,
                        rkey,
                        dma_len: if which & 64 != 0 {
                            b.u32()
                        } else {
                            u32::from(b.u16())
                        },
                    });
                }
                if op.has_atomic_eth() {
                    h.atomic_eth = Some(AtomicEth {
                        va,
                        rkey,
                        swap_add: b.u64(),
                        compare: b.u64(),
                    });
                }
                if op.has_aeth() {
                    h.aeth = Some(Aeth {
                        syndrome: b.u8(),
                        msn: b.u32() & 0xff_ffff,
                    });
                }
                if op.has_atomic_ack_eth() {
                    h.atomic_ack_eth = Some(AtomicAckEth { orig_data: b.u64() });
                }
                if op.has_immdt() {
                    h.immdt = Some(ImmDt { imm: b.u32() });
                }
                if op.has_feth() {
                    let f = b.u8();
                    h.feth = Some(Feth {
                        selectivity_level: f & 3,
                        placement_type: (f >> 2) & 0xf,
                    });
                }
                if op.has_ieth() {
                    h.ieth = Some(Ieth { rkey });
                }
                if op.has_deth() {
                    h.deth = Some(Deth {
                        qkey: if which & 128 != 0 { b.u32() } else { 0x1234 },
                        src_qp: 0x11,
                    });
                }
                let plen = match b.u8() % 4 {
                    0 => 0,
                    1 => mtu.bytes() as usize,
                    2 => usize::from(b.u16()) % 4200,
                    _ => usize::from(b.u8()),
                };
                let plen = match op.operation() {
                    _ if !op.has_payload() => 0,
                    Operation::AtomicWrite => packet::ATOMIC_WRITE_PAYLOAD_LEN,
                    _ => plen,
                };
                let payload = vec![0xa5u8; plen];
                h.bth.pad_count = packet::pad_count(plen);
                let pkt = Packet::new(h, &payload).expect("a packet the parser would produce");
                let grh = [7u8; 40];
                let meta = RxMeta {
                    grh: if which & 4 != 0 { Some(&grh) } else { None },
                };
                let verdict = qp.receive(&pkt, &meta, now, &mut mem, &mut rec);
                assert_consistent(verdict);
            }
            4 => {
                // The caller's RQ: a free slot, then the engine may take it.
                let len = u32::from(b.u16()).min(RECV_LEN as u32);
                let free = mem.recv_live.iter().position(|&l| !l);
                if let (Some(slot), false) = (free, qp.state() == QpState::Reset) {
                    mem.recv_live[slot] = true;
                    let slot = slot as u32;
                    mem.rq.push_back(RecvWqe {
                        wr_id: 1,
                        slot,
                        len,
                    });
                    qp.recv_posted(&mem, &mut rec);
                }
            }
            5 => {
                let mut wr = SendWr::new(2, WR_OPS[usize::from(b.u8()) % WR_OPS.len()]);
                wr.len = u32::from(b.u16());
                wr.rkey = b.u32();
                wr.remote_va = b.u64();
                // FENCE, SIGNALED, SOLICITED at random: an unsignaled WQE's
                // slot is released explicitly (Sink::send_slot_released).
                wr.flags.0 = u32::from(b.u8() & 7);
                wr.ud = UdDest {
                    ah: 0,
                    remote_qpn: b.u32() & 0x1ff_ffff,
                    remote_qkey: b.u32(),
                };
                if let Ok(slot) = qp.post_send(&wr, &mut rec) {
                    assert!(!mem.send_live[slot as usize], "send slot reused while live");
                    mem.send_live[slot as usize] = true;
                }
            }
            6 => {
                // Time passes; the timeout is served when due, and early
                // or repeated calls are harmless (the engine owns its
                // deadlines).
                now += u64::from(b.u32());
                let due = qp.poll_timeout().is_some_and(|d| d <= now);
                if due || b.u8() & 1 == 1 {
                    qp.handle_timeout(now, &mut rec);
                }
                assert!(
                    qp.poll_timeout().is_none_or(|d| d > now),
                    "a served deadline stays armed"
                );
            }
            _ => {
                for _ in 0..64 {
                    let Some(t) = qp.poll_transmit(now, &mut hdr_buf, &mut rec) else {
                        break;
                    };
                    assert!(t.header_len <= MAX_HEADER_LEN && t.pad < 4);
                    let parsed =
                        PacketHeaders::parse(&hdr_buf[..t.header_len]).expect("own header");
                    assert_eq!(parsed.0.len(), t.header_len);
                    match t.payload {
                        Payload::Local { slot, len, .. } => {
                            assert!(mem.send_live[slot as usize]);
                            assert!(len <= mtu.bytes());
                        }
                        Payload::Remote { rkey, va, len } => {
                            mem.range(rkey, va, u64::from(len))
                                .expect("remote payload was checked");
                            assert!(len <= mtu.bytes());
                        }
                        Payload::None => {}
                    }
                    if parsed.0.bth.opcode.is_request() {
                        sq_psn = parsed.0.bth.psn;
                    }
                    if b.u8() & 3 == 0 {
                        // The device refuses it: handed back, the same
                        // packet comes again at once.
                        let header = hdr_buf;
                        qp.hand_back_transmit();
                        let again = qp.poll_transmit(now, &mut hdr_buf, &mut rec);
                        assert_eq!(again, Some(t), "a handed-back packet comes again");
                        assert_eq!(hdr_buf[..t.header_len], header[..t.header_len]);
                    }
                    qp.transmit_taken(&mut rec);
                }
            }
        }
        if qp.state() == QpState::Error {
            // The caller flushes what is left in its own RQ.
            for w in mem.rq.drain(..) {
                mem.recv_live[w.slot as usize] = false;
            }
        }
        for slot in rec.released.drain(..) {
            assert!(mem.send_live[slot as usize], "release of a free slot");
            mem.send_live[slot as usize] = false;
        }
        for wc in rec.wcs.drain(..) {
            let live = match wc.queue {
                Queue::Send => &mut mem.send_live,
                Queue::Recv => &mut mem.recv_live,
            };
            assert!(live[wc.slot as usize], "completion for a free slot: {wc:?}");
            live[wc.slot as usize] = false;
        }
    }
    // Queue bookkeeping agrees with the engine.
    // The engine holds at most one receive WQE (the message in progress).
    let live_recv = mem.recv_live.iter().filter(|&&l| l).count();
    assert!((mem.rq.len()..=mem.rq.len() + 1).contains(&live_recv));
    let live_send = mem.send_live.iter().filter(|&&l| l).count();
    assert_eq!(live_send, qp.send_queue_len());
}
