# SPDX-License-Identifier: GPL-2.0
"""Hostile user rings (issue 9): a process that corrupts the rxe rings it
has mapped (rdma_user_rxe.h; Documentation/rxe-user-abi.md section 10) and
rings the doorbell through the stock provider. Usage: hostile_rings.py
DEV GID_INDEX PEER_DEV PEER_GID_INDEX.

Each attack gets a fresh RC QP on DEV connected to one on PEER_DEV (both
in this process). The rings are found as the mappings of the uverbs device
that the QP's creation added (/proc/self/maps) and told apart by their
element size. Garbage send WQEs are put ahead of the provider: the SQ
producer index is moved past them, so the next ibv_post_send writes its
own WQE after them and its doorbell hands the kernel both. The kernel
must complete what it cannot execute in error, move the QP to Error,
flush the rest, and keep everything else working. Prints "ok: ..." /
"FAIL: ..." lines; exits 1 on failure."""

import ctypes
import os
import random
import struct
import sys
import time

import pyverbs.enums as e
from pyverbs.addr import AH, AHAttr, GlobalRoute
from pyverbs.pd import PD
from pyverbs.pyverbs_error import PyverbsError
from pyverbs.qp import QP, QPAttr, QPCap, QPInitAttr
from pyverbs.wr import SGE, RecvWR, SendWR

import rc
from checks import check, exit_status, poll, state

# struct rxe_queue_buf
LOG2_ELEM_SIZE, INDEX_MASK, PRODUCER, CONSUMER, DATA = 0, 4, 128, 256, 384
# struct rxe_send_wqe
WR_ID, OPCODE, SEND_FLAGS = 0, 12, 16
REMOTE_ADDR, RKEY = 24, 32
UD_REMOTE_QPN, UD_QKEY, UD_AH_NUM = 24, 28, 36
DMA_LENGTH, DMA_NUM_SGE, SEND_SGE = 184, 196, 208
# struct rxe_recv_wqe
RECV_DMA_LENGTH, RECV_NUM_SGE, RECV_SGE = 16, 28, 40
IB_WR_SEND, IB_WR_LSO = 2, 10
IB_USER_VERBS_CMD_POST_SEND = 28
IB_SEND_SIGNALED, IB_SEND_INLINE = 2, 8

rng = random.Random(7)


def u32(addr, value=None):
    cell = ctypes.c_uint32.from_address(addr)
    if value is not None:
        cell.value = value & 0xffffffff
    return cell.value


def u64(addr, value):
    ctypes.c_uint64.from_address(addr).value = value


def uverbs_maps():
    maps = set()
    with open("/proc/self/maps") as f:
        for line in f:
            if "/dev/infiniband/uverbs" in line:
                lo, hi = line.split()[0].split("-")
                maps.add((int(lo, 16), int(hi, 16)))
    return maps


def uverbs_fds(dev):
    """This process's open file descriptors of dev's uverbs device."""
    paths = set()
    for n in os.listdir("/sys/class/infiniband_verbs"):
        try:
            with open(f"/sys/class/infiniband_verbs/{n}/ibdev") as f:
                if f.read().strip() == dev:
                    paths.add(f"/dev/infiniband/{n}")
        except OSError:
            pass
    fds = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") in paths:
                fds.add(int(fd))
        except OSError:
            pass
    return fds


def doorbell(fd, qp_handle):
    """The rxe SQ doorbell without the provider: a POST_SEND write command
    with no work request (what the provider's post_send_db sends)."""
    resp = ctypes.create_string_buffer(4)
    # struct ib_uverbs_cmd_hdr, then struct ib_uverbs_post_send (wqe_size
    # at least sizeof(struct ib_uverbs_send_wr)).
    cmd = struct.pack("<IHHQIIII", IB_USER_VERBS_CMD_POST_SEND, 8, 1, ctypes.addressof(resp),
                      qp_handle, 0, 0, 128)
    os.write(fd, cmd)


class Ring:
    """A mapped rxe ring at base."""

    def __init__(self, base):
        self.base = base
        self.log2 = u32(base + LOG2_ELEM_SIZE)
        self.mask = u32(base + INDEX_MASK)

    def slot(self, i):
        return self.base + DATA + ((i & self.mask) << self.log2)

    def producer(self, value=None):
        return u32(self.base + PRODUCER, value)

    def consumer(self, value=None):
        return u32(self.base + CONSUMER, value)

    def scribble(self, i):
        ctypes.memmove(self.slot(i), rng.randbytes(1 << self.log2), 1 << self.log2)


class Victim:
    """A fresh RC QP on dev connected to one on the peer, with its SQ and
    RQ rings found."""

    def __init__(self, name):
        self.name = name
        fds = uverbs_fds(DEV)
        self.a = rc.Node(DEV, GIDX)
        (self.fd,) = uverbs_fds(DEV) - fds
        self.b = rc.Node(PEER, PEER_GIDX)
        before = uverbs_maps()
        self.a.new_qp()
        rings = [Ring(lo) for lo, _ in sorted(uverbs_maps() - before)]
        self.b.new_qp()
        rc.connect(self.a, self.b)
        rc.connect(self.b, self.a)
        # Send WQEs (208-byte header + SGEs) have the larger slots.
        rings.sort(key=lambda r: r.log2)
        self.rq, self.sq = rings
        # The QP's handle in its context: the only object there that takes
        # a doorbell.
        self.handle = None
        for h in range(64):
            try:
                doorbell(self.fd, h)
            except OSError:
                continue
            self.handle = h
            break

    def send_wr(self, wr_id, length=64):
        return SendWR(wr_id=wr_id, opcode=e.IBV_WR_SEND, num_sge=1,
                      sg=[SGE(self.a.mr.buf, length, self.a.mr.lkey)])

    def ahead_of_provider(self, fill):
        """Writes WQEs with fill(addr) at the SQ producer and moves the
        producer past them; then posts a valid SEND, whose doorbell hands
        the kernel everything."""
        p = self.sq.producer()
        n = 0
        for addr in fill:
            ctypes.memset(self.sq.slot(p + n), 0, 1 << self.sq.log2)
            addr(self.sq.slot(p + n))
            n += 1
        self.sq.producer((p + n) & self.sq.mask)
        self.b.qp.post_recv(RecvWR(wr_id=1, num_sge=1, sg=[SGE(self.b.mr.buf, 4096, self.b.mr.lkey)]))
        self.a.qp.post_send(self.send_wr(100))
        return n + 1

    def outcome(self, posted, want_error=True):
        """The QP went to Error and every WQE handed to the kernel
        completed (in error or flushed); nothing else completed."""
        wcs = poll(self.a.cq, posted + 8, timeout=5)
        st = state(self.a.qp)
        # The first is the kernel's own verdict on the bad WQE, not a flush.
        first_rejected = bool(wcs) and wcs[0].status not in (e.IBV_WC_SUCCESS, e.IBV_WC_WR_FLUSH_ERR)
        if want_error:
            check(st == e.IBV_QPS_ERR and len(wcs) == posted and first_rejected,
                  f"{self.name}: QP in Error, {len(wcs)} of {posted} WQEs completed, "
                  f"statuses {[w.status for w in wcs]}")
        return wcs


def sge(at, addr, length, lkey):
    u64(at, addr)
    u32(at + 8, length)
    u32(at + 12, lkey)


def garbage():
    """Random bytes as send WQEs."""
    for _ in range(4):
        v = Victim("a send WQE of random bytes")
        v.outcome(v.ahead_of_provider([lambda a: ctypes.memmove(a, rng.randbytes(256), 256)]))


def bad_opcode():
    """Opcodes the kernel must refuse, each on a fresh QP."""
    for op, what in ((0xdead, "opcode 0xdead"), (IB_WR_LSO, "IB_WR_LSO on RC")):
        v = Victim(what)

        def f(a, op=op):
            u32(a + OPCODE, op)
            u32(a + SEND_FLAGS, IB_SEND_SIGNALED)
        v.outcome(v.ahead_of_provider([f]))


def bad_sges():
    """SGE counts and lengths beyond the limits and unknown lkeys, each on a
    fresh QP."""
    for num, length, lkey in ((1000, 8, None), (0xffffffff, 8, None), (1, 0xffffffff, None),
                              (1, 64, 0x12345678), (2, 1 << 31, None)):
        v = Victim(f"{num:#x} SGEs of {length:#x} bytes, lkey {'unknown' if lkey else 'valid'}")

        def f(a, num=num, length=length, lkey=lkey or v.a.mr.lkey):
            u32(a + OPCODE, IB_WR_SEND)
            u32(a + SEND_FLAGS, IB_SEND_SIGNALED)
            u32(a + DMA_NUM_SGE, num)
            u32(a + DMA_LENGTH, length)
            sge(a + SEND_SGE, v.a.mr.buf, length, lkey)
            sge(a + SEND_SGE + 16, v.a.mr.buf, length, lkey)
        v.outcome(v.ahead_of_provider([f]))


def big_inline():
    v = Victim("inline data larger than allowed")

    def f(a):
        u32(a + OPCODE, IB_WR_SEND)
        u32(a + SEND_FLAGS, IB_SEND_SIGNALED | IB_SEND_INLINE)
        u32(a + DMA_LENGTH, 1 << 20)
    v.outcome(v.ahead_of_provider([f]))


def indices_out_of_range():
    """Producer indices with their high bits set, rung without the
    provider (which does not mask them: it would write outside its own
    ring): the kernel masks them and executes what the masked index
    covers."""
    v = Victim("indices out of range")
    check(v.handle is not None, f"{v.name}: the QP's handle takes a doorbell")
    v.b.qp.post_recv(RecvWR(wr_id=1, num_sge=1, sg=[SGE(v.b.mr.buf, 4096, v.b.mr.lkey)]))
    p = v.sq.producer()
    a = v.sq.slot(p)
    ctypes.memset(a, 0, 1 << v.sq.log2)
    u64(a + WR_ID, 5)
    u32(a + OPCODE, IB_WR_SEND)
    u32(a + SEND_FLAGS, IB_SEND_SIGNALED)
    u32(a + DMA_LENGTH, 64)
    u32(a + DMA_NUM_SGE, 1)
    sge(a + SEND_SGE, v.a.mr.buf, 64, v.a.mr.lkey)
    v.sq.producer(((p + 1) & v.sq.mask) | 0xffff0000)
    doorbell(v.fd, v.handle)
    v.sq.producer((p + 1) & v.sq.mask)
    wcs = poll(v.a.cq, 1, timeout=5)
    check(len(wcs) == 1 and wcs[0].status == e.IBV_WC_SUCCESS and wcs[0].wr_id == 5,
          f"{v.name}: a SEND behind an SQ producer with high bits set completes "
          f"({[(w.wr_id, w.status) for w in wcs]})")
    # The RQ producer likewise, read by the kernel when a SEND arrives.
    p = v.rq.producer()
    a = v.rq.slot(p)
    ctypes.memset(a, 0, 1 << v.rq.log2)
    u64(a, 9)
    u32(a + RECV_NUM_SGE, 1)
    u32(a + RECV_DMA_LENGTH, 4096)
    sge(a + RECV_SGE, v.a.mr.buf, 4096, v.a.mr.lkey)
    v.rq.producer(((p + 1) & v.rq.mask) | 0x80000000)
    v.b.qp.post_send(SendWR(wr_id=8, opcode=e.IBV_WR_SEND, num_sge=1,
                            sg=[SGE(v.b.mr.buf, 64, v.b.mr.lkey)]))
    wcs = poll(v.a.cq, 1, timeout=5)
    v.rq.producer((p + 1) & v.rq.mask)
    check(len(wcs) == 1 and wcs[0].status == e.IBV_WC_SUCCESS and wcs[0].wr_id == 9,
          f"{v.name}: a receive behind an RQ producer with high bits set takes a SEND "
          f"({[(w.wr_id, w.status) for w in wcs]})")


def bad_recv_wqes():
    """Receive WQEs are posted without a system call: garbage ones are
    found when a SEND arrives, complete in error, and the QP goes to
    Error."""
    v = Victim("receive WQEs with a bad SGE count and an unknown lkey")
    for num, lkey in ((0xffffffff, v.a.mr.lkey), (1, 0x7777)):
        p = v.rq.producer()
        a = v.rq.slot(p)
        ctypes.memset(a, 0, 1 << v.rq.log2)
        u64(a, 42)
        u32(a + RECV_NUM_SGE, num)
        u32(a + RECV_DMA_LENGTH, 4096)
        sge(a + RECV_SGE, v.a.mr.buf, 4096, lkey)
        v.rq.producer((p + 1) & v.rq.mask)
        v.b.qp.post_send(SendWR(wr_id=7, opcode=e.IBV_WR_SEND, num_sge=1,
                                sg=[SGE(v.b.mr.buf, 64, v.b.mr.lkey)]))
        wcs = poll(v.a.cq, 1, timeout=5)
        check(len(wcs) == 1 and wcs[0].status != e.IBV_WC_SUCCESS and state(v.a.qp) == e.IBV_QPS_ERR,
              f"{v.name} ({num:#x} SGEs, lkey {lkey:#x}): completed in error "
              f"({[w.status for w in wcs]}), QP in Error")
        if num != 1:
            v = Victim(v.name)


def rewriter():
    """A child process (sharing the mapping) rewrites the whole SQ while
    the parent posts valid SENDs: whatever the kernel copies, the QP ends
    in Error or its SENDs complete, and nothing hangs."""
    v = Victim("a second process rewriting the SQ while the kernel reads it")
    for i in range(16):
        v.b.qp.post_recv(RecvWR(wr_id=i, num_sge=1, sg=[SGE(v.b.mr.buf, 4096, v.b.mr.lkey)]))
    child = os.fork()
    if child == 0:
        end = time.time() + 2
        while time.time() < end:
            v.sq.scribble(rng.randrange(v.sq.mask + 1))
        os._exit(0)
    posted = 0
    end = time.time() + 2
    while time.time() < end:
        try:
            v.a.qp.post_send(v.send_wr(posted))
            posted += 1
        except PyverbsError:
            time.sleep(0.01)  # the ring is full (or looks so)
        poll(v.a.cq, 64, timeout=0.01)
    os.waitpid(child, 0)
    check(posted > 0, f"{v.name}: {posted} SENDs posted meanwhile")
    # The provider's view of the ring is gone; the QP is drained by Error.
    v.a.qp.modify(QPAttr(qp_state=e.IBV_QPS_ERR), e.IBV_QP_STATE)
    poll(v.a.cq, 64, timeout=1)
    check(state(v.a.qp) == e.IBV_QPS_ERR, f"{v.name}: the QP can still be moved to Error")


class UdVictim:
    """A fresh UD QP on DEV in RTS, with its SQ ring found, and AHs of its
    PD and of another."""

    def __init__(self):
        self.a = a = rc.Node(DEV, GIDX)
        before = uverbs_maps()
        cap = QPCap(max_send_wr=16, max_recv_wr=16, max_send_sge=2, max_recv_sge=2)
        self.qp = QP(a.pd, QPInitAttr(qp_type=e.IBV_QPT_UD, scq=a.cq, rcq=a.cq, cap=cap))
        self.sq = max((Ring(lo) for lo, _ in uverbs_maps() - before), key=lambda r: r.log2)
        attr = QPAttr(qp_state=e.IBV_QPS_INIT)
        attr.pkey_index, attr.port_num, attr.qkey = 0, 1, 0x1234
        self.qp.modify(attr, e.IBV_QP_STATE | e.IBV_QP_PKEY_INDEX | e.IBV_QP_PORT | e.IBV_QP_QKEY)
        self.qp.modify(QPAttr(qp_state=e.IBV_QPS_RTR), e.IBV_QP_STATE)
        attr = QPAttr(qp_state=e.IBV_QPS_RTS)
        attr.sq_psn = 0
        self.qp.modify(attr, e.IBV_QP_STATE | e.IBV_QP_SQ_PSN)
        self.route = AHAttr(port_num=1, is_global=1,
                            gr=GlobalRoute(dgid=a.gid, sgid_index=GIDX, hop_limit=64))
        self.own = AH(a.pd, attr=self.route)

    def send(self, ah, wr_id):
        wr = SendWR(wr_id=wr_id, opcode=e.IBV_WR_SEND, num_sge=1,
                    sg=[SGE(self.a.mr.buf, 16, self.a.mr.lkey)])
        wr.set_wr_ud(ah, 1, 0x1234)
        self.qp.post_send(wr)

    def ahead_of_provider(self, ah_num):
        """A UD SEND WQE naming ah_num, put ahead of the provider's next."""
        p = self.sq.producer()
        s = self.sq.slot(p)
        ctypes.memset(s, 0, 1 << self.sq.log2)
        u32(s + OPCODE, IB_WR_SEND)
        u32(s + SEND_FLAGS, IB_SEND_SIGNALED)
        u32(s + UD_REMOTE_QPN, 1)
        u32(s + UD_QKEY, 0x1234)
        u32(s + UD_AH_NUM, ah_num)
        u32(s + DMA_NUM_SGE, 1)
        u32(s + DMA_LENGTH, 16)
        sge(s + SEND_SGE, self.a.mr.buf, 16, self.a.mr.lkey)
        self.sq.producer((p + 1) & self.sq.mask)

    def outcome(self, what):
        """The first completion is the bad WQE's, in error (not flushed),
        then the valid one after it is flushed: the QP is in Error."""
        wcs = poll(self.a.cq, 2, timeout=5)
        st = [w.status for w in wcs]
        check(len(st) == 2 and st[0] not in (e.IBV_WC_SUCCESS, e.IBV_WC_WR_FLUSH_ERR)
              and state(self.qp) == e.IBV_QPS_ERR,
              f"UD WQE naming {what}: completed {st}, QP state {state(self.qp)}")


def ud_ah_num():
    """UD send WQEs naming the AH of another PD (through the provider
    itself), a destroyed AH or one that never existed (written ahead of
    the provider), each on a fresh QP."""
    v = UdVictim()
    other_pd = PD(v.a.ctx)
    other = AH(other_pd, attr=v.route)
    v.send(other, 1)
    v.send(v.own, 2)
    v.outcome("the AH of another PD")
    other.close()
    v = UdVictim()
    dead = AH(v.a.pd, attr=v.route)
    # The ah_num the provider writes for it, read back from its WQE.
    p = v.sq.producer()
    v.send(dead, 1)
    dead_num = u32(v.sq.slot(p) + UD_AH_NUM)
    first = poll(v.a.cq, 1, timeout=5)
    check([w.status for w in first] == [e.IBV_WC_SUCCESS],
          f"UD: a valid SEND completes (ah_num {dead_num})")
    dead.close()
    v.ahead_of_provider(dead_num)
    v.send(v.own, 2)
    v.outcome(f"a destroyed AH ({dead_num})")
    v = UdVictim()
    v.ahead_of_provider(0xfffffff0)
    v.send(v.own, 2)
    v.outcome("an AH that never existed")


DEV, GIDX, PEER, PEER_GIDX = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
for attack in (garbage, bad_opcode, bad_sges, big_inline, indices_out_of_range, bad_recv_wqes,
               rewriter, ud_ah_num):
    attack()
sys.exit(exit_status())
