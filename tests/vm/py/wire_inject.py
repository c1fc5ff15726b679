# SPDX-License-Identifier: GPL-2.0
"""Hostile RoCEv2 packets from the wire at a live rvt device (issue 9).

Usage: wire_inject.py DEV GID_INDEX PEER_DEV PEER_GID_INDEX PEER_NS PEER_IP
                      DEV_IP SCALE SEED

Victim QPs live on DEV (this process, in DEV's namespace): RC and UC
connected to a QPN that does not exist on PEER_DEV (their ACKs, NAKs and
READ responses are counted rx_no_qp there), and a UD QP; with receive
buffers posted, a 64 KiB MR granting every remote right, an MR of another
PD and the key of a deregistered MR. From a raw socket in PEER_NS, packets
go to DEV_IP's UDP port 4791, with valid ICRCs unless a class says
otherwise, in classes: truncation at every length, every opcode with wrong
lengths and pad counts, bad ICRCs, unknown and reserved QPNs, wrong P_Keys
and Q_Keys, PSNs far outside the window, RETHs beyond 2^31 and beyond the
MR and R_Keys of another PD or of a deregistered MR, ACKs and READ
responses nobody asked for, and mutations of the rdma_rxe captures in
rvt/proto/tests/data. SCALE multiplies the class sizes (1: about 3000
packets). A victim that left RTS is reset and connected again between
batches; completions are reaped throughout.

Prints one "class NAME: N packets" line per class and "total: N"; exits 1
if a verbs call on the victims failed (a device that stopped answering)."""

import ctypes
import glob
import os
import random
import struct
import sys
import time
from types import SimpleNamespace

import pyverbs.enums as e
from pyverbs.addr import AHAttr, GlobalRoute
from pyverbs.cq import CQ
from pyverbs.device import Context
from pyverbs.mr import MR
from pyverbs.pd import PD
from pyverbs.pyverbs_error import PyverbsRDMAError
from pyverbs.qp import QP, QPAttr, QPCap, QPInitAttr
from pyverbs.wr import SGE, RecvWR

import rc
import roce_packets as rp

QKEY = 0x22222222
GSI_QKEY = 0x80010000
PEER_QPN = 0xabcde
MTU = 1024
# The most a packet may carry after its UDP header: the veth's MTU is 1500.
MAX_L4 = 1500 - 28
MR_LEN = 65536
RECV_LEN = 2048
RECVS = 8
CLONE_NEWNET = 0x40000000
CAPTURES = "/mnt/rvt/proto/tests/data"


def raw_socket_in(ns):
    """A raw IPv4 socket of network namespace ns (a socket stays in the
    namespace it was made in); this process returns to its own."""
    libc = ctypes.CDLL(None, use_errno=True)
    here = os.open("/proc/self/ns/net", os.O_RDONLY)
    there = os.open(f"/run/netns/{ns}", os.O_RDONLY)
    try:
        if libc.setns(there, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns to " + ns)
        sock = rp.raw_socket()
        if libc.setns(here, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns back")
    finally:
        os.close(here)
        os.close(there)
    return sock


class Victims:
    """The QPs and keys on the device under attack."""

    def __init__(self, dev, gid_index, peer_gid):
        self.ctx = Context(name=dev)
        self.gid_index = gid_index
        self.gid = self.ctx.query_gid(1, gid_index)
        self.pd = PD(self.ctx)
        self.cq = CQ(self.ctx, 4096)
        self.mr = MR(self.pd, MR_LEN, rc.ACCESS)
        self.recv_mr = MR(self.pd, 3 * RECVS * RECV_LEN, e.IBV_ACCESS_LOCAL_WRITE)
        self.other_pd = PD(self.ctx)
        self.other_mr = MR(self.other_pd, 4096, rc.ACCESS)
        dead = MR(self.pd, 4096, rc.ACCESS)
        self.dead_rkey = dead.rkey
        dead.close()
        self.peer = SimpleNamespace(qp=SimpleNamespace(qp_num=PEER_QPN), gid=peer_gid)
        cap = QPCap(max_send_wr=16, max_recv_wr=RECVS, max_send_sge=1, max_recv_sge=1)
        self.qps = {t: QP(self.pd, QPInitAttr(qp_type=t, scq=self.cq, rcq=self.cq, cap=cap))
                    for t in (e.IBV_QPT_RC, e.IBV_QPT_UC, e.IBV_QPT_UD)}
        self.recycles = 0
        self.completions = 0
        for t in self.qps:
            self.ready(t)

    @property
    def rc_qpn(self):
        return self.qps[e.IBV_QPT_RC].qp_num

    @property
    def uc_qpn(self):
        return self.qps[e.IBV_QPT_UC].qp_num

    @property
    def ud_qpn(self):
        return self.qps[e.IBV_QPT_UD].qp_num

    def ready(self, t):
        """Moves QP type t from Reset to RTS (expected PSN 0) with its
        receive buffers posted."""
        qp = self.qps[t]
        if t == e.IBV_QPT_RC:
            rc.connect(SimpleNamespace(qp=qp, gid_index=self.gid_index), self.peer)
        else:
            attr = QPAttr(qp_state=e.IBV_QPS_INIT)
            attr.pkey_index = 0
            attr.port_num = 1
            mask = e.IBV_QP_STATE | e.IBV_QP_PKEY_INDEX | e.IBV_QP_PORT
            if t == e.IBV_QPT_UD:
                attr.qkey = QKEY
                mask |= e.IBV_QP_QKEY
            else:
                attr.qp_access_flags = e.IBV_ACCESS_REMOTE_WRITE
                mask |= e.IBV_QP_ACCESS_FLAGS
            qp.modify(attr, mask)
            attr = QPAttr(qp_state=e.IBV_QPS_RTR)
            mask = e.IBV_QP_STATE
            if t == e.IBV_QPT_UC:
                attr.path_mtu = e.IBV_MTU_1024
                attr.dest_qp_num = PEER_QPN
                attr.rq_psn = 0
                attr.ah_attr = AHAttr(port_num=1, is_global=1, gr=GlobalRoute(
                    dgid=self.peer.gid, sgid_index=self.gid_index, hop_limit=64))
                mask |= (e.IBV_QP_AV | e.IBV_QP_PATH_MTU | e.IBV_QP_DEST_QPN |
                         e.IBV_QP_RQ_PSN)
            qp.modify(attr, mask)
            attr = QPAttr(qp_state=e.IBV_QPS_RTS)
            attr.sq_psn = 0
            qp.modify(attr, e.IBV_QP_STATE | e.IBV_QP_SQ_PSN)
        slot = list(self.qps).index(t)
        for i in range(RECVS):
            addr = self.recv_mr.buf + (slot * RECVS + i) * RECV_LEN
            try:
                qp.post_recv(RecvWR(wr_id=i, num_sge=1,
                                    sg=[SGE(addr, RECV_LEN, self.recv_mr.lkey)]))
            except PyverbsRDMAError:
                return  # the receive queue is full

    def expected_psn(self, t):
        attr, _ = self.qps[t].query(e.IBV_QP_RQ_PSN)
        return attr.rq_psn

    def reap(self):
        """Polls every completion there is."""
        while True:
            _, wcs = self.cq.poll(64)
            self.completions += len(wcs)
            if not wcs:
                return

    def recycle(self):
        """Puts every victim that left RTS (or consumed its receive
        buffers) back into RTS with fresh buffers."""
        self.reap()
        for t, qp in self.qps.items():
            attr, _ = qp.query(e.IBV_QP_STATE)
            if attr.qp_state == e.IBV_QPS_RTS and random.random() < 0.9:
                continue
            qp.modify(QPAttr(qp_state=e.IBV_QPS_RESET), e.IBV_QP_STATE)
            self.recycles += 1
            self.ready(t)
        self.reap()


class Packets:
    """Builders of the packet classes, aimed at the victims v."""

    def __init__(self, v, rng, src, dst):
        self.v, self.rng, self.src, self.dst = v, rng, src, dst

    def ip(self, l4):
        """IPv4 and UDP around l4 (BTH on), with a valid ICRC."""
        return rp.with_icrc(rp.ipv4_udp(self.src, self.dst, l4, self.rng.randrange(1, 65536)))

    def fields(self):
        """Plausible extension header fields: the victim MR's key and range."""
        r = self.rng
        return dict(va=self.v.mr.buf + 8 * r.randrange(MR_LEN // 8 - 64), rkey=self.v.mr.rkey,
                    dma_len=r.choice([0, 8, 64, MTU]), qkey=QKEY, src_qp=r.randrange(1 << 24),
                    syndrome=r.randrange(256), msn=r.randrange(1 << 24), value=r.getrandbits(32),
                    swap_add=r.getrandbits(64), compare=r.getrandbits(64),
                    orig=r.getrandbits(64), feth=r.randrange(1 << 8))

    def l4(self, opcode, qpn, psn, payload=b"", pad=None, **over):
        """BTH, the extension headers of opcode (fields over what
        fields() gives) and payload with its pad bytes."""
        f = self.fields()
        f.update(over)
        if pad is None:
            pad = -len(payload) % 4
        hdrs = b"".join(rp.ext(h, **f) for h in rp.headers_of(opcode))
        b = rp.bth(opcode, qpn, psn, pad=pad, pkey=f.get("pkey", 0xffff),
                   ack_req=self.rng.random() < 0.5)
        return b + hdrs + payload + bytes(pad & 3)

    def valid(self):
        """A well-formed request to one of the victims at its expected PSN."""
        r, v = self.rng, self.v
        kind = r.choice(["send", "write", "read", "atomic", "ud", "uc"])
        if kind == "ud":
            return self.l4(0x64, v.ud_qpn, 0, r.randbytes(r.randrange(64)))
        if kind == "uc":
            return self.l4(0x24, v.uc_qpn, v.expected_psn(e.IBV_QPT_UC), r.randbytes(16))
        psn = v.expected_psn(e.IBV_QPT_RC)
        if kind == "send":
            return self.l4(0x04, v.rc_qpn, psn, r.randbytes(r.randrange(64)))
        if kind == "write":
            return self.l4(0x0a, v.rc_qpn, psn, r.randbytes(32), dma_len=32)
        if kind == "read":
            return self.l4(0x0c, v.rc_qpn, psn, dma_len=r.choice([0, 64, 3 * MTU]))
        return self.l4(0x13 + r.randrange(2), v.rc_qpn, psn)

    # The classes: each yields IP packets.

    def truncated(self, n):
        """A valid request cut at every length, its ICRC recomputed over
        the cut (so the headers reach the parser) or left broken."""
        sent = 0
        while sent < n:
            full = self.valid()
            for cut in range(len(full) + 4):
                if self.rng.random() < 0.5:
                    yield self.ip(full[:cut])
                else:
                    whole = self.ip(full)
                    yield fix_lengths(whole[:rp.IPV4_LEN + rp.UDP_LEN + cut])
                sent += 1

    def opcodes(self, n):
        """Every opcode, to the victim of its transport, with payloads of
        wrong and right lengths and every pad count."""
        r, v = self.rng, self.v
        for i in range(n):
            op = i % 256
            qpn = {0x20: v.uc_qpn, 0x60: v.ud_qpn}.get(op & 0xe0, v.rc_qpn)
            t = {0x20: e.IBV_QPT_UC, 0x60: e.IBV_QPT_UD}.get(op & 0xe0, e.IBV_QPT_RC)
            psn = v.expected_psn(t) if r.random() < 0.7 and t != e.IBV_QPT_UD else r.randrange(1 << 24)
            size = r.choice([0, 1, 3, 7, 8, MTU - 1, MTU, MTU + 1, MTU + 4, MAX_L4 - 100])
            yield self.ip(self.l4(op, qpn, psn, r.randbytes(size), pad=r.randrange(4)))

    def bad_icrc(self, n):
        """Valid requests with one bit flipped anywhere after the UDP
        header (but BTH byte 4, which the ICRC does not cover)."""
        for _ in range(n):
            p = bytearray(self.ip(self.valid()))
            at = self.rng.randrange(rp.IPV4_LEN + rp.UDP_LEN, len(p))
            if at == rp.IPV4_LEN + rp.UDP_LEN + 4:
                at += 1
            p[at] ^= 1 << self.rng.randrange(8)
            yield bytes(p)

    def qpns(self, n):
        """SENDs to QPN 0 (QP0, which RoCE has not), the GSI QP with
        garbage, the multicast QPN without a group, and QPNs nobody holds."""
        r = self.rng
        for _ in range(n):
            qpn = r.choice([0, 1, 0xffffff, r.randrange(0x100000, 0xffffff)])
            op = r.choice([0x04, 0x64, 0x0a, 0x11])
            yield self.ip(self.l4(op, qpn, r.randrange(1 << 24), r.randbytes(r.choice([0, 24, 256])),
                                  qkey=r.choice([GSI_QKEY, QKEY, r.getrandbits(32)])))

    def keys(self, n):
        """Wrong P_Keys on every victim; wrong Q_Keys on UD and the GSI QP."""
        r, v = self.rng, self.v
        for i in range(n):
            if i % 2:
                qpn = r.choice([v.ud_qpn, 1])
                yield self.ip(self.l4(0x64, qpn, 0, r.randbytes(16),
                                      qkey=r.choice([0, QKEY ^ 1, GSI_QKEY ^ 0x100, r.getrandbits(32)])))
            else:
                pkey = r.choice([0, 0x7fff, 0x8001, r.randrange(1, 0x7fff)])
                yield self.ip(self.l4(r.choice([0x04, 0x24, 0x64, 0x0c]),
                                      r.choice([v.rc_qpn, v.uc_qpn, v.ud_qpn]),
                                      v.expected_psn(e.IBV_QPT_RC), r.randbytes(8), pkey=pkey))

    def psn_window(self, n):
        """PSNs far ahead (sequence NAK once, then silence), just behind
        (duplicates, ACKed again) and half the space away."""
        r, v = self.rng, self.v
        for _ in range(n):
            t = r.choice([e.IBV_QPT_RC, e.IBV_QPT_UC])
            qpn = v.rc_qpn if t == e.IBV_QPT_RC else v.uc_qpn
            d = r.choice([r.randrange(1 << 20, 1 << 23), -r.randrange(1, 1 << 10),
                          1 << 23, -(1 << 23), r.randrange(1, 1 << 24)])
            psn = (v.expected_psn(t) + d) % (1 << 24)
            op = r.choice([0x04, 0x0a, 0x0c, 0x13, 0x00, 0x02]) | (0x20 if t == e.IBV_QPT_UC else 0)
            yield self.ip(self.l4(op, qpn, psn, r.randbytes(r.choice([0, 16, MTU]))))

    def reth(self, n):
        """RDMA WRITE, READ and atomics at the expected PSN whose RETH or
        AtomicETH names what may not be reached: lengths of 2^31 and
        more, ranges past the MR, keys of another PD, of a deregistered MR
        or of nothing, misaligned atomics."""
        r, v = self.rng, self.v
        for _ in range(n):
            base = v.mr.buf
            bad = r.choice([
                dict(dma_len=r.randrange(1 << 31, 1 << 32)),
                dict(va=base + MR_LEN - 8, dma_len=64),
                dict(va=base - 4096, dma_len=64),
                dict(va=(base + MR_LEN) | (1 << 63), dma_len=8),
                dict(rkey=v.other_mr.rkey),
                dict(rkey=v.dead_rkey),
                dict(rkey=r.getrandbits(32)),
                dict(va=base + 3, dma_len=8),
            ])
            op = r.choice([0x06, 0x0a, 0x0b, 0x0c, 0x13, 0x14, 0x1d, 0x1c])
            payload = b""
            if op in (0x0a, 0x0b):
                payload = r.randbytes(min(bad.get("dma_len", 64), 64))
            elif op == 0x06:
                payload = r.randbytes(MTU)
            elif op == 0x1d:
                payload = r.randbytes(8)
            yield self.ip(self.l4(op, v.rc_qpn, v.expected_psn(e.IBV_QPT_RC), payload, **bad))

    def responses(self, n):
        """ACKs, NAKs, READ responses and ATOMIC ACKs nobody asked for, to
        each victim."""
        r, v = self.rng, self.v
        for _ in range(n):
            op = r.choice([0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12])
            qpn = r.choice([v.rc_qpn, v.rc_qpn, v.uc_qpn, v.ud_qpn])
            payload = r.randbytes(r.choice([0, 4, MTU])) if op in (0x0d, 0x0e, 0x0f, 0x10) else b""
            yield self.ip(self.l4(op, qpn, r.randrange(1 << 24), payload))

    def mutations(self, n):
        """Packets of the rdma_rxe captures, aimed at a victim (QPN and,
        half the time, PSN), mutated: bit flips, bytes set, inserted,
        deleted, cut or appended, the QPN set back to the victim's; ICRC
        recomputed nine times in ten."""
        r, v = self.rng, self.v
        seeds = []
        for path in sorted(glob.glob(f"{CAPTURES}/*-v4.pcap")):
            for frame in rp.packets(path):
                ip = rp.roce_ip(frame)
                if ip is not None:
                    seeds.append(bytes(ip[rp.IPV4_LEN + rp.UDP_LEN:len(ip) - 4]))
        for _ in range(n):
            b = bytearray(r.choice(seeds))
            t = {0x20: e.IBV_QPT_UC, 0x60: e.IBV_QPT_UD}.get(b[0] & 0xe0, e.IBV_QPT_RC)
            b[5:8] = v.qps[t].qp_num.to_bytes(3, "big")
            if r.random() < 0.5 and t != e.IBV_QPT_UD:
                b[9:12] = v.expected_psn(t).to_bytes(3, "big")
            for _ in range(r.randrange(1, 9)):
                mutate(r, b)
            del b[MAX_L4 - 4:]
            if len(b) >= 8:
                # Still at the victim: a mutated QPN could be a pingpong's
                # (QPNs are handed out in order), and a spoofed packet in
                # its window may rightly break it. (Class qpns covers QPNs
                # nobody holds.)
                b[5:8] = v.qps[t].qp_num.to_bytes(3, "big")
            if r.random() < 0.9:
                yield self.ip(bytes(b))
            else:
                yield fix_lengths(rp.ipv4_udp(self.src, self.dst, bytes(b), r.randrange(1, 65536)))


def mutate(r, b):
    """One random mutation of b in place."""
    if not b:
        b.extend(r.randbytes(r.randrange(1, 16)))
        return
    m = r.randrange(7)
    at = r.randrange(len(b))
    if m == 0:
        b[at] ^= 1 << r.randrange(8)
    elif m == 1:
        b[at] = r.randrange(256)
    elif m == 2:
        b[at:at] = r.randbytes(r.randrange(1, 16))
    elif m == 3:
        del b[at:at + r.randrange(1, 16)]
    elif m == 4:
        del b[at:]
    elif m == 5:
        b.extend(r.randbytes(r.randrange(1, 64)))
    else:
        b[0] = r.randrange(256)


def fix_lengths(ip):
    """ip with its IP and UDP lengths made to match its size (what a cut
    or grown packet has on the wire)."""
    b = bytearray(ip)
    b[2:4] = struct.pack("!H", len(b))
    b[rp.IPV4_LEN + 4:rp.IPV4_LEN + 6] = struct.pack("!H", len(b) - rp.IPV4_LEN)
    return bytes(b)


# Class sizes at scale 1, and how many packets go between two recycles
# of the victims (those that kill a QP with their first packet need it
# at once to reach the engine again).
CLASSES = [("truncated", 300, 32), ("opcodes", 512, 4), ("bad_icrc", 150, 32), ("qpns", 150, 32),
           ("keys", 150, 8), ("psn_window", 200, 8), ("reth", 200, 1), ("responses", 300, 8),
           ("mutations", 1000, 8)]


def main():
    dev, gid_index, peer_dev, peer_gid_index, peer_ns, peer_ip, dev_ip, scale, seed = sys.argv[1:10]
    rng = random.Random(int(seed))
    random.seed(int(seed))
    peer_gid = Context(name=peer_dev).query_gid(1, int(peer_gid_index))
    v = Victims(dev, int(gid_index), peer_gid)
    sock = raw_socket_in(peer_ns)
    pk = Packets(v, rng, peer_ip, dev_ip)
    total = 0
    start = time.monotonic()
    for name, size, batch in CLASSES:
        n = int(size * float(scale))
        sent = 0
        for p in getattr(pk, name)(n):
            if sent >= n:
                break
            sock.sendto(p, (dev_ip, 0))
            sent += 1
            if sent % batch == 0:
                v.recycle()
            if sent % 32 == 0:
                # Lets the softirq keep up: a full veth ring would drop
                # what was sent, uncounted.
                time.sleep(0.002)
        time.sleep(0.05)
        v.recycle()
        print(f"class {name}: {sent} packets", flush=True)
        total += sent
    time.sleep(0.2)
    v.reap()
    print(f"total: {total}")
    print(f"elapsed: {time.monotonic() - start:.1f} s")
    print(f"victims: {v.recycles} recycles, {v.completions} completions reaped")


main()
