# SPDX-License-Identifier: GPL-2.0
"""Memory windows between two rvt devices in one process (pyverbs), over
part of b's MR: a type 1 window bound with ibv_bind_mw and a type 2 window
bound by a BIND_MW work request (IBA 10.6.7); remote WRITE and READ through
them; accesses outside a window or beyond its rights refused; unbinding,
SEND with Invalidate and Local Invalidate; a bind the rules refuse. Usage:
mw_ops.py DEV0 GIDX0 DEV1 GIDX1. Prints "ok: ..." / "FAIL: ..." lines;
exits 1 on failure."""

import sys

import pyverbs.enums as e
from pyverbs.mr import MR, MW, MWBind, MWBindInfo
from pyverbs.wr import SGE, RecvWR, SendWR

from checks import check, exit_status, poll, state
from rc import ACCESS, Node, pair

a = Node(sys.argv[1], int(sys.argv[2]))
b = Node(sys.argv[3], int(sys.argv[4]), ACCESS | e.IBV_ACCESS_MW_BIND)
# The window: 8 KiB from 4 KiB into b's MR.
OFF, WIN = 4096, 8192
RW = e.IBV_ACCESS_REMOTE_WRITE | e.IBV_ACCESS_REMOTE_READ


def seen(wcs):
    return str([(w.wr_id, w.status, w.opcode) for w in wcs])


def rdma(opcode, rkey, addr, length=64, wr_id=1):
    """a READs or WRITEs `length` bytes of b at `addr` under `rkey`."""
    wr = SendWR(wr_id=wr_id, opcode=opcode, num_sge=1, sg=[SGE(a.mr.buf, length, a.mr.lkey)])
    wr.set_wr_rdma(rkey, addr)
    a.qp.post_send(wr)
    return poll(a.cq)


def bind2(mw, info, wr_id):
    """b posts a BIND_MW work request for type 2 window mw; its new key."""
    wr = SendWR(wr_id=wr_id, opcode=e.IBV_WR_BIND_MW, send_flags=e.IBV_SEND_SIGNALED)
    wr.set_bind_wr(mw, info)
    b.qp.post_send(wr)
    return wr.rkey, poll(b.cq)


def succeeded(wcs, opcode):
    return len(wcs) == 1 and wcs[0].status == e.IBV_WC_SUCCESS and wcs[0].opcode == opcode


# Type 1.
pair(a, b)
mw1 = MW(b.pd, e.IBV_MW_TYPE_1)
b.qp.bind_mw(mw1, MWBind(MWBindInfo(b.mr, b.mr.buf + OFF, WIN, RW), e.IBV_SEND_SIGNALED))
wcs = poll(b.cq)
check(succeeded(wcs, e.IBV_WC_BIND_MW), "a type 1 bind completes " + seen(wcs))
a.mr.write(bytes(range(64)), 64, 0)
wcs = rdma(e.IBV_WR_RDMA_WRITE, mw1.rkey, b.mr.buf + OFF + 100)
check(succeeded(wcs, e.IBV_WC_RDMA_WRITE), "a WRITE through the type 1 window completes " + seen(wcs))
check(b.mr.read(64, OFF + 100) == bytes(range(64)), "its bytes are in the MR behind the window")
b.mr.write(b"\x5a" * 64, 64, OFF + WIN - 64)
wcs = rdma(e.IBV_WR_RDMA_READ, mw1.rkey, b.mr.buf + OFF + WIN - 64)
check(succeeded(wcs, e.IBV_WC_RDMA_READ) and a.mr.read(64, 0) == b"\x5a" * 64,
      "a READ of the window's last bytes returns them " + seen(wcs))
wcs = rdma(e.IBV_WR_RDMA_WRITE, mw1.rkey, b.mr.buf + OFF + WIN - 32, wr_id=2)
check(len(wcs) == 1 and wcs[0].status == e.IBV_WC_REM_ACCESS_ERR,
      "a WRITE running past the window's end: REM_ACCESS_ERR " + seen(wcs))
check(b.mr.read(32, OFF + WIN - 32) == b"\x5a" * 32, "and nothing of it landed")

# Rebinding a type 1 window with zero length unbinds it; its old key and
# its new one name nothing.
pair(a, b)
old = mw1.rkey
b.qp.bind_mw(mw1, MWBind(MWBindInfo(b.mr, b.mr.buf + OFF, 0, RW), e.IBV_SEND_SIGNALED))
wcs = poll(b.cq)
check(succeeded(wcs, e.IBV_WC_BIND_MW) and mw1.rkey != old, "a zero-length rebind completes with a new key " + seen(wcs))
wcs = rdma(e.IBV_WR_RDMA_WRITE, old, b.mr.buf + OFF)
check(len(wcs) == 1 and wcs[0].status == e.IBV_WC_REM_ACCESS_ERR, "the old key is refused " + seen(wcs))

# A type 1 window cannot be invalidated (IBA 10.6.7.2.5): a SEND with
# Invalidate naming one is an invalid request.
pair(a, b)
mw5 = MW(b.pd, e.IBV_MW_TYPE_1)
b.qp.bind_mw(mw5, MWBind(MWBindInfo(b.mr, b.mr.buf + OFF, WIN, RW), e.IBV_SEND_SIGNALED))
poll(b.cq)
b.qp.post_recv(RecvWR(wr_id=50, num_sge=1, sg=[SGE(b.mr.buf, 64, b.mr.lkey)]))
wr = SendWR(wr_id=51, opcode=e.IBV_WR_SEND_WITH_INV, num_sge=1, imm_data=mw5.rkey,
            sg=[SGE(a.mr.buf, 16, a.mr.lkey)])
a.qp.post_send(wr)
wcs = poll(a.cq)
check(len(wcs) == 1 and wcs[0].status == e.IBV_WC_REM_INV_REQ_ERR,
      "a SEND with Invalidate of a type 1 window: REM_INV_REQ_ERR " + seen(wcs))
got = poll(b.cq)
check(len(got) == 1 and got[0].wr_id == 50 and got[0].status != e.IBV_WC_SUCCESS,
      "and the receive it took completes in error " + seen(got))

# Type 2: bound to b's QP by a work request, read rights only.
pair(a, b)
mw2 = MW(b.pd, e.IBV_MW_TYPE_2)
key2, wcs = bind2(mw2, MWBindInfo(b.mr, b.mr.buf + OFF, WIN, e.IBV_ACCESS_REMOTE_READ), 20)
check(succeeded(wcs, e.IBV_WC_BIND_MW), "a type 2 bind completes " + seen(wcs))
b.mr.write(b"\xa5" * 64, 64, OFF)
wcs = rdma(e.IBV_WR_RDMA_READ, key2, b.mr.buf + OFF, wr_id=21)
check(succeeded(wcs, e.IBV_WC_RDMA_READ) and a.mr.read(64, 0) == b"\xa5" * 64,
      "a READ through the type 2 window returns the MR's bytes " + seen(wcs))
# SEND with Invalidate of the window: the receive completion reports it.
b.qp.post_recv(RecvWR(wr_id=22, num_sge=1, sg=[SGE(b.mr.buf, 64, b.mr.lkey)]))
wr = SendWR(wr_id=23, opcode=e.IBV_WR_SEND_WITH_INV, num_sge=1, imm_data=key2,
            sg=[SGE(a.mr.buf, 16, a.mr.lkey)])
a.qp.post_send(wr)
sent, got = poll(a.cq), poll(b.cq)
check(succeeded(sent, e.IBV_WC_SEND), "the SEND with Invalidate completes " + seen(sent))
check(len(got) == 1 and got[0].status == e.IBV_WC_SUCCESS and got[0].wc_flags & e.IBV_WC_WITH_INV
      and got[0].imm_data == key2,  # the union holds the invalidated R_Key
      "the receive completion names the invalidated key " + seen(got))
wcs = rdma(e.IBV_WR_RDMA_READ, key2, b.mr.buf + OFF, wr_id=24)
check(len(wcs) == 1 and wcs[0].status == e.IBV_WC_REM_ACCESS_ERR,
      "the invalidated window refuses a READ " + seen(wcs))

# Rights a window did not get are refused: a WRITE through a read-only
# type 2 window. (A type 2 window's key changes with each bind; pyverbs
# binds from the key it was allocated with, so each bind below takes a
# fresh window.)
pair(a, b)
mw3 = MW(b.pd, e.IBV_MW_TYPE_2)
key3, wcs = bind2(mw3, MWBindInfo(b.mr, b.mr.buf + OFF, WIN, e.IBV_ACCESS_REMOTE_READ), 30)
check(succeeded(wcs, e.IBV_WC_BIND_MW), "a read-only type 2 bind completes " + seen(wcs))
wcs = rdma(e.IBV_WR_RDMA_WRITE, key3, b.mr.buf + OFF, wr_id=31)
check(len(wcs) == 1 and wcs[0].status == e.IBV_WC_REM_ACCESS_ERR,
      "a WRITE through a read-only window: REM_ACCESS_ERR " + seen(wcs))
# A type 2B window is used only through the QP it is bound to: a READ that
# arrives on another QP of the PD is refused.
pair(a, b)
wcs = rdma(e.IBV_WR_RDMA_READ, key3, b.mr.buf + OFF, wr_id=32)
check(len(wcs) == 1 and wcs[0].status == e.IBV_WC_REM_ACCESS_ERR,
      "a READ through a type 2B window on another QP: REM_ACCESS_ERR " + seen(wcs))

# Local Invalidate of a bound type 2 window, then a bind the rules
# refuse: over an MR that does not allow binding (MW_BIND_ERR, Error).
pair(a, b)
mw4 = MW(b.pd, e.IBV_MW_TYPE_2)
key4, wcs = bind2(mw4, MWBindInfo(b.mr, b.mr.buf + OFF, WIN, RW), 40)
check(succeeded(wcs, e.IBV_WC_BIND_MW), "a read-write type 2 bind completes " + seen(wcs))
inv = SendWR(wr_id=41, opcode=e.IBV_WR_LOCAL_INV, imm_data=key4)
b.qp.post_send(inv)
wcs = poll(b.cq)
check(succeeded(wcs, e.IBV_WC_LOCAL_INV), "Local Invalidate of the window completes " + seen(wcs))
wcs = rdma(e.IBV_WR_RDMA_READ, key4, b.mr.buf + OFF, wr_id=43)
check(len(wcs) == 1 and wcs[0].status == e.IBV_WC_REM_ACCESS_ERR,
      "the locally invalidated window refuses a READ " + seen(wcs))
pair(a, b)
_, wcs = bind2(MW(b.pd, e.IBV_MW_TYPE_2), MWBindInfo(b.mr, b.mr.buf, 0, RW), 44)
check(len(wcs) == 1 and wcs[0].status == e.IBV_WC_MW_BIND_ERR,
      "a zero-length type 2 bind: MW_BIND_ERR " + seen(wcs))
pair(a, b)
plain = MR(b.pd, 65536, e.IBV_ACCESS_LOCAL_WRITE)
_, wcs = bind2(MW(b.pd, e.IBV_MW_TYPE_2), MWBindInfo(plain, plain.buf, 4096, e.IBV_ACCESS_REMOTE_READ), 42)
check(len(wcs) == 1 and wcs[0].status == e.IBV_WC_MW_BIND_ERR,
      "a bind over an MR without MW_BIND: MW_BIND_ERR " + seen(wcs))
check(state(b.qp) == e.IBV_QPS_ERR, "and the QP is in Error")
sys.exit(exit_status())
