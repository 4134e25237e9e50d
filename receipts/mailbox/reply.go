package mailbox

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"sigill/addressing"
	"sigill/receipts"
	"sigill/vault"
)

// Replies from the reader's page. A reply is a mail to the sender
// (receipts.BuildReply), built once when the person sends it, and kept
// sealed with vault.SealUntilExpiry: the gateway opens it for the sender
// (the mail it sends, this mailbox) and for the person's own page until
// the message expires, and nothing opens it after. It is recorded as a
// "replied" event in the same transaction as the sealed mail, filed in the
// owner's mailbox like a receipt, and mailed to the owner whatever
// MailToSender says (it is the answer, not a notice about one), and to
// Options.ReplyCopy. At the message's expiry, when its content is gone,
// the reply's entry leaves the mailbox (IMAP clients see it expunged) and
// its sealed mail is deleted; the event stays in the audit trail.

// ErrRepliesOff is a reply to a message whose address said reply=no.
var ErrRepliesOff = errors.New("the sender has turned replies off for this message")

// ErrEmptyReply is a reply with neither text nor files.
var ErrEmptyReply = errors.New("the reply is empty: write something or attach a file")

// tReplies holds each reply's sealed mail: event seq → length of the
// reply's id (one byte) ‖ id ‖ sealed mail.
const tReplies = "mailbox_replies"

// Replier is who answers, as BankID identified them, and from where.
type Replier struct {
	PersonalNumber, Name, IP string
}

// SentReply is a reply as its writer sees it again: when, and the mail.
type SentReply struct {
	At  time.Time
	Raw []byte
}

// replyIDs are 80 random bits in lower-case base32: letters and digits, as
// a Message-ID's and a boundary's part.
var replyIDs = base32.StdEncoding.WithPadding(base32.NoPadding)

// PostReply sends a recipient's reply: it builds the mail, checks it
// against Options.Limits (intake's size limit: *intake.TooLargeError),
// seals it and records the "replied" event with it, and returns the event.
// ErrRepliesOff when the address said reply=no, ErrEmptyReply for nothing
// to send; vault.ErrExpired once the message has expired.
func (s *Store) PostReply(ctx context.Context, l vault.Letter, who Replier, text string, files []receipts.File) (vault.Event, error) {
	if !l.RepliesAllowed() {
		return vault.Event{}, ErrRepliesOff
	}
	if strings.TrimSpace(receipts.ReplyText(text)) == "" && len(files) == 0 {
		return vault.Event{}, ErrEmptyReply
	}
	now := time.Now().UTC()
	if s.o.Now != nil {
		now = s.o.Now().UTC()
	}
	b := make([]byte, 10)
	rand.Read(b)
	id := strings.ToLower(replyIDs.EncodeToString(b))
	raw, err := receipts.BuildReply(s.o.Org, l, receipts.Reply{
		ID: id, At: now, Name: who.Name, PersonalNumber: who.PersonalNumber, Copy: s.o.ReplyCopy, Text: text, Files: files,
	})
	if err != nil {
		return vault.Event{}, fmt.Errorf("mailbox: reply: %w", err)
	}
	if err := s.o.Limits.CheckSize(int64(len(raw))); err != nil {
		return vault.Event{}, err
	}
	sealed, err := s.vault().SealUntilExpiry(l.ID, replyLabel(l.Recipient, id), raw)
	clear(raw)
	if err != nil {
		return vault.Event{}, fmt.Errorf("mailbox: reply: %w", err)
	}
	ev := vault.Event{MessageID: l.ID, Recipient: l.Recipient, Kind: vault.EventReplied, At: now,
		PersonalNumber: who.PersonalNumber, Name: who.Name, IP: who.IP}
	record := append(append([]byte{byte(len(id))}, id...), sealed...)
	err = s.vault().RecordWithin(ctx, ev, tables, func(tx vault.Tx, e vault.Event) error {
		ev = e
		return tx.Table(tReplies).Put(seqKey(e.Seq), record)
	})
	if err != nil {
		return vault.Event{}, fmt.Errorf("mailbox: reply: %w", err)
	}
	return ev, nil
}

// replyLabel names a reply's seal: its recipient and id.
func replyLabel(recipient int, id string) string {
	return "reply\x00" + strconv.Itoa(recipient) + "\x00" + id
}

// Replies are the replies sent from a letter's page by the person with
// personalNumber, oldest first, while they can still be opened.
func (s *Store) Replies(l vault.Letter, personalNumber string) ([]SentReply, error) {
	opened, err := s.repliesTo(l.ID, func(ev vault.Event) bool {
		return ev.Recipient == l.Recipient && ev.PersonalNumber == personalNumber
	})
	if err != nil {
		return nil, fmt.Errorf("mailbox: replies of %s/%d: %w", l.ID, l.Recipient, err)
	}
	var out []SentReply
	for _, o := range opened {
		out = append(out, SentReply{At: o.Event.At, Raw: o.Raw})
	}
	return out, nil
}

// Answer is a reply as its message's sender reads it: its "replied" event
// (who, when, to which recipient's copy), and what the person wrote and
// attached (receipts.ReadReply).
type Answer struct {
	Event vault.Event
	Text  string
	Files []receipts.File
}

// Answers are the replies to message id, every recipient's, oldest first,
// while they can still be opened: for the sender's doors (the API, the
// staff web). With personalNumber, only that person's (a GDPR export).
// None once the message has expired: their content went with it.
func (s *Store) Answers(id, personalNumber string) ([]Answer, error) {
	opened, err := s.repliesTo(id, func(ev vault.Event) bool {
		return personalNumber == "" || ev.PersonalNumber == personalNumber
	})
	if err != nil {
		return nil, fmt.Errorf("mailbox: replies of %s: %w", id, err)
	}
	out := []Answer{}
	for _, o := range opened {
		text, files, err := receipts.ReadReply(o.Raw)
		clear(o.Raw)
		if err != nil {
			return nil, fmt.Errorf("mailbox: reply %d of %s: %w", o.Event.Seq, id, err)
		}
		out = append(out, Answer{Event: o.Event, Text: text, Files: files})
	}
	return out, nil
}

// openedReply is a reply's event and its mail, opened.
type openedReply struct {
	Event vault.Event
	Raw   []byte
}

// repliesTo opens the replies to message id whose events match, oldest
// first, leaving out those that can no longer be opened.
func (s *Store) repliesTo(id string, match func(vault.Event) bool) ([]openedReply, error) {
	type found struct {
		ev     vault.Event
		record []byte
	}
	var all []found
	err := s.vault().View(tables, func(tx vault.Tx) error {
		evs, err := tx.Events(id)
		if err != nil {
			return err
		}
		for _, ev := range evs {
			if ev.Kind != vault.EventReplied || !match(ev) {
				continue
			}
			b, err := tx.Table(tReplies).Get(seqKey(ev.Seq))
			if err != nil {
				return err
			}
			if b != nil {
				all = append(all, found{ev, bytes.Clone(b)})
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []openedReply
	for _, f := range all {
		raw, err := s.openReply(f.ev, f.record)
		if errors.Is(err, vault.ErrExpired) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, openedReply{Event: f.ev, Raw: raw})
	}
	return out, nil
}

func (s *Store) openReply(ev vault.Event, record []byte) ([]byte, error) {
	if len(record) < 1 || len(record) < 1+int(record[0]) {
		return nil, fmt.Errorf("mailbox: reply %d: bad record", ev.Seq)
	}
	id := string(record[1 : 1+record[0]])
	raw, err := s.vault().OpenUntilExpiry(ev.MessageID, replyLabel(ev.Recipient, id), record[1+record[0]:])
	if err != nil {
		return nil, fmt.Errorf("mailbox: reply %d: %w", ev.Seq, err)
	}
	return raw, nil
}

// replyMail is the mail of a "replied" event. An expired one is as gone as
// a purged one (vault.ErrNotFound, and vault.ErrExpired), so that its mail
// job is dropped.
func (s *Store) replyMail(ev vault.Event) ([]byte, error) {
	var record []byte
	err := s.vault().View(tables, func(tx vault.Tx) error {
		b, err := tx.Table(tReplies).Get(seqKey(ev.Seq))
		record = bytes.Clone(b)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("mailbox: reply %d: %w", ev.Seq, err)
	}
	if record == nil {
		return nil, fmt.Errorf("mailbox: reply %d: deleted at its message's expiry: %w", ev.Seq, vault.ErrNotFound)
	}
	raw, err := s.openReply(ev, record)
	if errors.Is(err, vault.ErrExpired) {
		return nil, fmt.Errorf("%w: %w", vault.ErrNotFound, err)
	}
	return raw, err
}

// Message is what a mailbox entry or a receipt job of event seq carries:
// the receipt receipts.Build makes with org, or a reply's mail as it was
// sent; and when its event happened (IMAP's INTERNALDATE).
func (s *Store) Message(org receipts.Org, seq uint64) ([]byte, time.Time, error) {
	l, ev, err := s.Receipt(seq)
	if err != nil {
		return nil, time.Time{}, err
	}
	var raw []byte
	if ev.Kind == vault.EventReplied {
		raw, err = s.replyMail(ev)
	} else {
		raw, err = receipts.Build(org, l, ev)
	}
	return raw, ev.At, err
}

// fileReply queues the mail jobs of a reply, filed in account's mailbox:
// to the owner, and to Options.ReplyCopy.
func (s *Store) fileReply(tx vault.Tx, ev vault.Event, l vault.Letter, account string) error {
	for _, to := range []string{account, s.o.ReplyCopy} {
		if to == "" {
			continue
		}
		_, err := tx.QueueJob(vault.Job{
			MessageID: ev.MessageID, Recipient: ev.Recipient, Kind: JobReceipt,
			Channel: addressing.Email, To: to, Errand: l.Errand, Event: ev.Seq,
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// unfileReplies removes the entries and sealed mails of the replies to a
// recipient's copy, at its expiry (ev).
func (s *Store) unfileReplies(tx vault.Tx, ev vault.Event) error {
	evs, err := tx.Events(ev.MessageID)
	if err != nil {
		return err
	}
	for _, e := range evs {
		if e.Kind != vault.EventReplied || e.Recipient != ev.Recipient {
			continue
		}
		if err := s.unfile(tx, e); err != nil {
			return err
		}
		if err := tx.Table(tReplies).Delete(seqKey(e.Seq)); err != nil {
			return err
		}
	}
	return nil
}
