-- duplicate_keys: keys that more than one row carries, on either side, with how many.
-- Parameters: {{table}}: the snapshot table (on both sides); {{key}}: its key column.
-- A `legacy_`/`target_` parameter (`target_key=legacy_id`) defaults to the one without
-- the prefix (`key`), for tables or keys that differ between the sides.
SELECT side, k AS key, count(*) AS rows
FROM (SELECT 'legacy' AS side, {{legacy_key}} AS k FROM legacy.{{legacy_table}}
      UNION ALL
      SELECT 'target' AS side, {{target_key}} AS k FROM target.{{target_table}}) AS s
WHERE k IS NOT NULL
GROUP BY side, k
HAVING count(*) > 1
ORDER BY side, k
