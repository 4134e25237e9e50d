-- The kv engine's records: every bucket's keys in one table, ordered by
-- (bucket, key) in its primary key's b-tree, and each bucket's sequence in
-- a row of its own (UPDATE … RETURNING locks it until commit).
CREATE TABLE buckets (
	name text COLLATE "C" PRIMARY KEY,
	seq  bigint NOT NULL DEFAULT 0 CHECK (seq >= 0)
);

CREATE TABLE kv (
	bucket text COLLATE "C" NOT NULL,
	key    bytea NOT NULL CHECK (length(key) > 0),
	value  bytea NOT NULL,
	PRIMARY KEY (bucket, key)
);

-- Most large values are ciphertext, which does not compress: keep them out
-- of line without trying.
ALTER TABLE kv ALTER COLUMN value SET STORAGE EXTERNAL;
