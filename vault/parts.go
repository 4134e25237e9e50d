package vault

import (
	"bytes"
	"encoding/binary"
)

// bParts keeps each message's parts side by side under its id, so that a
// message's acceptance writes one place of one tree instead of one place in
// each of three: message ids begin with their acceptance time (newMessageID),
// so a commit's messages append to the same leaves, and a group commit
// dirties those leaves and one path to them (BENCHMARKS.md, "Issue 17,
// third pass": 13 % fewer pages written per message than three trees at 8
// sessions, 22 % at one).
//
//	id ‖ 0x00       → messageRecord (JSON)
//	id ‖ 0x01       → the content: the SEIPDv2 packet, until expiry
//	id ‖ 0x02 ‖ seq → nothing: the message's events, in the events table
//
// Ids are text (base32hex), never holding these bytes, so one id's keys are
// never another's prefix. Files of schema 2 kept the three in the tables
// messages, content and events_by_message; Open moves them (migrate.go).
const bParts = "message_parts"

const (
	partMeta    byte = 0
	partContent byte = 1
	partEvent   byte = 2
)

func partKey(id string, part byte) []byte {
	return append(append(make([]byte, 0, len(id)+1+8), id...), part)
}

// metaKey is the key of a message's record.
func metaKey(id string) []byte { return partKey(id, partMeta) }

// contentKey is the key of a message's content.
func contentKey(id string) []byte { return partKey(id, partContent) }

// eventKey is the key of the index entry of a message's event seq.
func eventKey(id string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(partKey(id, partEvent), seq)
}

// eventsPrefix is the prefix of a message's index entries.
func eventsPrefix(id string) []byte { return partKey(id, partEvent) }

// splitPart tells which message and part a key of bParts is: the part is
// the first byte below a space (ids are text); ok is false for a key of no
// known shape.
func splitPart(k []byte) (id string, part byte, seq uint64, ok bool) {
	i := bytes.IndexFunc(k, func(r rune) bool { return r < ' ' })
	if i < 1 {
		return "", 0, 0, false
	}
	id, part = string(k[:i]), k[i]
	switch {
	case (part == partMeta || part == partContent) && len(k) == i+1:
		return id, part, 0, true
	case part == partEvent && len(k) == i+1+8:
		return id, part, binary.BigEndian.Uint64(k[i+1:]), true
	}
	return "", 0, 0, false
}
