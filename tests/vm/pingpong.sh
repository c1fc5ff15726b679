# Scenario: the ibv_*_pingpong tools between two rvt devices, each over one
# end of a veth pair in its own network namespace (the data path).
. /mnt/tests/vm/lib.sh
setup_rvt_pair

step "ibv_ud_pingpong"
before=$(counter rvt1 rx_packets)
pingpong "ud IPv4" ibv_ud_pingpong "-g $v4_0 -s 1024 -n 200" "-g $v4_1 -s 1024 -n 200"
after=$(counter rvt1 rx_packets)
[ $((after - before)) -ge 200 ] && pass "rvt1 counted $((after - before)) packets received" || fail "rx_packets moved by $((after - before))"
pingpong "ud IPv4 with events (-e)" ibv_ud_pingpong "-g $v4_0 -s 512 -n 100 -e" "-g $v4_1 -s 512 -n 100 -e"
pingpong "ud IPv6" ibv_ud_pingpong "-g $v6_0 -s 1024 -n 100" "-g $v6_1 -s 1024 -n 100"
step "ibv_rc_pingpong"
pingpong "rc IPv4" ibv_rc_pingpong "-g $v4_0 -n 200" "-g $v4_1 -n 200"
pingpong "rc IPv4 64 KiB messages" ibv_rc_pingpong "-g $v4_0 -s 65536 -n 50" "-g $v4_1 -s 65536 -n 50"
n=$(heavy 10000 500)
PP_TIMEOUT=600 pingpong "rc IPv4 64 KiB x $n with events" ibv_rc_pingpong "-g $v4_0 -s 65536 -n $n -e" "-g $v4_1 -s 65536 -n $n -e"
pingpong "rc IPv4 with events (-e)" ibv_rc_pingpong "-g $v4_0 -n 100 -e" "-g $v4_1 -n 100 -e"
pingpong "rc IPv6" ibv_rc_pingpong "-g $v6_0 -n 100" "-g $v6_1 -n 100"
step "ibv_uc_pingpong"
pingpong "uc IPv4" ibv_uc_pingpong "-g $v4_0 -n 200" "-g $v4_1 -n 200"
pingpong "uc IPv6 with events (-e)" ibv_uc_pingpong "-g $v6_0 -n 100 -e" "-g $v6_1 -n 100 -e"
step "loopback: server and client on one device"
pingpong_between "rc rvt0 to itself" ibv_rc_pingpong n0 rvt0 "-g $v4_0 -n 100 -e" n0 rvt0 "-g $v4_0 -n 100 -e" 10.9.0.1
pingpong_between "ud rvt0 to itself" ibv_ud_pingpong n0 rvt0 "-g $v4_0 -s 1024 -n 100 -e" n0 rvt0 "-g $v4_0 -s 1024 -n 100 -e" 10.9.0.1
step "two rvt devices of one namespace"
ip link add vc netns n0 type veth peer name vd netns n0
ip -n n0 addr add 10.9.1.1/24 dev vc
ip -n n0 addr add 10.9.1.2/24 dev vd
ip -n n0 link set vc up
ip -n n0 link set vd up
# ib_core resolves the peer's MAC by ARP out of the source GID's netdev;
# Linux drops an ARP reply whose sender address is one of its own unless
# accept_local is set (without it modify to RTR times out, as for rdma_rxe).
ip netns exec n0 sysctl -qw net.ipv4.conf.vc.accept_local=1 net.ipv4.conf.vd.accept_local=1
expect_ok "rdma link add rvt2" ip netns exec n0 rdma link add rvt2 type rvt netdev vc
expect_ok "rdma link add rvt3" ip netns exec n0 rdma link add rvt3 type rvt netdev vd
wait_port_state rvt2 PORT_ACTIVE && wait_port_state rvt3 PORT_ACTIVE || fail "rvt2/rvt3 ports not active"
g2=$(wait_gid rvt2 0000:0000:0000:0000:0000:ffff:0a09:0101) || fail "no GID for 10.9.1.1 on rvt2"
g3=$(wait_gid rvt3 0000:0000:0000:0000:0000:ffff:0a09:0102) || fail "no GID for 10.9.1.2 on rvt3"
before=$(counter rvt3 rx_packets)
if pingpong_between "rc between rvt2 and rvt3 in n0" ibv_rc_pingpong n0 rvt2 "-g $g2 -n 100" n0 rvt3 "-g $g3 -n 100" 10.9.1.1; then
	# The route is bound to the source GID's netdev: the packets leave by vc.
	got=$(( $(counter rvt3 rx_packets) - before ))
	[ "$got" -ge 200 ] && pass "rvt3 received $got packets" || fail "rvt3 received $got packets"
fi
expect_ok "rdma link delete rvt2" ip netns exec n0 rdma link delete rvt2
expect_ok "rdma link delete rvt3" ip netns exec n0 rdma link delete rvt3
step "ibv_srq_pingpong"
pingpong "srq IPv4 (16 QPs on one SRQ)" ibv_srq_pingpong "-g $v4_0 -n 100" "-g $v4_1 -n 100"
pingpong "srq IPv6 with events (-e)" ibv_srq_pingpong "-g $v6_0 -n 50 -e" "-g $v6_1 -n 50 -e"
rdma statistic show link rvt0/1
rdma statistic show link rvt1/1
finish
