-- hash: the digest of every partition on both sides: (row count, wrapping sum of row
-- hashes, xor of row hashes). Equal digests prove the partition equal; only partitions
-- whose digests differ are row-diffed.
-- Parameters: {{legacy}}, {{target}}: the normalised entity views (with __part and __h);
-- {{part}}: the partition (`__part`, or the one partition's name when the entity is not
-- partitioned); {{group}}: `GROUP BY __part`, or `HAVING count(*) > 0` (no partition
-- without rows), which spares hashing a constant for every row.
SELECT (l.__part IS NULL AND t.__part IS NULL) AS null_partition,
       CAST(COALESCE(l.__part, t.__part) AS VARCHAR) AS partition,
       l.n AS legacy_rows, t.n AS target_rows,
       l.s AS legacy_sum, t.s AS target_sum,
       l.x AS legacy_xor, t.x AS target_xor,
       ((l.n IS NOT DISTINCT FROM t.n) AND (l.s IS NOT DISTINCT FROM t.s) AND (l.x IS NOT DISTINCT FROM t.x)) AS equal
FROM (SELECT {{part}} AS __part, count(*) AS n, sd_wrapping_sum(__h) AS s, bit_xor(__h) AS x FROM {{legacy}} {{group}}) AS l
FULL OUTER JOIN (SELECT {{part}} AS __part, count(*) AS n, sd_wrapping_sum(__h) AS s, bit_xor(__h) AS x FROM {{target}} {{group}}) AS t
  ON l.__part IS NOT DISTINCT FROM t.__part
ORDER BY 2
