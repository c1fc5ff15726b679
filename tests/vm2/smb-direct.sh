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

pairing() {
	name="server $1, client $2"
	step "SMB Direct, $name"
	expect_ok "$name: node 0 on $1" on_target rdma_link_on_eth0 "$1" &&
		expect_ok "$name: node 1 on $2" rdma_link_on_eth0 "$2" &&
		expect_ok "$name: ksmbd with SMB Direct" on_target smb_direct_export || return 1
	if expect_ok "$name: mount -t cifs -o rdma" mount -t cifs //10.10.0.1/rvt $mnt \
		-o rdma,vers=3.1.1,username=rvt,password=rvt; then
		expect_ok "$name: the mount is over RDMA" sh -c "grep ' $mnt ' /proc/mounts | grep -q rdma"
		files_roundtrip "$name" $mnt $smb_export_dir
		unmount_in_flight "$name" $mnt
	fi
	expect_ok "$name: ksmbd stopped and unloaded" on_target smb_direct_unexport
}

for p in "$@"; do
	pairing "${p%/*}" "${p#*/}"
done
ulp_nodes_done
