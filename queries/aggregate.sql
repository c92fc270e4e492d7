-- aggregate: a profile of one column on one side: NULLs, distinct values, minimum,
-- maximum and (for numbers) sum, all after normalisation. Both sides are profiled and
-- compared statistic by statistic.
-- Parameters: {{side}}: a normalised entity view; {{col}}: the quoted column;
-- {{min}}, {{max}}: `min(col)` and `max(col)` as text (hex for binary);
-- {{sum}}: `sum(col)` as text for numbers, else NULL; {{sum_abs}}: `sum(abs(col))` as
-- text for floats (it bounds how far two orders of float addition drift), else NULL.
SELECT count(*) - count({{col}}) AS nulls,
       count(DISTINCT {{col}}) AS distinct_values,
       {{min}} AS min,
       {{max}} AS max,
       {{sum}} AS sum,
       {{sum_abs}} AS sum_abs
FROM {{side}}
