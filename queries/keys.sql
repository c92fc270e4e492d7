-- diff (keys): every non-NULL key of one side and how many rows carry it, counted over
-- the rows being diffed ({{scope}}): with partition_by, the partitions whose digests
-- differ, so a key's rows in an equal partition are not counted.
-- Parameters: {{side}}: a normalised entity view; {{keys}}: its key columns, quoted and
-- comma-separated; {{keys_not_null}}: the predicate that no key column is NULL;
-- {{scope}}: a predicate over __part (`true` for the whole entity).
SELECT {{keys}}, count(*) AS __n
FROM {{side}}
WHERE {{keys_not_null}} AND {{scope}}
GROUP BY {{keys}}
