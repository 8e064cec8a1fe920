#!/usr/bin/python3
"""freshness_reader.py REDIS WARMUP_S - how fresh Redis is during a live run, where each
event is produced when the wall clock reaches its event time (gen --realtime): every 50 ms
it reads `as_of` of sp:live:all (the newest event time the pipeline has written) and
`consumed` of sp:meta, and takes wall clock - as_of as the age of the newest visible
event. Until SIGTERM; then, over the samples after the warm-up, prints
"freshness_p50_ms=.. p99_ms=.. max_ms=.. samples=N consumed_per_s=.." and the p99 of each
20-second stretch (it stays flat when the pipeline keeps up: lag is bounded)."""
import sys
import time

import redis

from sp_redis_addr import connect, until_sigterm

addr, warmup = sys.argv[1], float(sys.argv[2])
r = connect(addr)
running = until_sigterm()
t0 = time.time()
ages, stretches = [], {}
first = last = None
while running():
    now = time.time()
    try:
        as_of = r.hget("sp:live:all", "as_of")
        consumed = int(r.hget("sp:meta", "consumed") or 0)
    except redis.exceptions.RedisError:
        as_of, consumed = None, None
    if as_of is not None and now - t0 >= warmup:
        age = now * 1000 - int(as_of)
        ages.append(age)
        stretches.setdefault(int((now - t0 - warmup) // 20), []).append(age)
        if first is None:
            first = (now, consumed)
        last = (now, consumed)
    time.sleep(0.05)


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(p * len(v)))] if v else float("nan")


rate = (last[1] - first[1]) / (last[0] - first[0]) if first and last and last[0] > first[0] else 0
print(f"freshness_p50_ms={pct(ages, 0.5):.0f} p99_ms={pct(ages, 0.99):.0f} "
      f"max_ms={max(ages) if ages else float('nan'):.0f} samples={len(ages)} "
      f"consumed_per_s={rate:.0f}")
print("p99_ms per 20 s: " + " ".join(f"{pct(v, 0.99):.0f}" for _, v in sorted(stretches.items())))
