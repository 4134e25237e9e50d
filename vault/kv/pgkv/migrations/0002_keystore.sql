-- The vault's key store (sealed under the key file's key), one row,
-- versioned so that two nodes never overwrite each other's keys. Every
-- change leaves the old row version behind as a dead tuple holding keys
-- the vault may have destroyed: vacuum this small table after every few
-- changes rather than after a fifth of it has changed.
CREATE TABLE keystore (
	id      int PRIMARY KEY CHECK (id = 1),
	version bigint NOT NULL CHECK (version > 0),
	sealed  bytea NOT NULL
) WITH (autovacuum_vacuum_threshold = 5, autovacuum_vacuum_scale_factor = 0);
