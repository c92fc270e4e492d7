//! MySQL and MariaDB, read through connectorx in read-only sessions.
//!
//! Every connection runs `SET SESSION TRANSACTION READ ONLY` and `SET time_zone =
//! '+00:00'` before reading, so a query cannot write and `TIMESTAMP` columns (stored in
//! UTC, shown in the session's zone) are read as UTC. MySQL cannot share a snapshot
//! between connections: each range is consistent on its own, and the manifest says so.
//!
//! Types come from `information_schema` (tables) or the prepared statement's metadata
//! (queries): unsigned integers keep their unsigned Arrow types, `tinyint(1)` stays an
//! integer (it is often a boolean, but it can hold 2), `decimal(p,s)` is read as exact
//! text into `Decimal128(p,s)`, `DATETIME` is a wall-clock timestamp and `TIMESTAMP` a
//! UTC one; zero dates (`0000-00-00`), which no calendar has, become NULL and are
//! counted in `schema.json`.

use arrow::datatypes::DataType;
use connectorx::prelude::SourceConn;
use mysql::prelude::Queryable;
use mysql::{Conn, Opts};

use super::cx;
use super::pipeline::TableOutput;
use super::ranges::{self, Chunk};
use super::types::{self, CastType, ConformStats, Conversion, OutColumn};
use super::{ReadContext, Source, SourceReader, TableFrom, TableMeta, TableRequest};
use crate::error::{Error, Result};
use crate::snapshot::manifest::{ColumnSchema, IndexSchema, Partitioning, TableSchema};

const SESSION: &[&str] = &[
    "SET SESSION TRANSACTION READ ONLY",
    "SET time_zone = '+00:00'",
    "SET NAMES utf8mb4",
];

pub struct MySqlReader {
    conn: Conn,
    cx_conn: SourceConn,
}

/// A driver error as a snapdiff error, classified by the server's error code.
pub fn my_error(e: &mysql::Error, what: Option<&str>) -> Error {
    let prefix = what.map(|w| format!("{w}: ")).unwrap_or_default();
    match e {
        mysql::Error::MySqlError(m) => {
            let text = crate::secrets::scrub(&m.message);
            match m.code {
                1045 | 1044 => Error::connect(format!("{prefix}login refused: {text}")).with_hint(
                    "check the user and password (URL, MYSQL_PWD or ${VAR} in the spec)",
                ),
                1049 => Error::connect(format!("{prefix}{text}"))
                    .with_hint("check the database name in the URL"),
                1146 => Error::source(format!("{prefix}{text}")).with_hint("check the table name"),
                1054 => {
                    Error::source(format!("{prefix}{text}")).with_hint("check the column names")
                }
                1064 => Error::source(format!("{prefix}syntax error: {text}"))
                    .with_hint("the query is run by MySQL/MariaDB: check its SQL"),
                1142 | 1143 | 1227 => Error::source(format!("{prefix}permission denied: {text}"))
                    .with_hint("grant the snapdiff user SELECT on the table"),
                1792 => Error::source(format!("{prefix}the source refused a write: {text}"))
                    .with_hint("snapdiff reads in read-only sessions; the query must not write"),
                _ => Error::source(format!("{prefix}{text}")),
            }
        }
        other if super::cx::lost_connection(&other.to_string().to_ascii_lowercase()) => {
            super::cx::lost_error(&format!(
                "{prefix}{}",
                crate::secrets::scrub(&other.to_string())
            ))
        }
        other => Error::connect(format!(
            "{prefix}cannot reach the server: {}",
            crate::secrets::scrub(&other.to_string())
        ))
        .with_hint(
            "check the host and port, and that the server is running and accepts connections",
        ),
    }
}

fn quote(ident: &str) -> String {
    format!("`{}`", ident.replace('`', "``"))
}

/// The parts of a table name as written: `table` or `db.table`, a part in backticks
/// when it holds a `.` (`` `a.b` ``, a backtick inside doubled).
fn name_parts(name: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        let part = parts.last_mut().expect("never empty");
        match c {
            '`' => loop {
                match chars.next() {
                    Some('`') if chars.peek() == Some(&'`') => {
                        chars.next();
                        part.push('`');
                    }
                    Some('`') | None => break,
                    Some(x) => part.push(x),
                }
            },
            '.' => parts.push(String::new()),
            _ => part.push(c),
        }
    }
    parts
}

/// A table name as [`name_parts`] reads it: in backticks when it holds `.` or a backtick.
fn table_name_text(name: &str) -> String {
    if name.contains(['.', '`']) {
        quote(name)
    } else {
        name.to_string()
    }
}

/// A column as the catalog (or statement metadata) describes it.
#[derive(Debug, Clone)]
struct MyColumn {
    name: String,
    /// `int`, `decimal`, `datetime`, ... (lowercase).
    data_type: String,
    /// The full declaration: `int(10) unsigned`, `tinyint(1)`, `decimal(12,2)`.
    column_type: String,
    precision: Option<u64>,
    scale: Option<u64>,
    nullable: bool,
}

/// Connect with the driver, in a read-only session.
pub fn connect(source: &Source) -> Result<Conn> {
    let opts = Opts::from_url(source.connection_url()).map_err(|e| {
        Error::spec(format!(
            "the MySQL URL is not valid: {}",
            crate::secrets::scrub(&e.to_string())
        ))
    })?;
    let mut conn =
        Conn::new(opts).map_err(|e| my_error(&e, None).with_source_url(source.redacted()))?;
    for s in SESSION {
        conn.query_drop(s)
            .map_err(|e| my_error(&e, Some("setting up the session")))?;
    }
    Ok(conn)
}

impl MySqlReader {
    pub fn open(source: &Source) -> Result<MySqlReader> {
        let conn = connect(source)?;
        let cx_conn = cx::source_conn(source.connection_url())?;
        Ok(MySqlReader { conn, cx_conn })
    }

    fn split_name(&mut self, table: &str) -> Result<(String, String)> {
        let parts = name_parts(table);
        match parts.as_slice() {
            [db, t] => Ok((db.clone(), t.clone())),
            [_, _, _, ..] => Err(Error::spec(format!(
                "`{table}` is not a table name: write TABLE or DATABASE.TABLE"
            ))
            .with_hint("a name that holds `.` is written in backticks: `db`.`a.b`")),
            _ => {
                let db: Option<String> = self
                    .conn
                    .query_first("SELECT DATABASE()")
                    .map_err(|e| my_error(&e, None))?
                    .flatten();
                let db = db.ok_or_else(|| {
                    Error::spec("the MySQL URL names no database")
                        .with_hint("write mysql://USER@HOST:PORT/DATABASE")
                })?;
                Ok((db, parts[0].clone()))
            }
        }
    }

    fn table_columns(&mut self, db: &str, table: &str) -> Result<Vec<MyColumn>> {
        type Row = (String, String, String, Option<u64>, Option<u64>, String);
        let rows: Vec<Row> = self
            .conn
            .exec(
                "SELECT COLUMN_NAME, LOWER(DATA_TYPE), LOWER(COLUMN_TYPE), NUMERIC_PRECISION, NUMERIC_SCALE, IS_NULLABLE
                 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
                (db, table),
            )
            .map_err(|e| my_error(&e, Some("reading the table's columns")))?;
        Ok(rows
            .into_iter()
            .map(
                |(name, data_type, column_type, precision, scale, nullable)| MyColumn {
                    name,
                    data_type,
                    column_type,
                    precision,
                    scale,
                    nullable: nullable == "YES",
                },
            )
            .collect())
    }

    fn keys(&mut self, db: &str, table: &str) -> Result<(Vec<String>, Vec<IndexSchema>)> {
        let rows: Vec<(String, i64, String)> = self
            .conn
            .exec(
                "SELECT INDEX_NAME, NON_UNIQUE, COLUMN_NAME FROM information_schema.STATISTICS
                 WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY INDEX_NAME, SEQ_IN_INDEX",
                (db, table),
            )
            .map_err(|e| my_error(&e, Some("reading the table's indexes")))?;
        let mut indexes: Vec<IndexSchema> = Vec::new();
        for (name, non_unique, col) in rows {
            match indexes.last_mut() {
                Some(ix) if ix.name == name => ix.columns.push(col),
                _ => indexes.push(IndexSchema {
                    name,
                    unique: non_unique == 0,
                    columns: vec![col],
                }),
            }
        }
        let pk = indexes
            .iter()
            .find(|i| i.name == "PRIMARY")
            .map(|i| i.columns.clone())
            .unwrap_or_default();
        Ok((pk, indexes))
    }

    fn query_columns(&mut self, query: &str) -> Result<Vec<MyColumn>> {
        use mysql::consts::{ColumnFlags, ColumnType as T};
        let stmt = self
            .conn
            .prep(query)
            .map_err(|e| my_error(&e, Some("the query does not prepare")))?;
        let mut cols = Vec::new();
        for c in stmt.columns() {
            let unsigned = c.flags().contains(ColumnFlags::UNSIGNED_FLAG);
            let binary = c.character_set() == 63;
            let len = c.column_length() as u64;
            let dec = c.decimals() as u64;
            let (dt, prec, scale) = match c.column_type() {
                T::MYSQL_TYPE_TINY => ("tinyint", None, None),
                T::MYSQL_TYPE_SHORT => ("smallint", None, None),
                T::MYSQL_TYPE_INT24 => ("mediumint", None, None),
                T::MYSQL_TYPE_LONG => ("int", None, None),
                T::MYSQL_TYPE_LONGLONG => ("bigint", None, None),
                T::MYSQL_TYPE_FLOAT => ("float", None, None),
                T::MYSQL_TYPE_DOUBLE => ("double", None, None),
                T::MYSQL_TYPE_NEWDECIMAL | T::MYSQL_TYPE_DECIMAL => {
                    let p = len - u64::from(dec > 0) - u64::from(!unsigned);
                    ("decimal", Some(p), Some(dec))
                }
                T::MYSQL_TYPE_DATE | T::MYSQL_TYPE_NEWDATE => ("date", None, None),
                T::MYSQL_TYPE_DATETIME | T::MYSQL_TYPE_DATETIME2 => ("datetime", None, None),
                T::MYSQL_TYPE_TIMESTAMP | T::MYSQL_TYPE_TIMESTAMP2 => ("timestamp", None, None),
                T::MYSQL_TYPE_TIME | T::MYSQL_TYPE_TIME2 => ("time", None, None),
                T::MYSQL_TYPE_YEAR => ("year", None, None),
                T::MYSQL_TYPE_BIT => ("bit", None, None),
                T::MYSQL_TYPE_JSON => ("json", None, None),
                T::MYSQL_TYPE_ENUM | T::MYSQL_TYPE_SET => ("enum", None, None),
                T::MYSQL_TYPE_VARCHAR | T::MYSQL_TYPE_VAR_STRING | T::MYSQL_TYPE_STRING => {
                    if c.flags().contains(ColumnFlags::ENUM_FLAG)
                        || c.flags().contains(ColumnFlags::SET_FLAG)
                    {
                        ("enum", None, None)
                    } else if binary {
                        ("varbinary", None, None)
                    } else {
                        ("varchar", None, None)
                    }
                }
                T::MYSQL_TYPE_TINY_BLOB
                | T::MYSQL_TYPE_MEDIUM_BLOB
                | T::MYSQL_TYPE_LONG_BLOB
                | T::MYSQL_TYPE_BLOB => {
                    if binary {
                        ("blob", None, None)
                    } else {
                        ("text", None, None)
                    }
                }
                T::MYSQL_TYPE_NULL => ("null", None, None),
                _ => ("unknown", None, None),
            };
            let column_type = match (dt, prec, scale) {
                ("decimal", Some(p), Some(s)) => format!("decimal({p},{s})"),
                _ if unsigned => format!("{dt} unsigned"),
                _ => dt.to_string(),
            };
            cols.push(MyColumn {
                name: c.name_str().to_string(),
                data_type: dt.to_string(),
                column_type,
                precision: prec,
                scale,
                nullable: !c.flags().contains(ColumnFlags::NOT_NULL_FLAG),
            });
        }
        Ok(cols)
    }
}

/// How one column is read: the select expression, the stored column and its schema entry.
fn plan_column(
    col: &MyColumn,
    cast: Option<CastType>,
) -> Result<(String, OutColumn, ColumnSchema)> {
    let q = quote(&col.name);
    let mut schema = ColumnSchema {
        name: col.name.clone(),
        source_type: col.column_type.clone(),
        nullable: col.nullable,
        ..Default::default()
    };
    let unsigned = col.column_type.contains("unsigned");
    let exact = |dt: DataType| (q.to_string(), dt, Conversion::Exact);
    let as_char = |dt: DataType, conv: Conversion| (format!("CAST({q} AS CHAR) AS {q}"), dt, conv);
    let (select, data_type, conversion) = if let Some(cast) = cast {
        schema.notes.push(format!("cast to {cast} by the spec"));
        // Casts read the value's exact text and parse it strictly: MySQL's own CAST rounds
        // decimals, clamps out-of-range values and turns 'abc' into 0 with only a warning.
        match cast {
            CastType::Binary => (
                format!("CAST({q} AS BINARY) AS {q}"),
                DataType::Binary,
                Conversion::Exact,
            ),
            c => as_char(c.arrow_type(), Conversion::Cast(c)),
        }
    } else {
        match col.data_type.as_str() {
            "tinyint" => {
                if col.column_type.starts_with("tinyint(1)") {
                    schema.notes.push("tinyint(1): kept as an integer (it may hold values other than 0 and 1)".into());
                }
                exact(if unsigned { DataType::UInt8 } else { DataType::Int8 })
            }
            "smallint" => exact(if unsigned { DataType::UInt16 } else { DataType::Int16 }),
            "mediumint" | "int" | "integer" => exact(if unsigned { DataType::UInt32 } else { DataType::Int32 }),
            "bigint" => exact(if unsigned { DataType::UInt64 } else { DataType::Int64 }),
            "float" => exact(DataType::Float32),
            "double" | "real" => exact(DataType::Float64),
            "decimal" | "numeric" => match (col.precision, col.scale) {
                (Some(p), Some(s)) if p <= 38 => {
                    schema.precision = Some(p as u32);
                    schema.scale = Some(s as i32);
                    as_char(DataType::Decimal128(p as u8, s as i8), Conversion::Cast(CastType::Decimal(p as u8, s as i8)))
                }
                _ => {
                    schema.notes.push("decimal wider than 38 digits: stored as exact decimal text".into());
                    as_char(DataType::Utf8, Conversion::Exact)
                }
            },
            "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" => exact(DataType::Utf8),
            "binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob" => exact(DataType::Binary),
            "enum" | "set" | "json" => as_char(DataType::Utf8, Conversion::Exact),
            "date" => as_char(DataType::Date32, Conversion::ZeroDateText),
            "datetime" => as_char(types::timestamp_naive(), Conversion::ZeroDateText),
            "timestamp" => {
                schema.notes.push("TIMESTAMP read in time zone +00:00: stored as UTC".into());
                as_char(types::timestamp_utc(), Conversion::ZeroDateText)
            }
            "time" => {
                schema.notes.push("TIME is a duration in MySQL (-838:59:59 to 838:59:59): stored as its text".into());
                as_char(DataType::Utf8, Conversion::Exact)
            }
            "year" => (format!("CAST({q} AS UNSIGNED) AS {q}"), DataType::UInt64, Conversion::Exact),
            "bit" => (format!("CAST({q} AS UNSIGNED) AS {q}"), DataType::UInt64, Conversion::Exact),
            other => {
                return Err(Error::type_error(format!("type `{other}` has no faithful Arrow form in snapdiff"))
                    .with_column(&col.name)
                    .with_hint(format!(
                        "cast it explicitly, for example cast = {{ {} = \"text\" }} in the [[extract]] entry (or --cast {}=text)",
                        col.name, col.name
                    )))
            }
        }
    };
    schema.arrow_type = crate::snapshot::manifest::type_name(&data_type);
    Ok((
        select,
        OutColumn {
            name: col.name.clone(),
            data_type,
            conversion,
        },
        schema,
    ))
}

impl SourceReader for MySqlReader {
    fn list_tables(&mut self) -> Result<Vec<String>> {
        let names: Vec<String> = self
            .conn
            .query(
                "SELECT TABLE_NAME FROM information_schema.TABLES
                 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
            )
            .map_err(|e| my_error(&e, Some("listing tables")))?;
        // As `split_name` reads them back: `a.b` is one table, not table b of database a.
        Ok(names.iter().map(|n| table_name_text(n)).collect())
    }

    fn consistency(&self) -> String {
        "each range read in its own read-only MySQL session (MySQL cannot share a snapshot between connections)"
            .to_string()
    }

    fn read_table(
        &mut self,
        req: &TableRequest,
        out: &mut TableOutput,
        ctx: &ReadContext<'_>,
    ) -> Result<TableMeta> {
        let opts = ctx.options;
        let concurrency = req.partitions.unwrap_or(opts.default_concurrency).max(1);
        let (columns, from, source_object, pk, indexes, estimate) = match &req.from {
            TableFrom::Table(t) => {
                let (db, name) = self.split_name(t)?;
                let cols = self.table_columns(&db, &name)?;
                if cols.is_empty() {
                    let known = self.list_tables().unwrap_or_default();
                    return Err(
                        Error::source(format!("there is no table `{t}` in the database"))
                            .with_hint(format!("the tables are: {}", known.join(", "))),
                    );
                }
                let (pk, idx) = self.keys(&db, &name)?;
                let est: Option<u64> = self
                    .conn
                    .exec_first(
                        "SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
                        (&db, &name),
                    )
                    .map_err(|e| my_error(&e, None))?
                    .flatten();
                (
                    cols,
                    format!("{}.{}", quote(&db), quote(&name)),
                    Some(format!("{db}.{name}")),
                    pk,
                    idx,
                    est,
                )
            }
            TableFrom::Query(q) => (
                self.query_columns(q)?,
                format!("({q}) AS q"),
                None,
                Vec::new(),
                Vec::new(),
                None,
            ),
        };
        super::check_casts(req, columns.iter().map(|c| c.name.as_str()))?;
        let mut selects = Vec::new();
        let mut out_cols = Vec::new();
        let mut col_schemas = Vec::new();
        for c in &columns {
            let (s, o, cs) = plan_column(c, req.casts.get(&c.name).copied())
                .map_err(|e| e.with_column(&c.name))?;
            selects.push(s);
            out_cols.push(o);
            col_schemas.push(cs);
        }
        let query = format!("SELECT {} FROM {from}", selects.join(", "));
        let schema = types::out_schema(&out_cols);

        // Split over partition_on, or over a single-column integer primary key.
        let split = match &req.partition_on {
            Some(c) => Some(c.clone()),
            None if pk.len() == 1 => columns
                .iter()
                .find(|c| {
                    c.name == pk[0]
                        && matches!(
                            c.data_type.as_str(),
                            "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint"
                        )
                })
                .map(|c| c.name.clone()),
            None => None,
        };
        let (chunks, split_col, partitioning) = match &split {
            Some(col) => {
                let qc = quote(col);
                // A table's min and max come from its index and whether it has NULLs from
                // the catalog; a query is scanned once for all, with its row count.
                let is_query = matches!(req.from, TableFrom::Query(_));
                let sql = if is_query {
                    format!(
                        "SELECT CAST(MIN({qc}) AS CHAR), CAST(MAX({qc}) AS CHAR), COUNT(*) - COUNT({qc}), COUNT(*) FROM {from}"
                    )
                } else {
                    format!("SELECT CAST(MIN({qc}) AS CHAR), CAST(MAX({qc}) AS CHAR), NULL, NULL FROM {from}")
                };
                // Min and max as text: an unsigned BIGINT key above i64::MAX must not wrap.
                type Range = (Option<String>, Option<String>, Option<i64>, Option<i64>);
                let row: Option<Range> = self.conn.query_first(sql).map_err(|e| {
                    my_error(&e, Some("finding the range of partition_on"))
                        .with_hint("partition_on must name an integer column")
                })?;
                let (lo, hi, nulls, count) = row.unwrap_or((None, None, None, None));
                let as_int = |v: Option<String>| -> Result<Option<i128>> {
                    v.map(|t| {
                        t.parse::<i128>().map_err(|_| {
                            Error::spec(format!(
                                "partition_on column `{col}` holds `{t}`, which is not an integer"
                            ))
                            .with_hint("partition_on must name an integer column")
                        })
                    })
                    .transpose()
                };
                let (lo, hi) = (as_int(lo)?, as_int(hi)?);
                let nullable = match nulls {
                    Some(n) => n > 0,
                    None => columns
                        .iter()
                        .find(|c| &c.name == col)
                        .is_none_or(|c| c.nullable),
                };
                let rows = count
                    .map(|c| c as u64)
                    .or(estimate)
                    .unwrap_or_else(|| match (lo, hi) {
                        (Some(lo), Some(hi)) => (hi - lo + 1).clamp(0, u64::MAX as i128) as u64,
                        _ => 0,
                    });
                let n = ranges::range_count(rows, opts.chunk_rows, concurrency);
                let chunks = match (lo, hi) {
                    (Some(lo), Some(hi)) => ranges::split(lo, hi, n, nullable),
                    _ if nullable => vec![Chunk::Null],
                    _ => vec![Chunk::All],
                };
                let k = chunks.len();
                (
                    chunks,
                    Some(qc),
                    Some(Partitioning {
                        column: col.clone(),
                        ranges: k,
                        concurrency,
                    }),
                )
            }
            None => (vec![Chunk::All], None, None),
        };
        let sender = out.start(schema.clone(), estimate)?;
        let pre: Vec<String> = SESSION.iter().map(|s| s.to_string()).collect();
        let totals = std::sync::Mutex::new(ConformStats::default());
        let conform_send = |batch: arrow::record_batch::RecordBatch| -> Result<()> {
            let mut stats = ConformStats::default();
            let b = types::conform(&batch, &out_cols, &schema, &mut stats)?;
            let mut t = totals.lock().unwrap_or_else(|p| p.into_inner());
            if t.zero_dates.len() != stats.zero_dates.len() {
                t.zero_dates = vec![0; stats.zero_dates.len()];
            }
            for (a, b) in t.zero_dates.iter_mut().zip(&stats.zero_dates) {
                *a += b;
            }
            drop(t);
            sender.send(b)
        };
        if chunks.len() == 1 && split_col.is_none() {
            if matches!(req.from, TableFrom::Table(_)) {
                ctx.progress.warn(&format!(
                    "{}.{}: no integer primary key or partition_on: the table is read as one stream",
                    ctx.side, req.name
                ));
            }
            cx::stream(&self.cx_conn, &query, &pre, 65_536, conform_send)?;
        } else {
            let col = split_col.clone().unwrap_or_default();
            ranges::run_concurrently(&chunks, concurrency, |chunk| {
                let sql = match chunk.predicate(&col) {
                    None => query.clone(),
                    Some(p) => format!("{query} WHERE {p}"),
                };
                for batch in cx::fetch(&self.cx_conn, &sql, &pre)? {
                    conform_send(batch)?;
                }
                Ok(())
            })?;
        }
        let totals = totals.into_inner().unwrap_or_else(|p| p.into_inner());
        for (i, n) in totals.zero_dates.iter().enumerate() {
            if *n > 0 {
                col_schemas[i].notes.push(format!(
                    "{n} zero dates (0000-00-00 or a zero month/day) read as NULL"
                ));
                ctx.progress.warn(&format!(
                    "{}.{}: column {} had {n} zero dates, read as NULL",
                    ctx.side, req.name, col_schemas[i].name
                ));
            }
        }
        Ok(TableMeta {
            source_object: source_object.clone(),
            query,
            partitioning,
            schema: TableSchema {
                source_object,
                columns: col_schemas,
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
    fn table_names_split_on_dots_outside_backticks() {
        assert_eq!(name_parts("shop.orders"), ["shop", "orders"]);
        assert_eq!(name_parts("`Users`"), ["Users"]);
        assert_eq!(name_parts("`a.b`"), ["a.b"]);
        assert_eq!(name_parts("`my.db`.`it``s.x`"), ["my.db", "it`s.x"]);
        assert_eq!(
            name_parts(&table_name_text("Café \"Ω\".v2")),
            ["Café \"Ω\".v2"]
        );
        assert_eq!(table_name_text("plain"), "plain");
    }
}
