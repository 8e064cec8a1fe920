#!/usr/bin/python3
"""slowlog.py SOCKET FILE - prints the longest call in a redis-server's SLOWLOG (µs, 0 when
empty) and appends every entry to FILE, longest first: duration, then the command and
its first arguments (what ran long, for benchmarks/catchup.sh)."""
import sys

import redis

entries = redis.Redis(unix_socket_path=sys.argv[1]).slowlog_get(1000)
entries.sort(key=lambda e: -e["duration"])
with open(sys.argv[2], "a") as f:
    for e in entries:
        cmd = e["command"]
        cmd = cmd.decode(errors="replace") if isinstance(cmd, bytes) else str(cmd)
        f.write("%d %s\n" % (e["duration"], cmd[:160]))
print(entries[0]["duration"] if entries else 0)
