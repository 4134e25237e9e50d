#!/usr/bin/env bash
# Staff send with swaks; the recipient's notification carries the errand and
# a link, never the body; the link's page shows the errand and nothing secret.
. "$(dirname "$0")/../lib.sh"
start_dev

dialog=$(swaks_send '0701234567&login=199908072391&@secure.test' 'Provsvar' 'Hemligt: värdet är 4,2.')
id=$(echo "$dialog" | queued_id)
[ -n "$id" ] || fail "no 250 queued: $dialog"

text=$(outbox_field "$id" text)
link=$(outbox_field "$id" link)
case "$text" in *Provsvar*) ;; *) fail "the SMS text lacks the errand: $text";; esac
case "$text" in *"$link"*) ;; *) fail "the SMS text lacks the link: $text";; esac
case "$text" in *4,2*|*Hemligt*) fail "the SMS text carries the body: $text";; esac

page=$(curl -sf "$link") || fail "GET $link"
case "$page" in *Provsvar*) ;; *) fail "the landing page lacks the errand";; esac
case "$page" in *4,2*|*Hemligt*) fail "the landing page shows the body before BankID";; esac
curl -sf "$READER/dev/outbox" | grep -q "$id" || fail "/dev/outbox does not list $id"
echo "ok: $id notified, link $link"
