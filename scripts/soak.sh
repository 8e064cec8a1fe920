#!/usr/bin/env bash
# soak.sh [--duration SECONDS] [--instances N] [--rate MSG_PER_S] [--partitions N] [--seed N]
#
# The exactly-once soak (not in CI; see docs/scaling.md). Generated traffic flows into
# librdkafka's mock cluster (`supportpulse mock-kafka`) for --duration seconds. Two
# groups read it into one Redis (AOF on): "calm", a single instance left alone, and
# "chaos", N instances that are killed -9 at random moments and at random crash points
# (mid-flush), stopped and restarted, while Redis itself is restarted now and then.
# At the end both must hold the same rollups (`supportpulse dump` of each prefix, the
# dump the test suite compares). Prints events in, rollup totals, dead-lettered, and
# mismatches (expected 0); exits 1 on any mismatch, 3 when the mock cluster itself
# stopped (it can abort under heavy group churn).
set -euo pipefail
cd "$(dirname "$0")/.."

duration=300 instances=3 rate=1000 partitions=12 seed=1
while [ $# -gt 0 ]; do
    case "$1" in
        --duration) duration=$2; shift 2 ;;
        --instances) instances=$2; shift 2 ;;
        --rate) rate=$2; shift 2 ;;
        --partitions) partitions=$2; shift 2 ;;
        --seed) seed=$2; shift 2 ;;
        -h|--help) sed -n 2,12p "$0"; exit 0 ;;
        *) echo "soak.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
for v in duration instances rate partitions seed; do
    [[ ${!v} =~ ^[0-9]+$ ]] || { echo "soak.sh: --$v must be a whole number, not '${!v}'" >&2; exit 2; }
done
[ "$instances" -ge 1 ] || { echo "soak.sh: --instances must be at least 1" >&2; exit 2; }

# SP_BINARY: the binary to soak (default build/supportpulse; give a copy when the tree is
# rebuilt meanwhile, or instances restarted mid-soak run a different build)
SP=${SP_BINARY:-$PWD/build/supportpulse}
[ -x "$SP" ] || { ./scripts/build.sh build; SP=$PWD/build/supportpulse; }
T=$(mktemp -d /tmp/spsoak.XXXXXX)
RANDOM=$seed
pids=()
cleanup() {
    for p in "${pids[@]}" ${gen:-} ${calm:-} ${mock:-}; do kill -9 "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true # reaped quietly (no "Killed" job reports)
    redis-cli -s "$T/redis.sock" shutdown >/dev/null 2>&1 || true
    echo "logs in $T"
}
trap cleanup EXIT

start_redis() {
    redis-server --port 0 --unixsocket "$T/redis.sock" --dir "$T" --appendonly yes \
        --save "" --daemonize yes --logfile "$T/redis.log" --pidfile "$T/redis.pid"
    for _ in $(seq 50); do redis-cli -s "$T/redis.sock" ping >/dev/null 2>&1 && return; sleep 0.1; done
    echo "soak.sh: redis-server did not start (see $T/redis.log)" >&2; exit 1
}
# Stops Redis cleanly (SHUTDOWN: the AOF is flushed) and waits until the process is gone;
# SHUTDOWN can be refused (a script running), so it is asked again, and after 30 s the
# server is killed (said so): a second server never starts on the same socket and AOF.
stop_redis() {
    local pid
    pid=$(cat "$T/redis.pid" 2>/dev/null || true)
    for _ in $(seq 300); do
        [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
        redis-cli -s "$T/redis.sock" shutdown >/dev/null 2>&1 || true
        sleep 0.1
    done
    echo "soak.sh: redis-server $pid refused SHUTDOWN for 30 s; killing it" >&2
    kill -9 "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
}
start_redis
"$SP" mock-kafka --partitions "$partitions" --topics ev,ev-dlq > "$T/mock.out" 2> "$T/mock.log" &
mock=$!
for _ in $(seq 50); do [ -s "$T/mock.out" ] && break; sleep 0.1; done
B=$(head -1 "$T/mock.out")

# The mock cluster itself can abort under heavy group churn (librdkafka 2.0.2's
# rd_kafka_mock_cgrp_member_add assertion): that ends the soak with its own message and
# exit status 3, not as mismatches.
mock_alive() {
    kill -0 "$mock" 2>/dev/null && return 0
    echo "soak.sh: the mock Kafka cluster stopped after ${SECONDS}s (not supportpulse):" >&2
    tail -n 3 "$T/mock.log" >&2
    exit 3
}

run() { # group prefix log [crash point]
    SPTEST_CRASH_AT=${4:-} "$SP" run --bootstrap "$B" --redis "unix:$T/redis.sock" --topic ev \
        --dlq-topic ev-dlq --group "$1" --prefix "$2" --forecast 0 --flush-ms 200 \
        --max-future-s 0 --max-backoff-ms 2000 -X session.timeout.ms=6000 \
        -X heartbeat.interval.ms=500 >> "$T/$3" 2>&1 &
    echo $!
}

"$SP" gen --bootstrap "$B" --topic ev --count 0 --rate "$rate" --seed "$seed" \
    --arrivals-per-hour 20000 --malformed 0.01 --duplicates 0.01 --out-of-order 0.03 \
    -X compression.type=lz4 > "$T/gen.log" 2>&1 &
gen=$!
calm=$(run calm calm calm.log)
for i in $(seq "$instances"); do pids[$i]=$(run chaos chaos "chaos-$i.log"); done

points=(flush-before-send flush-sent flush-call flush-applied dead-letter)
kills=0 crashes=0 restarts=0 redis_restarts=0
end=$((SECONDS + duration))
while [ $SECONDS -lt $end ]; do
    sleep $((5 + RANDOM % 15))
    i=$((1 + RANDOM % instances))
    case $((RANDOM % 4)) in
        0) kill -9 "${pids[$i]}" 2>/dev/null || true; wait "${pids[$i]}" 2>/dev/null || true
           pids[$i]=$(run chaos chaos "chaos-$i.log"); kills=$((kills + 1)) ;;
        1) kill -9 "${pids[$i]}" 2>/dev/null || true; wait "${pids[$i]}" 2>/dev/null || true
           pids[$i]=$(run chaos chaos "chaos-$i.log" "${points[RANDOM % ${#points[@]}]}:$((1 + RANDOM % 5))")
           crashes=$((crashes + 1)) ;;
        2) kill -TERM "${pids[$i]}" 2>/dev/null || true; wait "${pids[$i]}" 2>/dev/null || true
           pids[$i]=$(run chaos chaos "chaos-$i.log"); restarts=$((restarts + 1)) ;;
        3) stop_redis; sleep $((1 + RANDOM % 5))
           start_redis; redis_restarts=$((redis_restarts + 1)) ;;
    esac
    mock_alive || break
    # an instance that died at its crash point comes back
    for j in $(seq "$instances"); do
        kill -0 "${pids[$j]}" 2>/dev/null || { wait "${pids[$j]}" 2>/dev/null || true; pids[$j]=$(run chaos chaos "chaos-$j.log"); }
    done
done
mock_alive
kill -TERM "$gen"; wait "$gen" 2>/dev/null || true
# an instance killed at a crash point near the end comes back, then all catch up
for j in $(seq "$instances"); do
    kill -0 "${pids[$j]}" 2>/dev/null || { wait "${pids[$j]}" 2>/dev/null || true; pids[$j]=$(run chaos chaos "chaos-$j.log"); }
done

resumes() { redis-cli -s "$T/redis.sock" --raw hgetall "$1:meta" | paste - - | grep '^resume:' | sort | awk '{print $1, $2}'; }
stable=0
for _ in $(seq 600); do
    a=$(resumes calm); b=$(resumes chaos)
    if [ -n "$a" ] && [ "$a" = "$b" ]; then stable=$((stable + 1)); else stable=0; fi
    [ $stable -ge 10 ] && break
    sleep 1
done
for p in "${pids[@]}" "$calm"; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done

# the canonical dump, the one the test suite compares (publishers/prefix_dump.h)
"$SP" dump --redis "unix:$T/redis.sock" --prefix calm > "$T/calm.dump"
"$SP" dump --redis "unix:$T/redis.sock" --prefix chaos > "$T/chaos.dump"
mismatches=$(diff "$T/calm.dump" "$T/chaos.dump" | grep -c '^[<>]' || true)

meta() { redis-cli -s "$T/redis.sock" --raw hget "$1:meta" "$2"; }
events=$(redis-cli -s "$T/redis.sock" --raw hgetall calm:meta | paste - - | awk -F'\t' '$1 ~ /^resume:/ {split($2, a, " "); s += a[1]} END {print s + 0}')
rollup_total() { # contacts in the 1d rollups of all dimensions
    redis-cli -s "$T/redis.sock" --raw eval 'local s = 0
      for _, k in ipairs(redis.call("KEYS", ARGV[1] .. ":r:1d:all:*")) do
        s = s + tonumber(redis.call("HGET", k, "offered") or "0") + tonumber(redis.call("HGET", k, "created") or "0")
      end
      return s' 0 "$1"
}
dead=$(redis-cli -s "$T/redis.sock" --raw hgetall chaos:meta | paste - - | awk -F'\t' '$1 ~ /^rejected:/ {s += $2} END {print s + 0}')
echo "duration ${duration}s, ${instances} chaos instances, ${partitions} partitions, ${rate} msg/s"
echo "chaos: ${kills} kill -9, ${crashes} crash points armed, ${restarts} restarts, ${redis_restarts} Redis restarts"
echo "events in:        ${events} (messages in the topic)"
echo "consumed:         calm $(meta calm consumed), chaos $(meta chaos consumed)"
echo "rollup totals:    calm $(rollup_total calm), chaos $(rollup_total chaos) (offered + created, 1d, all)"
echo "dead-lettered:    ${dead}"
echo "compared lines:   $(wc -l < "$T/calm.dump")"
echo "mismatches:       ${mismatches}"
[ "$stable" -ge 10 ] || { echo "soak.sh: the two groups did not reach the same resume points" >&2; exit 1; }
[ "$mismatches" -eq 0 ]
