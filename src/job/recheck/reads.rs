//! Which rows a recheck reads again, per side: the point reads of a batch of keys.
//!
//! An entity whose SQL reads one snapshot table of a side, with the key as columns of
//! that table (and no rule on them), is read again with the query its run ran against
//! the source, narrowed to the keys (`SELECT * FROM (<run's query>) AS t WHERE id IN
//! (...)`): no configuration. Any other entity takes a query per side from
//! `[entity.recheck]`, in the source's own SQL, with `{keys}` where the keys go. A side
//! whose source is files does not change while it is read: its snapshot run is used as
//! it is.

use crate::engine::LoadedRun;
use crate::extract::{Source, TableFrom, TableRequest};
use crate::snapshot::manifest::SourceKind;
use crate::snapshot::Side;
use crate::spec::{EntityDef, EntitySection};

/// How one side of an entity is read again.
#[derive(Debug, Clone)]
pub(super) enum SideRead {
    /// The run's query for snapshot table `table`, narrowed to the keys in the source's
    /// columns `columns` (the key's, in order).
    Derived {
        table: String,
        query: String,
        columns: Vec<String>,
        /// The spec's casts of the table, applied as the extraction did.
        casts: std::collections::BTreeMap<String, crate::extract::CastType>,
    },
    /// The spec's template; its rows become the snapshot table `__recheck_<entity>`.
    Template(String),
    /// A source of files: the original run, as it is.
    Static,
}

/// The snapshot table a template's rows are written to.
pub(super) fn template_table(entity: &str) -> String {
    format!("__recheck_{entity}")
}

/// How each side of `def` is read again, or why it cannot be.
pub(super) fn plan(
    def: &EntityDef,
    section: Option<&EntitySection>,
    sources: [&Source; 2],
    runs: [&LoadedRun; 2],
    casts: [&[TableRequest]; 2],
) -> Result<[SideRead; 2], String> {
    let template = |side: Side| {
        let r = section.and_then(|s| s.recheck.as_ref())?;
        match side {
            Side::Legacy => r.legacy.clone(),
            Side::Target => r.target.clone(),
        }
    };
    let mut out = Vec::new();
    for (s, side) in Side::ALL.into_iter().enumerate() {
        let read = if let Some(t) = template(side) {
            SideRead::Template(t)
        } else if matches!(sources[s].kind, SourceKind::Files | SourceKind::Blobs) {
            SideRead::Static
        } else {
            let mut read = derived(def, side, runs[s]).map_err(|why| {
                format!("{why}: give the {side} side a query in [entity.recheck] ({side} = \"SELECT ... WHERE id IN ({{keys}})\")")
            })?;
            if let SideRead::Derived {
                table, casts: c, ..
            } = &mut read
            {
                if let Some(t) = casts[s].iter().find(|t| &t.name == table) {
                    *c = t.casts.clone();
                }
            }
            read
        };
        out.push(read);
    }
    let [l, t]: [SideRead; 2] = out.try_into().expect("two sides");
    Ok([l, t])
}

/// The derived read of `side`, or why there is none.
fn derived(def: &EntityDef, side: Side, run: &LoadedRun) -> Result<SideRead, String> {
    let sql = match side {
        Side::Legacy => &def.legacy_sql,
        Side::Target => &def.target_sql,
    };
    let tables = snapshot_tables(sql, side.as_str());
    let [table] = tables.as_slice() else {
        return Err(format!(
            "the {side} SQL reads {} snapshot tables, not one",
            tables.len()
        ));
    };
    let Some(t) = run.manifest.tables.get(table) else {
        return Err(format!("the {side} run has no table {table}"));
    };
    if let Some(k) = def.key.iter().find(|k| def.normalize.contains_key(*k)) {
        return Err(format!(
            "the key column {k} has rules, so its values are not the source's"
        ));
    }
    if let Some(f) = t
        .arrow_schema
        .iter()
        .find(|f| def.key.contains(&f.name) && f.data_type.to_ascii_lowercase().contains("binary"))
    {
        return Err(format!(
            "the key column {} holds bytes, which the report shows shortened",
            f.name
        ));
    }
    let schema = crate::snapshot::read_schema(&run.dir).ok();
    let mut columns = Vec::new();
    for k in &def.key {
        if !t.arrow_schema.iter().any(|f| &f.name == k) {
            return Err(format!(
                "the key column {k} is not a column of {side}.{table}"
            ));
        }
        // The snapshot may have renamed it (`names`): the source knows its own name.
        let source_name = schema
            .as_ref()
            .and_then(|d| d.tables.get(table))
            .and_then(|ts| ts.columns.iter().find(|c| &c.name == k))
            .and_then(|c| c.source_name.clone())
            .unwrap_or_else(|| k.clone());
        columns.push(source_name);
    }
    Ok(SideRead::Derived {
        table: table.clone(),
        query: t.query.clone(),
        columns,
        casts: Default::default(),
    })
}

/// The snapshot tables `sql` names as `<side>.<table>`, each time it names one (a table
/// joined with itself is read twice: narrowed to the keys, its other rows would be
/// missing from the join).
fn snapshot_tables(sql: &str, side: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let lower = sql.to_ascii_lowercase();
    let prefix = format!("{side}.");
    let mut at = 0;
    while let Some(i) = lower[at..].find(&prefix) {
        let start = at + i;
        at = start + prefix.len();
        // A whole word: not `xlegacy.t`.
        if lower[..start]
            .chars()
            .last()
            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '"')
        {
            continue;
        }
        let name: String = lower[at..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            out.push(name);
        }
    }
    out
}

/// The table request that reads `keys` (each a key's values as text, `None` for NULL,
/// `numeric[i]` when the i-th key column is a number) again on a side read as `read`,
/// from `source`; `None` for a static side.
pub(super) fn request(
    read: &SideRead,
    entity: &str,
    source: &Source,
    keys: &[Vec<Option<String>>],
    numeric: &[bool],
) -> Option<TableRequest> {
    let list = key_list(keys, numeric, source.kind);
    let mut table_casts = Default::default();
    let (name, sql) = match read {
        SideRead::Static => return None,
        SideRead::Template(t) => (template_table(entity), t.replace("{keys}", &list)),
        SideRead::Derived {
            table,
            query,
            columns,
            casts,
        } => {
            table_casts = casts.clone();
            let cols: Vec<String> = columns.iter().map(|c| quote(c, source.kind)).collect();
            let lhs = if cols.len() == 1 {
                cols[0].clone()
            } else {
                format!("({})", cols.join(", "))
            };
            (
                table.clone(),
                format!("SELECT * FROM ({query}) AS t WHERE {lhs} IN ({list})"),
            )
        }
    };
    Some(TableRequest {
        name,
        from: TableFrom::Query(sql),
        partition_on: None,
        partitions: Some(1),
        casts: table_casts,
    })
}

/// The keys as an SQL list for `IN (...)`: `1, 2`; a key of several columns as rows,
/// `(1, 'a'), (2, 'b')`, or for SQLite, which takes rows on the right of `IN` only from
/// a subquery, `VALUES (1, 'a'), (2, 'b')`.
pub(super) fn key_list(keys: &[Vec<Option<String>>], numeric: &[bool], kind: SourceKind) -> String {
    let rows = numeric.len() > 1 && kind == SourceKind::Sqlite;
    let list = keys
        .iter()
        .map(|k| {
            let vals: Vec<String> = k
                .iter()
                .zip(numeric)
                .map(|(v, n)| match v {
                    None => "NULL".to_string(),
                    Some(v) if *n => v.clone(),
                    Some(v) => literal(v, kind),
                })
                .collect();
            if vals.len() == 1 {
                vals[0].clone()
            } else {
                format!("({})", vals.join(", "))
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    if rows {
        format!("VALUES {list}")
    } else {
        list
    }
}

/// `v` as a text literal of the source's SQL: a backslash is an escape in MySQL's
/// literals, and in PostgreSQL's `E''` (which reads alike whatever
/// `standard_conforming_strings` says).
fn literal(v: &str, kind: SourceKind) -> String {
    let quoted = v.replace('\'', "''");
    match kind {
        SourceKind::Mysql => format!("'{}'", quoted.replace('\\', "\\\\")),
        SourceKind::Postgres => format!("E'{}'", quoted.replace('\\', "\\\\")),
        _ => format!("'{quoted}'"),
    }
}

/// `name` as an identifier of the source's SQL.
fn quote(name: &str, kind: SourceKind) -> String {
    match kind {
        SourceKind::Mysql => format!("`{}`", name.replace('`', "``")),
        _ => format!("\"{}\"", name.replace('"', "\"\"")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tables_an_entity_reads() {
        assert_eq!(
            snapshot_tables("SELECT * FROM legacy.orders", "legacy"),
            ["orders"]
        );
        assert_eq!(
            snapshot_tables(
                "SELECT o.id FROM Legacy.Orders o JOIN legacy.customers c ON c.id = o.c",
                "legacy"
            ),
            ["orders", "customers"]
        );
        assert_eq!(
            snapshot_tables(
                "SELECT * FROM legacy.t a JOIN legacy.t b ON a.p = b.id",
                "legacy"
            ),
            ["t", "t"]
        );
        assert!(snapshot_tables("SELECT * FROM mylegacy.x", "legacy").is_empty());
    }

    #[test]
    fn keys_become_literals_of_the_source() {
        let keys = vec![
            vec![Some("1".into()), Some("it's".into())],
            vec![Some("2".into()), None],
        ];
        assert_eq!(
            key_list(&keys, &[true, false], SourceKind::Postgres),
            "(1, E'it''s'), (2, NULL)"
        );
        assert_eq!(
            key_list(&keys, &[true, false], SourceKind::Sqlite),
            "VALUES (1, 'it''s'), (2, NULL)"
        );
        assert_eq!(
            key_list(&keys, &[true, false], SourceKind::Mysql),
            "(1, 'it''s'), (2, NULL)"
        );
        let one = vec![vec![Some("a\\b".into())]];
        assert_eq!(key_list(&one, &[false], SourceKind::Mysql), "'a\\\\b'");
        assert_eq!(key_list(&one, &[false], SourceKind::Sqlite), "'a\\b'");
        assert_eq!(key_list(&one, &[false], SourceKind::Postgres), "E'a\\\\b'");
    }
}
