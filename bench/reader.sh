#!/usr/bin/env bash
# The reader's latencies, against `sigill dev` on loopback:
#   - the landing page GET /m/<token>: p50 and p99 over N fetches;
#   - from the phone's approval to the message being readable (BankID
#     complete → message.json), over R orders. The server collects every
#     2 s, as BankID asks, so this is bounded by that interval.
#   bench/reader.sh [-n FETCHES] [-r ORDERS]
set -euo pipefail
n=500; r=5
while getopts n:r: o; do case $o in n) n=$OPTARG;; r) r=$OPTARG;; *) exit 2;; esac; done
root=$(cd "$(dirname "$0")/.." && pwd)
offset=21000
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
(cd "$root" && go build -o "$work/sigill" ./cmd/sigill)
SIGILL_DEV_PASSWORD=bench-password "$work/sigill" dev -data "$work/data" -listen-offset $offset >"$work/out" 2>"$work/log" &
pid=$!
for _ in $(seq 100); do grep -q -- --header "$work/out" 2>/dev/null && break; sleep 0.1; done
reader=http://127.0.0.1:$((8080 + offset))

send() { # $1 = number of messages; prints nothing
  python3 - "$((2525 + offset))" "$1" <<'PY'
import smtplib, sys
port, count = int(sys.argv[1]), int(sys.argv[2])
for i in range(count):
    with smtplib.SMTP("127.0.0.1", port) as s:
        s.sendmail("mta@example.se", ["0701234567&login=199908072391&@secure.test"],
                   "Subject: Provsvar\r\n\r\nHej! Ditt provsvar ar klart.\r\n")
PY
}
links() { # the last $1 links in the outbox
  for _ in $(seq 50); do [ "$(wc -l < "$work/data/outbox.jsonl" 2>/dev/null || echo 0)" -ge "$1" ] && break; sleep 0.1; done
  python3 -c 'import json,sys; [print(json.loads(l)["link"]) for l in open(sys.argv[1]).readlines()[-int(sys.argv[2]):]]' "$work/data/outbox.jsonl" "$1"
}
pct() { sort -g | awk -v q="$1" '{a[NR]=$1} END{i=int(q*(NR-1))+1; printf "%.1f", a[i]*1000}'; }

# The reader limits each address to 20 requests/s and each link to 5/s:
# fetch 20 links in turn, paced under those limits, and count only 200s.
send 20
mapfile -t pages < <(links 20)
for i in $(seq "$n"); do
  curl -s -o /dev/null -w '%{http_code} %{time_total}\n' "${pages[$((i % 20))]}"
  sleep 0.06
done > "$work/landing"
if grep -qv '^200 ' "$work/landing"; then echo "some fetches were refused: $(grep -cv '^200 ' "$work/landing")"; exit 1; fi
cut -d' ' -f2 "$work/landing" > "$work/landing.t"
echo "landing GET /m/<token>: p50 $(pct 0.5 < "$work/landing.t") ms, p99 $(pct 0.99 < "$work/landing.t") ms over $n fetches"
html=$(curl -s "${pages[0]}" | wc -c)
assets=$(curl -s "${pages[0]}" | grep -o '/static/[^"]*' | sort -u | while read -r a; do curl -s "$reader$a" | wc -c; done | paste -sd+ | bc)
echo "landing page transfer: $((html + assets)) bytes ($html HTML + $assets CSS and JS)"

send "$r"
: > "$work/open"
for link in $(links "$r"); do
  jar=$work/jar.$RANDOM
  ast=$(curl -s -c "$jar" -b "$jar" -H 'Accept: application/json' -X POST "$link/auth" | python3 -c 'import json,sys; print(json.load(sys.stdin)["autoStartToken"])')
  t0=$(date +%s.%N)
  curl -s -o /dev/null -X POST -H 'Content-Type: application/json' \
    -d "{\"autoStartToken\":\"$ast\",\"personalNumber\":\"199908072391\"}" "$reader/dev/bankid/approve"
  until curl -s -c "$jar" -b "$jar" -H 'Accept: application/json' "$link/auth" | grep -q '"complete"'; do sleep 0.05; done
  curl -s -c "$jar" -b "$jar" "$link/message.json" | grep -q 'provsvar' 
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc -l >> "$work/open"
done
echo "approval → message readable: p50 $(pct 0.5 < "$work/open") ms, max $(pct 1 < "$work/open") ms over $r orders (collect every 2 s)"
