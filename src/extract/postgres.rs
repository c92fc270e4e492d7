//! PostgreSQL, read through connectorx from one consistent, read-only snapshot.
//!
//! A coordinating connection opens a `REPEATABLE READ, READ ONLY` transaction and exports
//! its snapshot (`pg_export_snapshot()`); every range query then runs on its own
//! connection inside a read-only transaction that imports that snapshot. All tables of a
//! run therefore show the database at one instant, however many connections read them,
//! and nothing can write (a query that tries is refused by the server).
//!
//! Column types come from the catalog (`pg_attribute`, `pg_type`), not from the data:
//! `numeric(p,s)` is read as exact text and stored as `Decimal128(p,s)`, `timestamptz` as
//! UTC timestamps, json/jsonb and enums as their text. Types with no faithful Arrow
//! form are an error naming the column, unless the spec casts them.
//!
//! Tables are split into `ctid` block ranges (a TID range scan reads each range
//! sequentially, no index needed), or into ranges of `partition_on` when given.

use arrow::datatypes::{DataType, Field, TimeUnit};
use connectorx::prelude::SourceConn;
use postgres::{Client, NoTls};

use super::cx;
use super::pipeline::TableOutput;
use super::ranges::{self, Chunk};
use super::types::{self, CastType, ConformStats, Conversion, OutColumn};
use super::{ReadContext, Source, SourceReader, TableFrom, TableMeta, TableRequest};
use crate::error::{Error, Result};
use crate::snapshot::manifest::{ColumnSchema, IndexSchema, Partitioning, TableSchema};

/// Session settings that make text forms deterministic (used where a column is read as
/// text: arrays of timestamps, intervals cast by the spec, ...).
const SESSION: &[&str] = &[
    "SET default_transaction_read_only = on",
    "SET TimeZone = 'UTC'",
    "SET DateStyle = 'ISO, YMD'",
    "SET IntervalStyle = 'iso_8601'",
    "SET extra_float_digits = 3",
    "SET bytea_output = 'hex'",
];

pub struct PgReader {
    client: Client,
    cx_conn: SourceConn,
    snapshot: Option<String>,
}

/// Connect with the same TLS settings connectorx will use (the session is made
/// read-only by the reader, [`SESSION`]).
pub fn connect(source: &Source) -> Result<Client> {
    connect_url(source.connection_url()).map_err(|e| e.with_source_url(source.redacted()))
}

/// Connect to the PostgreSQL at `url`, with TLS as its `sslmode` asks.
pub fn connect_url(url: &str) -> Result<Client> {
    let url = url::Url::parse(url)
        .map_err(|e| Error::spec(format!("the PostgreSQL URL is not valid: {e}")).with_source(e))?;
    let (config, tls) = connectorx::sources::postgres::rewrite_tls_args(&url)
        .map_err(|e| Error::connect(crate::secrets::scrub(&e.to_string())))?;
    match tls {
        Some(tls) => config.connect(tls),
        None => config.connect(NoTls),
    }
    .map_err(|e| pg_error(&e, None))
}

/// A driver error as a snapdiff error, classified by SQLSTATE.
pub fn pg_error(e: &postgres::Error, what: Option<&str>) -> Error {
    let text = crate::secrets::scrub(&match e.as_db_error() {
        Some(db) => db.message().to_string(),
        None => super::cx::full_text(e),
    });
    let code = e.code().map(|c| c.code().to_string()).unwrap_or_default();
    let prefix = what.map(|w| format!("{w}: ")).unwrap_or_default();
    match code.as_str() {
        "28P01" | "28000" => Error::connect(format!("{prefix}login refused: {text}"))
            .with_hint("check the user and password (URL, PGPASSWORD or ${VAR} in the spec)"),
        "3D000" => Error::connect(format!("{prefix}{text}"))
            .with_hint("check the database name in the URL"),
        "42P01" => Error::source(format!("{prefix}{text}"))
            .with_hint("check the table name (schema.table) and its case"),
        "42703" => Error::source(format!("{prefix}{text}"))
            .with_hint("check the column names in the query or partition_on"),
        "42601" => Error::source(format!("{prefix}syntax error: {text}"))
            .with_hint("the query is run by PostgreSQL: check its SQL"),
        "42501" => Error::source(format!("{prefix}permission denied: {text}"))
            .with_hint("grant the snapdiff user SELECT on the table"),
        "25006" => Error::source(format!("{prefix}the source refused a write: {text}"))
            .with_hint("snapdiff reads in read-only transactions; the query must not write"),
        "57P01" | "57P02" => super::cx::lost_error(&format!("{prefix}{text}")),
        _ if super::cx::lost_connection(&text.to_ascii_lowercase()) => {
            super::cx::lost_error(&format!("{prefix}{text}"))
        }
        _ if e.as_db_error().is_none() => {
            Error::connect(format!("{prefix}cannot reach the server: {text}")).with_hint(
                "check the host and port, and that PostgreSQL is running and accepts connections",
            )
        }
        _ => Error::source(format!("{prefix}{text}")),
    }
}

fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// A column as the catalog describes it.
#[derive(Debug, Clone)]
struct PgColumn {
    name: String,
    type_oid: i64,
    typmod: i32,
    notnull: bool,
}

/// A relation a table name resolved to.
#[derive(Debug, Clone)]
struct Relation {
    oid: i64,
    qualified: String,
    /// `r` table, `p` partitioned table, `m` materialized view, `v` view, `f` foreign table.
    relkind: String,
}

/// A heap holding rows (a table or a leaf partition) and its current size.
#[derive(Debug, Clone)]
struct Heap {
    qualified: String,
    rows: u64,
    nblocks: i64,
}

/// The catalog's description of a type.
#[derive(Debug, Clone)]
struct PgType {
    name: String,
    kind: String,
    category: String,
    formatted: String,
    element: String,
    base_oid: i64,
    base_typmod: i32,
}

/// How one column is read.
#[derive(Debug, Clone)]
struct Plan {
    select: String,
    out: OutColumn,
    schema: ColumnSchema,
}

impl PgReader {
    pub fn open(source: &Source) -> Result<PgReader> {
        let mut client = connect(source)?;
        for s in SESSION {
            client
                .batch_execute(s)
                .map_err(|e| pg_error(&e, Some("setting up the session")))?;
        }
        client
            .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .map_err(|e| pg_error(&e, Some("starting the read-only transaction")))?;
        // Where the server refuses to export (some poolers and managed services), each
        // range is consistent on its own, and the manifest says so. (The export cannot run
        // in a subtransaction, so a refusal restarts the transaction instead.)
        let snapshot = match client.query_one("SELECT pg_export_snapshot()", &[]) {
            Ok(row) => Some(row.get::<_, String>(0)),
            Err(_) => {
                client
                    .batch_execute("ROLLBACK; BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    .map_err(|e| pg_error(&e, Some("restarting the read-only transaction")))?;
                None
            }
        };
        let cx_conn = cx::source_conn(source.connection_url())?;
        Ok(PgReader {
            client,
            cx_conn,
            snapshot,
        })
    }

    /// Statements run on each range connection before its query.
    fn pre_queries(&self) -> Vec<String> {
        let mut pre: Vec<String> = SESSION.iter().map(|s| s.to_string()).collect();
        pre.push("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY".to_string());
        if let Some(id) = &self.snapshot {
            pre.push(format!("SET TRANSACTION SNAPSHOT '{id}'"));
        }
        pre
    }

    fn describe_type(&mut self, oid: i64, typmod: i32) -> Result<PgType> {
        let row = self
            .client
            .query_one(
                "SELECT t.typname::text, t.typtype::text, t.typcategory::text, format_type(t.oid, $2::int4),
                        COALESCE(e.typname::text, ''), t.typbasetype::int8, t.typtypmod
                 FROM pg_type t LEFT JOIN pg_type e ON e.oid = t.typelem AND t.typcategory = 'A'
                 WHERE t.oid = $1::int8::oid",
                &[&oid, &typmod],
            )
            .map_err(|e| pg_error(&e, Some("reading the catalog")))?;
        Ok(PgType {
            name: row.get(0),
            kind: row.get(1),
            category: row.get(2),
            formatted: row.get(3),
            element: row.get(4),
            base_oid: row.get(5),
            base_typmod: row.get(6),
        })
    }

    /// The plan for one column: what to select and how to store it.
    fn plan_column(&mut self, col: &PgColumn, cast: Option<CastType>) -> Result<Plan> {
        let t = self.describe_type(col.type_oid, col.typmod)?;
        let q = quote(&col.name);
        let mut schema = ColumnSchema {
            name: col.name.clone(),
            source_type: t.formatted.clone(),
            nullable: !col.notnull,
            ..Default::default()
        };
        if let Some(cast) = cast {
            // Casts read the value's exact text and parse it strictly (never `::numeric(p,s)`,
            // which rounds, or `::date`, which drops a time of day); a bytea column cast to
            // binary is read as it is.
            let select = if cast == CastType::Binary && t.name == "bytea" {
                format!("{q} AS {q}")
            } else {
                format!("({q})::text AS {q}")
            };
            schema.arrow_type = crate::snapshot::manifest::type_name(&cast.arrow_type());
            schema.notes.push(format!("cast to {cast} by the spec"));
            return Ok(Plan {
                select,
                out: OutColumn::cast(&col.name, cast),
                schema,
            });
        }
        // Domains are read as their base type.
        let (t, select_base, typmod) = if t.kind == "d" {
            let base = self.describe_type(t.base_oid, t.base_typmod)?;
            let sel = format!("({q})::{}", base.formatted);
            schema.notes.push(format!("domain over {}", base.formatted));
            (base, Some(sel), t.base_typmod)
        } else {
            (t, None, col.typmod)
        };
        let expr = select_base.unwrap_or_else(|| q.clone());
        let exact = |dt: DataType| (format!("{expr} AS {q}"), dt, Conversion::Exact);
        let as_text = |dt: DataType, conv: Conversion| (format!("({expr})::text AS {q}"), dt, conv);
        let (select, data_type, conversion) = match (t.kind.as_str(), t.category.as_str(), t.name.as_str()) {
            ("e", _, _) => as_text(DataType::Utf8, Conversion::Exact),
            (_, _, "bool") => exact(DataType::Boolean),
            (_, _, "int2") => exact(DataType::Int16),
            (_, _, "int4") => exact(DataType::Int32),
            (_, _, "int8") => exact(DataType::Int64),
            (_, _, "oid") => (format!("({expr})::int8 AS {q}"), DataType::Int64, Conversion::Exact),
            (_, _, "float4") => exact(DataType::Float32),
            (_, _, "float8") => exact(DataType::Float64),
            (_, _, "numeric") => {
                match numeric_precision_scale(typmod) {
                    Some((p, s)) if p <= 38 && s >= 0 && s <= p as i32 => {
                        schema.precision = Some(p as u32);
                        schema.scale = Some(s);
                        as_text(DataType::Decimal128(p, s as i8), Conversion::Cast(CastType::Decimal(p, s as i8)))
                    }
                    _ => {
                        schema.notes.push(
                            "numeric without a precision that fits Decimal128(38): stored as exact decimal text"
                                .to_string(),
                        );
                        as_text(DataType::Utf8, Conversion::Exact)
                    }
                }
            }
            (_, _, "text" | "varchar" | "bpchar" | "name" | "char") => exact(DataType::Utf8),
            (_, _, "uuid") => exact(DataType::Utf8),
            (_, _, "json" | "jsonb" | "xml") => as_text(DataType::Utf8, Conversion::Exact),
            (_, _, "bytea") => exact(DataType::Binary),
            (_, _, "date") => exact(DataType::Date32),
            (_, _, "time") => exact(DataType::Time64(TimeUnit::Microsecond)),
            (_, _, "timestamp") => exact(types::timestamp_naive()),
            (_, _, "timestamptz") => exact(types::timestamp_utc()),
            (_, _, "inet" | "cidr" | "macaddr" | "macaddr8") => as_text(DataType::Utf8, Conversion::Exact),
            (_, "S", _) => as_text(DataType::Utf8, Conversion::Exact),
            (_, "A", _) => {
                let item = |dt: DataType| DataType::List(std::sync::Arc::new(Field::new("item", dt, true)));
                match t.element.as_str() {
                    "bool" => exact(item(DataType::Boolean)),
                    "int2" => exact(item(DataType::Int16)),
                    "int4" => exact(item(DataType::Int32)),
                    "int8" => exact(item(DataType::Int64)),
                    "float4" => exact(item(DataType::Float32)),
                    "float8" => exact(item(DataType::Float64)),
                    "text" | "varchar" => exact(item(DataType::Utf8)),
                    other => {
                        schema.notes.push(format!("{other}[] stored as a list of the elements' text"));
                        (format!("({expr})::text[] AS {q}"), item(DataType::Utf8), Conversion::Exact)
                    }
                }
            }
            _ => {
                return Err(Error::type_error(format!(
                    "type `{}` has no faithful Arrow form in snapdiff",
                    t.formatted
                ))
                .with_column(&col.name)
                .with_hint(format!(
                    "cast it explicitly, for example cast = {{ {} = \"text\" }} in the [[extract]] entry (or --cast {}=text)",
                    col.name, col.name
                )))
            }
        };
        schema.arrow_type = crate::snapshot::manifest::type_name(&data_type);
        Ok(Plan {
            select,
            out: OutColumn {
                name: col.name.clone(),
                data_type,
                conversion,
            },
            schema,
        })
    }

    /// The relation `table` names. A name PostgreSQL cannot even parse must not abort
    /// the run's transaction, so the lookup runs under a savepoint.
    fn table_info(&mut self, table: &str) -> Result<Relation> {
        self.client
            .batch_execute("SAVEPOINT lookup")
            .map_err(|e| pg_error(&e, None))?;
        let found = self.client.query_opt(
            "SELECT c.oid::int8, quote_ident(n.nspname) || '.' || quote_ident(c.relname), c.relkind::text
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.oid = to_regclass($1)",
            &[&table],
        );
        let row = match found {
            Ok(row) => {
                self.client
                    .batch_execute("RELEASE SAVEPOINT lookup")
                    .map_err(|e| pg_error(&e, None))?;
                row
            }
            Err(e) => {
                self.client
                    .batch_execute("ROLLBACK TO SAVEPOINT lookup")
                    .map_err(|e| pg_error(&e, None))?;
                return Err(pg_error(
                    &e,
                    Some(&format!("`{table}` is not a table name PostgreSQL accepts")),
                ));
            }
        };
        match row {
            Some(r) => Ok(Relation {
                oid: r.get(0),
                qualified: r.get(1),
                relkind: r.get(2),
            }),
            None => {
                let known = self.list_tables().unwrap_or_default();
                Err(
                    Error::source(format!("there is no table `{table}` in the database"))
                        .with_hint(if known.is_empty() {
                            "the database has no tables the user can see".to_string()
                        } else {
                            format!("the tables are: {}", known.join(", "))
                        }),
                )
            }
        }
    }

    /// The heap relations holding a table's rows, with their size: the table itself, or
    /// the leaf partitions of a partitioned table.
    fn heaps(&mut self, rel: &Relation) -> Result<Vec<Heap>> {
        let sql = "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname), c.reltuples::float8, c.relpages::int8,
                          (pg_relation_size(c.oid) / current_setting('block_size')::int8)::int8
                   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                   WHERE (c.oid = $1::int8::oid OR c.oid IN (SELECT relid FROM pg_partition_tree($1::int8::oid) WHERE isleaf))
                     AND c.relkind IN ('r', 'm')
                   ORDER BY 1";
        let rows = self
            .client
            .query(sql, &[&rel.oid])
            .map_err(|e| pg_error(&e, Some("reading the table's size")))?;
        let mut heaps = Vec::new();
        for r in rows {
            let (qualified, reltuples, relpages, nblocks): (String, f64, i64, i64) =
                (r.get(0), r.get(1), r.get(2), r.get(3));
            // The statistics give the density; the current size gives the pages. Without
            // statistics, count.
            let rows = if nblocks == 0 {
                0
            } else if reltuples > 0.0 && relpages > 0 {
                (reltuples / relpages as f64 * nblocks as f64).ceil() as u64
            } else {
                let n: i64 = self
                    .client
                    .query_one(&format!("SELECT count(*) FROM ONLY {qualified}"), &[])
                    .map_err(|e| pg_error(&e, Some("counting rows")))?
                    .get(0);
                n as u64
            };
            heaps.push(Heap {
                qualified,
                rows,
                nblocks,
            });
        }
        Ok(heaps)
    }

    fn table_columns(&mut self, oid: i64) -> Result<Vec<PgColumn>> {
        let rows = self
            .client
            .query(
                "SELECT a.attname::text, a.atttypid::int8, a.atttypmod, a.attnotnull
                 FROM pg_attribute a WHERE a.attrelid = $1::int8::oid AND a.attnum > 0 AND NOT a.attisdropped
                 ORDER BY a.attnum",
                &[&oid],
            )
            .map_err(|e| pg_error(&e, Some("reading the table's columns")))?;
        Ok(rows
            .iter()
            .map(|r| PgColumn {
                name: r.get(0),
                type_oid: r.get(1),
                typmod: r.get(2),
                notnull: r.get(3),
            })
            .collect())
    }

    fn keys(&mut self, oid: i64) -> Result<(Vec<String>, Vec<IndexSchema>)> {
        let rows = self
            .client
            .query(
                "SELECT ic.relname::text, i.indisunique, i.indisprimary,
                        ARRAY(SELECT COALESCE(
                                  (SELECT a.attname::text FROM pg_attribute a
                                   WHERE a.attrelid = i.indrelid AND a.attnum = i.indkey[k - 1]),
                                  pg_get_indexdef(i.indexrelid, k, true))
                              FROM generate_series(1, i.indnkeyatts::int) k ORDER BY k)
                 FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
                 WHERE i.indrelid = $1::int8::oid ORDER BY 1",
                &[&oid],
            )
            .map_err(|e| pg_error(&e, Some("reading the table's indexes")))?;
        let mut pk = Vec::new();
        let mut indexes = Vec::new();
        for r in rows {
            let cols: Vec<String> = r.get(3);
            if r.get::<_, bool>(2) {
                pk = cols.clone();
            }
            indexes.push(IndexSchema {
                name: r.get(0),
                unique: r.get(1),
                columns: cols,
            });
        }
        Ok((pk, indexes))
    }

    fn query_columns(&mut self, query: &str) -> Result<Vec<PgColumn>> {
        let stmt = self
            .client
            .prepare(query)
            .map_err(|e| pg_error(&e, Some("the query does not prepare")))?;
        let mut cols = Vec::new();
        for c in stmt.columns() {
            let (typmod, notnull) = match (c.table_oid(), c.column_id()) {
                (Some(toid), Some(attnum)) if toid != 0 => {
                    let row = self
                        .client
                        .query_opt(
                            "SELECT atttypmod, attnotnull FROM pg_attribute WHERE attrelid = $1::int8::oid AND attnum = $2::int2",
                            &[&(toid as i64), &attnum],
                        )
                        .map_err(|e| pg_error(&e, Some("reading the catalog")))?;
                    row.map(|r| (r.get::<_, i32>(0), false))
                        .unwrap_or((-1, false))
                }
                _ => (-1, false),
            };
            cols.push(PgColumn {
                name: c.name().to_string(),
                type_oid: c.type_().oid() as i64,
                typmod,
                notnull,
            });
        }
        Ok(cols)
    }
}

/// Precision and scale from a numeric typmod (`-1` when unconstrained).
fn numeric_precision_scale(typmod: i32) -> Option<(u8, i32)> {
    if typmod < 4 {
        return None;
    }
    let t = typmod - 4;
    let p = (t >> 16) & 0xffff;
    // PostgreSQL 15 allows negative scales, stored as an 11-bit signed number.
    let s = ((t & 0x7ff) ^ 1024) - 1024;
    u8::try_from(p).ok().map(|p| (p, s))
}

impl SourceReader for PgReader {
    fn list_tables(&mut self) -> Result<Vec<String>> {
        let rows = self
            .client
            .query(
                "SELECT CASE WHEN n.nspname = 'public' THEN quote_ident(c.relname)
                             ELSE quote_ident(n.nspname) || '.' || quote_ident(c.relname) END
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
                   AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
                   AND has_table_privilege(c.oid, 'SELECT')
                 ORDER BY n.nspname, c.relname",
                &[],
            )
            .map_err(|e| pg_error(&e, Some("listing tables")))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    fn consistency(&self) -> String {
        match self.snapshot {
            Some(_) => "one PostgreSQL snapshot (exported, REPEATABLE READ, READ ONLY) shared by every connection of the run"
                .to_string(),
            None => "each range read in its own REPEATABLE READ, READ ONLY transaction (the server refused to export a snapshot)"
                .to_string(),
        }
    }

    fn read_table(
        &mut self,
        req: &TableRequest,
        out: &mut TableOutput,
        ctx: &ReadContext<'_>,
    ) -> Result<TableMeta> {
        let opts = ctx.options;
        let concurrency = req.partitions.unwrap_or(opts.default_concurrency).max(1);
        // Columns, keys and the FROM clause.
        let (columns, from, rel, pk, indexes) = match &req.from {
            TableFrom::Table(t) => {
                let rel = self.table_info(t)?;
                let cols = self.table_columns(rel.oid)?;
                let (pk, idx) = self.keys(rel.oid)?;
                (cols, rel.qualified.clone(), Some(rel), pk, idx)
            }
            TableFrom::Query(q) => (
                self.query_columns(q)?,
                format!("({q}) AS q"),
                None,
                Vec::new(),
                Vec::new(),
            ),
        };
        let source_object = rel.as_ref().map(|r| r.qualified.clone());
        super::check_casts(req, columns.iter().map(|c| c.name.as_str()))?;
        let mut plans = Vec::new();
        for c in &columns {
            plans.push(
                self.plan_column(c, req.casts.get(&c.name).copied())
                    .map_err(|e| e.with_column(&c.name))?,
            );
        }
        let select_list = plans
            .iter()
            .map(|p| p.select.clone())
            .collect::<Vec<_>>()
            .join(", ");
        let query = format!("SELECT {select_list} FROM {from}");
        let out_cols: Vec<OutColumn> = plans.iter().map(|p| p.out.clone()).collect();
        let schema = types::out_schema(&out_cols);

        // The range queries: `partition_on` ranges; else ctid block ranges of each heap
        // (a table, or each leaf of a partitioned table). Block ranges are only safe inside
        // the one exported snapshot: without it an updated row could move between ranges.
        let mut chunks: Vec<String> = Vec::new();
        let mut estimate = None;
        let mut partitioning = None;
        if let Some(col) = &req.partition_on {
            let qc = quote(col);
            // A table's min and max come from its index and whether it has NULLs from the
            // catalog; a query is scanned once for all, with its row count.
            let is_query = rel.is_none();
            let sql = if is_query {
                format!("SELECT min({qc})::int8, max({qc})::int8, count(*) - count({qc}), count(*) FROM {from}")
            } else {
                format!(
                    "SELECT min({qc})::int8, max({qc})::int8, NULL::int8, NULL::int8 FROM {from}"
                )
            };
            let row = self.client.query_one(&sql, &[]).map_err(|e| {
                pg_error(&e, Some("finding the range of partition_on"))
                    .with_hint("partition_on must name an integer column")
            })?;
            let (lo, hi, nulls, count): (Option<i64>, Option<i64>, Option<i64>, Option<i64>) =
                (row.get(0), row.get(1), row.get(2), row.get(3));
            let nullable = match nulls {
                Some(n) => n > 0,
                None => columns
                    .iter()
                    .find(|c| &c.name == col)
                    .is_none_or(|c| !c.notnull),
            };
            let rows = match (count, &rel) {
                (Some(c), _) => c as u64,
                (None, Some(r)) if matches!(r.relkind.as_str(), "r" | "m" | "p") => {
                    self.heaps(r)?.iter().map(|h| h.rows).sum()
                }
                _ => match (lo, hi) {
                    (Some(lo), Some(hi)) => {
                        (hi as i128 - lo as i128 + 1).clamp(0, u64::MAX as i128) as u64
                    }
                    _ => 0,
                },
            };
            estimate = Some(rows);
            let n = ranges::range_count(rows, opts.chunk_rows, concurrency);
            let ranges_ = match (lo, hi) {
                (Some(lo), Some(hi)) => ranges::split(lo.into(), hi.into(), n, nullable),
                _ if nullable => vec![Chunk::Null],
                _ => vec![Chunk::All],
            };
            for c in &ranges_ {
                chunks.push(match c.predicate(&qc) {
                    Some(p) => format!("{query} WHERE {p}"),
                    None => query.clone(),
                });
            }
            partitioning = Some(Partitioning {
                column: col.clone(),
                ranges: chunks.len(),
                concurrency,
            });
        } else if let Some(r) = rel
            .as_ref()
            .filter(|r| matches!(r.relkind.as_str(), "r" | "m" | "p"))
        {
            let heaps = self.heaps(r)?;
            let rows: u64 = heaps.iter().map(|h| h.rows).sum();
            estimate = Some(rows);
            if self.snapshot.is_none() {
                ctx.progress.warn(&format!(
                    "{}.{}: the server exported no snapshot, so the table is read as one stream (give partition_on to split it)",
                    ctx.side, req.name
                ));
            } else {
                for h in &heaps {
                    // Each heap gets its share of the ranges, at least one.
                    let n = ranges::range_count(
                        h.rows,
                        opts.chunk_rows,
                        if heaps.len() == 1 { concurrency } else { 1 },
                    );
                    let from_heap = if r.relkind == "p" {
                        format!("ONLY {}", h.qualified)
                    } else {
                        h.qualified.clone()
                    };
                    let base = format!("SELECT {select_list} FROM {from_heap}");
                    if n <= 1 || h.nblocks <= 1 {
                        chunks.push(base);
                        continue;
                    }
                    for c in ranges::split(0, (h.nblocks - 1).into(), n, false) {
                        let Chunk::Range { lo, hi } = c else { continue };
                        let mut p = Vec::new();
                        if let Some(lo) = lo {
                            p.push(format!("ctid >= '({lo},0)'::tid"));
                        }
                        if let Some(hi) = hi {
                            p.push(format!("ctid < '({hi},0)'::tid"));
                        }
                        chunks.push(if p.is_empty() {
                            base.clone()
                        } else {
                            format!("{base} WHERE {}", p.join(" AND "))
                        });
                    }
                }
                if chunks.len() > 1 {
                    partitioning = Some(Partitioning {
                        column: "ctid".to_string(),
                        ranges: chunks.len(),
                        concurrency,
                    });
                }
            }
        } else if let Some(r) = &rel {
            ctx.progress.warn(&format!(
                "{}.{}: {} is a view or foreign table with no ctid: it is read as one stream (give partition_on to split it)",
                ctx.side, req.name, r.qualified
            ));
        }

        let sender = out.start(schema.clone(), estimate)?;
        let pre = self.pre_queries();
        let conform_send = |batch: arrow::record_batch::RecordBatch| -> Result<()> {
            let mut stats = ConformStats::default();
            sender.send(types::conform(&batch, &out_cols, &schema, &mut stats)?)
        };
        if chunks.is_empty() {
            // Nothing to split on: stream, batch by batch.
            cx::stream(&self.cx_conn, &query, &pre, 65_536, conform_send)?;
        } else {
            ranges::run_concurrently(&chunks, concurrency, |sql| {
                for batch in cx::fetch(&self.cx_conn, sql, &pre)? {
                    conform_send(batch)?;
                }
                Ok(())
            })?;
        }
        Ok(TableMeta {
            source_object: source_object.clone(),
            query,
            partitioning,
            schema: TableSchema {
                source_object,
                columns: plans.into_iter().map(|p| p.schema).collect(),
                primary_key: pk,
                indexes,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_typmods() {
        // numeric(12,2): typmod = ((12 << 16) | 2) + 4
        assert_eq!(numeric_precision_scale((12 << 16 | 2) + 4), Some((12, 2)));
        assert_eq!(numeric_precision_scale(-1), None);
        // numeric(5,-2) (PostgreSQL 15)
        assert_eq!(
            numeric_precision_scale((5 << 16 | (-2i32 & 0x7ff)) + 4),
            Some((5, -2))
        );
    }
}
