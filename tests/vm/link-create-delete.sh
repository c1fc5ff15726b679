# Scenario: create and delete rvt devices with `rdma link`, bad input refused.
. /mnt/tests/vm/lib.sh
setup_veth_pair
modprobe ib_uverbs
step "create two devices on a veth pair in two namespaces"
expect_ok "rdma link add rvt0" ip netns exec n0 rdma link add rvt0 type rvt netdev va
expect_ok "rdma link add rvt1" ip netns exec n1 rdma link add rvt1 type rvt netdev vb
expect_ok "rvt_roce loaded on demand" grep -q '^rvt_roce ' /proc/modules
ip netns exec n0 rdma link show
# The netdev name shows from the namespace the netdev lives in.
if ip netns exec n0 rdma link show | grep -q 'link rvt0/1 state ACTIVE physical_state LINK_UP netdev va'; then
	pass "rdma link show: rvt0 ACTIVE on va"
else
	fail "rdma link show lacks rvt0 ACTIVE on va"
fi
ibv_devices
[ "$(ibv_devices | grep -cE '^\s+rvt[01]\s')" = 2 ] && pass "ibv_devices lists both" || fail "ibv_devices"
guid=$(ibv_devices | awk '$1 == "rvt0" {print $2}')
mac=$(ip -n n0 -br link show va | awk '{print $3}')
# EUI-64: flip the universal/local bit of the first byte, insert ff:fe.
set -- $(echo "$mac" | tr ':' ' ')
want=$(printf '%02x%s%sfffe%s%s%s' $((0x$1 ^ 2)) "$2" "$3" "$4" "$5" "$6")
[ "$guid" = "$want" ] && pass "node GUID is the EUI-64 of va's MAC ($guid)" || fail "node GUID $guid, want $want"
expect_ok "ibv_devinfo -v rvt0" ibv_devinfo -v -d rvt0
ibv_devinfo -d rvt0 | grep -q 'transport:.*InfiniBand' && pass "transport InfiniBand" || fail "transport"
ibv_devinfo -d rvt0 | grep -q 'link_layer:.*Ethernet' && pass "link layer Ethernet" || fail "link layer"
ibv_devinfo -d rvt0 | grep -q 'active_mtu:.*1024' && pass "active MTU 1024 on a 1500-byte netdev" || fail "active MTU"
step "bad input"
expect_fail "missing netdev" "no such device|ENODEV" ip netns exec n0 rdma link add rvt9 type rvt netdev nosuch0
expect_fail "duplicate name" "exist|ENFILE|too many|file" ip netns exec n1 rdma link add rvt0 type rvt netdev lo
expect_fail "netdev already bound" "exist" ip netns exec n0 rdma link add rvt2 type rvt netdev va
dmesg | grep -q 'netdev va is already bound to RDMA device rvt0' && pass "clear message for a bound netdev" || fail "no message for a bound netdev"
[ "$(ibv_devices | grep -cE '^\s+rvt')" = 2 ] && pass "refused links left nothing behind" || fail "refused links left devices"
step "delete"
expect_ok "rdma link delete rvt0" rdma link delete rvt0
expect_ok "rdma link delete rvt1" rdma link delete rvt1
[ -z "$(rdma link show | grep rvt)" ] && pass "no rvt links left" || fail "links left: $(rdma link show)"
expect_ok "re-create after delete" ip netns exec n0 rdma link add rvt0 type rvt netdev va
expect_ok "delete again" rdma link delete rvt0
step "add racing delete: a device may go while its registration returns"
# Six rounds: each takes ~10 s under the debug profile (KASAN, TCG).
for i in 1 2 3 4 5 6; do
	ip netns exec n0 rdma link add rvt5 type rvt netdev va 2>/dev/null &
	rdma link delete rvt5 2>/dev/null
	wait
	rdma link delete rvt5 2>/dev/null
done
[ -z "$(rdma link show | grep rvt5)" ] && pass "6 add/delete races left nothing" || fail "left: $(rdma link show)"
expect_ok "rmmod rvt_roce" rmmod rvt_roce
expect_ok "rmmod rvt" rmmod rvt
finish
