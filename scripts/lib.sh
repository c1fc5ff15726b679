# Shared settings for the rvt scripts. Source it; it defines no commands that run.
# shellcheck shell=bash

# Everything built or downloaded lives outside the repository, under one cache root.
RVT_CACHE=${RVT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rvt}
# The kernel series the project builds against: the one variable to bump.
RVT_KERNEL_SERIES=${RVT_KERNEL_SERIES:-7.3}
# Debian suite the toolchain root comes from (plus its -backports).
RVT_SUITE=${RVT_SUITE:-trixie}
# "default" or "debug" (KASAN, lockdep, kmemleak...).
RVT_PROFILE=${RVT_PROFILE:-default}

RVT_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RVT_ROOT=$RVT_CACHE/root

die() { echo "error: $*" >&2; exit 1; }
note() { echo ">>> $*" >&2; }

need_root() {
	[ "$(id -u)" = 0 ] || die "$1 needs root (it builds a Debian tree and mounts into it); run it as root"
}

# The host's own Debian mirror, read from its apt configuration, so no host
# name is written into this repository.
host_mirror() {
	local uri
	uri=$(grep -hE '^\s*URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null |
		awk '{print $2}' | grep -v -- '-security' | head -n1)
	if [ -z "$uri" ]; then
		uri=$(grep -hE '^\s*deb\s' /etc/apt/sources.list 2>/dev/null |
			awk '{print $2}' | grep -v -- '-security' | head -n1)
	fi
	[ -n "$uri" ] || die "cannot find a Debian mirror in the host's apt configuration"
	echo "$uri"
}

# Run a command inside the toolchain root with the repo and the cache visible
# at the same paths as on the host. A private mount namespace keeps the bind
# mounts from leaking and cleans them up when the command ends.
in_root() {
	[ -x "$RVT_ROOT/usr/bin/env" ] || die "toolchain root missing: run scripts/bootstrap-toolchain"
	unshare --mount --propagation private -- bash -c '
		set -e
		r=$1; shift
		# A non-recursive bind of the root onto itself: what the VMs see as
		# their root file system, without the mounts made below.
		mkdir -p "$r/mnt/rvt-guest-root"
		mount --bind "$r" "$r/mnt/rvt-guest-root"
		mount -t proc proc "$r/proc"
		mount --rbind /dev "$r/dev"
		mount --rbind /sys "$r/sys"
		mount -t tmpfs tmpfs "$r/tmp"
		for d in "$RVT_TOP" "$RVT_CACHE"; do
			mkdir -p "$r$d" 2>/dev/null || true
			mount --bind "$d" "$r$d"
		done
		if [ -d "$RVT_TOP/../shared" ]; then
			s=$(cd "$RVT_TOP/../shared" && pwd)
			mkdir -p "$r$s" 2>/dev/null || true
			mount --bind "$s" "$r$s"
		fi
		exec chroot "$r" /usr/bin/env -i HOME=/root PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin \
			TERM=dumb LANG=C.UTF-8 RVT_TOP="$RVT_TOP" RVT_CACHE="$RVT_CACHE" CI="${CI:-}" \
			CARGO_HOME="$RVT_CACHE/cargo" "$@"
	' in_root "$RVT_ROOT" "$@"
}
export RVT_TOP RVT_CACHE
