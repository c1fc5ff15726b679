# Scenario: perftest between two rvt devices (rvt1 in n1 serves, rvt0 in n0
# connects): every bandwidth and latency tool over RC, UC and UD where
# perftest offers them, with and without rdma_cm, several QPs, events,
# bidirectional and inline. Counts are small: this checks that each run
# completes and reports, not how fast (make bench measures that).
. /mnt/tests/vm/lib.sh
setup_rvt_pair

step "bandwidth, RC"
perf "ib_write_bw 64 KiB" ib_write_bw "-F -n 200 -s 65536"
perf "ib_write_bw all sizes (-a)" ib_write_bw "-F -n 20 -a"
perf "ib_read_bw 1 MiB" ib_read_bw "-F -n 20 -s 1048576"
perf "ib_send_bw 4 KiB" ib_send_bw "-F -n 200 -s 4096"
perf "ib_atomic_bw" ib_atomic_bw "-F -n 200"
perf "ib_write_bw 4 QPs" ib_write_bw "-F -n 100 -s 4096 -q 4"
perf "ib_send_bw 16 QPs" ib_send_bw "-F -n 50 -s 4096 -q 16"
perf "ib_write_bw bidirectional (-b)" ib_write_bw "-F -n 100 -s 4096 -b"
perf "ib_send_bw with events (-e)" ib_send_bw "-F -n 100 -s 4096 -e"
perf "ib_send_lat with events (-e)" ib_send_lat "-F -n 100 -s 64 -e"
perf "ib_write_bw inline 64 B" ib_write_bw "-F -n 200 -s 64 -I 64"
step "rdma_cm (-R)"
perf "ib_write_bw -R" ib_write_bw "-F -n 100 -s 65536 -R"
perf "ib_read_bw -R" ib_read_bw "-F -n 50 -s 65536 -R"
perf "ib_send_bw -R UD" ib_send_bw "-F -n 100 -s 1024 -R -c UD"
step "UC and UD"
perf "ib_send_bw UC" ib_send_bw "-F -n 100 -s 4096 -c UC"
perf "ib_write_bw UC" ib_write_bw "-F -n 100 -s 4096 -c UC"
perf "ib_send_bw UD" ib_send_bw "-F -n 100 -s 1024 -c UD"
step "latency"
perf "ib_send_lat" ib_send_lat "-F -n 100 -s 64"
perf "ib_write_lat" ib_write_lat "-F -n 100 -s 64"
perf "ib_read_lat" ib_read_lat "-F -n 100 -s 64"
perf "ib_atomic_lat" ib_atomic_lat "-F -n 100"
perf "ib_send_lat UD inline" ib_send_lat "-F -n 100 -s 64 -c UD -I 64"
perf "ib_write_lat -R" ib_write_lat "-F -n 100 -s 64 -R"
finish
