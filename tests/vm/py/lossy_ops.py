# SPDX-License-Identifier: GPL-2.0
"""Verbs over a lossy link (issue 9), between DEV0 and DEV1 in one
process (pyverbs): RC fetch-and-adds executed exactly once (the counter
ends at the number posted and every original value comes back once), an
RC WRITE and a READ of 256 KiB checked byte by byte, and UC and UD SENDs
whose losses cost messages, never the QP. Usage: lossy_ops.py DEV0 GIDX0
DEV1 GIDX1 [N]. Prints "ok: ..." / "FAIL: ..." lines; exits 1 on failure."""

import random
import struct
import sys

import pyverbs.enums as e
from pyverbs.addr import AH, AHAttr, GlobalRoute
from pyverbs.qp import QP, QPCap, QPInitAttr
from pyverbs.wr import SGE, RecvWR, SendWR

import rc
from checks import check, exit_status, poll, state

dev0, g0, dev1, g1 = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
N = int(sys.argv[5]) if len(sys.argv) > 5 else 100
BATCH = 16
KIB256 = 256 << 10
rng = random.Random(5)
a = rc.Node(dev0, g0)
b = rc.Node(dev1, g1)
rc.pair(a, b)


def post_all(qp, cq, wrs, what):
    """Posts wrs in batches the send queue holds; every completion must
    be a success. Returns the completions."""
    done = []
    for i in range(0, len(wrs), BATCH):
        for wr in wrs[i:i + BATCH]:
            qp.post_send(wr)
        got = poll(cq, len(wrs[i:i + BATCH]), timeout=120)
        done += got
        if len(got) != len(wrs[i:i + BATCH]) or any(w.status != e.IBV_WC_SUCCESS for w in got):
            break
    ok = len(done) == len(wrs) and all(w.status == e.IBV_WC_SUCCESS for w in done)
    check(ok, f"{what}: {len(done)} of {len(wrs)} completed" +
          ("" if ok else f", statuses {sorted(set(w.status for w in done))}"))
    return done


# Atomics: the peer's counter starts at 0; each FETCH_ADD's original value
# lands in its own 8 bytes of a's MR.
COUNTER = 8 << 10
b.mr.write(bytes(8), 8, COUNTER)
wrs = []
for i in range(N):
    wr = SendWR(wr_id=i, opcode=e.IBV_WR_ATOMIC_FETCH_AND_ADD, num_sge=1,
                sg=[SGE(a.mr.buf + 8 * i, 8, a.mr.lkey)])
    wr.set_wr_atomic(b.mr.rkey, b.mr.buf + COUNTER, 1)
    wrs.append(wr)
post_all(a.qp, a.cq, wrs, f"{N} FETCH_ADDs")
total = struct.unpack("<Q", b.mr.read(8, COUNTER))[0]
origs = sorted(struct.unpack("<Q", a.mr.read(8, 8 * i))[0] for i in range(N))
check(total == N and origs == list(range(N)),
      f"each FETCH_ADD executed exactly once: the counter is {total}, "
      f"{len(set(origs))} distinct original values")

# 256 KiB WRITTEN to b, then READ back into another part of a's MR.
SRC, BACK, DST = 64 << 10, 512 << 10, 256 << 10
data = rng.randbytes(KIB256)
a.mr.write(data, KIB256, SRC)
wr = SendWR(wr_id=1, opcode=e.IBV_WR_RDMA_WRITE, num_sge=1, sg=[SGE(a.mr.buf + SRC, KIB256, a.mr.lkey)])
wr.set_wr_rdma(b.mr.rkey, b.mr.buf + DST)
post_all(a.qp, a.cq, [wr], "a 256 KiB WRITE")
check(b.mr.read(KIB256, DST) == data, "the WRITE landed intact")
wr = SendWR(wr_id=2, opcode=e.IBV_WR_RDMA_READ, num_sge=1, sg=[SGE(a.mr.buf + BACK, KIB256, a.mr.lkey)])
wr.set_wr_rdma(b.mr.rkey, b.mr.buf + DST)
post_all(a.qp, a.cq, [wr], "a 256 KiB READ")
check(a.mr.read(KIB256, BACK) == data, "the READ brought it back intact")


def unreliable(qp_type):
    """N one-packet SENDs from a to b over qp_type: every send completes,
    what arrives is intact, and both QPs stay in RTS."""
    name = {e.IBV_QPT_UC: "UC", e.IBV_QPT_UD: "UD"}[qp_type]
    cap = QPCap(max_send_wr=BATCH, max_recv_wr=N, max_send_sge=1, max_recv_sge=1)
    qa = QP(a.pd, QPInitAttr(qp_type=qp_type, scq=a.cq, rcq=a.cq, cap=cap))
    qb = QP(b.pd, QPInitAttr(qp_type=qp_type, scq=b.cq, rcq=b.cq, cap=cap))
    for qp, node, other, peer in ((qa, a, b, qb), (qb, b, a, qa)):
        rc.connect_qp(qp, node.gid_index, other.gid, peer.qp_num, access=0)
    size, grh = 512, 40 if qp_type == e.IBV_QPT_UD else 0
    for i in range(N):
        qb.post_recv(RecvWR(wr_id=i, num_sge=1, sg=[SGE(b.mr.buf + i * 1024, grh + size, b.mr.lkey)]))
    msgs = [rng.randbytes(size) for _ in range(N)]
    ah = AH(a.pd, attr=AHAttr(port_num=1, is_global=1, gr=GlobalRoute(
        dgid=b.gid, sgid_index=a.gid_index, hop_limit=64)))
    wrs = []
    for i, m in enumerate(msgs):
        a.mr.write(m, size, SRC + i * 1024)
        wr = SendWR(wr_id=i, opcode=e.IBV_WR_SEND, num_sge=1,
                    sg=[SGE(a.mr.buf + SRC + i * 1024, size, a.mr.lkey)])
        if qp_type == e.IBV_QPT_UD:
            wr.set_wr_ud(ah, qb.qp_num, 0x5555)
        wrs.append(wr)
    post_all(qa, a.cq, wrs, f"{name}: {N} SENDs")
    got = poll(b.cq, N, timeout=3)
    intact = {bytes(b.mr.read(size, w.wr_id * 1024 + grh)) for w in got if w.status == e.IBV_WC_SUCCESS}
    check(0 < len(got) <= N and all(w.status == e.IBV_WC_SUCCESS for w in got) and intact <= set(msgs),
          f"{name}: {len(got)} of {N} arrived, each intact")
    check(state(qa) == e.IBV_QPS_RTS and state(qb) == e.IBV_QPS_RTS, f"{name}: both QPs still in RTS")


unreliable(e.IBV_QPT_UC)
unreliable(e.IBV_QPT_UD)
sys.exit(exit_status())
