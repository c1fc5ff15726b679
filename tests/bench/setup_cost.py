# SPDX-License-Identifier: GPL-2.0
"""Setup cost of a driver (make bench): seconds to create and connect N RC
QP pairs between two devices, and to register one large MR.

  setup_cost.py DEV0 GID0 DEV1 GID1 QPS MR_MIB

Prints "qp_setup SECONDS" and "mr_register SECONDS" (guest clock)."""

import sys
import time

sys.path.insert(0, "/mnt/tests/vm/py")

import pyverbs.enums as e  # noqa: E402
from pyverbs.mr import MR  # noqa: E402
from rc import Node, connect  # noqa: E402


def main(dev0, gid0, dev1, gid1, qps, mr_mib):
    a = Node(dev0, int(gid0))
    b = Node(dev1, int(gid1))
    held = []
    start = time.perf_counter()
    for _ in range(int(qps)):
        a.new_qp()
        b.new_qp()
        connect(a, b)
        connect(b, a)
        held += [a.qp, b.qp]
    print(f"qp_setup {time.perf_counter() - start:.3f}")
    for qp in held:
        qp.close()
    start = time.perf_counter()
    mr = MR(a.pd, int(mr_mib) << 20, e.IBV_ACCESS_LOCAL_WRITE | e.IBV_ACCESS_REMOTE_WRITE)
    print(f"mr_register {time.perf_counter() - start:.3f}")
    mr.close()


if __name__ == "__main__":
    main(*sys.argv[1:])
