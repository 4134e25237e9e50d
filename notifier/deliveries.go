package notifier

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"sigill/vault"
)

// Delivery records: which notification a provider's id stands for, so that
// its delivery reports find their message and recipient. They are the
// notifier's, kept in its own table of the vault by its hook (Hook), in the
// transaction that appends the event:
//
//   - a "notified" event with a provider id (CompleteJob's) writes the
//     record;
//   - a "delivered" or "failed" event with a provider id (a delivery
//     report's, appended by recordDelivery) marks the record final, and is
//     refused when it already is, so that only the first final report of a
//     notification becomes an event, however many come at once.
//
// Records older than deliveryMemory are pruned.

// deliveriesTable holds provider ‖ 0 ‖ the provider's id → deliveryRecord
// (JSON). It has the name the bucket had when the vault kept it, so files
// written before read on.
const deliveriesTable = "deliveries"

var deliveryTables = []string{deliveriesTable}

// deliveryRecord is what a provider's id stands for.
type deliveryRecord struct {
	Message   string          `json:"message"`
	Recipient int             `json:"recipient"`
	Sent      time.Time       `json:"sent"`
	Final     vault.EventKind `json:"final,omitempty"` // delivered or failed, once reported
}

// errAlreadyFinal is the hook's refusal of a second final report.
var errAlreadyFinal = errors.New("the notification's delivery is already reported")

// Hook is the notifier's vault hook, which keeps the delivery records.
// Every vault a notifier runs on must be opened with it (cmd does; New
// refuses a vault without it).
func Hook() vault.Hook {
	return vault.Hook{Name: hookName, Tables: deliveryTables, Appended: keepDelivery}
}

const hookName = "notifier deliveries"

func deliveryKey(provider, providerID string) []byte {
	k := make([]byte, 0, len(provider)+1+len(providerID))
	k = append(k, provider...)
	k = append(k, 0)
	return append(k, providerID...)
}

// keepDelivery is Hook's Appended.
func keepDelivery(tx vault.Tx, ev vault.Event) error {
	if ev.ProviderID == "" {
		return nil
	}
	t := tx.Table(deliveriesTable)
	key := deliveryKey(ev.Detail, ev.ProviderID)
	switch ev.Kind {
	case vault.EventNotified:
		b, err := json.Marshal(deliveryRecord{Message: ev.MessageID, Recipient: ev.Recipient, Sent: ev.At})
		if err != nil {
			return err
		}
		return t.Put(key, b)
	case vault.EventDelivered, vault.EventFailed:
		d, err := readDelivery(t, key)
		if err != nil {
			return err
		}
		if d.Message != ev.MessageID || d.Recipient != ev.Recipient {
			return fmt.Errorf("%s id %q is message %s recipient %d, not %s recipient %d", ev.Detail, ev.ProviderID, d.Message, d.Recipient, ev.MessageID, ev.Recipient)
		}
		if d.Final != "" {
			return errAlreadyFinal
		}
		d.Final = ev.Kind
		b, err := json.Marshal(d)
		if err != nil {
			return err
		}
		return t.Put(key, b)
	}
	return nil
}

func readDelivery(t vault.Table, key []byte) (deliveryRecord, error) {
	b, err := t.Get(key)
	if err != nil {
		return deliveryRecord{}, err
	}
	if b == nil {
		return deliveryRecord{}, vault.ErrNotFound
	}
	var d deliveryRecord
	if err := json.Unmarshal(b, &d); err != nil {
		return deliveryRecord{}, err
	}
	return d, nil
}

// recordDelivery records what a provider heard of the message it took
// under id: a "delivered" or "failed" event for the first final status,
// nothing for news on the way, a status the provider did not map, or a
// notification already reported. at is when the provider says it happened
// (zero: now). vault.ErrNotFound for an id not known (never sent, or
// pruned), or whose message has been purged.
func (n *Notifier) recordDelivery(provider, id string, s DeliveryStatus, at time.Time) (vault.EventKind, error) {
	var kind vault.EventKind
	switch s {
	case StatusDelivered:
		kind = vault.EventDelivered
	case StatusFailed:
		kind = vault.EventFailed
	default:
		return "", nil
	}
	key := deliveryKey(provider, id)
	var d deliveryRecord
	err := n.v.View(deliveryTables, func(tx vault.Tx) (err error) {
		d, err = readDelivery(tx.Table(deliveriesTable), key)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("delivery report for %s id %q: %w", provider, id, err)
	}
	// Repeats change nothing: answer those without a write and its fsync.
	if d.Final != "" {
		return "", nil
	}
	err = n.v.Record(vault.Event{MessageID: d.Message, Recipient: d.Recipient, Kind: kind, At: at, ProviderID: id, Detail: provider})
	switch {
	case errors.Is(err, errAlreadyFinal):
		return "", nil // another report of the same notification came first
	case err != nil:
		return "", fmt.Errorf("delivery report for %s id %q: %w", provider, id, err)
	}
	return kind, nil
}

// pruneChunk bounds the records one write transaction of a prune deletes.
const pruneChunk = 1000

// pruneDeliveries forgets the provider ids of notifications sent before
// before: their delivery reports are then not found. Providers report
// within hours or days; Run prunes what is older than deliveryMemory.
func (n *Notifier) pruneDeliveries(before time.Time) (int, error) {
	var keys [][]byte
	err := n.v.View(deliveryTables, func(tx vault.Tx) error {
		return tx.Table(deliveriesTable).Scan(nil, func(k, b []byte) error {
			var d struct {
				Sent time.Time `json:"sent"`
			}
			if err := json.Unmarshal(b, &d); err != nil || d.Sent.Before(before) {
				keys = append(keys, bytes.Clone(k))
			}
			return nil
		})
	})
	if err != nil {
		return 0, fmt.Errorf("prune delivery records: %w", err)
	}
	done := 0
	for len(keys) > 0 {
		chunk := keys[:min(len(keys), pruneChunk)]
		keys = keys[len(chunk):]
		err := n.v.Update(context.Background(), deliveryTables, func(tx vault.Tx) error {
			t := tx.Table(deliveriesTable)
			for _, k := range chunk {
				if err := t.Delete(k); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return done, fmt.Errorf("prune delivery records: %w", err)
		}
		done += len(chunk)
	}
	return done, nil
}
