# Scenario: RoCEv2 packets from the wire reach rvt through rvt_roce's UDP
# socket, are checked (framing, ICRC with the kernel's crc32_le) and counted
# by what became of them in `rdma statistic`: real rdma_rxe packets replayed
# as captured, one with a flipped bit, one truncated, over IPv4 and IPv6.
. /mnt/tests/vm/lib.sh
setup_veth_pair
ip -n n0 addr add fd00::1/64 dev va nodad
ip -n n1 addr add fd00::2/64 dev vb nodad
modprobe ib_uverbs
expect_ok "rdma link add rvt0" ip netns exec n0 rdma link add rvt0 type rvt netdev va
data=/mnt/rvt/proto/tests/data
# counter NAME: its value on rvt0's port.
counter() {
	rdma statistic show link rvt0/1 | tr ' ' '\n' | awk -v n="$1" 'p { print; exit } $0 == n { p = 1 }'
}
rdma statistic show link rvt0/1
step "captured packets addressed to 10.9.0.1, replayed from the peer"
sent=$(ip netns exec n1 python3 /mnt/tests/vm/py/replay_roce.py 10.9.0.1 $data/rxe-rc-send-v4.pcap $data/rxe-ud-send-v4.pcap $data/rxe-rc-read-v4.pcap)
sleep 0.5
rdma statistic show link rvt0/1
[ "$sent" -gt 10 ] && pass "$sent packets sent" || fail "only $sent packets sent"
[ "$(counter rx_packets)" = "$sent" ] && pass "rx_packets $sent" || fail "rx_packets $(counter rx_packets), sent $sent"
# No QP has their QPNs here: each passed its ICRC check and was dropped for that.
[ "$(counter rx_no_qp)" = "$sent" ] && pass "valid ICRCs, all counted rx_no_qp" || fail "rx_no_qp $(counter rx_no_qp) icrc $(counter rx_icrc_errors) malformed $(counter rx_malformed)"
step "IPv6"
sent6=$(ip netns exec n1 python3 /mnt/tests/vm/py/replay_roce.py fd00::1 $data/rxe-rc-send-v6.pcap)
sleep 0.5
total=$((sent + sent6))
[ "$sent6" -gt 0 ] && [ "$(counter rx_no_qp)" = "$total" ] && pass "$sent6 IPv6 packets, valid ICRCs" || fail "IPv6: sent $sent6, rx_no_qp $(counter rx_no_qp) icrc $(counter rx_icrc_errors)"
step "damaged packets"
ip netns exec n1 python3 /mnt/tests/vm/py/replay_roce.py 10.9.0.1 --corrupt $data/rxe-rc-send-v4.pcap >/dev/null
ip netns exec n1 python3 /mnt/tests/vm/py/replay_roce.py fd00::1 --corrupt $data/rxe-rc-send-v6.pcap >/dev/null
ip netns exec n1 python3 /mnt/tests/vm/py/replay_roce.py 10.9.0.1 --truncate $data/rxe-rc-send-v4.pcap >/dev/null
sleep 0.5
rdma statistic show link rvt0/1
[ "$(counter rx_icrc_errors)" = 2 ] && pass "a flipped bit fails the ICRC (v4 and v6)" || fail "rx_icrc_errors $(counter rx_icrc_errors)"
[ "$(counter rx_malformed)" = 1 ] && pass "a truncated packet is malformed" || fail "rx_malformed $(counter rx_malformed)"
[ "$(counter rx_packets)" = $((total + 3)) ] && pass "every packet counted" || fail "rx_packets $(counter rx_packets)"
step "packets for a QP that exists (QPN 19 of the UD capture) are told apart"
before=$(counter rx_qp_not_ready)
ud=$(ip netns exec n0 python3 -c "
import subprocess
from pyverbs.device import Context; from pyverbs.pd import PD; from pyverbs.cq import CQ
from pyverbs.qp import QP, QPInitAttr, QPCap
import pyverbs.enums as e
ctx = Context(name='rvt0'); pd = PD(ctx); cq = CQ(ctx, 16)
qps = [QP(pd, QPInitAttr(qp_type=e.IBV_QPT_UD, scq=cq, rcq=cq, cap=QPCap())) for _ in range(20)]
assert 19 in [q.qp_num for q in qps], [q.qp_num for q in qps]
print(subprocess.run(['ip', 'netns', 'exec', 'n1', 'python3', '/mnt/tests/vm/py/replay_roce.py',
                      '10.9.0.1', '$data/rxe-ud-send-v4.pcap'], capture_output=True, text=True).stdout.strip())
")
sleep 0.5
[ -n "$ud" ] && [ "$(counter rx_qp_not_ready)" = $((before + ud)) ] && pass "$ud packets for QP 19: rx_qp_not_ready" || fail "QP 19: sent '$ud', rx_qp_not_ready $(counter rx_qp_not_ready)"
total=$((total + 3 + ${ud:-0}))
step "the sockets close with the last device of the namespace"
ip netns exec n0 ss -uln | grep -q ':4791' && pass "port 4791 open in n0" || fail "no socket on 4791 in n0: $(ip netns exec n0 ss -uln)"
expect_ok "rdma link delete rvt0" rdma link delete rvt0
sleep 0.2
ip netns exec n0 ss -uln | grep -q ':4791' && fail "port 4791 still open" || pass "port 4791 closed"
expect_ok "re-create" ip netns exec n0 rdma link add rvt0 type rvt netdev va
ip netns exec n0 ss -uln | grep -q ':4791' && pass "port 4791 open again" || fail "no socket after re-create"
step "the namespace goes with its device"
ip netns del n0
i=0; while ibv_devices | grep -q rvt0 && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
ibv_devices | grep -q rvt0 && fail "rvt0 outlived its namespace" || pass "rvt0 gone with n0"
expect_ok "rmmod rvt_roce" rmmod rvt_roce
expect_ok "rmmod rvt" rmmod rvt
finish
