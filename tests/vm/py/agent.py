# SPDX-License-Identifier: GPL-2.0
"""Runs shell commands of one test VM on the other (tests/vm2): the scenarios
there need a server on one node started before the client on the other, and
each side's exit status.

  agent.py serve PORT         run each command a peer sends, until "quit"
  agent.py run HOST PORT CMD  run CMD on HOST; print its output, exit with its
                              status (waits up to 60 s for the agent)
  agent.py quit HOST PORT     stop HOST's agent
"""

import socket
import subprocess
import sys
import threading
import time


def serve(port):
    """One thread per connection: the command's output and status go back
    on it, so a peer can run a server here while it runs a client there."""
    srv = socket.create_server(("", port), reuse_port=True)
    done = threading.Event()

    def handle(conn):
        with conn, conn.makefile("rwb") as f:
            cmd = f.readline().decode().strip()
            if cmd == "quit":
                f.write(b"0\n")
                f.flush()
                done.set()
                return
            p = subprocess.run(["sh", "-c", cmd], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            f.write(b"%d\n" % p.returncode + p.stdout)

    srv.settimeout(1)
    while not done.is_set():
        try:
            conn, _ = srv.accept()
        except TimeoutError:
            continue
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


def call(host, port, cmd):
    """Sends cmd; returns (status, output)."""
    end = time.time() + 60
    while True:
        try:
            conn = socket.create_connection((host, port), timeout=5)
            break
        except OSError:
            if time.time() > end:
                return 255, b"agent.py: no agent at %s:%d\n" % (host.encode(), port)
            time.sleep(0.2)
    conn.settimeout(None)
    with conn, conn.makefile("rwb") as f:
        f.write(cmd.encode() + b"\n")
        f.flush()
        status = f.readline()
        out = f.read()
    if not status:
        return 255, b"agent.py: the agent closed the connection\n"
    return int(status), out


def main(argv):
    if argv[1] == "serve":
        serve(int(argv[2]))
        return 0
    status, out = call(argv[2], int(argv[3]), "quit" if argv[1] == "quit" else argv[4])
    sys.stdout.buffer.write(out)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
