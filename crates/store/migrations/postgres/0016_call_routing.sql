-- How a call was routed: the user whose call route sent it elsewhere (the extension first dialled,
-- when the call was forwarded or rang another destination), and who took it (the extension whose
-- phone answered, or the number outside). Calls are listed for both.
ALTER TABLE call_records ADD COLUMN routed_by TEXT;
ALTER TABLE call_records ADD COLUMN answered_by TEXT;
CREATE INDEX call_records_routed_by ON call_records (routed_by);
CREATE INDEX call_records_answered_by ON call_records (answered_by);
