//! Host micro-benchmark: segment a 1 MiB RDMA WRITE at a 4096-byte path MTU
//! with the engine, build every packet (headers from the engine, payload
//! copied into the packet buffer, zero pad) and compute its RoCEv2 ICRC;
//! compare with a plain memcpy of the same 1 MiB in the same run.
//!
//! The ICRC runs on two CRC-32 primitives plugged in through
//! `icrc::Crc32`: the crate's table CRC (the reference) and crc32fast (a
//! hardware-folding CRC, as the kernel's `crc32_le` is), plus once without
//! an ICRC.
//!
//! `cargo bench --bench segment` (release profile). Prints the throughputs
//! and the ratios to memcpy.

use std::hint::black_box;
use std::time::{Duration, Instant};

use rvt_proto::engine::{
    AccessFlags, AttrUpdate, Completion, Mtu, Payload, Qp, QpState, QpType, ResponderResource,
    RxMeta, SendWqe, SendWr, Sink, Verdict, WrOpcode, MAX_HEADER_LEN,
};
use rvt_proto::headers::{Aeth, Bth};
use rvt_proto::icrc::{Crc32, Icrc, TableCrc32};
use rvt_proto::opcode::Opcode;
use rvt_proto::packet::{Packet, PacketHeaders};
use rvt_proto::psn::Psn;

const MSG: usize = 1 << 20;
const MTU: usize = 4096;
const ROUNDS: usize = 200;

/// IPv4 + UDP (port 4791) headers the ICRC covers.
const NET: [u8; 28] = [
    0x45, 0, 0, 0, 0, 0, 0x40, 0, 0x40, 0x11, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 0xc0, 0, 0x12, 0xb7,
    0, 0, 0, 0,
];

/// crc32fast behind the engine's CRC-32 contract: crc32fast keeps the
/// complemented register (a finished CRC), `Crc32::update` the raw one.
#[derive(Clone, Copy)]
struct FastCrc32;

impl Crc32 for FastCrc32 {
    fn update(&self, crc: u32, bytes: &[u8]) -> u32 {
        let mut h = crc32fast::Hasher::new_with_initial(!crc);
        h.update(bytes);
        !h.finalize()
    }
}

struct NullSink(u64);

impl Sink for NullSink {
    fn completion(&mut self, wc: &Completion) {
        self.0 = self.0.wrapping_add(wc.wr_id);
    }
    fn send_slot_released(&mut self, _: u32, wr_id: u64) {
        self.0 = self.0.wrapping_add(wr_id);
    }
    fn state_changed(&mut self, _: QpState) {}
}

struct NoMem;

/// The sender receives only ACKs: it never needs a receive WQE.
impl rvt_proto::engine::RecvQueue for NoMem {
    fn take_recv(&mut self) -> Option<rvt_proto::engine::RecvWqe> {
        None
    }
}

impl rvt_proto::engine::Memory for NoMem {
    fn check_remote(
        &mut self,
        _: u32,
        _: u64,
        _: u32,
        _: rvt_proto::engine::RemoteAccess,
    ) -> Result<(), rvt_proto::engine::MemError> {
        Ok(())
    }
    fn write_remote(
        &mut self,
        _: u32,
        _: u64,
        _: &[u8],
    ) -> Result<(), rvt_proto::engine::MemError> {
        Ok(())
    }
    fn atomic(
        &mut self,
        _: u32,
        _: u64,
        _: rvt_proto::engine::AtomicOp,
    ) -> Result<u64, rvt_proto::engine::MemError> {
        Ok(0)
    }
    fn atomic_write(
        &mut self,
        _: u32,
        _: u64,
        _: [u8; 8],
    ) -> Result<(), rvt_proto::engine::MemError> {
        Ok(())
    }
    fn flush(
        &mut self,
        _: u32,
        _: u64,
        _: u32,
        _: rvt_proto::engine::Selectivity,
        _: rvt_proto::engine::Placement,
    ) -> Result<(), rvt_proto::engine::MemError> {
        Ok(())
    }
    fn invalidate(&mut self, _: u32) -> Result<(), rvt_proto::engine::MemError> {
        Ok(())
    }
    fn write_recv(&mut self, _: u32, _: u32, _: &[u8]) -> Result<(), rvt_proto::engine::MemError> {
        Ok(())
    }
    fn write_send(&mut self, _: u32, _: u32, _: &[u8]) -> Result<(), rvt_proto::engine::MemError> {
        Ok(())
    }
}

type BenchQp = Qp<Vec<SendWqe>, Vec<ResponderResource>>;

fn qp(sink: &mut NullSink) -> BenchQp {
    let mut qp = Qp::new(
        QpType::Rc,
        0x22,
        vec![SendWqe::EMPTY; 4],
        vec![ResponderResource::EMPTY; 1],
    );
    for upd in [
        AttrUpdate {
            state: Some(QpState::Init),
            access: Some(AccessFlags::ALL_REMOTE),
            ..AttrUpdate::default()
        },
        AttrUpdate {
            state: Some(QpState::Rtr),
            dest_qpn: Some(0x11),
            path_mtu: Some(Mtu::M4096),
            ..AttrUpdate::default()
        },
        AttrUpdate {
            state: Some(QpState::Rts),
            sq_psn: Some(0),
            ack_req_interval: Some(64),
            ..AttrUpdate::default()
        },
    ] {
        qp.modify(&upd, sink).unwrap();
    }
    qp
}

/// The engine side of the benchmark: a QP, its sink, the message and a
/// packet buffer.
struct Rig {
    qp: BenchQp,
    sink: NullSink,
    src: Vec<u8>,
    pkt: Vec<u8>,
    psn: u32,
    /// XOR of every ICRC (kept so that nothing is optimised away).
    acc: u32,
}

impl Rig {
    fn new(src: Vec<u8>) -> Rig {
        let mut sink = NullSink(0);
        let qp = qp(&mut sink);
        Rig {
            qp,
            sink,
            src,
            pkt: vec![0u8; MAX_HEADER_LEN + MTU + 8],
            psn: 0,
            acc: 0,
        }
    }

    /// One message through the engine, with the ICRC on `crc` (none if
    /// `None`).
    fn round<C: Crc32 + Copy>(&mut self, crc: Option<C>) {
        let mut wr = SendWr::new(1, WrOpcode::RdmaWrite);
        wr.len = MSG as u32;
        wr.rkey = 1;
        wr.remote_va = 0x1000;
        self.qp.post_send(&wr, &mut self.sink).unwrap();
        let mut hdr = [0u8; MAX_HEADER_LEN];
        let (src, pkt) = (black_box(&self.src), &mut self.pkt);
        while let Some(t) = self.qp.poll_transmit(0, &mut hdr, &mut self.sink) {
            let h = t.header_len;
            pkt[..h].copy_from_slice(&hdr[..h]);
            let (off, len) = match t.payload {
                Payload::Local { offset, len, .. } => (offset as usize, len as usize),
                _ => (0, 0),
            };
            pkt[h..h + len].copy_from_slice(&src[off..off + len]);
            let end = h + len + usize::from(t.pad);
            pkt[h + len..end].fill(0);
            if let Some(crc) = crc {
                let mut icrc = Icrc::roce_with(crc, &NET).unwrap();
                icrc.update_packet(&pkt[..end]).unwrap();
                self.acc ^= icrc.finish();
            } else {
                self.acc ^= u32::from(black_box(pkt[end - 1]));
            }
        }
        self.acknowledge();
    }

    /// Acknowledges the message so the next round starts clean.
    fn acknowledge(&mut self) {
        self.psn = self.psn.wrapping_add((MSG / MTU) as u32);
        let mut ack = PacketHeaders::new(Bth::new(
            Opcode::RcAcknowledge,
            0x22,
            Psn::new(self.psn.wrapping_sub(1)),
        ));
        ack.aeth = Some(Aeth {
            syndrome: 0x1f,
            msn: 0,
        });
        let p = Packet::new(ack, &[]).unwrap();
        let verdict = self
            .qp
            .receive(&p, &RxMeta::default(), 0, &mut NoMem, &mut self.sink);
        assert_eq!(verdict, Verdict::Accepted);
    }
}

fn best(mut f: impl FnMut()) -> Duration {
    let mut best = Duration::MAX;
    for _ in 0..ROUNDS {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed());
    }
    best
}

fn main() {
    let src: Vec<u8> = (0..MSG).map(|i| (i * 7 + 3) as u8).collect();
    for seed in [0xffff_ffff, 0x1234_5678] {
        assert_eq!(
            FastCrc32.update(seed, &src[..MTU + 3]),
            TableCrc32.update(seed, &src[..MTU + 3]),
            "crc32fast and the table CRC agree"
        );
    }
    let mut dst = vec![0u8; MSG];
    let mut rig = Rig::new(src);
    // Warm up.
    for _ in 0..5 {
        rig.round(Some(TableCrc32));
        rig.round(Some(FastCrc32));
        dst.copy_from_slice(black_box(&rig.src));
    }
    let table = best(|| rig.round(Some(TableCrc32)));
    let fast = best(|| rig.round(Some(FastCrc32)));
    let no_icrc = best(|| rig.round(None::<TableCrc32>));
    let memcpy = best(|| {
        dst.copy_from_slice(black_box(&rig.src));
        black_box(&mut dst);
    });
    assert_eq!(
        rig.sink.0,
        10 + 3 * ROUNDS as u64,
        "every message completed"
    );
    let gbps = |d: Duration| MSG as f64 / d.as_secs_f64() / 1e9;
    let ratio = |d: Duration| memcpy.as_secs_f64() / d.as_secs_f64();
    println!(
        "1 MiB RDMA WRITE, 4096 MTU, 256 packets; memcpy of 1 MiB {:.3} ms = {:.2} GB/s (checksum {:08x})",
        memcpy.as_secs_f64() * 1e3,
        gbps(memcpy),
        rig.acc,
    );
    for (what, d) in [
        ("segment + headers + copy + ICRC, table CRC", table),
        ("segment + headers + copy + ICRC, crc32fast", fast),
        ("segment + headers + copy, no ICRC        ", no_icrc),
    ] {
        println!(
            "  {what}: {:.3} ms = {:.2} GB/s = {:.3} x memcpy",
            d.as_secs_f64() * 1e3,
            gbps(d),
            ratio(d),
        );
    }
}
