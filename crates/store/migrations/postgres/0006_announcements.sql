-- Callisto announcements: which welcome message callers hear (standard, a, b, c) and, for each, whether
-- callers may leave a message after it ("Recording active"; on by default for the standard one only).
ALTER TABLE mailboxes ADD COLUMN announcement TEXT NOT NULL DEFAULT 'standard';
ALTER TABLE mailboxes ADD COLUMN record_standard BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE mailboxes ADD COLUMN record_a BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE mailboxes ADD COLUMN record_b BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE mailboxes ADD COLUMN record_c BOOLEAN NOT NULL DEFAULT FALSE;
