# SPDX-License-Identifier: GPL-2.0
"""Resizing a user SRQ (IBA 11.2.3.3) between DEV0 and DEV1 in one process
(pyverbs): DEV1's RC QP takes its receives from an SRQ; receives posted
before a resize are kept, in order, and used after it with those posted
into the new ring; a size below what is posted, or below the armed limit,
is refused with EINVAL and changes nothing. Usage: srq_resize.py DEV0
GIDX0 DEV1 GIDX1. Prints "ok: ..." / "FAIL: ..." lines; exits 1 on
failure."""

import errno
import sys

import pyverbs.enums as e
from pyverbs.qp import QP, QPCap, QPInitAttr
from pyverbs.srq import SRQ, SrqAttr, SrqInitAttr
from pyverbs.wr import SGE, RecvWR, SendWR

import rc
from checks import check, exit_status, fails_with, poll

a = rc.Node(sys.argv[1], int(sys.argv[2]))
b = rc.Node(sys.argv[3], int(sys.argv[4]))
srq = SRQ(b.pd, SrqInitAttr(SrqAttr(max_wr=31, max_sge=1)))
a.new_qp()
b.qp = QP(b.pd, QPInitAttr(qp_type=e.IBV_QPT_RC, scq=b.cq, rcq=b.cq, srq=srq,
                           cap=QPCap(max_send_wr=16, max_send_sge=1)))
rc.connect(a, b)
rc.connect(b, a)
SLOT = 1024


def post_recvs(ids):
    for i in ids:
        srq.post_recv(RecvWR(wr_id=i, num_sge=1, sg=[SGE(b.mr.buf + SLOT * i, SLOT, b.mr.lkey)]))


def send(ids):
    """One SEND per id, its payload naming it; the receive completions."""
    got = []
    for i in ids:
        a.mr.write(f"message {i}".encode().ljust(64, b"."), 64, 0)
        a.qp.post_send(SendWR(wr_id=i, opcode=e.IBV_WR_SEND, num_sge=1, sg=[SGE(a.mr.buf, 64, a.mr.lkey)],
                              send_flags=e.IBV_SEND_SIGNALED))
        sent = poll(a.cq, 1)
        if len(sent) != 1 or sent[0].status != e.IBV_WC_SUCCESS:
            check(False, f"SEND {i}: {[w.status for w in sent]}")
            return got
        got += poll(b.cq, 1)
    return got


# Move the ring's consumer index off 0 first: the resize must copy from
# wherever it stands.
post_recvs(range(5))
got = send(range(5))
check([w.wr_id for w in got] == list(range(5)), "5 receives taken before the resize")
post_recvs(range(5, 25))
fails_with({errno.EINVAL}, "shrinking below the 20 receives posted",
           lambda: srq.modify(SrqAttr(max_wr=10), e.IBV_SRQ_MAX_WR))
srq.modify(SrqAttr(srq_limit=25), e.IBV_SRQ_LIMIT)
check(srq.query().max_wr == 31, "a refused resize changes nothing")
srq.modify(SrqAttr(max_wr=1000), e.IBV_SRQ_MAX_WR)
got = srq.query()
check((got.max_wr, got.srq_limit) == (1023, 25), f"grown to {got.max_wr} WRs, limit {got.srq_limit}")
srq.modify(SrqAttr(srq_limit=500), e.IBV_SRQ_LIMIT)
check(srq.query().srq_limit == 500, "a limit beyond the old size, within the new one")
fails_with({errno.EINVAL}, "shrinking below the armed limit (to 127 WRs, limit 500)",
           lambda: srq.modify(SrqAttr(max_wr=100), e.IBV_SRQ_MAX_WR))
fails_with({errno.EINVAL}, "a resize with a new limit beyond the new size (one call)",
           lambda: srq.modify(SrqAttr(max_wr=100, srq_limit=200), e.IBV_SRQ_MAX_WR | e.IBV_SRQ_LIMIT))
got = srq.query()
check((got.max_wr, got.srq_limit) == (1023, 500), "all or nothing: the ring and the limit unchanged "
      "(the receives posted next must arrive)")
post_recvs(range(25, 45))
got = send(range(5, 45))
ids = [w.wr_id for w in got]
check(ids == list(range(5, 45)) and all(w.status == e.IBV_WC_SUCCESS for w in got),
      f"the 20 receives posted before the resize, then 20 after, in order ({len(ids)} completions)")
check(all(b.mr.read(64, SLOT * i).startswith(f"message {i}.".encode()) for i in range(5, 45)),
      "each message in its own receive buffer")
# Taking WQEs with fewer than 500 left fired the limit, which disarmed it
# (IBA 11.2.3.3): the queue may shrink now that nothing is posted.
check(srq.query().srq_limit == 0, "the limit fired and was disarmed")
srq.modify(SrqAttr(max_wr=40), e.IBV_SRQ_MAX_WR)
check(srq.query().max_wr == 63, "shrunk to 63 WRs with nothing posted")
post_recvs(range(45, 48))
got = send(range(45, 48))
check([w.wr_id for w in got] == [45, 46, 47], "and it still works")
for obj in (a.qp, b.qp, srq):
    obj.close()
sys.exit(exit_status())
