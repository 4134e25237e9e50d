package walkv

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/bits"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
)

// A record: payload length (4 bytes), CRC-32C of the store's log id,
// sequence number and payload (4), sequence number (8), payload.
// Big-endian. The id (random, kept in the engine underneath and so in its
// backups) makes another store's log read as empty: restored beside a log
// it never wrote, a file takes none of that log's records.
const headerSize = 16

// growStep is how far ahead of the last record the log is zero-filled: an
// append into blocks already written costs its fdatasync no allocation
// (nor, on ext4, a journal commit).
var growStep = int64(4 << 20)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// logFile is the write-ahead log. append is called by the one writer;
// restart with no writer and nothing pending.
type logFile struct {
	f    *os.File
	seed uint32       // CRC-32C of the store's log id
	size int64        // zero-filled up to here
	pos  atomic.Int64 // the next record goes here
	buf  []byte
}

// openLog opens (or creates) the log and reads its records after applied:
// those the engine underneath has not got, in order.
func openLog(path string, applied uint64, id []byte) (*logFile, []*batch, error) {
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, err
	}
	if errors.Is(statErr, os.ErrNotExist) {
		// A new log's name must last as its first records will.
		if err := syncDir(filepath.Dir(path)); err != nil {
			f.Close()
			return nil, nil, err
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	l := &logFile{f: f, size: int64(len(data)), seed: crc32.Checksum(id, castagnoli)}
	var (
		records []*batch
		prev    uint64
	)
	for pos := 0; ; {
		lsn, payload, ok := readRecord(data[pos:], l.seed)
		if !ok || (prev != 0 && lsn != prev+1) {
			break // the end: zeros, a torn record, or an older cycle's
		}
		if lsn > applied {
			if len(records) == 0 && lsn != applied+1 {
				f.Close()
				return nil, nil, fmt.Errorf("its first record is %d, and the store file has applied up to %d: the records between are missing. "+
					"If the store file was restored from a backup, the log is the old file's: move it away and start again", lsn, applied)
			}
			b, err := decode(payload)
			if err != nil {
				f.Close()
				return nil, nil, fmt.Errorf("record %d at byte %d: %w", lsn, pos, err)
			}
			b.lsn, b.bytes = lsn, len(payload)
			records = append(records, b)
		}
		prev = lsn
		pos += headerSize + len(payload)
	}
	return l, records, nil
}

// readRecord reads the record at the start of data; ok is false where
// there is none whole and sound.
func readRecord(data []byte, seed uint32) (lsn uint64, payload []byte, ok bool) {
	if len(data) < headerSize {
		return 0, nil, false
	}
	n := binary.BigEndian.Uint32(data)
	sum := binary.BigEndian.Uint32(data[4:])
	if n == 0 || uint64(n) > uint64(len(data)-headerSize) {
		return 0, nil, false
	}
	if crc32.Update(seed, castagnoli, data[8:headerSize+n]) != sum {
		return 0, nil, false
	}
	return binary.BigEndian.Uint64(data[8:]), data[headerSize : headerSize+n], true
}

// append writes b as record lsn and syncs it; size is its payload's. The
// batch is encoded straight behind the header, in a buffer kept for the
// next (unless a large one made it large): a 64 KiB message is copied
// once between the transaction and the file.
func (l *logFile) append(lsn uint64, b *batch) (size int, err error) {
	l.buf = b.appendEncoding(append(l.buf[:0], make([]byte, headerSize)...))
	defer func() {
		if cap(l.buf) > keepBuffer {
			l.buf = nil
		}
	}()
	size = len(l.buf) - headerSize
	if size == 0 || size > 1<<31 {
		return 0, fmt.Errorf("a record of %d bytes", size)
	}
	n := len(l.buf)
	binary.BigEndian.PutUint32(l.buf, uint32(size))
	binary.BigEndian.PutUint64(l.buf[8:], lsn)
	binary.BigEndian.PutUint32(l.buf[4:], crc32.Update(l.seed, castagnoli, l.buf[8:]))
	pos := l.pos.Load()
	if end := pos + int64(n); end > l.size {
		if err := l.grow(end); err != nil {
			return 0, err
		}
	}
	if _, err := l.f.WriteAt(l.buf, pos); err != nil {
		return 0, err
	}
	if err := fdatasync(l.f); err != nil {
		return 0, err
	}
	l.pos.Store(pos + int64(n))
	return size, nil
}

// keepBuffer is the largest record buffer kept between appends.
const keepBuffer = 4 << 20

// grow zero-fills the log to past end; the append's sync covers it.
func (l *logFile) grow(end int64) error {
	target := (end/growStep + 1) * growStep
	zeros := make([]byte, 1<<20)
	for l.size < target {
		chunk := zeros[:min(int64(len(zeros)), target-l.size)]
		if _, err := l.f.WriteAt(chunk, l.size); err != nil {
			return err
		}
		l.size += int64(len(chunk))
	}
	return nil
}

// restart makes the next record go to the log's start: everything in it
// is applied.
func (l *logFile) restart() { l.pos.Store(0) }

func (l *logFile) used() int64 { return l.pos.Load() }

func (l *logFile) figures() (size, used int64) {
	fi, err := l.f.Stat()
	if err == nil {
		size = fi.Size()
	}
	return size, l.pos.Load()
}

func (l *logFile) close() error { return l.f.Close() }

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// encode is the batch's payload: each bucket, by name, with its changes.
//
//	bucket: flags (1: created, 2: sequence set), name (uvarint length,
//	bytes), sequence (8 bytes, when set), ops (uvarint count), each op:
//	kind (0: put, 1: delete), key (uvarint length, bytes), value
//	(uvarint length, bytes; puts only)
func (b *batch) encode() []byte { return b.appendEncoding(nil) }

// appendEncoding appends encode's form to out.
func (b *batch) appendEncoding(out []byte) []byte {
	names := make([]string, 0, len(b.buckets))
	size := 0
	for name, c := range b.buckets {
		names = append(names, name)
		size += 24 + len(name)
		for _, o := range c.ops {
			size += 11 + len(o.key) + len(o.value)
		}
	}
	slices.Sort(names)
	out = slices.Grow(out, size)
	for _, name := range names {
		c := b.buckets[name]
		var flags byte
		if c.created {
			flags |= 1
		}
		if c.seqSet {
			flags |= 2
		}
		out = append(out, flags)
		out = binary.AppendUvarint(out, uint64(len(name)))
		out = append(out, name...)
		if c.seqSet {
			out = binary.BigEndian.AppendUint64(out, c.seq)
		}
		out = binary.AppendUvarint(out, uint64(len(c.ops)))
		for _, o := range c.ops {
			if o.del {
				out = append(out, 1)
			} else {
				out = append(out, 0)
			}
			out = binary.AppendUvarint(out, uint64(len(o.key)))
			out = append(out, o.key...)
			if !o.del {
				out = binary.AppendUvarint(out, uint64(len(o.value)))
				out = append(out, o.value...)
			}
		}
	}
	return out
}

var errShort = errors.New("record ends early")

// uvarint is binary.Uvarint for encode's numbers only: w <= 0 also where
// the number is spelled longer than it needs (one encoding per batch).
func uvarint(p []byte) (n uint64, w int) {
	n, w = binary.Uvarint(p)
	if w > 0 && w != (bits.Len64(n|1)+6)/7 {
		return 0, 0
	}
	return n, w
}

// decode reads encode's form back. It refuses what encode never writes
// (unknown flags or kinds, buckets or keys out of order or twice, empty
// keys), so that a batch read back holds encode's invariants.
func decode(p []byte) (*batch, error) {
	b := &batch{buckets: map[string]*changes{}}
	field := func() ([]byte, error) {
		n, w := uvarint(p)
		if w <= 0 || n > uint64(len(p)-w) {
			return nil, errShort
		}
		f := p[w : w+int(n)]
		p = p[w+int(n):]
		return f, nil
	}
	prevName := ""
	for len(p) > 0 {
		flags := p[0]
		p = p[1:]
		if flags&^3 != 0 {
			return nil, fmt.Errorf("unknown bucket flags %#x", flags)
		}
		name, err := field()
		if err != nil {
			return nil, err
		}
		if len(name) == 0 || (len(b.buckets) > 0 && string(name) <= prevName) {
			return nil, fmt.Errorf("bucket %q out of order", name)
		}
		prevName = string(name)
		c := &changes{created: flags&1 != 0, seqSet: flags&2 != 0}
		if c.seqSet {
			if len(p) < 8 {
				return nil, errShort
			}
			c.seq = binary.BigEndian.Uint64(p)
			p = p[8:]
		}
		count, w := uvarint(p)
		if w <= 0 || count > uint64(len(p)) { // every op takes 2 bytes at least
			return nil, errShort
		}
		p = p[w:]
		c.ops = make([]op, 0, count)
		for range count {
			if len(p) == 0 {
				return nil, errShort
			}
			kind := p[0]
			p = p[1:]
			if kind > 1 {
				return nil, fmt.Errorf("unknown op %d", kind)
			}
			key, err := field()
			if err != nil {
				return nil, err
			}
			if len(key) == 0 || (len(c.ops) > 0 && bytes.Compare(key, c.ops[len(c.ops)-1].key) <= 0) {
				return nil, fmt.Errorf("bucket %q: key %q out of order", name, key)
			}
			o := op{key: key, del: kind == 1}
			if !o.del {
				if o.value, err = field(); err != nil {
					return nil, err
				}
			}
			c.ops = append(c.ops, o)
		}
		if !c.created && !c.seqSet && len(c.ops) == 0 {
			return nil, fmt.Errorf("bucket %q with nothing changed", name)
		}
		b.buckets[string(name)] = c
	}
	if len(b.buckets) == 0 {
		return nil, errors.New("a record with nothing changed")
	}
	return b, nil
}
