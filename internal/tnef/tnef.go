// Package tnef reads the files out of a TNEF stream: the winmail.dat
// (application/ms-tnef) attachment that Outlook and Exchange send in place
// of a message's attachments when the message is in Outlook's rich text.
// Other clients show it as one opaque file; Attachments returns the files
// inside, with their names and, when the stream says it, their media types.
//
// It reads what [MS-OXTNEF] needs for that and no more: the attachment
// attributes (attAttachRendData starts an attachment, attAttachTitle names
// it, attAttachData holds it) and, in attAttachment's MAPI properties, the
// long file name (PidTagAttachLongFilename) and the MIME type
// (PidTagAttachMimeTag). The message body (often compressed RTF), embedded
// messages and OLE objects are skipped: Outlook sends the body as a MIME
// text part beside the winmail.dat. No Go library for TNEF could be had
// from the module proxy (github.com/teamwork/tnef is refused there), so
// this is sigill's own, fuzzed, bounded by its input: it allocates nothing
// in proportion to a length field, and a file's Data is a slice of the
// input.
//
// [MS-OXTNEF]: https://learn.microsoft.com/openspecs/exchange_server_protocols/ms-oxtnef/
package tnef

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
)

// MediaType is the Content-Type a TNEF stream travels as; some clients
// write application/vnd.ms-tnef.
const MediaType = "application/ms-tnef"

// signature opens every TNEF stream (little-endian 0x223E9F78).
const signature = 0x223e9f78

// MaxAttachments bounds the files read from one stream.
const MaxAttachments = 500

// ErrNotTNEF is Attachments' error for input without the TNEF signature.
var ErrNotTNEF = errors.New("tnef: not a TNEF stream")

// Attachment is one file of a TNEF stream.
type Attachment struct {
	Name      string // the long file name when the stream has one, else the short one; may be ""
	MediaType string // from PidTagAttachMimeTag, lower case; "" when the stream does not say
	Data      []byte // a slice of the input
}

// Levels and attributes (type << 16 | id) of [MS-OXTNEF] 2.1.3.
const (
	levelMessage    = 0x01
	levelAttachment = 0x02

	attAttachRendData = 0x00069002
	attAttachTitle    = 0x00018010
	attAttachData     = 0x0006800f
	attAttachment     = 0x00069005
	attOemCodepage    = 0x00069007
)

// MAPI property ids and types ([MS-OXCDATA] 2.11.1).
const (
	pidAttachLongFilename = 0x3707
	pidAttachMimeTag      = 0x370e

	ptString8 = 0x001e
	ptUnicode = 0x001f
	ptBinary  = 0x0102
	ptObject  = 0x000d
	ptServer  = 0x00fb
	mvFlag    = 0x1000
)

// Attachments returns the files of a TNEF stream, in stream order, and the
// number of attachments it left out: those without attAttachData (an
// embedded message, an OLE object), which it cannot unpack. A stream cut
// short after some complete attachments returns those with the error.
func Attachments(data []byte) (files []Attachment, skipped int, err error) {
	if len(data) < 6 || binary.LittleEndian.Uint32(data) != signature {
		return nil, 0, ErrNotTNEF
	}
	r := reader{b: data[6:]} // signature, legacy key
	var (
		cur      *attachment
		codepage uint32
	)
	flush := func() {
		switch {
		case cur == nil:
		case cur.data == nil:
			skipped++
		case len(files) < MaxAttachments:
			files = append(files, cur.result(codepage))
		}
		cur = nil
	}
	for !r.empty() {
		level, ok1 := r.u8()
		id, ok2 := r.u32()
		body, ok3 := r.bytes(r.u32v())
		_, ok4 := r.u16() // checksum: a wrong one costs nothing worse than a wrong file, as in Outlook
		if !(ok1 && ok2 && ok3 && ok4) {
			flush()
			return files, skipped, errors.New("tnef: stream cut short")
		}
		switch {
		case level == levelMessage && id == attOemCodepage && len(body) >= 4:
			codepage = binary.LittleEndian.Uint32(body)
		case level != levelAttachment:
		case id == attAttachRendData:
			flush()
			if len(files) >= MaxAttachments {
				return files, skipped, fmt.Errorf("tnef: more than %d attachments", MaxAttachments)
			}
			cur = &attachment{}
		case cur == nil:
			// An attachment attribute before any attAttachRendData: some
			// writers omit it for the first attachment.
			cur = &attachment{}
			fallthrough
		default:
			switch id {
			case attAttachTitle:
				cur.title = body
			case attAttachData:
				cur.data = body
			case attAttachment:
				cur.props(body)
			}
		}
	}
	flush()
	return files, skipped, nil
}

// attachment collects one attachment's attributes as they come.
type attachment struct {
	title     []byte // attAttachTitle, in the stream's code page
	longName  string
	mediaType string
	data      []byte
}

func (a *attachment) result(codepage uint32) Attachment {
	name := a.longName
	if name == "" {
		name = decode8(a.title, codepage)
	}
	return Attachment{Name: name, MediaType: strings.ToLower(a.mediaType), Data: a.data}
}

// props reads attAttachment's MAPI property list ([MS-OXTNEF] 2.1.3.4) for
// the long file name and the MIME type. It stops at anything it cannot
// read: what it found by then stands.
func (a *attachment) props(b []byte) {
	r := reader{b: b}
	n, ok := r.u32()
	for i := uint32(0); ok && i < n && !r.empty(); i++ {
		var typ, id uint16
		if typ, ok = r.u16(); !ok {
			return
		}
		if id, ok = r.u16(); !ok {
			return
		}
		if id >= 0x8000 && !r.skipName() {
			return
		}
		values := uint32(1)
		multi := typ&mvFlag != 0
		base := typ &^ mvFlag
		variable := base == ptString8 || base == ptUnicode || base == ptBinary || base == ptObject || base == ptServer
		if multi || variable {
			if values, ok = r.u32(); !ok {
				return
			}
		}
		// Every value but a null one takes at least four bytes: a count the
		// rest cannot hold is a lie, and a count of null values reads
		// nothing. Either way the loop must not run it (a few hundred bytes
		// once made it spin for seconds).
		if !variable && fixedSize(base) == 0 {
			continue
		}
		if values > uint32(r.remaining()/4) {
			return
		}
		for v := uint32(0); v < values; v++ {
			if !variable {
				size := fixedSize(base)
				if size < 0 {
					return
				}
				if _, ok = r.bytes(pad4(uint64(size))); !ok {
					return
				}
				continue
			}
			length, ok := r.u32()
			if !ok {
				return
			}
			val, ok := r.bytes(uint64(length))
			if !ok {
				return
			}
			if _, ok = r.bytes(pad4(uint64(length)) - uint64(length)); !ok {
				return
			}
			if multi || v > 0 {
				continue
			}
			var s string
			switch base {
			case ptUnicode:
				s = decode16(val)
			case ptString8:
				s = decode8(val, 0)
			default:
				continue
			}
			switch id {
			case pidAttachLongFilename:
				a.longName = s
			case pidAttachMimeTag:
				a.mediaType = s
			}
		}
	}
}

// fixedSize is the size of one value of a fixed-length MAPI type, or -1.
func fixedSize(typ uint16) int {
	switch typ {
	case 0x0000, 0x0001: // unspecified, null
		return 0
	case 0x0002, 0x000b: // int16, boolean
		return 2
	case 0x0003, 0x0004, 0x000a: // int32, float, error
		return 4
	case 0x0005, 0x0006, 0x0007, 0x0014, 0x0040: // double, currency, apptime, int64, systime
		return 8
	case 0x0048: // guid
		return 16
	}
	return -1
}

func pad4(n uint64) uint64 { return n + (4-n%4)%4 }

// decode8 reads an 8-bit string: UTF-8 when it is valid, else the stream's
// Windows code page (1252 when it names none that charmap knows).
func decode8(b []byte, codepage uint32) string {
	if i := strings.IndexByte(string(b), 0); i >= 0 {
		b = b[:i]
	}
	if utf8.Valid(b) {
		return string(b)
	}
	cm := charmap.Windows1252
	switch codepage {
	case 1250:
		cm = charmap.Windows1250
	case 1251:
		cm = charmap.Windows1251
	case 1253:
		cm = charmap.Windows1253
	case 1257:
		cm = charmap.Windows1257
	case 437:
		cm = charmap.CodePage437
	case 850:
		cm = charmap.CodePage850
	}
	s, err := cm.NewDecoder().Bytes(b)
	if err != nil {
		return strings.ToValidUTF8(string(b), "?")
	}
	return string(s)
}

// decode16 reads a UTF-16LE string up to its terminating zero.
func decode16(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := binary.LittleEndian.Uint16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u))
}

// reader takes little-endian values off the front of b.
type reader struct{ b []byte }

func (r *reader) empty() bool { return len(r.b) == 0 }

func (r *reader) u8() (uint8, bool) {
	if len(r.b) < 1 {
		return 0, false
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v, true
}

func (r *reader) u16() (uint16, bool) {
	if len(r.b) < 2 {
		return 0, false
	}
	v := binary.LittleEndian.Uint16(r.b)
	r.b = r.b[2:]
	return v, true
}

func (r *reader) u32() (uint32, bool) {
	if len(r.b) < 4 {
		return 0, false
	}
	v := binary.LittleEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v, true
}

// u32v is u32 for use as an argument: a short read gives a length no input
// can satisfy, so the bytes call that takes it fails.
func (r *reader) u32v() uint64 {
	v, ok := r.u32()
	if !ok {
		return 1 << 40
	}
	return uint64(v)
}

func (r *reader) remaining() int { return len(r.b) }

func (r *reader) bytes(n uint64) ([]byte, bool) {
	if n > uint64(len(r.b)) {
		return nil, false
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v, true
}

// skipName passes over a named property's name: a GUID, then a numeric id
// or a UTF-16 string padded to four bytes.
func (r *reader) skipName() bool {
	if _, ok := r.bytes(16); !ok {
		return false
	}
	kind, ok := r.u32()
	if !ok {
		return false
	}
	if kind == 0 {
		_, ok = r.u32()
		return ok
	}
	length, ok := r.u32()
	if !ok {
		return false
	}
	_, ok = r.bytes(pad4(uint64(length)))
	return ok
}
