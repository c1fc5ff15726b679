# Scenario: user verbs objects (PD, MR, CQ) through the stock rxe provider.
. /mnt/tests/vm/lib.sh
setup_veth_pair
modprobe ib_uverbs
expect_ok "rdma link add rvt0" ip netns exec n0 rdma link add rvt0 type rvt netdev va
step "the pingpongs allocate PDs, register MRs, map CQ, QP and SRQ rings"
# Each server waits for a peer (no data path yet): it must get that far.
for tool in ibv_rc_pingpong ibv_uc_pingpong ibv_ud_pingpong ibv_srq_pingpong; do
	ip netns exec n0 timeout 5 stdbuf -oL $tool -d rvt0 -g 1 >/tmp/pp.out 2>&1
	grep -q "local address:" /tmp/pp.out && pass "$tool creates its QPs and waits for a peer" || fail "$tool: $(cat /tmp/pp.out)"
done
step "pyverbs: device limits, PDs, MRs, CQs"
out=$(python3 /mnt/tests/vm/py/verbs_objects.py rvt0 2>&1)
rc=$?
echo "$out"
[ "$rc" = 0 ] && pass "pyverbs objects" || fail "pyverbs objects (exit $rc)"
step "pyverbs: QPs"
out=$(ip netns exec n0 python3 /mnt/tests/vm/py/verbs_qp.py rvt0 2>&1)
rc=$?
echo "$out"
[ "$rc" = 0 ] && pass "pyverbs QPs" || fail "pyverbs QPs (exit $rc)"
step "rdma resource details (rdma -dd: the driver's attributes)"
python3 -c "
import subprocess
from pyverbs.device import Context; from pyverbs.pd import PD; from pyverbs.mr import MR; from pyverbs.cq import CQ
import pyverbs.enums as e
from pyverbs.qp import QP, QPInitAttr, QPCap
ctx = Context(name='rvt0'); pd = PD(ctx); mr = MR(pd, 65536, e.IBV_ACCESS_LOCAL_WRITE); cq = CQ(ctx, 100)
qp = QP(pd, QPInitAttr(qp_type=e.IBV_QPT_RC, scq=cq, rcq=cq, cap=QPCap(max_send_wr=64)))
for kind in ('qp', 'cq', 'mr'):
    print(subprocess.run(['rdma', '-dd', 'resource', 'show', kind], capture_output=True, text=True).stdout)
" >/tmp/res.out 2>&1
cat /tmp/res.out
# rdma prints a driver's attributes with a drv_ prefix, on the next lines.
grep -A2 "type RC" /tmp/res.out | grep -q "drv_sq_wqes 0 drv_staged_sends 0 drv_rd_atomic_in_flight 0 drv_responses_owed 0" &&
	pass "a QP's entry has the transport's attributes" || fail "QP details missing"
grep -A1 "cqn .* comm python3" /tmp/res.out | grep -q "drv_queued 0" && pass "a CQ's entry has its queued completions" || fail "CQ details missing"
grep -A1 "mrn .* comm python3" /tmp/res.out | grep -q "drv_kind user" && pass "an MR's entry has its kind" || fail "MR details missing"
step "a process killed with objects open"
python3 -c "
from pyverbs.device import Context; from pyverbs.pd import PD; from pyverbs.mr import MR; from pyverbs.cq import CQ
import pyverbs.enums as e, os, signal
from pyverbs.qp import QP, QPInitAttr, QPCap
ctx = Context(name='rvt0'); pd = PD(ctx); mr = MR(pd, 65536, e.IBV_ACCESS_LOCAL_WRITE); cq = CQ(ctx, 100)
qp = QP(pd, QPInitAttr(qp_type=e.IBV_QPT_RC, scq=cq, rcq=cq, cap=QPCap(max_send_wr=64)))
os.kill(os.getpid(), signal.SIGKILL)"
[ -z "$(rdma resource show mr 2>/dev/null | grep rvt0)" ] && pass "no MR left after the kill" || fail "MRs left: $(rdma resource show mr)"
[ -z "$(rdma resource show qp 2>/dev/null | grep rvt0 | grep -v "type GSI")" ] && pass "no QP left after the kill (only the GSI QP of ib_mad)" || fail "QPs left: $(rdma resource show qp)"
expect_ok "rdma link delete rvt0" rdma link delete rvt0
expect_ok "rmmod rvt_roce" rmmod rvt_roce
expect_ok "rmmod rvt" rmmod rvt
finish
