# Scenario: the verbs fuzzer (issue 9; tests/vm/py/verbs_fuzz.py). PROBES
# calls with one attribute at an edge value on rvt, then on rdma_rxe in the
# same boot with the same seed: rvt refuses every invalid value, accepts
# every valid one, and differs from rdma_rxe only where
# tests/vm/py/verbs_fuzz_known.txt says why. Then SECONDS of random
# create/modify/query/post/poll/destroy sequences with forks on rvt: every
# object is destroyed at the end and the devices still carry a verified
# pingpong.
#
#   verbs-fuzz.sh [PROBES [SECONDS [SEED]]]   (120 15 1)
. /mnt/tests/vm/lib.sh
probes=${1:-120} seconds=${2:-15} seed=${3:-1}
fuzz=/mnt/tests/vm/py/verbs_fuzz.py
setup_rvt_pair
step "$probes probes on rvt (seed $seed)"
python3 $fuzz probe rvt0 "$v4_0" rvt1 "$v4_1" "$seed" "$probes" /tmp/fuzz-rvt.json || fail "probes on rvt"
step "$seconds s of random verbs sequences on rvt"
# (pyverbs prints a traceback for each object a forked child destroyed
# under it: kept out of the log unless the run fails.)
python3 $fuzz sequence rvt0 "$v4_0" rvt1 "$v4_1" "$seed" "$seconds" 2>/tmp/sequence.err ||
	{ tail -n 40 /tmp/sequence.err; fail "sequences on rvt"; }
pingpong "rc pingpong after the fuzzing" ibv_rc_pingpong "-g $v4_0 -n 20 -c" "-g $v4_1 -n 20 -c"
check_kernel_log

step "the same probes on rdma_rxe"
expect_ok "rvt devices deleted" rdma link delete rvt0
rdma link delete rvt1
expect_ok "rvt unloaded" rmmod rvt_roce rvt
expect_ok "modprobe rdma_rxe" modprobe rdma_rxe
expect_ok "rdma link add rxe0" ip netns exec n0 rdma link add rxe0 type rxe netdev va
expect_ok "rdma link add rxe1" ip netns exec n1 rdma link add rxe1 type rxe netdev vb
r0=$(wait_gid rxe0 0000:0000:0000:0000:0000:ffff:)
r1=$(wait_gid rxe1 0000:0000:0000:0000:0000:ffff:)
python3 $fuzz probe rxe0 "$r0" rxe1 "$r1" "$seed" "$probes" /tmp/fuzz-rxe.json || fail "probes on rdma_rxe"
step "rvt against rdma_rxe"
python3 $fuzz compare /tmp/fuzz-rvt.json /tmp/fuzz-rxe.json /mnt/tests/vm/py/verbs_fuzz_known.txt ||
	fail "rvt and rdma_rxe differ"
rdma link delete rxe0
rdma link delete rxe1
expect_ok "rmmod rdma_rxe" rmmod rdma_rxe
finish
