#!/usr/bin/env python3
"""Slowloris against a local gateway: RSS before, at the peak of and after.

usage: scripts/hostile-rss.py BINARY [N] [header_secs] [idle_secs] [rounds]

Starts BINARY (`spillway serve` on 127.0.0.1:0, dev auth, embedded simulator),
opens N sockets that send half a request line and N kept-alive sockets idle
after one `/healthz`, times `/healthz` from a fresh client meanwhile, and
reports when the server closed them and the gateway's RSS (VmRSS) along the
way. Bounded: gives up 3 x (idle + header) seconds after the attack starts.
"""

import os
import select
import socket
import subprocess
import sys
import tempfile
import time


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def healthz_ms(port):
    t = time.monotonic()
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    while s.recv(4096):
        pass
    s.close()
    return (time.monotonic() - t) * 1000


def main():
    binary = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    header = sys.argv[3] if len(sys.argv) > 3 else "10"
    idle = sys.argv[4] if len(sys.argv) > 4 else "60"
    rounds = int(sys.argv[5]) if len(sys.argv) > 5 else 1
    env = dict(os.environ, SPILLWAY_HTTP_HEADER_TIMEOUT_SECS=header,
               SPILLWAY_HTTP_IDLE_TIMEOUT_SECS=idle, RUST_LOG="warn",
               SPILLWAY_DATA_DIR=tempfile.mkdtemp())
    proc = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:0"],
                            stdout=subprocess.PIPE, env=env, text=True)
    port = int(proc.stdout.readline().strip().rsplit(":", 1)[1])
    try:
        for _ in range(20):
            healthz_ms(port)
        before = rss_kib(proc.pid)
        print(f"RSS KiB before: {before}")
        for r in range(rounds):
            attack(proc, port, n, header, idle, r + 1)
    finally:
        proc.terminate()
        proc.wait(timeout=40)


def attack(proc, port, n, header, idle, round_no):
    if True:
        start = time.monotonic()
        half, idle_socks = [], []
        for i in range(n):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(b"GET /v1/str")
            half.append(s)
            k = socket.create_connection(("127.0.0.1", port))
            k.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            got = b""
            while not got.endswith(b"ok"):
                got += k.recv(4096)
            idle_socks.append(k)
        opened = time.monotonic() - start
        peak = rss_kib(proc.pid)
        probe = [healthz_ms(port) for _ in range(20)]
        open_socks = {s: kind for kind, group in (("half", half), ("idle", idle_socks))
                      for s in group}
        closed_at = {"half": [], "idle": []}
        limit = 3 * (float(idle) + float(header))
        poller = select.poll()
        by_fd = {s.fileno(): s for s in open_socks}
        for fd in by_fd:
            poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
        while open_socks and time.monotonic() - start < limit:
            peak = max(peak, rss_kib(proc.pid))
            for fd, _ in poller.poll(500):
                s = by_fd[fd]
                if s not in open_socks:
                    continue
                try:
                    data = s.recv(4096)
                except OSError:
                    data = b""
                if not data:
                    closed_at[open_socks.pop(s)].append(time.monotonic() - start)
                    poller.unregister(fd)
                    s.close()
        time.sleep(1)  # let the allocator settle before the last sample
        after = rss_kib(proc.pid)
        for s in open_socks:
            s.close()
        print(f"round {round_no}: {n} half-sent + {n} idle keep-alive, opened in {opened:.1f} s")
        for kind in ("half", "idle"):
            t = closed_at[kind]
            if t:
                print(f"  {kind}: {len(t)}/{n} closed by the server, {min(t):.1f}-{max(t):.1f} s after the attack began")
            else:
                print(f"  {kind}: 0/{n} closed by the server within {limit:.0f} s")
        print(f"  /healthz during the attack: median {sorted(probe)[10]:.1f} ms, max {max(probe):.1f} ms")
        print(f"  RSS KiB: peak {peak}, after {after}")


if __name__ == "__main__":
    main()
