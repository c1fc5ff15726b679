# Scenario: hostile packets from the wire (issue 9). While verified RC
# pingpongs run between rvt0 and rvt1, a raw socket in n1 sends about 3000
# malformed, mutated and ill-addressed RoCEv2 packets at rvt0's victim QPs
# (tests/vm/py/wire_inject.py lists the classes). The pingpongs complete
# with their data checked, every packet is counted by what became of it,
# rping -V still works afterwards, and the kernel logs nothing.
#
#   wire-inject.sh [SCALE [SEED]]   SCALE multiplies the packet count (1;
#                                   make soak runs more), SEED picks them
. /mnt/tests/vm/lib.sh
scale=${1:-1}
seed=${2:-1}
setup_rvt_pair

# delta NAME [DEV]: how much DEV's (rvt0's) counter NAME grew since the
# snapshot.
snapshot() {
	for d in rvt0 rvt1; do rdma statistic show link $d/1 | tr ' ' '\n' >/tmp/counters.$d; done
}
delta() { echo $(($(counter "${2:-rvt0}" "$1") - $(grep -A1 "^$1\$" /tmp/counters.${2:-rvt0} | tail -n1))); }

step "verified pingpongs while packets are injected"
pingpongs_start
snapshot
ip netns exec n0 python3 /mnt/tests/vm/py/wire_inject.py rvt0 "$v4_0" rvt1 "$v4_1" n1 10.9.0.2 10.9.0.1 \
	"$scale" "$seed" >/tmp/inject.out 2>&1
irc=$?
pingpongs_stop
cat /tmp/inject.out
[ $irc = 0 ] && pass "injector finished; the victims answered every verbs call" || fail "injector exit $irc"
total=$(sed -n 's/^total: //p' /tmp/inject.out)

step "every packet counted, the drops by reason"
rdma statistic show link rvt0/1
# rvt0 receives what rvt1 sends (the pingpongs) and what was injected; the
# victims answer rvt1 only. So the injected packets rvt0 counted are its
# rx_packets less rvt1's tx_packets: all of them, or nearly (the veth may
# drop some when its ring is full; nothing else adds any).
seen=$(($(delta rx_packets) - $(delta tx_packets rvt1)))
[ -n "$total" ] && [ "$seen" -le "$total" ] && [ "$seen" -ge $((total * 98 / 100)) ] &&
	pass "rvt0 counted $seen of the $total packets injected" ||
	fail "rvt0 counted $seen packets besides rvt1's, $total injected"
[ "$(delta rx_icrc_errors)" -ge "$(sed -n 's/^class bad_icrc: \([0-9]*\).*/\1/p' /tmp/inject.out)" ] &&
	pass "every flipped bit failed the ICRC" || fail "rx_icrc_errors below the bad_icrc class"
for c in rx_icrc_errors rx_malformed rx_no_qp rx_qp_not_ready rx_drop_key rx_drop_length rx_drop_opcode \
	rx_drop_access rx_drop_response rx_duplicates rx_out_of_sequence rx_seq_naks_sent; do
	d=$(delta $c)
	[ "$d" -gt 0 ] && pass "$c +$d" || fail "$c did not grow"
done

step "the device still works"
ip netns exec n0 rping -s -a 10.9.0.1 -C 5 -V >/tmp/rping-server.out 2>&1 &
server=$!
connect_client $server /tmp/rping-client.out ip netns exec n1 timeout 60 rping -c -a 10.9.0.1 -C 5 -V &&
	wait $server && pass "rping -V" || { fail "rping -V"; cat /tmp/rping-server.out /tmp/rping-client.out; }
[ -z "$(rdma resource show qp 2>/dev/null | grep -E 'rvt[01]' | grep -v 'type GSI')" ] && pass "no QP left" ||
	fail "QPs left: $(rdma resource show qp)"
finish
