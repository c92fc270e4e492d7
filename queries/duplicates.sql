-- diff (duplicates): keys that more than one row of a side carries. Such keys are
-- reported and left out of missing/extra/changed: they are never joined many-to-many.
-- Parameters: {{side_keys}}: a side's key counts (keys.sql); {{keys}}: key columns.
SELECT {{keys}}, __n AS __rows
FROM {{side_keys}}
WHERE __n > 1
ORDER BY {{keys}}
