-- column_profile: one column of a table profiled on both sides, side by side: rows,
-- NULLs, distinct values, minimum and maximum (as text).
-- Parameters: {{table}}: the snapshot table (on both sides); {{column}}: the column.
-- A `legacy_`/`target_` parameter (`target_key=legacy_id`) defaults to the one without
-- the prefix (`key`), for tables or keys that differ between the sides.
SELECT side, count(*) AS rows, count(*) - count(v) AS nulls, count(DISTINCT v) AS distinct_values,
       CAST(min(v) AS VARCHAR) AS min, CAST(max(v) AS VARCHAR) AS max
FROM (SELECT 'legacy' AS side, {{legacy_column}} AS v FROM legacy.{{legacy_table}}
      UNION ALL
      SELECT 'target' AS side, {{target_column}} AS v FROM target.{{target_table}}) AS s
GROUP BY side
ORDER BY side
