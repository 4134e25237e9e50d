#!/usr/bin/env bash
# API sends per second beside SMTP's and Postfix's, measured in one run.
#
#   bench/api.sh [-c CLIENTS] [-l BYTES] [-m MESSAGES] [-r ROUNDS]
#
# Starts `sigill dev` on a fresh data folder (ports moved by 20000), makes an
# API key for dev@staff.test, and per round measures, one after the other:
# Postfix and sigill over SMTP (../shared/bench/compare-ingest.sh, CLIENTS
# sessions) and sigill over the REST API (bench/apiload, CLIENTS concurrent
# clients, one POST /api/v1/messages each time), the same payload size and
# recipient. Prints each round and the medians; the last lines are the median
# ratios api/postfix and api/smtp.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
compare=$root/../shared/bench/compare-ingest.sh
[ -f "$compare" ] || { echo "no $compare: the shared bench folder must sit beside the project" >&2; exit 2; }
clients=8; size=2048; msgs=2000; rounds=3
while getopts c:l:m:r: o; do
  case $o in c) clients=$OPTARG;; l) size=$OPTARG;; m) msgs=$OPTARG;; r) rounds=$OPTARG;; *) exit 2;; esac
done

offset=20000
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
(cd "$root" && go build -o "$work/sigill" ./cmd/sigill && go build -o "$work/apiload" ./bench/apiload)
SIGILL_DEV_PASSWORD=bench-password-unused "$work/sigill" dev -data "$work/data" -listen-offset $offset \
  >"$work/stdout" 2>"$work/log" &
pid=$!
# The banner comes once the dev account exists.
for _ in $(seq 300); do grep -q "sigill dev is running" "$work/stdout" && break; sleep 0.1; done
key=$("$work/sigill" apikey create dev@staff.test -name bench -rate 100000 -data "$work/data" | tail -n 1)
api=http://127.0.0.1:$((8090 + offset))

median() { sort -g | awk '{a[NR]=$1} END{ if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2 }'; }
"$work/apiload" -url "$api" -key "$key" -c "$clients" -n 200 -l "$size" >/dev/null # warm-up
P=(); S=(); A=(); RP=(); RS=()
for ((i=1;i<=rounds;i++)); do
  out=$(bash "$compare" "127.0.0.1:$((2525 + offset))" -s "$clients" -l "$size" -m "$msgs" -r 1)
  p=$(awk '/^postfix median/{print $3}' <<<"$out"); s=$(awk '/^server  median/{print $3}' <<<"$out")
  a=$("$work/apiload" -url "$api" -key "$key" -c "$clients" -n "$msgs" -l "$size")
  echo "round $i: postfix=$p msg/s  smtp=$s msg/s  api=$a msg/s"
  P+=("$p"); S+=("$s"); A+=("$a")
  RP+=("$(echo "$a / $p" | bc -l)"); RS+=("$(echo "$a / $s" | bc -l)")
done
echo "clients=$clients bytes=$size messages=$msgs rounds=$rounds"
echo "postfix median: $(printf '%s\n' "${P[@]}" | median) msg/s"
echo "smtp    median: $(printf '%s\n' "${S[@]}" | median) msg/s"
echo "api     median: $(printf '%s\n' "${A[@]}" | median) msg/s"
printf 'api/postfix=%.2f\n' "$(printf '%s\n' "${RP[@]}" | median)"
printf 'api/smtp=%.2f\n' "$(printf '%s\n' "${RS[@]}" | median)"
