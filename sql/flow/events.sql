-- name: flow_events
-- grain: event
-- depends_on: events, flow_case_names, flow_owner_names, flow_step_map
-- params: stream
-- when: engine != duckdb
-- flow_events: the stream's events with their step (grain: event). Every engine but DuckDB
-- runs this file; DuckDB its own variant (events__duckdb.sql), the same rows. Step mapping comes
-- from flow_step_map (activity -> step, dropped), built from the stream's [steps] settings.
-- `ord` orders a case's events: time, then starts before completes at the same instant, then
-- the tie key, then the load (run_id). The tie key is the event's sequence where the source
-- gives one (an update or event number, [columns] sequence: events.sequence), else its
-- source line (ties keep the export's order, as pm4py does). It is that order packed into
-- one number, not a rank: every later step orders by it, and a rank would cost a sort of all
-- events here (the largest sort of the flow) for what one multiplication gives. Layout, most
-- significant first: epoch microseconds (signed; 2^54 covers years past 2200), 1 bit
-- start/other, 40 bits of tie key, 32 bits of run id; 126 bits in all, inside DECIMAL(38, 0)
-- (2^126 < 10^38: DuckDB holds it as a 128-bit integer, Spark as its decimal; exact in both).
-- The tie key: without a sequence, the source line (below 2^39: 5 * 10^11 lines), so
-- (time, start, line, run) names one source row, as before. With a sequence from 0 to
-- 2^24 - 1 (16.7 million: update counts and event numbers of a case fit): 2^39 (above
-- every line) + sequence * 2^15 + the line's last 15 bits, so the sequence orders the tie
-- and, for two events with the same sequence, the line still does (it names the row
-- unless two events of one case at one instant in one load repeat a sequence value and
-- lie a multiple of 32,768 lines apart). A sequence outside that range counts as none. At
-- one instant, events without a sequence come before those with one.
-- `source_line` in flow_events is that tie key too, not the bare line: the visits are
-- sequenced by (time, source_line) (visits_elapsed.sql), so ties order there as here. (The
-- flow shows no line; the line itself stays in `events`.)
-- `case_id` in flow_events, and in every flow_* table made from it, is the case's number in
-- flow_case_names, not its text: the flow sorts and groups by case many times over, and
-- integer keys sort and hash several times cheaper than text. Numbers follow the order of
-- the texts, so min/arg_min and ORDER BY over cases pick the same case either way. The
-- text comes back where it is shown: publish() (pipeline/flow.py) and the examples of
-- quality_findings.sql (case_name()).
-- `resource` and `team` are numbers too, from one list of the names of both
-- (flow_owner_names), in text order: equal names get equal numbers, so a team and a
-- resource compare and coalesce (handoffs: team, else resource) as their texts would, and
-- min/max and ORDER BY pick the same. Carried through the pairing and sequencing windows as
-- text they cost about as much as the sorts themselves (10M events: 3.1 s -> 1.6 s pairing,
-- 2.7 s -> 1.6 s sequencing). The text comes back in publish() and in fct_step_metrics'
-- list of teams.
SELECT
    k.case_no AS case_id,
    m.activity,                      -- ENUM of the activities (pipeline/engine.py: ENUMs)
    m.step,                          -- NULL when the activity is dropped from the map (ENUM too)
    e.ts,
    e.lifecycle,
    r.owner_no AS resource,          -- numbers of flow_owner_names
    t.owner_no AS team,
    e.start_ts,
    tie_key(e.sequence, e.source_line) AS source_line,  -- the tie key (above)
    CASE WHEN e.sequence BETWEEN 0 AND 16777215 THEN e.sequence END AS sequence,  -- as it orders ties
    ((CAST(epoch_us(e.ts) AS DECIMAL(38, 0)) * 2 + CASE WHEN e.lifecycle = 'start' THEN 0 ELSE 1 END)
        * CAST(1099511627776 AS DECIMAL(38, 0)) + tie_key(e.sequence, e.source_line))
        * CAST(4294967296 AS DECIMAL(38, 0)) + e.run_id AS ord
FROM events AS e
JOIN flow_step_map AS m ON m.activity = e.activity
JOIN flow_case_names AS k USING (case_id)
LEFT JOIN flow_owner_names AS r ON r.name = e.resource
LEFT JOIN flow_owner_names AS t ON t.name = e.team
WHERE e.stream = $stream
