# Helpers for the scenarios run inside the test VM (sourced; POSIX sh).
# shellcheck shell=sh

failures=0
step() { echo "--- $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }

# expect_ok DESCRIPTION CMD...: CMD must succeed.
expect_ok() {
	d=$1; shift
	if out=$("$@" 2>&1); then pass "$d"; else fail "$d: '$*' failed: $out"; fi
}

# expect_fail DESCRIPTION PATTERN CMD...: CMD must fail with output matching PATTERN.
expect_fail() {
	d=$1; pat=$2; shift 2
	if out=$("$@" 2>&1); then
		fail "$d: '$*' succeeded but must fail"
	elif echo "$out" | grep -qiE "$pat"; then
		pass "$d ($(echo "$out" | head -n1))"
	else
		fail "$d: '$*' failed without /$pat/: $out"
	fi
}

# Two nodes in one VM: network namespaces n0 and n1 joined by veth va <-> vb.
setup_veth_pair() {
	ip netns add n0
	ip netns add n1
	ip link add va type veth peer name vb
	ip link set va netns n0
	ip link set vb netns n1
	ip -n n0 addr add 10.9.0.1/24 dev va
	ip -n n1 addr add 10.9.0.2/24 dev vb
	ip -n n0 link set va up
	ip -n n1 link set vb up
	ip -n n0 link set lo up
	ip -n n1 link set lo up
}

# The port state ibv_devinfo shows for a device (PORT_ACTIVE, PORT_DOWN...).
port_state() {
	ibv_devinfo -d "$1" | sed -n 's/.*state:[[:space:]]*\(PORT_[A-Z]*\).*/\1/p' | head -n1
}

# Wait up to 5 s for a device's port to reach a state.
wait_port_state() {
	i=0
	while [ "$(port_state "$1")" != "$2" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	[ "$(port_state "$1")" = "$2" ]
}

# The kernel log must hold no warning, bug, oops or leak report.
check_kernel_log() {
	if dmesg | grep -E 'WARNING:|BUG:|Oops|Call Trace|kmemleak: [0-9]+ new|UBSAN|KASAN|refcount_t:|rust_panic|panicked at'; then
		fail "kernel log has warnings (above)"
	else
		pass "kernel log clean"
	fi
}

# Scan for leaks when the kernel has kmemleak (the debug profile).
check_kmemleak() {
	[ -w /sys/kernel/debug/kmemleak ] || return 0
	echo scan >/sys/kernel/debug/kmemleak
	sleep 1
	echo scan >/sys/kernel/debug/kmemleak
	leaks=$(cat /sys/kernel/debug/kmemleak)
	if [ -n "$leaks" ]; then
		echo "$leaks" | head -n 40
		fail "kmemleak found leaks"
	else
		pass "kmemleak: no leaks"
	fi
}

finish() {
	check_kernel_log
	check_kmemleak
	echo "scenario: $failures failed"
	[ "$failures" = 0 ]
}
