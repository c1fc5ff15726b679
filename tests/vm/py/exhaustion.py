# SPDX-License-Identifier: GPL-2.0
"""Resource exhaustion (issue 9): PDs, CQs, MRs, MWs, QPs, SRQs and AHs
created on DEV up to what ibv_query_device advertises, less what exists
already (ib_core's own PD, CQ and QP1: `rdma resource` counts them), then
one more, which must fail with ENOMEM (what rvt returns at a device limit,
as siw does; rdma_rxe's pools return EINVAL). Everything is then destroyed,
`rdma resource` is back where it started, and an object can be created
again; with ROUNDS 2 (make soak) the whole maximum is created again: every
object gave its share back. KINDS (names joined by "+", or "all", the
default) chooses which. Usage: exhaustion.py DEV GID_INDEX [ROUNDS [KINDS]].
Prints "ok: ..." / "FAIL: ..." lines; exits 1 on failure."""

import errno
import json
import subprocess
import sys
import time

import pyverbs.enums as e
from pyverbs.addr import AH, AHAttr, GlobalRoute
from pyverbs.cq import CQ
from pyverbs.device import Context
from pyverbs.mr import MR, MW
from pyverbs.pd import PD
from pyverbs.pyverbs_error import PyverbsRDMAError
from pyverbs.qp import QP, QPCap, QPInitAttr
from pyverbs.srq import SRQ, SrqAttr, SrqInitAttr

from checks import check, exit_status

dev, gid_index = sys.argv[1], int(sys.argv[2])
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 1
kinds = sys.argv[4].split("+") if len(sys.argv) > 4 and sys.argv[4] != "all" else None
ctx = Context(name=dev)
attr = ctx.query_device()
pd = PD(ctx)
cq = CQ(ctx, 16)
gid = ctx.query_gid(1, gid_index)


def in_use():
    """The objects of each kind on dev, as `rdma resource` counts them."""
    out = subprocess.run(["rdma", "-j", "resource", "show"], capture_output=True, text=True).stdout
    return next(d for d in json.loads(out) if d["ifname"] == dev)


def exhaust(kind, limit, existing, make):
    """Creates objects with make() until one fails; checks the count, the
    errno, and that objects can be created again after the teardown."""
    if kinds is not None and kind not in kinds:
        return
    before = in_use()
    for rnd in range(1, rounds + 1):
        objs = []
        t0 = time.monotonic()
        err = None
        while len(objs) <= limit:
            try:
                objs.append(make())
            except PyverbsRDMAError as ex:
                err = ex.error_code
                break
        spent = time.monotonic() - t0
        want = limit - existing
        check(len(objs) == want and err == errno.ENOMEM,
              f"{kind} (round {rnd}): {len(objs)} created of max {limit} with {existing} in use, "
              f"then errno {err} ({spent:.1f} s)")
        for o in reversed(objs):
            o.close()
    try:
        make().close()
        again = True
    except PyverbsRDMAError:
        again = False
    check(again, f"{kind}: one can be created after the teardown")
    after = in_use()
    check(after == before, f"{kind}: rdma resource back to {dict((k, v) for k, v in after.items() if k in ('pd', 'cq', 'qp', 'mr', 'srq'))}")


used = in_use()
# The PD and CQ of this script count too.
exhaust("PD", attr.max_pd, used["pd"], lambda: PD(ctx))
exhaust("CQ", attr.max_cq, used["cq"], lambda: CQ(ctx, 1))
exhaust("MR", attr.max_mr, used["mr"], lambda: MR(pd, 64, e.IBV_ACCESS_LOCAL_WRITE))
exhaust("MW", attr.max_mw, 0, lambda: MW(pd, e.IBV_MW_TYPE_2))
cap = QPCap(max_send_wr=1, max_recv_wr=1, max_send_sge=1, max_recv_sge=1)
exhaust("QP", attr.max_qp, used["qp"],
        lambda: QP(pd, QPInitAttr(qp_type=e.IBV_QPT_RC, scq=cq, rcq=cq, cap=cap)))
exhaust("SRQ", attr.max_srq, used["srq"],
        lambda: SRQ(pd, SrqInitAttr(attr=SrqAttr(max_wr=1, max_sge=1))))
route = AHAttr(port_num=1, is_global=1, gr=GlobalRoute(dgid=gid, sgid_index=gid_index, hop_limit=64))
exhaust("AH", attr.max_ah, 0, lambda: AH(pd, attr=route))
sys.exit(exit_status())
