#!/usr/bin/python3
"""wait_caught_up.py REDIS TOPIC BOOTSTRAP PARTITIONS TIMEOUT_S - waits until {sp}:meta
holds, for every partition, a resume point at its end offset (every message is in the
rollups). REDIS is "unix:/path" or "host:port" (a cluster's master: meta is routed)."""
import sys
import time

import redis
from confluent_kafka import Consumer, TopicPartition

addr, topic, boot, parts, timeout = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
if addr.startswith("unix:"):
    r = redis.Redis(unix_socket_path=addr[5:])
else:
    from redis.cluster import RedisCluster
    host, port = addr.rsplit(":", 1)
    r = RedisCluster(host=host, port=int(port))
c = Consumer({"bootstrap.servers": boot, "group.id": "wait"})
ends = [c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(parts)]
c.close()
deadline = time.monotonic() + timeout
while time.monotonic() < deadline:
    done = True
    for p in range(parts):
        v = r.hget("sp:meta", "resume:%s:%d" % (topic, p))
        if ends[p] > 0 and (v is None or int(v.split()[0]) != ends[p]):
            done = False
            break
    if done:
        sys.exit(0)
    time.sleep(0.05)
print("did not catch up within %.0f s" % timeout, file=sys.stderr)
sys.exit(1)
