#!/usr/bin/env bash
# The production path: `sigill serve -config FILE` with a full configuration
# file (TLS on every listener), the BankID simulator as its own process
# (`sigill bankid-simulator`, reached through bankid.url with environment =
# "test") and a fake 46elks over HTTPS. Real clients throughout: swaks over
# STARTTLS + AUTH LOGIN, verifying the certificate; curl --cacert for the
# reader; Python's imaplib over implicit TLS for the receipt. The one CA of the
# simulator's throwaway PKI (ca.pem) vouches for every TLS server here.
. "$(dirname "$0")/../lib.sh"
UTIL=$(cd "$(dirname "$0")/../util" && pwd)

P() { echo $(($1 + OFFSET)); } # a port moved by $OFFSET
SIM=$WORK/bankid-simulator
CA=$SIM/ca.pem
STAFF=anna.svensson@example.se
STAFF_PASSWORD='staging staff password 7'
SMS_PASSWORD=elks-staging-secret
CONFIG=$WORK/sigill.toml
SUBMISSION=127.0.0.1:$(P 2587)
READER_URL=https://127.0.0.1:$(P 8443)
IMAPS_PORT=$(P 1993)
PHONE=http://127.0.0.1:$(P 8082)/dev/bankid
BODY='Hej! Provsvaret visar inget anmärkningsvärt.'

# 1. The BankID simulator: its RP API over mTLS, its phone, and the [bankid]
#    lines it prints for the configuration.
start_bg simulator "$SIGILL" bankid-simulator -dir "$SIM" -listen "127.0.0.1:$(P 8081)" -phone "127.0.0.1:$(P 8082)"
wait_for "$WORK/simulator.out" '^A TLS pair' "banner from sigill bankid-simulator"
bankid_block=$(sed -n '/^\[bankid\]$/,/^$/p' "$WORK/simulator.out")
grep -q '^url = "https://127.0.0.1:' <<<"$bankid_block" || fail "the simulator printed no url: $bankid_block"
grep -q "^The phone: $PHONE\$" "$WORK/simulator.out" || fail "the simulator's phone is not at $PHONE"

# 2. A fake 46elks over HTTPS with the simulator's server.pem, checking the
#    API username and password that sigill's configuration names.
mkdir -m 700 "$WORK/secrets"
printf '%s\n' "$SMS_PASSWORD" >"$WORK/secrets/sms-password"
SMS_LOG=$WORK/sms.jsonl
start_bg fake46elks python3 "$UTIL/fake46elks.py" --listen "127.0.0.1:$(P 8444)" \
  --cert "$SIM/server.pem" --key "$SIM/server.key" \
  --user u-staging --password-file "$WORK/secrets/sms-password" --out "$SMS_LOG"
wait_for "$WORK/fake46elks.out" '^listening' "start of the fake 46elks"

# 3. The configuration, as a staging deployment on one machine would write it.
cat >"$CONFIG" <<EOF
[organisation]
name = "Region Exempel"
sms_sender = "RegionEx"
default_lang = "sv"

[smtp]
domains = ["secure.example.se"]
hostname = "localhost"
max_message_bytes = 26214400
max_recipients = 50

[smtp.submission]                       # staff: STARTTLS, then AUTH
listen = ["$SUBMISSION"]
implicit_tls_listen = ["127.0.0.1:$(P 2465)"]

[smtp.relay]                            # the organisation's MTA, here anything on loopback
listen = ["127.0.0.1:$(P 2525)"]
trusted_networks = ["127.0.0.0/8"]
sender_domains = ["example.se"]

[tls]                                   # the simulator's pair for 127.0.0.1, under its ca.pem
cert_file = "$SIM/server.pem"
key_file = "$SIM/server.key"

[addressing]
region = "SE"
default_login = ""
max_logins = 20

[vault]
path = "$WORK/vault/sigill.db"
retention = "720h"
audit_retention = "9600h"

[notifier]
workers = 2
max_age = "48h"
link_base = "$READER_URL"

[notifier.sms]
provider = "46elks"
url = "https://127.0.0.1:$(P 8444)/a1/sms"    # the fake; trusted through SSL_CERT_FILE
username = "u-staging"
password_file = "$WORK/secrets/sms-password"
delivery_report_url = "$READER_URL/hooks/sms"

[notifier.email]                        # no e-mail recipients and no mailed receipts here
smarthost = "127.0.0.1:$(P 2526)"
from = "noreply@secure.example.se"

$bankid_block
user_visible_text = "Logga in för att läsa ett säkert meddelande från Region Exempel"

[reader]
listen = ["127.0.0.1:$(P 8443)"]
session_ttl = "15m"

[imap]
listen = ["127.0.0.1:$IMAPS_PORT"]      # implicit TLS

[receipts]
mail_to_sender = false                  # receipts only in IMAP: this staging run has no smarthost

[admin]
listen = ["127.0.0.1:$(P 9090)"]
EOF
mkdir -m 700 "$WORK/vault"
check=$("$SIGILL" check-config -config "$CONFIG" 2>&1) || fail "check-config refused the configuration: $check"
[ "$check" = "OK $CONFIG" ] || fail "check-config said more than OK (fresh certificates warn of nothing): $check"

# 4. The first start makes the vault; the staff account is added while sigill
#    is stopped; then serve again, trusting the fake 46elks through ca.pem.
start_serve() {
  start_bg serve env SSL_CERT_FILE="$CA" "$SIGILL" serve -config "$CONFIG"
  SERVE_PID=$BG_PID
  wait_port "$SUBMISSION"
  wait_port "127.0.0.1:$IMAPS_PORT"
}
start_serve
stop_bg "$SERVE_PID"
out=$(printf '%s\n' "$STAFF_PASSWORD" | "$SIGILL" user -config "$CONFIG" add "$STAFF" 2>&1) || fail "user add: $out"
# staff.require_2fa is on unless the file says otherwise: mail clients log
# in with an app password, made here while serve is stopped.
out=$("$SIGILL" user -config "$CONFIG" app-password "$STAFF" create swaks 2>&1) || fail "app-password create: $out"
APP_PASSWORD=$(sed -n 's/^  \([A-Z2-7]\{26\}\)$/\1/p' <<<"$out")
[ -n "$APP_PASSWORD" ] || fail "app-password create printed no password: $out"
start_serve

# 5. Without TLS no AUTH is offered; a wrong recipient is refused with its
#    fault; a good one is queued. swaks verifies serve's certificate chain
#    against ca.pem (this swaks does not check the host name).
swaks_tls() { # RCPT MESSAGE-ID [PASSWORD]
  swaks --server "$SUBMISSION" --tls --tls-verify --tls-ca-path "$CA" \
    --auth LOGIN --auth-user "$STAFF" --auth-password "${3:-$APP_PASSWORD}" \
    --from "$STAFF" --to "$1" --header 'Subject: Provsvar' --header "Message-Id: $2" --body "$BODY" 2>&1 || true
}
plain=$(swaks --server "$SUBMISSION" --auth LOGIN --auth-user "$STAFF" --auth-password "$STAFF_PASSWORD" \
  --from "$STAFF" --to '0701234567&login=199908072391&@secure.example.se' --body "$BODY" 2>&1 || true)
grep -q ' queued' <<<"$plain" && fail "sent without TLS: $plain"
grep -qi 'did not advertise.*auth' <<<"$plain" || fail "AUTH offered before STARTTLS? $plain"

refused=$(swaks_tls '0701234567&login=199908072391&@secure.example.se' '<t04-pw@example.se>' "$STAFF_PASSWORD")
grep -q '535 5\.7\.8 This account uses a second factor: log in with an app password' <<<"$refused" || fail "the account password was not refused under staff.require_2fa: $refused"

bad=$(swaks_tls '070123&login=1999&@secure.example.se' '<t04-bad@example.se>')
grep -q 'TLS started' <<<"$bad" || fail "no TLS for the bad recipient: $bad"
grep -q '550 5\.1\.3 .*070123 is not a valid phone number' <<<"$bad" || fail "the bad recipient was not refused with its fault: $bad"
grep -q ' queued' <<<"$bad" && fail "a bad recipient was queued: $bad"

dialog=$(swaks_tls '0701234567&login=199908072391&@secure.example.se' '<t04@example.se>')
id=$(echo "$dialog" | queued_id)
[ -n "$id" ] || fail "no 250 queued over STARTTLS + AUTH LOGIN: $dialog"

# 6. The SMS at the fake 46elks: to the number in E.164, the errand and an
#    https link, never the body.
wait_for "$SMS_LOG" '"to": "+46701234567"' "SMS at the fake 46elks"
sms_field() { python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())[sys.argv[2]])' "$SMS_LOG" "$1"; }
text=$(sms_field message)
[ "$(sms_field from)" = RegionEx ] || fail "SMS from $(sms_field from), want RegionEx"
grep -q 'Provsvar' <<<"$text" || fail "the SMS lacks the errand: $text"
grep -q 'Provsvaret visar' <<<"$text" && fail "the SMS carries the body: $text"
link=$(grep -o "$READER_URL/m/[A-Za-z0-9_-]*" <<<"$text" | head -1)
[ -n "$link" ] || fail "no $READER_URL/m/ link in the SMS: $text"
token=${link##*/}
[ "$(wc -l <"$SMS_LOG")" -eq 1 ] || fail "more than one SMS: $(cat "$SMS_LOG")"

# 46elks then posts a delivery report to the whendelivered URL sigill gave it
# (the reader's /hooks/sms over HTTPS, with a key); without the key, 403.
report_url=$(sms_field whendelivered)
case $report_url in "$READER_URL/hooks/sms?key="?*) ;; *) fail "whendelivered is $report_url" ;; esac
report_key=${report_url##*key=}
report() { curl -sS -o /dev/null -w '%{http_code}' --cacert "$CA" -d "id=$(sms_field id)" -d status=delivered \
  --data-urlencode "delivered=$(date -u '+%Y-%m-%d %H:%M:%S.000000')" "$1"; }
[ "$(report "$READER_URL/hooks/sms")" = 403 ] || fail "a delivery report without the key was not refused"
[ "$(report "$report_url")" = 200 ] || fail "the delivery report was not taken"

# 7. The reader over HTTPS, certificate checked: the errand and HSTS; then
#    BankID through the simulator, and the body.
page=$(curl -sS -f --cacert "$CA" -D "$WORK/headers" "$link") || fail "GET $link"
grep -q 'Provsvar' <<<"$page" || fail "the reader page lacks the errand"
grep -q 'Provsvaret visar' <<<"$page" && fail "the reader page shows the body before BankID"
grep -qi '^strict-transport-security: max-age=' "$WORK/headers" || fail "no HSTS header: $(cat "$WORK/headers")"

jar=$WORK/cookies
reader() { curl -sS -f --cacert "$CA" -c "$jar" -b "$jar" -H 'Accept: application/json' "$@"; }
start=$(reader -X POST "$link/auth") || fail "POST $link/auth"
auto=$(echo "$start" | python3 -c 'import json,sys; print(json.load(sys.stdin)["autoStartToken"])')
curl -sS -f -X POST -H 'Content-Type: application/json' \
  -d "{\"autoStartToken\":\"$auto\",\"personalNumber\":\"199908072391\",\"name\":\"Anna Andersson\"}" \
  "$PHONE/approve" >/dev/null || fail "approve at the simulator's phone"
status=
for _ in $(seq 100); do
  status=$(reader "$link/auth") || fail "GET $link/auth"
  grep -q '"complete"' <<<"$status" && break
  sleep 0.2
done
grep -q '"complete"' <<<"$status" || fail "the BankID order never completed: $status"
message=$(reader "$link/message.json") || fail "GET $link/message.json"
grep -q 'Provsvaret visar inget' <<<"$message" || fail "message.json lacks the body: $message"

# 8. The receipts over IMAP with implicit TLS, the certificate checked
#    against ca.pem, both threaded with the sent Message-ID: the DSN of the
#    delivery report, and the MDN "displayed" that names the reader.
out=$(python3 - "$IMAPS_PORT" "$CA" "$STAFF" "$APP_PASSWORD" "$WORK" <<'EOF'
import imaplib, ssl, sys, time
port, ca, user, password, work = sys.argv[1:]
ctx = ssl.create_default_context(cafile=ca)  # checks the chain and 127.0.0.1
found = {}
for _ in range(300):  # 30 s and more: receipts follow the events
    with imaplib.IMAP4_SSL("127.0.0.1", int(port), ssl_context=ctx) as imap:
        imap.login(user, password)
        imap.select("INBOX", readonly=True)
        _, ids = imap.search(None, "ALL")
        for num in ids[0].split():
            _, data = imap.fetch(num, "(RFC822)")
            msg = data[0][1].decode("utf-8", "replace")
            if "In-Reply-To: <t04@example.se>" not in msg:
                continue
            for kind in ("disposition-notification", "delivery-status"):
                if "report-type=" + kind in msg:
                    found[kind] = msg
    if len(found) == 2:
        break
    time.sleep(0.1)
for kind, msg in found.items():
    with open(f"{work}/{kind}.eml", "w") as f:
        f.write(msg)
if len(found) < 2:
    sys.exit(f"INBOX has only {sorted(found)} for <t04@example.se>")
EOF
) || fail "IMAP: $out"
mdn=$(cat "$WORK/disposition-notification.eml")
grep -q 'Original-Message-ID: <t04@example.se>' <<<"$mdn" || fail "the MDN does not refer to <t04@example.se>: $mdn"
grep -q 'Disposition: .*displayed' <<<"$mdn" || fail "the MDN is not 'displayed': $mdn"
grep -q 'Anna Andersson' <<<"$mdn" || fail "the MDN does not name the reader: $mdn"
dsn=$(cat "$WORK/delivery-status.eml")
grep -q 'Action: delivered' <<<"$dsn" || fail "the DSN is not 'delivered': $dsn"
grep -q 'Status: 2\.0\.0' <<<"$dsn" || fail "the DSN's status is not 2.0.0: $dsn"

# 9. serve's log (both runs) holds no body, whole personal number, link
#    token or password.
log=$WORK/serve.err
[ -s "$log" ] || fail "serve logged nothing"
grep -q '"warning"' "$log" && fail "serve warned at start: $(grep '"warning"' "$log")"
for secret in 'Provsvaret visar' 199908072391 "$token" "$report_key" "$STAFF_PASSWORD" "$SMS_PASSWORD" "$(cat "$SIM/rp.p12.password")"; do
  grep -qF -- "$secret" "$log" && fail "serve's log holds '$secret'"
done
stop_bg "$SERVE_PID"
echo "ok: $id through serve (STARTTLS + AUTH), SMS at the fake 46elks and its delivery report, opened with the BankID simulator, DSN and MDN over IMAPS; a bad recipient and a keyless report refused"
