# SPDX-License-Identifier: GPL-2.0
"""Teardown under load (issue 9): CYCLES cycles of loading rvt_roce,
creating rvt0 (veth va in netns n0) and rvt1 (vb in n1), starting traffic
between them, and then, in an order drawn from SEED, killing each process,
deleting a device with `rdma link delete`, taking a netdev down or deleting
it, and unloading the modules. What cannot finish while a process holds the
device (a device delete, a netdev delete) runs in the background and must
finish once the processes are gone; an rmmod while the device is in use
must be refused at once. After each cycle everything is torn down, the
modules must unload, and the kernel log must have no warning. Usage:
teardown_cycles.py CYCLES SEED [SLOW]; SLOW multiplies the time allowed
(the debug kernel). Prints "ok: ..." / "FAIL: ..." lines; exits 1 on
failure."""

import os
import random
import re
import subprocess
import sys
import time

import checks
from checks import check, exit_status

cycles, seed = int(sys.argv[1]), int(sys.argv[2])
slow = int(sys.argv[3]) if len(sys.argv) > 3 else 1
# Pauses (for traffic to start, between actions) stretch less than timeouts.
pause = min(slow, 2)
rng = random.Random(seed)
ADDR = {"va": "10.9.0.1", "vb": "10.9.0.2"}
NS = {"va": "n0", "vb": "n1"}
DEV = {"va": "rvt0", "vb": "rvt1"}
WARN = re.compile(r"WARNING:|BUG:|Oops|Call Trace|UBSAN|KASAN|refcount_t:|rust_panic|panicked at|"
                  r"hung_task|blocked for more than")


def sh(cmd, timeout=30):
    """Runs cmd (a shell line); its exit status and output (124: timed out)."""
    try:
        p = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=timeout * slow)
        return p.returncode, (p.stdout + p.stderr).strip()
    except subprocess.TimeoutExpired:
        return 124, f"timed out after {timeout * slow} s"


def background(cmd):
    return subprocess.Popen(cmd, shell=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def ensure_link():
    """The veth pair, addressed and up (a cycle may have deleted it)."""
    if sh("ip -n n0 link show va")[0] != 0:
        sh("ip -n n1 link del vb 2>/dev/null; ip link add va type veth peer name vb && "
           "ip link set va netns n0 && ip link set vb netns n1")
        for d in ("va", "vb"):
            sh(f"ip -n {NS[d]} addr add {ADDR[d]}/24 dev {d}")
    for d in ("va", "vb"):
        sh(f"ip -n {NS[d]} link set {d} up")


def gid_index(dev):
    """The RoCE v2 GID index of dev's IPv4 address, once ib_core added it."""
    base = f"/sys/class/infiniband/{dev}/ports/1"
    for _ in range(100 * slow):
        for i in range(16):
            try:
                with open(f"{base}/gid_attrs/types/{i}") as f:
                    kind = f.read().strip()
                with open(f"{base}/gids/{i}") as f:
                    gid = f.read().strip()
            except OSError:
                continue
            if kind == "RoCE v2" and gid.startswith("0000:0000:0000:0000:0000:ffff:"):
                return i
        time.sleep(0.1)
    return None


def rvt_devices():
    try:
        return sorted(d for d in os.listdir("/sys/class/infiniband") if d.startswith("rvt"))
    except FileNotFoundError:
        return []


# The traffic: a server on rvt0 (n0) and a client on rvt1 (n1), long enough
# never to end by itself. {g0} {g1}: the GID indices; {p}: a TCP port.
WORKLOADS = {
    "rc": ("ibv_rc_pingpong -d rvt0 -g {g0} -p {p} -n 100000000",
           "ibv_rc_pingpong -d rvt1 -g {g1} -p {p} -n 100000000 10.9.0.1"),
    "rc-64k-events": ("ibv_rc_pingpong -d rvt0 -g {g0} -p {p} -s 65536 -e -n 100000000",
                      "ibv_rc_pingpong -d rvt1 -g {g1} -p {p} -s 65536 -e -n 100000000 10.9.0.1"),
    "uc": ("ibv_uc_pingpong -d rvt0 -g {g0} -p {p} -n 100000000",
           "ibv_uc_pingpong -d rvt1 -g {g1} -p {p} -n 100000000 10.9.0.1"),
    "ud": ("ibv_ud_pingpong -d rvt0 -g {g0} -p {p} -s 1024 -n 100000000",
           "ibv_ud_pingpong -d rvt1 -g {g1} -p {p} -s 1024 -n 100000000 10.9.0.1"),
    "srq": ("ibv_srq_pingpong -d rvt0 -g {g0} -p {p} -n 100000000",
            "ibv_srq_pingpong -d rvt1 -g {g1} -p {p} -n 100000000 10.9.0.1"),
    "write-bw": ("ib_write_bw -d rvt0 -x {g0} -p {p} -s 65536 -q 4 -D 100000",
                 "ib_write_bw -d rvt1 -x {g1} -p {p} -s 65536 -q 4 -D 100000 10.9.0.1"),
    "read-bw": ("ib_read_bw -d rvt0 -x {g0} -p {p} -s 262144 -D 100000",
                "ib_read_bw -d rvt1 -x {g1} -p {p} -s 262144 -D 100000 10.9.0.1"),
    "rping": ("rping -s -a 10.9.0.1 -p {p} -C 100000000 -V -S 4096",
              "rping -c -a 10.9.0.1 -p {p} -C 100000000 -V -S 4096"),
}

counts = {}
dmesg_seen = 0


def count(what):
    counts[what] = counts.get(what, 0) + 1


def new_warnings():
    """Kernel log lines with a warning, since the last call."""
    global dmesg_seen
    lines = sh("dmesg")[1].splitlines()
    fresh, dmesg_seen = lines[dmesg_seen:], len(lines)
    return [l for l in fresh if WARN.search(l)]


def cycle(n):
    failed_before = checks.failures
    ensure_link()
    rc, out = sh("modprobe rvt_roce")
    if rc:
        return check(False, f"cycle {n}: modprobe rvt_roce: {out}")
    for d in ("va", "vb"):
        rc, out = sh(f"ip netns exec {NS[d]} rdma link add {DEV[d]} type rvt netdev {d}")
        if rc:
            return check(False, f"cycle {n}: rdma link add {DEV[d]}: {out}")
    g0, g1 = gid_index("rvt0"), gid_index("rvt1")
    if g0 is None or g1 is None:
        return check(False, f"cycle {n}: no IPv4 GIDs ({g0}, {g1})")

    kinds = rng.sample(sorted(WORKLOADS), rng.randint(1, 3))
    procs = []
    for i, kind in enumerate(kinds):
        server, client = (c.format(g0=g0, g1=g1, p=18515 + i) for c in WORKLOADS[kind])
        procs.append((f"{kind} server", background(f"exec ip netns exec n0 {server}")))
        time.sleep(0.3 * pause)
        procs.append((f"{kind} client", background(f"exec ip netns exec n1 {client}")))
    # Let the traffic start (QPs connected, packets and timers in flight).
    time.sleep(rng.uniform(0.5, 2.0) * pause)

    actions = [("kill", name, p) for name, p in procs]
    actions += rng.sample([("link delete", "rvt0", None), ("link delete", "rvt1", None),
                           ("netdev down", "va", None), ("netdev down", "vb", None),
                           ("netdev delete", rng.choice(["va", "vb"]), None),
                           ("rmmod", "rvt_roce", None)], rng.randint(1, 3))
    rng.shuffle(actions)
    pending = []  # (what, Popen) of teardown commands that may wait for users
    for action, what, proc in actions:
        count(action)
        if action == "kill":
            proc.kill()
        elif action == "link delete":
            pending.append((f"rdma link delete {what}", background(f"exec rdma link delete {what}")))
        elif action == "netdev down":
            sh(f"ip -n {NS[what]} link set {what} down")
        elif action == "netdev delete":
            pending.append((f"ip link del {what}",
                            background(f"exec ip -n {NS[what]} link del {what}")))
        else:
            t0 = time.time()
            rc, out = sh("rmmod rvt_roce", timeout=20)
            if rc == 0:
                count("rmmod done")
            elif "in use" in out and time.time() - t0 < 5 * slow:
                count("rmmod refused")
            else:
                check(False, f"cycle {n}: rmmod rvt_roce: exit {rc}: {out} ({' '.join(kinds)})")
        time.sleep(rng.uniform(0, 0.5) * pause)

    # Whatever the order, once the processes are gone every teardown
    # command finishes, and the modules unload.
    for _, p in procs:
        p.kill()
        p.wait()
    for what, p in pending:
        try:
            p.wait(timeout=60 * slow)
        except subprocess.TimeoutExpired:
            check(False, f"cycle {n}: '{what}' hung after every process exited ({' '.join(kinds)})")
            p.kill()
    for dev in rvt_devices():
        rc, out = sh(f"rdma link delete {dev}", timeout=60)
        if rc and dev in rvt_devices():
            check(False, f"cycle {n}: rdma link delete {dev}: {out}")
    for mod in ("rvt_roce", "rvt"):
        if os.path.exists(f"/sys/module/{mod}"):
            rc, out = sh(f"rmmod {mod}", timeout=60)
            if rc:
                check(False, f"cycle {n}: rmmod {mod} at the end: {out}")
    warnings = new_warnings()
    if warnings:
        check(False, f"cycle {n}: kernel warnings: " + " | ".join(warnings[:5]))
    ok = checks.failures == failed_before
    order = ", ".join(f"{a} {w}" for a, w, _ in actions)
    print(f"{'cycle' if ok else 'FAIL: cycle'} {n}: {' '.join(kinds)}; {order}")
    return ok


new_warnings()
t0 = time.time()
done = 0
for n in range(1, cycles + 1):
    if not cycle(n):
        break
    done += 1
check(done == cycles, f"{done} of {cycles} teardown cycles under load (seed {seed}) in "
      f"{time.time() - t0:.0f} s")
print("actions: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
sys.exit(exit_status())
