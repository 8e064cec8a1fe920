#!/usr/bin/python3
"""live_reader.py REDIS - what a wall board sees while supportpulse writes: HGETALL of the
live hash sp:live:all in a loop until SIGTERM, then prints "reader_p50_ms=.. p99_ms=..
max_ms=.. busy=N reads=N" (BUSY = Redis answered that a script was running)."""
import sys
import time

import redis

from sp_redis_addr import connect, until_sigterm

addr = sys.argv[1]
r = connect(addr)
running = until_sigterm()
lat, busy = [], 0
while running():
    t = time.perf_counter()
    try:
        r.hgetall("sp:live:all")
    except redis.exceptions.BusyLoadingError:
        busy += 1
    except redis.exceptions.ResponseError as e:
        busy += "BUSY" in str(e)
    except (redis.exceptions.ConnectionError, redis.exceptions.ClusterDownError):
        pass
    lat.append((time.perf_counter() - t) * 1000)
    time.sleep(0.005)
lat.sort()
n = len(lat)
if n:
    print("reader_p50_ms=%.2f reader_p99_ms=%.2f reader_max_ms=%.2f busy=%d reads=%d"
          % (lat[n // 2], lat[min(n - 1, int(n * 0.99))], lat[-1], busy, n))
