#!/usr/bin/env bash
# demo.sh [demo options] - the first README command: installs what is missing, builds,
# and runs the pipeline on its embedded default (mock Kafka, a local redis-server on
# 127.0.0.1:6390 that is left running, generated wallet help-desk traffic).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh build
exec ./build/supportpulse demo "$@"
