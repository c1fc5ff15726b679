# Scenario: iSER (issue 10) between the two VMs: node 0 is the LIO iSCSI
# target (its configfs set up as targetcli does: a ramdisk LUN, an iSER
# portal), node 1 the open-iscsi initiator with the iser transport, which
# drives both. For each pairing of
# drivers given (target/initiator, as rvt/rxe): discovery, then
# login/verified I/O/logout cycles.
#
#   iser.sh [CYCLES [TARGET/INITIATOR...]]   (1 rvt/rvt; make soak: more, and
#                                          each side on rdma_rxe)
. /mnt/tests/vm/lib.sh
cycles=${1:-1}
[ $# -gt 0 ] && shift
[ $# -gt 0 ] || set -- rvt/rvt
ulp_nodes_up
portal=10.10.0.1:3260

# cycle NAME: login over iSER, verified I/O on the LUN's disk, logout.
cycle() {
	expect_ok "$1: login over iSER" iscsiadm -m node -T "$iser_iqn" -p $portal -I iser --login || return 1
	expect_ok "$1: the session's transport is iser" sh -c \
		"iscsiadm -m session -P 1 | grep -q 'Iface Transport: iser'"
	if disk=$(iser_disk); then
		fio_verify "$1" "/dev/$disk" 4M
	else
		fail "$1: no disk for the session"
	fi
	expect_ok "$1: logout" iscsiadm -m node -T "$iser_iqn" -p $portal -u
}

exercise() {
	expect_ok "$1: discovery lists $iser_iqn" sh -c \
		"iscsiadm -m discovery -t sendtargets -p $portal -I iser | grep -q '$iser_iqn'" || return 1
	c=1
	while [ $c -le "$cycles" ]; do
		cycle "$1, cycle $c"
		c=$((c + 1))
	done
}

expect_ok "iscsid with the iser transport" iser_initiator_up
ulp_pairings iSER "lio_iser_export 10.10.0.1" lio_iser_unexport "$@"
ulp_nodes_done
