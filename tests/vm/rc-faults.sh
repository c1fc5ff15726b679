# Scenario: RC over a lossy, reordering and congested link (tc netem on the
# veth ends). The transport must retransmit on its ACK timer, NAK what is out
# of sequence, drop duplicates, and retry a busy device at once rather than
# wait for the ACK timeout.
. /mnt/tests/vm/lib.sh
setup_rvt_pair

step "2% loss each way (of requests and responses; never of ACKs)"
# (netem_except_acks: lib.sh says why ACKs are spared.)
netem_except_acks n0 va loss 2% || fail "tc on va"
netem_except_acks n1 vb loss 2% || fail "tc on vb"
t0=$(counter rvt0 retransmit_timeouts); t1=$(counter rvt1 retransmit_timeouts)
pingpong "rc, 2% loss" ibv_rc_pingpong "-g $v4_0 -s 4096 -n 300 -e" "-g $v4_1 -s 4096 -n 300 -e"
timeouts=$(( $(counter rvt0 retransmit_timeouts) - t0 + $(counter rvt1 retransmit_timeouts) - t1 ))
[ "$timeouts" -gt 0 ] && pass "the ACK timer retransmitted ($timeouts timeouts)" || fail "no retransmit timeout under loss"
oos=$(( $(counter rvt0 rx_out_of_sequence) + $(counter rvt1 rx_out_of_sequence) ))
[ "$oos" -gt 0 ] && pass "gaps seen as out of sequence ($oos)" || fail "no out-of-sequence packet under loss"
naks=$(( $(counter rvt0 rx_seq_naks_sent) + $(counter rvt1 rx_seq_naks_sent) ))
got=$(( $(counter rvt0 rx_seq_naks_received) + $(counter rvt1 rx_seq_naks_received) ))
[ "$naks" -gt 0 ] && [ "$got" -gt 0 ] && pass "sequence NAKs: $naks sent, $got received and acted on" ||
	fail "sequence NAKs: $naks sent, $got received"
acks=$(ip netns exec n1 tc -s class show dev vb | sed -n '/class prio 1:1 /,/Sent/s/.* \([0-9]*\) pkt.*/\1/p' | head -n1)
[ "${acks:-0}" -gt 0 ] && pass "ACKs went around the loss ($acks from vb)" || fail "no ACK took the lossless band"

step "reordering"
ip netns exec n0 tc qdisc del dev va root
ip netns exec n1 tc qdisc del dev vb root
ip netns exec n0 tc qdisc add dev va root netem delay 4ms reorder 20% gap 3
ip netns exec n1 tc qdisc add dev vb root netem delay 4ms reorder 20% gap 3
pingpong "rc, reordered packets" ibv_rc_pingpong "-g $v4_0 -s 16384 -n 100 -e" "-g $v4_1 -s 16384 -n 100 -e"

step "a congested device: back-pressure"
ip netns exec n0 tc qdisc replace dev va root netem delay 1ms limit 4
ip netns exec n1 tc qdisc del dev vb root
t0=$(counter rvt0 retransmit_timeouts)
b0=$(counter rvt0 tx_busy)
pingpong "rc, 64 KiB bursts into a 4-packet queue" ibv_rc_pingpong "-g $v4_0 -s 65536 -n 50 -e" "-g $v4_1 -s 65536 -n 50 -e"
busy=$(( $(counter rvt0 tx_busy) - b0 ))
[ "$busy" -gt 0 ] && pass "the device was busy $busy times, and rvt retried" || fail "tx_busy did not move"
[ "$(counter rvt0 retransmit_timeouts)" = "$t0" ] && pass "no ACK timeout: back-pressure was retried by the transport" ||
	fail "back-pressure waited for the ACK timeout ($(( $(counter rvt0 retransmit_timeouts) - t0 )) timeouts)"
rdma statistic show link rvt0/1
rdma statistic show link rvt1/1
finish
