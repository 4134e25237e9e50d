#!/usr/bin/env bash
# A mistyped address is refused at RCPT TO with a reason staff can act on,
# and nothing is stored or sent.
. "$(dirname "$0")/../lib.sh"
start_dev

check() { # ADDRESS EXPECTED-TEXT
  dialog=$(swaks_send "$1" 'Provsvar' 'Hej!')
  echo "$dialog" | grep -q "550 5\.[0-9]\.[0-9] .*$2" || fail "$1: no 550 saying '$2':
$dialog"
  echo "$dialog" | grep -q ' queued' && fail "$1 was queued"
  return 0
}
check '0701234567&logni=199908072391&@secure.test' "unknown key 'logni'"
check '0701234567&login=199908072392&@secure.test' 'wrong check digit'
check '08123456&login=199908072391&@secure.test' 'not a mobile number'
check '0701234567&@secure.test' 'no login='
check '0701234567&login=199908072391&@example.com' 'relay not permitted'
[ ! -s "$DATA/outbox.jsonl" ] || fail "a refused message was notified"
echo "ok: five refusals with their reasons"
