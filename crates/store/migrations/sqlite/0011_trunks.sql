-- Trunks to carriers. This table is the source of truth for them: `parley trunk` edits it, every node
-- reads it (at start, when told, and every minute). The password is kept as it was given: Parley
-- answers the carrier's digest challenges with it, so it cannot be hashed; nothing shows or logs it.
-- `peers` lists the addresses (comma-separated) an IP peer's calls may come from.
CREATE TABLE trunks (
    name          TEXT PRIMARY KEY NOT NULL,
    host          TEXT NOT NULL,
    port          INTEGER NOT NULL DEFAULT 5060,
    transport     TEXT NOT NULL DEFAULT 'udp',
    proxy         TEXT,
    register      INTEGER NOT NULL DEFAULT 0,
    username      TEXT,
    auth_username TEXT,
    password      TEXT,
    expires       INTEGER NOT NULL DEFAULT 3600,
    peers         TEXT NOT NULL DEFAULT '',
    enabled       INTEGER NOT NULL DEFAULT 1,
    created_at    INTEGER NOT NULL
);
