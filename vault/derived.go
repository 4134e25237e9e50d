package vault

import (
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"sigill/vault/kv"
)

// DerivedKey is a 32-byte key for another package's own use (purpose names
// it, e.g. "audit: personal number index"), derived from the key file: it
// is never in the vault file, so what it keys or seals there (an index of
// personal numbers by keyed hash) tells nothing to whoever holds the file
// alone. The same purpose gives the same key for as long as the key file
// is the same.
func (v *Vault) DerivedKey(purpose string) ([]byte, error) {
	if strings.TrimSpace(purpose) == "" {
		return nil, errors.New("vault: derived key: no purpose")
	}
	k, err := hkdf.Key(sha256.New, v.secrets.macKey, nil, "sigill vault v2: derived for "+purpose, 32)
	if err != nil {
		return nil, fmt.Errorf("vault: derived key: %w", err)
	}
	return k, nil
}

// errStopScan ends ScanEvents early without an error.
var errStopScan = errors.New("stop")

// ScanEvents calls fn with every event whose Seq is after afterSeq, in the
// order they were appended, until fn returns false or an error (returned).
// It is the audit export's read of a period: events are appended as they
// happen, so their order is their time's within the clock's steps.
func (v *Vault) ScanEvents(afterSeq uint64, fn func(Event) (bool, error)) error {
	err := v.view(func(tx kv.Tx) error {
		return tx.Bucket(bEvents).Range(kv.Range{Start: seqKey(afterSeq + 1)}, func(k, raw []byte) error {
			var ev Event
			if err := json.Unmarshal(raw, &ev); err != nil {
				return fmt.Errorf("event %x: %w", k, err)
			}
			ev.Seq = binary.BigEndian.Uint64(k)
			more, err := fn(ev)
			if err != nil {
				return err
			}
			if !more {
				return errStopScan
			}
			return nil
		})
	})
	if err != nil && !errors.Is(err, errStopScan) {
		return fmt.Errorf("vault: scan events: %w", err)
	}
	return nil
}
