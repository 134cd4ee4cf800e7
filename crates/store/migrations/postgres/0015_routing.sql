-- Where calls to a user go: the current presence (`in-office`, `at-a-meeting`, …) and the call
-- routes the user set, by presence, as JSON (parley_core::routing::CallRoute; a presence without one
-- has the default route: the user's handsets, then voicemail). No row: In Office, default routes.
CREATE TABLE routing (
    extension  TEXT PRIMARY KEY NOT NULL,
    presence   TEXT NOT NULL DEFAULT 'in-office',
    routes     TEXT NOT NULL DEFAULT '{}',
    updated_at BIGINT NOT NULL
);
