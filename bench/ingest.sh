#!/usr/bin/env bash
# Durable-accept rate of sigill against Postfix, measured in one run.
#
#   bench/ingest.sh [-s SESSIONS] [-l BYTES] [-m MESSAGES] [-r ROUNDS]
#
# Builds sigill, starts `sigill dev` on a fresh data folder (ports moved by
# 20000 so a developer's own dev instance is left alone), and runs
# ../shared/bench/compare-ingest.sh against its relay listener with the same
# arguments. The last line is the median ratio sigill/Postfix: ratio=<x>.
# Needs root once, to install Postfix (../shared/bench/setup-postfix.sh).
# SIGILL_BENCH_DATA=DIR runs sigill on an existing data folder (e.g. one
# filled by `go run ./bench/fill`) instead of an empty one.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
compare=$root/../shared/bench/compare-ingest.sh
[ -x "$compare" ] || [ -f "$compare" ] || { echo "no $compare: the shared bench folder must sit beside the project" >&2; exit 2; }

offset=20000
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
(cd "$root" && go build -o "$work/sigill" ./cmd/sigill)
SIGILL_DEV_PASSWORD=bench-password-unused "$work/sigill" dev -data "${SIGILL_BENCH_DATA:-$work/data}" -listen-offset $offset \
  >"$work/stdout" 2>"$work/log" &
pid=$!
relay=127.0.0.1:$((2525 + offset))
for _ in $(seq 100); do
  (exec 3<>/dev/tcp/127.0.0.1/$((2525 + offset))) 2>/dev/null && break
  sleep 0.1
done
bash "$compare" "$relay" "$@"
