-- Callisto announcements: which welcome message callers hear (standard, a, b, c) and, for each, whether
-- callers may leave a message after it ("Recording active"; on by default for the standard one only).
ALTER TABLE mailboxes ADD COLUMN announcement TEXT NOT NULL DEFAULT 'standard';
ALTER TABLE mailboxes ADD COLUMN record_standard INTEGER NOT NULL DEFAULT 1;
ALTER TABLE mailboxes ADD COLUMN record_a INTEGER NOT NULL DEFAULT 0;
ALTER TABLE mailboxes ADD COLUMN record_b INTEGER NOT NULL DEFAULT 0;
ALTER TABLE mailboxes ADD COLUMN record_c INTEGER NOT NULL DEFAULT 0;
