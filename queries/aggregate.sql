-- aggregate: the profiles of every profiled column of one side, in one scan of the
-- side: each column's statistics (aggregate_column.sql) side by side in one row. Both
-- sides are profiled and compared statistic by statistic.
-- Parameters: {{side}}: a normalised entity view; {{profiles}}: the statistics of each
-- column, aggregate_column.sql rendered once per column and joined by `, `.
SELECT {{profiles}}
FROM {{side}}
