-- The company's numbers (DIDs), each in E.164, and where calls from a trunk to it go: an extension
-- (`extension`) or straight to a mailbox's greeting (`mailbox`).
CREATE TABLE dids (
    number     TEXT PRIMARY KEY NOT NULL,
    kind       TEXT NOT NULL,
    target     TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
