# Scenario: hostile user rings (issue 9). A process corrupts the rxe rings
# it has mapped: garbage send WQEs, invalid opcodes, SGE counts and lengths
# beyond the limits, unknown lkeys, oversized inline data, indices out of
# range, garbage receive WQEs, a second process rewriting the send queue
# while the kernel reads it, UD WQEs naming the AH of another PD, a
# destroyed AH or none (tests/vm/py/hostile_rings.py). Each QP it attacks
# ends in Error with every WQE completed; verified pingpongs of another
# process run alongside; the kernel log stays clean.
. /mnt/tests/vm/lib.sh
setup_rvt_pair
step "attacks on the rings while pingpongs run"
pingpongs_start
ip netns exec n0 python3 /mnt/tests/vm/py/hostile_rings.py rvt0 "$v4_0" rvt1 "$v4_1" || fail "hostile_rings.py"
pingpongs_stop
[ -z "$(rdma resource show qp 2>/dev/null | grep -E 'rvt[01]' | grep -v 'type GSI')" ] && pass "no QP left" ||
	fail "QPs left: $(rdma resource show qp)"
finish
