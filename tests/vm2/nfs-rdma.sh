# Scenario: NFS over RDMA (issue 10) between the two VMs: node 0 runs nfsd
# with an RDMA listener on port 20049 exporting a tmpfs directory, node 1
# mounts it with proto=rdma and drives both (tests/vm/lib.sh, on_target).
# For each pairing of drivers given (server/client, as rvt/rxe):
# files written, compared on the server, read back uncached and compared,
# and an unmount with a write in flight.
#
#   nfs-rdma.sh [SERVER/CLIENT...]   (rvt/rvt; make soak: each side on rdma_rxe too)
. /mnt/tests/vm/lib.sh
[ $# -gt 0 ] || set -- rvt/rvt
ulp_nodes_up
modprobe nfs && modprobe rpcrdma
mnt=/tmp/nfs
mkdir -p $mnt

pairing() {
	name="server $1, client $2"
	step "NFS over RDMA, $name"
	expect_ok "$name: node 0 on $1" on_target rdma_link_on_eth0 "$1" &&
		expect_ok "$name: node 1 on $2" rdma_link_on_eth0 "$2" &&
		expect_ok "$name: nfsd on RDMA port 20049" on_target nfs_rdma_export || return 1
	if expect_ok "$name: mount -o proto=rdma" mount -t nfs \
		-o vers=3,proto=rdma,port=20049,nolock 10.10.0.1:$nfs_export_dir $mnt; then
		expect_ok "$name: the mount is over RDMA" sh -c "grep ' $mnt ' /proc/mounts | grep -q proto=rdma"
		files_roundtrip "$name" $mnt $nfs_export_dir
		unmount_in_flight "$name" $mnt
	fi
	expect_ok "$name: nfsd stopped" on_target nfs_rdma_unexport
}

for p in "$@"; do
	pairing "${p%/*}" "${p#*/}"
done
ulp_nodes_done
