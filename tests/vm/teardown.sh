# Scenario: destroy under traffic. Processes killed mid-run (their QPs'
# timers armed, packets in flight), `rdma link delete`, the netdev going
# away and `rmmod` while pingpongs run: refused or clean, never a hang, a
# warning or a leak.
. /mnt/tests/vm/lib.sh
setup_rvt_pair

# start_pair TOOL ARGS: a long pingpong between rvt0 and rvt1 in the background.
start_pair() {
	ip netns exec n0 $1 -d rvt0 -g "$v4_0" $2 >/dev/null 2>&1 &
	server=$!
	sleep 0.3
	ip netns exec n1 $1 -d rvt1 -g "$v4_1" $2 10.9.0.1 >/dev/null 2>&1 &
	client=$!
	sleep 1
}

rounds=$(heavy 20 8)
step "processes killed mid-run, $rounds times"
for i in $(seq "$rounds"); do
	case $((i % 4)) in
	0) start_pair ibv_rc_pingpong "-n 1000000" ;;
	1) start_pair ibv_rc_pingpong "-s 65536 -n 1000000 -e" ;;
	2) start_pair ibv_ud_pingpong "-s 1024 -n 1000000" ;;
	3) start_pair ibv_srq_pingpong "-n 1000000" ;;
	esac
	# The client first: the server's QP is left retransmitting to nobody.
	kill -9 $client
	sleep 0.2
	kill -9 $server
	wait $client $server 2>/dev/null
done
pass "$rounds rounds"
[ -z "$(rdma resource show qp 2>/dev/null | grep -E 'rvt[01]' | grep -v 'type GSI')" ] && pass "no QP left" ||
	fail "QPs left: $(rdma resource show qp)"

step "rmmod while pingpongs run: refused at once"
start_pair ibv_rc_pingpong "-n 1000000"
out=$(timeout 5 rmmod rvt_roce 2>&1)
rc=$?
[ $rc != 0 ] && [ $rc != 124 ] && echo "$out" | grep -qi "in use" && pass "rmmod rvt_roce refused: $out" ||
	fail "rmmod rvt_roce: exit $rc: $out"
kill -9 $client $server
wait $client $server 2>/dev/null

step "rdma link delete mid-run"
start_pair ibv_rc_pingpong "-s 65536 -n 1000000 -e"
timeout 20 rdma link delete rvt1 &
del=$!
sleep 1
kill -9 $client $server
wait $client $server 2>/dev/null
wait $del && pass "rvt1 deleted once its users closed" || fail "rdma link delete rvt1 did not finish"
[ ! -e /sys/class/infiniband/rvt1 ] && pass "rvt1 gone" || fail "rvt1 still there"
expect_ok "re-create rvt1" ip netns exec n1 rdma link add rvt1 type rvt netdev vb
wait_port_state rvt1 PORT_ACTIVE || fail "rvt1 not active again"
find_gids
pingpong "rc after re-creation" ibv_rc_pingpong "-g $v4_0 -n 50" "-g $v4_1 -n 50"

step "the netdev goes away mid-run"
start_pair ibv_ud_pingpong "-s 1024 -n 1000000"
timeout 20 ip -n n0 link del va &
del=$!
sleep 1
kill -9 $client $server
wait $client $server 2>/dev/null
wait $del && pass "va deleted" || fail "ip link del va did not finish"
i=0
while [ -e /sys/class/infiniband/rvt0 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ ! -e /sys/class/infiniband/rvt0 ] && pass "rvt0 went with its netdev" || fail "rvt0 still there"
# Deleting one end of a veth pair deletes the other: rvt1 goes too.
i=0
while [ -e /sys/class/infiniband/rvt1 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ ! -e /sys/class/infiniband/rvt1 ] && pass "rvt1 went with the peer netdev" || fail "rvt1 still there"

step "unload"
expect_ok "rmmod rvt_roce rvt" rmmod rvt_roce rvt
lsmod | grep -q '^rvt' && fail "rvt still loaded" || pass "rvt unloaded"
finish
