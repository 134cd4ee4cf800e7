-- Voicemail: per-mailbox settings and messages. A message row exists from the moment its recording
-- starts (state 'recording'), so a crash mid-recording leaves a row and a file that the next start
-- recovers; numbering comes from the autoincrement id, so simultaneous deposits never collide.
CREATE TABLE mailboxes (
    extension      TEXT PRIMARY KEY NOT NULL REFERENCES users(extension) ON DELETE CASCADE,
    always_prompt  INTEGER NOT NULL DEFAULT 1,
    mark_read      INTEGER NOT NULL DEFAULT 0,
    temp_active    INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE messages (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    mailbox      TEXT NOT NULL REFERENCES users(extension) ON DELETE CASCADE,
    folder       TEXT NOT NULL DEFAULT 'new',
    state        TEXT NOT NULL DEFAULT 'recording',
    caller       TEXT,
    caller_name  TEXT,
    received_at  INTEGER NOT NULL,
    duration_ms  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX messages_by_mailbox ON messages (mailbox, state, folder);
