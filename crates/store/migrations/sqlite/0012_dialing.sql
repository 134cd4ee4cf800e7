-- Dialling out: each user's dialling class (internal, national or international; emergency numbers
-- are always allowed), internal until the administrator allows more (no account dials out unless
-- allowed), and the number callers outside see (the user's own DID, in E.164), without which the
-- company's main number is shown.
ALTER TABLE users ADD COLUMN dial_class TEXT NOT NULL DEFAULT 'internal';
ALTER TABLE users ADD COLUMN outside_number TEXT;
