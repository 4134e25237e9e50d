package smtp

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// upstreamLineLimit is upstream's byte-wise count, the reference for the
// run-wise one: how many bytes of each Read it lets through before
// ErrTooLongLine.
type upstreamLineLimit struct {
	R         io.Reader
	LineLimit int
	cur       int
}

func (r *upstreamLineLimit) Read(b []byte) (int, error) {
	if r.cur > r.LineLimit && r.LineLimit > 0 {
		return 0, ErrTooLongLine
	}
	n, err := r.R.Read(b)
	if err != nil || r.LineLimit == 0 {
		return n, err
	}
	for _, chr := range b[:n] {
		if chr == '\n' {
			r.cur = 0
		}
		r.cur++
		if r.cur > r.LineLimit {
			return 0, ErrTooLongLine
		}
	}
	return n, nil
}

// readAll reads r in reads of chunk bytes and tells what came through and
// the error that ended it.
func readAll(r io.Reader, chunk int) ([]byte, error) {
	var out []byte
	buf := make([]byte, chunk)
	for {
		n, err := r.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			return out, err
		}
	}
}

// FuzzLineLimitReader: the run-wise reader lets through the same bytes and
// fails at the same Read as upstream's byte-wise one, whatever the input,
// the limit and the size of the reads.
func FuzzLineLimitReader(f *testing.F) {
	f.Add([]byte("Subject: x\r\n\r\nbody\r\n.\r\n"), 8, 3)
	f.Add([]byte("a\nbb\nccc\n"), 3, 1)
	f.Add([]byte("abcd"), 4, 64)
	f.Add(bytes.Repeat([]byte("x"), 1001), 1000, 512)
	f.Add([]byte("\n\n\n"), 1, 2)
	f.Fuzz(func(t *testing.T, in []byte, limit, chunk int) {
		limit, chunk = int(uint(limit)%2000), 1+int(uint(chunk)%700)
		got, gotErr := readAll(&lineLimitReader{R: bytes.NewReader(in), LineLimit: limit}, chunk)
		want, wantErr := readAll(&upstreamLineLimit{R: bytes.NewReader(in), LineLimit: limit}, chunk)
		if !bytes.Equal(got, want) || !errors.Is(gotErr, wantErr) {
			t.Fatalf("limit %d, reads of %d: got %d bytes, %v; upstream %d bytes, %v", limit, chunk, len(got), gotErr, len(want), wantErr)
		}
	})
}
