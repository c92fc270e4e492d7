-- diff (missing / extra): rows of one side whose key (unique on that side) the other side
-- does not have at all. Run with legacy as {{this}} for missing rows, and with target as
-- {{this}} for extra rows.
-- Parameters: {{this}}: the view rows come from; {{this_keys}}: its key counts;
-- {{other_keys}}: the other side's key counts; {{key_match_this}}: the key equality
-- between `r` (a row) and `k` (this side's key counts); {{key_match_other}}: between
-- `r` and `o` (the other side's key counts); {{scope}}: the partitions being diffed (over r).
SELECT r.*
FROM {{this}} AS r
JOIN {{this_keys}} AS k ON {{key_match_this}} AND k.__n = 1
LEFT ANTI JOIN {{other_keys}} AS o ON {{key_match_other}}
WHERE {{scope}}
