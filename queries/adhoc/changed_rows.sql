-- changed_rows: the first changed rows of an entity, from the diffs of the newest report
-- of the runs (written by `snapdiff run`/`verify`): the key, the columns that differ,
-- and every compared column's legacy and target values.
-- Parameters: {{entity}}: the entity; {{limit}}: how many rows.
-- Default limit: 20
SELECT * FROM diffs.{{entity}}_changed ORDER BY 1 LIMIT {{limit}}
