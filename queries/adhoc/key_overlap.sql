-- key_overlap: how many distinct keys of a table are only in legacy, in both, or only
-- in target.
-- Parameters: {{table}}: the snapshot table (on both sides); {{key}}: its key column.
-- A `legacy_`/`target_` parameter (`target_key=legacy_id`) defaults to the one without
-- the prefix (`key`), for tables or keys that differ between the sides.
SELECT CASE WHEN t.k IS NULL THEN 'only legacy'
            WHEN l.k IS NULL THEN 'only target'
            ELSE 'both' END AS overlap,
       count(*) AS keys
FROM (SELECT DISTINCT {{legacy_key}} AS k FROM legacy.{{legacy_table}} WHERE {{legacy_key}} IS NOT NULL) AS l
FULL OUTER JOIN (SELECT DISTINCT {{target_key}} AS k FROM target.{{target_table}} WHERE {{target_key}} IS NOT NULL) AS t
  ON l.k = t.k
GROUP BY 1
ORDER BY 1
