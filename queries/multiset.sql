-- query (no key): the two results as multisets of whole rows. Every distinct row with a
-- different number of copies on each side, and both counts. The sides are put together
-- by grouping (NULL equals NULL, as in a multiset), not by an outer join, which a
-- cluster would run per partition of its input.
-- Parameters: {{legacy}}, {{target}}: the normalised views; {{cols}}: the compared
-- columns, quoted.
SELECT {{cols}},
       sum(CASE WHEN __side = 0 THEN 1 ELSE 0 END) AS __legacy_copies,
       sum(CASE WHEN __side = 1 THEN 1 ELSE 0 END) AS __target_copies
FROM (SELECT {{cols}}, 0 AS __side FROM {{legacy}}
      UNION ALL
      SELECT {{cols}}, 1 AS __side FROM {{target}}) AS u
GROUP BY {{cols}}
HAVING sum(CASE WHEN __side = 0 THEN 1 ELSE 0 END) <> sum(CASE WHEN __side = 1 THEN 1 ELSE 0 END)
