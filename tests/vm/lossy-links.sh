# Scenario: lossy links (issue 9). tc netem on both veth ends, on every
# packet but ACKs (netem_except_acks): rping -V, a verified 1 MiB RC
# pingpong, a verified SRQ pingpong, ib_write_bw and ib_read_bw of 64 KiB,
# ib_atomic_bw, and tests/vm/py/lossy_ops.py (atomics executed exactly
# once, 256 KiB WRITE and READ checked byte by byte, UC and UD losses cost
# messages, never the QP) must all complete.
#
#   lossy-links.sh [all]   the combination of every impairment (make check),
#                          or each one alone first (make soak)
. /mnt/tests/vm/lib.sh
setup_rvt_pair
settings=combined
[ "${1:-}" = all ] && settings="loss reorder duplicate corrupt delay combined"
netem_of() {
	case $1 in
	loss) echo "loss 5%" ;;
	reorder) echo "delay 2ms reorder 25% 50%" ;;
	duplicate) echo "duplicate 5%" ;;
	corrupt) echo "corrupt 1%" ;;
	delay) echo "delay 10ms 5ms" ;;
	combined) echo "loss 5% duplicate 5% corrupt 1% delay 10ms 5ms reorder 25% 50%" ;;
	esac
}
for s in $settings; do
	step "$s: netem $(netem_of $s)"
	netem_except_acks n0 va $(netem_of $s) || fail "tc on va"
	netem_except_acks n1 vb $(netem_of $s) || fail "tc on vb"
	# 240 s: under the combined setting a slow TCG host has taken over
	# 120 s (rping prints nothing until it fails; 124 is timeout's status).
	ip netns exec n0 timeout 240 rping -s -a 10.9.0.1 -C 10 -S 4096 -V >/tmp/rping-server.out 2>&1 &
	server=$!
	connect_client $server /tmp/rping-client.out ip netns exec n1 timeout 240 rping -c -a 10.9.0.1 -C 10 -S 4096 -V
	crc=$?
	wait $server
	src=$?
	if [ $crc = 0 ] && [ $src = 0 ]; then
		pass "$s: rping -V"
	else
		fail "$s: rping -V: client exit $crc, server exit $src"
		cat /tmp/rping-server.out /tmp/rping-client.out
	fi
	PP_TIMEOUT=120 pingpong "$s: rc pingpong 1 MiB" ibv_rc_pingpong "-g $v4_0 -s 1048576 -n 1 -c" "-g $v4_1 -s 1048576 -n 1 -c"
	PP_TIMEOUT=120 pingpong "$s: srq pingpong" ibv_srq_pingpong "-g $v4_0 -s 4096 -n 50 -c" "-g $v4_1 -s 4096 -n 50 -c"
	PERF_TIMEOUT=120 perf "$s: ib_write_bw 64 KiB" ib_write_bw "-F -n 20 -s 65536"
	PERF_TIMEOUT=120 perf "$s: ib_read_bw 64 KiB" ib_read_bw "-F -n 20 -s 65536"
	PERF_TIMEOUT=120 perf "$s: ib_atomic_bw" ib_atomic_bw "-F -n 100"
	out=$(ip netns exec n0 python3 /mnt/tests/vm/py/lossy_ops.py rvt0 "$v4_0" rvt1 "$v4_1" 100 2>&1)
	rc=$?
	echo "$out" | sed "s/^\(ok\|FAIL\): /\1: $s: /"
	[ $rc = 0 ] || failures=$((failures + 1))
	ip netns exec n0 tc qdisc del dev va root
	ip netns exec n1 tc qdisc del dev vb root
done
step "what the transport did about it"
rdma statistic show link rvt0/1
rdma statistic show link rvt1/1
sum() { echo $(($(counter rvt0 "$1") + $(counter rvt1 "$1"))); }
[ "$(sum retransmit_timeouts)" -gt 0 ] || [ "$(sum rx_seq_naks_received)" -gt 0 ] &&
	pass "losses repaired: $(sum retransmit_timeouts) timeouts, $(sum rx_seq_naks_received) sequence NAKs acted on" ||
	fail "no retransmission under loss"
[ "$(sum rx_duplicates)" -gt 0 ] && pass "duplicates dropped: $(sum rx_duplicates)" || fail "no duplicate seen"
[ "$(sum rx_icrc_errors)" -gt 0 ] && pass "corrupted packets failed the ICRC: $(sum rx_icrc_errors)" ||
	fail "no ICRC error under corruption"
finish
