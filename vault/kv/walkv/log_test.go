package walkv

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

var testID = []byte("0123456789abcdef")

func sample(lsn uint64, value string) *batch {
	return &batch{lsn: lsn, buckets: map[string]*changes{
		"a": {created: true, ops: []op{{key: []byte("k"), value: []byte(value)}}},
		"b": {seq: 7, seqSet: true, ops: []op{{key: []byte("gone"), del: true}, {key: []byte("x"), value: []byte{}}}},
	}}
}

// writeLog appends the batches to a new log in dir and returns its bytes.
func writeLog(t testing.TB, dir string, id []byte, batches ...*batch) (string, []byte) {
	t.Helper()
	path := filepath.Join(dir, "log")
	l, _, err := openLog(path, 0, id)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range batches {
		if _, err := l.append(b.lsn, b); err != nil {
			t.Fatal(err)
		}
	}
	l.close()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, data
}

func lsns(records []*batch) []uint64 {
	var out []uint64
	for _, r := range records {
		out = append(out, r.lsn)
	}
	return out
}

// The replay stops at a torn last record, at an older cycle's record
// behind the newest, and reads nothing of another store's log; a record
// missing after the applied one is an error, not a silent skip.
func TestLogReplayEnds(t *testing.T) {
	dir := t.TempDir()
	path, data := writeLog(t, dir, testID, sample(1, "one"), sample(2, "two"), sample(3, "three"))
	read := func(applied uint64, id []byte) ([]uint64, error) {
		l, records, err := openLog(path, applied, id)
		if err == nil {
			l.close()
		}
		return lsns(records), err
	}
	if got, err := read(0, testID); err != nil || !reflect.DeepEqual(got, []uint64{1, 2, 3}) {
		t.Fatalf("whole log: %v, %v", got, err)
	}
	if got, err := read(2, testID); err != nil || !reflect.DeepEqual(got, []uint64{3}) {
		t.Fatalf("after 2: %v, %v", got, err)
	}
	if got, err := read(0, []byte("another store's")); err != nil || len(got) != 0 {
		t.Fatalf("another store's log: %v, %v, want nothing", got, err)
	}
	// Torn: the last record's final byte never reached the disk.
	third := bytes.LastIndex(data, []byte("three"))
	torn := bytes.Clone(data)
	torn[third+4] ^= 0xff
	os.WriteFile(path, torn, 0o600)
	if got, err := read(0, testID); err != nil || !reflect.DeepEqual(got, []uint64{1, 2}) {
		t.Fatalf("torn last record: %v, %v", got, err)
	}
	// A new cycle: record 4 written over record 1; 2 and 3 behind it are old.
	os.WriteFile(path, data, 0o600)
	l, _, err := openLog(path, 3, testID)
	if err != nil {
		t.Fatal(err)
	}
	l.restart()
	if _, err := l.append(4, sample(4, "four")); err != nil {
		t.Fatal(err)
	}
	l.close()
	if got, err := read(3, testID); err != nil || !reflect.DeepEqual(got, []uint64{4}) {
		t.Fatalf("new cycle: %v, %v", got, err)
	}
	// The store applied up to 1, the log starts at 4: 2 and 3 are lost.
	if _, err := read(1, testID); err == nil {
		t.Fatal("a gap between the store and its log was not reported")
	}
}

// FuzzLog: any bytes where the log should be open without a panic, and
// each record read back is what decode accepts and encode writes again
// byte for byte.
func FuzzLog(f *testing.F) {
	_, data := writeLog(f, f.TempDir(), testID, sample(1, "one"), sample(2, "two"))
	f.Add(data[:200], uint64(0))
	f.Add(data[:100], uint64(1))
	f.Add([]byte{}, uint64(0))
	f.Fuzz(func(t *testing.T, data []byte, applied uint64) {
		path := filepath.Join(t.TempDir(), "log")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		l, records, err := openLog(path, applied, testID)
		if err != nil {
			return
		}
		l.close()
		for _, r := range records {
			again, err := decode(r.encode())
			if err != nil {
				t.Fatalf("record %d: its own encoding does not decode: %v", r.lsn, err)
			}
			again.lsn, again.bytes = r.lsn, r.bytes
			if !reflect.DeepEqual(normal(again), normal(r)) {
				t.Fatalf("record %d: %+v read back as %+v", r.lsn, r, again)
			}
		}
	})
}

// FuzzDecode: decode never panics, and what it accepts encodes to the same
// bytes (decode refuses every other spelling).
func FuzzDecode(f *testing.F) {
	f.Add(sample(1, "one").encode())
	f.Add([]byte{3, 1, 'a', 0, 0, 0, 0, 0, 0, 0, 9, 1, 1, 1, 'k'})
	f.Fuzz(func(t *testing.T, p []byte) {
		b, err := decode(p)
		if err != nil {
			return
		}
		if out := b.encode(); !bytes.Equal(out, p) {
			t.Fatalf("decoded %x, encoded again %x", p, out)
		}
	})
}

// normal makes empty and nil slices alike, for DeepEqual.
func normal(b *batch) *batch {
	for _, c := range b.buckets {
		for i := range c.ops {
			if len(c.ops[i].value) == 0 {
				c.ops[i].value = nil
			}
		}
		if len(c.ops) == 0 {
			c.ops = nil
		}
	}
	return b
}
