#!/usr/bin/python3
"""Memory after a connection storm (issue 15, item 11): sluice's resident set before, at the peak of and
after a storm of half-open client connections (TCP connected, half a StartupMessage sent, then silence:
each holds a session waiting for the rest of its startup), once every client has gone.

It starts a sandbox of its own (integration/tests/scoring/lib.py's Cluster) and a sluice with
limits.startup_timeout = 300 s (so that sluice does not close the clients itself), opens as many
connections as both open-file limits allow (at most --count, default 20,000), reads RSS from
/proc/PID/status and from GET /status (resident_memory_bytes) at each point, closes them all, waits
until sluice counts no client and --settle seconds more (worker 0 returns freed memory to the system
once a second after the client count fell), and prints the figures.

    integration/bench/rss_storm.py [--count 20000] [--settle 5]
    SLUICE_BIN=/path/to/other/sluice integration/bench/rss_storm.py   # compare builds
"""

import argparse
import json
import os
import re
import resource
import socket
import struct
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "scoring"))
from lib import HOST, SLUICE_BIN, Cluster, info, poll  # noqa: E402

PROTOCOL_3_0 = 196608


def half_startup():
    body = struct.pack("!i", PROTOCOL_3_0) + b"user\0app\0database\0app\0\0"
    packet = struct.pack("!i", len(body) + 4) + body
    return packet[:len(packet) // 2]


def rss_of(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1)) * 1024


def mib(n):
    return f"{n / 1048576:.1f} MiB"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000, help="connections to open at most")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds to wait after the last client left")
    parser.add_argument("--storms", type=int, default=1, help="storms one after the other (memory kept is reused?)")
    args = parser.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    info(f"open-file limit here: soft {soft} raised to the hard limit {hard}; sluice: {SLUICE_BIN}")

    with Cluster("rss") as cluster:
        sluice = cluster.sluice(extra_toml='\n[limits]\nstartup_timeout = "300s"\n').start()
        token = re.search(r'(?m)^token = "([^"]*)"', open(sluice.config_path).read()).group(1)

        def status():
            request = urllib.request.Request(f"http://{HOST}:{sluice.admin_port}/status",
                                             headers={"Authorization": f"Bearer {token}"})
            with urllib.request.urlopen(request, timeout=10) as answer:
                return json.loads(answer.read())

        pid = sluice.proc.pid
        first = status()
        limit = first.get("max_client_connections", args.count)
        count = min(args.count, limit, hard - 200)
        figures = {"start": (rss_of(pid), first.get("resident_memory_bytes"))}
        info(f"max_client_connections in force: {limit}; opening {count} half-open connections")

        payload = half_startup()
        for storm in range(1, args.storms + 1):
            socks = []
            t0 = time.monotonic()
            for i in range(count):
                s = socket.socket()
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST on close
                s.connect((HOST, sluice.port))
                s.sendall(payload)
                socks.append(s)
            opened = time.monotonic() - t0
            counted = poll(lambda: status()["clients"] >= count, 60, 0.5)
            peak = status()
            figures[f"peak {storm}"] = (rss_of(pid), peak.get("resident_memory_bytes"))
            info(f"storm {storm}: {count} connections opened in {opened:.1f} s; sluice counts {peak['clients']} clients"
                 + ("" if counted else " (not all of them)"))
            t1 = time.monotonic()
            for s in socks:
                s.close()
            socks.clear()
            gone = poll(lambda: status()["clients"] == 0, 120, 0.5)
            info(f"all closed; sluice counts no client after {time.monotonic() - t1:.1f} s" if gone
                 else f"sluice still counts {status()['clients']} clients")
            time.sleep(args.settle)
            figures[f"after {storm}"] = (rss_of(pid), status().get("resident_memory_bytes"))
        lines = [l for l in sluice.log_text().splitlines() if "freed memory returned" in l]

        print()
        print(f"RSS of sluice ({os.path.basename(SLUICE_BIN)}), {count} half-open connections:")
        for name, (proc_rss, api_rss) in figures.items():
            api = mib(api_rss) if api_rss is not None else "n/a (no resident_memory_bytes)"
            print(f"  {name:8} {mib(proc_rss):>12}   (GET /status: {api})")
        retained = figures["after 1"][0] - figures["start"][0]
        grown = figures["peak 1"][0] - figures["start"][0]
        if grown > 0:
            print(f"  after the first storm sluice keeps {mib(retained)} of the {mib(grown)} it grew "
                  f"({100 * retained / grown:.0f}%)")
        for line in lines:
            print(f"  log: {line}")
        sluice.stop()


if __name__ == "__main__":
    main()
