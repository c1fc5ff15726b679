# Scenario: the port follows its netdev: carrier down/up, admin down/up, MTU.
. /mnt/tests/vm/lib.sh
setup_veth_pair
modprobe ib_uverbs
expect_ok "rdma link add rvt0" ip netns exec n0 rdma link add rvt0 type rvt netdev va
wait_port_state rvt0 PORT_ACTIVE && pass "port active with carrier" || fail "port not active: $(port_state rvt0)"
step "peer down: carrier lost"
# The async events a user sees: ib_core dispatches them for a netdev-bound
# port, once per change (rvt_roce adds none of its own).
stdbuf -oL ibv_asyncwatch -d rvt0 >/tmp/events 2>&1 &
watcher=$!
sleep 0.5
ip -n n1 link set vb down
wait_port_state rvt0 PORT_DOWN && pass "carrier down -> PORT_DOWN" || fail "carrier down: $(port_state rvt0)"
rdma link show rvt0/1 | grep -q 'state DOWN physical_state DISABLED' && pass "rdma link shows DOWN" || fail "rdma link: $(rdma link show rvt0/1)"
ip -n n1 link set vb up
wait_port_state rvt0 PORT_ACTIVE && pass "carrier up -> PORT_ACTIVE" || fail "carrier up: $(port_state rvt0)"
sleep 0.5
kill $watcher
wait $watcher 2>/dev/null
cat /tmp/events
[ "$(grep -c 'IBV_EVENT_PORT_ERR' /tmp/events)" = 1 ] && pass "one PORT_ERR event" || fail "PORT_ERR events: $(grep -c IBV_EVENT_PORT_ERR /tmp/events)"
[ "$(grep -c 'IBV_EVENT_PORT_ACTIVE' /tmp/events)" = 1 ] && pass "one PORT_ACTIVE event" || fail "PORT_ACTIVE events: $(grep -c IBV_EVENT_PORT_ACTIVE /tmp/events)"
step "admin down/up of the bound netdev"
ip -n n0 link set va down
wait_port_state rvt0 PORT_DOWN && pass "admin down -> PORT_DOWN" || fail "admin down: $(port_state rvt0)"
ip -n n0 link set va up
wait_port_state rvt0 PORT_ACTIVE && pass "admin up -> PORT_ACTIVE" || fail "admin up: $(port_state rvt0)"
step "MTU change"
ip -n n0 link set va mtu 9000
ibv_devinfo -d rvt0 | grep -q 'active_mtu:.*4096' && pass "MTU 9000 -> active_mtu 4096" || fail "MTU 9000: $(ibv_devinfo -d rvt0 | grep mtu)"
ip -n n0 link set va mtu 600
ibv_devinfo -d rvt0 | grep -q 'active_mtu:.*256' && pass "MTU 600 -> active_mtu 256" || fail "MTU 600: $(ibv_devinfo -d rvt0 | grep mtu)"
step "the netdev goes away: so does the device"
ip -n n0 link del va
i=0; while ibv_devices | grep -q rvt0 && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
ibv_devices | grep -q rvt0 && fail "rvt0 outlived its netdev" || pass "rvt0 removed with its netdev"
expect_ok "rmmod rvt_roce" rmmod rvt_roce
expect_ok "rmmod rvt" rmmod rvt
finish
