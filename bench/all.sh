#!/usr/bin/env bash
# Every figure in BENCHMARKS.md, in one run, one after the other (so that no
# two measurements share the CPU), each under the command that gives it:
#
#   bench/all.sh [FILLED_DIR]
#
# FILLED_DIR is a data folder filled by `go run ./bench/fill -data DIR -n
# 1000000` (10 to 20 minutes, 6.4 GB): the 8-session ingest is then run once
# more on it, to set beside the run on an empty vault. The run adds about
# 14 000 messages to it. Needs Postfix once (../shared/bench/setup-postfix.sh,
# as root), python3 and curl, and PostgreSQL (apt-get install postgresql) for
# the engine's rows. Takes about 15 minutes without FILLED_DIR.
# Every step runs even when one fails; the exit status says whether any did.
set -uo pipefail
cd "$(dirname "$0")/.."
filled=${1:-}
profile=$(mktemp --suffix=.pprof)

failed=0
step() {
  echo
  echo "## $*"
  "$@" 2>&1 | grep -v '^round\|^goos\|^goarch\|^pkg\|^cpu\|^PASS\|^ok '
  [ "${PIPESTATUS[0]}" -eq 0 ] || { echo "(this step failed)"; failed=1; }
}

echo "# sigill benchmarks, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(go env GOVERSION), commit $(git rev-parse --short HEAD)"
step env SIGILL_BENCH_PROFILE="$profile" SIGILL_BENCH_PROFILE_SECONDS=3 bench/ingest.sh -s 8 -l 2048 -m 4000 -r 5
step bench/ingest.sh -s 1 -l 2048 -m 1000 -r 3
step bench/ingest.sh -s 8 -l 65536 -m 1000 -r 3
step bench/ingest.sh -s 1 -l 65536 -m 500 -r 3
step env SIGILL_BENCH_STORE=postgres bench/ingest.sh -s 8 -l 2048 -m 4000 -r 3
step env SIGILL_BENCH_STORE=postgres bench/ingest.sh -s 1 -l 2048 -m 1000 -r 3
step env SIGILL_BENCH_STORE=postgres bench/ingest.sh -s 8 -l 65536 -m 1000 -r 3
step bench/api.sh -c 8 -l 2048 -m 2000 -r 3
if [ -n "$filled" ]; then
  step env SIGILL_BENCH_DATA="$filled" bench/ingest.sh -s 8 -l 2048 -m 4000 -r 5
fi
step go test -run='^$' -bench=AcceptLatency -benchtime=2000x ./smtpd/
step go test -run='^$' -bench=Accept -benchtime=2s ./vault/
step go test -run='^$' -bench=Throughput -benchtime=3000x ./notifier/
step bench/reader.sh -n 300 -r 5
echo
echo "## CPU profile of sigill during its first 8-session 2 KiB round ($profile)"
[ -s "$profile" ] || { echo "(no profile was taken)"; failed=1; }
go tool pprof -top -nodecount=25 "$profile" 2>/dev/null | sed -n '4,40p'
go tool pprof -top -cum -nodecount=400 "$profile" 2>/dev/null |
  grep -E ' (sigill/vault\.\(\*committer\)\.run|go\.etcd\.io/bbolt\.\(\*Tx\)\.Commit|syscall\.Fdatasync|sigill/smtpd\.\(\*session\)\.(Data|Rcpt)|sigill/vault\.\(\*Vault\)\.prepare|sigill/notifier\.\(\*Notifier\)\.process|runtime\.gcBgMarkWorker|github\.com/emersion/go-smtp\.\(\*Conn\)\.writeResponse)$'
exit $failed
