# Scenario: unloading the modules with devices present (and in use) is clean.
. /mnt/tests/vm/lib.sh
setup_veth_pair
modprobe ib_uverbs
expect_ok "rdma link add rvt0" ip netns exec n0 rdma link add rvt0 type rvt netdev va
expect_ok "rdma link add rvt1" ip netns exec n1 rdma link add rvt1 type rvt netdev vb
expect_fail "rvt is in use by rvt_roce" "in use" rmmod rvt
step "rmmod rvt_roce with two devices"
expect_ok "rmmod rvt_roce" rmmod rvt_roce
[ -z "$(ibv_devices | grep rvt)" ] && pass "devices gone" || fail "devices left: $(ibv_devices)"
[ -z "$(ls /sys/class/infiniband 2>/dev/null)" ] && pass "no ib_device left in sysfs" || fail "sysfs: $(ls /sys/class/infiniband)"
expect_ok "rmmod rvt" rmmod rvt
step "again, with the device's uverbs file held open while unloading"
expect_ok "modprobe rvt_roce" modprobe rvt_roce
expect_ok "rdma link add rvt0" ip netns exec n0 rdma link add rvt0 type rvt netdev va
uverbs=
for d in /sys/class/infiniband_verbs/uverbs*; do
	[ "$(cat "$d/ibdev" 2>/dev/null)" = rvt0 ] && uverbs=$(basename "$d")
done
[ -n "$uverbs" ] && pass "rvt0 has a uverbs device ($uverbs)" || fail "no uverbs device for rvt0"
# A process holding /dev/infiniband/uverbsN pins the backend module (it owns
# the ib_device: ib_device_ops.owner), so rmmod is refused at once, never
# left hanging in ib_uverbs, and succeeds once the file is closed.
sleep 600 3<"/dev/infiniband/$uverbs" &
holder=$!
sleep 0.5
t0=$(date +%s)
expect_fail "rmmod rvt_roce while /dev/infiniband/$uverbs is open" "in use" rmmod rvt_roce
[ $(($(date +%s) - t0)) -lt 5 ] && pass "refused without waiting" || fail "rmmod took $(($(date +%s) - t0)) s"
ibv_devices | grep -q rvt0 && pass "rvt0 still there" || fail "rvt0 gone: $(ibv_devices)"
kill $holder
wait $holder 2>/dev/null
expect_ok "rmmod rvt_roce once the file is closed" rmmod rvt_roce
[ -z "$(ls /sys/class/infiniband 2>/dev/null)" ] && pass "no ib_device left" || fail "sysfs: $(ls /sys/class/infiniband)"
expect_ok "rmmod rvt" rmmod rvt
expect_ok "netdevs untouched" ip -n n0 link show va
finish
