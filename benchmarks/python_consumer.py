#!/usr/bin/python3
"""A plain Python consumer, the peer issue 25 measures supportpulse against: a consumer
group member that reads the topic, json.loads each message, counts events per minute for
four dimension sets (all, queue, channel, queue+channel) in dicts, and writes the counts
to Redis with pipelined HSETs every second of wall time and at the end. It computes far
less than supportpulse (no agents, durations, sketches, dedup, exactly-once).

usage: python_consumer.py BOOTSTRAP TOPIC REDIS_SOCKET COUNT
Prints "consumed N in S s: R msgs/s" once COUNT messages are in Redis.
Needs Debian's python3-confluent-kafka and python3-redis (scripts/install-deps.sh)."""
import json
import sys
import time
from collections import defaultdict

import redis
from confluent_kafka import Consumer

bootstrap, topic, socket, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
r = redis.Redis(unix_socket_path=socket)
c = Consumer({"bootstrap.servers": bootstrap, "group.id": "py-%d" % time.time_ns(),
              "auto.offset.reset": "earliest", "enable.auto.commit": False})
c.subscribe([topic])
counts = defaultdict(lambda: defaultdict(int))  # key -> field -> count
dirty = set()


def flush():
    p = r.pipeline(transaction=False)
    for key in dirty:
        p.hset(key, mapping=counts[key])
    p.execute()
    dirty.clear()


seen, t0, last = 0, None, time.monotonic()
while seen < count:
    for m in c.consume(num_messages=1000, timeout=1.0):
        if m.error():
            continue
        if t0 is None:
            t0 = time.monotonic()
        seen += 1
        try:
            e = json.loads(m.value())
            ts = e["ts"]
            minute = ts // 60000 if isinstance(ts, int) else ts[:16]  # RFC 3339: to the minute
        except (ValueError, KeyError, TypeError):
            continue
        q, ch = e.get("queue", "unknown"), e.get("channel", "unknown")
        for dims in ("all", "queue=" + q, "channel=" + ch, "queue=%s|channel=%s" % (q, ch)):
            key = "py:r:1m:%s:%s" % (dims, minute)
            counts[key][e.get("type", "?")] += 1
            counts[key]["events"] += 1
            dirty.add(key)
    if time.monotonic() - last >= 1.0:
        flush()
        last = time.monotonic()
flush()
dt = time.monotonic() - t0
print("consumed %d in %.2f s: %.0f msgs/s" % (seen, dt, seen / dt))
c.close()
