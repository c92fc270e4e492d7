-- count: rows per partition on both sides, side by side. The sides' counts are put
-- together by grouping (a NULL partition is one group), not by an outer join, which
-- a cluster would run per partition of its input.
-- Parameters: {{legacy}}, {{target}}: the normalised entity views (with a __part column);
-- {{part}}, {{group}}: as in digest.sql.
SELECT CAST(__part AS VARCHAR) AS partition,
       COALESCE(max(CASE WHEN __side = 0 THEN n END), 0) AS legacy_rows,
       COALESCE(max(CASE WHEN __side = 1 THEN n END), 0) AS target_rows
FROM (SELECT 0 AS __side, {{part}} AS __part, count(*) AS n FROM {{legacy}} {{group}}
      UNION ALL
      SELECT 1 AS __side, {{part}} AS __part, count(*) AS n FROM {{target}} {{group}}) AS u
GROUP BY __part
ORDER BY 1
