package boltkv

import bolt "go.etcd.io/bbolt"

// BucketNames lists the file's buckets, for a copy of the whole store into
// another engine (kv itself has no list of buckets: the vault knows its
// own).
func (e *Engine) BucketNames() ([]string, error) {
	var names []string
	err := e.db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
			names = append(names, string(name))
			return nil
		})
	})
	return names, err
}
