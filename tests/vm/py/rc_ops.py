# SPDX-License-Identifier: GPL-2.0
"""RC operations between two rvt devices in one process (pyverbs): RDMA
WRITE (with immediate), READ of 1 MiB, atomics, an R_Key violation, a send
that waits for a receive (RNR), a malformed work request, and the QP states
they leave. Usage: rc_ops.py DEV0 GIDX0 DEV1 GIDX1. Prints "ok: ..." /
"FAIL: ..." lines; exits 1 on failure."""

import struct
import sys
import signal
import time

import pyverbs.enums as e
from pyverbs.cq import CQ
from pyverbs.pyverbs_error import PyverbsError
from pyverbs.qp import QPAttr
from pyverbs.wr import SGE, RecvWR, SendWR

from checks import check, counter, exit_status, poll, state
from rc import BIG, Node, pair

a = Node(sys.argv[1], int(sys.argv[2]))
b = Node(sys.argv[3], int(sys.argv[4]))
pair(a, b)

# RDMA WRITE, then WRITE with immediate (consumes a receive at b).
data = bytes(range(256)) * 64
a.mr.write(data, len(data), 0)
wr = SendWR(wr_id=1, opcode=e.IBV_WR_RDMA_WRITE, num_sge=1, sg=[SGE(a.mr.buf, len(data), a.mr.lkey)])
wr.set_wr_rdma(b.mr.rkey, b.mr.buf + 4096)
a.qp.post_send(wr)
wcs = poll(a.cq)
check(len(wcs) == 1 and wcs[0].status == e.IBV_WC_SUCCESS and wcs[0].opcode == e.IBV_WC_RDMA_WRITE
      and wcs[0].byte_len == len(data), f"RDMA WRITE of {len(data)} bytes completes")
check(b.mr.read(len(data), 4096) == data, "the written bytes are at the remote address")
b.qp.post_recv(RecvWR(wr_id=7, num_sge=1, sg=[SGE(b.mr.buf, 16, b.mr.lkey)]))
wr = SendWR(wr_id=2, opcode=e.IBV_WR_RDMA_WRITE_WITH_IMM, num_sge=1, imm_data=0x12345678,
            sg=[SGE(a.mr.buf, 100, a.mr.lkey)])
wr.set_wr_rdma(b.mr.rkey, b.mr.buf + 200000)
a.qp.post_send(wr)
sent, got = poll(a.cq), poll(b.cq)
check(len(sent) == 1 and sent[0].status == e.IBV_WC_SUCCESS, "WRITE with immediate completes")
check(len(got) == 1 and got[0].opcode == e.IBV_WC_RECV_RDMA_WITH_IMM and got[0].wr_id == 7
      and got[0].byte_len == 100 and got[0].wc_flags & e.IBV_WC_WITH_IMM
      and got[0].imm_data == 0x12345678,
      f"the receiver gets the immediate data ({got[0].imm_data:#x} flags {got[0].wc_flags})" if got
      else "the receiver gets a completion")

# RDMA READ of 1 MiB (1024 response packets) into a's buffer.
pattern = struct.pack("<I", 0xdeadbeef) * (BIG // 4)
b.mr.write(pattern, BIG, 0)
a.mr.write(bytes(BIG), BIG, 0)
wr = SendWR(wr_id=3, opcode=e.IBV_WR_RDMA_READ, num_sge=1, sg=[SGE(a.mr.buf, BIG, a.mr.lkey)])
wr.set_wr_rdma(b.mr.rkey, b.mr.buf)
a.qp.post_send(wr)
wcs = poll(a.cq, timeout=60)
check(len(wcs) == 1 and wcs[0].status == e.IBV_WC_SUCCESS and wcs[0].opcode == e.IBV_WC_RDMA_READ
      and wcs[0].byte_len == BIG, "RDMA READ of 1 MiB completes")
check(a.mr.read(BIG, 0) == pattern, "the 1 MiB read back is the remote memory")

# Atomics: the original value lands in the local buffer (host order).
b.mr.write(struct.pack("<Q", 41), 8, 8192)
wr = SendWR(wr_id=4, opcode=e.IBV_WR_ATOMIC_FETCH_AND_ADD, num_sge=1, sg=[SGE(a.mr.buf, 8, a.mr.lkey)])
wr.set_wr_atomic(b.mr.rkey, b.mr.buf + 8192, 1)
a.qp.post_send(wr)
wcs = poll(a.cq)
check(len(wcs) == 1 and wcs[0].status == e.IBV_WC_SUCCESS and wcs[0].opcode == e.IBV_WC_FETCH_ADD,
      "FETCH_ADD completes")
check(struct.unpack("<Q", a.mr.read(8, 0))[0] == 41 and struct.unpack("<Q", b.mr.read(8, 8192))[0] == 42,
      "FETCH_ADD returned 41 and left 42")
wr = SendWR(wr_id=5, opcode=e.IBV_WR_ATOMIC_CMP_AND_SWP, num_sge=1, sg=[SGE(a.mr.buf + 8, 8, a.mr.lkey)])
wr.set_wr_atomic(b.mr.rkey, b.mr.buf + 8192, 42, 1000)
a.qp.post_send(wr)
wcs = poll(a.cq)
check(len(wcs) == 1 and wcs[0].status == e.IBV_WC_SUCCESS and wcs[0].opcode == e.IBV_WC_COMP_SWAP,
      "CMP_AND_SWP completes")
check(struct.unpack("<Q", a.mr.read(8, 8))[0] == 42 and struct.unpack("<Q", b.mr.read(8, 8192))[0] == 1000,
      "CMP_AND_SWP returned 42 and swapped in 1000")

# CQ resize (IBA 11.2.8.3): completions waiting move to the new ring, in
# order; a size below what is waiting is refused.
a.cq.resize(8)
for i in range(5):
    wr = SendWR(wr_id=100 + i, opcode=e.IBV_WR_RDMA_WRITE, num_sge=1, sg=[SGE(a.mr.buf, 8, a.mr.lkey)])
    wr.set_wr_rdma(b.mr.rkey, b.mr.buf)
    a.qp.post_send(wr)
time.sleep(0.5)
try:
    a.cq.resize(2)
    check(False, "a resize below the 5 completions waiting must fail")
except Exception as err:
    check("22" in str(err) or "Invalid" in str(err), f"a resize below what is waiting: EINVAL ({err})")
a.cq.resize(300)
wcs = poll(a.cq, 5)
check([w.wr_id for w in wcs] == [100, 101, 102, 103, 104] and all(w.status == e.IBV_WC_SUCCESS for w in wcs),
      "after resizing to 300, the 5 waiting completions poll in order")
wr = SendWR(wr_id=105, opcode=e.IBV_WR_RDMA_WRITE, num_sge=1, sg=[SGE(a.mr.buf, 8, a.mr.lkey)])
wr.set_wr_rdma(b.mr.rkey, b.mr.buf)
a.qp.post_send(wr)
wcs = poll(a.cq)
check(len(wcs) == 1 and wcs[0].wr_id == 105, "and new completions land in the new ring")

# An RNR case: a SEND before the receive is posted, which comes 50 ms later.
wr = SendWR(wr_id=6, opcode=e.IBV_WR_SEND, num_sge=1, sg=[SGE(a.mr.buf, 64, a.mr.lkey)])
a.qp.post_send(wr)
time.sleep(0.05)
check(not poll(a.cq, timeout=0), "the SEND waits while the receiver has no receive (RNR)")
b.qp.post_recv(RecvWR(wr_id=8, num_sge=1, sg=[SGE(b.mr.buf, 64, b.mr.lkey)]))
sent, got = poll(a.cq), poll(b.cq)
check(len(sent) == 1 and sent[0].status == e.IBV_WC_SUCCESS and len(got) == 1 and got[0].byte_len == 64,
      "it completes once a receive is posted")



check(counter(sys.argv[3], "rx_rnr_naks_sent") > 0 and counter(sys.argv[1], "rx_rnr_naks_received") > 0,
      "RNR NAKs counted: sent by the responder, received by the requester")

# An R_Key violation: REM_ACCESS_ERR, the QP in Error, what follows flushed.
wr = SendWR(wr_id=9, opcode=e.IBV_WR_RDMA_WRITE, num_sge=1, sg=[SGE(a.mr.buf, 64, a.mr.lkey)])
wr.set_wr_rdma(b.mr.rkey ^ 0x100, b.mr.buf)
a.qp.post_send(wr)
wr2 = SendWR(wr_id=10, opcode=e.IBV_WR_RDMA_WRITE, num_sge=1, sg=[SGE(a.mr.buf, 64, a.mr.lkey)])
wr2.set_wr_rdma(b.mr.rkey, b.mr.buf)
a.qp.post_send(wr2)
wcs = poll(a.cq, 2)
check(len(wcs) == 2 and wcs[0].wr_id == 9 and wcs[0].status == e.IBV_WC_REM_ACCESS_ERR
      and wcs[1].wr_id == 10 and wcs[1].status == e.IBV_WC_WR_FLUSH_ERR,
      "a bad R_Key: REM_ACCESS_ERR, then the next WR flushed " +
      str([(w.wr_id, w.status) for w in wcs]))
check(state(a.qp) == e.IBV_QPS_ERR, "the requester's QP is in Error")
check(state(b.qp) == e.IBV_QPS_ERR, "the responder's QP is in Error (IBA 9.9.3)")

# A full CQ loses nothing: 6 WRITEs complete into a CQ of one entry; the
# rest are held and offered again, in order, as user space polls (without
# a system call: the QP's timer retries).
small = CQ(a.ctx, 1)
pair(a, b, send_cq=small)
for i in range(6):
    wr = SendWR(wr_id=200 + i, opcode=e.IBV_WR_RDMA_WRITE, num_sge=1, sg=[SGE(a.mr.buf, 8, a.mr.lkey)])
    wr.set_wr_rdma(b.mr.rkey, b.mr.buf)
    a.qp.post_send(wr)
time.sleep(0.3)
wcs = poll(small, 6, timeout=10)
check([w.wr_id for w in wcs] == list(range(200, 206)) and all(w.status == e.IBV_WC_SUCCESS for w in wcs),
      "six completions through a one-entry CQ, all of them, in order " + str([w.wr_id for w in wcs]))

# A local buffer whose key names no MR: LOC_PROT_ERR when the data is read,
# and the QP goes to Error.
pair(a, b)
wr = SendWR(wr_id=13, opcode=e.IBV_WR_RDMA_WRITE, num_sge=1, sg=[SGE(a.mr.buf, 64, a.mr.lkey ^ 0x100)])
wr.set_wr_rdma(b.mr.rkey, b.mr.buf)
a.qp.post_send(wr)
wcs = poll(a.cq)
check(len(wcs) == 1 and wcs[0].wr_id == 13 and wcs[0].status == e.IBV_WC_LOC_PROT_ERR,
      "a bad lkey: LOC_PROT_ERR " + str([(w.wr_id, w.status) for w in wcs]))
check(state(a.qp) == e.IBV_QPS_ERR, "and the QP is in Error")

# A Local Invalidate of a key that names nothing it can invalidate (IBA
# 10.6.5): LOC_QP_OP_ERR, as rdma_rxe reports it, and Error.
pair(a, b)
wr = SendWR(wr_id=11, opcode=e.IBV_WR_LOCAL_INV, num_sge=0)
a.qp.post_send(wr)
wcs = poll(a.cq)
check(len(wcs) == 1 and wcs[0].wr_id == 11 and wcs[0].status == e.IBV_WC_LOC_QP_OP_ERR,
      "LOCAL_INV of key 0 completes with LOC_QP_OP_ERR " + str([(w.wr_id, w.status) for w in wcs]))
check(state(a.qp) == e.IBV_QPS_ERR, "and moves the QP to Error")

# The responder QP's access flags: no remote write granted, a WRITE is an
# invalid request (IBA 9.7.5.2.x: the QP does not take the operation; the
# region's rights are the R_Key's, a remote access error).
pair(a, b, access=e.IBV_ACCESS_LOCAL_WRITE)
wr = SendWR(wr_id=12, opcode=e.IBV_WR_RDMA_WRITE, num_sge=1, sg=[SGE(a.mr.buf, 64, a.mr.lkey)])
wr.set_wr_rdma(b.mr.rkey, b.mr.buf)
a.qp.post_send(wr)
wcs = poll(a.cq)
check(len(wcs) == 1 and wcs[0].status == e.IBV_WC_REM_INV_REQ_ERR,
      "a WRITE the responder's QP does not allow: REM_INV_REQ_ERR " + str([(w.wr_id, w.status) for w in wcs]))
# SQD (IBA 10.3.1, 11.2.5.2): moved there with the notification asked for,
# the QP reports IBV_EVENT_SQ_DRAINED once nothing it started is in
# flight; a SEND posted in SQD does not start until the QP is back in RTS.
pair(a, b)
b.qp.post_recv(RecvWR(wr_id=60, num_sge=1, sg=[SGE(b.mr.buf, 64, b.mr.lkey)]))
attr = QPAttr(qp_state=e.IBV_QPS_SQD)
attr.en_sqd_async_notify = 1
a.qp.modify(attr, e.IBV_QP_STATE | e.IBV_QP_EN_SQD_ASYNC_NOTIFY)
# The QP was idle: the event is queued by the time modify returns, behind
# the events of the earlier checks (the one-entry CQ's CQ_ERR). pyverbs
# waits holding the GIL; an alarm ends a wait that would not end.
signal.signal(signal.SIGALRM, lambda *_: None)
signal.siginterrupt(signal.SIGALRM, True)
signal.alarm(10)
event = None
try:
    for _ in range(20):
        ev = a.ctx.get_async_event()
        event = ev.event_type
        # Unacknowledged, it would hold off destroying the QP (libibverbs).
        ev.ack()
        if event == e.IBV_EVENT_SQ_DRAINED:
            break
except PyverbsError as err:
    event = err
signal.alarm(0)
check(event == e.IBV_EVENT_SQ_DRAINED, f"in SQD the QP reports its send queue drained ({event})")
check(state(a.qp) == e.IBV_QPS_SQD, "query_qp says SQD")
wr = SendWR(wr_id=61, opcode=e.IBV_WR_SEND, num_sge=1, sg=[SGE(a.mr.buf, 64, a.mr.lkey)])
a.qp.post_send(wr)
# A memory operation behind it waits too (a Local Invalidate of key 0,
# which names nothing: it fails once it executes).
a.qp.post_send(SendWR(wr_id=62, opcode=e.IBV_WR_LOCAL_INV, num_sge=0))
check(not poll(a.cq, timeout=0.5), "a SEND and a LOCAL_INV posted in SQD do not start")
a.qp.modify(QPAttr(qp_state=e.IBV_QPS_RTS), e.IBV_QP_STATE)
sent, got = poll(a.cq, 2), poll(b.cq)
check([(w.wr_id, w.status) for w in sent] == [(61, e.IBV_WC_SUCCESS), (62, e.IBV_WC_LOC_QP_OP_ERR)]
      and len(got) == 1 and got[0].wr_id == 60,
      "back in RTS the SEND goes out and completes, then the LOCAL_INV executes "
      + str([(w.wr_id, w.status) for w in sent]))
sys.exit(exit_status())
