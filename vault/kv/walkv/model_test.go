package walkv_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"sigill/vault/kv"
)

// model is what the store must hold: buckets of keys, and sequences.
type model struct {
	buckets map[string]map[string]string
	seqs    map[string]uint64
}

func newModel() *model {
	return &model{buckets: map[string]map[string]string{}, seqs: map[string]uint64{}}
}

func (m *model) clone() *model {
	c := newModel()
	for name, b := range m.buckets {
		c.buckets[name] = maps.Clone(b)
	}
	c.seqs = maps.Clone(m.seqs)
	return c
}

// want is what Range r yields from bucket b of the model.
func (m *model) want(b string, r kv.Range) []string {
	var keys []string
	for k := range m.buckets[b] {
		if (r.Start == nil || k >= string(r.Start)) && (r.End == nil || k < string(r.End)) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	if r.Reverse {
		slices.Reverse(keys)
	}
	if r.Limit > 0 && len(keys) > r.Limit {
		keys = keys[:r.Limit]
	}
	var out []string
	for _, k := range keys {
		out = append(out, k+"="+m.buckets[b][k])
	}
	return out
}

// compareAll checks every bucket of the model against e: a full range both
// ways, random ranges with limits, Count, Sequence and Get.
func compareAll(t *testing.T, e kv.Engine, m *model, rng *rand.Rand) {
	t.Helper()
	err := kv.View(context.Background(), e, func(tx kv.Tx) error {
		for _, name := range slices.Sorted(maps.Keys(m.buckets)) {
			b := tx.Bucket(name)
			ranges := []kv.Range{{}, {Reverse: true}}
			for range 4 {
				r := kv.Range{Limit: rng.IntN(4), Reverse: rng.IntN(2) == 0}
				if rng.IntN(3) > 0 {
					r.Start = []byte(randomKey(rng))
				}
				if rng.IntN(3) > 0 {
					r.End = []byte(randomKey(rng))
				}
				ranges = append(ranges, r)
			}
			for _, r := range ranges {
				var got []string
				if err := b.Range(r, func(k, v []byte) error {
					got = append(got, string(k)+"="+string(v))
					return nil
				}); err != nil {
					return err
				}
				if want := m.want(name, r); !slices.Equal(got, want) {
					t.Errorf("bucket %s, range %+v:\n got %q\nwant %q", name, r, got, want)
				}
			}
			if n, err := b.Count(); err != nil || n != len(m.buckets[name]) {
				t.Errorf("bucket %s: Count = %d, %v; want %d", name, n, err, len(m.buckets[name]))
			}
			if s, err := b.Sequence(); err != nil || s != m.seqs[name] {
				t.Errorf("bucket %s: Sequence = %d, %v; want %d", name, s, err, m.seqs[name])
			}
			k := randomKey(rng)
			v, err := b.Get([]byte(k))
			if want, ok := m.buckets[name][k]; err != nil || (v != nil) != ok || string(v) != want {
				t.Errorf("bucket %s: Get(%q) = %q, %v; want %q (there: %v)", name, k, v, err, want, ok)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func randomKey(rng *rand.Rand) string {
	return fmt.Sprintf("k%02d", rng.IntN(40))
}

// TestAgainstModel: random transactions, some rolled back, with the
// applier held at times so that reads go through several layers of
// commits not yet applied, then a copy of the files taken while commits
// were pending (what kill -9 leaves): each read agrees with a model of
// what was committed, in the engine and in the copy opened again.
func TestAgainstModel(t *testing.T) {
	for seed := range uint64(8) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 17))
			dir := t.TempDir()
			e := open(t, dir)
			defer e.Close()
			m := newModel()
			buckets := []string{"a", "b", "c"}
			for step := range 200 {
				if step%20 == 0 {
					e.Pause(rng.IntN(3) > 0)
				}
				next := m.clone()
				tx, err := e.Begin(context.Background(), true)
				if err != nil {
					t.Fatal(err)
				}
				for range 1 + rng.IntN(6) {
					name := buckets[rng.IntN(len(buckets))]
					if next.buckets[name] == nil {
						if err := tx.CreateBucket(name); err != nil {
							t.Fatal(err)
						}
						next.buckets[name] = map[string]string{}
					}
					b := tx.Bucket(name)
					k := randomKey(rng)
					switch rng.IntN(4) {
					case 0:
						if err := b.Delete([]byte(k)); err != nil {
							t.Fatal(err)
						}
						delete(next.buckets[name], k)
					case 1:
						s, err := b.NextSequence()
						if err != nil {
							t.Fatal(err)
						}
						next.seqs[name]++
						if s != next.seqs[name] {
							t.Fatalf("NextSequence = %d, want %d", s, next.seqs[name])
						}
					default:
						v := fmt.Sprint(step, rng.IntN(1000))
						if err := b.Put([]byte(k), []byte(v)); err != nil {
							t.Fatal(err)
						}
						next.buckets[name][k] = v
					}
				}
				if rng.IntN(8) == 0 {
					if err := tx.Rollback(); err != nil {
						t.Fatal(err)
					}
				} else {
					if err := tx.Commit(); err != nil {
						t.Fatal(err)
					}
					m = next
				}
				if step%10 == 0 {
					compareAll(t, e, m, rng)
				}
			}
			e.Pause(true)
			for i := range 3 { // commits only the log holds
				err := kv.Update(context.Background(), e, 1, func(tx kv.Tx) error {
					if err := tx.CreateBucket("late"); err != nil {
						return err
					}
					return tx.Bucket("late").Put([]byte(fmt.Sprint("k", i)), []byte("v"))
				})
				if err != nil {
					t.Fatal(err)
				}
				if m.buckets["late"] == nil {
					m.buckets["late"] = map[string]string{}
				}
				m.buckets["late"][fmt.Sprint("k", i)] = "v"
			}
			if e.Pending() == 0 {
				t.Fatal("the paused applier applied")
			}
			compareAll(t, e, m, rng)
			copyDir := t.TempDir()
			for _, f := range []string{"kv.db", "kv.db.log"} {
				copyFile(t, filepath.Join(dir, f), filepath.Join(copyDir, f))
			}
			again := open(t, copyDir)
			defer again.Close()
			compareAll(t, again, m, rng)
		})
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

var _ = bytes.Equal
