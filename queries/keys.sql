-- diff (keys): every non-NULL key of one side and how many rows carry it. Counted over
-- the whole entity, so a key is unique or duplicated whatever partition its rows are in.
-- Parameters: {{side}}: a normalised entity view; {{keys}}: its key columns, quoted and
-- comma-separated; {{keys_not_null}}: the predicate that no key column is NULL;
-- {{scope}}: a predicate over __part (`true` for the whole entity).
SELECT {{keys}}, count(*) AS __n
FROM {{side}}
WHERE {{keys_not_null}} AND {{scope}}
GROUP BY {{keys}}
