package imapd

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"

	"sigill/vault"
)

// Search answers SEARCH and UID SEARCH with every key of RFC 3501 (the
// matching follows go-imap's imapmemserver). A receipt is built only when a
// key needs its date, size, header or text.
func (ss *session) Search(kind imapserver.NumKind, criteria *imap.SearchCriteria, options *imap.SearchOptions) (*imap.SearchData, error) {
	if searchDepth(criteria, 0) > maxNesting {
		return nil, bad(fmt.Sprintf("SEARCH: the criteria nest more than %d deep (NOT, OR and parentheses)", maxNesting))
	}
	mb := ss.box
	mb.mu.Lock()
	all := ss.resolve(imap.SeqSet{imap.SeqRange{Start: 1, Stop: 0}})
	var maxSeq, maxUID uint32
	if n := len(all); n > 0 {
		maxSeq, maxUID = all[n-1].client, all[n-1].entry.UID
	}
	ss.staticCriteria(criteria, maxSeq, maxUID)
	mb.mu.Unlock()

	var (
		data   imap.SearchData
		seqSet imap.SeqSet
		uidSet imap.UIDSet
	)
	for _, t := range all {
		m := &candidate{ss: ss, t: t}
		ok, err := m.match(criteria)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		uidSet.AddNum(imap.UID(t.entry.UID))
		num := t.client
		if kind == imapserver.NumKindSeq {
			seqSet.AddNum(t.client)
		} else {
			num = t.entry.UID
		}
		if data.Min == 0 || num < data.Min {
			data.Min = num
		}
		if num > data.Max {
			data.Max = num
		}
		data.Count++
	}
	if kind == imapserver.NumKindSeq {
		data.All = seqSet
	} else {
		data.All = uidSet
	}
	if options.ReturnSave {
		ss.searchRes = uidSet
	}
	return &data, nil
}

// searchDepth is how deep NOT and OR nest in c, stopping a little past
// limit: the guard's bound on parentheses leaves a chain of NOT in one
// line some ten thousand deep, which match would follow as deep.
func searchDepth(c *imap.SearchCriteria, depth int) int {
	if depth > maxNesting {
		return depth
	}
	deepest := depth
	for i := range c.Not {
		deepest = max(deepest, searchDepth(&c.Not[i], depth+1))
	}
	for i := range c.Or {
		deepest = max(deepest, searchDepth(&c.Or[i][0], depth+1), searchDepth(&c.Or[i][1], depth+1))
	}
	return deepest
}

// staticCriteria resolves "*" and "$" in the criteria's sets.
func (ss *session) staticCriteria(c *imap.SearchCriteria, maxSeq, maxUID uint32) {
	var seqs []imap.SeqSet
	for _, set := range c.SeqNum {
		switch s := ss.static(set, maxSeq, maxUID).(type) {
		case imap.SeqSet:
			seqs = append(seqs, s)
		case imap.UIDSet: // "$"
			c.UID = append(c.UID, s)
		}
	}
	c.SeqNum = seqs
	for i, set := range c.UID {
		c.UID[i] = ss.static(set, maxSeq, maxUID).(imap.UIDSet)
	}
	for i := range c.Not {
		ss.staticCriteria(&c.Not[i], maxSeq, maxUID)
	}
	for i := range c.Or {
		ss.staticCriteria(&c.Or[i][0], maxSeq, maxUID)
		ss.staticCriteria(&c.Or[i][1], maxSeq, maxUID)
	}
}

// candidate is one message under test, its receipt built on first need.
type candidate struct {
	ss  *session
	t   target
	b   *built
	err error
}

func (m *candidate) receipt() (*built, error) {
	if m.b == nil && m.err == nil {
		m.b, m.err = m.ss.s.receipt(m.t.entry.Event)
		if errors.Is(m.err, vault.ErrNotFound) {
			m.b, m.err = &built{}, nil // purged meanwhile: matches nothing that needs content
		} else if m.err != nil {
			m.ss.s.log.Error("imap search", "account", m.ss.account, "uid", m.t.entry.UID, "err", m.err)
			m.err = errUnavailable
		}
	}
	return m.b, m.err
}

func (m *candidate) match(c *imap.SearchCriteria) (bool, error) {
	for _, set := range c.SeqNum {
		if !set.Contains(m.t.client) {
			return false, nil
		}
	}
	for _, set := range c.UID {
		if !set.Contains(imap.UID(m.t.entry.UID)) {
			return false, nil
		}
	}
	for _, f := range c.Flag {
		if bit := flagBit(f); bit == 0 || m.t.entry.Flags&bit == 0 {
			return false, nil
		}
	}
	for _, f := range c.NotFlag {
		if bit := flagBit(f); bit != 0 && m.t.entry.Flags&bit != 0 {
			return false, nil
		}
	}
	needs := !c.Since.IsZero() || !c.Before.IsZero() || !c.SentSince.IsZero() || !c.SentBefore.IsZero() ||
		c.Larger != 0 || c.Smaller != 0 || len(c.Header) > 0 || len(c.Body) > 0 || len(c.Text) > 0
	if needs {
		b, err := m.receipt()
		if err != nil {
			return false, err
		}
		if b.raw == nil {
			return false, nil
		}
		if !matchDate(b.at, c.Since, c.Before) {
			return false, nil
		}
		size := int64(len(b.raw))
		if c.Larger != 0 && size <= c.Larger || c.Smaller != 0 && size >= c.Smaller {
			return false, nil
		}
		e, err := gomessage.Read(bytes.NewReader(b.raw))
		if err != nil && e == nil {
			return false, nil
		}
		h := mail.Header{Header: e.Header}
		for _, f := range c.Header {
			if !matchFields(h.FieldsByKey(f.Key), f.Value) {
				return false, nil
			}
		}
		if !c.SentSince.IsZero() || !c.SentBefore.IsZero() {
			t, err := h.Date()
			if err != nil || !matchDate(t, c.SentSince, c.SentBefore) {
				return false, nil
			}
		}
		for _, s := range c.Text {
			if !matchEntity(b.raw, s, true) {
				return false, nil
			}
		}
		for _, s := range c.Body {
			if !matchEntity(b.raw, s, false) {
				return false, nil
			}
		}
	}
	for i := range c.Not {
		ok, err := m.match(&c.Not[i])
		if err != nil || ok {
			return false, err
		}
	}
	for i := range c.Or {
		a, err := m.match(&c.Or[i][0])
		if err != nil {
			return false, err
		}
		if a {
			continue
		}
		if b, err := m.match(&c.Or[i][1]); err != nil || !b {
			return false, err
		}
	}
	return true, nil
}

// matchDate compares dates only, without time or zone, as RFC 3501 asks.
func matchDate(t, since, before time.Time) bool {
	t = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	if !since.IsZero() && t.Before(since) {
		return false
	}
	return before.IsZero() || t.Before(before)
}

func matchFields(fields gomessage.HeaderFields, pattern string) bool {
	if pattern == "" {
		return fields.Len() > 0
	}
	pattern = strings.ToLower(pattern)
	for fields.Next() {
		v, _ := fields.Text()
		if strings.Contains(strings.ToLower(v), pattern) {
			return true
		}
	}
	return false
}

// matchEntity looks for pattern (case-insensitively) in the decoded text
// parts, and with header in every header field too.
func matchEntity(raw []byte, pattern string, header bool) bool {
	e, err := gomessage.Read(bytes.NewReader(raw))
	if err != nil && e == nil {
		return false
	}
	return entityContains(e, strings.ToLower(pattern), header)
}

func entityContains(e *gomessage.Entity, pattern string, header bool) bool {
	if pattern == "" {
		return true
	}
	if header && matchFields(e.Header.Fields(), pattern) {
		return true
	}
	if mr := e.MultipartReader(); mr != nil {
		for {
			p, err := mr.NextPart()
			if err != nil {
				return false
			}
			if entityContains(p, pattern, header) {
				return true
			}
		}
	}
	t, _, _ := e.Header.ContentType()
	if !strings.HasPrefix(t, "text/") && !strings.HasPrefix(t, "message/") {
		return false
	}
	body, err := io.ReadAll(e.Body)
	if err != nil {
		return false
	}
	return bytes.Contains(bytes.ToLower(body), []byte(pattern))
}
