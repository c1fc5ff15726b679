# SPDX-License-Identifier: GPL-2.0
"""User QPs on an rvt device through the stock rxe provider (pyverbs):
creation with the rxe rings, the capabilities granted, the modify_qp state
machine and its attribute rules, query_qp, destroy. Prints "ok: ..." /
"FAIL: ..." lines; exits 1 on failure."""

import errno
import sys

import pyverbs.enums as e
from pyverbs.addr import AH, AHAttr, GlobalRoute
from pyverbs.cq import CQ
from pyverbs.device import Context
from pyverbs.pd import PD
from pyverbs.qp import QP, QPAttr, QPCap, QPInitAttr
from pyverbs.srq import SRQ, SrqAttr, SrqInitAttr

from checks import check, exit_status, fails_with

ctx = Context(name=sys.argv[1])
pd = PD(ctx)
cq = CQ(ctx, 256)
attr = ctx.query_device()
check(attr.max_qp == 16384 and attr.max_qp_wr == 16384 and attr.max_sge == 32,
      f"max_qp {attr.max_qp} max_qp_wr {attr.max_qp_wr} max_sge {attr.max_sge}")


def init_attr(qp_type, send_wr=16, recv_wr=16, send_sge=2, recv_sge=2, inline=64):
    cap = QPCap(max_send_wr=send_wr, max_recv_wr=recv_wr, max_send_sge=send_sge,
                max_recv_sge=recv_sge, max_inline_data=inline)
    return QPInitAttr(qp_type=qp_type, scq=cq, rcq=cq, cap=cap)


# Creation: the rxe rings round the work requests up to 2^n - 1 and the SGEs
# and inline data to what one send slot holds (max(16 * sge, inline)).
qps = {t: QP(pd, init_attr(t)) for t in (e.IBV_QPT_RC, e.IBV_QPT_UC, e.IBV_QPT_UD)}
nums = [qp.qp_num for qp in qps.values()]
check(all(n >= 2 for n in nums) and len(set(nums)) == 3, f"QPNs {nums}")
_, got = qps[e.IBV_QPT_RC].query(e.IBV_QP_CAP)
check((got.max_send_wr, got.max_recv_wr) == (31, 31), f"WRs granted {got.max_send_wr}/{got.max_recv_wr}")
check((got.max_send_sge, got.max_inline_data) == (4, 64),
      f"send SGEs {got.max_send_sge} inline {got.max_inline_data} (one 64-byte slot)")
recv_only = QP(pd, init_attr(e.IBV_QPT_UD, send_wr=0))
_, got0 = recv_only.query(e.IBV_QP_CAP)
check(got0.max_send_wr == 0, "a receive-only QP (no send WRs), as rdma_rxe allows")
recv_only.close()
fails_with({errno.EINVAL}, "more WRs than max_qp_wr",
           lambda: QP(pd, init_attr(e.IBV_QPT_RC, send_wr=16385)))
fails_with({errno.EINVAL}, "more SGEs than max_sge",
           lambda: QP(pd, init_attr(e.IBV_QPT_RC, send_sge=33)))
fails_with({errno.EINVAL}, "more inline data than 512 bytes",
           lambda: QP(pd, init_attr(e.IBV_QPT_RC, inline=513)))

# The state machine (IBA 11.2.5.2, ib_modify_qp_is_ok) and value rules.
rc = qps[e.IBV_QPT_RC]
to_rts = QPAttr(qp_state=e.IBV_QPS_RTS)
fails_with({errno.EINVAL}, "RESET -> RTS", lambda: rc.modify(to_rts, e.IBV_QP_STATE))
bad_port = QPAttr(port_num=2)
bad_port.qp_access_flags = 0
fails_with({errno.EINVAL}, "INIT on port 2", lambda: rc.to_init(bad_port))
a = QPAttr()
a.qp_access_flags = e.IBV_ACCESS_REMOTE_WRITE | e.IBV_ACCESS_REMOTE_READ
rc.to_init(a)
q, _ = rc.query(e.IBV_QP_STATE | e.IBV_QP_ACCESS_FLAGS)
check(q.qp_state == e.IBV_QPS_INIT and q.qp_access_flags == a.qp_access_flags, "RESET -> INIT, access kept")

# A second RC QP to connect to, through the port's link-local RoCE v2 GID
# (its MAC follows from the GID: no neighbour lookup).
peer = QP(pd, init_attr(e.IBV_QPT_RC))
gid = ctx.query_gid(1, 1)
rtr = QPAttr()
rtr.qp_access_flags = a.qp_access_flags
rtr.dest_qp_num = peer.qp_num
rtr.rq_psn = 0x123456
rtr.path_mtu = e.IBV_MTU_1024
rtr.max_dest_rd_atomic = 4
rtr.min_rnr_timer = 12
rtr.ah_attr = AHAttr(is_global=1, port_num=1, gr=GlobalRoute(dgid=gid, sgid_index=1))
rtr.timeout = 14
rtr.retry_cnt = 7
rtr.rnr_retry = 7
rtr.sq_psn = 0xabcdef
rtr.max_rd_atomic = 4
rc.to_rtr(rtr)
rc.to_rts(rtr)
q, _ = rc.query(e.IBV_QP_STATE | e.IBV_QP_SQ_PSN | e.IBV_QP_RQ_PSN | e.IBV_QP_DEST_QPN |
                e.IBV_QP_TIMEOUT | e.IBV_QP_MAX_QP_RD_ATOMIC)
check(q.qp_state == e.IBV_QPS_RTS, "INIT -> RTR -> RTS")
check((q.sq_psn, q.rq_psn, q.dest_qp_num, q.timeout, q.max_rd_atomic) ==
      (0xabcdef, 0x123456, peer.qp_num, 14, 4), "query_qp returns what modify set")
# Value rules (rvt's own, past ib_modify_qp_is_ok): the RTR -> RTS
# transition of a fresh QP with every attribute it needs, one value wrong.
rts_mask = (e.IBV_QP_STATE | e.IBV_QP_TIMEOUT | e.IBV_QP_RETRY_CNT | e.IBV_QP_RNR_RETRY |
            e.IBV_QP_SQ_PSN | e.IBV_QP_MAX_QP_RD_ATOMIC)


def rtr_qp():
    qp = QP(pd, init_attr(e.IBV_QPT_RC))
    rtr.dest_qp_num = rc.qp_num
    qp.to_rtr(rtr)
    return qp


def to_rts_with(qp, **values):
    attr = QPAttr(qp_state=e.IBV_QPS_RTS)
    attr.timeout, attr.retry_cnt, attr.rnr_retry, attr.sq_psn, attr.max_rd_atomic = 14, 7, 7, 1, 4
    for name, value in values.items():
        setattr(attr, name, value)
    qp.modify(attr, rts_mask)


probe = rtr_qp()
fails_with({errno.EINVAL}, "local ACK timeout 32 (5 bits, IBA 11.2.5.2)",
           lambda: to_rts_with(probe, timeout=32))
fails_with({errno.EINVAL}, "max_rd_atomic above the device's 128",
           lambda: to_rts_with(probe, max_rd_atomic=129))
fails_with({errno.EINVAL}, "retry count 8 (3 bits)", lambda: to_rts_with(probe, retry_cnt=8))
# (A PSN beyond 24 bits never reaches the driver from user space: the
# verbs stack keeps 24 bits of it.)
q, _ = probe.query(e.IBV_QP_STATE)
check(q.qp_state == e.IBV_QPS_RTR, "a refused modify changes nothing")
to_rts_with(probe)
q, _ = probe.query(e.IBV_QP_STATE | e.IBV_QP_TIMEOUT)
check(q.qp_state == e.IBV_QPS_RTS and q.timeout == 14, "the same transition with valid values")
sqd = QPAttr(qp_state=e.IBV_QPS_SQD)
probe.modify(sqd, e.IBV_QP_STATE)
q, _ = probe.query(e.IBV_QP_STATE)
check(q.qp_state == e.IBV_QPS_SQD and q.sq_draining == 0, "RTS -> SQD, an idle send queue drained")
fails_with({errno.EINVAL}, "SQD -> RTR (IBA 10.3.1)",
           lambda: probe.modify(QPAttr(qp_state=e.IBV_QPS_RTR), e.IBV_QP_STATE))
probe.close()
err = QPAttr(qp_state=e.IBV_QPS_ERR)
rc.modify(err, e.IBV_QP_STATE)
reset = QPAttr(qp_state=e.IBV_QPS_RESET)
rc.modify(reset, e.IBV_QP_STATE)
rc.to_init(a)
q, _ = rc.query(e.IBV_QP_STATE)
check(q.qp_state == e.IBV_QPS_INIT, "RTS -> ERR -> RESET -> INIT")

# UD: to RTS with a Q_Key; RDMA access flags are not a UD attribute.
ud = qps[e.IBV_QPT_UD]
u = QPAttr()
u.qkey = 0x11111111
u.sq_psn = 7
ud.to_rts(u)
q, _ = ud.query(e.IBV_QP_STATE | e.IBV_QP_QKEY)
check(q.qp_state == e.IBV_QPS_RTS and q.qkey == 0x11111111, "UD RESET -> RTS with its Q_Key")
acc = QPAttr(qp_state=e.IBV_QPS_RTS)
acc.qp_access_flags = e.IBV_ACCESS_REMOTE_WRITE
fails_with({errno.EINVAL}, "access flags on a UD QP", lambda: ud.modify(acc, e.IBV_QP_ACCESS_FLAGS))

# Address handles: RoCE addresses by GID (a GRH always).
route = GlobalRoute(dgid=gid, sgid_index=1)
ahs = [AH(pd, attr=AHAttr(is_global=1, port_num=1, gr=route)) for _ in range(16)]
check(len(ahs) == 16, "16 user AHs on the port's RoCE v2 GID")
fails_with({errno.EINVAL}, "an AH without a GRH on a RoCE port",
           lambda: AH(pd, attr=AHAttr(is_global=0, port_num=1, dlid=1)))
for ah in ahs:
    ah.close()
attr = ctx.query_device()
check(attr.max_ah == 65535, f"max_ah {attr.max_ah}")

# Shared receive queues: the rxe ring, rounded like the others; the limit
# is armed by modify_srq within the queue (resizing: srq_resize.py).
srq = SRQ(pd, SrqInitAttr(SrqAttr(max_wr=100, max_sge=2)))
got = srq.query()
check((got.max_wr, got.max_sge, got.srq_limit) == (127, 2, 0), f"SRQ of 100 WRs holds {got.max_wr}")
srq.modify(SrqAttr(srq_limit=10), e.IBV_SRQ_LIMIT)
check(srq.query().srq_limit == 10, "SRQ limit armed")
fails_with({errno.EINVAL}, "an SRQ limit beyond the queue",
           lambda: srq.modify(SrqAttr(srq_limit=200), e.IBV_SRQ_LIMIT))
srq.modify(SrqAttr(max_wr=1000), e.IBV_SRQ_MAX_WR)
check(srq.query().max_wr == 1023, "an SRQ grown to 1000 WRs holds 1023")
fails_with({errno.EINVAL}, "an SRQ larger than max_srq_wr",
           lambda: SRQ(pd, SrqInitAttr(SrqAttr(max_wr=16385))))
with_srq = QPInitAttr(qp_type=e.IBV_QPT_RC, scq=cq, rcq=cq, srq=srq, cap=QPCap(max_send_wr=8))
srq_qp = QP(pd, with_srq)
_, got = srq_qp.query(e.IBV_QP_CAP)
check(got.max_recv_wr == 0, "a QP on an SRQ has no receive ring of its own")
srq_qp.close()
srq.close()
check(attr.max_srq == 16384 and attr.max_srq_wr == 16384, f"max_srq {attr.max_srq} max_srq_wr {attr.max_srq_wr}")

# Destroy, and a QPN is not handed out again at once.
old = peer.qp_num
peer.close()
fresh = QP(pd, init_attr(e.IBV_QPT_RC))
check(fresh.qp_num != old, f"new QPN {fresh.qp_num} after destroying {old}")
many = [QP(pd, init_attr(e.IBV_QPT_UD, send_wr=1, recv_wr=1)) for _ in range(32)]
check(len({q.qp_num for q in many}) == 32, "32 more QPs")
for q in many:
    q.close()
sys.exit(exit_status())
