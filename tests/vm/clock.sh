# Scenario: the guest has a continuous high-resolution clocksource (TSC
# calibrated against the HPET, or the HPET or ACPI PM timer themselves), so
# hrtimers (rvt's ACK, retry and RNR timers) fire with sub-jiffy precision
# and perftest's cycle counter correlates with wall time. On jiffies every
# hrtimer waits for the next 4 ms tick.
. /mnt/tests/vm/lib.sh
cs=/sys/devices/system/clocksource/clocksource0
step "clocksource"
current=$(cat $cs/current_clocksource)
echo "available: $(cat $cs/available_clocksource)"
dmesg | grep -E "tsc:|clocksource: Switched" | head -n 8
case $current in
tsc | hpet | acpi_pm) pass "current clocksource: $current" ;;
*) fail "current clocksource: $current (not continuous)" ;;
esac
res=$(sed -n 's/^ *\.resolution: \([0-9]*\) nsecs/\1/p' /proc/timer_list | head -n1)
[ "$res" = 1 ] && pass "hrtimers in high-resolution mode (resolution 1 ns)" || fail "hrtimer resolution $res ns"
step "a 200 us sleep (an hrtimer) ends well before the next jiffy"
median=$(python3 -c '
import time
d = []
for _ in range(50):
    t = time.perf_counter_ns(); time.sleep(0.0002); d.append(time.perf_counter_ns() - t)
print(sorted(d)[25] // 1000)')
[ "$median" -lt 3000 ] && pass "median sleep $median us" || fail "median sleep $median us (a jiffy is 4000 us)"
finish
