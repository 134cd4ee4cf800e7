-- Call records: one row per call, written by the B2BUA when the call ends (a call diverted to voicemail
-- is one row, written when the voicemail call ends). Times are Unix seconds; lengths milliseconds.
CREATE TABLE call_records (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at  INTEGER NOT NULL,
    caller      TEXT NOT NULL,
    caller_name TEXT,
    callee      TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    talk_ms     INTEGER NOT NULL DEFAULT 0,
    total_ms    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX call_records_caller ON call_records (caller, started_at);
CREATE INDEX call_records_callee ON call_records (callee, started_at);
