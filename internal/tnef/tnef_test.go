package tnef

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"testing"
	"unicode/utf16"

	"github.com/emersion/go-message"
)

// outlookSample is the winmail.dat of testdata/mail/outlook-winmail-dat.eml,
// made by Outlook (testdata/README.md says where it comes from).
func outlookSample(tb testing.TB) []byte {
	tb.Helper()
	f, err := os.Open("../../testdata/mail/outlook-winmail-dat.eml")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	e, err := message.Read(f)
	if err != nil {
		tb.Fatal(err)
	}
	var dat []byte
	err = e.Walk(func(_ []int, part *message.Entity, _ error) error {
		// The text part's iso-8859-1 is an "unknown charset" here; only the winmail.dat is read.
		if mt, _, _ := part.Header.ContentType(); mt == MediaType {
			var rerr error
			dat, rerr = io.ReadAll(part.Body)
			return rerr
		}
		return nil
	})
	if err != nil || dat == nil {
		tb.Fatalf("no %s part in the sample: %v", MediaType, err)
	}
	return dat
}

// The names, sizes and SHA-256 sums are what Debian's tnef 1.4
// (`tnef -C out winmail.dat`) extracts from the sample: an implementation
// independent of this one.
func TestOutlookSample(t *testing.T) {
	files, skipped, err := Attachments(outlookSample(t))
	if err != nil || skipped != 0 {
		t.Fatalf("skipped %d, %v", skipped, err)
	}
	want := []struct {
		name   string
		size   int
		sha256 string
	}{
		{"zappa_av1.jpg", 2937, "bea844f30e0fcc20fad419a0d11032a6465da93c1da185a1196949955994409a"},
		{"bookmark.htm", 85805, "1e08d6e23c75ff80ac992eebc24c2943c7843b7dfee235966b37de5eb4362599"},
	}
	if len(files) != len(want) {
		t.Fatalf("%d files, want %d: %+v", len(files), len(want), names(files))
	}
	for i, w := range want {
		sum := sha256.Sum256(files[i].Data)
		if files[i].Name != w.name || len(files[i].Data) != w.size || hex.EncodeToString(sum[:]) != w.sha256 {
			t.Errorf("file %d: %q, %d bytes, sha256 %x; want %q, %d bytes, %s", i, files[i].Name, len(files[i].Data), sum, w.name, w.size, w.sha256)
		}
	}
}

func names(files []Attachment) []string {
	var out []string
	for _, f := range files {
		out = append(out, f.Name)
	}
	return out
}

// stream builds a TNEF stream of attributes for the tests below.
type stream struct{ bytes.Buffer }

func newStream() *stream {
	s := &stream{}
	binary.Write(s, binary.LittleEndian, uint32(signature))
	binary.Write(s, binary.LittleEndian, uint16(0x0102))
	return s
}

func (s *stream) attr(level uint8, id uint32, data []byte) *stream {
	s.WriteByte(level)
	binary.Write(s, binary.LittleEndian, id)
	binary.Write(s, binary.LittleEndian, uint32(len(data)))
	s.Write(data)
	var sum uint16
	for _, b := range data {
		sum += uint16(b)
	}
	binary.Write(s, binary.LittleEndian, sum)
	return s
}

// mapiProps is an attAttachment property list: an int32, a named
// property, a PT_UNICODE long file name and a PT_STRING8 MIME type.
func mapiProps(longName, mimeTag string) []byte {
	var b bytes.Buffer
	le := func(v any) { binary.Write(&b, binary.LittleEndian, v) }
	pad := func() {
		for b.Len()%4 != 0 {
			b.WriteByte(0)
		}
	}
	le(uint32(4))
	le(uint16(0x0003)) // PT_LONG
	le(uint16(0x3705)) // PR_ATTACH_METHOD
	le(uint32(1))
	le(uint16(0x0003)) // a named PT_LONG
	le(uint16(0x8001))
	b.Write(make([]byte, 16))
	le(uint32(1)) // named by a string
	name := utf16le("X-Sigill")
	le(uint32(len(name)))
	b.Write(name)
	pad()
	le(uint32(7))
	u := utf16le(longName)
	le(uint16(ptUnicode))
	le(uint16(pidAttachLongFilename))
	le(uint32(1))
	le(uint32(len(u)))
	b.Write(u)
	pad()
	le(uint16(ptString8))
	le(uint16(pidAttachMimeTag))
	le(uint32(1))
	le(uint32(len(mimeTag) + 1))
	b.WriteString(mimeTag + "\x00")
	pad()
	return b.Bytes()
}

func utf16le(s string) []byte {
	var b bytes.Buffer
	for _, c := range utf16.Encode([]rune(s + "\x00")) {
		binary.Write(&b, binary.LittleEndian, c)
	}
	return b.Bytes()
}

// The long name and the MIME type come from the MAPI properties; the short
// title is in the stream's code page; an attachment without data (an
// embedded message) is counted as skipped.
func TestNamesTypesAndSkipped(t *testing.T) {
	s := newStream().
		attr(levelMessage, attOemCodepage, []byte{0xe4, 0x04, 0, 0, 0, 0, 0, 0}). // 1252
		attr(levelAttachment, attAttachRendData, make([]byte, 14)).
		attr(levelAttachment, attAttachTitle, []byte("PROVSV~1.PDF\x00")).
		attr(levelAttachment, attAttachData, []byte("%PDF-1.7 provsvar")).
		attr(levelAttachment, attAttachment, mapiProps("Provsvar för Anna – mars.pdf", "Application/PDF")).
		attr(levelAttachment, attAttachRendData, make([]byte, 14)).
		attr(levelAttachment, attAttachTitle, []byte("V\xe5rdplan.txt\x00")).
		attr(levelAttachment, attAttachData, []byte("vårdplan")).
		attr(levelAttachment, attAttachRendData, make([]byte, 14)).
		attr(levelAttachment, attAttachTitle, []byte("Inbjudan\x00"))
	files, skipped, err := Attachments(s.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if skipped != 1 {
		t.Errorf("skipped %d, want 1 (the attachment without data)", skipped)
	}
	if len(files) != 2 {
		t.Fatalf("files %q", names(files))
	}
	if f := files[0]; f.Name != "Provsvar för Anna – mars.pdf" || f.MediaType != "application/pdf" || string(f.Data) != "%PDF-1.7 provsvar" {
		t.Errorf("first file %q %q %q", f.Name, f.MediaType, f.Data)
	}
	if f := files[1]; f.Name != "Vårdplan.txt" || f.MediaType != "" || string(f.Data) != "vårdplan" {
		t.Errorf("second file %q %q %q", f.Name, f.MediaType, f.Data)
	}
}

func TestNotTNEFAndCutShort(t *testing.T) {
	for _, in := range [][]byte{nil, []byte("GIF89a"), []byte("\x78\x9f\x3e")} {
		if _, _, err := Attachments(in); !errors.Is(err, ErrNotTNEF) {
			t.Errorf("%q: %v, want ErrNotTNEF", in, err)
		}
	}
	s := newStream().
		attr(levelAttachment, attAttachRendData, make([]byte, 14)).
		attr(levelAttachment, attAttachTitle, []byte("a.txt\x00")).
		attr(levelAttachment, attAttachData, []byte("whole")).
		attr(levelAttachment, attAttachRendData, make([]byte, 14)).
		attr(levelAttachment, attAttachTitle, []byte("b.txt\x00")).
		attr(levelAttachment, attAttachData, []byte("cut short here"))
	cut := s.Bytes()[:s.Len()-8]
	files, _, err := Attachments(cut)
	if err == nil {
		t.Error("a stream cut short gave no error")
	}
	if len(files) != 1 || files[0].Name != "a.txt" || string(files[0].Data) != "whole" {
		t.Errorf("the complete attachment before the cut: %q", names(files))
	}
	// A length field larger than the stream allocates nothing and fails.
	huge := newStream().Bytes()
	huge = append(huge, levelAttachment, 0x0f, 0x80, 0x06, 0x00, 0xff, 0xff, 0xff, 0x7f)
	if _, _, err := Attachments(huge); err == nil {
		t.Error("a length past the end gave no error")
	}
}

func FuzzAttachments(f *testing.F) {
	f.Add(outlookSample(f))
	f.Add(newStream().
		attr(levelAttachment, attAttachRendData, make([]byte, 14)).
		attr(levelAttachment, attAttachTitle, []byte("a.txt\x00")).
		attr(levelAttachment, attAttachData, []byte("x")).
		attr(levelAttachment, attAttachment, mapiProps("långt namn.txt", "text/plain")).Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		files, _, _ := Attachments(data)
		if len(files) > MaxAttachments {
			t.Fatalf("%d files", len(files))
		}
		total := 0
		for _, file := range files {
			total += len(file.Data)
		}
		if total > len(data) {
			t.Fatalf("%d bytes of files from %d bytes of input", total, len(data))
		}
	})
}
