#!/usr/bin/env bash
# live.sh - issue 25's live benchmark: a desk whose event time follows the wall clock.
# `supportpulse gen --realtime --start now` produces each event when its time comes, at
# about --rate messages/s (the arrivals are calibrated for it at the hour the run starts)
# with a roster of --agents agents, into a mock Kafka cluster; `supportpulse run` writes
# to a private redis-server; benchmarks/freshness_reader.py samples how old the newest
# event visible in Redis is (wall clock - as_of of the live hash).
#
# usage: benchmarks/live.sh [--rate 20000] [--agents 12000] [--seconds 150]
#                           [--partitions 16] [--warmup 30] [--set k=v,...]
# Needs a built tree (./scripts/build.sh build) and python3-redis, which it installs.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh python3-redis bc
rate=20000 agents=12000 seconds=150 partitions=16 warmup=30 set=""
while [ $# -gt 0 ]; do
  case $1 in
    --rate) rate=$2; shift 2 ;;
    --agents) agents=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --partitions) partitions=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --set) set=$2; shift 2 ;;
    *) echo "live.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
bin=$PWD/build/supportpulse
work=$(mktemp -d /tmp/sp-live.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  redis-cli -s "$work/sock" shutdown nosave >/dev/null 2>&1 || true
  if [ -n "${KEEP:-}" ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

# arrivals for the rate: messages per event-second of a 5-minute sample from now
now=$(date +%s%3N)
probe=100000
n=$("$bin" gen --seed 7 --start "$now" --until $((now + 300000)) --count 0 \
      --arrivals-per-hour "$probe" --agents "$agents" | wc -l)
arrivals=$(echo "$probe * $rate * 300 / $n" | bc)
echo "live: $rate messages/s wanted, $agents agents, gen --arrivals-per-hour $arrivals" \
     "(calibrated: $n messages in 5 min at $probe), $partitions partitions, ${seconds} s;" \
     "machine: $(nproc) vCPU, $(uname -r), commit $(git rev-parse --short HEAD)"

"$bin" mock-kafka --partitions "$partitions" > "$work/mock.out" 2> "$work/mock.err" &
pids+=($!)
for _ in $(seq 50); do [ -s "$work/mock.out" ] && break; sleep 0.1; done
boot=$(head -1 "$work/mock.out")
redis-server --port 0 --unixsocket "$work/sock" --dir "$work" --save "" --appendonly no \
  --daemonize yes --logfile "$work/redis.log" >/dev/null
for _ in $(seq 50); do redis-cli -s "$work/sock" ping >/dev/null 2>&1 && break; sleep 0.1; done
r="unix:$work/sock"

flags=(--bootstrap "$boot" --topic support-events --group live --redis "$r" --forecast 0
       --stats-s 10 --log-level info)
if [ -n "$set" ]; then
  IFS=, read -ra kv <<< "$set"
  for x in "${kv[@]}"; do flags+=("--${x%%=*}" "${x#*=}"); done
fi
"$bin" run "${flags[@]}" 2> "$work/run.log" &
pids+=($!)
sleep 2
/usr/bin/python3 benchmarks/freshness_reader.py "$r" "$warmup" > "$work/reader.out" 2>&1 &
reader=$!
start=$(date +%s%3N)
"$bin" gen --seed 7 --realtime --start "$start" --until $((start + seconds * 1000)) --count 0 \
  --arrivals-per-hour "$arrivals" --agents "$agents" --bootstrap "$boot" \
  --topic support-events 2> "$work/gen.err"
sleep 3 # the last events reach Redis
kill -TERM "$reader"; wait "$reader" || true
produced=$(sed -n 's/.*: \([0-9]*\) messages delivered.*/\1/p' "$work/gen.err")
consumed=$(redis-cli -s "$work/sock" hget sp:meta consumed | tr -d '\r')
slow=$(redis-cli -s "$work/sock" slowlog get 1 | sed -n '3p' | tr -d '\r')
echo "produced $produced in ${seconds} s ($(echo "$produced / $seconds" | bc) messages/s);" \
     "consumed $consumed by the end; slowest Redis call ${slow:-0} us (SLOWLOG > 10 ms)"
cat "$work/reader.out"
grep -c "paused\|PAUSED" "$work/run.log" | sed 's/^/log lines mentioning a pause: /'
