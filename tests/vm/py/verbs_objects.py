# SPDX-License-Identifier: GPL-2.0
"""User verbs objects on an rvt device through the stock rxe provider
(pyverbs): device limits, PDs, MRs, CQs (the mmap'd rxe ring), and bad
input answered with the errno ib_core callers expect. Prints "ok: ..." or
"FAIL: ..." lines for tests/vm/lib.sh-style counting; exits 1 on failure."""

import errno
import sys

import pyverbs.enums as e
from pyverbs.cq import CQ, CompChannel
from pyverbs.device import Context
from pyverbs.mr import MR
from pyverbs.pd import PD

from checks import check, exit_status, fails_with

dev = sys.argv[1]
ctx = Context(name=dev)
attr = ctx.query_device()
check(attr.max_cqe == 65535, f"max_cqe {attr.max_cqe}")
check(attr.max_cq == 16384 and attr.max_pd == 65536 and attr.max_mr == 65536,
      f"max_cq {attr.max_cq} max_pd {attr.max_pd} max_mr {attr.max_mr}")

# Protection domains.
pds = [PD(ctx) for _ in range(64)]
check(len({pd.handle for pd in pds}) == 64, "64 PDs")
for pd in pds[1:]:
    pd.close()
pd = pds[0]

# Memory regions: L_Key == R_Key, never 0 (the kernel's local_dma_lkey),
# distinct per MR; unsupported access refused, not ignored.
rw = e.IBV_ACCESS_LOCAL_WRITE | e.IBV_ACCESS_REMOTE_WRITE | e.IBV_ACCESS_REMOTE_READ
mrs = [MR(pd, 4096 * (i + 1), rw) for i in range(8)]
keys = [mr.lkey for mr in mrs]
check(all(mr.lkey == mr.rkey and mr.lkey != 0 for mr in mrs), f"MR keys {keys}")
check(len(set(keys)) == len(keys), "MR keys distinct")
check(MR(pd, 1 << 20, e.IBV_ACCESS_LOCAL_WRITE).length == 1 << 20, "1 MiB MR")
check(MR(pd, 4096, e.IBV_ACCESS_LOCAL_WRITE | e.IBV_ACCESS_MW_BIND).lkey != 0,
      "MR with memory-window bind access")
fails_with({errno.EOPNOTSUPP, errno.EINVAL}, "MR with on-demand paging (not implemented)",
           lambda: MR(pd, 4096, e.IBV_ACCESS_LOCAL_WRITE | e.IBV_ACCESS_ON_DEMAND))
fails_with({errno.EINVAL}, "remote write without local write (IBA 10.6.3.3)",
           lambda: MR(pd, 4096, e.IBV_ACCESS_REMOTE_WRITE))
for mr in mrs:
    mr.close()
# A freed index comes back with another key.
again = MR(pd, 4096, rw)
check(again.lkey not in keys, f"re-registered MR gets a new key {again.lkey:#x}")
again.close()

# Completion queues: the rxe ring is mapped by the provider; it rounds the
# size up to a power of two minus one, as rdma_rxe does.
channel = CompChannel(ctx)
cq = CQ(ctx, 100, None, channel, 0)
check(cq.cqe >= 100, f"CQ of 100 holds {cq.cqe}")
npolled, _ = cq.poll(4)
check(npolled == 0, "a new CQ polls empty")
cq.req_notify()
cq.req_notify(solicited_only=True)
check(True, "req_notify armed (REQ_NOTIFY_CQ command)")
cqs = [CQ(ctx, 1 + 257 * i) for i in range(16)]
check(all(c.cqe >= 1 + 257 * i for i, c in enumerate(cqs)), "16 CQs of growing sizes")
big = CQ(ctx, 65535)
check(big.cqe >= 65535, f"largest CQ holds {big.cqe}")
big.close()
fails_with({errno.EINVAL}, "CQ larger than max_cqe", lambda: CQ(ctx, 65536))
for c in cqs:
    c.close()
cq.close()
channel.close()

# Leave objects open: closing the context must clean them up.
left = [MR(pd, 8192, rw), CQ(ctx, 10)]
ctx.close()
check(True, "context closed with objects open")
sys.exit(exit_status())
