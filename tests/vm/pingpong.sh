# Scenario: the ibv_*_pingpong tools between two rvt devices, each over one
# end of a veth pair in its own network namespace (the data path).
. /mnt/tests/vm/lib.sh
setup_veth_pair
ip -n n0 addr add fd00::1/64 dev va nodad
ip -n n1 addr add fd00::2/64 dev vb nodad
modprobe ib_uverbs
expect_ok "rdma link add rvt0" ip netns exec n0 rdma link add rvt0 type rvt netdev va
expect_ok "rdma link add rvt1" ip netns exec n1 rdma link add rvt1 type rvt netdev vb
wait_port_state rvt0 PORT_ACTIVE && wait_port_state rvt1 PORT_ACTIVE || fail "ports not active"

# gid_index DEV PREFIX: the index of the RoCE v2 GID of DEV starting with PREFIX.
gid_index() {
	for f in /sys/class/infiniband/$1/ports/1/gid_attrs/types/*; do
		i=${f##*/}
		[ "$(cat "$f" 2>/dev/null)" = "RoCE v2" ] || continue
		case "$(cat /sys/class/infiniband/$1/ports/1/gids/$i)" in
		$2*) echo "$i"; return 0 ;;
		esac
	done
	return 1
}
i=0
while ! gid_index rvt0 0000:0000:0000:0000:0000:ffff: >/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
v4_0=$(gid_index rvt0 0000:0000:0000:0000:0000:ffff:)
v4_1=$(gid_index rvt1 0000:0000:0000:0000:0000:ffff:)
v6_0=$(gid_index rvt0 fd00:)
v6_1=$(gid_index rvt1 fd00:)
echo "GID indices: rvt0 v4 $v4_0 v6 $v6_0, rvt1 v4 $v4_1 v6 $v6_1"

counter() { rdma statistic show link "$1"/1 | tr ' ' '\n' | grep -A1 "^$2\$" | tail -n1; }

# pingpong NAME TOOL SERVER_ARGS -- CLIENT_ARGS: server on rvt0 in n0, client on rvt1 in n1.
pingpong() {
	name=$1; tool=$2; sargs=$3; cargs=$4
	ip netns exec n0 timeout 60 $tool -d rvt0 $sargs >/tmp/pp-server.out 2>&1 &
	spid=$!
	sleep 0.5
	ip netns exec n1 timeout 60 $tool -d rvt1 $cargs 10.9.0.1 >/tmp/pp-client.out 2>&1
	crc=$?
	wait $spid
	src=$?
	if [ $crc = 0 ] && [ $src = 0 ]; then
		pass "$name: $(grep -h 'iters in' /tmp/pp-client.out | head -n1)"
	else
		fail "$name: client exit $crc, server exit $src"
		sed 's/^/  server: /' /tmp/pp-server.out
		sed 's/^/  client: /' /tmp/pp-client.out
	fi
}

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
pingpong "rc IPv4 with events (-e)" ibv_rc_pingpong "-g $v4_0 -n 100 -e" "-g $v4_1 -n 100 -e"
pingpong "rc IPv6" ibv_rc_pingpong "-g $v6_0 -n 100" "-g $v6_1 -n 100"
step "ibv_uc_pingpong"
pingpong "uc IPv4" ibv_uc_pingpong "-g $v4_0 -n 200" "-g $v4_1 -n 200"
pingpong "uc IPv6 with events (-e)" ibv_uc_pingpong "-g $v6_0 -n 100 -e" "-g $v6_1 -n 100 -e"
step "ibv_srq_pingpong"
pingpong "srq IPv4 (16 QPs on one SRQ)" ibv_srq_pingpong "-g $v4_0 -n 100" "-g $v4_1 -n 100"
pingpong "srq IPv6 with events (-e)" ibv_srq_pingpong "-g $v6_0 -n 50 -e" "-g $v6_1 -n 50 -e"
rdma statistic show link rvt0/1
rdma statistic show link rvt1/1
finish
