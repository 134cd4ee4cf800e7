-- Privileges (comma-separated: admin, rest, groups), ManagerAssistant application instances with their
-- groups, members, VIP numbers and announcements, and the audit log of every change made through an API.
ALTER TABLE users ADD COLUMN privileges TEXT NOT NULL DEFAULT '';

CREATE TABLE ma_instances (
    name       TEXT PRIMARY KEY NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE ma_groups (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    instance TEXT NOT NULL REFERENCES ma_instances(name) ON DELETE CASCADE,
    name     TEXT NOT NULL COLLATE NOCASE,
    settings TEXT NOT NULL,
    UNIQUE (instance, name)
);

CREATE TABLE ma_members (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    group_id        INTEGER NOT NULL REFERENCES ma_groups(id) ON DELETE CASCADE,
    user_name       TEXT NOT NULL,
    number          TEXT NOT NULL,
    short_name      TEXT NOT NULL,
    manager         INTEGER NOT NULL,
    displayed_group TEXT NOT NULL
);

CREATE TABLE ma_vip (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    member_id   INTEGER NOT NULL REFERENCES ma_members(id) ON DELETE CASCADE,
    number      TEXT NOT NULL,
    description TEXT NOT NULL
);

CREATE TABLE ma_announcements (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    group_id INTEGER NOT NULL REFERENCES ma_groups(id) ON DELETE CASCADE,
    wave     TEXT NOT NULL,
    priority INTEGER NOT NULL
);

CREATE TABLE audit_log (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    at     INTEGER NOT NULL,
    actor  TEXT NOT NULL,
    source TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL
);
