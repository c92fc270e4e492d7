-- diff (on a cluster): the key hashes whose rows differ between the sides. Per key hash
-- and side, the rows' fingerprint (count, wrapping sum and xor of their row hashes, as
-- the digests); a key hash whose fingerprints are equal holds the same rows on both
-- sides (a key duplicated identically, a NULL key held alike) and is left out of the
-- diff, as the narrow pass leaves it out in one process.
-- The outer join is right on a cluster because the cluster's session hash-partitions
-- both sides of every join (cluster::remote_session); collecting one side whole would
-- lose its unmatched rows there.
-- Parameters: {{legacy}}, {{target}}: the normalised entity views; {{key_hash}}: the
-- key columns' row hash (`sd_row_hash(k1, k2)`); {{scope}}: a predicate over __part.
SELECT COALESCE(l.kh, t.kh) AS kh
FROM (SELECT {{key_hash}} AS kh, count(*) AS n, sd_wrapping_sum(__h) AS s, bit_xor(__h) AS x
      FROM {{legacy}} WHERE {{scope}} GROUP BY {{key_hash}}) AS l
FULL OUTER JOIN (SELECT {{key_hash}} AS kh, count(*) AS n, sd_wrapping_sum(__h) AS s, bit_xor(__h) AS x
      FROM {{target}} WHERE {{scope}} GROUP BY {{key_hash}}) AS t
  ON l.kh = t.kh
WHERE (l.n IS DISTINCT FROM t.n) OR (l.s IS DISTINCT FROM t.s) OR (l.x IS DISTINCT FROM t.x)
