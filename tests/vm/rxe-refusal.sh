# Scenario: rvt and rdma_rxe refuse to share a kernel, with a clear message.
. /mnt/tests/vm/lib.sh
step "rdma_rxe first: rvt refuses"
expect_ok "modprobe rdma_rxe" modprobe rdma_rxe
expect_fail "modprobe rvt with rdma_rxe loaded" "busy" modprobe rvt
dmesg | grep -q 'rvt: rdma_rxe is loaded' && pass "clear message from rvt" || fail "no message from rvt"
expect_ok "rmmod rdma_rxe" rmmod rdma_rxe
step "rvt first: rdma_rxe refused"
expect_ok "modprobe rvt" modprobe rvt
expect_fail "modprobe rdma_rxe with rvt loaded" "busy" modprobe rdma_rxe
dmesg | grep -q 'refusing to load rdma_rxe' && pass "clear message for rdma_rxe" || fail "no message for rdma_rxe"
grep -q '^rdma_rxe ' /proc/modules && fail "rdma_rxe is loaded" || pass "rdma_rxe not loaded"
expect_ok "rmmod rvt" rmmod rvt
expect_ok "modprobe rdma_rxe after rvt is gone" modprobe rdma_rxe
expect_ok "rmmod rdma_rxe" rmmod rdma_rxe
finish
