# Scenario: RoCEv2 over 802.1Q VLAN devices. A VLAN device on top of a
# bound netdev gets GIDs in the rvt device's table (ib_core's
# roce_gid_mgmt), and traffic to those GIDs leaves and arrives tagged (the
# VLAN devices count it); an rvt device can also be bound to a VLAN device
# itself (over its link-local GID). ibv_rc_pingpong and rping (rdma_cm picks the VLAN GID from the
# route) both run over the VLAN.
. /mnt/tests/vm/lib.sh
setup_rvt_pair
modprobe rdma_ucm

# vlan NS LOWER ID ADDR: VLAN device LOWER.ID in NS with ADDR/24.
vlan() {
	ip -n "$1" link add link "$2" name "$2.$3" type vlan id "$3"
	ip -n "$1" addr add "$4/24" dev "$2.$3"
	ip -n "$1" link set "$2.$3" up
}
# rx_packets NS DEV: the packets netdev DEV of NS received.
rx_packets() { ip netns exec "$1" sh -c "read -r n </sys/class/net/$2/statistics/rx_packets; echo \$n"; }

step "GIDs of a VLAN device on the bound netdev"
vlan n0 va 100 10.9.100.1
vlan n1 vb 100 10.9.100.2
# 10.9.100.x as a v4-mapped GID.
g0=$(wait_gid rvt0 0000:0000:0000:0000:0000:ffff:0a09:6401) || fail "no GID for va.100 on rvt0"
g1=$(wait_gid rvt1 0000:0000:0000:0000:0000:ffff:0a09:6402) || fail "no GID for vb.100 on rvt1"
read -r ndev </sys/class/infiniband/rvt0/ports/1/gid_attrs/ndevs/"$g0"
[ "$ndev" = va.100 ] && pass "rvt0 GID $g0 is va.100's" || fail "rvt0 GID $g0 belongs to '$ndev'"

step "ibv_rc_pingpong over VLAN 100"
before=$(rx_packets n1 vb.100)
pingpong "rc over VLAN 100" ibv_rc_pingpong "-g $g0 -n 100" "-g $g1 -n 100"
after=$(rx_packets n1 vb.100)
[ $((after - before)) -ge 100 ] && pass "vb.100 received $((after - before)) packets" ||
	fail "vb.100 received $((after - before)) packets: the traffic did not use the VLAN"
pingpong "ud over VLAN 100" ibv_ud_pingpong "-g $g0 -s 1024 -n 50" "-g $g1 -s 1024 -n 50"

step "rping over VLAN 100 (rdma_cm)"
ip netns exec n0 timeout 120 rping -s -a 10.9.100.1 -C 100 -V >/tmp/rping-s.out 2>&1 &
spid=$!
sleep 1
before=$(rx_packets n0 va.100)
if ip netns exec n1 timeout 120 rping -c -a 10.9.100.1 -C 100 -V >/tmp/rping-c.out 2>&1 && wait $spid; then
	after=$(rx_packets n0 va.100)
	[ $((after - before)) -ge 100 ] && pass "rping -C 100 -V over VLAN 100 ($((after - before)) packets on va.100)" ||
		fail "rping passed but va.100 received $((after - before)) packets"
else
	fail "rping over VLAN 100"
	tail -n 5 /tmp/rping-s.out /tmp/rping-c.out
fi

step "rvt devices bound to VLAN devices"
vlan n0 va 200 10.9.200.1
vlan n1 vb 200 10.9.200.2
expect_ok "rdma link add rvt2 on va.200" ip netns exec n0 rdma link add rvt2 type rvt netdev va.200
expect_ok "rdma link add rvt3 on vb.200" ip netns exec n1 rdma link add rvt3 type rvt netdev vb.200
wait_port_state rvt2 PORT_ACTIVE && wait_port_state rvt3 PORT_ACTIVE || fail "rvt2/rvt3 ports not active"
# ib_core gives a device bound to a VLAN device itself only its default
# (link-local, from the MAC) GIDs: roce_gid_mgmt adds the IP addresses of
# the bound netdev's VLAN uppers, not of the VLAN device's own (rdma_rxe
# alike).
g2=$(wait_gid rvt2 fe80:) || fail "no link-local GID on rvt2"
g3=$(wait_gid rvt3 fe80:) || fail "no link-local GID on rvt3"
# The GIDs are there at once, but ib_core resolves the route to a
# link-local address only once the kernel's own is no longer tentative
# (duplicate address detection, about a second); before that modify to RTR
# fails.
i=0
while ip -n n0 -6 addr show dev va.200 tentative | grep -q inet6 ||
	ip -n n1 -6 addr show dev vb.200 tentative | grep -q inet6; do
	[ $i -ge 50 ] && { fail "link-local addresses still tentative after 5 s"; break; }
	sleep 0.1; i=$((i + 1))
done
before=$(rx_packets n1 vb.200)
if pingpong_between "rc between rvt2 and rvt3" ibv_rc_pingpong n0 rvt2 "-g $g2 -n 100" n1 rvt3 "-g $g3 -n 100" 10.9.200.1; then
	after=$(rx_packets n1 vb.200)
	[ $((after - before)) -ge 100 ] && pass "their packets went over vb.200 ($((after - before)))" ||
		fail "vb.200 received $((after - before)) packets"
fi
expect_ok "rdma link delete rvt2" ip netns exec n0 rdma link delete rvt2
expect_ok "rdma link delete rvt3" ip netns exec n1 rdma link delete rvt3
finish
