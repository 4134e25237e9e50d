#!/usr/bin/env bash
# needs: postgresql (the test runner makes a database and passes its URL in
# $SIGILL_STORE; by hand: SIGILL_STORE=postgres://… SIGILL=… bash run.sh)
#
# Two nodes: two `sigill serve` on one PostgreSQL store ([store] url), with
# the same key file, one BankID simulator and one fake 46elks. Mail goes into
# node A under load and A is killed with SIGKILL mid-load: every message that
# got a 250 is notified, by A before it died or by B once A's leases ran out
# (vault.lease), and none twice (the fake counts an SMS whose recipient and
# text it already had). Then A restarts and holds an IMAP IDLE; a link is
# opened through B (BankID through the simulator), and the receipt B files
# reaches the IDLE on A.
. "$(dirname "$0")/../lib.sh"
: "${SIGILL_STORE:?set SIGILL_STORE to the URL of an empty PostgreSQL database}"
UTIL=$(cd "$(dirname "$0")/../util" && pwd)

P() { echo $(($1 + OFFSET)); }      # node A's ports, the simulator's and the fake's
PB() { echo $(($1 + OFFSET + 50)); } # node B's
SIM=$WORK/bankid-simulator
CA=$SIM/ca.pem
STAFF=anna.svensson@example.se
STAFF_PASSWORD='two nodes staff password 5'
SMS_LOG=$WORK/sms.jsonl
RCPT='0701234567&login=199908072391&@secure.example.se'

start_bg simulator "$SIGILL" bankid-simulator -dir "$SIM" -listen "127.0.0.1:$(P 8081)" -phone "127.0.0.1:$(P 8082)"
wait_for "$WORK/simulator.out" '^A TLS pair' "banner from sigill bankid-simulator"
bankid_block=$(sed -n '/^\[bankid\]$/,/^$/p' "$WORK/simulator.out")
PHONE=http://127.0.0.1:$(P 8082)/dev/bankid

mkdir -m 700 "$WORK/secrets"
printf '%s\n' elks-two-nodes >"$WORK/secrets/sms-password"
start_bg fake46elks python3 "$UTIL/fake46elks.py" --listen "127.0.0.1:$(P 8444)" \
  --cert "$SIM/server.pem" --key "$SIM/server.key" \
  --user u-nodes --password-file "$WORK/secrets/sms-password" --out "$SMS_LOG" --answer-delay 1
wait_for "$WORK/fake46elks.out" '^listening' "start of the fake 46elks"

# write_config NODE PORTFN: the node's configuration; everything but its
# ports, its vault.path (which only names it) and node.id is alike.
write_config() {
  local node=$1 p=$2
  mkdir -m 700 -p "$WORK/$node"
  cat >"$WORK/$node.toml" <<EOF
[organisation]
name = "Region Exempel"
sms_sender = "RegionEx"
default_lang = "sv"

[smtp]
domains = ["secure.example.se"]
hostname = "localhost"

[smtp.submission]
listen = ["127.0.0.1:$($p 2587)"]

[tls]
cert_file = "$SIM/server.pem"
key_file = "$SIM/server.key"

[addressing]
region = "SE"

[vault]
path = "$WORK/$node/sigill.db"
key_file = "$WORK/shared.key"
lease = "60s"

[node]
id = "$node"

[store]
url = "$SIGILL_STORE"

[notifier]
workers = 2
link_base = "https://127.0.0.1:$($p 8443)"

[notifier.sms]
provider = "46elks"
url = "https://127.0.0.1:$(P 8444)/a1/sms"
username = "u-nodes"
password_file = "$WORK/secrets/sms-password"

[notifier.email]
smarthost = "127.0.0.1:$($p 2526)"
from = "noreply@secure.example.se"

$bankid_block

[reader]
listen = ["127.0.0.1:$($p 8443)"]

[imap]
listen = ["127.0.0.1:$($p 1993)"]

[receipts]
mail_to_sender = false

[admin]
listen = ["127.0.0.1:$($p 9090)"]
EOF
  local check
  check=$("$SIGILL" check-config -config "$WORK/$node.toml" 2>&1) || fail "check-config $node: $check"
}
write_config a P
write_config b PB

# The staff account, in the shared store before any node runs (the first
# command makes the schema and the key file), with an app password.
out=$(printf '%s\n' "$STAFF_PASSWORD" | "$SIGILL" user -config "$WORK/a.toml" add "$STAFF" 2>&1) || fail "user add: $out"
out=$("$SIGILL" user -config "$WORK/a.toml" app-password "$STAFF" create imap 2>&1) || fail "app-password create: $out"
APP_PASSWORD=$(sed -n 's/^  \([A-Z2-7]\{26\}\)$/\1/p' <<<"$out")
[ -n "$APP_PASSWORD" ] || fail "app-password create printed no password: $out"

start_node() { # NODE PORTFN
  start_bg "serve-$1" env SSL_CERT_FILE="$CA" "$SIGILL" serve -config "$WORK/$1.toml"
  eval "PID_$1=$BG_PID"
  wait_port "127.0.0.1:$($2 2587)"
  wait_port "127.0.0.1:$($2 1993)"
}
start_node a P
start_node b PB

# Load into A: one message after another, each with its own errand, the
# acknowledged ones listed; A is killed with SIGKILL after the tenth.
ACKED=$WORK/acked
python3 - "127.0.0.1" "$(P 2587)" "$CA" "$STAFF" "$APP_PASSWORD" "$RCPT" "$ACKED" >"$WORK/load.out" 2>&1 <<'EOF' &
import smtplib, ssl, sys
host, port, ca, user, password, rcpt, acked = sys.argv[1:]
ctx = ssl.create_default_context(cafile=ca)
for n in range(1, 201):
    msg = (f"From: <{user}>\r\nTo: <{rcpt}>\r\nSubject: Provsvar {n}\r\n"
           f"Message-ID: <t05-{n}@example.se>\r\n\r\nHej! Svar nummer {n}.\r\n")
    try:
        with smtplib.SMTP(host, int(port), timeout=10) as s:
            s.starttls(context=ctx)
            s.login(user, password)
            s.sendmail(user, [rcpt], msg.encode())
    except Exception as e:
        print("stopped at", n, repr(e))
        break
    with open(acked, "a") as f:
        f.write(f"{n}\n")
EOF
LOAD_PID=$!
acked_count() { if [ -e "$ACKED" ]; then wc -l <"$ACKED"; else echo 0; fi; }
for _ in $(seq 600); do [ "$(acked_count)" -ge 10 ] && break; sleep 0.05; done
[ "$(acked_count)" -ge 10 ] || fail "node A acknowledged fewer than 10 messages: $(cat "$WORK/load.out")"
kill -KILL "$PID_a"
# The fake holds each answer a second: A dies with notifications in flight
# (taken by the fake, never answered) and others claimed or queued.
SENT_BY_A=$(if [ -e "$SMS_LOG" ]; then wc -l <"$SMS_LOG"; else echo 0; fi)
wait "$PID_a" 2>/dev/null || true
keep=()
for pid in "${BG_PIDS[@]}"; do [ "$pid" = "$PID_a" ] || keep+=("$pid"); done
BG_PIDS=("${keep[@]}")
wait "$LOAD_PID" || true
ACKED_N=$(wc -l <"$ACKED")
[ "$SENT_BY_A" -lt "$ACKED_N" ] || fail "node A had notified all $ACKED_N before it died: nothing was left to take over"
grep -q 'stopped at' "$WORK/load.out" || fail "the load did not notice node A's death: $(cat "$WORK/load.out")"

# Every acknowledged message is notified: by A before it died or by B after
# A's leases ran out (60 s), within three minutes; none twice.
notified() { python3 - "$SMS_LOG" "$ACKED" <<'EOF'
import json, re, sys
texts = [json.loads(l)["message"] for l in open(sys.argv[1])] if __import__("os").path.exists(sys.argv[1]) else []
seen = {int(m.group(1)) for t in texts for m in [re.search(r"Provsvar (\d+)", t)] if m}
missing = [n for n in map(int, open(sys.argv[2])) if n not in seen]
print(len(missing))
EOF
}
for _ in $(seq 1800); do [ "$(notified)" = 0 ] && break; sleep 0.1; done
[ "$(notified)" = 0 ] || fail "$(notified) of $ACKED_N acknowledged messages were never notified"
stats=$(curl -sS "https://127.0.0.1:$(P 8444)/fake/stats" --cacert "$CA") || fail "the fake's stats"
grep -q '"duplicates": 0' <<<"$stats" || fail "an SMS was sent twice: $stats"

# A restarts and holds an IMAP IDLE; the first message is opened through B.
start_node a P
python3 - "$(P 1993)" "$CA" "$STAFF" "$APP_PASSWORD" "$WORK/idle" >"$WORK/idle.out" 2>&1 <<'EOF' &
import imaplib, socket, ssl, sys
port, ca, user, password, out = sys.argv[1:]
imap = imaplib.IMAP4_SSL("127.0.0.1", int(port), ssl_context=ssl.create_default_context(cafile=ca))
imap.login(user, password)
imap.select("INBOX", readonly=True)
tag = imap._new_tag()
imap.send(tag + b" IDLE\r\n")
line = imap.readline()
if not line.startswith(b"+"):
    sys.exit(f"IDLE refused: {line!r}")
open(out + ".ready", "w").close()
imap.sock.settimeout(120)
while True:
    line = imap.readline()
    if not line:
        sys.exit("the IDLE connection closed")
    if line.rstrip().endswith(b"EXISTS"):
        with open(out, "w") as f:
            f.write(line.decode())
        break
imap.send(b"DONE\r\n")
EOF
IDLE_PID=$!
for _ in $(seq 400); do [ -e "$WORK/idle.ready" ] && break; sleep 0.05; done
[ -e "$WORK/idle.ready" ] || fail "no IDLE on node A: $(cat "$WORK/idle.out")"

link=$(python3 -c 'import json,re,sys
for l in open(sys.argv[1]):
    t = json.loads(l)["message"]
    if re.search(r"Provsvar 1\b", t):
        print(re.search(r"https://\S+/m/[A-Za-z0-9_-]+", t).group(0)); break' "$SMS_LOG")
token=${link##*/}
link_b="https://127.0.0.1:$(PB 8443)/m/$token"
bankid_open "$link_b" 199908072391
message=$(curl -sS -f --cacert "$CA" -b "$WORK/cookies" -H 'Accept: application/json' "$link_b/message.json") || fail "GET $link_b/message.json"
grep -q 'Svar nummer 1\.' <<<"$message" || fail "message 1 through node B: $message"

wait "$IDLE_PID" || fail "IMAP IDLE on node A: $(cat "$WORK/idle.out")"
grep -q 'EXISTS' "$WORK/idle" || fail "the receipt filed by node B did not reach the IDLE on node A"

stop_bg "$PID_a"
stop_bg "$PID_b"
echo "ok: $ACKED_N messages acknowledged by node A before its SIGKILL ($SENT_BY_A notified by then), all notified once; message 1 opened through node B, its receipt seen by an IMAP IDLE on node A"
