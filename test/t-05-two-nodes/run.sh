#!/usr/bin/env bash
# needs: postgresql (the test runner makes a database and passes its URL in
# $SIGILL_STORE; by hand: SIGILL_STORE=postgres://… SIGILL=… bash run.sh)
#
# Two nodes: two `sigill serve` on one PostgreSQL store ([store] url), with
# the same key file, one BankID simulator and one fake 46elks that holds each
# answer a second and counts the SMS it took per recipient and text (46elks
# takes no idempotency key; the text carries the link, one per message and
# recipient, so that is the key here). Both nodes' notifier.link_base is the
# one public URL (which a load balancer would spread over the nodes); the
# script picks a node by the host it asks.
#
#  1. Mail goes into node A from four SMTP sessions at once, and A is killed
#     with SIGKILL mid-load, notifications in flight at the fake.
#  2. Every message that got a 250 is notified: by A before it died, or by B
#     (which sends from the shared outbox all along) after A's leases ran out
#     (vault.lease, 60 s, the shortest serve allows); none twice, since B
#     asks the fake's log of sent SMS before it sends a job A left in doubt.
#  3. Every notified link opens on B, those A notified too.
#  4. A restarts. A BankID order started through A is completed through B.
#  5. An IMAP IDLE held on A hears of the receipt B files when a message is
#     opened through B.
# It prints the figures: messages accepted, SMS counted, and how long the
# takeover took after A's death and after its leases ran out.
. "$(dirname "$0")/../lib.sh"
: "${SIGILL_STORE:?set SIGILL_STORE to the URL of an empty PostgreSQL database}"
UTIL=$(cd "$(dirname "$0")/../util" && pwd)

P() { echo $(($1 + OFFSET)); }      # node A's ports, the simulator's and the fake's
PB() { echo $(($1 + OFFSET + 40)); } # node B's (the runner's step is 80)
SIM=$WORK/bankid-simulator
CA=$SIM/ca.pem
STAFF=anna.svensson@example.se
STAFF_PASSWORD='two nodes staff password 5'
SMS_LOG=$WORK/sms.jsonl
RCPT='0701234567&login=199908072391&@secure.example.se'
LEASE=60
READER_A=https://127.0.0.1:$(P 8443)
READER_B=https://127.0.0.1:$(PB 8443)
now() { date +%s.%N; }
since() { python3 -c 'import sys; print(f"{float(sys.argv[1]) - float(sys.argv[2]):.1f}")' "$(now)" "$1"; }

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

# write_config NODE PORTFN: the node's configuration; all but its listeners,
# its vault.path (which here only names it) and node.id is alike.
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
lease = "${LEASE}s"

[node]
id = "$node"

[store]
url = "$SIGILL_STORE"

[notifier]
workers = 2
link_base = "$READER_A"

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
  wait_port "127.0.0.1:$($2 8443)"
}
start_node a P
start_node b PB

# 1. Load into A: four sessions at once, each sending one message after
#    another, each message with its own errand "Provsvar N"; every 250 is
#    listed as "N id". A is killed with SIGKILL once 40 are acknowledged
#    and the fake has taken an SMS.
ACKED=$WORK/acked
python3 - "127.0.0.1" "$(P 2587)" "$CA" "$STAFF" "$APP_PASSWORD" "$RCPT" "$ACKED" >"$WORK/load.out" 2>&1 <<'EOF' &
import re, smtplib, ssl, sys, threading
host, port, ca, user, password, rcpt, acked = sys.argv[1:]
ctx = ssl.create_default_context(cafile=ca)
lock = threading.Lock()
def session(first):
    for n in range(first, first + 400, 4):
        msg = (f"From: <{user}>\r\nTo: <{rcpt}>\r\nSubject: Provsvar {n}\r\n"
               f"Message-ID: <t05-{n}@example.se>\r\n\r\nHej! Svar nummer {n}.\r\n")
        try:
            with smtplib.SMTP(host, int(port), timeout=10) as s:
                s.starttls(context=ctx)
                s.login(user, password)
                s.mail(user)
                code, resp = s.rcpt(rcpt)
                if code != 250:
                    raise smtplib.SMTPRecipientsRefused({rcpt: (code, resp)})
                code, resp = s.data(msg.encode())
                if code != 250:
                    raise smtplib.SMTPDataError(code, resp)
        except Exception as e:
            with lock:
                print("session", first, "stopped at", n, repr(e), flush=True)
            return
        m = re.search(rb"2\.0\.0 ([a-z0-9]+) queued", resp)
        with lock, open(acked, "a") as f:
            f.write(f"{n} {m.group(1).decode() if m else '?'}\n")
threads = [threading.Thread(target=session, args=(k,)) for k in range(1, 5)]
for t in threads: t.start()
for t in threads: t.join()
EOF
LOAD_PID=$!
count() { if [ -e "$1" ]; then wc -l <"$1"; else echo 0; fi; }
for _ in $(seq 600); do [ "$(count "$ACKED")" -ge 40 ] && [ "$(count "$SMS_LOG")" -ge 1 ] && break; sleep 0.05; done
[ "$(count "$ACKED")" -ge 40 ] || fail "node A acknowledged fewer than 40 messages: $(cat "$WORK/load.out")"
kill -KILL "$PID_a"
KILLED_AT=$(now)
wait "$PID_a" 2>/dev/null || true
keep=()
for pid in "${BG_PIDS[@]}"; do [ "$pid" = "$PID_a" ] || keep+=("$pid"); done
BG_PIDS=("${keep[@]}")
wait "$LOAD_PID" || true
[ "$(grep -c 'stopped at' "$WORK/load.out")" = 4 ] || fail "the load did not notice node A's death in every session: $(cat "$WORK/load.out")"
ACKED_N=$(count "$ACKED")
grep -q ' ?$' "$ACKED" && fail "a 250 without its queued id: $(grep ' ?$' "$ACKED")"

# 2. Every acknowledged message is notified, within the lease and three
#    minutes more; none twice.
missing() { python3 - "$SMS_LOG" "$ACKED" <<'EOF'
import json, os, re, sys
texts = [json.loads(l)["message"] for l in open(sys.argv[1])] if os.path.exists(sys.argv[1]) else []
seen = {int(m.group(1)) for t in texts for m in [re.search(r"Provsvar (\d+)", t)] if m}
print(sum(1 for l in open(sys.argv[2]) if int(l.split()[0]) not in seen))
EOF
}
for _ in $(seq $((10 * (LEASE + 180)))); do [ "$(missing)" = 0 ] && break; sleep 0.1; done
ALL_NOTIFIED_AFTER=$(since "$KILLED_AT")
[ "$(missing)" = 0 ] || fail "$(missing) of $ACKED_N acknowledged messages were never notified"
stats=$(curl -sS "https://127.0.0.1:$(P 8444)/fake/stats" --cacert "$CA") || fail "the fake's stats"
grep -q '"duplicates": 0' <<<"$stats" || fail "an SMS was sent twice: $stats"
SMS_N=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["sms"])' "$stats")

# What each node did, from its log: A's notifications before it died, and
# B's takeover of the jobs A had claimed (each in doubt, since A's lease ran
# out: B asked the fake's log first). The figures are B's log's times.
figures=$(python3 - "$WORK/serve-a.err" "$WORK/serve-b.err" "$KILLED_AT" "$LEASE" <<'EOF'
import json, sys
from datetime import datetime
def lines(path):
    for l in open(path):
        try:
            yield json.loads(l)
        except ValueError:
            pass
def at(d):
    return datetime.fromisoformat(d["time"].replace("Z", "+00:00")).timestamp()
a_notified = sum(1 for d in lines(sys.argv[1]) if d.get("msg") == "notifier: notified")
killed, lease = float(sys.argv[3]), float(sys.argv[4])
took = [at(d) - killed for d in lines(sys.argv[2]) if "message in doubt" in d.get("msg", "")]
found = sum(1 for d in lines(sys.argv[2]) if d.get("msg", "").startswith("notifier: the provider had the message in doubt; recorded"))
if not took:
    print("none")
else:
    print(a_notified, len(took), found, f"{min(took):.1f}", f"{max(took):.1f}", f"{max(took) - lease:.1f}")
EOF
) || fail "reading the nodes' logs: $figures"
[ "$figures" != none ] || fail "node B took over no job of node A's in doubt (A died with none claimed?): $(grep -c 'notifier: notified' "$WORK/serve-b.err") notified by B"
read -r A_NOTIFIED TAKEN FOUND FIRST_TAKEN LAST_TAKEN AFTER_LEASE <<<"$figures"
[ "$A_NOTIFIED" -gt 0 ] || fail "node A notified nothing before it died"
[ "$FOUND" -gt 0 ] || fail "node B found none of A's in-flight SMS in the fake's log ($TAKEN in doubt): A died with none in flight?"

# 3. Every link opens on B: the letter's page with its errand, asked of B's
#    reader (those A notified among them).
out=$(python3 - "$SMS_LOG" "$READER_A" "$READER_B" "$CA" <<'EOF'
import json, re, ssl, sys, urllib.request
log, a, b, ca = sys.argv[1:]
ctx = ssl.create_default_context(cafile=ca)
n = 0
for l in open(log):
    text = json.loads(l)["message"]
    link = re.search(re.escape(a) + r"/m/[A-Za-z0-9_-]+", text).group(0)
    errand = re.search(r"Provsvar \d+", text).group(0)
    with urllib.request.urlopen(b + link[len(a):], context=ctx, timeout=10) as r:
        page = r.read().decode()
    if errand + "<" not in page and errand + "\n" not in page and errand + " " not in page:
        sys.exit(f"the page of {errand}'s link through node B does not show its errand")
    n += 1
print(n)
EOF
) || fail "links through node B: $out"
[ "$out" = "$SMS_N" ] || fail "$out links opened through node B, $SMS_N SMS"

# 4. A restarts; a BankID order started through A is completed through B.
start_node a P
link_of() { # N: the reader path of "Provsvar N"'s link
  python3 -c 'import json,re,sys
for l in open(sys.argv[1]):
    t = json.loads(l)["message"]
    if re.search(r"Provsvar %s\b" % sys.argv[2], t):
        print(re.search(r"/m/[A-Za-z0-9_-]+", t).group(0)); break' "$SMS_LOG" "$1"
}
read -r N1 _ < <(sed -n 1p "$ACKED")
read -r N2 _ < <(sed -n 2p "$ACKED")
jar=$WORK/cookies
reader() { curl -sS --cacert "$CA" -c "$jar" -b "$jar" -H 'Accept: application/json' "$@"; }
path1=$(link_of "$N1")
start=$(reader -f -X POST "$READER_A$path1/auth") || fail "POST $READER_A$path1/auth"
auto=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["autoStartToken"])' <<<"$start")
curl -sS -f -X POST -H 'Content-Type: application/json' \
  -d "{\"autoStartToken\":\"$auto\",\"personalNumber\":\"199908072391\",\"name\":\"Anna Andersson\"}" \
  "$PHONE/approve" >/dev/null || fail "approve at the simulator's phone"
# Polled through B only: B completes the order and claims it.
status=
for _ in $(seq 100); do
  status=$(reader "$READER_B$path1/auth")
  grep -q '"complete"' <<<"$status" && break
  grep -q '"none"' <<<"$status" && fail "node B does not know the BankID order started through node A: $status"
  sleep 0.2
done
grep -q '"complete"' <<<"$status" || fail "the BankID order started through A never completed through B: $status"
message=$(reader -f "$READER_B$path1/message.json") || fail "GET $READER_B$path1/message.json"
grep -q "Svar nummer $N1\\." <<<"$message" || fail "message $N1 through node B: $message"

# 5. An IMAP IDLE on A (once message N1's receipt is in INBOX); message N2 is
#    opened wholly through B, and B's receipt reaches the IDLE on A.
python3 - "$(P 1993)" "$CA" "$STAFF" "$APP_PASSWORD" "$WORK/idle" "$N1" "$N2" >"$WORK/idle.out" 2>&1 <<'EOF' &
import imaplib, ssl, sys, time
port, ca, user, password, out, n1, n2 = sys.argv[1:]
imap = imaplib.IMAP4_SSL("127.0.0.1", int(port), ssl_context=ssl.create_default_context(cafile=ca))
imap.login(user, password)
def receipt_of(n):
    _, ids = imap.search(None, "HEADER", "In-Reply-To", f"<t05-{n}@example.se>")
    return ids[0].split()
for _ in range(300):
    imap.select("INBOX", readonly=True)
    if receipt_of(n1):
        break
    time.sleep(0.1)
else:
    sys.exit(f"no receipt for message {n1} in INBOX")
tag = imap._new_tag()
imap.send(tag + b" IDLE\r\n")
line = imap.readline()
if not line.startswith(b"+"):
    sys.exit(f"IDLE refused: {line!r}")
open(out + ".ready", "w").close()
imap.sock.settimeout(60)
while True:
    line = imap.readline()
    if not line:
        sys.exit("the IDLE connection closed")
    if line.rstrip().endswith(b"EXISTS"):
        break
imap.send(b"DONE\r\n")
while not imap.readline().startswith(tag):
    pass
if not receipt_of(n2):
    sys.exit(f"the IDLE woke, but INBOX holds no receipt for message {n2}")
with open(out, "w") as f:
    f.write(line.decode())
EOF
IDLE_PID=$!
for _ in $(seq 400); do [ -e "$WORK/idle.ready" ] && break; sleep 0.05; done
[ -e "$WORK/idle.ready" ] || fail "no IDLE on node A: $(cat "$WORK/idle.out")"
rm -f "$jar"
path2=$(link_of "$N2")
bankid_open "$READER_B$path2" 199908072391
message=$(reader -f "$READER_B$path2/message.json") || fail "GET $READER_B$path2/message.json"
grep -q "Svar nummer $N2\\." <<<"$message" || fail "message $N2 through node B: $message"
wait "$IDLE_PID" || fail "IMAP IDLE on node A: $(cat "$WORK/idle.out")"
grep -q 'EXISTS' "$WORK/idle" || fail "the receipt filed by node B did not reach the IDLE on node A"

# The logs hold no body, whole personal number or password.
for node in a b; do
  for secret in 'Svar nummer' 199908072391 "$STAFF_PASSWORD" "$APP_PASSWORD" elks-two-nodes; do
    grep -qF -- "$secret" "$WORK/serve-$node.err" && fail "node $node's log holds '$secret'"
  done
done
stop_bg "$PID_a"
stop_bg "$PID_b"
echo "figures: $ACKED_N messages accepted by node A before its SIGKILL ($A_NOTIFIED notified by A itself); $SMS_N SMS at the fake, none twice"
echo "figures: failover: A's leases ran out at most ${LEASE} s (vault.lease) after its death; node B took the first of the $TAKEN jobs A had claimed ${FIRST_TAKEN} s after A's death and the last at ${LAST_TAKEN} s (${AFTER_LEASE} s past ${LEASE} s; $FOUND of them found in the fake's log, not sent again); every acknowledged message notified ${ALL_NOTIFIED_AFTER} s after A's death"
echo "ok: two serve nodes on one PostgreSQL: node A killed under load, every acknowledged message notified once, every link opened through node B, a BankID order started through A completed through B, B's receipt seen by an IMAP IDLE on the restarted A"
