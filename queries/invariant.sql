-- invariant: how many rows a business-rule query returns (it must return none).
-- Parameters: {{sql}}: the invariant's query, parenthesised.
SELECT count(*) AS violations FROM {{sql}} AS v
