# SPDX-License-Identifier: GPL-2.0
"""UD between two rvt devices in one process (pyverbs): what lands in the
receive buffer's GRH slot, the completion's fields, a receive buffer too
small, a wrong Q_Key, a datagram longer than the MTU. Usage: ud_ops.py
DEV0 GIDX0 DEV1 GIDX1. Prints "ok: ..." / "FAIL: ..." lines; exits 1 on
failure."""

import socket
import sys
import time

import pyverbs.enums as e
from pyverbs.addr import AH, AHAttr, GlobalRoute
from pyverbs.cq import CQ
from pyverbs.device import Context
from pyverbs.mr import MR
from pyverbs.pd import PD
from pyverbs.qp import QP, QPAttr, QPCap, QPInitAttr
from pyverbs.wr import SGE, RecvWR, SendWR

from checks import check, counter, exit_status, poll, state

QKEY = 0x11111111



class Node:
    def __init__(self, name, gid_index):
        self.name = name
        self.ctx = Context(name=name)
        self.gid_index = gid_index
        self.gid = self.ctx.query_gid(1, gid_index)
        self.pd = PD(self.ctx)
        self.cq = CQ(self.ctx, 64)
        self.mr = MR(self.pd, 65536, e.IBV_ACCESS_LOCAL_WRITE)
        self.new_qp()

    def new_qp(self):
        cap = QPCap(max_send_wr=16, max_recv_wr=16, max_send_sge=1, max_recv_sge=1)
        self.qp = QP(self.pd, QPInitAttr(qp_type=e.IBV_QPT_UD, scq=self.cq, rcq=self.cq, cap=cap))
        attr = QPAttr(qp_state=e.IBV_QPS_INIT)
        attr.pkey_index = 0
        attr.port_num = 1
        attr.qkey = QKEY
        self.qp.modify(attr, e.IBV_QP_STATE | e.IBV_QP_PKEY_INDEX | e.IBV_QP_PORT | e.IBV_QP_QKEY)
        self.qp.modify(QPAttr(qp_state=e.IBV_QPS_RTR), e.IBV_QP_STATE)
        attr = QPAttr(qp_state=e.IBV_QPS_RTS)
        attr.sq_psn = 0
        self.qp.modify(attr, e.IBV_QP_STATE | e.IBV_QP_SQ_PSN)

    def ah_to(self, other):
        return AH(self.pd, attr=AHAttr(port_num=1, is_global=1,
                                       gr=GlobalRoute(dgid=other.gid, sgid_index=self.gid_index,
                                                      hop_limit=64)))




def send(a, ah, length, qkey=QKEY):
    wr = SendWR(wr_id=length, opcode=e.IBV_WR_SEND, num_sge=1, sg=[SGE(a.mr.buf, length, a.mr.lkey)])
    wr.set_wr_ud(ah, b.qp.qp_num, qkey)
    a.qp.post_send(wr)


a = Node(sys.argv[1], int(sys.argv[2]))
b = Node(sys.argv[3], int(sys.argv[4]))
ah = a.ah_to(b)

# A datagram: 40 bytes of GRH slot, then the payload.
a.mr.write(b"x" * 64, 64, 0)
b.mr.write(b"\xff" * 200, 200, 0)
b.qp.post_recv(RecvWR(wr_id=1, num_sge=1, sg=[SGE(b.mr.buf, 40 + 64, b.mr.lkey)]))
send(a, ah, 64)
sent, got = poll(a.cq), poll(b.cq)
check(len(sent) == 1 and sent[0].status == e.IBV_WC_SUCCESS, "the UD SEND completes")
check(len(got) == 1 and got[0].status == e.IBV_WC_SUCCESS and got[0].byte_len == 40 + 64
      and got[0].src_qp == a.qp.qp_num and got[0].wc_flags & e.IBV_WC_GRH,
      "the receive: 104 bytes, the sender's QPN, IBV_WC_GRH" +
      (f" (len {got[0].byte_len} src {got[0].src_qp} flags {got[0].wc_flags})" if got else ""))
slot = b.mr.read(40, 0)
ip = slot[20:40]
check(slot[:20] == bytes(20) and ip[0] == 0x45 and ip[9] == 17
      and ip[12:16] == socket.inet_aton("10.9.0.1") and ip[16:20] == socket.inet_aton("10.9.0.2"),
      "the GRH slot: 20 zero bytes, then the IPv4 header (UDP, 10.9.0.1 -> 10.9.0.2)")
check(b.mr.read(64, 40) == b"x" * 64, "the payload follows the GRH slot")

# A receive buffer too small: LOC_LEN_ERR; a UD QP stays usable.
b.qp.post_recv(RecvWR(wr_id=2, num_sge=1, sg=[SGE(b.mr.buf, 40 + 16, b.mr.lkey)]))
send(a, ah, 64)
got = poll(b.cq)
poll(a.cq)
check(len(got) == 1 and got[0].wr_id == 2 and got[0].status == e.IBV_WC_LOC_LEN_ERR,
      "a receive buffer too small: LOC_LEN_ERR")
check(state(b.qp) == e.IBV_QPS_RTS, "the UD QP stays in RTS")

# A wrong Q_Key: dropped and counted, the receive stays posted.
dropped = counter(b.name, "rx_dropped")
key_drops = counter(b.name, "rx_drop_key")
b.qp.post_recv(RecvWR(wr_id=3, num_sge=1, sg=[SGE(b.mr.buf, 40 + 64, b.mr.lkey)]))
send(a, ah, 64, qkey=0x22222222)
poll(a.cq)
time.sleep(0.1)
check(not poll(b.cq, timeout=0) and counter(b.name, "rx_dropped") == dropped + 1
      and counter(b.name, "rx_drop_key") == key_drops + 1,
      "a wrong Q_Key: dropped, counted in rx_dropped and rx_drop_key")
send(a, ah, 32)
got = poll(b.cq)
poll(a.cq)
check(len(got) == 1 and got[0].wr_id == 3 and got[0].byte_len == 40 + 32,
      "the receive takes the next datagram")

# A bad lkey: LOC_PROT_ERR (not a silent success), the QP in Error.
wr = SendWR(wr_id=99, opcode=e.IBV_WR_SEND, num_sge=1, sg=[SGE(a.mr.buf, 16, a.mr.lkey ^ 0x100)])
wr.set_wr_ud(ah, b.qp.qp_num, QKEY)
a.qp.post_send(wr)
sent = poll(a.cq)
check(len(sent) == 1 and sent[0].status == e.IBV_WC_LOC_PROT_ERR and state(a.qp) == e.IBV_QPS_ERR,
      "a UD SEND with a bad lkey: LOC_PROT_ERR, QP in Error" + (f" (status {sent[0].status})" if sent else ""))
a.new_qp()

# A datagram longer than the path MTU (1024 on a 1500-byte veth).
send(a, ah, 1025)
sent = poll(a.cq)
check(len(sent) == 1 and sent[0].status == e.IBV_WC_LOC_LEN_ERR,
      "a UD SEND longer than the MTU: LOC_LEN_ERR, not sent" +
      (f" (status {sent[0].status})" if sent else ""))
sys.exit(exit_status())
