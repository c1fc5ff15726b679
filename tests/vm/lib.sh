# Helpers for the scenarios run inside the test VM (sourced; POSIX sh).
# shellcheck shell=sh

failures=0
step() { echo "--- $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }

# expect_ok DESCRIPTION CMD...: CMD must succeed (the status says whether
# it did).
expect_ok() {
	d=$1; shift
	if out=$("$@" 2>&1); then pass "$d"; else fail "$d: '$*' failed: $out"; return 1; fi
}

# poll TRIES CMD...: CMD every 0.1 s until it succeeds (status 0, its
# output printed), at most TRIES times (status 1).
poll() {
	poll_left=$1
	shift
	while [ "$poll_left" -gt 0 ]; do
		"$@" && return 0
		poll_left=$((poll_left - 1))
		[ "$poll_left" = 0 ] || sleep 0.1
	done
	return 1
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
wait_gid() { poll 50 gid_index "$1" "$2"; }

# The port state ibv_devinfo shows for a device (PORT_ACTIVE, PORT_DOWN...).
port_state() {
	ibv_devinfo -d "$1" | sed -n 's/.*state:[[:space:]]*\(PORT_[A-Z]*\).*/\1/p' | head -n1
}

# Wait up to 5 s for a device's port to reach a state.
wait_port_state() { poll 50 port_is "$1" "$2"; }
port_is() { [ "$(port_state "$1")" = "$2" ]; }

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

# Two VMs (tests/vm2): this node's eth0 gets 10.10.0.$me/24 (me is
# RVT_NODE + 1, peer the other node's number), up once the peer answers.
socket_link_up() {
	me=$((RVT_NODE + 1))
	peer=$((2 - RVT_NODE))
	ip link set eth0 up
	ip addr add 10.10.0.$me/24 dev eth0
	poll 60 ping -c1 -W1 10.10.0.$peer >/dev/null 2>&1
}

# Kernel ULPs (tests/vm2): their rdma_cm IDs live in the initial network
# namespace, so initiator and target are the two VMs, not two namespaces.
# Node 0 is the target and node 1 the initiator, which drives both.

# ulp_nodes_up: the socket link and rvt on eth0 on both nodes; node 0 then
# runs node 1's commands (on_target) until node 1 is done (ulp_nodes_done),
# and exits with its own result.
ulp_nodes_up() {
	socket_link_up
	expect_ok "rvt$RVT_NODE on eth0" rdma_link_on_eth0 rvt
	[ "$RVT_NODE" = 0 ] || return 0
	python3 /mnt/tests/vm/py/agent.py serve 7000
	finish
	exit $?
}

# on_target CMD: CMD on node 0, with these helpers; its output and status.
on_target() { python3 /mnt/tests/vm/py/agent.py run 10.10.0.1 7000 ". /mnt/tests/vm/lib.sh; $*"; }

# ulp_pairings ULP EXPORT UNEXPORT TARGET/INITIATOR...: for each pairing
# of drivers given (rvt, rxe or siw), node 0 on the TARGET driver runs
# EXPORT (a helper here, with its arguments), node 1 on the INITIATOR
# driver runs the scenario's `exercise NAME`, then node 0 runs UNEXPORT.
ulp_pairings() {
	ulp=$1 ulp_export=$2 ulp_unexport=$3
	shift 3
	for pair in "$@"; do
		pn="$ulp $pair"
		step "$pn (target/initiator)"
		if expect_ok "$pn: node 0 on ${pair%/*}" on_target rdma_link_on_eth0 "${pair%/*}" &&
			expect_ok "$pn: node 1 on ${pair#*/}" rdma_link_on_eth0 "${pair#*/}" &&
			expect_ok "$pn: $ulp_export on node 0" on_target "$ulp_export"; then
			exercise "$pn"
			expect_ok "$pn: $ulp_unexport on node 0" on_target "$ulp_unexport"
		fi
	done
}

ulp_nodes_done() {
	python3 /mnt/tests/vm/py/agent.py quit 10.10.0.1 7000 >/dev/null
	finish
}

# rdma_link_on_eth0 DRIVER: an RDMA device of DRIVER (rvt, rxe or siw) named
# DRIVER$RVT_NODE on eth0, in place of whichever this node had (rvt_roce and
# rdma_rxe both own UDP port 4791: only one of them can be loaded).
rdma_link_on_eth0() {
	for d in rvt rxe siw; do
		rdma link delete "$d$RVT_NODE" 2>/dev/null
	done
	# rvt refuses to share a kernel with rdma_rxe (rvt/rxe_guard.rs).
	rmmod rvt_roce rdma_rxe 2>/dev/null
	case $1 in
	rxe) rmmod rvt 2>/dev/null; modprobe rdma_rxe ;;
	siw) modprobe siw ;;
	esac
	rdma link add "$1$RVT_NODE" type "$1" netdev eth0 &&
		wait_port_state "$1$RVT_NODE" PORT_ACTIVE
}

# configfs_up: configfs mounted (nvmet and LIO are configured through it).
configfs_up() { mountpoint -q /sys/kernel/config || mount -t configfs configfs /sys/kernel/config; }

nvme_nqn=nqn.2026-12.org.rvt:ulp
nvme_hostnqn=nqn.2026-12.org.rvt:host$RVT_NODE
nvmet=/sys/kernel/config/nvmet

# nvmet_export ADDR: an NVMe-oF RDMA target on ADDR port 4420 with subsystem
# $nvme_nqn: namespace 1 a memory-backed null_blk, namespace 2 a 64 MiB file
# on tmpfs (/tmp/nvmet-ns2.img, which the initiator's writes reach).
nvmet_export() {
	configfs_up
	modprobe null_blk nr_devices=1 gb=1 memory_backed=1 &&
		modprobe nvmet_rdma || return 1
	s=$nvmet/subsystems/$nvme_nqn
	mkdir "$s" && echo 1 >"$s/attr_allow_any_host" || return 1
	[ -e /tmp/nvmet-ns2.img ] || truncate -s 64M /tmp/nvmet-ns2.img
	for ns in 1:/dev/nullb0 2:/tmp/nvmet-ns2.img; do
		# buffered_io: tmpfs has no O_DIRECT.
		mkdir "$s/namespaces/${ns%%:*}" &&
			echo "${ns#*:}" >"$s/namespaces/${ns%%:*}/device_path" &&
			echo 1 >"$s/namespaces/${ns%%:*}/buffered_io" &&
			echo 1 >"$s/namespaces/${ns%%:*}/enable" || return 1
	done
	nvmet_port_add "$1"
}

# nvmet_port_add ADDR / nvmet_port_remove: the target's RDMA port 1 on
# ADDR:4420, linked to $nvme_nqn; removing it disconnects every host.
nvmet_port_add() {
	p=$nvmet/ports/1
	mkdir "$p" && echo rdma >"$p/addr_trtype" && echo ipv4 >"$p/addr_adrfam" &&
		echo "$1" >"$p/addr_traddr" && echo 4420 >"$p/addr_trsvcid" &&
		ln -s "$nvmet/subsystems/$nvme_nqn" "$p/subsystems/$nvme_nqn"
}
nvmet_port_remove() {
	rm -f "$nvmet/ports/1/subsystems/$nvme_nqn" && rmdir "$nvmet/ports/1"
}

# nvmet_unexport: everything nvmet_export made is gone and the modules
# unloaded (which fails while any controller is left).
nvmet_unexport() {
	[ -d $nvmet/ports/1 ] && nvmet_port_remove
	s=$nvmet/subsystems/$nvme_nqn
	for ns in 1 2; do
		[ -d "$s/namespaces/$ns" ] && echo 0 >"$s/namespaces/$ns/enable" && rmdir "$s/namespaces/$ns"
	done
	rmdir "$s" && rmmod nvmet_rdma nvmet null_blk
}

# nvme_ctrl_dev: the /dev name of the controller connected to $nvme_nqn
# (nvme0...), empty if none.
nvme_ctrl_dev() {
	for c in /sys/class/nvme/nvme*; do
		[ "$(cat "$c/subsysnqn" 2>/dev/null)" = "$nvme_nqn" ] && basename "$c" && return 0
	done
	return 1
}

# nvme_ns_dev NSID: the block device of namespace NSID of $nvme_nqn once the
# host has scanned it (up to 10 s), e.g. nvme0n1: by its nsid attribute, not
# its name (namespaces are named in the order the scan found them). Its
# sysfs device is the subsystem, or the controller without native
# multipath: both have subsysnqn.
nvme_ns_dev() { poll 100 nvme_ns_find "$1"; }
nvme_ns_find() {
	for b in /dev/nvme[0-9]*n[0-9]*; do
		b=${b#/dev/}
		[ "$(cat "/sys/block/$b/device/subsysnqn" 2>/dev/null)" = "$nvme_nqn" ] &&
			[ "$(cat "/sys/block/$b/nsid" 2>/dev/null)" = "$1" ] && echo "$b" && return 0
	done
	return 1
}

# fio_verify NAME DEV SIZE [FIO_ARGS...]: random writes of 4 KiB to 1 MiB
# blocks at queue depth 32 over SIZE of DEV, by two jobs on disjoint halves,
# each then reading its blocks back and checking their CRC32C.
fio_verify() {
	fv_name=$1 fv_dev=$2 fv_size=$3
	shift 3
	if fv_out=$(fio --name=verify --filename="$fv_dev" --ioengine=libaio --direct=1 --rw=randwrite \
		--bsrange=4k-1m --iodepth=32 --numjobs=2 --size="$fv_size" --offset_increment="$fv_size" \
		--verify=crc32c --verify_fatal=1 --group_reporting --output-format=terse --terse-version=3 "$@" 2>&1); then
		pass "$fv_name: fio verify $fv_size x 2 on $fv_dev"
	else
		fail "$fv_name: fio verify on $fv_dev: $fv_out"
	fi
}

iser_iqn=iqn.2026-12.org.rvt:ulp

lio=/sys/kernel/config/target

# lio_iser_export ADDR: an iSCSI target (LIO, through its configfs, as
# targetcli does) with one 64 MiB ramdisk LUN behind an iSER portal on
# ADDR:3260, open to any initiator without authentication.
lio_iser_export() {
	configfs_up
	modprobe ib_isert || return 1
	t=$lio/iscsi/$iser_iqn/tpgt_1
	mkdir -p $lio/core/rd_mcp_0/rd0 && echo rd_pages=16384 >$lio/core/rd_mcp_0/rd0/control &&
		echo 1 >$lio/core/rd_mcp_0/rd0/enable &&
		mkdir -p $t/lun/lun_0 && ln -s $lio/core/rd_mcp_0/rd0 $t/lun/lun_0/rd0 &&
		mkdir "$t/np/$1:3260" && echo 1 >"$t/np/$1:3260/iser" || return 1
	for a in authentication=0 generate_node_acls=1 demo_mode_write_protect=0 cache_dynamic_acls=1; do
		echo "${a#*=}" >"$t/attrib/${a%=*}" || return 1
	done
	echo 1 >$t/enable
}

# lio_iser_unexport: the target and its ramdisk gone, the iSER and iSCSI
# target modules unloaded (which fails while a session is left).
lio_iser_unexport() {
	t=$lio/iscsi/$iser_iqn/tpgt_1
	echo 0 >$t/enable
	rm -f $t/lun/lun_0/rd0
	# The fabric's own directory pins iscsi_target_mod.
	rmdir $t/lun/lun_0 $t/np/* $t $lio/iscsi/$iser_iqn $lio/iscsi \
		$lio/core/rd_mcp_0/rd0 $lio/core/rd_mcp_0 &&
		rmmod ib_isert iscsi_target_mod
}

# iser_initiator_up: open-iscsi's iscsid running with the iser transport;
# its node database (/etc/iscsi, read-only in the VM) on a tmpfs copy.
iser_initiator_up() {
	if ! mountpoint -q /etc/iscsi; then
		cp -a /etc/iscsi /tmp/etc-iscsi && mount -t tmpfs tmpfs /etc/iscsi &&
			cp -a /tmp/etc-iscsi/. /etc/iscsi/ || return 1
	fi
	mkdir -p /run/lock/iscsi
	# No udev in the VM: the disk driver is loaded by hand.
	modprobe sd_mod && modprobe ib_iser && { pidof iscsid >/dev/null || iscsid </dev/null >/dev/null 2>&1; }
}

# iser_disk: the SCSI disk of the logged-in session to $iser_iqn (sda...),
# once the LUN has been scanned (up to 10 s).
iser_disk() { poll 100 iser_disk_find; }
iser_disk_find() {
	for s in /sys/class/iscsi_session/session*; do
		[ "$(cat "$s/targetname" 2>/dev/null)" = "$iser_iqn" ] || continue
		for b in "$s"/device/target*/*/block/*; do
			[ -e "$b" ] && basename "$b" && return 0
		done
	done
	return 1
}

nfs_export_dir=/tmp/nfs-export

# nfs_rdma_export: nfsd exporting $nfs_export_dir (a tmpfs directory) to
# 10.10.0.0/24 over TCP 2049 and RDMA 20049 (NFSv3: no NFSv4 grace period
# to wait out); rpcbind and mountd for the MOUNT protocol.
nfs_rdma_export() {
	modprobe nfsd && modprobe rpcrdma || return 1
	mountpoint -q /proc/fs/nfsd || mount -t nfsd nfsd /proc/fs/nfsd
	mkdir -p "$nfs_export_dir" /var/lib/nfs /run/rpcbind
	touch /var/lib/nfs/etab /var/lib/nfs/rmtab
	pidof rpcbind >/dev/null || rpcbind </dev/null >/dev/null 2>&1 || return 1
	exportfs -o rw,no_root_squash,insecure,no_subtree_check,fsid=1 "10.10.0.0/24:$nfs_export_dir" &&
		{ pidof rpc.mountd >/dev/null || rpc.mountd -N 4 </dev/null >/dev/null 2>&1; } &&
		rpc.nfsd -N 4 4 && echo "rdma 20049" >/proc/fs/nfsd/portlist &&
		grep -qx "rdma 20049" /proc/fs/nfsd/portlist
}

# nfs_rdma_unexport: nfsd's threads stopped, the export and the daemons
# gone (nfsd stays loaded: it is not unloadable at once).
nfs_rdma_unexport() {
	rpc.nfsd 0 && [ "$(cat /proc/fs/nfsd/threads)" = 0 ] || return 1
	exportfs -ua
	killall rpc.mountd rpcbind 2>/dev/null
	umount /proc/fs/nfsd
}

smb_export_dir=/tmp/smb-export

# smb_direct_export: ksmbd sharing $smb_export_dir as "rvt" to user rvt
# (password rvt), SMB Direct on; its configuration and user database under
# /tmp (/etc is read-only in the VM).
smb_direct_export() {
	modprobe ksmbd || return 1
	# Open to whichever user ksmbd maps the client's to.
	mkdir -p "$smb_export_dir" /tmp/ksmbd && chmod 1777 "$smb_export_dir"
	printf '[global]\n\tserver min protocol = SMB3\n[rvt]\n\tpath = %s\n\tread only = no\n' \
		"$smb_export_dir" >/tmp/ksmbd/ksmbd.conf
	ksmbd.adduser -C /tmp/ksmbd/ksmbd.conf -P /tmp/ksmbd/pwd.db -a -p rvt rvt >/dev/null &&
		ksmbd.mountd -C /tmp/ksmbd/ksmbd.conf -P /tmp/ksmbd/pwd.db </dev/null >/dev/null 2>&1
}

# smb_direct_unexport: ksmbd stopped and unloaded.
smb_direct_unexport() {
	ksmbd.control -s >/dev/null 2>&1
	poll 50 rmmod ksmbd 2>/dev/null
}

# share_exercise NAME MNT SERVER_DIR MOUNT...: MOUNT (of node 0's
# SERVER_DIR on MNT) must work and be over RDMA; then files_roundtrip and
# unmount_in_flight.
share_exercise() {
	se_name=$1 se_mnt=$2 se_dir=$3
	shift 3
	expect_ok "$se_name: mount" "$@" || return 1
	expect_ok "$se_name: the mount is over RDMA" sh -c "grep ' $se_mnt ' /proc/mounts | grep -q rdma"
	files_roundtrip "$se_name" "$se_mnt" "$se_dir"
	unmount_in_flight "$se_name" "$se_mnt"
}

# md5sums of every file under DIR, in one order.
tree_sums() { (cd "$1" && find . -type f | sort | xargs md5sum); }

# files_roundtrip NAME MNT SERVER_DIR: 8 MiB and 200 small files written
# under MNT (this node's mount of node 0's SERVER_DIR), found identical on
# the server, then read back uncached and identical again.
files_roundtrip() {
	if ! err=$(mkdir -p "$2/small" 2>&1 && head -c 8388608 /dev/urandom 2>&1 >"$2/large"); then
		fail "$1: cannot write under $2: $err"
		return 1
	fi
	i=0
	while [ $i -lt 200 ]; do
		head -c $((i * 97 + 1)) /dev/urandom >"$2/small/$i" || break
		i=$((i + 1))
	done
	sync
	sums=$(tree_sums "$2")
	[ "$(echo "$sums" | wc -l)" = 201 ] || { fail "$1: only $i of 200 small files written"; return 1; }
	[ "$sums" = "$(on_target tree_sums "$3")" ] &&
		pass "$1: 8 MiB and 200 small files written, the server has them" ||
		fail "$1: the server's files differ from what the client wrote"
	echo 3 >/proc/sys/vm/drop_caches
	[ "$(tree_sums "$2")" = "$sums" ] && pass "$1: read back uncached, identical" ||
		fail "$1: the files read back differ"
}

# unmount_in_flight NAME MNT: a lazy unmount of MNT while a 16 MiB write
# is in flight; the writer must end (the scenario's timeout catches a hang).
unmount_in_flight() {
	dd if=/dev/urandom of="$2/inflight" bs=1M count=16 status=none &
	dpid=$!
	sleep 1
	expect_ok "$1: lazy unmount with a write in flight" umount -l "$2"
	wait $dpid
	pass "$1: the writer ended (status $?)"
}
