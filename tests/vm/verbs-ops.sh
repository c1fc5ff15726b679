# Scenario: the verbs' data-path semantics through pyverbs, both devices in
# one process: RC WRITE/READ/atomics/RNR/access errors, UD GRH slot and
# receive errors, malformed work requests, memory windows, SRQ resize
# (tests/vm/py/rc_ops.py, mw_ops.py, srq_resize.py, ud_ops.py).
. /mnt/tests/vm/lib.sh
setup_rvt_pair
step "RC operations"
out=$(python3 /mnt/tests/vm/py/rc_ops.py rvt0 "$v4_0" rvt1 "$v4_1" 2>&1)
rc=$?
echo "$out"
[ "$rc" = 0 ] && pass "pyverbs RC operations" || fail "pyverbs RC operations (exit $rc)"
step "memory windows"
out=$(python3 /mnt/tests/vm/py/mw_ops.py rvt0 "$v4_0" rvt1 "$v4_1" 2>&1)
rc=$?
echo "$out"
[ "$rc" = 0 ] && pass "pyverbs memory windows" || fail "pyverbs memory windows (exit $rc)"
step "SRQ resize"
out=$(python3 /mnt/tests/vm/py/srq_resize.py rvt0 "$v4_0" rvt1 "$v4_1" 2>&1)
rc=$?
echo "$out"
[ "$rc" = 0 ] && pass "pyverbs SRQ resize" || fail "pyverbs SRQ resize (exit $rc)"
step "UD"
out=$(python3 /mnt/tests/vm/py/ud_ops.py rvt0 "$v4_0" rvt1 "$v4_1" 2>&1)
rc=$?
echo "$out"
[ "$rc" = 0 ] && pass "pyverbs UD" || fail "pyverbs UD (exit $rc)"
finish
