-- diff (changed): rows whose key is on both sides (once on each) and where some compared
-- column differs. One row per changed key: the key, each column's legacy and target
-- values side by side, a flag per column that says whether it differs, and the legacy
-- row's partition as text.
-- Parameters: {{legacy}}, {{target}}: the normalised views; {{legacy_keys}},
-- {{target_keys}}: key counts; {{key_match}}: key equality between l and t;
-- {{key_match_lk}} / {{key_match_tk}}: between l and lk, t and tk; {{key_select}}: the
-- key columns from l; {{pairs}}: `l.c AS __c0_l, t.c AS __c0_t` per column (named by
-- position); {{flags}}: `<c differs> AS __c0_d` per column; {{any_differs}}: their OR;
-- {{scope}}: the partitions being diffed (over l; t is matched by key wherever it is).
SELECT {{key_select}}, {{pairs}}, {{flags}}, CAST(l.__part AS VARCHAR) AS __partition
FROM {{legacy}} AS l
JOIN {{legacy_keys}} AS lk ON {{key_match_lk}} AND lk.__n = 1
JOIN {{target}} AS t ON {{key_match}}
JOIN {{target_keys}} AS tk ON {{key_match_tk}} AND tk.__n = 1
WHERE {{scope}} AND ({{any_differs}})
