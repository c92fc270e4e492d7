-- counts_per_partition: rows per partition of a table on both sides, side by side, with
-- the difference.
-- Parameters: {{table}}: the snapshot table (on both sides); {{partition}}: an SQL
-- expression over its columns that names the partition (`date_trunc('month', placed)`).
-- Default partition: 'all'
-- A `legacy_`/`target_` parameter (`target_key=legacy_id`) defaults to the one without
-- the prefix (`key`), for tables or keys that differ between the sides.
SELECT COALESCE(l.p, t.p) AS partition,
       COALESCE(l.n, 0) AS legacy_rows,
       COALESCE(t.n, 0) AS target_rows,
       COALESCE(t.n, 0) - COALESCE(l.n, 0) AS difference
FROM (SELECT CAST({{legacy_partition}} AS VARCHAR) AS p, count(*) AS n FROM legacy.{{legacy_table}} GROUP BY 1) AS l
FULL OUTER JOIN (SELECT CAST({{target_partition}} AS VARCHAR) AS p, count(*) AS n FROM target.{{target_table}} GROUP BY 1) AS t
  ON l.p IS NOT DISTINCT FROM t.p
ORDER BY 1
