# Two VMs joined by a QEMU stream netdev on a UNIX socket (scripts/vm-run
# --nodes 2): the link of the interop scenarios with rdma_rxe, which cannot
# share a kernel with rvt.
# Each node brings eth0 up, reaches the other, and puts an rvt device on it.
. /mnt/tests/vm/lib.sh
me=$((RVT_NODE + 1))
peer=$((2 - RVT_NODE))
ip link set eth0 up
ip addr add 10.10.0.$me/24 dev eth0
i=0
until ping -c1 -W1 10.10.0.$peer >/dev/null 2>&1 || [ $i -ge 60 ]; do i=$((i + 1)); done
expect_ok "node $RVT_NODE reaches 10.10.0.$peer over the socket link" ping -c3 -W2 10.10.0.$peer
modprobe ib_uverbs
expect_ok "rdma link add rvt$RVT_NODE on eth0" rdma link add "rvt$RVT_NODE" type rvt netdev eth0
wait_port_state "rvt$RVT_NODE" PORT_ACTIVE && pass "port active" || fail "port: $(port_state "rvt$RVT_NODE")"
ibv_devices
# Stay up until the peer has finished with the link too.
sleep 3
finish
