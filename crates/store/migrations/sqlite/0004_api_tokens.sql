-- API tokens for programs: only a SHA-256 of the token is stored (tokens are 128-bit random, so a fast
-- hash is enough); the token itself is shown once, at creation.
CREATE TABLE api_tokens (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    extension  TEXT NOT NULL REFERENCES users(extension) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    hash       TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);
