# Two VMs joined by a QEMU stream netdev on a UNIX socket (scripts/vm-run
# --nodes 2): the link of the interop scenarios with rdma_rxe, which cannot
# share a kernel with rvt.
# Each node brings eth0 up, reaches the other, and puts an rvt device on it.
. /mnt/tests/vm/lib.sh
socket_link_up
expect_ok "node $RVT_NODE reaches 10.10.0.$peer over the socket link" ping -c3 -W2 10.10.0.$peer
modprobe ib_uverbs
expect_ok "rdma link add rvt$RVT_NODE on eth0" rdma link add "rvt$RVT_NODE" type rvt netdev eth0
wait_port_state "rvt$RVT_NODE" PORT_ACTIVE && pass "port active" || fail "port: $(port_state "rvt$RVT_NODE")"
ibv_devices
# Stay up until the peer has finished with the link too.
sleep 3
finish
