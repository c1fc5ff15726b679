# Scenario: teardown under load (issue 9), in cycles: load the modules,
# create rvt0 and rvt1, start traffic, then kill the processes, delete a
# device, take a netdev down or delete it and unload the modules, in an
# order drawn from SEED (tests/vm/py/teardown_cycles.py). No hang, no
# warning; on the debug kernel (KASAN, lockdep, kmemleak) no leak either.
#
#   teardown-cycles.sh [CYCLES [SEED]]   (4, or 2 on the debug kernel; 1)
. /mnt/tests/vm/lib.sh
setup_veth_pair
modprobe ib_uverbs
cycles=${1:-$(heavy 4 2)}
step "$cycles teardown cycles under load, seed ${2:-1}"
python3 /mnt/tests/vm/py/teardown_cycles.py "$cycles" "${2:-1}" "$(heavy 1 4)" ||
	fail "teardown_cycles.py"
finish
