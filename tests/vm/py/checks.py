# SPDX-License-Identifier: GPL-2.0
"""What the pyverbs scenarios share: "ok: ..." / "FAIL: ..." lines in the
style of tests/vm/lib.sh, and a failure count for the exit status."""

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


def exit_status():
    return 1 if failures else 0
