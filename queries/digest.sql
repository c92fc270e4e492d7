-- hash: the digest of every partition on both sides: (row count, wrapping sum of row
-- hashes, xor of row hashes). Equal digests prove the partition equal; only partitions
-- whose digests differ are row-diffed.
-- Parameters: {{legacy}}, {{target}}: the normalised entity views (with __part and __h);
-- {{part}}: the partition (`__part`, or the one partition's name when the entity is not
-- partitioned); {{group}}: `GROUP BY __part`, or `HAVING count(*) > 0` (no partition
-- without rows), which spares hashing a constant for every row.
SELECT (__part IS NULL) AS null_partition,
       CAST(__part AS VARCHAR) AS partition,
       max(CASE WHEN __side = 0 THEN n END) AS legacy_rows, max(CASE WHEN __side = 1 THEN n END) AS target_rows,
       max(CASE WHEN __side = 0 THEN s END) AS legacy_sum, max(CASE WHEN __side = 1 THEN s END) AS target_sum,
       max(CASE WHEN __side = 0 THEN x END) AS legacy_xor, max(CASE WHEN __side = 1 THEN x END) AS target_xor,
       ((max(CASE WHEN __side = 0 THEN n END) IS NOT DISTINCT FROM max(CASE WHEN __side = 1 THEN n END))
        AND (max(CASE WHEN __side = 0 THEN s END) IS NOT DISTINCT FROM max(CASE WHEN __side = 1 THEN s END))
        AND (max(CASE WHEN __side = 0 THEN x END) IS NOT DISTINCT FROM max(CASE WHEN __side = 1 THEN x END))) AS equal
FROM (SELECT 0 AS __side, {{part}} AS __part, count(*) AS n, sd_wrapping_sum(__h) AS s, bit_xor(__h) AS x FROM {{legacy}} {{group}}
      UNION ALL
      SELECT 1 AS __side, {{part}} AS __part, count(*) AS n, sd_wrapping_sum(__h) AS s, bit_xor(__h) AS x FROM {{target}} {{group}}) AS u
GROUP BY __part
ORDER BY 2
