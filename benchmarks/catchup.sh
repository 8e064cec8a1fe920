#!/usr/bin/env bash
# catchup.sh - issue 25's catch-up benchmark: one backlog in a mock Kafka cluster, drained
# by a bare consumer (kcat), a plain Python consumer (benchmarks/python_consumer.py) and
# `supportpulse run` (until every resume point in Redis is at its partition's end), each
# into a redis-server of its own, in interleaved rounds; plus spbench's in-memory decode +
# apply of the same corpus. During supportpulse's run a reader reads a live hash in a
# loop (latency, BUSY replies) and Redis's SLOWLOG and memory are read at the end.
#
# usage: benchmarks/catchup.sh [--rounds N] [--count N] [--arrivals N] [--partitions N]
#                              [--redis-cluster] [--only supportpulse] [--set k=v,...]
# Output: one line per run, then medians. Needs a built tree (./scripts/build.sh build)
# and kcat, redis-server, python3-confluent-kafka, python3-redis, which it installs.
# Environment: KEEP=1 keeps the work directory (each run's log, SLOWLOG entries, INFO
# commandstats); MEMORY_BY_CLASS=1 adds benchmarks/memory_by_class.py's table to it;
# NICE="cmd --" runs supportpulse under cmd (perf record, taskset).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh kafkacat python3-confluent-kafka python3-redis bc
rounds=3 count=1000000 arrivals=60000 partitions=16 only="" set="" cluster=0
while [ $# -gt 0 ]; do
  case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --count) count=$2; shift 2 ;;
    --arrivals) arrivals=$2; shift 2 ;;
    --partitions) partitions=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    --set) set=$2; shift 2 ;;
    --redis-cluster) cluster=1; shift ;;
    *) echo "catchup.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
bin=$PWD/build/supportpulse
spbench=$PWD/build/benchmarks/spbench
work=$(mktemp -d /tmp/sp-catchup.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "${KEEP:-}" ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

start="2026-11-30T06:00:00Z"
"$bin" mock-kafka --partitions "$partitions" > "$work/mock.out" 2> "$work/mock.err" &
pids+=($!)
for _ in $(seq 50); do [ -s "$work/mock.out" ] && break; sleep 0.1; done
boot=$(head -1 "$work/mock.out")
"$bin" gen --seed 5 --count "$count" --arrivals-per-hour "$arrivals" --start "$start" \
  --bootstrap "$boot" --topic support-events -X compression.type=lz4 -X linger.ms=50 \
  -X batch.size=1000000 2> "$work/gen.err"
echo "corpus: $count messages (gen --seed 5 --arrivals-per-hour $arrivals --start $start)," \
     "$partitions partitions, lz4; machine: $(nproc) vCPU, $(uname -r)"

# a private redis-server on a unix socket (or three cluster masters); prints its address
redis_up() { # dir
  local d=$1
  mkdir -p "$d"
  if [ "$cluster" = 1 ]; then
    local ports=() addrs=""
    for i in 0 1 2; do
      local p=$((21000 + RANDOM % 8000))
      mkdir -p "$d/n$i"
      redis-server --port "$p" --bind 127.0.0.1 --dir "$d/n$i" --save "" --appendonly no \
        --cluster-enabled yes --cluster-config-file nodes.conf --daemonize yes \
        --logfile "$d/n$i/log" --unixsocket "$d/n$i/sock" >/dev/null
      ports+=("$p"); addrs="$addrs 127.0.0.1:$p"
    done
    sleep 0.5
    # shellcheck disable=SC2086
    redis-cli --cluster create $addrs --cluster-replicas 0 --cluster-yes >/dev/null
    for _ in $(seq 100); do
      redis-cli -p "${ports[0]}" cluster info | grep -q cluster_state:ok && break; sleep 0.1
    done
    echo "127.0.0.1:${ports[0]}"
  else
    redis-server --port 0 --unixsocket "$d/sock" --dir "$d" --save "" --appendonly no \
      --daemonize yes --logfile "$d/log" >/dev/null
    for _ in $(seq 50); do redis-cli -s "$d/sock" ping >/dev/null 2>&1 && break; sleep 0.1; done
    echo "unix:$d/sock"
  fi
}
redis_down() { # dir
  for s in "$1"/sock "$1"/n*/sock; do [ -S "$s" ] && redis-cli -s "$s" shutdown nosave >/dev/null 2>&1 || true; done
}

results="$work/results"
: > "$results"
run_kcat() {
  local t0 t1
  t0=$(date +%s.%N)
  kcat -C -b "$boot" -t support-events -o beginning -e -q > /dev/null
  t1=$(date +%s.%N)
  echo "kcat $(echo "$count / ($t1 - $t0)" | bc -l)" >> "$results"
}
run_python() {
  local d="$work/py$1" r
  r=$(redis_up "$d")
  local out
  out=$(/usr/bin/python3 benchmarks/python_consumer.py "$boot" support-events "${r#unix:}" "$count")
  echo "python $(echo "$out" | sed -E 's/.*: ([0-9.]+) msgs\/s/\1/')" >> "$results"
  redis_down "$d"
}
run_supportpulse() {
  local d="$work/sp$1" r
  r=$(redis_up "$d")
  local flags=(--bootstrap "$boot" --topic support-events --group "sp-$1-$RANDOM" --redis "$r"
               --forecast 0 --max-future-s 0 --stats-s 5 --log-level info)
  if [ -n "$set" ]; then
    IFS=, read -ra kv <<< "$set"
    for x in "${kv[@]}"; do flags+=("--${x%%=*}" "${x#*=}"); done
  fi
  /usr/bin/python3 benchmarks/live_reader.py "$r" > "$d/reader.out" 2>&1 &
  local reader=$!
  local t0 t1
  t0=$(date +%s.%N)
  ${NICE:-} "$bin" run "${flags[@]}" 2> "$d/run.log" &
  local sp=$!
  /usr/bin/python3 benchmarks/wait_caught_up.py "$r" support-events "$boot" "$partitions" 3600
  t1=$(date +%s.%N)
  kill -TERM "$sp"; wait "$sp" || true
  kill -TERM "$reader"; wait "$reader" || true
  local rate cpu mem keys slow ta
  rate=$(echo "$count / ($t1 - $t0)" | bc -l)
  # the Python consumer's clock starts at its first message: this one's at its first
  # assignment (the group join before it is the mock cluster's, ~3 s), reported as well
  ta=$(sed -n 's/^\([0-9T:.-]*Z\) .*\] assigned .*/\1/p' "$d/run.log" | head -1)
  ta=$(date -d "$ta" +%s.%N)
  rate_assigned=$(echo "$count / ($t1 - $ta)" | bc -l)
  # summed over the masters of a cluster (max for the slowest call); SLOWLOG keeps the
  # calls over 10 ms, with their duration in µs
  local socks=("$d"/sock "$d"/n*/sock) s k u
  mem=0 keys=0 slow=0 cpu=0 spread=""
  : > "$d/commandstats" # kept with KEEP=1
  for s in "${socks[@]}"; do
    [ -S "$s" ] || continue
    mem=$((mem + $(redis-cli -s "$s" info memory | sed -n 's/^used_memory:\([0-9]*\).*/\1/p' | tr -d '\r')))
    k=$(redis-cli -s "$s" dbsize | tr -d '\r')
    keys=$((keys + k)) spread="${spread:+$spread/}$k"
    cpu=$(echo "$cpu + $(redis-cli -s "$s" info cpu | sed -n 's/^used_cpu_user:\([0-9.]*\).*/\1/p' | tr -d '\r')" | bc -l)
    u=$(/usr/bin/python3 benchmarks/slowlog.py "$s" "$d/slowlog") # the entries, kept with KEEP=1
    [ "$u" -gt "$slow" ] && slow=$u
    redis-cli -s "$s" info commandstats >> "$d/commandstats"
  done
  # MEMORY_BY_CLASS=1: where the memory goes, by key class (docs/operations.md, Memory)
  [ -n "${MEMORY_BY_CLASS:-}" ] && /usr/bin/python3 benchmarks/memory_by_class.py "$r" > "$d/memory_by_class"
  echo "supportpulse $rate from_assignment=$rate_assigned mem=$mem keys=$keys keys_per_master=$spread slowest_us=$slow redis_cpu_user_s=$cpu $(cat "$d/reader.out")" >> "$results"
  redis_down "$d"
}
for round in $(seq "$rounds"); do
  if [ -z "$only" ]; then
    run_kcat
    run_python "$round"
  fi
  run_supportpulse "$round"
  tail -n 3 "$results" | sed "s/^/round $round: /"
done
if [ -z "$only" ] && [ -x "$spbench" ]; then
  "$spbench" decode --events "$count" --seed 5 --arrivals "$arrivals" --start "$start" --clean --runs 3 |
    tee "$work/spbench.out" | tail -n 6
fi
echo "medians (messages/s):"
for v in kcat python supportpulse; do
  { grep "^$v " "$results" || true; } | awk '{print $2}' | sort -n | awk '{a[NR]=$1} END {if (NR) printf "  %-12s %.0f (%d runs)\n", "'$v'", a[int((NR+1)/2)], NR}'
done
{ grep "^supportpulse " "$results" || true; } | sed -E 's/.*from_assignment=([0-9.]+).*/\1/' | sort -n |
  awk '{a[NR]=$1} END {if (NR) printf "  %-12s %.0f (clock from its first assignment)\n", "supportpulse", a[int((NR+1)/2)]}'
