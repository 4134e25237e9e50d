# Shared by the test/t-NN-*/run.sh scripts: start `sigill dev` from the
# binary in $SIGILL on ports moved by $OFFSET, and small helpers. Each script
# runs in its own temp folder ($WORK) and fails on the first error.
set -euo pipefail
: "${SIGILL:?set SIGILL to the sigill binary}"
OFFSET=${OFFSET:-23000}
WORK=$(mktemp -d)
DATA=$WORK/data
PASSWORD=integration-test-password
SUBMISSION=127.0.0.1:$((2587 + OFFSET))
RELAY=127.0.0.1:$((2525 + OFFSET))
READER=http://127.0.0.1:$((8080 + OFFSET))
IMAP=127.0.0.1:$((1143 + OFFSET))

fail() { echo "FAIL: $*" >&2; echo "--- sigill's log:" >&2; tail -20 "$WORK/log" >&2 || true; exit 1; }

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
