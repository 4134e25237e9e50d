package audit

import (
	"context"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"sigill/addressing"
	"sigill/vault"
)

// Filter chooses what Export reads: a period (Since inclusive, Until
// exclusive; zero: open) and, when PersonalNumber is set (12 digits),
// that person's trail: every event of every message the number was
// allowed to read or read or was refused, and the staff actions about
// the number.
type Filter struct {
	Since, Until   time.Time
	PersonalNumber string
}

func (f Filter) holds(t time.Time) bool {
	return (f.Since.IsZero() || !t.Before(f.Since)) && (f.Until.IsZero() || t.Before(f.Until))
}

// Entry is one line of an export: a message's event (Source "message")
// or a staff action (Source "staff").
type Entry struct {
	At             time.Time `json:"at"`
	Source         string    `json:"source"`
	Action         string    `json:"action"` // the event's kind, or the staff action
	Message        string    `json:"message,omitempty"`
	Recipient      *int      `json:"recipient,omitempty"`
	PersonalNumber string    `json:"personal_number,omitempty"` // whole: the export is for those who may read the trail
	Name           string    `json:"name,omitempty"`
	IP             string    `json:"ip,omitempty"`
	UserAgent      string    `json:"user_agent,omitempty"`
	Actor          string    `json:"actor,omitempty"` // the staff member, or the event's By
	Target         string    `json:"target,omitempty"`
	Detail         string    `json:"detail,omitempty"`
	Seq            uint64    `json:"seq,omitempty"` // the event's place in the vault's order
}

// CSVHeader names the columns of WriteCSV.
var CSVHeader = []string{"at", "source", "action", "message", "recipient", "personal_number", "name", "ip", "user_agent", "actor", "target", "detail", "seq"}

// WriteCSV writes entries as RFC 4180 CSV with CSVHeader. A field that a
// spreadsheet would take for a formula (=, +, -, @ first) gets a leading
// apostrophe: names and user agents come from outside.
func WriteCSV(w io.Writer, entries []Entry) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	for _, e := range entries {
		rcpt, seq := "", ""
		if e.Recipient != nil {
			rcpt = strconv.Itoa(*e.Recipient)
		}
		if e.Seq != 0 {
			seq = strconv.FormatUint(e.Seq, 10)
		}
		row := []string{e.At.UTC().Format(time.RFC3339Nano), e.Source, e.Action, e.Message, rcpt, e.PersonalNumber, e.Name, e.IP, e.UserAgent, e.Actor, e.Target, e.Detail, seq}
		for i, f := range row {
			if f != "" && (f[0] == '=' || f[0] == '+' || f[0] == '-' || f[0] == '@') {
				row[i] = "'" + f
			}
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteJSON writes entries as one JSON array.
func WriteJSON(w io.Writer, entries []Entry) error {
	if entries == nil {
		entries = []Entry{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(entries)
}

func eventEntry(ev vault.Event) Entry {
	r := ev.Recipient
	return Entry{
		At: ev.At, Source: "message", Action: string(ev.Kind), Message: ev.MessageID, Recipient: &r,
		PersonalNumber: ev.PersonalNumber, Name: ev.Name, IP: ev.IP, UserAgent: ev.UserAgent,
		Actor: ev.By, Detail: ev.Detail, Seq: ev.Seq,
	}
}

func staffEntry(a StaffAudit) Entry {
	return Entry{At: a.At, Source: "staff", Action: a.Action, Actor: a.Actor, Target: a.Target, IP: a.IP, UserAgent: a.UserAgent, Detail: a.Detail}
}

// Export reads the trail f chooses, oldest first, and records that actor
// exported it (ActionAuditExport; the record is not in this export).
func (s *Store) Export(ctx context.Context, f Filter, actor string) ([]Entry, error) {
	if s.v == nil {
		return nil, ErrNotAttached
	}
	if f.PersonalNumber != "" && len(f.PersonalNumber) != 12 {
		return nil, fmt.Errorf("audit: export: %q is not a 12-digit personal number", addressing.Mask(f.PersonalNumber))
	}
	var entries []Entry
	subject := ""
	if f.PersonalNumber != "" {
		subject = s.Subject(f.PersonalNumber)
		ids, err := s.messagesOf(f.PersonalNumber)
		if err != nil {
			return nil, err
		}
		err = s.v.View(tables, func(tx vault.Tx) error {
			for _, id := range ids {
				evs, err := tx.Events(id)
				if err != nil {
					return err
				}
				for _, ev := range evs {
					if f.holds(ev.At) {
						entries = append(entries, eventEntry(ev))
					}
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("audit: export: %w", err)
		}
	} else {
		err := s.v.ScanEvents(0, func(ev vault.Event) (bool, error) {
			if f.holds(ev.At) {
				entries = append(entries, eventEntry(ev))
			}
			return true, nil
		})
		if err != nil {
			return nil, fmt.Errorf("audit: export: %w", err)
		}
	}
	staff, err := s.staffRecords(f, subject)
	if err != nil {
		return nil, err
	}
	for _, a := range staff {
		entries = append(entries, staffEntry(a))
	}
	slices.SortStableFunc(entries, func(a, b Entry) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		switch {
		case a.Seq < b.Seq:
			return -1
		case a.Seq > b.Seq:
			return 1
		}
		return 0
	})
	detail := fmt.Sprintf("since=%s until=%s person=%s: %d entries", stamp(f.Since), stamp(f.Until), maskOrAll(f.PersonalNumber), len(entries))
	if err := s.RecordStaffAudit(ctx, StaffAudit{Actor: actor, Action: ActionAuditExport, Detail: detail, Subject: subject}); err != nil {
		return nil, err
	}
	return entries, nil
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// maskOrAll says whose trail it was without the number, not even masked
// (its birth date would outlive an erasure): Subject names it.
func maskOrAll(pnr string) string {
	if pnr == "" {
		return "all"
	}
	return "one (subject)"
}

// messagesOf are the ids of the messages the by-number index files under
// pnr.
func (s *Store) messagesOf(pnr string) ([]string, error) {
	var ids []string
	prefix := s.mac(pnr)
	err := s.v.View(tables, func(tx vault.Tx) error {
		return tx.Table(tableByNumber).Scan(prefix, func(k, _ []byte) error {
			ids = append(ids, string(k[len(prefix):]))
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("audit: look a number up: %w", err)
	}
	return ids, nil
}

// staffRecords are the staff records in f's period, only those about
// subject when it is set.
func (s *Store) staffRecords(f Filter, subject string) ([]StaffAudit, error) {
	var out []StaffAudit
	err := s.v.View(tables, func(tx vault.Tx) error {
		return tx.Table(tableStaff).Scan(nil, func(k, raw []byte) error {
			var a StaffAudit
			if err := json.Unmarshal(raw, &a); err != nil {
				return fmt.Errorf("staff record %s: %w", hex.EncodeToString(k), err)
			}
			if f.holds(a.At) && (subject == "" || a.Subject == subject) {
				out = append(out, a)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("audit: read staff records: %w", err)
	}
	return out, nil
}
