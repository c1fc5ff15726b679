# Scenario: interop with rdma_rxe over the socket link between two VMs (rvt
# and rdma_rxe cannot share a kernel: both own UDP port 4791). Node 0 runs
# rvt_roce (rvt0), node 1 rdma_rxe (rxe0). Node 1 drives: through
# tests/vm/py/agent.py it starts each tool's other end on node 0, every tool
# once with rvt as the server and once with rdma_rxe as the server, so each
# driver is requester and responder of every operation.
. /mnt/tests/vm/lib.sh
agent="python3 /mnt/tests/vm/py/agent.py"
port=7000
socket_link_up
ip addr add fd01::$me/64 dev eth0 nodad
modprobe ib_uverbs
modprobe rdma_ucm
if [ "$RVT_NODE" = 0 ]; then
	dev=rvt0
	expect_ok "rdma link add rvt0 on eth0" rdma link add rvt0 type rvt netdev eth0
else
	dev=rxe0
	modprobe rdma_rxe
	expect_ok "rdma link add rxe0 on eth0" rdma link add rxe0 type rxe netdev eth0
fi
wait_port_state $dev PORT_ACTIVE && pass "$dev port active" || fail "$dev port: $(port_state $dev)"
v4=$(wait_gid $dev 0000:0000:0000:0000:0000:ffff:0a0a:000$me) || fail "no IPv4 GID on $dev"
v6=$(wait_gid $dev fd01:) || fail "no IPv6 GID on $dev"
echo "$dev GID indices: IPv4 $v4, IPv6 $v6"

if [ "$RVT_NODE" = 0 ]; then
	# Serve node 1 until it is done, then report this node's kernel log.
	echo "$v4 $v6" >/tmp/gids
	$agent serve $port
	finish
	exit $?
fi

remote() { $agent run 10.10.0.1 $port "$*"; }
gids=$(remote cat /tmp/gids) || gids=
set -- $gids
rv4=${1:-} rv6=${2:-}
case "$rv4.$rv6" in
*[!0-9.]* | .* | *.) fail "no GID indices from node 0: $gids" ;;
*) pass "rvt0 GID indices from node 0: IPv4 $rv4, IPv6 $rv6" ;;
esac

# both NAME SERVER_CMD CLIENT_CMD: SERVER_CMD on one node, CLIENT_CMD on the
# other; each is a template where @DEV, @G4, @G6 become that node's device
# and GID indices and @PEER the server's IPv4 address (@PEER6 IPv6). Run
# twice: rvt serving rdma_rxe, then rdma_rxe serving rvt.
both() {
	name=$1 s=$2 c=$3
	fill() { echo "$1" | sed "s/@DEV/$2/g; s/@G4/$3/g; s/@G6/$4/g; s/@PEER6/$5/g; s/@PEER/$6/g"; }
	# rvt serves, rdma_rxe connects.
	remote "timeout 60 $(fill "$s" rvt0 "$rv4" "$rv6" fd01::1 10.10.0.1)" >/tmp/x-server.out 2>&1 &
	spid=$!
	connect_client $spid /tmp/x-client.out timeout 60 $(fill "$c" rxe0 "$v4" "$v6" fd01::1 10.10.0.1)
	report "$name, rdma_rxe to rvt" $? $spid
	# rdma_rxe serves, rvt connects.
	timeout 60 $(fill "$s" rxe0 "$v4" "$v6" fd01::2 10.10.0.2) >/tmp/x-server.out 2>&1 &
	spid=$!
	connect_client $spid /tmp/x-client.out remote "timeout 60 $(fill "$c" rvt0 "$rv4" "$rv6" fd01::2 10.10.0.2)"
	report "$name, rvt to rdma_rxe" $? $spid
}
# report NAME CLIENT_STATUS SERVER_PID
report() {
	wait $3
	src=$?
	row=$(grep -hE 'iters in|^ *[0-9]+ +[0-9]+ +[0-9.]+ +[0-9.]+' /tmp/x-client.out | tail -n1 | tr -s ' ')
	if [ "$2" = 0 ] && [ $src = 0 ]; then
		pass "$1${row:+: $row}"
	else
		fail "$1: client exit $2, server exit $src"
		# Whole: perftest's error lines come first, before its banner.
		sed 's/^/  server: /' /tmp/x-server.out | head -n 60
		sed 's/^/  client: /' /tmp/x-client.out | head -n 60
		echo "  rvt0 counters: $(remote rdma statistic show link rvt0/1)"
	fi
}

step "ibv_*_pingpong"
both "rc_pingpong IPv4" "ibv_rc_pingpong -d @DEV -g @G4 -n 100" "ibv_rc_pingpong -d @DEV -g @G4 -n 100 @PEER"
both "rc_pingpong IPv6 64 KiB" "ibv_rc_pingpong -d @DEV -g @G6 -n 20 -s 65536" "ibv_rc_pingpong -d @DEV -g @G6 -n 20 -s 65536 @PEER"
both "uc_pingpong IPv4" "ibv_uc_pingpong -d @DEV -g @G4 -n 100" "ibv_uc_pingpong -d @DEV -g @G4 -n 100 @PEER"
both "uc_pingpong IPv6" "ibv_uc_pingpong -d @DEV -g @G6 -n 50" "ibv_uc_pingpong -d @DEV -g @G6 -n 50 @PEER"
both "ud_pingpong IPv4" "ibv_ud_pingpong -d @DEV -g @G4 -n 50 -s 1024" "ibv_ud_pingpong -d @DEV -g @G4 -n 50 -s 1024 @PEER"
both "ud_pingpong IPv6" "ibv_ud_pingpong -d @DEV -g @G6 -n 100 -s 1024" "ibv_ud_pingpong -d @DEV -g @G6 -n 100 -s 1024 @PEER"
both "srq_pingpong IPv4" "ibv_srq_pingpong -d @DEV -g @G4 -n 50" "ibv_srq_pingpong -d @DEV -g @G4 -n 50 @PEER"
both "srq_pingpong IPv6" "ibv_srq_pingpong -d @DEV -g @G6 -n 20" "ibv_srq_pingpong -d @DEV -g @G6 -n 20 @PEER"
step "rdma_cm"
both "rping -V IPv4" "rping -s -a @PEER -C 50 -V" "rping -c -a @PEER -C 50 -V"
both "rping -V IPv6" "rping -s -a @PEER6 -C 20 -V -S 4096" "rping -c -a @PEER6 -C 20 -V -S 4096"
both "ucmatose" "ucmatose -c 2 -C 50" "ucmatose -s @PEER -c 2 -C 50"
step "perftest"
both "ib_write_bw" "ib_write_bw -F -d @DEV -x @G4 -n 100 -s 65536" "ib_write_bw -F -d @DEV -x @G4 -n 100 -s 65536 @PEER"
both "ib_read_bw" "ib_read_bw -F -d @DEV -x @G4 -n 20 -s 1048576" "ib_read_bw -F -d @DEV -x @G4 -n 20 -s 1048576 @PEER"
both "ib_send_bw -q 4" "ib_send_bw -F -d @DEV -x @G4 -n 50 -s 4096 -q 4" "ib_send_bw -F -d @DEV -x @G4 -n 50 -s 4096 -q 4 @PEER"
both "ib_atomic_bw" "ib_atomic_bw -F -d @DEV -x @G4 -n 100" "ib_atomic_bw -F -d @DEV -x @G4 -n 100 @PEER"
both "ib_send_bw UD" "ib_send_bw -F -d @DEV -x @G4 -n 100 -s 1024 -c UD" "ib_send_bw -F -d @DEV -x @G4 -n 100 -s 1024 -c UD @PEER"
# Posted in lists of 16: rvt's requester then asks for an ACK only every
# 16 packets and at the end of the queue (rdma_rxe acknowledges only those).
both "ib_write_bw -l 16" "ib_write_bw -F -d @DEV -x @G4 -n 320 -s 64 -l 16" "ib_write_bw -F -d @DEV -x @G4 -n 320 -s 64 -l 16 @PEER"
both "ib_write_bw UC" "ib_write_bw -F -d @DEV -x @G4 -n 100 -s 4096 -c UC" "ib_write_bw -F -d @DEV -x @G4 -n 100 -s 4096 -c UC @PEER"
both "ib_write_bw -R" "ib_write_bw -F -d @DEV -R -n 100 -s 65536" "ib_write_bw -F -d @DEV -R -n 100 -s 65536 @PEER"
both "ib_send_lat" "ib_send_lat -F -d @DEV -x @G4 -n 100 -s 64" "ib_send_lat -F -d @DEV -x @G4 -n 100 -s 64 @PEER"
both "ib_read_lat" "ib_read_lat -F -d @DEV -x @G4 -n 100 -s 64" "ib_read_lat -F -d @DEV -x @G4 -n 100 -s 64 @PEER"
both "ib_atomic_lat" "ib_atomic_lat -F -d @DEV -x @G4 -n 100" "ib_atomic_lat -F -d @DEV -x @G4 -n 100 @PEER"
$agent quit 10.10.0.1 $port >/dev/null
finish
