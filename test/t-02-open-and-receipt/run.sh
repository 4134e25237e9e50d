#!/usr/bin/env bash
# The recipient opens the link with BankID (the reader's JSON endpoints and
# the simulator's phone, with curl); the sender finds an MDN in IMAP (curl's
# imap://) that names the reader and refers to the sent Message-ID.
. "$(dirname "$0")/../lib.sh"
start_dev

dialog=$(swaks --server "$SUBMISSION" --auth PLAIN --auth-user dev@staff.test --auth-password "$PASSWORD" \
  --from dev@staff.test --to '0701234567&login=199908072391&@secure.test' \
  --header 'Subject: Provsvar' --header 'Message-Id: <t02@staff.test>' --body 'Hej! Allt ser bra ut.' 2>&1 || true)
id=$(echo "$dialog" | queued_id)
[ -n "$id" ] || fail "no 250 queued: $dialog"
link=$(outbox_field "$id" link)

bankid_open "$link" 199908072391
jar=$WORK/cookies
curl -sf -c "$jar" -b "$jar" "$link/message.json" | grep -q 'Allt ser bra ut' || fail "message.json lacks the body"

for _ in $(seq 50); do
  receipt=$(curl -s -u "dev@staff.test:$PASSWORD" "imap://$IMAP/INBOX;UID=1" || true)
  [ -n "$receipt" ] && break
  sleep 0.1
done
echo "$receipt" | grep -q 'Original-Message-ID: <t02@staff.test>' || fail "no MDN for <t02@staff.test> in INBOX: $receipt"
echo "$receipt" | grep -q 'Anna Andersson' || fail "the MDN does not name the reader"
echo "$receipt" | grep -q 'displayed' || fail "the MDN is not 'displayed'"
echo "ok: $id opened, MDN in INBOX"
