package intake

import (
	"bufio"
	"bytes"
	"reflect"
	"strings"
	"testing"
)

// readHead sizes its reader to the header; what it reads is what bufio's
// default 4 KiB reader reads, for short headers, folded lines, a line
// longer than 4 KiB, bare LF line ends, and a header with no end.
func TestReadHeadSizedReaderReadsTheSame(t *testing.T) {
	long := strings.Repeat("Ärende ", 1000)
	for _, raw := range []string{
		"Subject: Provsvar\r\n\r\nbody",
		"Subject: =?utf-8?q?Provsvar_=C3=A4r_klart?=\r\nMessage-ID: <a@b>\r\n\r\n",
		"From: Anna <anna@kommun.example.se>\r\nSubject: a\r\n folded\r\n\tagain\r\n\r\nx",
		"Subject: " + long + "\r\nMessage-ID: <long@b>\r\n\r\nbody",
		"Subject: bare\nMessage-ID: <lf@b>\n\nbody",
		"Subject: no body at all\r\n",
		" starts with a space\r\n\r\n",
	} {
		got, gotErr := readHead([]byte(raw))
		want, wantErr := readHeadFrom(bufio.NewReader(bytes.NewReader([]byte(raw))))
		if !reflect.DeepEqual(got, want) || (gotErr == nil) != (wantErr == nil) {
			t.Errorf("%.40q: read %+v, %v; the default reader reads %+v, %v", raw, got, gotErr, want, wantErr)
		}
	}
}
