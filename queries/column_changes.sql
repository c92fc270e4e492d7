-- diff (changed, per column): how many changed rows differ in each compared column.
-- Parameters: {{changed}}: the changed rows (changed.sql); {{sums}}:
-- `sum(CAST(__c0_d AS BIGINT)) AS __c0` per column.
SELECT count(*) AS __changed_rows, {{sums}} FROM ({{changed}}) AS c
