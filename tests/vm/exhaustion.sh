# Scenario: resource exhaustion (issue 9). Each kind of verbs object chosen
# is created on rvt0 up to the advertised maximum and one more (ENOMEM), torn
# down, and created again (tests/vm/py/exhaustion.py; make soak: up to the
# maximum again); then the device still carries a verified pingpong, and
# on the debug kernel kmemleak finds nothing.
#
#   exhaustion.sh [ROUNDS [KINDS]]   (1 CQ+QP+SRQ+MW: the kinds whose
#                                     maximum is quick to reach; make soak:
#                                     all, PD, MR and AH too)
. /mnt/tests/vm/lib.sh
setup_rvt_pair
kinds=${2:-CQ+QP+SRQ+MW}
step "object kinds $kinds up to their maximum, ${1:-1} round(s)"
ip netns exec n0 python3 /mnt/tests/vm/py/exhaustion.py rvt0 "$v4_0" "${1:-1}" "$kinds" || fail "exhaustion.py"
step "the device still works"
pingpong "rc pingpong after exhaustion" ibv_rc_pingpong "-g $v4_0 -n 20 -c" "-g $v4_1 -n 20 -c"
finish
