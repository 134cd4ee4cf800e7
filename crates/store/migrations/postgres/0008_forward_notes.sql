-- A forwarded message remembers who forwarded it and the note they added (shown with the copy).
ALTER TABLE messages ADD COLUMN forwarded_by TEXT;
ALTER TABLE messages ADD COLUMN note TEXT;
