-- diff (NULL keys): rows of a side whose key has a NULL in it. They are reported and
-- left out of the comparison: a NULL key matches nothing.
-- Parameters: {{side}}: a normalised entity view; {{any_key_null}}: the predicate that a
-- key column is NULL; {{scope}}: the partitions being diffed.
SELECT * FROM {{side}} WHERE {{any_key_null}} AND {{scope}}
