-- PLACEHOLDER (being written): flow_step_wip_avg, flow_wip_daily, flow_step_wip_daily, flow_littles_law.
CREATE OR REPLACE TEMP TABLE flow_step_wip_avg AS
SELECT step, CAST(NULL AS DOUBLE) AS queue_wip_avg, CAST(NULL AS DOUBLE) AS active_wip_avg FROM flow_visits WHERE FALSE;
CREATE OR REPLACE TEMP TABLE flow_wip_daily AS
SELECT CAST(NULL AS DATE) AS day, CAST(0 AS BIGINT) AS wip_end, CAST(0 AS DOUBLE) AS wip_avg,
       CAST(0 AS BIGINT) AS arrivals, CAST(0 AS BIGINT) AS departures WHERE FALSE;
CREATE OR REPLACE TEMP TABLE flow_step_wip_daily AS
SELECT CAST(NULL AS VARCHAR) AS step, CAST(NULL AS DATE) AS day, CAST(0 AS BIGINT) AS queue_wip_end,
       CAST(0 AS BIGINT) AS active_wip_end WHERE FALSE;
CREATE OR REPLACE TEMP TABLE flow_littles_law AS
SELECT 'all' AS window_kind, now() AS window_start, now() AS window_end, CAST(NULL AS DOUBLE) AS wip_avg,
       CAST(NULL AS BIGINT) AS wip_start, CAST(NULL AS BIGINT) AS wip_end, CAST(NULL AS BIGINT) AS arrivals,
       CAST(NULL AS BIGINT) AS departures, CAST(NULL AS DOUBLE) AS throughput_per_day,
       CAST(NULL AS DOUBLE) AS lead_time_mean_s, CAST(NULL AS DOUBLE) AS predicted_wip, CAST(NULL AS DOUBLE) AS ratio,
       CAST(NULL AS VARCHAR) AS verdict, CAST(NULL AS VARCHAR) AS why WHERE FALSE;
