//! Seeded simulation of a shared receive queue (IBA 10.2.9, 11.2.3): two
//! RC connections A1 -> B1 and A2 -> B2 whose responders B1 and B2 take
//! their receive WQEs from one SRQ through the `RecvQueue` trait. The
//! channel loses and duplicates packets, the SRQ runs dry at random (RNR
//! NAKs, IBA 9.7.5.2.8) and is refilled as WQEs complete.
//!
//! Checks: every SEND completes successfully, in order; each responder's
//! receive completions match its requester's SENDs one to one, in order,
//! with the right bytes, each written once; every SRQ WQE is taken and
//! completed at most once, by one QP; WQEs are conserved (posted = completed
//! + still queued).
//!
//! `RVT_SIM_SEEDS` / `RVT_SIM_SEED` as for `tests/sim.rs`.

mod support;

use std::collections::HashSet;

use rvt_proto::engine::{Mtu, QpType, RecvWqe, SendWr, Verdict, WcStatus, WrOpcode};
use support::{seeds, Buf, LinkCfg, Node, Rng, Srq};

/// SRQ depth; the nodes' receive buffer tables hold one buffer per slot.
const SRQ_DEPTH: u32 = 24;
type N = Node<64, 32, 4>;

/// Hands `frame` to `to` unless the channel loses it; sometimes twice.
/// Returns the RNR NAKs it caused (the SRQ was empty).
fn wire(
    rng: &mut Rng,
    loss: u32,
    frame: &[u8],
    to: &mut N,
    mut srq: Option<&mut Srq>,
) -> Result<u64, String> {
    if rng.chance(loss) {
        return Ok(0);
    }
    let copies = if rng.chance(loss) { 2 } else { 1 };
    let mut rnr = 0;
    for _ in 0..copies {
        let rx = match srq.as_deref_mut() {
            Some(srq) => to.deliver_srq(frame, 0, srq),
            None => to.deliver(frame, 0),
        };
        rx.check_from_correct_peer()?;
        rnr += u64::from(rx == support::Rx::Received(Verdict::RnrNak));
    }
    Ok(rnr)
}

/// Posts WQEs into the free SRQ slots (at random only some), with fresh
/// buffers in both responders (whichever QP takes the WQE writes there).
fn refill(rng: &mut Rng, srq: &mut Srq, free: &mut Vec<u32>, next_id: &mut u64, bs: &mut [N; 2]) {
    let n = rng.below(free.len() as u64 + 1) as usize;
    for slot in free.drain(..n) {
        for b in bs.iter_mut() {
            b.mem.recv[slot as usize] = Some(Buf::zeroed(4096));
        }
        srq.queue.push_back(RecvWqe {
            wr_id: *next_id,
            slot,
            len: 4096,
        });
        *next_id += 1;
    }
}

/// Runs one seed; returns the RNR NAKs the SRQ's starvation caused.
fn srq_seed(seed: u64) -> Result<u64, String> {
    let mut rng = Rng::new(seed);
    let cfg = LinkCfg {
        mtu: [Mtu::M256, Mtu::M1024, Mtu::M4096][rng.below(3) as usize],
        min_rnr_timer: 1,
        timeout: 8,
        ..LinkCfg::default()
    };
    let loss = rng.range(0, 30_000) as u32;
    let (mut a1, b1) = support::connect::<64, 32, 4>(QpType::Rc, &cfg);
    let (mut a2, b2) = support::connect::<64, 32, 4>(QpType::Rc, &cfg);
    let mut bs = [b1, b2];
    let mut srq = Srq::default();
    let mut free: Vec<u32> = (0..SRQ_DEPTH).collect();
    let mut next_id = 1000u64;
    let msgs: [Vec<Vec<u8>>; 2] = [0, 1].map(|_| {
        (0..rng.range(5, 40))
            .map(|_| {
                let len = rng.below(4097) as usize;
                rng.bytes(len)
            })
            .collect()
    });
    for (a, m) in [(&mut a1, &msgs[0]), (&mut a2, &msgs[1])] {
        for (i, data) in m.iter().enumerate() {
            let mut wr = SendWr::new(i as u64, WrOpcode::Send);
            wr.len = data.len() as u32;
            a.post(&wr, data);
        }
    }
    let mut now = 0u64;
    let mut rnr = 0u64;
    let mut taken = HashSet::new();
    let mut got: [Vec<(u64, Vec<u8>)>; 2] = Default::default();
    for _ in 0..200_000 {
        refill(&mut rng, &mut srq, &mut free, &mut next_id, &mut bs);
        let mut moved = false;
        for (k, a) in [&mut a1, &mut a2].into_iter().enumerate() {
            let b = &mut bs[k];
            for f in a.drain(now) {
                moved = true;
                rnr += wire(&mut rng, loss, &f, b, Some(&mut srq))?;
            }
            for f in b.drain(now) {
                moved = true;
                wire(&mut rng, loss, &f, a, None)?;
            }
            for wc in std::mem::take(&mut b.rec.wcs) {
                if wc.status != WcStatus::Success {
                    return Err(format!("B{}: receive {wc:?}", k + 1));
                }
                if !taken.insert(wc.wr_id) {
                    return Err(format!("SRQ WQE {} completed twice", wc.wr_id));
                }
                let buf = b.mem.recv[wc.slot as usize].take().ok_or("no buffer")?;
                let data = buf.data[..wc.byte_len as usize].to_vec();
                buf.check_once(0, &data)?;
                got[k].push((wc.wr_id, data));
                free.push(wc.slot);
            }
        }
        let done = [&a1, &a2]
            .iter()
            .zip(&msgs)
            .all(|(a, m)| a.rec.send_wcs().len() == m.len());
        if done {
            break;
        }
        if !moved {
            let next = [
                a1.next_deadline(),
                a2.next_deadline(),
                bs[0].next_deadline(),
                bs[1].next_deadline(),
            ]
            .into_iter()
            .flatten()
            .min();
            now = next.unwrap_or(now + 1_000).max(now);
            a1.fire_timers(now);
            a2.fire_timers(now);
            for b in bs.iter_mut() {
                b.fire_timers(now);
            }
        }
    }
    for (k, (a, m)) in [&a1, &a2].iter().zip(&msgs).enumerate() {
        let sent: Vec<(u64, WcStatus)> = a
            .rec
            .send_wcs()
            .iter()
            .map(|w| (w.wr_id, w.status))
            .collect();
        let want: Vec<(u64, WcStatus)> = (0..m.len() as u64)
            .map(|i| (i, WcStatus::Success))
            .collect();
        if sent != want {
            return Err(format!("A{}: send completions {sent:?}", k + 1));
        }
        let data: Vec<&Vec<u8>> = got[k].iter().map(|(_, d)| d).collect();
        if data != m.iter().collect::<Vec<_>>() {
            return Err(format!(
                "B{}: received messages differ from the SENDs",
                k + 1
            ));
        }
    }
    // Conservation: every WQE posted is completed or still in the SRQ.
    let posted = next_id - 1000;
    if posted != taken.len() as u64 + srq.queue.len() as u64 {
        return Err(format!(
            "{posted} WQEs posted, {} completed, {} queued",
            taken.len(),
            srq.queue.len()
        ));
    }
    Ok(rnr)
}

#[test]
fn srq_shared_by_two_qps() {
    let mut rnr = 0;
    let mut runs = 0;
    for seed in seeds(6_000_000, 24) {
        match srq_seed(seed) {
            Ok(n) => rnr += n,
            Err(e) => panic!(
                "srq seed {seed} failed: {e}\n  replay: RVT_SIM_SEED={seed} cargo test --test sim_srq"
            ),
        }
        runs += 1;
    }
    eprintln!("srq: {runs} runs, {rnr} RNR NAKs from an empty SRQ");
    assert!(runs < 8 || rnr > 0, "the SRQ never ran dry");
}
