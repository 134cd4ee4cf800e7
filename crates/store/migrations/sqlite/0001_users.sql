-- Accounts: one row per extension. Secrets are never stored in clear:
-- the portal password and the voicemail PIN as argon2 hashes, the SIP secret as digest HA1 values.
CREATE TABLE users (
    extension     TEXT PRIMARY KEY NOT NULL,
    name          TEXT NOT NULL,
    email         TEXT,
    password_hash TEXT NOT NULL,
    ha1_md5       TEXT NOT NULL,
    ha1_sha256    TEXT NOT NULL,
    pin_hash      TEXT,
    created_at    INTEGER NOT NULL
);
