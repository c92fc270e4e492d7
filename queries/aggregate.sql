-- aggregate: a profile of one column on one side: NULLs, distinct values, minimum,
-- maximum and (for numbers) sum, all after normalisation. Both sides are profiled and
-- compared statistic by statistic.
-- Parameters: {{side}}: a normalised entity view; {{col}}: the quoted column;
-- {{sum}}: `sum({{col}})` for numeric columns, else NULL.
SELECT count(*) - count({{col}}) AS nulls,
       count(DISTINCT {{col}}) AS distinct_values,
       CAST(min({{col}}) AS VARCHAR) AS min,
       CAST(max({{col}}) AS VARCHAR) AS max,
       CAST({{sum}} AS VARCHAR) AS sum
FROM {{side}}
