# Helpers for the scenarios run inside the test VM (sourced; POSIX sh).
# shellcheck shell=sh

failures=0
step() { echo "--- $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }

# expect_ok DESCRIPTION CMD...: CMD must succeed.
expect_ok() {
	d=$1; shift
	if out=$("$@" 2>&1); then pass "$d"; else fail "$d: '$*' failed: $out"; fi
}

# expect_fail DESCRIPTION PATTERN CMD...: CMD must fail with output matching PATTERN.
expect_fail() {
	d=$1; pat=$2; shift 2
	if out=$("$@" 2>&1); then
		fail "$d: '$*' succeeded but must fail"
	elif echo "$out" | grep -qiE "$pat"; then
		pass "$d ($(echo "$out" | head -n1))"
	else
		fail "$d: '$*' failed without /$pat/: $out"
	fi
}

# Two nodes in one VM: network namespaces n0 and n1 joined by veth va <-> vb.
setup_veth_pair() {
	ip netns add n0
	ip netns add n1
	ip link add va type veth peer name vb
	ip link set va netns n0
	ip link set vb netns n1
	ip -n n0 addr add 10.9.0.1/24 dev va
	ip -n n1 addr add 10.9.0.2/24 dev vb
	ip -n n0 link set va up
	ip -n n1 link set vb up
	ip -n n0 link set lo up
	ip -n n1 link set lo up
}

# A kernel with kmemleak (the debug profile: KASAN, lockdep), several times
# slower under TCG.
debug_kernel() { [ -e /sys/kernel/debug/kmemleak ]; }

# heavy N M: N iterations, or M on the debug kernel.
heavy() { if debug_kernel; then echo "$2"; else echo "$1"; fi; }

# Two rvt nodes: rvt0 on va in n0, rvt1 on vb in n1, IPv4 and IPv6
# addresses, ports active, GID indices found (find_gids).
setup_rvt_pair() {
	setup_veth_pair
	ip -n n0 addr add fd00::1/64 dev va nodad
	ip -n n1 addr add fd00::2/64 dev vb nodad
	modprobe ib_uverbs
	expect_ok "rdma link add rvt0" ip netns exec n0 rdma link add rvt0 type rvt netdev va
	expect_ok "rdma link add rvt1" ip netns exec n1 rdma link add rvt1 type rvt netdev vb
	wait_port_state rvt0 PORT_ACTIVE && wait_port_state rvt1 PORT_ACTIVE || fail "ports not active"
	find_gids
}

# gid_index DEV PREFIX: the index of the RoCE v2 GID of DEV starting with PREFIX.
# (The shell's own read, not cat: 1024 forks are seconds under TCG.)
gid_index() {
	for f in /sys/class/infiniband/$1/ports/1/gid_attrs/types/*; do
		i=${f##*/}
		t=
		read -r t <"$f" 2>/dev/null
		[ "$t" = "RoCE v2" ] || continue
		read -r g <"/sys/class/infiniband/$1/ports/1/gids/$i"
		case "$g" in
		$2*) echo "$i"; return 0 ;;
		esac
	done
	return 1
}
# find_gids: v4_0 v6_0 v4_1 v6_1, the RoCE v2 GID indices of rvt0 and rvt1
# for their IPv4 (10.9.0.x) and IPv6 (fd00::x) addresses; waits until ib_core
# has added them.
find_gids() {
	i=0
	# IPv6 GIDs only where setup_rvt_pair gave the ends IPv6 addresses.
	v6=
	ip -n n0 -6 addr show dev va 2>/dev/null | grep -q fd00:: && v6=fd00:
	while { ! gid_index rvt0 0000:0000:0000:0000:0000:ffff: || ! gid_index rvt1 0000:0000:0000:0000:0000:ffff: ||
		{ [ -n "$v6" ] && { ! gid_index rvt0 "$v6" || ! gid_index rvt1 "$v6"; }; }; } >/dev/null && [ $i -lt 50 ]; do
		sleep 0.1; i=$((i + 1))
	done
	v4_0=$(gid_index rvt0 0000:0000:0000:0000:0000:ffff:)
	v4_1=$(gid_index rvt1 0000:0000:0000:0000:0000:ffff:)
	v6_0=$(gid_index rvt0 fd00:)
	v6_1=$(gid_index rvt1 fd00:)
	echo "GID indices: rvt0 v4 $v4_0 v6 $v6_0, rvt1 v4 $v4_1 v6 $v6_1"
}

# counter DEV NAME: a port counter of DEV (rdma statistic).
counter() { rdma statistic show link "$1"/1 | tr ' ' '\n' | grep -A1 "^$2\$" | tail -n1; }

# connect_client SERVER_PID OUT CMD...: runs a client CMD (output to OUT)
# once its server (SERVER_PID, started just before) has had a moment, and
# again, up to 5 tries, while it failed only because nobody listened yet
# and the server still waits: servers start slowly under TCG (rdma_cm's
# reject "error: 8" is IB_CM_REJ_INVALID_SERVICE_ID, no listener; perftest
# with -R says "Unexpected CM event bl blka 8", RDMA_CM_EVENT_REJECTED).
connect_client() {
	spid=$1 out=$2; shift 2
	for try in 1 2 3 4 5; do
		sleep 1
		"$@" >"$out" 2>&1 && return 0
		st=$?
		grep -qE "Couldn't connect|Unable to connect|Connection refused|REJECTED|rdma_connect|connect error|Unexpected CM event bl blka 8$" "$out" &&
			kill -0 "$spid" 2>/dev/null || return $st
		echo "  (client try $try: the server was not listening yet)"
	done
	return $st
}

# pingpong_between NAME TOOL SERVER_NS SERVER_DEV SERVER_ARGS CLIENT_NS
# CLIENT_DEV CLIENT_ARGS ADDR: the server first, then the client connecting
# to ADDR; both must exit 0 (the status says whether they did).
pingpong_between() {
	name=$1; tool=$2
	ip netns exec "$3" timeout ${PP_TIMEOUT:-60} $tool -d "$4" $5 >/tmp/pp-server.out 2>&1 &
	spid=$!
	connect_client $spid /tmp/pp-client.out ip netns exec "$6" timeout ${PP_TIMEOUT:-60} $tool -d "$7" $8 "$9"
	crc=$?
	wait $spid
	src=$?
	if [ $crc = 0 ] && [ $src = 0 ]; then
		pass "$name: $(grep -h 'iters in' /tmp/pp-client.out | head -n1)"
	else
		fail "$name: client exit $crc, server exit $src"
		sed 's/^/  server: /' /tmp/pp-server.out
		sed 's/^/  client: /' /tmp/pp-client.out
		return 1
	fi
}

# pingpong NAME TOOL SERVER_ARGS CLIENT_ARGS: server on rvt0 in n0, client on
# rvt1 in n1.
pingpong() { pingpong_between "$1" "$2" n0 rvt0 "$3" n1 rvt1 "$4" 10.9.0.1; }

# pingpongs_start: verified ibv_rc_pingpong runs (4 KiB, 100 iterations,
# -c checks the data) between rvt0 and rvt1, one after the other, in the
# background until pingpongs_stop, which passes if every one passed.
pingpongs_start() {
	rm -f /tmp/pingpongs.stop /tmp/pingpongs.failed
	(
		n=0
		while [ ! -e /tmp/pingpongs.stop ]; do
			pingpong "rc pingpong $n alongside" ibv_rc_pingpong "-g $v4_0 -s 4096 -n 100 -c" \
				"-g $v4_1 -s 4096 -n 100 -c" >/tmp/pingpongs.last 2>&1 ||
				{ touch /tmp/pingpongs.failed; cat /tmp/pingpongs.last; }
			n=$((n + 1))
		done
		echo "$n" >/tmp/pingpongs.count
	) &
	pingpongs_pid=$!
}
pingpongs_stop() {
	touch /tmp/pingpongs.stop
	wait "$pingpongs_pid"
	n=$(cat /tmp/pingpongs.count)
	[ ! -e /tmp/pingpongs.failed ] && [ "$n" -ge 1 ] && pass "$n verified pingpongs ran alongside" ||
		fail "a pingpong alongside failed (of $n)"
}

# netem_except_acks NS DEV NETEM_ARGS...: tc netem with NETEM_ARGS on every
# packet DEV sends but ACKs and NAKs (BTH opcode 0x11, the first byte after
# the IPv4 and UDP headers), which a prio qdisc sends around the netem
# band. The tools exit once their own messages are done: an ACK lost after
# that can never be recovered (its QP is gone), and the peer's last SEND
# then fails with a retry-exceeded error, rightly.
netem_except_acks() {
	ns=$1 dev=$2
	shift 2
	ip netns exec "$ns" tc qdisc add dev "$dev" root handle 1: prio bands 3 \
		priomap 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 &&
		ip netns exec "$ns" tc qdisc add dev "$dev" parent 1:2 handle 20: netem "$@" &&
		ip netns exec "$ns" tc filter add dev "$dev" parent 1: protocol ip prio 1 u32 \
			match ip protocol 17 0xff match u8 0x11 0xff at 28 flowid 1:1
}

# perf NAME TOOL ARGS: a perftest TOOL ARGS on both ends (with the IPv4 GID
# unless ARGS use rdma_cm), rvt1 in n1 serving and rvt0 in n0 connecting to
# 10.9.0.2; both must exit 0 (within PERF_TIMEOUT seconds, 60) and the
# client must print a result row (#bytes #iterations figures...).
perf() {
	name=$1; tool=$2; args=$3
	gs=; gc=
	case " $args " in *" -R "*) ;; *) gs="-x $v4_1"; gc="-x $v4_0" ;; esac
	ip netns exec n1 timeout ${PERF_TIMEOUT:-60} $tool -d rvt1 $gs $args >/tmp/perf-server.out 2>&1 &
	spid=$!
	connect_client $spid /tmp/perf-client.out ip netns exec n0 timeout ${PERF_TIMEOUT:-60} $tool -d rvt0 $gc $args 10.9.0.2
	crc=$?
	wait $spid
	src=$?
	row=$(grep -E '^ *[0-9]+ +[0-9]+ +[0-9.]+ +[0-9.]+' /tmp/perf-client.out | tail -n1 | tr -s ' ')
	if [ $crc = 0 ] && [ $src = 0 ] && [ -n "$row" ]; then
		pass "$name:$row"
	else
		fail "$name: client exit $crc, server exit $src"
		sed 's/^/  server: /' /tmp/perf-server.out
		sed 's/^/  client: /' /tmp/perf-client.out
	fi
}

# wait_gid DEV PREFIX: the GID index of DEV starting with PREFIX, once ib_core
# has added it (up to 5 s).
wait_gid() {
	i=0
	while ! gid_index "$1" "$2" >/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	gid_index "$1" "$2"
}

# The port state ibv_devinfo shows for a device (PORT_ACTIVE, PORT_DOWN...).
port_state() {
	ibv_devinfo -d "$1" | sed -n 's/.*state:[[:space:]]*\(PORT_[A-Z]*\).*/\1/p' | head -n1
}

# Wait up to 5 s for a device's port to reach a state.
wait_port_state() {
	i=0
	while [ "$(port_state "$1")" != "$2" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	[ "$(port_state "$1")" = "$2" ]
}

# The kernel log must hold no warning, bug, oops or leak report.
check_kernel_log() {
	if dmesg | grep -E 'WARNING:|BUG:|Oops|Call Trace|kmemleak: [0-9]+ new|UBSAN|KASAN|refcount_t:|rust_panic|panicked at'; then
		fail "kernel log has warnings (above)"
	else
		pass "kernel log clean"
	fi
}

# Scan for leaks when the kernel has kmemleak (the debug profile).
check_kmemleak() {
	[ -w /sys/kernel/debug/kmemleak ] || return 0
	echo scan >/sys/kernel/debug/kmemleak
	sleep 1
	echo scan >/sys/kernel/debug/kmemleak
	leaks=$(cat /sys/kernel/debug/kmemleak)
	if [ -n "$leaks" ]; then
		echo "$leaks" | head -n 40
		fail "kmemleak found leaks"
	else
		pass "kmemleak: no leaks"
	fi
}

finish() {
	check_kernel_log
	check_kmemleak
	echo "scenario: $failures failed"
	[ "$failures" = 0 ]
}
