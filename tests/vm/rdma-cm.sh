# Scenario: rdma_cm between two rvt nodes. The connection is set up by the
# kernel's ib_cm over the GSI QP1 (kernel verbs: ib_mad's UD QP, its
# kernel CQ, kernel AHs, posts with interrupts off); the data moves over
# user QPs: rping (RC SEND, RDMA READ and WRITE, verified), ucmatose (RC),
# udaddy (UD), mckey (UD multicast).
. /mnt/tests/vm/lib.sh
setup_rvt_pair
modprobe rdma_ucm
step "the GSI QP of each port"
rdma resource show qp
[ "$(rdma resource show qp | grep -c 'lqpn 1 type GSI state RTS')" = 2 ] && pass "ib_mad's QP1 on rvt0 and rvt1, in RTS" ||
	fail "GSI QPs: $(rdma resource show qp)"

# cm_pair NAME SERVER_CMD CLIENT_CMD: server in n0, client in n1, both exit 0.
cm_pair() {
	ip netns exec n0 timeout 600 $2 >/tmp/cm-server.out 2>&1 &
	spid=$!
	sleep 1
	ip netns exec n1 timeout 600 $3 >/tmp/cm-client.out 2>&1
	crc=$?
	wait $spid
	src=$?
	if [ $crc = 0 ] && [ $src = 0 ]; then
		pass "$1"
	else
		fail "$1: client exit $crc, server exit $src"
		tail -n 5 /tmp/cm-server.out | sed 's/^/  server: /'
		tail -n 5 /tmp/cm-client.out | sed 's/^/  client: /'
	fi
}

step "rping"
n=$(heavy 1000 200)
cm_pair "rping -C $n -V over IPv4" "rping -s -a 10.9.0.1 -C $n -V" "rping -c -a 10.9.0.1 -C $n -V"
cm_pair "rping -C 100 -V -S 4096 over IPv6" "rping -s -a fd00::1 -C 100 -V -S 4096" "rping -c -a fd00::1 -C 100 -V -S 4096"
step "ucmatose and udaddy"
cm_pair "ucmatose (RC, 5 connections)" "ucmatose -c 5 -C 100" "ucmatose -s 10.9.0.1 -c 5 -C 100"
cm_pair "udaddy (UD)" "udaddy -c 5 -C 100" "udaddy -s 10.9.0.1 -c 5 -C 100"
step "UD multicast (mckey: rdma_cm join, attach_mcast, datagrams to the group)"
before=$(counter rvt0 rx_packets)
cm_pair "mckey 239.1.1.1, 10 datagrams" "mckey -m 239.1.1.1 -b 10.9.0.1 -C 10" "mckey -m 239.1.1.1 -b 10.9.0.2 -s -C 10"
[ $(( $(counter rvt0 rx_packets) - before )) -ge 10 ] && pass "rvt0 received the group's datagrams" || fail "rx_packets did not move"
rdma statistic show link rvt0/1
finish
