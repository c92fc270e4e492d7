-- aggregate_column: one column's profile for aggregate.sql: NULLs, distinct values,
-- minimum, maximum and (for numbers) sum, all after normalisation; each statistic named
-- with the column's number as a suffix (`nulls_0`, `distinct_values_0`, ...).
-- Parameters: {{col}}: the quoted column; {{n}}: its number;
-- {{min}}, {{max}}: `min(col)` and `max(col)` as text (hex for binary);
-- {{sum}}: `sum(col)` as text for numbers, else NULL; {{sum_abs}}: `sum(abs(col))` as
-- text for floats (it bounds how far two orders of float addition drift), else NULL.
count(*) - count({{col}}) AS nulls_{{n}},
count(DISTINCT {{col}}) AS distinct_values_{{n}},
{{min}} AS min_{{n}},
{{max}} AS max_{{n}},
{{sum}} AS sum_{{n}},
{{sum_abs}} AS sum_abs_{{n}}
