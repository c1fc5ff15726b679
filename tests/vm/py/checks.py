# SPDX-License-Identifier: GPL-2.0
"""What the pyverbs scenarios share: "ok: ..." / "FAIL: ..." lines in the
style of tests/vm/lib.sh, and a failure count for the exit status."""

import time

import pyverbs.enums as e
from pyverbs.pyverbs_error import PyverbsRDMAError

failures = 0


def check(cond, what):
    """Counts a check; prints its outcome."""
    global failures
    print(f"{'ok' if cond else 'FAIL'}: {what}")
    if not cond:
        failures += 1


def fails_with(errnos, what, fn):
    """fn() must fail with one of errnos."""
    try:
        fn()
    except PyverbsRDMAError as err:
        check(err.error_code in errnos, f"{what} (errno {err.error_code})")
        return
    check(False, f"{what}: succeeded but must fail")


def poll(cq, n=1, timeout=20.0):
    """Up to n completions from cq, waiting at most timeout seconds."""
    got = []
    end = time.time() + timeout
    while len(got) < n and time.time() < end:
        _, wcs = cq.poll(n - len(got))
        got += wcs
        if not wcs:
            time.sleep(0.001)
    return got


def state(qp):
    """The QP's state as query_qp reports it."""
    attr, _ = qp.query(e.IBV_QP_STATE)
    return attr.qp_state


def counter(dev, name):
    """A port counter of dev (rdma statistic)."""
    with open(f"/sys/class/infiniband/{dev}/ports/1/hw_counters/{name}") as f:
        return int(f.read())


def exit_status():
    return 1 if failures else 0
