#!/usr/bin/python3
"""memory_by_class.py REDIS [PREFIX] - where Redis memory goes after a run: every key of
the prefix (every master of a cluster) by class, with its count and the bytes MEMORY USAGE
reports (key, value and overhead), so the per-day formula in docs/operations.md can be
checked against a real run. Prints one line per class, "class keys bytes bytes_per_key",
then the total and used_memory."""
import re
import sys

from sp_redis_addr import masters

addr = sys.argv[1]
prefix = sys.argv[2] if len(sys.argv) > 2 else "sp"
nodes = masters(addr)

p = re.escape(prefix)
classes = [  # first match wins
    ("rollup agent " + r, re.compile(rf"^{p}:r:{r}:.*agent=")) for r in ("1m", "5m", "15m", "1h", "1d")
] + [
    ("rollup " + r, re.compile(rf"^{p}:r:{r}:")) for r in ("1m", "5m", "15m", "1h", "1d")
] + [
    ("companion agent", re.compile(rf"^{p}:x:\{{.*agent=")),
    ("companion", re.compile(rf"^{p}:x:\{{")),
    ("series index", re.compile(rf"^{p}:ts:")),
    ("live", re.compile(rf"^{p}:l(ive|x):")),
    ("checkpoint", re.compile(rf"^{p}:cp[lsg]?:")),
    ("presence", re.compile(rf"^{p}:prc?:")),
    ("csat", re.compile(rf"^{p}:csat_")),
    ("other", re.compile(r"")),
]
count = {name: 0 for name, _ in classes}
size = {name: 0 for name, _ in classes}
used = 0


def measure(node, keys):
    pipe = node.pipeline(transaction=False)
    for k in keys:
        pipe.memory_usage(k, samples=0)
    for k, b in zip(keys, pipe.execute()):
        name = next(nm for nm, rx in classes if rx.search(k.decode("utf-8", "replace")))
        count[name] += 1
        size[name] += b or 0


for n in nodes:
    used += n.info("memory")["used_memory"]
    batch = []
    for key in n.scan_iter(match=prefix + ":*", count=2000):
        batch.append(key)
        if len(batch) == 1000:
            measure(n, batch)
            batch = []
    measure(n, batch)
total_keys = total_bytes = 0
for name, _ in classes:
    if count[name]:
        print(f"{name:22s} {count[name]:9d} {size[name]:12d} {size[name] / count[name]:8.0f}")
        total_keys += count[name]
        total_bytes += size[name]
print(f"{'total':22s} {total_keys:9d} {total_bytes:12d}   used_memory={used}")
