-- count: rows per partition on both sides, side by side.
-- Parameters: {{legacy}}, {{target}}: the normalised entity views (with a __part column);
-- {{part}}, {{group}}: as in digest.sql.
SELECT CAST(COALESCE(l.__part, t.__part) AS VARCHAR) AS partition,
       COALESCE(l.n, 0) AS legacy_rows,
       COALESCE(t.n, 0) AS target_rows
FROM (SELECT {{part}} AS __part, count(*) AS n FROM {{legacy}} {{group}}) AS l
FULL OUTER JOIN (SELECT {{part}} AS __part, count(*) AS n FROM {{target}} {{group}}) AS t
  ON l.__part IS NOT DISTINCT FROM t.__part
ORDER BY 1
