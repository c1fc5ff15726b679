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
# pingpong_local NAME TOOL ARGS: both ends on rvt0 in n0, the client connecting to 10.9.0.1.
pingpong_local() {
	ip netns exec n0 timeout 60 $2 -d rvt0 -g "$v4_0" $3 >/tmp/pp-server.out 2>&1 &
	spid=$!
	sleep 0.5
	ip netns exec n0 timeout 60 $2 -d rvt0 -g "$v4_0" $3 10.9.0.1 >/tmp/pp-client.out 2>&1
	crc=$?
	wait $spid
	[ $crc = 0 ] && [ $? = 0 ] && pass "$1: $(grep -h 'iters in' /tmp/pp-client.out | head -n1)" ||
		{ fail "$1"; cat /tmp/pp-server.out /tmp/pp-client.out; }
}
pingpong_local "rc rvt0 to itself" ibv_rc_pingpong "-n 100 -e"
pingpong_local "ud rvt0 to itself" ibv_ud_pingpong "-s 1024 -n 100 -e"
step "ibv_srq_pingpong"
pingpong "srq IPv4 (16 QPs on one SRQ)" ibv_srq_pingpong "-g $v4_0 -n 100" "-g $v4_1 -n 100"
pingpong "srq IPv6 with events (-e)" ibv_srq_pingpong "-g $v6_0 -n 50 -e" "-g $v6_1 -n 50 -e"
rdma statistic show link rvt0/1
rdma statistic show link rvt1/1
finish
