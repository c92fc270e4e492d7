-- diff (keys): every non-NULL key of one side and how many rows carry it.
-- Parameters: {{side}}: a normalised entity view; {{keys}}: its key columns, quoted and
-- comma-separated; {{keys_not_null}}: the predicate that no key column is NULL;
-- {{scope}}: the partitions being diffed (a predicate over __part).
SELECT {{keys}}, count(*) AS __n
FROM {{side}}
WHERE {{keys_not_null}} AND {{scope}}
GROUP BY {{keys}}
