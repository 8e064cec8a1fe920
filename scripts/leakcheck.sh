#!/usr/bin/env bash
# leakcheck.sh [--events N] [--rate MSG_PER_S] [--partitions N] [--seed N]
#
# A long run under valgrind's memcheck (not in CI: it takes about as many seconds as
# events / rate, plus the drain). Generated traffic (0.5% malformed, 1% duplicates, 2% out
# of order) flows at --rate into librdkafka's mock cluster (`supportpulse mock-kafka`);
# `supportpulse run` consumes it under valgrind into a redis-server on a unix socket, with
# the forecaster, the seed alert rules and an alert command on, and with small case, id
# and attribution stores so that eviction and expiry run many times. Once every message is
# consumed it gets SIGTERM. Prints valgrind's error and leak summaries; exits 1 on any
# memory error or any definitely or indirectly lost block.
set -euo pipefail
cd "$(dirname "$0")/.."

events=60000 rate=150 partitions=4 seed=7
while [ $# -gt 0 ]; do
    case "$1" in
        --events) events=$2; shift 2 ;;
        --rate) rate=$2; shift 2 ;;
        --partitions) partitions=$2; shift 2 ;;
        --seed) seed=$2; shift 2 ;;
        -h|--help) sed -n 2,11p "$0"; exit 0 ;;
        *) echo "leakcheck.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
for v in events rate partitions seed; do
    [[ ${!v} =~ ^[0-9]+$ ]] || { echo "leakcheck.sh: --$v must be a whole number, not '${!v}'" >&2; exit 2; }
done
[ "$events" -ge 1 ] && [ "$rate" -ge 1 ] && [ "$partitions" -ge 1 ] ||
    { echo "leakcheck.sh: --events, --rate and --partitions must be at least 1" >&2; exit 2; }

./scripts/install-deps.sh valgrind
[ -x build/supportpulse ] || ./scripts/build.sh build
SP=$PWD/build/supportpulse
T=$(mktemp -d /tmp/spleak.XXXXXX)
cleanup() {
    for p in ${gen:-} ${run:-} ${mock:-}; do
        kill -9 "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true # reaped quietly: no "Killed" line
    done
    redis-cli -s "$T/redis.sock" shutdown nosave >/dev/null 2>&1 || true
    echo "logs in $T"
}
trap cleanup EXIT

redis-server --port 0 --unixsocket "$T/redis.sock" --dir "$T" --save "" --daemonize yes \
    --logfile "$T/redis.log"
for _ in $(seq 50); do redis-cli -s "$T/redis.sock" ping >/dev/null 2>&1 && break; sleep 0.1; done
"$SP" mock-kafka --partitions "$partitions" --topics ev,ev-dlq > "$T/mock.out" 2> "$T/mock.log" &
mock=$!
for _ in $(seq 50); do [ -s "$T/mock.out" ] && break; sleep 0.1; done
B=$(head -1 "$T/mock.out")

"$SP" gen --bootstrap "$B" --topic ev --seed "$seed" --count "$events" --rate "$rate" \
    --arrivals-per-hour 2000 --malformed 0.005 --duplicates 0.01 --out-of-order 0.02 \
    > "$T/gen.log" 2>&1 &
gen=$!
valgrind --leak-check=full --show-leak-kinds=definite,indirect,possible \
    --errors-for-leak-kinds=definite,indirect --error-exitcode=9 --num-callers=30 \
    --log-file="$T/valgrind.log" \
    "$SP" run --bootstrap "$B" --topic ev --dlq-topic ev-dlq --group leakcheck \
    --redis "unix:$T/redis.sock" --prefix lk --max-future-s 0 --stats-s 5 \
    --alert-rules deploy/alert-rules.json --alert-eval-ms 1000 --alert-command true \
    --case-grace-s 600 --dedup-horizon-s 600 --dedup-capacity 5000 --max-cases 5000 \
    --max-attributions 3000 > "$T/run.log" 2>&1 &
run=$!

consumed() { # the last summary line's count, 0 before the first
    local c
    c=$(grep -o 'consumed=[0-9]*' "$T/run.log" | tail -1 | cut -d= -f2)
    echo "${c:-0}"
}
wait "$gen" || { echo "leakcheck.sh: the generator failed (see $T/gen.log)" >&2; exit 1; }
gen=
echo "leakcheck.sh: $events messages produced; waiting for the pipeline to consume them"
for _ in $(seq 720); do # up to an hour for the drain
    kill -0 "$run" 2>/dev/null || break
    [ "$(consumed)" -ge "$events" ] && break
    sleep 5
done
kill -TERM "$run" 2>/dev/null || true
status=0
wait "$run" || status=$?
run=
echo "leakcheck.sh: consumed $(consumed) of $events; pipeline exit status $status"
grep -A7 'ERROR SUMMARY\|LEAK SUMMARY' "$T/valgrind.log" | sed 's/^==[0-9]*== //'
if [ "$status" -ne 0 ] || [ "$(consumed)" -lt "$events" ]; then
    echo "leakcheck.sh: FAILED (see $T/valgrind.log and $T/run.log)" >&2
    exit 1
fi
echo "leakcheck.sh: no memory errors, nothing definitely or indirectly lost"
