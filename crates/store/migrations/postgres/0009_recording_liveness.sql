-- A recording in progress names the node recording it and is touched every few seconds by it, so that
-- on a database shared by several nodes a node recovers at start what its own stop cut short, and a
-- recording whose node died is told from one still going, and recovered by another.
ALTER TABLE messages ADD COLUMN node TEXT;
ALTER TABLE messages ADD COLUMN touched_at BIGINT;
