# make bench, inside one VM: the same matrix over rvt, rdma_rxe and siw, one
# driver after the other on one veth pair (n0 <-> n1), unloading each before
# the next. Prints "BENCH DRIVER KEY VALUE UNIT" lines for scripts/bench.
#
#   run.sh bw    bandwidth, message rates, QP scaling, setup cost (run under
#                --icount: guest time is instruction count), the median of
#                RUNS runs (run.sh bw RUNS; 3)
#   run.sh lat   ibv_rc_pingpong latency, median of 5 (multi-threaded TCG)
. /mnt/tests/vm/lib.sh
mode=${1:-bw}
setup_veth_pair
# veth in NAPI mode (GRO on the receiving end, no TSO on the sending one):
# each end's packets then wait in one ring, in order, as in a NIC's queue.
# Otherwise veth hands them to netif_rx, whose per-CPU backlogs reorder the
# packets of a QP that transmits from two CPUs (a doorbell on one, an ACK
# arriving on the other), and RC goes back N on every inversion. The
# write_bw_64k_backlog row measures that default mode.
napi() {
	ip netns exec n0 ethtool -K va gro $1 tso $2
	ip netns exec n1 ethtool -K vb gro $1 tso $2
}
napi on off
modprobe ib_uverbs
modprobe rdma_ucm
echo "clocksource: $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"

# up DRIVER: load it and put dev0 on va (n0) and dev1 on vb (n1).
up() {
	case $1 in
	rvt) modprobe rvt_roce; type=rvt ;;
	rxe) modprobe rdma_rxe; type=rxe ;;
	siw) modprobe siw; type=siw ;;
	esac
	expect_ok "rdma link add ${1}0" ip netns exec n0 rdma link add ${1}0 type $type netdev va
	expect_ok "rdma link add ${1}1" ip netns exec n1 rdma link add ${1}1 type $type netdev vb
	wait_port_state ${1}0 PORT_ACTIVE && wait_port_state ${1}1 PORT_ACTIVE || fail "$1: ports not active"
	g0=; g1=
	if [ "$1" != siw ]; then
		g0=$(wait_gid ${1}0 0000:0000:0000:0000:0000:ffff:0a09:0001) || fail "$1: no GID for 10.9.0.1"
		g1=$(wait_gid ${1}1 0000:0000:0000:0000:0000:ffff:0a09:0002) || fail "$1: no GID for 10.9.0.2"
	fi
}
down() {
	ip netns exec n0 rdma link delete ${1}0
	ip netns exec n1 rdma link delete ${1}1
	case $1 in
	rvt) rmmod rvt_roce rvt ;;
	rxe) rmmod rdma_rxe ;;
	siw) rmmod siw ;;
	esac
}

# perf DRIVER KEY COLUMN UNIT TOOL ARGS: TOOL ARGS between dev1 (server) and
# dev0, $runs times; prints the median of COLUMN of the client's last
# result row (4: BW average MiB/s, 5: message rate Mpps).
runs=${2:-3}
perf() {
	drv=$1 key=$2 col=$3 unit=$4 tool=$5 args=$6
	if [ "$drv" = siw ]; then c0="-R"; c1="-R"; else c0="-x $g0"; c1="-x $g1"; fi
	got=
	for r in $(seq "$runs"); do
		ip netns exec n1 timeout 300 $tool -F -d ${drv}1 $c1 $args >/tmp/b-server.out 2>&1 &
		spid=$!
		connect_client $spid /tmp/b-client.out ip netns exec n0 timeout 300 $tool -F -d ${drv}0 $c0 $args 10.9.0.2
		wait $spid
		v=$(grep -E '^ *[0-9]+ +[0-9]+ +[0-9.]+ +[0-9.]+' /tmp/b-client.out | tail -n1 | awk -v c=$col '{ print $c }')
		[ -n "$v" ] || tail -n 5 /tmp/b-client.out /tmp/b-server.out
		got="$got ${v:--}"
	done
	echo "runs $drv $key:$got"
	echo "BENCH $drv $key $(median $got) $unit"
}
# median VALUE...: their median, or "-" if one run gave no figure (the
# "runs" line shows which).
median() {
	echo "$@" | tr ' ' '\n' | sort -n |
		awk '!/^[0-9.]+$/ { bad = 1 } { a[NR] = $1 } END { if (bad || !NR) print "-"; else print a[int((NR + 1) / 2)] }'
}

bandwidth() {
	d=$1
	perf $d write_bw_64k 4 MiB/s ib_write_bw "-D 2 -s 65536"
	perf $d write_rate_64 5 Mpps ib_write_bw "-D 2 -s 64"
	perf $d send_bw_4k 4 MiB/s ib_send_bw "-D 2 -s 4096"
	perf $d read_bw_1m 4 MiB/s ib_read_bw "-D 2 -s 1048576"
	perf $d read_bw_4m 4 MiB/s ib_read_bw "-D 2 -s 4194304"
	[ $d != siw ] && perf $d atomic_rate 5 Mpps ib_atomic_bw "-D 2"
	napi off on
	perf $d write_bw_64k_backlog 4 MiB/s ib_write_bw "-D 2 -s 65536"
	napi on off
	for q in 1 4 16 64; do
		perf $d write_bw_64k_q$q 4 MiB/s ib_write_bw "-D 2 -s 65536 -q $q"
	done
	if [ $d != siw ]; then
		# iWARP QPs connect only through rdma_cm: no siw figure.
		if out=$(ip netns exec n0 python3 /mnt/tests/bench/setup_cost.py ${d}0 $g0 ${d}1 $g1 1000 1024 2>&1); then
			echo "$out" | while read -r k v; do echo "BENCH $d $k $v s"; done
		else
			fail "$d: setup_cost.py: $out"
		fi
	fi
}

# latency DRIVER: ibv_rc_pingpong 64 B and 4 KiB, usec/iter, median of 5.
latency() {
	d=$1
	[ $d = siw ] && return 0 # ibv_rc_pingpong needs RoCE GIDs
	for s in 64 4096; do
		lat=
		for r in 1 2 3 4 5; do
			ip netns exec n1 timeout 120 ibv_rc_pingpong -d ${d}1 -g $g1 -s $s -n 1000 >/tmp/b-server.out 2>&1 &
			spid=$!
			connect_client $spid /tmp/b-client.out \
				ip netns exec n0 timeout 120 ibv_rc_pingpong -d ${d}0 -g $g0 -s $s -n 1000 10.9.0.2
			u=$(sed -n 's/.* \([0-9.]*\) usec\/iter.*/\1/p' /tmp/b-client.out)
			wait $spid
			lat="$lat ${u:--}"
		done
		echo "runs $d rc_pingpong_lat_$s:$lat"
		echo "BENCH $d rc_pingpong_lat_$s $(median $lat) usec"
	done
}

# (lib.sh's expect_ok sets d: the loop's variable has another name.)
for driver in rvt rxe siw; do
	echo "--- $driver"
	up $driver
	if [ "$mode" = lat ]; then latency $driver; else bandwidth $driver; fi
	down $driver
done
finish
