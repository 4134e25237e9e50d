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
# SIGILL_BENCH_STORE=postgres runs sigill on a throwaway PostgreSQL cluster
# started for the run (bench/pg.sh) instead of the bbolt file.
#
# Then it prints what sigill did under the load (bench/sample.py): RSS median
# and peak, the vault committer's busy share, requests per bbolt commit, and
# the commit time. SIGILL_BENCH_PROFILE=FILE also saves a CPU profile of
# sigill's first measured round (SIGILL_BENCH_PROFILE_SECONDS, default 5: give
# -m enough messages for a round to last that long); read it with
# `go tool pprof -top FILE`.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
compare=$root/../shared/bench/compare-ingest.sh
[ -x "$compare" ] || [ -f "$compare" ] || { echo "no $compare: the shared bench folder must sit beside the project" >&2; exit 2; }

offset=20000
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; pg_stop; rm -rf "$work"' EXIT
. "$here/pg.sh"
(cd "$root" && go build -o "$work/sigill" ./cmd/sigill)
SIGILL_DEV_PASSWORD=bench-password-unused "$work/sigill" dev -data "${SIGILL_BENCH_DATA:-$work/data}" -listen-offset $offset "${store_args[@]}" \
  >"$work/stdout" 2>"$work/log" &
pid=$!
relay=127.0.0.1:$((2525 + offset))
for _ in $(seq 100); do
  (exec 3<>/dev/tcp/127.0.0.1/$((2525 + offset))) 2>/dev/null && break
  sleep 0.1
done
profile=()
if [ -n "${SIGILL_BENCH_PROFILE:-}" ]; then
  # The listeners answer before admin.json is written: wait for it.
  for _ in $(seq 100); do [ -s "${SIGILL_BENCH_DATA:-$work/data}/admin.json" ] && break; sleep 0.1; done
  token=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "${SIGILL_BENCH_DATA:-$work/data}/admin.json")
  profile=("$SIGILL_BENCH_PROFILE" "$token" "${SIGILL_BENCH_PROFILE_SECONDS:-5}")
fi
python3 "$here/sample.py" "$pid" "http://127.0.0.1:$((9090 + offset))" "${profile[@]}" &
sampler=$!
status=0
bash "$compare" "$relay" "$@" || status=$?
kill -TERM $sampler 2>/dev/null || true
wait $sampler || true
exit $status
