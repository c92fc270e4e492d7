-- query (no key): the two results as multisets of whole rows. Every distinct row with a
-- different number of copies on each side, and both counts.
-- Parameters: {{legacy}}, {{target}}: the normalised views; {{cols}}: the compared
-- columns, quoted; {{match}}: `l.c IS NOT DISTINCT FROM t.c` for every column;
-- {{coalesced}}: `COALESCE(l.c, t.c) AS c` for every column.
SELECT {{coalesced}}, COALESCE(l.__n, 0) AS __legacy_copies, COALESCE(t.__n, 0) AS __target_copies
FROM (SELECT {{cols}}, count(*) AS __n FROM {{legacy}} GROUP BY {{cols}}) AS l
FULL OUTER JOIN (SELECT {{cols}}, count(*) AS __n FROM {{target}} GROUP BY {{cols}}) AS t
  ON {{match}}
WHERE COALESCE(l.__n, 0) <> COALESCE(t.__n, 0)
