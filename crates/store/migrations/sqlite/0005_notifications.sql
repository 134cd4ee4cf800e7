-- Notifications: the mobile number for SMS, the mailbox options "Forward to Email Account" and "Send SMS
-- when receiving a message", webhook subscriptions, and the durable outbox every notification goes
-- through. An outbox row is written in the same transaction as the change it reports (a message made
-- visible, read or deleted), so a crash can never lose a notification that was due.
ALTER TABLE users ADD COLUMN mobile TEXT;
ALTER TABLE mailboxes ADD COLUMN forward_email INTEGER NOT NULL DEFAULT 0;
ALTER TABLE mailboxes ADD COLUMN send_sms INTEGER NOT NULL DEFAULT 0;

CREATE TABLE webhooks (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    url        TEXT NOT NULL,
    secret     TEXT NOT NULL,
    events     TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE outbox (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    channel    TEXT NOT NULL,
    target     TEXT NOT NULL,
    event      TEXT NOT NULL,
    payload    TEXT NOT NULL,
    state      TEXT NOT NULL DEFAULT 'pending',
    attempts   INTEGER NOT NULL DEFAULT 0,
    next_at    INTEGER NOT NULL,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    done_at    INTEGER
);
CREATE INDEX outbox_due ON outbox (state, next_at);
