-- Audio kept in the database itself (the default on PostgreSQL, so that nodes sharing it need no
-- shared directory): a recording is a row of `audio` (its name, e.g. 'message/101/42' or
-- 'greeting/101/busy', and its length in 8 kHz samples) and its PCM (16-bit little-endian) in
-- chunks of one second, in order. A recording in progress has chunks and no `audio` row yet: its
-- node writes a chunk every second, so that another node can recover it should this one stop.
CREATE TABLE audio (
    name TEXT PRIMARY KEY NOT NULL,
    samples INTEGER NOT NULL
);
CREATE TABLE audio_chunks (
    name TEXT NOT NULL,
    seq INTEGER NOT NULL,
    pcm BLOB NOT NULL,
    PRIMARY KEY (name, seq)
);
-- Where this database's audio is kept ('files' or 'database'), written once: by this migration for
-- an installation that has accounts already (its audio is in files, as every earlier Parley kept
-- it), else at the first start. Every node and verb then keeps audio where the database says.
CREATE TABLE settings (
    name TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
INSERT INTO settings (name, value) SELECT 'audio', 'files' WHERE EXISTS (SELECT 1 FROM users);
