# Shared by the test/t-NN-*/run.sh scripts: start `sigill dev` from the
# binary in $SIGILL on ports moved by $OFFSET, and small helpers. Each script
# runs in its own temp folder ($WORK) and fails on the first error.
# Under pipefail, `echo "$big" | grep -q` can fail although grep matched:
# grep exits at the match and echo dies of SIGPIPE. Write `grep -q X <<<"$big"`.
set -euo pipefail
: "${SIGILL:?set SIGILL to the sigill binary}"
OFFSET=${OFFSET:-1500}
WORK=$(mktemp -d)
DATA=$WORK/data
PASSWORD=integration-test-password
SUBMISSION=127.0.0.1:$((2587 + OFFSET))
RELAY=127.0.0.1:$((2525 + OFFSET))
READER=http://127.0.0.1:$((8080 + OFFSET))
IMAP=127.0.0.1:$((1143 + OFFSET))

fail() {
  echo "FAIL: $*" >&2
  if [ -e "$WORK/log" ]; then echo "--- sigill's log:" >&2; tail -20 "$WORK/log" >&2; fi
  for f in "$WORK"/*.err; do
    [ -s "$f" ] && { echo "--- $(basename "$f" .err)'s stderr:" >&2; tail -20 "$f" >&2; }
  done
  exit 1
}

start_dev() {
  SIGILL_DEV_PASSWORD=$PASSWORD "$SIGILL" dev -data "$DATA" -listen-offset "$OFFSET" >"$WORK/banner" 2>"$WORK/log" &
  SIGILL_PID=$!
  trap 'kill $SIGILL_PID 2>/dev/null; wait $SIGILL_PID 2>/dev/null; rm -rf "$WORK"' EXIT
  for _ in $(seq 200); do grep -q -- --header "$WORK/banner" 2>/dev/null && return; sleep 0.05; done
  fail "sigill dev printed no banner"
}

# swaks_send RCPT SUBJECT BODY: submission with AUTH LOGIN; prints swaks's dialog.
swaks_send() {
  swaks --server "$SUBMISSION" --auth LOGIN --auth-user dev@staff.test --auth-password "$PASSWORD" \
    --from dev@staff.test --to "$1" --header "Subject: $2" --body "$3" 2>&1 || true
}

# queued_id: the id of the "250 2.0.0 <id> queued" in swaks's dialog on stdin.
queued_id() { sed -n 's/.*250 2\.0\.0 \([a-z0-9]*\) queued.*/\1/p' | head -1; }

# outbox_field ID FIELD: a field of the message's line in outbox.jsonl, waiting for it.
outbox_field() {
  for _ in $(seq 100); do
    v=$(python3 -c 'import json,sys
for l in open(sys.argv[1]):
    d = json.loads(l)
    if d["message_id"] == sys.argv[2]: print(d[sys.argv[3]]); break' "$DATA/outbox.jsonl" "$1" "$2" 2>/dev/null || true)
    [ -n "$v" ] && { echo "$v"; return; }
    sleep 0.05
  done
  fail "no line for $1 in outbox.jsonl"
}

# bankid_open LINK PERSONAL_NUMBER: sign in at the reader's JSON endpoints
# with the simulator's phone approving as Anna Andersson, until the order is
# complete; the session is in the cookie jar $WORK/cookies. The phone is
# $PHONE when the script sets it (a simulator of its own), else sigill dev's;
# with $CA set, curl checks the servers' certificates against it.
bankid_open() {
  local jar=$WORK/cookies start token
  local tls=(${CA:+--cacert "$CA"})
  start=$(curl -sf "${tls[@]}" -c "$jar" -b "$jar" -H 'Accept: application/json' -X POST "$1/auth") || fail "POST $1/auth"
  token=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["autoStartToken"])' <<<"$start")
  curl -sf -X POST -H 'Content-Type: application/json' \
    -d "{\"autoStartToken\":\"$token\",\"personalNumber\":\"$2\",\"name\":\"Anna Andersson\"}" \
    "${PHONE:-$READER/dev/bankid}/approve" >/dev/null || fail "approve"
  for _ in $(seq 100); do
    curl -sf "${tls[@]}" -c "$jar" -b "$jar" -H 'Accept: application/json' "$1/auth" | grep -q '"complete"' && return
    sleep 0.1
  done
  fail "the BankID order at $1 never completed"
}

# Scripts that run more than `sigill dev` (serve, a simulator, a fake
# provider) start each process with start_bg; on exit every one still
# running gets SIGTERM, is waited for, and $WORK is removed.
BG_PIDS=()
stop_all() {
  local pid
  # sigill dev too: start_bg's trap replaced start_dev's, which ended it.
  for pid in "${BG_PIDS[@]}" ${SIGILL_PID:-}; do kill "$pid" 2>/dev/null || true; done
  for pid in "${BG_PIDS[@]}" ${SIGILL_PID:-}; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}

# start_bg NAME COMMAND...: run COMMAND in the background, its stdout in
# $WORK/NAME.out and its stderr appended to $WORK/NAME.err; its pid is in
# $BG_PID.
start_bg() {
  local name=$1; shift
  "$@" >"$WORK/$name.out" 2>>"$WORK/$name.err" &
  BG_PID=$!
  BG_PIDS+=("$BG_PID")
  trap stop_all EXIT
}

# stop_bg PID: SIGTERM, and fail unless the process then exits with 0. The
# pid leaves BG_PIDS, so stop_all never signals a number the system may have
# given to another process since.
stop_bg() {
  kill -TERM "$1"
  wait "$1" || fail "process $1 exited with $? after SIGTERM"
  local keep=() pid
  for pid in "${BG_PIDS[@]}"; do [ "$pid" = "$1" ] || keep+=("$pid"); done
  BG_PIDS=("${keep[@]}")
}

# wait_for FILE PATTERN WHAT: wait (20 s at most) for a line matching the
# grep pattern to appear in FILE.
wait_for() {
  for _ in $(seq 400); do grep -q -- "$2" "$1" 2>/dev/null && return; sleep 0.05; done
  fail "no $3 (no line matching '$2' in $1)"
}

# wait_port HOST:PORT: wait (20 s at most) until something accepts there.
wait_port() {
  for _ in $(seq 400); do (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null && return; sleep 0.05; done
  fail "nothing listens on $1"
}
