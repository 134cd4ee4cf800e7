-- The Conference Center's conferences (Allworx "My Conferences"). `id` is the Conference ID callers
-- key in; `password` the numeric PIN that admits them, kept as given because the Creator and the
-- Moderators are shown it to hand out. `kind` is `unscheduled` (always there; `enabled` opens it to
-- callers) or `scheduled` (`starts_at` in seconds since the epoch, `duration_secs`, `repeat_days` 0, 1,
-- 7, 14, 21 or 28, the Creator's `time_zone`, `canceled_at`). `creator` is an extension, NULL for the
-- administrator (the Creator of every unscheduled conference). `seats`: attendees at once, NULL for
-- the server's setting.
CREATE TABLE conferences (
    id            TEXT PRIMARY KEY NOT NULL,
    password      TEXT NOT NULL,
    description   TEXT NOT NULL DEFAULT '',
    kind          TEXT NOT NULL DEFAULT 'unscheduled',
    enabled       INTEGER NOT NULL DEFAULT 1,
    creator       TEXT,
    seats         INTEGER,
    starts_at     INTEGER,
    duration_secs INTEGER,
    repeat_days   INTEGER NOT NULL DEFAULT 0,
    time_zone     TEXT,
    canceled_at   INTEGER,
    created_at    INTEGER NOT NULL
);
-- The users who may modify, end and moderate a conference besides its Creator.
CREATE TABLE conference_moderators (
    conference TEXT NOT NULL REFERENCES conferences (id) ON DELETE CASCADE,
    extension  TEXT NOT NULL,
    PRIMARY KEY (conference, extension)
);
-- The seed's unscheduled conferences: 480 to 483, each with its ID as its password.
INSERT INTO conferences (id, password, kind, created_at) VALUES
    ('480', '480', 'unscheduled', 0),
    ('481', '481', 'unscheduled', 0),
    ('482', '482', 'unscheduled', 0),
    ('483', '483', 'unscheduled', 0);
-- Who attended which session of a conference (a session: from the first to enter until the last left,
-- named by its start), for the Creator's and Moderators' statistics. Times are Unix seconds.
CREATE TABLE conference_attendance (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    conference TEXT NOT NULL,
    session    INTEGER NOT NULL,
    caller     TEXT NOT NULL,
    joined_at  INTEGER NOT NULL,
    left_at    INTEGER NOT NULL
);
CREATE INDEX conference_attendance_by_conference ON conference_attendance (conference, session);
