-- invariant: how many rows a business-rule query returns (it must return none), and the
-- first of them.
-- Parameters: {{sql}}: the invariant's query; {{limit}}: how many rows to show.
SELECT count(*) AS violations FROM ({{sql}}) AS v
