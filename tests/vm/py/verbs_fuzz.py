# SPDX-License-Identifier: GPL-2.0
"""The verbs fuzzer (issue 9), seeded and replayable, in two modes.

  verbs_fuzz.py probe DEV0 GIDX0 DEV1 GIDX1 SEED COUNT OUT.json
  verbs_fuzz.py sequence DEV0 GIDX0 DEV1 GIDX1 SEED SECONDS
  verbs_fuzz.py compare RVT.json RXE.json KNOWN

probe: COUNT calls, each on fresh objects: create a CQ, an MR, a QP, an
SRQ, an AH or an MW, resize a CQ, modify an SRQ, modify a QP from one of
its states to another, or post a work request between two connected QPs
(DEV0 to DEV1), with valid attributes but one, which is set to an edge
value: in range, at the limit, one past it, or nonsense. The label of a
call names the verb and that one value; OUT.json maps each label to the
outcomes seen (ok, the errno, or the completion statuses) and whether the
value is valid per the IBA or the device's own limits.

compare: the same probes' outcomes on two drivers (rvt and rdma_rxe in
the same boot). Every label whose outcomes differ must be listed in KNOWN
(with the reason); rvt must refuse every invalid value and accept every
valid one; a probe that never completed fails. Prints the differences.

sequence: SECONDS of random create/modify/query/post/poll/destroy calls
with random (mostly valid) attributes on a pool of objects, destroyed in
random order, with forked children that use and destroy the parent's
objects; at the end every object is gone from `rdma resource`.

Prints "ok: ..." / "FAIL: ..." lines; exits 1 on failure."""

import ctypes
import errno
import json
import os
import random
import re
import subprocess
import sys
import time

import pyverbs.enums as e
from pyverbs.addr import AH, AHAttr, GID, GlobalRoute
from pyverbs.cq import CQ
from pyverbs.device import Context
from pyverbs.mr import MR, MW
from pyverbs.pd import PD
from pyverbs.pyverbs_error import PyverbsError, PyverbsRDMAError
from pyverbs.qp import QP, QPAttr, QPCap, QPInitAttr
from pyverbs.srq import SRQ, SrqAttr, SrqInitAttr
from pyverbs.wr import SGE, RecvWR, SendWR

import rc
from checks import check, exit_status

RW = e.IBV_ACCESS_LOCAL_WRITE | e.IBV_ACCESS_REMOTE_WRITE | e.IBV_ACCESS_REMOTE_READ
ALL = RW | e.IBV_ACCESS_REMOTE_ATOMIC
MR_LEN = 1 << 16
# Completion statuses by value (IBV_WC_SEND and the other opcodes share
# their values: only the names of statuses end so).
STATUS = {v: k for k, v in vars(e).items()
          if k.startswith("IBV_WC_") and k.endswith(("_ERR", "SUCCESS"))}
LIBC = ctypes.CDLL(None, use_errno=True)
LIBC.mmap.restype = ctypes.c_void_p
LIBC.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                      ctypes.c_long]
LIBC.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
PROT_READ, PROT_WRITE, MAP_PRIVATE, MAP_ANONYMOUS = 1, 2, 0x02, 0x20


def outcome(fn):
    """What a call did: "ok" (or what fn returns), "E<name>" for an errno."""
    try:
        return fn() or "ok"
    except PyverbsRDMAError as err:
        return errno.errorcode.get(err.error_code, f"errno {err.error_code}")
    except PyverbsError as err:
        # Refused by pyverbs or the provider before the kernel saw it.
        return "refused: " + str(err).split(".")[0][:60]


class Side:
    """One device: context, PD, CQ, a registered buffer, its GID."""

    def __init__(self, name, gid_index):
        self.ctx = Context(name=name)
        self.gid_index = gid_index
        self.gid = self.ctx.query_gid(1, gid_index)
        self.attr = self.ctx.query_device()
        self.port = self.ctx.query_port(1)
        self.pd = PD(self.ctx)
        self.cq = CQ(self.ctx, 256)
        self.mr = MR(self.pd, MR_LEN, ALL)


def qp_init(side, qp_type=e.IBV_QPT_RC, scq=None, srq=None, sq_sig_all=0, **cap):
    caps = dict(max_send_wr=8, max_recv_wr=8, max_send_sge=2, max_recv_sge=2, max_inline_data=64)
    caps.update(cap)
    return QPInitAttr(qp_type=qp_type, scq=scq or side.cq, rcq=side.cq, srq=srq,
                      cap=QPCap(**caps), sq_sig_all=sq_sig_all)


def route(side, peer, **extra):
    gr = dict(dgid=peer.gid, sgid_index=side.gid_index, hop_limit=64)
    gr.update({k: v for k, v in extra.items() if k in ("sgid_index", "hop_limit", "traffic_class",
                                                      "flow_label", "dgid")})
    ah = dict(port_num=1, is_global=1, sl=0)
    ah.update({k: v for k, v in extra.items() if k in ("port_num", "is_global", "sl",
                                                      "static_rate", "dlid")})
    return AHAttr(gr=GlobalRoute(**gr), **ah)


# The attributes of each transition (IBA 11.2.5.2 table 91): required,
# then optional, per QP type. "av" is the address vector.
RC_RTR = ["path_mtu", "dest_qp_num", "rq_psn", "max_dest_rd_atomic", "min_rnr_timer", "av"]
RC_RTS = ["timeout", "retry_cnt", "rnr_retry", "sq_psn", "max_rd_atomic"]
MASK = {"qp_state": e.IBV_QP_STATE, "pkey_index": e.IBV_QP_PKEY_INDEX, "port_num": e.IBV_QP_PORT,
        "qp_access_flags": e.IBV_QP_ACCESS_FLAGS, "qkey": e.IBV_QP_QKEY,
        "path_mtu": e.IBV_QP_PATH_MTU, "dest_qp_num": e.IBV_QP_DEST_QPN,
        "rq_psn": e.IBV_QP_RQ_PSN, "max_dest_rd_atomic": e.IBV_QP_MAX_DEST_RD_ATOMIC,
        "min_rnr_timer": e.IBV_QP_MIN_RNR_TIMER, "av": e.IBV_QP_AV, "timeout": e.IBV_QP_TIMEOUT,
        "retry_cnt": e.IBV_QP_RETRY_CNT, "rnr_retry": e.IBV_QP_RNR_RETRY,
        "sq_psn": e.IBV_QP_SQ_PSN, "max_rd_atomic": e.IBV_QP_MAX_QP_RD_ATOMIC,
        "en_sqd_async_notify": e.IBV_QP_EN_SQD_ASYNC_NOTIFY}


RESET, INIT, RTR, RTS, SQD, ERR = (e.IBV_QPS_RESET, e.IBV_QPS_INIT, e.IBV_QPS_RTR,
                                  e.IBV_QPS_RTS, e.IBV_QPS_SQD, e.IBV_QPS_ERR)
STATE_NAME = {RESET: "RESET", INIT: "INIT", RTR: "RTR", RTS: "RTS", SQD: "SQD", ERR: "ERR"}
TYPE_NAME = {e.IBV_QPT_RC: "RC", e.IBV_QPT_UC: "UC", e.IBV_QPT_UD: "UD"}
# The moves a probe makes, and the path that reaches each state.
MOVES = [(RESET, INIT), (INIT, INIT), (INIT, RTR), (RTR, RTS), (RTS, RTS), (RTS, SQD),
         (SQD, RTS), (SQD, SQD), (RTS, ERR), (ERR, RESET)]
PATH = {RESET: [], INIT: [INIT], RTR: [INIT, RTR], RTS: [INIT, RTR, RTS],
        SQD: [INIT, RTR, RTS, SQD], ERR: [INIT, RTR, RTS, ERR]}


def transition_fields(qp_type, frm, to):
    """(required, optional) attributes of a move (IBA 11.2.5.2; the table
    of ib_modify_qp_is_ok), for the attributes this fuzzer knows."""
    ud, rc = qp_type == e.IBV_QPT_UD, qp_type == e.IBV_QPT_RC
    access = [] if ud else ["qp_access_flags"]
    if to == INIT:
        return (["pkey_index", "port_num"] + (["qkey"] if ud else access) if frm == RESET else [],
                [] if frm == RESET else ["pkey_index", "port_num"] + (["qkey"] if ud else access))
    if to == RTR:
        if ud:
            return [], ["qkey", "pkey_index"]
        req = RC_RTR if rc else ["path_mtu", "dest_qp_num", "rq_psn", "av"]
        return req, access + ["pkey_index"]
    if to == RTS and frm == RTR:
        if ud:
            return ["sq_psn"], ["qkey"]
        return (RC_RTS if rc else ["sq_psn"]), access + (["min_rnr_timer"] if rc else [])
    if to == RTS:
        return [], ["qkey"] if ud else access + (["min_rnr_timer"] if rc else [])
    if to == SQD and frm == RTS:
        return [], ["en_sqd_async_notify"]
    if to == SQD:
        if ud:
            return [], ["pkey_index", "qkey"]
        return [], access + ["pkey_index"] + (["min_rnr_timer", "av", "timeout", "retry_cnt",
                                               "rnr_retry", "max_rd_atomic",
                                               "max_dest_rd_atomic"] if rc else [])
    return [], []


class Fuzzer:
    def __init__(self, a, b, seed):
        self.a, self.b = a, b
        self.seed = seed
        self.rng = random.Random(seed)

    # Edge values of each attribute: (name, value, valid); valid None where
    # neither the IBA nor the device's limits decide.
    def edges(self, field, side, qp_type=e.IBV_QPT_RC):
        r, d, p = self.rng, side.attr, side.port
        if field == "path_mtu":
            # IBV_MTU_256..IBV_MTU_4096 are 1..5; one above the port's
            # active MTU (what the netdev carries) is the device's call.
            return [(f"{v}", v, (None if v > p.active_mtu else True) if 1 <= v <= 5 else False)
                    for v in (0, 1, 3, 5, 6, 7)]
        if field in ("timeout", "min_rnr_timer"):
            return [("0", 0, True), ("31", 31, True), ("32", 32, False), ("255", 255, False)]
        if field in ("retry_cnt", "rnr_retry"):
            return [("0", 0, True), ("7", 7, True), ("8", 8, False)]
        if field == "max_rd_atomic":
            m = d.max_qp_init_rd_atom
            return [("0", 0, True), ("max", m, True), ("max+1", m + 1, False), ("255", 255, m >= 255)]
        if field == "max_dest_rd_atomic":
            m = d.max_qp_rd_atom
            return [("0", 0, True), ("max", m, True), ("max+1", m + 1, False), ("255", 255, m >= 255)]
        if field == "pkey_index":
            return [("0", 0, True), ("table size", p.pkey_tbl_len, False), ("65535", 65535, False)]
        if field == "port_num":
            return [("1", 1, True), ("0", 0, False), ("2", 2, False)]
        if field in ("sq_psn", "rq_psn"):
            return [("0", 0, True), ("2^24-1", (1 << 24) - 1, True), ("random", r.randrange(1 << 24), True)]
        if field == "dest_qp_num":
            return [("1", 1, True), ("random", r.randrange(2, 1 << 24), True), ("2^24-1", (1 << 24) - 1, True)]
        if field == "qkey":
            return [("0", 0, True), ("random", r.randrange(1 << 31), True), ("2^32-1", (1 << 32) - 1, True)]
        if field == "qp_access_flags":
            valid = qp_type != e.IBV_QPT_UD
            atomic_ok = qp_type == e.IBV_QPT_RC
            return [("0", 0, valid), ("remote write", e.IBV_ACCESS_REMOTE_WRITE, valid),
                    ("read write atomic", ALL, valid and atomic_ok or (None if valid else False)),
                    ("mw bind", e.IBV_ACCESS_MW_BIND, None)]
        if field == "en_sqd_async_notify":
            return [("0", 0, True), ("1", 1, True)]
        if field == "av":
            # (sgid_index is 8 bits in the user ABI; both tables are larger.)
            return [("peer", {}, True), ("sgid_index of an empty entry", {"sgid_index": 255}, False),
                    ("sgid_index of the link-local GID, an IPv4 dgid", {"sgid_index": 0}, None),
                    ("sl 15", {"sl": 15}, True), ("hop_limit 0", {"hop_limit": 0}, True),
                    ("traffic_class 255", {"traffic_class": 255}, True),
                    ("flow_label 2^20-1", {"flow_label": (1 << 20) - 1}, True),
                    ("port 2", {"port_num": 2}, False), ("no GRH", {"is_global": 0, "dlid": 1}, False),
                    ("IPv4 multicast dgid",
                     {"dgid": GID("0000:0000:0000:0000:0000:ffff:e000:0101")}, True),
                    ("IPv6 multicast dgid from an IPv4 sgid",
                     {"dgid": GID("ff0e:0000:0000:0000:0000:0000:0000:0001")}, None),
                    ("zero dgid", {"dgid": GID("0000:0000:0000:0000:0000:0000:0000:0000")}, None)]
        raise ValueError(field)

    def valid_value(self, field, side, qp_type):
        """A random valid value of field."""
        r, d = self.rng, side.attr
        return {"path_mtu": r.randint(1, min(5, side.port.active_mtu)), "timeout": r.randint(1, 20),
                "min_rnr_timer": r.randint(0, 12), "retry_cnt": r.randint(0, 7),
                "rnr_retry": r.randint(0, 6), "max_rd_atomic": r.randint(0, d.max_qp_init_rd_atom),
                "max_dest_rd_atomic": r.randint(0, d.max_qp_rd_atom), "pkey_index": 0,
                "port_num": 1, "sq_psn": r.randrange(1 << 24), "rq_psn": r.randrange(1 << 24),
                "dest_qp_num": r.randrange(2, 1 << 24), "qkey": r.randrange(1 << 31),
                "qp_access_flags": (r.choice([0, RW, ALL]) if qp_type == e.IBV_QPT_RC else
                                    r.choice([0, e.IBV_ACCESS_REMOTE_WRITE])),
                "en_sqd_async_notify": r.randint(0, 1), "av": {}}[field]

    def set_field(self, attr, field, value, side):
        if field == "av":
            attr.ah_attr = route(side, self.b, **value)
        else:
            setattr(attr, field, value)

    def move(self, qp, qp_type, side, frm, to, mutate=None):
        """Modifies qp from state frm to state to with the move's required
        attributes (valid values), some optional ones, and mutate =
        (field, value) applied last."""
        req, opt = transition_fields(qp_type, frm, to)
        fields = req + [f for f in opt if self.rng.random() < 0.3]
        if mutate and mutate[0] not in fields and mutate[0] != "qp_state":
            fields.append(mutate[0])
        attr = QPAttr(qp_state=to)
        mask = e.IBV_QP_STATE
        values = {f: self.valid_value(f, side, qp_type) for f in fields}
        if mutate:
            values[mutate[0]] = mutate[1]
        for f, v in values.items():
            self.set_field(attr, f, v, side)
            mask |= MASK[f]
        # What was asked, for a report of a move that failed.
        self.last_move = f"{STATE_NAME[frm]}->{STATE_NAME[to]} {values}"
        qp.modify(attr, mask)

    # ---- probes: each returns (label, valid, outcome) ----

    def probe_create_cq(self):
        d = self.a.attr
        label, cqe, valid = self.rng.choice([("1", 1, True), ("max", d.max_cqe, True),
                                             ("max+1", d.max_cqe + 1, False), ("0", 0, None),
                                             ("2^31-1", (1 << 31) - 1, False)])
        vlabel, vec, vvalid = self.rng.choice([("0", 0, True), ("last", self.a.ctx.num_comp_vectors - 1, True),
                                               ("count", self.a.ctx.num_comp_vectors, False)])
        if self.rng.random() < 0.5:
            return (f"create_cq cqe {label}", valid, outcome(lambda: CQ(self.a.ctx, cqe).close()))
        return (f"create_cq comp_vector {vlabel}", vvalid,
                outcome(lambda: CQ(self.a.ctx, 16, comp_vector=vec).close()))

    def probe_resize_cq(self):
        d = self.a.attr
        label, cqe, valid = self.rng.choice([("1", 1, True), ("max", d.max_cqe, True),
                                             ("max+1", d.max_cqe + 1, False), ("same", 64, True)])
        cq = CQ(self.a.ctx, 64)
        try:
            return (f"resize_cq {label}", valid, outcome(lambda: cq.resize(cqe)))
        finally:
            cq.close()

    def probe_reg_mr(self):
        r = self.rng
        kind = r.choice(["length", "access", "address"])
        length, access, address, valid, label = 8192, e.IBV_ACCESS_LOCAL_WRITE, None, True, ""
        mapping = None
        if kind == "length":
            label, length, valid = r.choice([("1", 1, True), ("4096", 4096, True),
                                             ("1 MiB + 1", (1 << 20) + 1, True), ("0", 0, None)])
        elif kind == "access":
            label, access, valid = r.choice([
                ("local read only", 0, True), ("remote read", e.IBV_ACCESS_REMOTE_READ, True),
                ("remote write without local write", e.IBV_ACCESS_REMOTE_WRITE, False),
                ("remote atomic without local write", e.IBV_ACCESS_REMOTE_ATOMIC, False),
                ("all", ALL | e.IBV_ACCESS_MW_BIND, True),
                ("zero based", e.IBV_ACCESS_LOCAL_WRITE | e.IBV_ACCESS_ZERO_BASED, None),
                ("on demand", e.IBV_ACCESS_LOCAL_WRITE | e.IBV_ACCESS_ON_DEMAND, None),
                ("relaxed ordering", e.IBV_ACCESS_LOCAL_WRITE | e.IBV_ACCESS_RELAXED_ORDERING, True),
                ("unknown bit 30", e.IBV_ACCESS_LOCAL_WRITE | (1 << 30), None)])
        else:
            which = r.choice(["unmapped", "read-only, local write", "read-only, read", "unaligned"])
            label = which
            prot = PROT_READ if which.startswith("read-only") else PROT_READ | PROT_WRITE
            mapping = LIBC.mmap(None, 3 * 4096, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
            address, length = mapping, 8192
            if which == "unmapped":
                LIBC.munmap(mapping, 3 * 4096)
                mapping, valid = None, False
            elif which == "read-only, local write":
                valid = False
            elif which == "read-only, read":
                access = e.IBV_ACCESS_REMOTE_READ
            else:
                address += 123
        try:
            return (f"reg_mr {kind} {label}", valid,
                    outcome(lambda: MR(self.a.pd, length, access, address=address).close()))
        finally:
            if mapping:
                LIBC.munmap(mapping, 3 * 4096)

    def probe_create_qp(self):
        r, d = self.rng, self.a.attr
        qp_type = r.choice([e.IBV_QPT_RC, e.IBV_QPT_UC, e.IBV_QPT_UD])
        tname = TYPE_NAME[qp_type]
        field, label, value, valid = r.choice([
            ("max_send_wr", "0", 0, True), ("max_send_wr", "max", d.max_qp_wr, True),
            ("max_send_wr", "max+1", d.max_qp_wr + 1, False),
            ("max_recv_wr", "0", 0, True), ("max_recv_wr", "max", d.max_qp_wr, True),
            ("max_recv_wr", "max+1", d.max_qp_wr + 1, False),
            ("max_send_sge", "0", 0, True), ("max_send_sge", "max", d.max_sge, True),
            ("max_send_sge", "max+1", d.max_sge + 1, False),
            ("max_recv_sge", "max", d.max_sge, True), ("max_recv_sge", "max+1", d.max_sge + 1, False),
            ("max_inline_data", "0", 0, True), ("max_inline_data", "512", 512, None),
            ("max_inline_data", "4096", 4096, None), ("max_inline_data", "2^31", 1 << 31, False)])
        init = qp_init(self.a, qp_type, sq_sig_all=int(r.random() < 0.2), **{field: value})
        return (f"create_qp {tname} {field} {label}", valid,
                outcome(lambda: QP(self.a.pd, init).close()))

    def probe_create_srq(self):
        d = self.a.attr
        field, label, value, valid = self.rng.choice([
            ("max_wr", "1", 1, True), ("max_wr", "max", d.max_srq_wr, True),
            ("max_wr", "max+1", d.max_srq_wr + 1, False), ("max_wr", "0", 0, None),
            ("max_sge", "max", d.max_srq_sge, True), ("max_sge", "max+1", d.max_srq_sge + 1, False),
            ("max_sge", "0", 0, None)])
        attr = dict(max_wr=16, max_sge=1)
        attr[field] = value
        return (f"create_srq {field} {label}", valid,
                outcome(lambda: SRQ(self.a.pd, SrqInitAttr(SrqAttr(**attr))).close()))

    def probe_modify_srq(self):
        srq = SRQ(self.a.pd, SrqInitAttr(SrqAttr(max_wr=63, max_sge=1)))
        got = srq.query().max_wr
        label, value, mask, valid = self.rng.choice([
            ("limit 1", 1, e.IBV_SRQ_LIMIT, True), ("limit max_wr", got, e.IBV_SRQ_LIMIT, None),
            ("limit max_wr+1", got + 1, e.IBV_SRQ_LIMIT, False),
            ("max_wr larger", 2 * got, e.IBV_SRQ_MAX_WR, None)])
        attr = SrqAttr(srq_limit=value) if mask == e.IBV_SRQ_LIMIT else SrqAttr(max_wr=value)
        try:
            return (f"modify_srq {label}", valid, outcome(lambda: srq.modify(attr, mask)))
        finally:
            srq.close()

    def probe_create_ah(self):
        label, extra, valid = self.rng.choice(self.edges("av", self.a))
        return (f"create_ah {label}", valid,
                outcome(lambda: AH(self.a.pd, attr=route(self.a, self.b, **extra)).close()))

    def probe_alloc_mw(self):
        label, kind = self.rng.choice([("type 1", e.IBV_MW_TYPE_1), ("type 2", e.IBV_MW_TYPE_2)])
        return (f"alloc_mw {label}", True, outcome(lambda: MW(self.a.pd, kind).close()))

    def probe_modify_qp(self):
        """From a state reached with valid attributes, a move to the next
        with one of its attributes at an edge value."""
        r = self.rng
        qp_type = r.choice([e.IBV_QPT_RC, e.IBV_QPT_UC, e.IBV_QPT_UD])
        frm, to = r.choice(MOVES)
        req, opt = transition_fields(qp_type, frm, to)
        field = r.choice(req + opt) if req + opt else None
        if field is None:
            label, value, valid = "", None, True
        else:
            label, value, valid = r.choice(self.edges(field, self.a, qp_type))
        what = (f"modify_qp {TYPE_NAME[qp_type]} {STATE_NAME[frm]}->{STATE_NAME[to]}" +
                (f" {field} {label}" if field else ""))
        qp = QP(self.a.pd, qp_init(self.a, qp_type))
        try:
            state = RESET
            for s in PATH[frm]:
                self.move(qp, qp_type, self.a, state, s)
                state = s
            if frm == SQD:
                # Out of SQD only once drained (IBA 10.3.1); a driver may
                # drain after the move returns (rdma_rxe does).
                end = time.time() + 2
                while qp.query(e.IBV_QP_STATE)[0].sq_draining and time.time() < end:
                    time.sleep(0.01)
            mutate = (field, value) if field else None
            return what, valid, outcome(lambda: self.move(qp, qp_type, self.a, frm, to, mutate))
        except PyverbsRDMAError as err:
            # Valid values only: a refusal is a finding.
            return (f"modify_qp {TYPE_NAME[qp_type]} to {STATE_NAME[frm]} (setup)", True,
                    errno.errorcode.get(err.error_code, f"errno {err.error_code}") +
                    f" at {self.last_move}")
        finally:
            qp.close()

    def connected_pair(self, qp_type):
        a, b = self.a, self.b
        qa = QP(a.pd, qp_init(a, qp_type, max_send_sge=4, max_recv_sge=4))
        qb = QP(b.pd, qp_init(b, qp_type, max_send_sge=4, max_recv_sge=4))
        access = ALL if qp_type == e.IBV_QPT_RC else e.IBV_ACCESS_REMOTE_WRITE
        for qp, side, peer, other in ((qa, a, b, qb), (qb, b, a, qa)):
            # Few retries, none on RNR: a probe's errors come back fast.
            rc.connect_qp(qp, side.gid_index, peer.gid, other.qp_num, access=access,
                          rnr_retry=0, timeout=10, retry_cnt=2, qkey=0x1234)
        return qa, qb

    def probe_post(self):
        """One work request from a's QP to b's, one thing about it at an
        edge; the outcome is the post's errno or both sides' completions."""
        r, a, b = self.rng, self.a, self.b
        qp_type = r.choice([e.IBV_QPT_RC, e.IBV_QPT_RC, e.IBV_QPT_UC, e.IBV_QPT_UD])
        tname = TYPE_NAME[qp_type]
        ops = ["send", "send_imm"]
        if qp_type != e.IBV_QPT_UD:
            ops += ["write", "write_imm"]
        if qp_type == e.IBV_QPT_RC:
            ops += ["read", "cmp_swp", "fetch_add"]
        op = r.choice(ops)
        edges = [("valid", True), ("zero length", True), ("bad lkey", False),
                 ("sge past the MR", False), ("4 SGEs", True), ("5 SGEs", False),
                 ("inline 64", op in ("send", "send_imm", "write", "write_imm")),
                 ("inline 65", False), ("message past the path MTU", qp_type != e.IBV_QPT_UD)]
        if op in ("write", "write_imm", "read", "cmp_swp", "fetch_add"):
            edges += [("bad rkey", False), ("remote address past the MR", False)]
        if op in ("cmp_swp", "fetch_add"):
            edges += [("remote address unaligned", False)]
            edges = [x for x in edges if not x[0].startswith(("inline", "message", "4 SGEs", "zero"))]
        if op in ("send", "send_imm"):
            edges += [("receive buffer too small", False), ("no receive posted", None)]
        if qp_type == e.IBV_QPT_UD:
            edges += [("wrong qkey", False), ("unknown remote QPN", False)]
        label, valid = r.choice(edges)
        if qp_type == e.IBV_QPT_UC and label.startswith(("bad rkey", "remote address")):
            # A UC responder drops what it cannot execute; the requester
            # cannot tell (IBA 9.9.2).
            valid = None
        qa, qb = self.connected_pair(qp_type)
        grh = 40 if qp_type == e.IBV_QPT_UD else 0
        try:
            length = {"zero length": 0, "message past the path MTU": 3000, "inline 64": 64,
                      "inline 65": 65}.get(label, 256)
            if op in ("cmp_swp", "fetch_add"):
                length = 8
            lkey, start = a.mr.lkey, a.mr.buf
            if label == "bad lkey":
                lkey ^= 0x5a5a00
            if label == "sge past the MR":
                start = a.mr.buf + MR_LEN - length // 2
            nsge = {"4 SGEs": 4, "5 SGEs": 5}.get(label, 1)
            sges = [SGE(start + 1024 * i, length, lkey) for i in range(nsge)]
            flags = e.IBV_SEND_SIGNALED
            if label.startswith("inline"):
                flags |= e.IBV_SEND_INLINE
            opcode = {"send": e.IBV_WR_SEND, "send_imm": e.IBV_WR_SEND_WITH_IMM,
                      "write": e.IBV_WR_RDMA_WRITE, "write_imm": e.IBV_WR_RDMA_WRITE_WITH_IMM,
                      "read": e.IBV_WR_RDMA_READ, "cmp_swp": e.IBV_WR_ATOMIC_CMP_AND_SWP,
                      "fetch_add": e.IBV_WR_ATOMIC_FETCH_AND_ADD}[op]
            wr = SendWR(wr_id=1, opcode=opcode, num_sge=nsge, sg=sges, send_flags=flags)
            if op.startswith("send"):
                wr.imm_data = 7
            rkey, raddr = b.mr.rkey, b.mr.buf
            if label == "bad rkey":
                rkey ^= 0x5a5a00
            if label == "remote address past the MR":
                raddr += MR_LEN - 4
            if label == "remote address unaligned":
                raddr += 4
            if op in ("write", "write_imm", "read"):
                wr.set_wr_rdma(rkey, raddr)
            elif op in ("cmp_swp", "fetch_add"):
                wr.set_wr_atomic(rkey, raddr, 1, 2)
            ah = None
            if qp_type == e.IBV_QPT_UD:
                ah = AH(a.pd, attr=route(a, b))
                qpn = qb.qp_num if label != "unknown remote QPN" else (qb.qp_num + 9999) & 0xffffff
                wr.set_wr_ud(ah, qpn, 0x1234 if label != "wrong qkey" else 0x4321)
            want_recv = op in ("send", "send_imm", "write_imm")
            if want_recv and label != "no receive posted":
                rlen = 8 if label == "receive buffer too small" else MR_LEN // 2
                qb.post_recv(RecvWR(wr_id=2, num_sge=1, sg=[SGE(b.mr.buf, rlen + grh, b.mr.lkey)]))
            posted = outcome(lambda: qa.post_send(wr))
            if posted != "ok":
                return f"post {tname} {op} {label}", valid, "post " + posted
            mine = self.completions(a.cq, 1, 5.0)
            theirs = self.completions(b.cq, 1, 0.5 if not want_recv else 2.0) if qp_type == e.IBV_QPT_RC or want_recv else ""
            res = f"send {mine}" + (f", recv {theirs}" if want_recv or theirs not in ("", "none") else "")
            if ah:
                ah.close()
            return f"post {tname} {op} {label}", valid, res
        finally:
            qa.close()
            qb.close()
            # Completions of the closed QPs must not leak into the next probe.
            self.completions(a.cq, 64, 0)
            self.completions(b.cq, 64, 0)

    @staticmethod
    def completions(cq, n, timeout):
        got = []
        end = time.time() + timeout
        while True:
            _, wcs = cq.poll(n - len(got))
            got += wcs
            if len(got) >= n or time.time() >= end:
                break
            time.sleep(0.002)
        return "+".join(STATUS.get(w.status, str(w.status)).removeprefix("IBV_WC_") for w in got) or "none"

    PROBES = ["create_cq", "resize_cq", "reg_mr", "create_qp", "create_srq", "modify_srq",
              "create_ah", "alloc_mw", "modify_qp", "modify_qp", "modify_qp", "post", "post", "post"]

    def probe(self, i):
        # Each probe draws from its own generator: a limit that differs
        # between drivers changes how many numbers a draw takes, and must
        # not shift the probes after it.
        self.rng = random.Random(f"{self.seed}/{i}")
        return getattr(self, "probe_" + self.rng.choice(self.PROBES))()


def probe_mode(args):
    dev0, g0, dev1, g1, seed, count, out = args
    fz = Fuzzer(Side(dev0, int(g0)), Side(dev1, int(g1)), int(seed))
    results = {}
    t0 = time.time()
    for i in range(int(count)):
        label, valid, res = fz.probe(i)
        entry = results.setdefault(label, {"valid": valid, "outcomes": {}})
        entry["outcomes"][res] = entry["outcomes"].get(res, 0) + 1
    with open(out, "w") as f:
        json.dump(results, f, indent=1, sort_keys=True)
    print(f"ok: {count} probes on {dev0} in {time.time() - t0:.0f} s, {len(results)} labels")


def accepted(res):
    """Whether an outcome is a success: the call returned 0, or every
    completion on both sides was a success."""
    return res == "ok" or all(part.endswith(" SUCCESS") for part in res.split(", "))


def compare_mode(args):
    mine, theirs, known_path = args
    with open(mine) as f:
        rvt = json.load(f)
    with open(theirs) as f:
        rxe = json.load(f)
    known = {}  # pattern -> reason
    with open(known_path) as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                pattern, _, reason = line.partition(" | ")
                known[pattern.strip()] = reason.strip()

    def why(label):
        return next((r for p, r in known.items() if re.fullmatch(p, label)), None)

    diffs = undocumented = 0
    explained = set()
    for label in sorted(rvt):
        ours, other = set(rvt[label]["outcomes"]), set(rxe.get(label, {}).get("outcomes", ()))
        valid = rvt[label]["valid"]
        if any(o.startswith("send none") for o in ours):
            check(False, f"{label}: no completion on rvt ({sorted(ours)})")
        if valid is False and any(map(accepted, ours)):
            check(False, f"{label}: rvt accepted an invalid value ({sorted(ours)})")
        if valid is True and not all(map(accepted, ours)):
            check(False, f"{label}: rvt refused a valid value ({sorted(ours)})")
        if label in rxe and ours != other:
            diffs += 1
            note = why(label)
            print(f"  differs: {label}: rvt {sorted(ours)}, rdma_rxe {sorted(other)}" +
                  ("" if note else "  <- not in the known differences"))
            if note is None:
                undocumented += 1
            else:
                explained |= {p for p in known if re.fullmatch(p, label)}
    for name, only in (("rvt", set(rvt) - set(rxe)), ("rdma_rxe", set(rxe) - set(rvt))):
        if only:
            print(f"  labels only {name} drew (a setup step that went another way): {sorted(only)}")
    check(undocumented == 0, f"{len(set(rvt) & set(rxe))} labels compared with rdma_rxe: {diffs} "
          f"differ, {undocumented} of them not in {os.path.basename(known_path)}")
    # A known difference no probe showed is reported, not failed: a short
    # run does not draw every label.
    unseen = sorted(set(known) - explained)
    if unseen:
        print(f"  known differences this run did not show: {unseen}")


def in_use(dev):
    out = subprocess.run(["rdma", "-j", "resource", "show"], capture_output=True, text=True).stdout
    d = next(x for x in json.loads(out) if x["ifname"] == dev)
    return {k: v for k, v in d.items() if k not in ("ifindex", "ifname")}


def sequence_mode(args):
    """Random calls on a pool of objects; forks that share it."""
    dev0, g0, dev1, g1, seed, seconds = args
    before = (in_use(dev0), in_use(dev1))
    t0 = time.time()
    pid = os.fork()
    if pid == 0:
        # The fuzzing runs in a child: what it leaves is destroyed by the
        # kernel when it exits, and the parent checks that.
        try:
            sequences(dev0, g0, dev1, g1, seed, seconds)
        finally:
            sys.stdout.flush()
            os._exit(exit_status())
    _, status = os.waitpid(pid, 0)
    check(os.waitstatus_to_exitcode(status) == 0,
          f"the fuzzing process exited with status {os.waitstatus_to_exitcode(status)}")
    after = (in_use(dev0), in_use(dev1))
    check(after == before, f"after {time.time() - t0:.0f} s every object is gone from rdma resource "
          f"({after[0]} on {dev0})")


def sequences(dev0, g0, dev1, g1, seed, seconds):
    rng = random.Random(int(seed))
    sides = [Side(dev0, int(g0)), Side(dev1, int(g1))]
    fz = Fuzzer(sides[0], sides[1], int(seed) + 1)
    pool = {"cq": [], "mr": [], "qp": [], "srq": [], "ah": [], "mw": [], "pd": []}
    stats = {}

    def note(what, res):
        key = f"{what}: {res}"
        stats[key] = stats.get(key, 0) + 1

    # What each pooled object was made from: pyverbs closes an object's
    # dependents with it, and a closed pyverbs object must not be touched.
    parents = {}

    def some(kind):
        return rng.choice(pool[kind]) if pool[kind] else None

    def forget(obj):
        """Drops obj and, recursively, what depends on it from the pool."""
        for kind in pool:
            pool[kind] = [(s, o) for s, o in pool[kind] if o is not obj]
        for kind in pool:
            for _, o in list(pool[kind]):
                if id(obj) in parents.get(id(o), ()):
                    forget(o)

    def op_create():
        side = rng.choice(sides)
        kind = rng.choice(["cq", "mr", "qp", "qp", "srq", "ah", "mw", "pd"])
        pd = some("pd") if rng.random() < 0.3 and pool["pd"] else (side, side.pd)
        side, pd = pd
        if kind == "cq":
            make = lambda: CQ(side.ctx, rng.choice([1, 16, 256, 4096]))
        elif kind == "mr":
            make = lambda: MR(pd, rng.choice([1, 4096, 65536, 1 << 20]),
                              rng.choice([0, e.IBV_ACCESS_LOCAL_WRITE, RW, ALL]))
        elif kind == "qp":
            cq = some("cq")
            qt = rng.choice([e.IBV_QPT_RC, e.IBV_QPT_UC, e.IBV_QPT_UD])
            srq = some("srq") if rng.random() < 0.3 else None

            def make():
                return QP(pd, qp_init(side, qt, scq=cq[1] if cq and cq[0] is side else None,
                                      srq=srq[1] if srq and srq[0] is side and
                                      qt != e.IBV_QPT_UD else None,
                                      max_send_wr=rng.choice([1, 16, 256])))
        elif kind == "srq":
            make = lambda: SRQ(pd, SrqInitAttr(SrqAttr(max_wr=rng.choice([1, 16, 1024]), max_sge=2)))
        elif kind == "ah":
            make = lambda: AH(pd, attr=route(side, sides[0] if side is sides[1] else sides[1]))
        elif kind == "mw":
            make = lambda: MW(pd, rng.choice([e.IBV_MW_TYPE_1, e.IBV_MW_TYPE_2]))
        else:
            make = lambda: PD(side.ctx)
        made = []
        note(f"create {kind}", outcome(lambda: made.append(make())))
        if made:
            pool[kind].append((side, made[0]))
            deps = {id(pd), id(side.pd)}
            if kind == "qp":
                deps |= {id(x[1]) for x in (cq, srq) if x}
            parents[id(made[0])] = deps

    def op_destroy():
        kinds = [k for k in pool if pool[k]]
        if not kinds:
            return
        kind = rng.choice(kinds)
        _, obj = rng.choice(pool[kind])
        forget(obj)
        note(f"destroy {kind}", outcome(obj.close))

    def op_modify():
        qp = some("qp")
        if not qp:
            return
        side, q = qp
        qt = q.qp_type
        to = rng.choice([e.IBV_QPS_RESET, e.IBV_QPS_INIT, e.IBV_QPS_RTR, e.IBV_QPS_RTS,
                         e.IBV_QPS_SQD, e.IBV_QPS_ERR])
        fields = [f for f in MASK if f != "qp_state" and rng.random() < 0.2]
        mutate = None
        if fields and rng.random() < 0.5:
            f = rng.choice(fields)
            _, value, _ = rng.choice(fz.edges(f, side, qt))
            mutate = (f, value)
        frm = outcome(lambda: str(q.query(e.IBV_QP_STATE)[0].qp_state))
        frm = int(frm) if frm.isdigit() else RESET
        note("modify qp", outcome(lambda: fz.move(q, qt, side, frm, to, mutate)))

    def op_query():
        qp = some("qp")
        if qp:
            note("query qp", outcome(lambda: qp[1].query(0x1fffff) and None))
        srq = some("srq")
        if srq:
            note("query srq", outcome(lambda: srq[1].query() and None))

    def op_post():
        qp = some("qp")
        if not qp:
            return
        side, q = qp
        mr = some("mr")
        lkey, addr, ln = side.mr.lkey, side.mr.buf, rng.choice([0, 1, 256, 4096, MR_LEN])
        if mr and mr[0] is side and rng.random() < 0.5:
            lkey, addr, ln = mr[1].lkey, mr[1].buf, min(ln, mr[1].length)
        if rng.random() < 0.5:
            wr = RecvWR(wr_id=3, num_sge=1, sg=[SGE(addr, ln, lkey)])
            note("post recv", outcome(lambda: q.post_recv(wr)))
            return
        opcode = rng.choice([e.IBV_WR_SEND, e.IBV_WR_RDMA_WRITE, e.IBV_WR_RDMA_READ,
                             e.IBV_WR_ATOMIC_FETCH_AND_ADD, e.IBV_WR_SEND_WITH_IMM])
        wr = SendWR(wr_id=4, opcode=opcode, num_sge=1, sg=[SGE(addr, ln, lkey)],
                    send_flags=e.IBV_SEND_SIGNALED if rng.random() < 0.7 else 0)
        peer = sides[1] if side is sides[0] else sides[0]
        if opcode in (e.IBV_WR_RDMA_WRITE, e.IBV_WR_RDMA_READ):
            wr.set_wr_rdma(peer.mr.rkey, peer.mr.buf)
        elif opcode == e.IBV_WR_ATOMIC_FETCH_AND_ADD:
            wr.set_wr_atomic(peer.mr.rkey, peer.mr.buf, 1)
        if q.qp_type == e.IBV_QPT_UD:
            ah = some("ah")
            if not ah or ah[0] is not side:
                return
            wr.set_wr_ud(ah[1], rng.randrange(1 << 24), 0x1234)
        note("post send", outcome(lambda: q.post_send(wr)))

    def op_connect():
        qt = rng.choice([e.IBV_QPT_RC, e.IBV_QPT_UC, e.IBV_QPT_UD])
        made = []
        note("connect pair", outcome(lambda: made.extend(fz.connected_pair(qt))))
        if made:
            pool["qp"] += [(sides[0], made[0]), (sides[1], made[1])]
            parents[id(made[0])], parents[id(made[1])] = {id(sides[0].pd)}, {id(sides[1].pd)}

    def op_poll():
        for side in sides:
            note("poll", outcome(lambda: side.cq.poll(rng.randint(1, 64)) and None))
        cq = some("cq")
        if cq:
            note("poll", outcome(lambda: cq[1].poll(16) and None))

    def op_fork():
        pid = os.fork()
        if pid == 0:
            rng.seed(rng.random())
            # The child shares the parent's verbs file: its calls act on the
            # parent's objects, and its exit closes nothing.
            try:
                for _ in range(rng.randint(1, 20)):
                    rng.choice([op_post, op_modify, op_poll, op_query, op_destroy])()
            finally:
                os._exit(0)
        _, status = os.waitpid(pid, 0)
        note("fork", "ok" if os.waitstatus_to_exitcode(status) == 0 else f"child {status}")
        # Objects the child destroyed are gone; their handles stay in the
        # pool and fail when used, as they must.

    ops = [op_create] * 6 + [op_destroy] * 3 + [op_modify] * 4 + [op_query] * 2 + \
        [op_post] * 6 + [op_poll] * 3 + [op_connect] * 2 + [op_fork]
    t0 = time.time()
    calls = 0
    while time.time() - t0 < float(seconds):
        rng.choice(ops)()
        calls += 1
        if sum(len(v) for v in pool.values()) > 300:
            op_destroy()
    # Destroy what is left in random order (a PD before its MRs fails with
    # EBUSY in ib_core and is retried after them).
    left = [(k, o) for k in pool for _, o in pool[k]]
    rng.shuffle(left)
    for kind, obj in left + [(k, o) for k, o in left if k == "pd"]:
        outcome(obj.close)
    # (Some of these fail: a forked child destroyed them already.)
    for side in sides:
        for obj in (side.mr, side.cq, side.pd, side.ctx):
            outcome(obj.close)
    print(f"ok: {calls} random verbs calls in {time.time() - t0:.0f} s (seed {seed})")
    for key in sorted(stats):
        print(f"  {key}: {stats[key]}")


mode, rest = sys.argv[1], sys.argv[2:]
{"probe": probe_mode, "compare": compare_mode, "sequence": sequence_mode}[mode](rest)
sys.exit(exit_status())
