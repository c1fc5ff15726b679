# The demo (make demo): two nodes, each an rvt device over one end of a veth
# pair in its own network namespace, shown the way a user sees them, then
# talking RDMA: ibv_rc_pingpong and rping between them.
. /mnt/tests/vm/lib.sh
setup_veth_pair
modprobe ib_uverbs
modprobe rdma_ucm
expect_ok "node 0: rdma link add rvt0 type rvt netdev va" ip netns exec n0 rdma link add rvt0 type rvt netdev va
expect_ok "node 1: rdma link add rvt1 type rvt netdev vb" ip netns exec n1 rdma link add rvt1 type rvt netdev vb
for n in 0 1; do
	step "node $n: rdma link show"
	ip netns exec n$n rdma link show
done
step "ibv_devices"
ibv_devices
for d in rvt0 rvt1; do
	step "ibv_devinfo -v -d $d"
	ibv_devinfo -v -d "$d" || fail "ibv_devinfo -v -d $d"
done
wait_port_state rvt0 PORT_ACTIVE && wait_port_state rvt1 PORT_ACTIVE && pass "both ports active" || fail "ports not active"
find_gids
step "ibv_rc_pingpong: node 0 serves, node 1 connects to 10.9.0.1"
n=$(heavy 1000 100)
ip netns exec n0 ibv_rc_pingpong -d rvt0 -g "$v4_0" -n "$n" -e &
server=$!
sleep 0.5
ip netns exec n1 ibv_rc_pingpong -d rvt1 -g "$v4_1" -n "$n" -e 10.9.0.1 && wait $server &&
	pass "ibv_rc_pingpong" || fail "ibv_rc_pingpong"
step "rping -V (rdma_cm; RDMA READ and WRITE, verified): node 0 serves, node 1 connects"
ip netns exec n0 rping -s -a 10.9.0.1 -C 5 -V -v &
server=$!
sleep 1
ip netns exec n1 rping -c -a 10.9.0.1 -C 5 -V -v && wait $server && pass "rping" || fail "rping"
step "rdma statistic show link rvt1/1"
rdma statistic show link rvt1/1
finish
