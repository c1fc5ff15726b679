//! Seeded lossy simulations of the unreliable services (IBA 9.8).
//!
//! UC: random SEND / SEND_IMM / WRITE / WRITE_IMM messages of 0..256 KiB over
//! a channel that loses and corrupts packets (the ICRC must catch every
//! corruption). Every send WQE completes successfully in order; the receiver
//! completes a subsequence of the messages, in order, each one whole and
//! correct (a message that lost a packet is dropped and its receive WQE
//! reused); WRITE bytes land only with their right values.
//!
//! UD: random datagrams up to the MTU, some receive buffers too small;
//! delivered datagrams complete in order with the GRH slot, source QPN and
//! data; too-small buffers complete with `IB_WC_LOC_LEN_ERR`.
//!
//! `RVT_SIM_SEEDS` / `RVT_SIM_SEED` as for `tests/sim.rs`.

mod support;

use rvt_proto::engine::{
    AccessFlags, AttrUpdate, Completion, Mtu, QpState, QpType, Queue, SendWr, UdDest, WcFlags,
    WcOpcode, WcStatus, WrOpcode, UD_GRH_LEN,
};
use support::{seeds, LinkCfg, Node, Pair, Rng, Rx};

type P = Pair<16, 32, 2>;
type N = Node<16, 32, 2>;

const RKEY: u32 = 0x77;
const VA: u64 = 0x4000_0000;

/// Delivers `frame` unless the channel loses it; corrupts some. Checks the
/// ICRC verdict.
fn channel(rng: &mut Rng, loss: u32, corrupt: u32, to: &mut N, frame: &[u8]) -> Result<(), String> {
    if rng.chance(loss) {
        return Ok(());
    }
    let mut f = frame.to_vec();
    let bad = rng.chance(corrupt);
    if bad {
        let mut i = rng.below(f.len() as u64) as usize;
        if i == 4 {
            i = 5; // BTH byte 4 is masked out of the ICRC (and ignored)
        }
        f[i] ^= 1 << rng.below(8);
    }
    let rx = to.deliver(&f, 0);
    rx.check_from_correct_peer()?;
    if bad != (rx == Rx::BadIcrc) {
        return Err(format!("corrupted={bad} but {rx:?}"));
    }
    Ok(())
}

/// Takes the receive completions recorded so far with their buffers (the
/// slots are reused by later posts).
fn reap(n: &mut N, out: &mut Vec<(Completion, support::Buf)>) {
    for wc in std::mem::take(&mut n.rec.wcs) {
        if wc.queue == Queue::Recv {
            let buf = n.mem.recv[wc.slot as usize].take().expect("receive buffer");
            out.push((wc, buf));
        } else {
            n.rec.wcs.push(wc);
        }
    }
}

#[derive(Clone, Debug)]
struct Msg {
    op: WrOpcode,
    data: Vec<u8>,
    imm: u32,
    target: usize,
}

fn uc_seed(seed: u64) -> Result<(), String> {
    let mut rng = Rng::new(seed);
    let mtu = [Mtu::M256, Mtu::M512, Mtu::M1024, Mtu::M2048, Mtu::M4096][rng.below(5) as usize];
    let cfg = LinkCfg {
        mtu,
        max_rd_atomic: 1,
        max_dest_rd_atomic: 1,
        sq_psn: rng.below(1 << 24) as u32,
        ..LinkCfg::default()
    };
    let mut p = P::new(QpType::Uc, &cfg);
    let loss = rng.range(0, 40_000) as u32;
    let corrupt = rng.range(0, 20_000) as u32;
    let tx_fail = rng.range(0, 100_000) as u32;
    let n = rng.range(5, 60) as usize;
    let mut msgs = Vec::new();
    let mut off = 0usize;
    for i in 0..n {
        let op = [
            WrOpcode::Send,
            WrOpcode::SendWithImm,
            WrOpcode::RdmaWrite,
            WrOpcode::RdmaWriteWithImm,
        ][rng.below(4) as usize];
        let len = if rng.chance(500_000) {
            rng.below(300)
        } else {
            rng.below(256 << 10)
        } as usize;
        msgs.push(Msg {
            op,
            data: rng.bytes(len),
            imm: ((i as u32) << 8) | 0xab,
            target: off,
        });
        off += len;
    }
    p.b.mem
        .add_region(RKEY, VA, vec![0; off + 1], AccessFlags::ALL_REMOTE);
    // Receive WQEs as long as the largest message.
    let max = msgs.iter().map(|m| m.data.len()).max().unwrap_or(0) as u32;
    let mut recv_posted = 0u64;
    let mut posted = 0usize;
    let mut got = Vec::new();
    while posted < n || p.a.qp.send_queue_len() > 0 {
        while p.b.recv_queue_len() < 8 {
            p.b.post_recv(recv_posted, max);
            recv_posted += 1;
        }
        if posted < n && p.a.qp.send_queue_len() < 16 {
            let m = &msgs[posted];
            let mut wr = SendWr::new(posted as u64, m.op);
            wr.len = m.data.len() as u32;
            wr.imm_or_inv = m.imm;
            wr.rkey = RKEY;
            wr.remote_va = VA + m.target as u64;
            p.a.post(&wr, &m.data);
            posted += 1;
        }
        for f in drain_refusing(&mut rng, &mut p.a, tx_fail)? {
            channel(&mut rng, loss, corrupt, &mut p.b, &f)?;
        }
        reap(&mut p.b, &mut got);
        if !p.b.drain(0).is_empty() {
            return Err("a UC responder sent a packet".into());
        }
    }
    // Sender: every WQE succeeded, in order.
    let sent: Vec<(u64, WcStatus)> = p.a.rec.wcs.iter().map(|w| (w.wr_id, w.status)).collect();
    let want: Vec<(u64, WcStatus)> = (0..n as u64).map(|i| (i, WcStatus::Success)).collect();
    if sent != want {
        return Err(format!("send completions {sent:?}"));
    }
    // Receiver: a subsequence of the consuming messages, in order.
    let mut next = 0usize;
    for (wc, buf) in &got {
        if wc.status != WcStatus::Success {
            return Err(format!("receive {wc:?}"));
        }
        let found = (next..n).find(|&j| {
            let m = &msgs[j];
            match m.op {
                WrOpcode::Send => {
                    wc.flags == WcFlags::NONE
                        && wc.byte_len as usize == m.data.len()
                        && buf.data[..m.data.len()] == m.data[..]
                }
                WrOpcode::SendWithImm => wc.flags == WcFlags::WITH_IMM && wc.ex == m.imm,
                WrOpcode::RdmaWriteWithImm => {
                    wc.opcode == WcOpcode::RecvRdmaWithImm && wc.ex == m.imm
                }
                _ => false,
            }
        });
        let Some(j) = found else {
            return Err(format!(
                "receive {wc:?} matches no later message (after {next})"
            ));
        };
        let m = &msgs[j];
        let whole = match m.op {
            WrOpcode::SendWithImm => buf.data[..m.data.len()] == m.data[..],
            WrOpcode::RdmaWriteWithImm => {
                let r = &p.b.mem.region(RKEY).unwrap().buf;
                r.data[m.target..m.target + m.data.len()] == m.data[..]
            }
            _ => true,
        };
        if !whole || wc.byte_len as usize != m.data.len() {
            return Err(format!("message {j} ({:?}) incomplete: {wc:?}", m.op));
        }
        next = j + 1;
    }
    // WRITE bytes: at most once, and right.
    let r = &p.b.mem.region(RKEY).unwrap().buf;
    r.check_at_most_once()?;
    for m in &msgs {
        if matches!(m.op, WrOpcode::RdmaWrite | WrOpcode::RdmaWriteWithImm) {
            for (k, b) in m.data.iter().enumerate() {
                let at = m.target + k;
                if r.writes[at] == 1 && r.data[at] != *b {
                    return Err(format!("wrong WRITE byte at {at}"));
                }
            }
        }
    }
    if loss == 0
        && corrupt == 0
        && p.b.rec.recv_wcs().len() != msgs.iter().filter(|m| m.op != WrOpcode::RdmaWrite).count()
    {
        return Err("lossless channel lost a message".into());
    }
    Ok(())
}

fn ud_node(qpn: u32) -> N {
    let mut n = N::new(QpType::Ud, qpn);
    for upd in [
        AttrUpdate {
            state: Some(QpState::Init),
            qkey: Some(0x5151),
            pkey: Some(0xffff),
            ..AttrUpdate::default()
        },
        AttrUpdate {
            state: Some(QpState::Rtr),
            path_mtu: Some(Mtu::M2048),
            ..AttrUpdate::default()
        },
        AttrUpdate {
            state: Some(QpState::Rts),
            sq_psn: Some(0),
            ..AttrUpdate::default()
        },
    ] {
        n.qp.modify(&upd, &mut n.rec).unwrap();
    }
    n
}

fn ud_seed(seed: u64) -> Result<(), String> {
    let mut rng = Rng::new(seed);
    let mut a = ud_node(0x41);
    let mut b = ud_node(0x42);
    let grh: [u8; 40] = core::array::from_fn(|i| (i as u8) ^ 0x5a);
    b.grh = Some(grh);
    let loss = rng.range(0, 100_000) as u32;
    let corrupt = rng.range(0, 50_000) as u32;
    let tx_fail = rng.range(0, 100_000) as u32;
    let n = rng.range(10, 80) as usize;
    let data: Vec<Vec<u8>> = (0..n)
        .map(|_| {
            let len = rng.below(2049) as usize;
            rng.bytes(len)
        })
        .collect();
    let mut recv_id = 0u64;
    let mut caps = Vec::new();
    let mut got = Vec::new();
    for (i, d) in data.iter().enumerate() {
        while b.recv_queue_len() < 4 {
            // Now and then a buffer too small for the largest datagrams.
            let cap = if rng.chance(100_000) {
                1000
            } else {
                2048 + UD_GRH_LEN
            };
            b.post_recv(recv_id, cap);
            caps.push(cap);
            recv_id += 1;
        }
        let mut wr = SendWr::new(i as u64, WrOpcode::Send);
        wr.len = d.len() as u32;
        wr.ud = UdDest {
            ah: 1,
            remote_qpn: 0x42,
            remote_qkey: 0x8000_0000,
        };
        a.post(&wr, d);
        for f in drain_refusing(&mut rng, &mut a, tx_fail)? {
            channel(&mut rng, loss, corrupt, &mut b, &f)?;
        }
        reap(&mut b, &mut got);
    }
    if a.rec.wcs.len() != n || a.rec.wcs.iter().any(|w| w.status != WcStatus::Success) {
        return Err("UD send completions".into());
    }
    let mut next = 0usize;
    for (k, (wc, buf)) in got.iter().enumerate() {
        if wc.wr_id != k as u64 {
            return Err(format!("receive WQEs out of order: {wc:?}"));
        }
        if wc.status == WcStatus::LocLenErr {
            if caps[k] >= 2048 + UD_GRH_LEN {
                return Err("length error with a large buffer".into());
            }
            // Some datagram that did not fit: skip to after one that could not.
            let j = (next..n)
                .find(|&j| data[j].len() as u32 + UD_GRH_LEN > caps[k])
                .ok_or("length error for no datagram")?;
            next = j + 1;
            continue;
        }
        let want_len = wc
            .byte_len
            .checked_sub(UD_GRH_LEN)
            .ok_or("short byte_len")? as usize;
        let j = (next..n)
            .find(|&j| data[j].len() == want_len && buf.data[40..40 + want_len] == data[j][..])
            .ok_or_else(|| format!("receive {k} matches no datagram: {wc:?}"))?;
        if wc.flags != WcFlags::GRH || wc.src_qp != 0x41 || buf.data[..40] != grh {
            return Err(format!("receive {k}: {wc:?}"));
        }
        buf.check_once(40, &data[j])?;
        next = j + 1;
    }
    Ok(())
}

/// Every packet `n` has to send, where the device refuses a packet with
/// chance `fail` (ppm): it is handed back, must come again at once and
/// completes nothing while refused (a UC/UD WQE completes only once taken).
fn drain_refusing(rng: &mut Rng, n: &mut N, fail: u32) -> Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    loop {
        if rng.chance(fail) {
            let done = n.rec.wcs.len();
            let Some(refused) = n.transmit_refused(0) else {
                return Ok(out);
            };
            if n.rec.wcs.len() != done {
                return Err("a refused packet completed its WQE".into());
            }
            if n.transmit(0).as_ref() != Some(&refused) {
                return Err("a handed-back packet was not produced again".into());
            }
            out.push(refused);
        } else {
            let Some(f) = n.transmit(0) else {
                return Ok(out);
            };
            out.push(f);
        }
    }
}

fn run(name: &str, base: u64, default: u64, f: fn(u64) -> Result<(), String>) {
    for seed in seeds(base, default) {
        if let Err(e) = f(seed) {
            panic!("{name} seed {seed} failed: {e}\n  replay: RVT_SIM_SEED={seed} cargo test --test sim_unreliable {name}");
        }
    }
}

#[test]
fn uc_lossy() {
    run("uc_lossy", 4_000_000, 24, uc_seed);
}

#[test]
fn ud_lossy() {
    run("ud_lossy", 5_000_000, 24, ud_seed);
}
