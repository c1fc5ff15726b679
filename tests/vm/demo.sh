# The demo (make demo): two nodes, each an rvt device over one end of a veth
# pair in its own network namespace, shown the way a user sees them.
. /mnt/tests/vm/lib.sh
setup_veth_pair
modprobe ib_uverbs
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
finish
