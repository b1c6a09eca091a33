-- load_identified (grain: clean row of load_checked): the numbers of load_identities()
-- (load/identify_events.sql: _line, event_id, version_hash), computed once for
-- load/fresh_events.sql and load/replace_events.sql when the stream has stored events.
CREATE OR REPLACE TEMP TABLE load_identified AS
SELECT _line, event_id, version_hash FROM load_identities();
