# Scenario: NVMe over Fabrics (issue 10) between the two VMs: node 0 is the
# nvmet-rdma target (a memory-backed null_blk and a file on tmpfs), node 1
# the nvme-rdma host, which drives both (tests/vm/lib.sh, on_target). For
# each pairing of drivers given (target/host, as rvt/rxe):
# discovery, connect/verified I/O/disconnect cycles, data written by the
# host found in the target's file, and the target port removed under I/O
# and added back, the host reconnecting and its I/O completing verified.
#
#   nvmeof.sh [CYCLES [TARGET/HOST...]]   (1 rvt/rvt; make soak: more, and
#                                          each side on rdma_rxe)
. /mnt/tests/vm/lib.sh
cycles=${1:-1}
[ $# -gt 0 ] && shift
[ $# -gt 0 ] || set -- rvt/rvt
ulp_nodes_up
modprobe nvme_rdma

connect() {
	nvme connect -t rdma -n "$nvme_nqn" -a 10.10.0.1 -s 4420 --hostnqn="$nvme_hostnqn" \
		--reconnect-delay=1 --ctrl-loss-tmo=60
}
disconnect() { nvme disconnect -n "$nvme_nqn" | grep -q "disconnected 1 controller"; }
ctrl_live() { [ "$(cat "/sys/class/nvme/$(nvme_ctrl_dev)/state" 2>/dev/null)" = live ]; }

# end_to_end DEV NAME: 1 MiB of random data the host writes to namespace
# 2 (DEV) must be in the target's file, and read back the same.
end_to_end() {
	head -c 1048576 /dev/urandom >/tmp/block
	want=$(md5sum </tmp/block)
	if ! err=$(dd if=/tmp/block of="/dev/$1" bs=1M count=1 oflag=direct status=none 2>&1); then
		fail "$2: writing 1 MiB to /dev/$1: $err"
		return 1
	fi
	got=$(on_target "dd if=/tmp/nvmet-ns2.img bs=1M count=1 status=none | md5sum")
	back=$(dd if="/dev/$1" bs=1M count=1 iflag=direct status=none | md5sum)
	[ "$got" = "$want" ] && [ "$back" = "$want" ] &&
		pass "$2: 1 MiB written by the host is in the target's file and reads back" ||
		fail "$2: the host wrote $want, the target's file holds $got, the host reads back $back"
}

# cycle NAME: connect, verified I/O on both namespaces, disconnect.
cycle() {
	expect_ok "$1: connect" connect || return 1
	if ns1=$(nvme_ns_dev 1) && ns2=$(nvme_ns_dev 2); then
		fio_verify "$1, null_blk" "/dev/$ns1" 4M
		fio_verify "$1, file" "/dev/$ns2" 4M
		end_to_end "$ns2" "$1"
	else
		fail "$1: namespaces not found"
	fi
	expect_ok "$1: disconnect" disconnect
}

# port_removal NAME: the target's port removed while the host writes and
# verifies, then added back; the host reconnects and its I/O completes.
port_removal() {
	expect_ok "$1: connect" connect || return 1
	ns1=$(nvme_ns_dev 1) || { fail "$1: namespace 1 not found"; return 1; }
	fio_verify "$1" "/dev/$ns1" 16M >/tmp/fio-port.out 2>&1 &
	fpid=$!
	sleep 1
	kill -0 $fpid 2>/dev/null && inflight="under I/O" || inflight="after the I/O (it was quick)"
	expect_ok "$1: target port removed $inflight" on_target nvmet_port_remove
	sleep 2
	expect_ok "$1: target port added back" on_target nvmet_port_add 10.10.0.1
	wait $fpid
	cat /tmp/fio-port.out
	grep -q "^FAIL" /tmp/fio-port.out && failures=$((failures + 1))
	# Reconnection is tried every second (--reconnect-delay).
	poll 150 ctrl_live && pass "$1: reconnected" ||
		fail "$1: controller $(cat "/sys/class/nvme/$(nvme_ctrl_dev)/state") 15 s after the port came back"
	expect_ok "$1: disconnect" disconnect
}

exercise() {
	expect_ok "$1: discovery lists $nvme_nqn" sh -c \
		"nvme discover -t rdma -a 10.10.0.1 -s 4420 --hostnqn=$nvme_hostnqn | grep -q 'subnqn: *$nvme_nqn'" ||
		return 1
	c=1
	while [ $c -le "$cycles" ]; do
		cycle "$1, cycle $c"
		c=$((c + 1))
	done
	port_removal "$1, port removed under I/O"
}

ulp_pairings NVMe-oF "nvmet_export 10.10.0.1" nvmet_unexport "$@"
ulp_nodes_done
