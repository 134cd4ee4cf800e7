-- A trunk's options beside where it is and how it logs in: the OPTIONS keep-alive interval in
-- seconds (0: none), how numbers are written towards the carrier (`e164`, `digits`, `national`),
-- where the caller ID goes (`from`, `pai`, `rpid`), the most calls it carries at once (0: no limit
-- of its own), the codecs it may be offered (comma-separated, empty: any) and the number patterns
-- it carries (E.164 prefixes, comma-separated, empty: every number).
ALTER TABLE trunks ADD COLUMN keepalive BIGINT NOT NULL DEFAULT 0;
ALTER TABLE trunks ADD COLUMN number_format TEXT NOT NULL DEFAULT 'e164';
ALTER TABLE trunks ADD COLUMN caller_id TEXT NOT NULL DEFAULT 'from';
ALTER TABLE trunks ADD COLUMN max_calls BIGINT NOT NULL DEFAULT 0;
ALTER TABLE trunks ADD COLUMN codecs TEXT NOT NULL DEFAULT '';
ALTER TABLE trunks ADD COLUMN patterns TEXT NOT NULL DEFAULT '';
-- Which way a call went (`internal`, `inbound`, `outbound`) and the trunk it went through.
ALTER TABLE call_records ADD COLUMN direction TEXT NOT NULL DEFAULT 'internal';
ALTER TABLE call_records ADD COLUMN trunk TEXT;
