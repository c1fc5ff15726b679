# Scenario: SMB Direct (issue 10) between the two VMs: node 0 runs ksmbd
# sharing a tmpfs directory, node 1 mounts it with the cifs client's rdma
# option and drives both (tests/vm/lib.sh, on_target). For each pairing of
# drivers given (server/client, as rvt/rxe): files written,
# compared on the server, read back uncached and compared, and an unmount
# with a write in flight.
#
#   smb-direct.sh [SERVER/CLIENT...]   (rvt/rvt; make soak: each side on rdma_rxe too)
. /mnt/tests/vm/lib.sh
[ $# -gt 0 ] || set -- rvt/rvt
ulp_nodes_up
modprobe cifs
mnt=/tmp/smb
mkdir -p $mnt

exercise() {
	share_exercise "$1" $mnt $smb_export_dir \
		mount -t cifs //10.10.0.1/rvt $mnt -o rdma,vers=3.1.1,username=rvt,password=rvt
}

ulp_pairings "SMB Direct" smb_direct_export smb_direct_unexport "$@"
ulp_nodes_done
