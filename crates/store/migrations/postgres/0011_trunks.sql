-- Trunks to carriers. This table is the source of truth for them: `parley trunk` edits it, every node
-- reads it (at start, when told, and every minute). The password is kept as it was given: Parley
-- answers the carrier's digest challenges with it, so it cannot be hashed; nothing shows or logs it.
-- `peers` lists the addresses (comma-separated) an IP peer's calls may come from.
CREATE TABLE trunks (
    name          TEXT PRIMARY KEY NOT NULL,
    host          TEXT NOT NULL,
    port          BIGINT NOT NULL DEFAULT 5060,
    transport     TEXT NOT NULL DEFAULT 'udp',
    proxy         TEXT,
    register      BOOLEAN NOT NULL DEFAULT FALSE,
    username      TEXT,
    auth_username TEXT,
    password      TEXT,
    expires       BIGINT NOT NULL DEFAULT 3600,
    peers         TEXT NOT NULL DEFAULT '',
    enabled       BOOLEAN NOT NULL DEFAULT TRUE,
    created_at    BIGINT NOT NULL
);
