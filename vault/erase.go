package vault

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"

	"sigill/vault/kv"

	"sigill/addressing"
)

// Erasure is what ErasePersonalNumber changed.
type Erasure struct {
	Recipients int      // recipient records that named the number (a login, the address as written)
	Events     int      // events that named it (the opener's or the refused person's number)
	Shredded   []string // messages every recipient of which only that number could open: expired at once
}

// ErasedAddress is what stands in a recipient's address where an erased
// personal number was written.
const ErasedAddress = "erased"

// writtenNumber finds the spellings of a personal number in an address
// (12 or 10 digits, with or without - or +); ParsePersonalNumber says
// which number each one is.
var writtenNumber = regexp.MustCompile(`[0-9]{6,8}[-+]?[0-9]{4}`)

// ErasePersonalNumber takes a personal number (12 digits) out of the
// store's records, in one transaction (a GDPR erasure):
//   - every recipient record that names it loses it from its logins, and
//     from its address as the sender wrote it (each spelling of the number
//     becomes ErasedAddress); that recipient's link then opens for the
//     other people it names, or for no one;
//   - every event whose person it is gets pseudonym for the number and
//     loses the name, IP and user agent (the event stays: what happened,
//     when, to which message);
//   - every hook's Erasing takes it out of the hook's own tables;
//   - a message whose every recipient named that number as its only
//     login (no birth date, not "*") is expired now, as its retention
//     would (Sweep runs before this returns): content, escrow packet and
//     wrapped keys go, and its expiry key is replaced within a minute.
//
// within runs in the same transaction with tables (the caller's record of
// the erasure), so the erasure and its record are on disk together or not
// at all. It reads every recipient and every event: an administrator's
// rare act, not a request path. What was rewritten stays in bbolt's free
// pages until they are reused (doc.go).
func (v *Vault) ErasePersonalNumber(ctx context.Context, pnr, pseudonym string, tables []string, within func(Tx, Erasure) error) (Erasure, error) {
	if len(pnr) != 12 {
		return Erasure{}, fmt.Errorf("vault: erase: %q is not a 12-digit personal number", addressing.Mask(pnr))
	}
	var res Erasure
	err := v.commit.update(ctx, func(tx kv.Tx) error {
		res = Erasure{} // the function may run again after a rollback
		now := v.now().UTC()
		only := map[string]bool{} // message id → so far, every recipient only pnr's
		n, err := rewrite(tx.Bucket(bRecipients), func(k, raw []byte) (any, error) {
			var rr recipientRecord
			if err := json.Unmarshal(raw, &rr); err != nil {
				return nil, fmt.Errorf("recipient %x: %w", k, err)
			}
			alone := len(rr.Recipient.Logins) == 1 && rr.Recipient.Logins[0] == pnr && len(rr.Recipient.Born) == 0 && !rr.Recipient.Anyone
			if was, seen := only[rr.Message]; !seen || was {
				only[rr.Message] = alone
			}
			address := writtenNumber.ReplaceAllStringFunc(rr.Address, func(s string) string {
				if n, err := addressing.ParsePersonalNumber(s, now); err == nil && n == pnr {
					return ErasedAddress
				}
				return s
			})
			if !slices.Contains(rr.Recipient.Logins, pnr) && address == rr.Address {
				return nil, nil
			}
			rr.Recipient.Logins = slices.DeleteFunc(slices.Clone(rr.Recipient.Logins), func(l string) bool { return l == pnr })
			rr.Address = address
			return rr, nil
		})
		if err != nil {
			return err
		}
		res.Recipients = n
		res.Events, err = rewrite(tx.Bucket(bEvents), func(k, raw []byte) (any, error) {
			if !bytes.Contains(raw, []byte(pnr)) {
				return nil, nil // cheap: most events name no one
			}
			var ev Event
			if err := json.Unmarshal(raw, &ev); err != nil {
				return nil, fmt.Errorf("event %x: %w", k, err)
			}
			if ev.PersonalNumber != pnr {
				return nil, nil
			}
			ev.PersonalNumber, ev.Name, ev.IP, ev.UserAgent = pseudonym, "", "", ""
			return ev, nil
		})
		if err != nil {
			return err
		}

		for id, alone := range only {
			if !alone {
				continue
			}
			m, err := getMessage(tx, id)
			if err != nil {
				return err
			}
			res.Shredded = append(res.Shredded, id)
			if m.Expired || !now.Before(m.Expires) {
				continue
			}
			due := tx.Bucket(bExpireDue)
			if err := due.Delete(dueKey(m.Expires, id)); err != nil {
				return err
			}
			if err := due.Put(dueKey(now, id), nil); err != nil {
				return err
			}
			m.Expires = now
			out, err := json.Marshal(m)
			if err != nil {
				return err
			}
			if err := tx.Bucket(bParts).Put(metaKey(id), out); err != nil {
				return err
			}
		}
		slices.Sort(res.Shredded)
		for _, h := range v.opt.Hooks {
			if h.Erasing == nil {
				continue
			}
			if err := h.Erasing(v.storeTx(tx, h.Tables), pnr, pseudonym); err != nil {
				return fmt.Errorf("hook %s: %w", h.Name, err)
			}
		}
		if within != nil {
			return within(v.storeTx(tx, tables), res)
		}
		return nil
	})
	if err != nil {
		return Erasure{}, fmt.Errorf("vault: erase a personal number: %w", err)
	}
	if len(res.Shredded) > 0 {
		if _, err := v.Sweep(); err != nil {
			return res, fmt.Errorf("vault: erase a personal number: the messages to shred are due, but the sweep failed (RunSweeper tries again): %w", err)
		}
	}
	return res, nil
}

// rewrite puts, for every record of b that change returns a value for,
// that value encoded as JSON in its place, and returns how many it
// rewrote.
func rewrite(b kv.Bucket, change func(k, v []byte) (any, error)) (int, error) {
	var puts [][2][]byte
	err := b.Range(kv.Range{}, func(k, v []byte) error {
		nv, err := change(k, v)
		if err != nil || nv == nil {
			return err
		}
		out, err := json.Marshal(nv)
		if err != nil {
			return err
		}
		puts = append(puts, [2][]byte{bytes.Clone(k), out})
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, p := range puts {
		if err := b.Put(p[0], p[1]); err != nil {
			return 0, err
		}
	}
	return len(puts), nil
}
