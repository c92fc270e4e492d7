//! The two JSON documents of a snapshot run: `manifest.json` (what was extracted, from where,
//! and the xxh3 of every file) and `schema.json` (the source's own description of the
//! tables: declared types, keys, indexes).
//!
//! Both are versioned by [`FORMAT_VERSION`]; a reader refuses a version it does not know.

use std::collections::BTreeMap;

use arrow::datatypes::{DataType, Schema};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The snapshot format version written into `manifest.json`, `schema.json` and `_table.json`.
pub const FORMAT_VERSION: u32 = 1;

/// `manifest.json`: written last; its presence marks the run complete.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub format_version: u32,
    pub tool: String,
    pub tool_version: String,
    pub run_id: String,
    pub side: String,
    pub source: SourceInfo,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// When an interrupted run was finished with `--resume`, the times it was resumed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resumed_at: Vec<DateTime<Utc>>,
    /// How consistent the tables are with each other (one transaction, per table, ...).
    pub consistency: String,
    pub tables: BTreeMap<String, TableManifest>,
}

/// Where the data came from. The URL never carries a password.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SourceInfo {
    pub kind: SourceKind,
    pub url: String,
}

/// One table of a run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TableManifest {
    /// The table as the source names it (`public.submissions`); absent for query extracts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_object: Option<String>,
    /// The SQL snapdiff ran against the source (before splitting into ranges).
    pub query: String,
    /// How the read was split, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partitioning: Option<Partitioning>,
    pub rows: u64,
    pub arrow_schema: Vec<FieldInfo>,
    pub files: Vec<FileEntry>,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
}

/// How a table's read was split into ranges read concurrently.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Partitioning {
    /// The column (or `ctid`/`rowid`) the ranges are over.
    pub column: String,
    pub ranges: usize,
    pub concurrency: usize,
}

/// One Arrow field, as stored in the manifest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FieldInfo {
    pub name: String,
    pub data_type: String,
    pub nullable: bool,
}

impl FieldInfo {
    pub fn from_schema(schema: &Schema) -> Vec<FieldInfo> {
        schema
            .fields()
            .iter()
            .map(|f| FieldInfo {
                name: f.name().clone(),
                data_type: type_name(f.data_type()),
                nullable: f.is_nullable(),
            })
            .collect()
    }
}

/// A compact, stable name of an Arrow type for manifests and messages:
/// `Timestamp(Microsecond, UTC)`, `List(Int32)`, `Decimal128(12, 2)`.
pub fn type_name(t: &DataType) -> String {
    match t {
        DataType::Timestamp(unit, None) => format!("Timestamp({unit:?})"),
        DataType::Timestamp(unit, Some(tz)) => format!("Timestamp({unit:?}, {tz})"),
        DataType::List(f) | DataType::LargeList(f) => {
            let kind = if matches!(t, DataType::List(_)) {
                "List"
            } else {
                "LargeList"
            };
            format!("{kind}({})", type_name(f.data_type()))
        }
        DataType::Dictionary(k, v) => format!("Dictionary({}, {})", type_name(k), type_name(v)),
        other => other.to_string(),
    }
}

/// One Parquet part file of a table.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileEntry {
    /// Path relative to the run folder, with `/` separators (`orders/part-00000.parquet`).
    pub path: String,
    pub rows: u64,
    pub bytes: u64,
    /// xxh3-64 of the file's bytes, 16 lowercase hex digits.
    pub xxh3: String,
}

/// `schema.json`: the source's description of every table in the run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SchemaDoc {
    pub format_version: u32,
    pub side: String,
    pub source: SourceInfo,
    pub tables: BTreeMap<String, TableSchema>,
}

/// One table's columns, keys and indexes as the source declares them.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TableSchema {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_object: Option<String>,
    pub columns: Vec<ColumnSchema>,
    #[serde(default)]
    pub primary_key: Vec<String>,
    #[serde(default)]
    pub indexes: Vec<IndexSchema>,
}

/// A column: the type the source declares and the Arrow type it was stored as.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ColumnSchema {
    /// The column's name in the snapshot.
    pub name: String,
    /// The source's own name, when the snapshot renamed it (`names = "snake_case"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_name: Option<String>,
    /// The declared type in the source's own words (`numeric(12,2)`, `tinyint(1)`,
    /// `timestamp with time zone`); empty where the source declares none (SQLite).
    pub source_type: String,
    pub arrow_type: String,
    pub nullable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<i32>,
    /// Anything a verifier should know: a cast the spec asked for, SQLite storage
    /// classes that were mixed, MySQL zero dates read as NULL.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IndexSchema {
    pub name: String,
    pub columns: Vec<String>,
    pub unique: bool,
}

/// `<table>/_table.json`: written inside the table's folder before it is renamed into
/// place, so a complete table always carries its own record. `--resume` and the final
/// manifest are built from these.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TableRecord {
    pub format_version: u32,
    pub name: String,
    pub manifest: TableManifest,
    pub schema: TableSchema,
}

/// The kinds of source snapdiff reads (recorded in each run's manifest; the readers are
/// in the `extract` module).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// `sqlite://PATH`: a SQLite database file, opened read-only.
    Sqlite,
    /// `postgresql://…` or `postgres://…`, read through connectorx.
    Postgres,
    /// `mysql://…` (also `mariadb://…`), read through connectorx.
    Mysql,
    /// A Parquet, CSV or NDJSON file, a folder of them, or a glob, read through DataFusion.
    Files,
    /// `files://DIR` or `files://ARCHIVE.tar[.gz]`: a tree of stored files (uploads,
    /// attachments) snapshotted as one table of path, size, SHA-256 and xxh3.
    Blobs,
}

impl std::fmt::Display for SourceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SourceKind::Sqlite => "sqlite",
            SourceKind::Postgres => "postgresql",
            SourceKind::Mysql => "mysql",
            SourceKind::Files => "files",
            SourceKind::Blobs => "blobs",
        })
    }
}
