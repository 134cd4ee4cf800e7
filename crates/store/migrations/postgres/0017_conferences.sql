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
    enabled       BOOLEAN NOT NULL DEFAULT TRUE,
    creator       TEXT,
    seats         BIGINT,
    starts_at     BIGINT,
    duration_secs BIGINT,
    repeat_days   BIGINT NOT NULL DEFAULT 0,
    time_zone     TEXT,
    canceled_at   BIGINT,
    created_at    BIGINT NOT NULL
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
