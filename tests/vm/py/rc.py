# SPDX-License-Identifier: GPL-2.0
"""RC QPs between two rvt devices in one process (pyverbs), for the
scenarios that use them: a node (device, PD, CQ, a 1 MiB MR), connecting
two nodes' QPs."""

import pyverbs.enums as e
from pyverbs.addr import AHAttr, GlobalRoute
from pyverbs.cq import CQ
from pyverbs.device import Context
from pyverbs.mr import MR
from pyverbs.pd import PD
from pyverbs.qp import QP, QPAttr, QPCap, QPInitAttr

ACCESS = (e.IBV_ACCESS_LOCAL_WRITE | e.IBV_ACCESS_REMOTE_WRITE |
          e.IBV_ACCESS_REMOTE_READ | e.IBV_ACCESS_REMOTE_ATOMIC)
BIG = 1 << 20


class Node:
    def __init__(self, name, gid_index, mr_access=ACCESS):
        self.ctx = Context(name=name)
        self.gid_index = gid_index
        self.gid = self.ctx.query_gid(1, gid_index)
        self.pd = PD(self.ctx)
        self.cq = CQ(self.ctx, 64)
        self.mr = MR(self.pd, BIG, mr_access)
        self.qp = None

    def new_qp(self, send_cq=None):
        cap = QPCap(max_send_wr=16, max_recv_wr=16, max_send_sge=2, max_recv_sge=2)
        scq = send_cq or self.cq
        self.qp = QP(self.pd, QPInitAttr(qp_type=e.IBV_QPT_RC, scq=scq, rcq=self.cq, cap=cap))
        return self.qp


def connect_qp(qp, gid_index, peer_gid, peer_qpn, access=ACCESS, rnr_retry=7, timeout=14,
               retry_cnt=7, qkey=0x5555):
    """Moves qp (RC, UC or UD) to RTS: INIT with access (RC, UC) or qkey
    (UD); for RC and UC, RTR towards peer_qpn at peer_gid (path MTU 1024)."""
    qp_type = qp.qp_type
    attr = QPAttr(qp_state=e.IBV_QPS_INIT)
    attr.pkey_index = 0
    attr.port_num = 1
    mask = e.IBV_QP_STATE | e.IBV_QP_PKEY_INDEX | e.IBV_QP_PORT
    if qp_type == e.IBV_QPT_UD:
        attr.qkey = qkey
        mask |= e.IBV_QP_QKEY
    else:
        attr.qp_access_flags = access
        mask |= e.IBV_QP_ACCESS_FLAGS
    qp.modify(attr, mask)
    attr = QPAttr(qp_state=e.IBV_QPS_RTR)
    mask = e.IBV_QP_STATE
    if qp_type != e.IBV_QPT_UD:
        attr.path_mtu = e.IBV_MTU_1024
        attr.dest_qp_num = peer_qpn
        attr.rq_psn = 0
        attr.ah_attr = AHAttr(port_num=1, is_global=1,
                              gr=GlobalRoute(dgid=peer_gid, sgid_index=gid_index, hop_limit=64))
        mask |= e.IBV_QP_AV | e.IBV_QP_PATH_MTU | e.IBV_QP_DEST_QPN | e.IBV_QP_RQ_PSN
    if qp_type == e.IBV_QPT_RC:
        attr.max_dest_rd_atomic = 4
        attr.min_rnr_timer = 1
        mask |= e.IBV_QP_MAX_DEST_RD_ATOMIC | e.IBV_QP_MIN_RNR_TIMER
    qp.modify(attr, mask)
    attr = QPAttr(qp_state=e.IBV_QPS_RTS)
    attr.sq_psn = 0
    mask = e.IBV_QP_STATE | e.IBV_QP_SQ_PSN
    if qp_type == e.IBV_QPT_RC:
        attr.timeout = timeout
        attr.retry_cnt = retry_cnt
        attr.rnr_retry = rnr_retry
        attr.max_rd_atomic = 4
        mask |= (e.IBV_QP_TIMEOUT | e.IBV_QP_RETRY_CNT | e.IBV_QP_RNR_RETRY |
                 e.IBV_QP_MAX_QP_RD_ATOMIC)
    qp.modify(attr, mask)


def connect(a, b, access=ACCESS, rnr_retry=7):
    """Moves a's QP to RTS towards b's."""
    connect_qp(a.qp, a.gid_index, b.gid, b.qp.qp_num, access=access, rnr_retry=rnr_retry)


def pair(a, b, access=ACCESS, rnr_retry=7, send_cq=None):
    """New connected QPs on a and b (b's QP granting access)."""
    a.new_qp(send_cq)
    b.new_qp()
    connect(a, b, rnr_retry=rnr_retry)
    connect(b, a, access=access)
