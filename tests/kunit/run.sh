# Load rvt.ko in a KUnit kernel: its Rust #[kunit_tests] suites run at load.
# Prints the KTAP output for scripts/check to count.
# Only our suites: built-in ones printed at boot are not counted.
dmesg -C
modprobe rvt || { echo "modprobe rvt failed"; exit 1; }
rmmod rvt || { echo "rmmod rvt failed"; exit 1; }
echo "--- KTAP"
dmesg -t | sed -n '/KTAP version/,$p' | grep -E '^\s*(KTAP|#|[0-9]+\.\.|ok|not ok)'
echo "--- end KTAP"
if dmesg | grep -E 'WARNING:|BUG:|Oops|Call Trace'; then exit 1; fi
