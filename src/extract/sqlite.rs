//! SQLite, read faithfully.
//!
//! SQLite types values, not columns: a column declared `INTEGER` may hold text, a column
//! with no declared type holds whatever was put in it, and its first rows may be NULL.
//! connectorx's SQLite source infers a type from the first row and fails on the first
//! value of another storage class, so this reader uses rusqlite (the same bundled SQLite
//! connectorx builds) directly:
//!
//! - the database is opened with `SQLITE_OPEN_READ_ONLY`, and all tables are read in one
//!   read transaction, so a run is one consistent state of the file;
//! - each column's Arrow type comes from its declared type (SQLite's affinity rules);
//!   a column with no usable declared type is typed by its first non-NULL value;
//! - if a value of another storage class turns up, the column is widened (boolean →
//!   integer → real → text) and the table is read again from the start; the storage
//!   classes seen are recorded in `schema.json`. BLOBs mixed with other values cannot be
//!   widened faithfully and are an error that names the column and the cast to use.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Float64Builder, Int64Builder, RecordBatch,
    StringBuilder,
};
use arrow::datatypes::{DataType, SchemaRef};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use super::pipeline::TableOutput;
use super::ranges::{self, Chunk};
use super::types::{self, CastType};
use super::{ReadContext, Source, SourceReader, TableFrom, TableMeta, TableRequest};
use crate::error::{Error, ErrorKind, Result};
use crate::snapshot::manifest::{ColumnSchema, IndexSchema, Partitioning, TableSchema};

/// Rows per Arrow batch.
const BATCH_ROWS: usize = 65_536;
/// Bytes of text and blobs per batch before it is sent early.
const BATCH_BYTES: usize = 32 << 20;
/// Integers beyond this magnitude are not exact as f64.
const F64_EXACT: i64 = 1 << 53;

/// How a column is read from SQLite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ColType {
    Bool,
    Int,
    Float,
    Text,
    Blob,
    /// For a binary cast: BLOBs as they are, text as its UTF-8 bytes.
    Bytes,
}

/// A column as `PRAGMA table_info` declares it: name, type, NOT NULL, primary-key position.
type DeclaredColumn = (String, String, bool, i64);

impl ColType {
    fn arrow(self) -> DataType {
        match self {
            ColType::Bool => DataType::Boolean,
            ColType::Int => DataType::Int64,
            ColType::Float => DataType::Float64,
            ColType::Text => DataType::Utf8,
            ColType::Blob | ColType::Bytes => DataType::Binary,
        }
    }
}

/// The type a declared column type starts with, by SQLite's affinity rules
/// (<https://www.sqlite.org/datatype3.html#affname>); `None` when only the data can tell.
fn type_from_declared(decl: &str) -> Option<ColType> {
    let d = decl.to_ascii_uppercase();
    if d.is_empty() {
        return None;
    }
    if d.contains("INT") {
        return Some(ColType::Int);
    }
    if d.contains("CHAR") || d.contains("CLOB") || d.contains("TEXT") {
        return Some(ColType::Text);
    }
    if d.contains("BLOB") {
        return Some(ColType::Blob);
    }
    if d.contains("REAL") || d.contains("FLOA") || d.contains("DOUB") {
        return Some(ColType::Float);
    }
    if d == "BOOLEAN" || d == "BOOL" {
        return Some(ColType::Bool);
    }
    // NUMERIC affinity (NUMERIC, DECIMAL(p,s), DATE, DATETIME, ...): values keep whatever
    // class they were stored as; the data decides.
    None
}

/// Storage-class bits seen in a column.
const SEEN_INT: u8 = 1;
const SEEN_REAL: u8 = 2;
const SEEN_TEXT: u8 = 4;
const SEEN_BLOB: u8 = 8;

fn seen_names(bits: u8) -> Vec<&'static str> {
    let mut v = Vec::new();
    for (b, n) in [
        (SEEN_INT, "integer"),
        (SEEN_REAL, "real"),
        (SEEN_TEXT, "text"),
        (SEEN_BLOB, "blob"),
    ] {
        if bits & b != 0 {
            v.push(n);
        }
    }
    v
}

/// A planned column: how it is read (`ty`), and the cast a spec asked for, applied to
/// the values read (casts read values raw: integers, reals and text as their exact text).
#[derive(Debug, Clone)]
struct Col {
    name: String,
    declared: String,
    ty: ColType,
    cast: Option<CastType>,
    notnull: bool,
}

impl Col {
    fn out(&self) -> types::OutColumn {
        match self.cast {
            Some(c) => types::OutColumn::cast(&self.name, c),
            None => types::OutColumn::exact(&self.name, self.ty.arrow()),
        }
    }
}

/// The reader: one read-only connection holding one read transaction.
pub struct SqliteReader {
    path: PathBuf,
    conn: Connection,
}

/// Open `path` read-only.
pub fn open_read_only(path: &Path) -> Result<Connection> {
    if !path.exists() {
        return Err(Error::connect("the SQLite database file does not exist")
            .with_file(path)
            .with_hint("check the path in the source URL (relative paths are relative to the spec's folder)"));
    }
    if path.is_dir() {
        return Err(
            Error::connect("the SQLite source is a folder, not a database file").with_file(path),
        );
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| {
        Error::connect(format!("cannot open the SQLite database: {e}")).with_file(path)
    })?;
    conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| {
        r.get::<_, i64>(0)
    })
    .map_err(|e| {
        Error::connect(format!("cannot read the SQLite database: {e}"))
            .with_file(path)
            .with_hint("is this a SQLite database file?")
    })?;
    // (Memory-mapped I/O would spare a copy per page, about a fifth of the time of a large
    // table, but mapped pages count as resident memory: a 1 GB file would show 1 GB RSS.)
    conn.busy_timeout(std::time::Duration::from_secs(30))
        .map_err(|e| Error::connect(format!("cannot set the busy timeout: {e}")).with_source(e))?;
    Ok(conn)
}

fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

fn sql_err(e: rusqlite::Error) -> Error {
    Error::source(e.to_string())
}

impl SqliteReader {
    pub fn open(source: &Source) -> Result<SqliteReader> {
        let path = source.local_path()?.to_path_buf();
        let conn = open_read_only(&path)?;
        // One read transaction for every table of the run: a consistent state of the file.
        conn.execute_batch("BEGIN; SELECT count(*) FROM sqlite_schema;")
            .map_err(|e| {
                Error::connect(format!("cannot start a read transaction: {e}")).with_file(&path)
            })?;
        Ok(SqliteReader { path, conn })
    }

    fn tables(&self) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name")
            .map_err(sql_err)?;
        let names = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(sql_err)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(sql_err)?;
        Ok(names)
    }

    /// Columns of a table or view (name, declared type, NOT NULL, primary-key position),
    /// and whether it is a view.
    fn table_columns(&self, table: &str) -> Result<(Vec<DeclaredColumn>, bool)> {
        let kind: Option<String> = self
            .conn
            .query_row(
                "SELECT type FROM sqlite_schema WHERE name = ?1 AND type IN ('table', 'view')",
                [table],
                |r| r.get(0),
            )
            .ok();
        let Some(kind) = kind else {
            let tables = self.tables()?;
            return Err(
                Error::source(format!("there is no table `{table}` in the database"))
                    .with_hint(format!("the tables are: {}", tables.join(", "))),
            );
        };
        let mut stmt = self
            .conn
            .prepare(&format!("PRAGMA table_info({})", quote(table)))
            .map_err(sql_err)?;
        let cols = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?.unwrap_or_default(),
                    r.get::<_, i64>(3)? != 0,
                    r.get::<_, i64>(5)?,
                ))
            })
            .map_err(sql_err)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(sql_err)?;
        Ok((cols, kind == "table"))
    }

    fn indexes(&self, table: &str) -> Result<Vec<IndexSchema>> {
        let mut stmt = self
            .conn
            .prepare(&format!("PRAGMA index_list({})", quote(table)))
            .map_err(sql_err)?;
        let list = stmt
            .query_map([], |r| {
                Ok((r.get::<_, String>(1)?, r.get::<_, i64>(2)? != 0))
            })
            .map_err(sql_err)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(sql_err)?;
        let mut out = Vec::new();
        for (name, unique) in list {
            let mut s = self
                .conn
                .prepare(&format!("PRAGMA index_info({})", quote(&name)))
                .map_err(sql_err)?;
            let cols = s
                .query_map([], |r| r.get::<_, Option<String>>(2))
                .map_err(sql_err)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(sql_err)?
                .into_iter()
                .map(|c| c.unwrap_or_else(|| "<expression>".to_string()))
                .collect();
            out.push(IndexSchema {
                name,
                columns: cols,
                unique,
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// The first storage class of a column's non-NULL values, or `None` if all are NULL.
    fn probe(&self, from_sql: &str, column: &str) -> Result<Option<String>> {
        let sql = format!(
            "SELECT typeof({c}) FROM ({from_sql}) WHERE {c} IS NOT NULL LIMIT 1",
            c = quote(column)
        );
        match self.conn.query_row(&sql, [], |r| r.get::<_, String>(0)) {
            Ok(t) => Ok(Some(t)),
            Err(rusqlite::Error::QueryReturnedNoRows) => Ok(None),
            Err(e) => Err(sql_err(e).with_column(column)),
        }
    }
}

impl SourceReader for SqliteReader {
    fn list_tables(&mut self) -> Result<Vec<String>> {
        self.tables()
    }

    fn consistency(&self) -> String {
        "one SQLite read transaction for all tables (a table read in parallel ranges: one transaction per range)"
            .to_string()
    }

    fn read_table(
        &mut self,
        req: &TableRequest,
        out: &mut TableOutput,
        _ctx: &ReadContext<'_>,
    ) -> Result<TableMeta> {
        // 1. The columns, their declared types and what to read from.
        let (mut cols, base_from, source_object, primary_key, indexes, has_rowid) = match &req.from
        {
            TableFrom::Table(t) => {
                let (info, is_table) = self.table_columns(t)?;
                let mut pk: Vec<(i64, String)> = info
                    .iter()
                    .filter(|c| c.3 > 0)
                    .map(|c| (c.3, c.0.clone()))
                    .collect();
                pk.sort();
                let has_rowid = is_table
                    && self
                        .conn
                        .prepare(&format!("SELECT _rowid_ FROM {} LIMIT 0", quote(t)))
                        .is_ok();
                let cols: Vec<Col> = info
                    .into_iter()
                    .map(|(name, declared, notnull, _)| Col {
                        ty: ColType::Text,
                        name,
                        declared,
                        cast: None,
                        notnull,
                    })
                    .collect();
                let indexes = if is_table {
                    self.indexes(t)?
                } else {
                    Vec::new()
                };
                (
                    cols,
                    quote(t),
                    Some(t.clone()),
                    pk.into_iter().map(|p| p.1).collect(),
                    indexes,
                    has_rowid,
                )
            }
            TableFrom::Query(q) => {
                let stmt = self.conn.prepare(q).map_err(|e| {
                    Error::source(format!("the query does not prepare: {e}"))
                        .with_hint("check the query's SQL (SQLite dialect)")
                })?;
                if !stmt.readonly() {
                    return Err(Error::source(
                        "the query would write to the database; only reads are allowed",
                    ));
                }
                // SQLite counts ATTACH, DETACH and the like as read-only: they return no
                // columns, and are no query to extract.
                if stmt.column_count() == 0 {
                    return Err(Error::source(
                        "the query returns no columns: only a query that reads rows (SELECT, WITH or VALUES) is extracted",
                    ));
                }
                let cols: Vec<Col> = stmt
                    .columns()
                    .iter()
                    .map(|c| Col {
                        name: c.name().to_string(),
                        declared: c.decl_type().unwrap_or("").to_string(),
                        ty: ColType::Text,
                        cast: None,
                        notnull: false,
                    })
                    .collect();
                (cols, format!("({q})"), None, Vec::new(), Vec::new(), false)
            }
        };
        let mut names = std::collections::HashSet::new();
        for c in &cols {
            if !names.insert(c.name.as_str()) {
                return Err(Error::source(format!(
                    "the result has two columns named `{}`",
                    c.name
                ))
                .with_hint("give each column its own name with AS"));
            }
        }
        super::check_casts(req, cols.iter().map(|c| c.name.as_str()))?;
        for c in cols.iter_mut() {
            c.cast = req.casts.get(&c.name).copied();
        }
        let select_list = cols
            .iter()
            .map(|c| quote(&c.name))
            .collect::<Vec<_>>()
            .join(", ");
        let query = format!("SELECT {select_list} FROM {base_from}");

        // 2. How each column is read: a cast reads the raw values as text (or bytes); other
        //    columns start from their declared affinity, or from their first non-NULL value.
        let mut notes: BTreeMap<usize, Vec<String>> = BTreeMap::new();
        #[allow(clippy::needless_range_loop)] // `cols[i]` is updated below
        for i in 0..cols.len() {
            let c = &cols[i];
            let ty = match c.cast {
                Some(cast) => {
                    notes
                        .entry(i)
                        .or_default()
                        .push(format!("cast to {cast} by the spec"));
                    if cast == CastType::Binary {
                        ColType::Bytes
                    } else {
                        ColType::Text
                    }
                }
                None => match type_from_declared(&c.declared) {
                    Some(t) => t,
                    None => match self.probe(&query, &c.name)?.as_deref() {
                        Some("integer") => ColType::Int,
                        Some("real") => ColType::Float,
                        Some("blob") => ColType::Blob,
                        Some(_) => ColType::Text,
                        None => {
                            notes
                                .entry(i)
                                .or_default()
                                .push("every value is NULL".to_string());
                            ColType::Text
                        }
                    },
                },
            };
            cols[i].ty = ty;
        }

        // 3. How to split the read: only when ranges are read at once. A single reader uses
        //    the run's read transaction, so the table is consistent with the others.
        let concurrency = req.partitions.unwrap_or(1).max(1);
        let split_col = match (&req.partition_on, has_rowid) {
            _ if concurrency == 1 => None,
            (Some(c), _) => Some(quote(c)),
            (None, true) => Some("_rowid_".to_string()),
            (None, false) => None,
        };
        let estimate: Option<u64> = if has_rowid {
            self.conn
                .query_row(
                    &format!("SELECT (SELECT max(_rowid_) FROM {base_from}) - (SELECT min(_rowid_) FROM {base_from}) + 1"),
                    [],
                    |r| r.get::<_, Option<i64>>(0),
                )
                .ok()
                .flatten()
                .map(|n| n.max(0) as u64)
        } else {
            None
        };
        let (chunks, partitioning) = match &split_col {
            Some(col) => {
                let (min, max): (Option<i64>, Option<i64>) = self
                    .conn
                    .query_row(
                        &format!("SELECT min({col}), max({col}) FROM {base_from}"),
                        [],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .map_err(|e| {
                        Error::source(format!(
                            "cannot find the range of the partition column: {e}"
                        ))
                        .with_hint("partition_on must name an integer column")
                    })?;
                let nullable = col != "_rowid_"
                    && cols
                        .iter()
                        .find(|c| &quote(&c.name) == col)
                        .is_none_or(|c| !c.notnull);
                let chunks = match (min, max) {
                    (Some(lo), Some(hi)) => {
                        ranges::split(lo.into(), hi.into(), concurrency, nullable)
                    }
                    _ => vec![Chunk::All],
                };
                let n = chunks.len();
                (
                    chunks,
                    Some(Partitioning {
                        column: col.trim_matches('"').to_string(),
                        ranges: n,
                        concurrency,
                    }),
                )
            }
            None => (vec![Chunk::All], None),
        };

        // 4. Read, widening and starting again when a value does not fit.
        let mut restart_reason: Option<String> = None;
        for _attempt in 0..=(cols.len() * 4 + 1) {
            let read_schema = types::out_schema(
                &cols
                    .iter()
                    .map(|c| types::OutColumn::exact(&c.name, c.ty.arrow()))
                    .collect::<Vec<_>>(),
            );
            let out_cols: Vec<types::OutColumn> = cols.iter().map(Col::out).collect();
            let schema = types::out_schema(&out_cols);
            let sender = match restart_reason.take() {
                None => out.start(schema.clone(), estimate)?,
                Some(reason) => out.restart(schema.clone(), estimate, reason)?,
            };
            let casting = cols.iter().any(|c| c.cast.is_some());
            let send = |batch: RecordBatch| -> Result<()> {
                if casting {
                    let mut stats = types::ConformStats::default();
                    sender.send(types::conform(&batch, &out_cols, &schema, &mut stats)?)
                } else {
                    sender.send(batch)
                }
            };
            let widen: Mutex<Vec<(usize, ColType)>> = Mutex::new(Vec::new());
            let seen_all = Mutex::new(vec![0u8; cols.len()]);
            let col_types: Vec<ColType> = cols.iter().map(|c| c.ty).collect();
            let widenable: Vec<bool> = cols.iter().map(|c| c.cast.is_none()).collect();
            let names: Vec<String> = cols.iter().map(|c| c.name.clone()).collect();
            let read_chunk = |chunk: &Chunk, conn: &Connection| -> Result<()> {
                let sql = match chunk.predicate(split_col.as_deref().unwrap_or("_rowid_")) {
                    None => query.clone(),
                    Some(p) => format!("{query} WHERE {p}"),
                };
                match read_rows(
                    conn,
                    &sql,
                    &col_types,
                    &widenable,
                    &names,
                    &read_schema,
                    &send,
                )? {
                    ReadEnd::Done(bits) => {
                        let mut s = seen_all.lock().unwrap_or_else(|p| p.into_inner());
                        for (a, b) in s.iter_mut().zip(bits) {
                            *a |= b;
                        }
                        Ok(())
                    }
                    ReadEnd::Widen(i, t) => {
                        widen.lock().unwrap_or_else(|p| p.into_inner()).push((i, t));
                        Err(Error::new(ErrorKind::Interrupted, "widen"))
                    }
                }
            };
            let result = if split_col.is_none() {
                read_chunk(&Chunk::All, &self.conn)
            } else {
                let path = self.path.clone();
                ranges::run_concurrently(&chunks, concurrency, |chunk| {
                    read_chunk(chunk, &open_read_only(&path)?)
                })
            };
            drop(sender);
            let widen = widen.into_inner().unwrap_or_else(|p| p.into_inner());
            match result {
                Ok(()) => {
                    let seen = seen_all.into_inner().unwrap_or_else(|p| p.into_inner());
                    let columns = cols
                        .iter()
                        .enumerate()
                        .map(|(i, c)| {
                            let mut n = notes.get(&i).cloned().unwrap_or_default();
                            let classes = seen_names(seen[i]);
                            if classes.len() > 1 && c.cast.is_none() {
                                n.push(format!(
                                    "mixed storage classes ({}): stored as {}",
                                    classes.join(", "),
                                    crate::snapshot::manifest::type_name(&c.ty.arrow())
                                ));
                            }
                            ColumnSchema {
                                name: c.name.clone(),
                                source_type: c.declared.clone(),
                                arrow_type: crate::snapshot::manifest::type_name(
                                    &c.out().data_type,
                                ),
                                nullable: !c.notnull,
                                notes: n,
                                ..Default::default()
                            }
                        })
                        .collect();
                    return Ok(TableMeta {
                        source_object: source_object.clone(),
                        query,
                        partitioning,
                        schema: TableSchema {
                            source_object,
                            columns,
                            primary_key,
                            indexes,
                        },
                    });
                }
                Err(e) if e.kind == ErrorKind::Interrupted && !widen.is_empty() => {
                    let mut reasons = Vec::new();
                    for (i, t) in widen {
                        if wider(cols[i].ty, t) == t && cols[i].ty != t {
                            reasons.push(format!(
                                "column {} holds {} values",
                                cols[i].name,
                                describe(t)
                            ));
                            cols[i].ty = t;
                        }
                    }
                    restart_reason = Some(format!(
                        "{}; reading the table again with wider types",
                        reasons.join(", ")
                    ));
                }
                Err(e) => return Err(e),
            }
        }
        Err(Error::internal("a SQLite column kept changing type"))
    }
}

fn describe(t: ColType) -> &'static str {
    match t {
        ColType::Int => "integer",
        ColType::Float => "real",
        ColType::Text => "text",
        _ => "other",
    }
}

/// The wider of two widenable types.
fn wider(a: ColType, b: ColType) -> ColType {
    fn rank(t: ColType) -> u8 {
        match t {
            ColType::Bool => 0,
            ColType::Int => 1,
            ColType::Float => 2,
            ColType::Text => 3,
            ColType::Blob | ColType::Bytes => 4,
        }
    }
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

enum ReadEnd {
    /// Every row was read; the storage classes seen per column.
    Done(Vec<u8>),
    /// Column `i` holds a value that needs type `t`.
    Widen(usize, ColType),
}

/// Per-column Arrow builders.
enum Buf {
    Bool(BooleanBuilder),
    Int(Int64Builder),
    Float(Float64Builder),
    Text(StringBuilder),
    Blob(BinaryBuilder, bool),
}

impl Buf {
    fn new(t: ColType) -> Buf {
        match t {
            ColType::Bool => Buf::Bool(BooleanBuilder::with_capacity(BATCH_ROWS)),
            ColType::Int => Buf::Int(Int64Builder::with_capacity(BATCH_ROWS)),
            ColType::Float => Buf::Float(Float64Builder::with_capacity(BATCH_ROWS)),
            ColType::Text => Buf::Text(StringBuilder::with_capacity(BATCH_ROWS, BATCH_ROWS * 16)),
            ColType::Blob => Buf::Blob(
                BinaryBuilder::with_capacity(BATCH_ROWS, BATCH_ROWS * 16),
                false,
            ),
            ColType::Bytes => Buf::Blob(
                BinaryBuilder::with_capacity(BATCH_ROWS, BATCH_ROWS * 16),
                true,
            ),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Buf::Bool(b) => Arc::new(b.finish()),
            Buf::Int(b) => Arc::new(b.finish()),
            Buf::Float(b) => Arc::new(b.finish()),
            Buf::Text(b) => Arc::new(b.finish()),
            Buf::Blob(b, _) => Arc::new(b.finish()),
        }
    }
}

/// What to do with a value that does not fit its column.
enum Misfit {
    Widen(ColType),
    Fail(Error),
}

fn text_of(bytes: &[u8]) -> std::result::Result<&str, Misfit> {
    std::str::from_utf8(bytes).map_err(|_| {
        Misfit::Fail(
            Error::type_error("the column holds text that is not valid UTF-8")
                .with_hint("cast it to binary: cast = { COLUMN = \"binary\" }"),
        )
    })
}

fn blob_mix() -> Misfit {
    Misfit::Fail(
        Error::type_error("the column holds BLOBs mixed with other values, which no one Arrow type keeps faithfully")
            .with_hint("cast it explicitly: cast = { COLUMN = \"binary\" } or cast = { COLUMN = \"text\" }"),
    )
}

/// Append one value; returns the bytes it added (for batch sizing).
fn append(buf: &mut Buf, v: ValueRef<'_>) -> std::result::Result<usize, Misfit> {
    use ValueRef as V;
    match (buf, v) {
        (Buf::Bool(b), V::Null) => b.append_null(),
        (Buf::Bool(b), V::Integer(i @ (0 | 1))) => b.append_value(i == 1),
        (Buf::Bool(_), V::Integer(_)) => return Err(Misfit::Widen(ColType::Int)),
        (Buf::Bool(_), V::Real(_)) => return Err(Misfit::Widen(ColType::Float)),
        (Buf::Bool(_), V::Text(_)) => return Err(Misfit::Widen(ColType::Text)),
        (Buf::Int(b), V::Null) => b.append_null(),
        (Buf::Int(b), V::Integer(i)) => b.append_value(i),
        (Buf::Int(_), V::Real(_)) => return Err(Misfit::Widen(ColType::Float)),
        (Buf::Int(_), V::Text(_)) => return Err(Misfit::Widen(ColType::Text)),
        (Buf::Float(b), V::Null) => b.append_null(),
        (Buf::Float(b), V::Real(f)) => b.append_value(f),
        (Buf::Float(b), V::Integer(i)) if (-F64_EXACT..=F64_EXACT).contains(&i) => {
            b.append_value(i as f64)
        }
        (Buf::Float(_), V::Integer(_)) | (Buf::Float(_), V::Text(_)) => {
            return Err(Misfit::Widen(ColType::Text))
        }
        (Buf::Text(b), V::Null) => b.append_null(),
        (Buf::Text(b), V::Text(t)) => {
            b.append_value(text_of(t)?);
            return Ok(t.len());
        }
        (Buf::Text(b), V::Integer(i)) => b.append_value(i.to_string()),
        (Buf::Text(b), V::Real(f)) => b.append_value(format!("{f:?}")),
        (Buf::Blob(b, _), V::Null) => b.append_null(),
        (Buf::Blob(b, _), V::Blob(x)) => {
            b.append_value(x);
            return Ok(x.len());
        }
        (Buf::Blob(b, true), V::Text(t)) => {
            b.append_value(t);
            return Ok(t.len());
        }
        (_, _) => return Err(blob_mix()),
    }
    Ok(0)
}

/// Read every row of `sql` into batches of `schema`, handing them to `send` as they fill.
fn read_rows(
    conn: &Connection,
    sql: &str,
    types: &[ColType],
    widenable: &[bool],
    names: &[String],
    schema: &SchemaRef,
    send: &dyn Fn(RecordBatch) -> Result<()>,
) -> Result<ReadEnd> {
    let mut stmt = conn
        .prepare(sql)
        .map_err(|e| Error::source(format!("the query does not prepare: {e}")).with_source(e))?;
    let mut rows = stmt.query([]).map_err(sql_err)?;
    let mut bufs: Vec<Buf> = types.iter().map(|t| Buf::new(*t)).collect();
    let mut seen = vec![0u8; types.len()];
    let (mut n, mut bytes) = (0usize, 0usize);
    let flush = |bufs: &mut Vec<Buf>| -> Result<()> {
        let arrays: Vec<ArrayRef> = bufs.iter_mut().map(Buf::finish).collect();
        send(RecordBatch::try_new(schema.clone(), arrays)?)
    };
    while let Some(row) = rows.next().map_err(sql_err)? {
        for (i, buf) in bufs.iter_mut().enumerate() {
            let v = row.get_ref(i).map_err(sql_err)?;
            seen[i] |= match v {
                ValueRef::Null => 0,
                ValueRef::Integer(_) => SEEN_INT,
                ValueRef::Real(_) => SEEN_REAL,
                ValueRef::Text(_) => SEEN_TEXT,
                ValueRef::Blob(_) => SEEN_BLOB,
            };
            match append(buf, v) {
                Ok(b) => bytes += b,
                Err(Misfit::Widen(t)) if widenable[i] => return Ok(ReadEnd::Widen(i, t)),
                Err(Misfit::Widen(_)) => {
                    unreachable!("cast columns are read as text or bytes, which never widen")
                }
                Err(Misfit::Fail(e)) => {
                    let hint = e.hint.clone().map(|h| h.replace("COLUMN", &names[i]));
                    let e = e.with_column(&names[i]);
                    return Err(match hint {
                        Some(h) => e.with_hint(h),
                        None => e,
                    });
                }
            }
        }
        n += 1;
        if n >= BATCH_ROWS || bytes >= BATCH_BYTES {
            flush(&mut bufs)?;
            n = 0;
            bytes = 0;
        }
    }
    if n > 0 {
        flush(&mut bufs)?;
    }
    Ok(ReadEnd::Done(seen))
}
