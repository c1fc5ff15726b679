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

exercise() {
	share_exercise "$1" $mnt $nfs_export_dir \
		mount -t nfs -o vers=3,proto=rdma,port=20049,nolock 10.10.0.1:$nfs_export_dir $mnt
}

ulp_pairings "NFS over RDMA" nfs_rdma_export nfs_rdma_unexport "$@"
ulp_nodes_done
