//! One entity (or query check): both sides' SQL normalised into two views with the same
//! columns and one type per column, then the schema, count, hash, diff and aggregate
//! checks over them.
//!
//! Each view holds the key columns, the compared columns, `__part` (the partition) and
//! `__h` (the row hash of key and compared columns, tolerance columns left out). Views
//! are plain DataFusion views: nothing is materialised but the diff's candidate rows.
//! In one process the diff starts with the matching pass ([`super::matching`]), which
//! pairs the target's rows with the legacy side's by key and row hash and holds the
//! unpaired ones, or, where its table does not fit the budget, the narrow pass
//! ([`super::buckets`]), which proves most rows equal without a join; only the rows of
//! differing keys are read again and diffed. On a cluster it diffs the views,
//! restricted to the differing key hashes.
//!
//! The views and the diff agree on what "equal" means: values are brought to one type
//! before either hashes or compares them (exact casts only: integers widened, decimals
//! at the larger scale, floats with -0.0 as 0.0 and one NaN; timestamps at microseconds,
//! the row hash's unit, and instants in UTC), so a partition whose digests match holds
//! no row the diff would call changed.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Schema, TimeUnit};
use datafusion::prelude::SessionContext;

use super::buckets::{self, BucketPass, InBuckets};
use super::diff_files::{self, DiffError, DiffWriter};
use super::sql::{self, ident, key_match};
use super::VerifyOptions;
use super::{key_order, matching, stream};
use crate::error::{Error, Result};
use crate::normalize::rules::{lit, Tolerance};
use crate::normalize::text::Texts;
use crate::report::{
    AggregateDifference, Cell, ChangedRow, CheckOutcome, Diff, DuplicateKey, EntityReport,
    PartitionRow, Partitions, Row, Status,
};
use crate::spec::{EntityDef, Thresholds};

/// How a column is brought to one type on both sides.
#[derive(Debug, Clone, PartialEq)]
enum Harmony {
    /// Both kept as they are.
    Keep,
    /// Both cast, exactly, to this type.
    Cast(DataType),
    /// Floats: both as Float64 (a Float32 through its shortest text), with -0.0 read
    /// as 0.0 and every NaN as one.
    Float,
    /// Both compared as exact decimals at scale 10 (`sd_numeric`).
    Numeric,
    Incomparable(String),
}

fn is_text(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

fn is_number(t: &DataType) -> bool {
    t.is_integer() || t.is_floating() || matches!(t, DataType::Decimal128(_, _))
}

/// The one type a column takes on both sides, where no value can change.
fn harmonize(l: &DataType, r: &DataType) -> Harmony {
    use DataType::*;
    // Timestamps and times at microseconds, as the row hash (v1) encodes them: a finer
    // unit would let the diff see differences the digests cannot.
    let ts = |tz: &Option<std::sync::Arc<str>>| {
        Timestamp(TimeUnit::Microsecond, tz.as_ref().map(|_| "UTC".into()))
    };
    match (l, r) {
        // Same kinds, canonical representations: instants in UTC.
        (Timestamp(_, a), Timestamp(_, b)) if a.is_some() == b.is_some() => Harmony::Cast(ts(a)),
        (Timestamp(_, None), Timestamp(_, Some(_))) => {
            Harmony::Incomparable("legacy holds wall-clock times and target instants: give legacy a `timezone` rule".into())
        }
        (Timestamp(_, Some(_)), Timestamp(_, None)) => {
            Harmony::Incomparable("legacy holds instants and target wall-clock times: give target a `timezone` rule".into())
        }
        (Time32(_) | Time64(_), Time32(_) | Time64(_)) => Harmony::Cast(Time64(TimeUnit::Microsecond)),
        (Date32 | Date64, Date32 | Date64) => Harmony::Cast(Date32),
        (Float32 | Float64, Float32 | Float64) => Harmony::Float,
        (a, b) if a == b => Harmony::Keep,
        (Null, other) | (other, Null) => Harmony::Cast(other.clone()),
        (a, b) if is_text(a) && is_text(b) => Harmony::Cast(Utf8),
        (Binary | LargeBinary | BinaryView, Binary | LargeBinary | BinaryView) => Harmony::Cast(Binary),
        // Numbers: exact where a common type exists, else exact decimals at scale 10.
        (a, b) if a.is_integer() && b.is_integer() => {
            if *a == UInt64 || *b == UInt64 {
                Harmony::Cast(Decimal128(38, 0))
            } else {
                Harmony::Cast(Int64)
            }
        }
        (Decimal128(_, s1), Decimal128(_, s2)) => Harmony::Cast(Decimal128(38, *s1.max(s2))),
        (Decimal128(_, s), i) | (i, Decimal128(_, s)) if i.is_integer() => Harmony::Cast(Decimal128(38, *s)),
        (a, b) if is_number(a) && is_number(b) => Harmony::Numeric,
        (Boolean, _) | (_, Boolean) => {
            Harmony::Incomparable(format!("legacy {l} and target {r} differ: give both sides the `bool` rule"))
        }
        (a, b) if is_number(a) && is_text(b) || is_text(a) && is_number(b) => Harmony::Incomparable(format!(
            "legacy {l} and target {r} differ: give both sides the `numeric` rule to compare them as numbers"
        )),
        _ => Harmony::Incomparable(format!(
            "legacy {} and target {} cannot be compared: normalise them to one type",
            crate::snapshot::manifest::type_name(l),
            crate::snapshot::manifest::type_name(r)
        )),
    }
}

/// `expr` (of type `from`) brought to the column's one type.
fn wrap(expr: &str, h: &Harmony, from: &DataType) -> String {
    match h {
        Harmony::Keep | Harmony::Incomparable(_) => expr.to_string(),
        Harmony::Cast(t) => format!("arrow_cast({expr}, {})", lit(&t.to_string())),
        Harmony::Float => {
            // A Float32 through its shortest text, so 0.1f32 becomes 0.1, not
            // 0.10000000149011612 (against a Float64 0.1 it must be equal).
            let v = if *from == DataType::Float32 {
                format!("arrow_cast(arrow_cast({expr}, 'Utf8'), 'Float64')")
            } else {
                format!("arrow_cast({expr}, 'Float64')")
            };
            // DataFusion compares floats by total order (-0.0 = 0 is false): test abs().
            format!("CASE WHEN isnan({v}) THEN arrow_cast('NaN', 'Float64') WHEN abs({v}) = 0 THEN arrow_cast(0, 'Float64') ELSE {v} END")
        }
        Harmony::Numeric => format!("sd_numeric({expr})"),
    }
}

/// Every row of `batches` as (column, value as text) pairs; `hide_internal` leaves out
/// the checks' own `__` columns.
pub(crate) fn rows(batches: &[RecordBatch], hide_internal: bool) -> Vec<Row> {
    let mut out = Vec::new();
    for b in batches {
        let schema = b.schema();
        let shown: Vec<(usize, &String)> = schema
            .fields()
            .iter()
            .map(|f| f.name())
            .enumerate()
            .filter(|(_, n)| !(hide_internal && n.starts_with("__")))
            .collect();
        // One formatter a column, for all of the batch's rows.
        let texts: Vec<(&String, Texts)> = shown
            .iter()
            .map(|(i, n)| (*n, Texts::new(b.column(*i).as_ref())))
            .collect();
        for r in 0..b.num_rows() {
            out.push(
                texts
                    .iter()
                    .map(|(n, t)| ((*n).clone(), t.get(r)))
                    .collect(),
            );
        }
    }
    out
}

/// A value as text (`None` for NULL), as Arrow displays it (a date beyond chrono's
/// years as its number of days).
fn cell(batch: &RecordBatch, col: usize, row: usize) -> Option<String> {
    crate::normalize::text::value_text(batch.column(col).as_ref(), row)
}

fn u64_cell(batch: &RecordBatch, col: &str, row: usize) -> u64 {
    let Ok(idx) = batch.schema().index_of(col) else {
        return 0;
    };
    let a = batch.column(idx);
    if a.is_null(row) {
        return 0;
    }
    match a.data_type() {
        DataType::Int64 => a
            .as_primitive::<arrow::datatypes::Int64Type>()
            .value(row)
            .max(0) as u64,
        DataType::UInt64 => a.as_primitive::<arrow::datatypes::UInt64Type>().value(row),
        _ => cell(batch, idx, row)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0),
    }
}

/// User SQL embedded as a subquery: one statement, a trailing `;` dropped, and the
/// closing parenthesis on its own line so that a trailing `-- comment` cannot swallow it.
pub fn subquery(sql: &str) -> String {
    format!("({}\n)", without_final_semicolons(sql.trim()))
}

/// `sql` without the semicolons that end it, and the comments after them.
fn without_final_semicolons(sql: &str) -> &str {
    use datafusion::sql::sqlparser::dialect::GenericDialect;
    use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
    let Ok(tokens) = Tokenizer::new(&GenericDialect {}, sql).tokenize_with_location() else {
        return sql.trim_end_matches(';').trim_end();
    };
    let mut cut = None;
    for t in tokens.iter().rev() {
        match t.token {
            Token::Whitespace(_) => {}
            Token::SemiColon => cut = Some(t.span.start),
            _ => break,
        }
    }
    let Some(at) = cut else { return sql };
    // The location is a 1-based line and character column.
    let mut offset = 0;
    for (n, line) in sql.split_inclusive('\n').enumerate() {
        if n + 1 == at.line as usize {
            let col = line
                .char_indices()
                .nth(at.column.saturating_sub(1) as usize)
                .map_or(line.len(), |(i, _)| i);
            return sql[..offset + col].trim_end();
        }
        offset += line.len();
    }
    sql
}

/// Duplicate keys held in memory to copy to the target side when every digest is equal;
/// beyond this many the target's are queried.
/// A diff file being written, and the rows each of its queries added.
struct OpenDiff {
    kind: &'static str,
    writer: DiffWriter,
    rows: Vec<u64>,
}

/// How a round of the diff runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Round {
    /// Plan the queries and create the files; run nothing.
    Plan,
    /// Run over the views, key counts as subqueries.
    Views,
    /// Run over candidate tables, each side's key counts computed once and held.
    Held,
}

/// The largest share of differing buckets for which the fetch of candidate rows pushes
/// its filter into the Parquet scan. At two buckets a row ([`buckets::choose_bits`]), 1%
/// of the buckets hold about 2.5% of the rows.
const PUSHDOWN_MAX_SHARE: f64 = 0.01;

/// The diff files of one entity, opened as the diff's rounds first use them.
#[derive(Default)]
struct DiffFiles {
    writers: Vec<OpenDiff>,
}

/// The schema of candidate tables: text and binary views as plain arrays.
pub(crate) fn plain_schema(schema: &Schema) -> arrow::datatypes::SchemaRef {
    Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                DataType::Utf8View => f.as_ref().clone().with_data_type(DataType::Utf8),
                DataType::BinaryView => f.as_ref().clone().with_data_type(DataType::Binary),
                _ => f.as_ref().clone(),
            })
            .collect::<Vec<_>>(),
    ))
}

/// Batches of about 8192 rows, text and binary views copied out as plain arrays
/// (`schema`, from [`plain_schema`]), built as the batches arrive. A filter keeps a few
/// rows of each scanned batch, and their views would hold every buffer of the scan alive
/// (and be counted whole by the joins' memory accounting): each batch is cast to plain
/// arrays when it arrives, so only the rows kept stay in memory (collecting a whole
/// fetch first held 3.3 GB for 40,000 candidate rows of TPC-H SF10).
pub(crate) struct Compactor {
    schema: arrow::datatypes::SchemaRef,
    group: Vec<RecordBatch>,
    rows: usize,
    out: Vec<RecordBatch>,
}

impl Compactor {
    pub(crate) fn new(schema: arrow::datatypes::SchemaRef) -> Self {
        Compactor {
            schema,
            group: Vec::new(),
            rows: 0,
            out: Vec::new(),
        }
    }

    /// The schema of the batches it makes.
    pub(crate) fn schema(&self) -> &arrow::datatypes::SchemaRef {
        &self.schema
    }

    pub(crate) fn push(
        &mut self,
        b: &RecordBatch,
    ) -> std::result::Result<(), arrow::error::ArrowError> {
        if b.num_rows() == 0 {
            return Ok(());
        }
        self.rows += b.num_rows();
        self.group.push(diff_files::cast_to(&self.schema, b)?);
        // Batches of about 8192 rows, each owning its buffers (never slices of a larger
        // one, which the memory accounting would count whole, once per slice).
        if self.rows >= 8192 {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> std::result::Result<(), arrow::error::ArrowError> {
        if !self.group.is_empty() {
            self.out
                .push(arrow::compute::concat_batches(&self.schema, &self.group)?);
            self.group.clear();
            self.rows = 0;
        }
        Ok(())
    }

    pub(crate) fn finish(
        mut self,
    ) -> std::result::Result<Vec<RecordBatch>, arrow::error::ArrowError> {
        self.flush()?;
        Ok(self.out)
    }
}

/// The digest rows (as digest.sql returns them) of one unpartitioned entity whose
/// digests the narrow pass computed.
fn digest_batch(pass: &BucketPass) -> Result<Vec<RecordBatch>> {
    use arrow::array::{BooleanArray, Int64Array, StringArray};
    use arrow::datatypes::Field;
    if pass.legacy.rows == 0 && pass.target.rows == 0 {
        return Ok(Vec::new());
    }
    let equal = pass.legacy == pass.target && pass.differing_buckets == 0;
    let schema = Arc::new(Schema::new(vec![
        Field::new("null_partition", DataType::Boolean, false),
        Field::new("partition", DataType::Utf8, true),
        Field::new("legacy_rows", DataType::Int64, true),
        Field::new("target_rows", DataType::Int64, true),
        Field::new("equal", DataType::Boolean, false),
    ]));
    let b = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(BooleanArray::from(vec![false])),
            Arc::new(StringArray::from(vec!["all"])),
            Arc::new(Int64Array::from(vec![pass.legacy.rows as i64])),
            Arc::new(Int64Array::from(vec![pass.target.rows as i64])),
            Arc::new(BooleanArray::from(vec![equal])),
        ],
    )
    .map_err(|e| Error::internal(format!("cannot build the digest row: {e}")))?;
    Ok(vec![b])
}

/// A batch of changed.sql (keys, `__c{i}_l`/`__c{i}_t` pairs, `__c{i}_d` flags,
/// `__partition`) as the changed file holds it: keys, `legacy__<c>`/`target__<c>`
/// pairs, `__differs` (the columns that differ) and, for a partitioned entity,
/// `__partition`. Counts the rows each column differs in.
fn changed_batch(
    b: RecordBatch,
    nkeys: usize,
    names: &[String],
    keep_partition: bool,
    per_column: &mut [u64],
) -> Result<RecordBatch> {
    use arrow::array::{ListBuilder, StringBuilder};
    use arrow::datatypes::Field;
    let schema = b.schema();
    let mut fields: Vec<Field> = Vec::new();
    let mut cols: Vec<arrow::array::ArrayRef> = Vec::new();
    for i in 0..nkeys {
        fields.push(schema.field(i).clone());
        cols.push(b.column(i).clone());
    }
    for (i, c) in names.iter().enumerate() {
        for (j, side) in ["legacy", "target"].iter().enumerate() {
            let at = nkeys + 2 * i + j;
            fields.push(schema.field(at).clone().with_name(format!("{side}__{c}")));
            cols.push(b.column(at).clone());
        }
    }
    let flags_at = nkeys + 2 * names.len();
    let mut list = ListBuilder::new(StringBuilder::new());
    for r in 0..b.num_rows() {
        for (i, c) in names.iter().enumerate() {
            let f = b.column(flags_at + i).as_boolean();
            if f.is_valid(r) && f.value(r) {
                list.values().append_value(c);
                per_column[i] += 1;
            }
        }
        list.append(true);
    }
    let list = list.finish();
    fields.push(Field::new("__differs", list.data_type().clone(), false));
    cols.push(Arc::new(list));
    if keep_partition {
        let at = flags_at + names.len();
        fields.push(schema.field(at).clone());
        cols.push(b.column(at).clone());
    }
    RecordBatch::try_new(Arc::new(arrow::datatypes::Schema::new(fields)), cols)
        .map_err(|e| Error::internal(format!("cannot shape the changed rows: {e}")))
}

/// The state of one entity while it is verified.
pub(crate) struct EntityRun<'a> {
    /// Where the checks' queries run: this process, or a Ballista cluster.
    ctx: &'a SessionContext,
    /// Where what only this process holds is queried (the diff files, rows held in
    /// memory): `ctx` itself unless the checks run on a cluster.
    local: &'a SessionContext,
    def: &'a EntityDef,
    opts: &'a VerifyOptions,
    legacy_view: String,
    target_view: String,
    /// Each side's source SQL (with its filter), for attributing errors to columns.
    sources: [(String, String); 2],
    key: Vec<String>,
    compared: Vec<String>,
    tolerance: Vec<(String, Tolerance)>,
    numeric: BTreeSet<String>,
    binary: BTreeSet<String>,
    /// Compared columns of date and time types (shown through `sd_text`, which never
    /// fails on a year beyond chrono's).
    temporal: BTreeSet<String>,
    /// Compared columns of nested types (lists, structs, maps).
    nested: BTreeSet<String>,
    /// Compared columns held as Float64 in the views.
    floats: BTreeSet<String>,
    /// The partitions whose digests differ; `None` when the diff covers every partition.
    scope_parts: Option<Vec<Option<String>>>,
    totals_known: bool,
    /// Every partition's digest is equal: the hashed columns are proven equal.
    digests_equal: bool,
    /// The digest query's result (digest.sql), when the hash check runs: the count
    /// check reads its per-partition counts from it rather than scanning again.
    digests: Option<Vec<RecordBatch>>,
    /// The diff check runs (and the entity has a key).
    diff_follows: bool,
    /// The narrow pass, when the digests came from it: the diff reuses it.
    buckets: Option<BucketPass>,
    /// About how many bytes a row of the views takes in memory.
    row_bytes: u64,
    report: EntityReport,
}

/// The registered table names of a side, for hints.
fn tables_of(ctx: &SessionContext, side: &str) -> Vec<String> {
    ctx.catalog("datafusion")
        .and_then(|c| c.schema(side))
        .map(|s| {
            let mut t = s.table_names();
            t.sort();
            t
        })
        .unwrap_or_default()
}

/// On a cluster, the most differing key hashes the diff's views list literally
/// ([`EntityRun::differing_key_views`]); with more, each diff query finds them again.
const LISTED_KEY_HASHES: usize = 10_000;

/// The names of snapdiff's normalisation functions, as their errors start.
const RULE_ERRORS: [&str; 7] = [
    "json:",
    "parse:",
    "bool:",
    "numeric:",
    "round:",
    "timezone:",
    "sd_",
];

/// Verify one entity.
pub(crate) async fn run_entity(
    ctx: &SessionContext,
    local: &SessionContext,
    def: &EntityDef,
    opts: &VerifyOptions,
) -> Result<EntityReport> {
    let report = EntityReport {
        name: def.name.clone(),
        kind: def.kind.to_string(),
        key: def.key.clone(),
        compared: Vec::new(),
        legacy_only: Vec::new(),
        target_only: Vec::new(),
        tolerance_columns: Vec::new(),
        status: Status::Pass,
        legacy_rows: 0,
        target_rows: 0,
        schema_findings: Vec::new(),
        partitions: None,
        diff: None,
        aggregate_differences: Vec::new(),
        checks: Vec::new(),
        thresholds: def.thresholds,
        diff_files: Vec::new(),
    };
    let src = |sql: &str, filter: &Option<String>| match filter {
        Some(f) => format!("SELECT * FROM {} AS s WHERE {f}\n", subquery(sql)),
        None => format!("SELECT * FROM {} AS s", subquery(sql)),
    };
    let mut run = EntityRun {
        ctx,
        local,
        def,
        opts,
        legacy_view: format!("__sd_{}_legacy", def.name),
        target_view: format!("__sd_{}_target", def.name),
        sources: [
            ("legacy".into(), src(&def.legacy_sql, &def.legacy_filter)),
            ("target".into(), src(&def.target_sql, &def.target_filter)),
        ],
        key: def.key.clone(),
        compared: Vec::new(),
        tolerance: Vec::new(),
        numeric: BTreeSet::new(),
        binary: BTreeSet::new(),
        temporal: BTreeSet::new(),
        nested: BTreeSet::new(),
        floats: BTreeSet::new(),
        scope_parts: None,
        totals_known: false,
        digests_equal: false,
        digests: None,
        diff_follows: false,
        buckets: None,
        row_bytes: 64,
        report,
    };
    let clock = Instant::now();
    run.build_views().await?;
    let enabled = |c: &str| def.checks.iter().any(|x| x == c);
    let findings = run.report.schema_findings.clone();
    let (status, summary) = if findings.is_empty() {
        (
            Status::Pass,
            format!(
                "{} key and {} compared columns comparable",
                run.key.len(),
                run.compared.len()
            ),
        )
    } else {
        (Status::Fail, findings.join("; "))
    };
    // The schema check always runs, whatever `checks` says: it costs no data, and a
    // column that cannot be compared must never drop out of a verification unseen.
    run.push("schema", status, summary, clock);

    let multiset = def.kind == "query" && def.key.is_empty();
    let diff_follows = enabled("diff") && !def.key.is_empty();
    run.diff_follows = diff_follows;
    if !run.tolerance.is_empty() && !diff_follows {
        let cols: Vec<&str> = run.tolerance.iter().map(|(c, _)| c.as_str()).collect();
        return Err(run
            .fail(format!(
                "columns {} have a tolerance, which only the diff check applies (they are \
                 left out of the digests), but `checks` leaves the diff out",
                cols.join(", ")
            ))
            .with_hint("add \"diff\" to the entity's checks, or drop the tolerance"));
    }
    if enabled("count") {
        let clock = Instant::now();
        if enabled("hash") && !multiset {
            run.run_digests().await?;
        }
        run.check_count(clock, diff_follows || multiset).await?;
    }
    // The diff covers every partition unless the hash check proves some equal.
    let mut diff_needed = true;
    if multiset {
        let clock = Instant::now();
        run.check_multiset(clock).await?;
        diff_needed = false;
    } else if enabled("hash") {
        let clock = Instant::now();
        diff_needed = run.check_hash(clock, diff_follows).await?;
    }
    if !run.totals_known {
        run.count_totals().await?;
    }
    if diff_follows {
        let clock = Instant::now();
        run.check_diff(diff_needed, clock).await?;
    }
    if enabled("aggregate") && def.kind == "entity" {
        let clock = Instant::now();
        run.check_aggregate(clock).await?;
    }
    run.report.status = if run.report.checks.iter().any(|c| c.status == Status::Fail) {
        Status::Fail
    } else {
        Status::Pass
    };
    Ok(run.report)
}

impl<'a> EntityRun<'a> {
    fn fail(&self, msg: impl Into<String>) -> Error {
        Error::source(format!(
            "{} {}: {}",
            self.def.kind,
            self.def.name,
            msg.into()
        ))
    }

    fn push(&mut self, check: &str, status: Status, summary: String, clock: Instant) {
        self.report.checks.push(CheckOutcome {
            check: check.to_string(),
            status,
            summary,
            seconds: clock.elapsed().as_secs_f64(),
        });
    }

    fn thresholds(&self) -> Thresholds {
        self.def.thresholds
    }

    fn debug(&self, sql: &str) {
        if std::env::var_os("SNAPDIFF_DEBUG_SQL").is_some() {
            eprintln!("-- {} {}\n{sql};", self.def.kind, self.def.name);
        }
    }

    async fn query(&self, sql: &str) -> Result<Vec<RecordBatch>> {
        self.query_in(self.ctx, sql).await
    }

    /// [`Self::query`] in `ctx` (the checks' session, or the local one).
    async fn query_in(&self, ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>> {
        self.debug(sql);
        let run = async { crate::query::sql(ctx, sql).await?.collect().await };
        match run.await {
            Ok(b) => Ok(b),
            Err(e) => Err(self.explain_in(ctx, e).await),
        }
    }

    /// An error of a check, attributed to the column whose normalisation raised it when
    /// it came from one of snapdiff's rules.
    async fn explain(&self, e: datafusion::error::DataFusionError) -> Error {
        self.explain_in(self.ctx, e).await
    }

    /// [`Self::explain`] for a query that ran in `ctx`: when that is a cluster's session,
    /// the hint says so.
    async fn explain_in(
        &self,
        ctx: &SessionContext,
        e: datafusion::error::DataFusionError,
    ) -> Error {
        let text = e.to_string();
        if RULE_ERRORS.iter().any(|p| text.contains(p)) {
            for (side, source) in &self.sources {
                for (c, rules) in &self.def.normalize {
                    let r = if side == "legacy" {
                        &rules.legacy
                    } else {
                        &rules.target
                    };
                    if r.is_empty() {
                        continue;
                    }
                    let probe =
                        format!("SELECT count({}) FROM ({source}) AS s", r.apply(&ident(c)));
                    let failed = match crate::query::sql(self.ctx, &probe).await {
                        Ok(df) => df.collect().await.is_err(),
                        Err(_) => true,
                    };
                    if failed {
                        return self
                            .fail(format!(
                                "normalising {side} column {c} ({}): {}",
                                r.describe(),
                                text.trim()
                            ))
                            .with_column(c.clone());
                    }
                }
            }
        }
        let e = self.fail(text);
        if self.opts.engine.is_distributed() && std::ptr::eq(ctx, self.ctx) {
            e.with_hint(crate::cluster::failed_query_hint(&self.opts.engine))
        } else {
            e
        }
    }

    async fn count(&self, sql: &str) -> Result<u64> {
        let b = self
            .query(&format!("SELECT count(*) AS n FROM ({sql}) AS c"))
            .await?;
        Ok(b.first().map(|b| u64_cell(b, "n", 0)).unwrap_or(0))
    }

    fn rows(batches: &[RecordBatch]) -> Vec<Row> {
        rows(batches, true)
    }

    fn keys_list(&self, prefix: &str) -> String {
        self.key
            .iter()
            .map(|k| format!("{prefix}{}", ident(k)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The predicate that a row of table `prefix` is in a partition being diffed.
    fn scope(&self, prefix: &str) -> String {
        let Some(parts) = &self.scope_parts else {
            return "true".into();
        };
        let col = format!("{prefix}__part");
        let mut preds = Vec::new();
        let texts: Vec<String> = parts.iter().flatten().map(|p| lit(p)).collect();
        if !texts.is_empty() {
            preds.push(format!("CAST({col} AS VARCHAR) IN ({})", texts.join(", ")));
        }
        if parts.iter().any(Option::is_none) {
            preds.push(format!("{col} IS NULL"));
        }
        if preds.is_empty() {
            "false".into()
        } else {
            format!("({})", preds.join(" OR "))
        }
    }

    /// The columns a side's SQL returns; an error names the side's tables.
    async fn side_schema(&self, side: &str, sql: &str) -> Result<Schema> {
        self.debug(sql);
        match crate::query::sql(self.ctx, sql).await {
            Ok(df) => Ok(df.schema().as_arrow().clone()),
            Err(e) => {
                let tables = tables_of(self.ctx, side);
                Err(self.fail(format!("the {side} SQL fails: {e}")).with_hint(
                    if tables.is_empty() {
                        format!("the {side} snapshot has no tables")
                    } else {
                        format!(
                            "the {side} tables are: {}",
                            tables
                                .iter()
                                .map(|t| format!("{side}.{t}"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    },
                ))
            }
        }
    }

    /// Resolve columns and types, and register the two normalised views.
    async fn build_views(&mut self) -> Result<()> {
        let def = self.def;
        let (lsrc, tsrc) = (self.sources[0].1.clone(), self.sources[1].1.clone());
        let ls: Schema = self.side_schema("legacy", &lsrc).await?;
        let ts: Schema = self.side_schema("target", &tsrc).await?;
        let names = |s: &Schema| {
            s.fields()
                .iter()
                .map(|f| f.name().clone())
                .collect::<Vec<String>>()
        };
        let (lnames, tnames) = (names(&ls), names(&ts));
        for (side, cols) in [("legacy", &lnames), ("target", &tnames)] {
            let mut seen = BTreeSet::new();
            for c in cols {
                if !seen.insert(c) {
                    return Err(self
                        .fail(format!("the {side} SQL returns two columns named `{c}`"))
                        .with_hint("name each column once (AS)"));
                }
                if c.starts_with("__") {
                    return Err(self
                        .fail(format!("the {side} SQL returns a column named `{c}`: names starting with `__` are snapdiff's"))
                        .with_hint("rename it with AS"));
                }
            }
            for k in &def.key {
                if !cols.contains(k) {
                    return Err(self
                        .fail(format!(
                            "key column `{k}` is not among the {side} columns ({})",
                            cols.join(", ")
                        ))
                        .with_hint(
                            "the key names columns of both sides' SQL; rename them there (AS)",
                        ));
                }
            }
        }
        for c in def.normalize.keys() {
            if !lnames.contains(c) && !tnames.contains(c) {
                return Err(self
                    .fail(format!(
                        "`normalize` names column `{c}`, which neither side has"
                    ))
                    .with_hint(format!("the legacy columns are {}", lnames.join(", "))));
            }
        }
        let nonkey = |cols: &Vec<String>| {
            cols.iter()
                .filter(|c| !def.key.contains(c))
                .cloned()
                .collect::<Vec<String>>()
        };
        let (lnk, tnk) = (nonkey(&lnames), nonkey(&tnames));
        let mut compared: Vec<String> = match &def.columns {
            Some(cols) => {
                let mut out = Vec::new();
                for c in cols {
                    if def.key.contains(c) {
                        return Err(self.fail(format!(
                            "`columns` lists key column `{c}`; key columns are always compared"
                        )));
                    }
                    match (lnk.contains(c), tnk.contains(c)) {
                        (true, true) => out.push(c.clone()),
                        (false, true) => self
                            .report
                            .schema_findings
                            .push(format!("column {c} is missing on the legacy side")),
                        (true, false) => self
                            .report
                            .schema_findings
                            .push(format!("column {c} is missing on the target side")),
                        (false, false) => self
                            .report
                            .schema_findings
                            .push(format!("column {c} is missing on both sides")),
                    }
                }
                out
            }
            None => lnk
                .iter()
                .filter(|c| tnk.contains(c) && !def.ignore.contains(c))
                .cloned()
                .collect(),
        };
        self.report.legacy_only = lnk.iter().filter(|c| !tnk.contains(c)).cloned().collect();
        self.report.target_only = tnk.iter().filter(|c| !lnk.contains(c)).cloned().collect();

        // Normalised expressions, and the types they produce.
        let all: Vec<String> = def.key.iter().chain(compared.iter()).cloned().collect();
        let expr = |side: &str, c: &str| match def.normalize.get(c) {
            Some(r) if side == "legacy" => r.legacy.apply(&ident(c)),
            Some(r) => r.target.apply(&ident(c)),
            None => ident(c),
        };
        let mut types: [Vec<DataType>; 2] = [Vec::new(), Vec::new()];
        for c in &all {
            for (i, (side, source)) in [("legacy", &lsrc), ("target", &tsrc)]
                .into_iter()
                .enumerate()
            {
                let e = expr(side, c);
                let sql = format!("SELECT {e} AS {} FROM ({source}) AS s", ident(c));
                let t = match crate::query::sql(self.ctx, &sql).await {
                    Ok(df) => df.schema().field(0).data_type().clone(),
                    Err(err) => {
                        let rules = def.normalize.get(c).map(|r| {
                            if side == "legacy" {
                                r.legacy.describe()
                            } else {
                                r.target.describe()
                            }
                        });
                        return Err(self
                            .fail(format!(
                                "the normalisation of {side} column {c} ({}) cannot apply: {err}",
                                rules.unwrap_or_default()
                            ))
                            .with_column(c.clone()));
                    }
                };
                types[i].push(t);
            }
        }
        // Bring each column to one type on both sides.
        let mut harmony = Vec::new();
        for (i, c) in all.iter().enumerate() {
            let (lt, tt) = (&types[0][i], &types[1][i]);
            let mut h = harmonize(lt, tt);
            if !matches!(h, Harmony::Incomparable(_))
                && (!crate::normalize::row_hash::hashable(lt)
                    || !crate::normalize::row_hash::hashable(tt))
            {
                h = Harmony::Incomparable(format!(
                    "values of type {} cannot be compared; normalise the column (for example cast it to text when extracting)",
                    crate::snapshot::manifest::type_name(lt)
                ));
            }
            if let Harmony::Incomparable(why) = &h {
                if def.key.contains(c) {
                    return Err(self
                        .fail(format!("key column {c} cannot be compared: {why}"))
                        .with_column(c.clone()));
                }
                self.report
                    .schema_findings
                    .push(format!("column {c} is not compared: {why}"));
            }
            let final_numeric = match &h {
                Harmony::Numeric | Harmony::Float => true,
                Harmony::Cast(t) => is_number(t),
                Harmony::Keep => is_number(lt),
                Harmony::Incomparable(_) => false,
            };
            if final_numeric {
                self.numeric.insert(c.clone());
            }
            let final_binary = match &h {
                Harmony::Cast(t) => matches!(t, DataType::Binary),
                Harmony::Keep => matches!(
                    lt,
                    DataType::Binary | DataType::LargeBinary | DataType::BinaryView
                ),
                _ => false,
            };
            if final_binary {
                self.binary.insert(c.clone());
            }
            let final_temporal = match &h {
                Harmony::Cast(t) => t.is_temporal(),
                Harmony::Keep => lt.is_temporal(),
                _ => false,
            };
            if final_temporal {
                self.temporal.insert(c.clone());
            }
            if matches!(h, Harmony::Float) {
                self.floats.insert(c.clone());
            }
            if matches!(h, Harmony::Keep) && lt.is_nested() {
                self.nested.insert(c.clone());
            }
            harmony.push(h);
        }
        compared.retain(|c| {
            !matches!(
                harmony[all.iter().position(|x| x == c).unwrap_or(0)],
                Harmony::Incomparable(_)
            )
        });
        for (c, r) in &def.normalize {
            if let Some(t) = r.tolerance {
                if !compared.contains(c) {
                    continue;
                }
                if !self.numeric.contains(c) {
                    // Still compared, exactly; the finding fails the schema check.
                    self.report.schema_findings.push(format!(
                        "column {c}: tolerance applies to numbers, not this column (it is compared exactly)"
                    ));
                    continue;
                }
                if def.kind == "query" && def.key.is_empty() {
                    self.report
                        .schema_findings
                        .push(format!("column {c}: tolerance needs a key to match rows; whole rows are compared exactly"));
                    continue;
                }
                self.tolerance.push((c.clone(), t));
            }
        }
        self.compared = compared.clone();
        self.report.compared = compared.clone();
        self.report.tolerance_columns = self.tolerance.iter().map(|(c, _)| c.clone()).collect();

        // The views.
        let in_view: Vec<(usize, &String)> = all
            .iter()
            .enumerate()
            .filter(|(_, c)| def.key.contains(c) || compared.contains(c))
            .collect();
        let hashed: Vec<String> = def
            .key
            .iter()
            .chain(
                compared
                    .iter()
                    .filter(|c| !self.tolerance.iter().any(|(t, _)| t == *c)),
            )
            .map(|c| format!("n.{}", ident(c)))
            .collect();
        let part = def
            .partition_by
            .clone()
            .unwrap_or_else(|| "'all'".to_string());
        let keys_join = match &def.keys_file {
            Some(path) => {
                let table = format!("__sd_{}_keys", def.name);
                self.register_keys_file(&table, path).await?;
                // The file's text is read as the key's (normalised) type.
                let on = def
                    .key
                    .iter()
                    .map(|k| {
                        let i = all.iter().position(|c| c == k).unwrap_or(0);
                        let t = match &harmony[i] {
                            Harmony::Cast(t) => t.clone(),
                            Harmony::Numeric => DataType::Decimal128(38, 10),
                            _ => types[0][i].clone(),
                        };
                        format!(
                            "n.{q} = arrow_cast(kf.{q}, {})",
                            lit(&t.to_string()),
                            q = ident(k)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(" AND ");
                format!("LEFT SEMI JOIN {} AS kf ON {on}", ident(&table))
            }
            None => String::new(),
        };
        let sample = match def.sample {
            Some(s) if s < 1.0 => format!(
                "WHERE sd_row_hash({}) % 1000000 < {}",
                def.key
                    .iter()
                    .map(|k| format!("n.{}", ident(k)))
                    .collect::<Vec<_>>()
                    .join(", "),
                (s * 1_000_000.0).round() as u64
            ),
            _ => String::new(),
        };
        for (s, (side, source, view)) in [
            ("legacy", &lsrc, &self.legacy_view),
            ("target", &tsrc, &self.target_view),
        ]
        .into_iter()
        .enumerate()
        {
            let select = in_view
                .iter()
                .map(|(i, c)| {
                    let e = wrap(&expr(side, c), &harmony[*i], &types[s][*i]);
                    format!("{e} AS {}", ident(c))
                })
                .collect::<Vec<_>>()
                .join(", ");
            let view_sql = format!(
                "CREATE OR REPLACE VIEW {v} AS SELECT n.*, {part} AS __part, sd_row_hash({h}) AS __h \
                 FROM (SELECT {select} FROM ({source}) AS s) AS n {keys_join} {sample}",
                v = ident(view),
                h = hashed.join(", ")
            );
            self.debug(&view_sql);
            crate::query::sql(self.ctx, &view_sql).await.map_err(|e| {
                let msg = self.fail(format!("the {side} view cannot be built: {e}"));
                if def.partition_by.is_some() {
                    msg.with_hint("partition_by uses the entity's key and compared columns, after normalisation")
                } else {
                    msg
                }
            })?;
        }
        // About what a row takes in memory (text and binary values counted at 32 bytes).
        if let Ok(df) = self.ctx.table(self.legacy_view.as_str()).await {
            let bytes: usize = df
                .schema()
                .fields()
                .iter()
                .map(|f| f.data_type().primitive_width().unwrap_or(32))
                .sum();
            self.row_bytes = 16 + bytes as u64;
        }
        if def.keys_file.is_some() {
            let n = self
                .count(&format!(
                    "SELECT 1 FROM {} UNION ALL SELECT 1 FROM {}",
                    ident(&self.legacy_view),
                    ident(&self.target_view)
                ))
                .await?;
            if n == 0 {
                self.report
                    .schema_findings
                    .push("the keys file matches no row on either side".into());
            }
        }
        Ok(())
    }

    async fn register_keys_file(&self, table: &str, path: &std::path::Path) -> Result<()> {
        use datafusion::prelude::CsvReadOptions;
        let loc = path.to_string_lossy().to_string();
        let inferred = self
            .ctx
            // Any file name: `keys.txt` is as good as `keys.csv`.
            .read_csv(
                &loc,
                CsvReadOptions::new().has_header(true).file_extension(""),
            )
            .await
            .map_err(|e| {
                self.fail(format!("cannot read the keys file: {e}"))
                    .with_file(path)
            })?
            .schema()
            .as_arrow()
            .clone();
        for k in &self.def.key {
            if inferred.field_with_name(k).is_err() {
                return Err(self
                    .fail(format!("the keys file has no column `{k}`"))
                    .with_file(path)
                    .with_hint(format!(
                        "its header must name the key columns: {}",
                        self.def.key.join(",")
                    )));
            }
        }
        let text = Schema::new(
            inferred
                .fields()
                .iter()
                .map(|f| arrow::datatypes::Field::new(f.name(), DataType::Utf8, true))
                .collect::<Vec<_>>(),
        );
        self.ctx
            .register_csv(
                table,
                &loc,
                CsvReadOptions::new()
                    .has_header(true)
                    .file_extension("")
                    .schema(&text),
            )
            .await
            .map_err(|e| {
                self.fail(format!("cannot read the keys file: {e}"))
                    .with_file(path)
            })
    }

    /// Row totals of both sides, when no check counted them.
    async fn count_totals(&mut self) -> Result<()> {
        self.report.legacy_rows = self
            .count(&format!("SELECT 1 FROM {}", ident(&self.legacy_view)))
            .await?;
        self.report.target_rows = self
            .count(&format!("SELECT 1 FROM {}", ident(&self.target_view)))
            .await?;
        self.totals_known = true;
        Ok(())
    }

    /// A per-partition template (count.sql, digest.sql) over the two views.
    fn render_views(&self, template: &str) -> Result<String> {
        let (part, group) = if self.partitioned() {
            ("__part", "GROUP BY __part")
        } else {
            ("'all'", "HAVING count(*) > 0")
        };
        sql::render(
            template,
            &[
                ("legacy", &ident(&self.legacy_view)),
                ("target", &ident(&self.target_view)),
                ("part", part),
                ("group", group),
            ],
        )
    }

    /// The per-partition digests (digest.sql), queried once per entity.
    async fn run_digests(&mut self) -> Result<Vec<RecordBatch>> {
        if let Some(d) = &self.digests {
            return Ok(d.clone());
        }
        // Unpartitioned, with a diff to follow: the narrow pass yields the digests too.
        let d = if self.narrow_pass_applies() && !self.partitioned() {
            let pass = self.bucket_pass("true").await?;
            let d = digest_batch(&pass)?;
            self.buckets = Some(pass);
            d
        } else {
            self.query(&self.render_views(sql::DIGEST)?).await?
        };
        self.digests = Some(d.clone());
        Ok(d)
    }

    /// The count check. When the diff (or multiset comparison) follows and no
    /// `max_count_diff` is set, a difference is information: the rows are accounted for
    /// there, under their own thresholds.
    async fn check_count(&mut self, clock: Instant, explained_later: bool) -> Result<()> {
        let batches = match &self.digests {
            Some(d) => d.clone(),
            None => self.query(&self.render_views(sql::COUNT)?).await?,
        };
        let mut parts = Partitions::default();
        let (mut l, mut t, mut diff) = (0u64, 0u64, 0u64);
        for b in &batches {
            for r in 0..b.num_rows() {
                let (ln, tn) = (u64_cell(b, "legacy_rows", r), u64_cell(b, "target_rows", r));
                l += ln;
                t += tn;
                // Summed per partition: rows that moved between partitions count.
                diff += ln.abs_diff(tn);
                parts.total += 1;
                let part = b.schema().index_of("partition").ok();
                parts.rows.push(PartitionRow {
                    partition: part.and_then(|i| cell(b, i, r)),
                    legacy_rows: ln,
                    target_rows: tn,
                    ..Default::default()
                });
            }
        }
        let count_differences = parts
            .rows
            .iter()
            .filter(|p| p.legacy_rows != p.target_rows)
            .count();
        self.report.legacy_rows = l;
        self.report.target_rows = t;
        self.totals_known = true;
        let status = match self.thresholds().max_count_diff {
            Some(max) if diff > max => Status::Fail,
            Some(_) => Status::Pass,
            None if diff == 0 => Status::Pass,
            None if explained_later => Status::Info,
            None => Status::Fail,
        };
        let mut summary = format!("legacy {l} rows, target {t} rows");
        if count_differences > 0 && parts.total > 1 {
            summary.push_str(&format!(
                "; {count_differences} of {} partitions differ in count",
                parts.total
            ));
        }
        self.report.partitions = Some(parts);
        self.push("count", status, summary, clock);
        Ok(())
    }

    /// The digest check. Returns whether any partition needs the row diff; the
    /// partitions it must cover are kept in `scope_parts`.
    async fn check_hash(&mut self, clock: Instant, diff_follows: bool) -> Result<bool> {
        let batches = self.run_digests().await?;
        let mut parts = self.report.partitions.take().unwrap_or_default();
        parts.total = 0;
        parts.equal = 0;
        parts.differing.clear();
        let mut differing: Vec<Option<String>> = Vec::new();
        let (mut l, mut t) = (0u64, 0u64);
        // The partitions the count check listed, by value.
        let index: std::collections::HashMap<Option<String>, usize> = parts
            .rows
            .iter()
            .enumerate()
            .map(|(i, r)| (r.partition.clone(), i))
            .collect();
        for b in &batches {
            let eq = b
                .column_by_name("equal")
                .expect("digest.sql has `equal`")
                .as_boolean()
                .clone();
            let null_part = b
                .column_by_name("null_partition")
                .expect("digest.sql has `null_partition`")
                .as_boolean()
                .clone();
            for r in 0..b.num_rows() {
                let (ln, tn) = (u64_cell(b, "legacy_rows", r), u64_cell(b, "target_rows", r));
                l += ln;
                t += tn;
                parts.total += 1;
                let p = if null_part.value(r) {
                    None
                } else {
                    cell(b, 1, r)
                };
                let equal = eq.value(r);
                match index.get(&p) {
                    Some(&i) => parts.rows[i].digest_equal = Some(equal),
                    None => parts.rows.push(PartitionRow {
                        partition: p.clone(),
                        legacy_rows: ln,
                        target_rows: tn,
                        digest_equal: Some(equal),
                        ..Default::default()
                    }),
                }
                if equal {
                    parts.equal += 1;
                } else {
                    parts
                        .differing
                        .push(p.clone().unwrap_or_else(|| "NULL".into()));
                    differing.push(p);
                }
            }
        }
        if !self.totals_known {
            self.report.legacy_rows = l;
            self.report.target_rows = t;
            self.totals_known = true;
        }
        let n_diff = parts.differing.len();
        let total = parts.total;
        self.digests_equal = n_diff == 0;
        self.report.partitions = Some(parts);
        let tolerance = !self.tolerance.is_empty();
        let mut summary = format!("{n_diff} of {total} partition digests differ");
        if n_diff == 0 {
            summary = format!("all {total} partition digests are equal");
        }
        if tolerance {
            summary.push_str(
                "; columns with a tolerance are left out of digests and compared in the row diff",
            );
        }
        let status = match (n_diff, diff_follows) {
            (0, _) => Status::Pass,
            (_, true) => Status::Info,
            (_, false) => Status::Fail,
        };
        self.push("hash", status, summary, clock);
        if tolerance {
            self.scope_parts = None;
            return Ok(true);
        }
        self.scope_parts = Some(differing);
        Ok(n_diff > 0)
    }

    /// The folder this entity's diff files go to.
    fn diff_dir(&self) -> std::path::PathBuf {
        self.opts
            .diffs_dir
            .as_ref()
            .expect("verify_entities sets a diffs folder")
            .join(&self.def.name)
    }

    fn partitioned(&self) -> bool {
        self.def.partition_by.is_some()
    }

    /// A query as a DataFrame (its errors explained as any check's).
    async fn frame(&self, sql: &str) -> Result<datafusion::prelude::DataFrame> {
        self.frame_in(self.ctx, sql).await
    }

    /// [`Self::frame`] in `ctx` (the checks' session, or the local one).
    async fn frame_in(
        &self,
        ctx: &SessionContext,
        sql: &str,
    ) -> Result<datafusion::prelude::DataFrame> {
        self.debug(sql);
        match crate::query::sql(ctx, sql).await {
            Ok(df) => Ok(df),
            Err(e) => Err(self.explain_in(ctx, e).await),
        }
    }

    /// Append every row of `sql` to `w` (see [`DiffWriter::append`]).
    async fn append(
        &self,
        ctx: &SessionContext,
        w: &mut DiffWriter,
        sql: &str,
        map: impl FnMut(RecordBatch) -> Result<RecordBatch>,
    ) -> Result<u64> {
        let df = self.frame_in(ctx, sql).await?;
        match w.append(df, map).await {
            Ok(r) => Ok(r),
            Err(DiffError::Query(e)) => Err(self.explain_in(ctx, e).await),
            Err(DiffError::Write(e)) => Err(e),
        }
    }

    /// Append the rows of each query in `sqls` to the diff file of `kind` (created, with
    /// the first query's schema after `map`, when first used), adding each query's rows
    /// to the file's counts. With `execute` false the file is created but nothing runs.
    async fn write_diff(
        &self,
        files: &mut DiffFiles,
        kind: &'static str,
        sqls: &[String],
        execute: bool,
        map: impl FnMut(RecordBatch) -> Result<RecordBatch>,
    ) -> Result<()> {
        self.write_diff_in(self.ctx, files, kind, sqls, execute, map)
            .await
    }

    /// [`Self::write_diff`], the queries run in `ctx` (the checks' session, or the local
    /// one).
    async fn write_diff_in(
        &self,
        ctx: &SessionContext,
        files: &mut DiffFiles,
        kind: &'static str,
        sqls: &[String],
        execute: bool,
        mut map: impl FnMut(RecordBatch) -> Result<RecordBatch>,
    ) -> Result<()> {
        let at = match files.writers.iter().position(|f| f.kind == kind) {
            Some(at) => at,
            None => {
                let path = self.diff_dir().join(format!("{kind}.parquet"));
                let first = self.frame_in(ctx, &sqls[0]).await?;
                let empty = RecordBatch::new_empty(Arc::new(first.schema().as_arrow().clone()));
                let writer = DiffWriter::create(&path, map(empty)?.schema())?;
                files.writers.push(OpenDiff {
                    kind,
                    writer,
                    rows: vec![0; sqls.len()],
                });
                files.writers.len() - 1
            }
        };
        if !execute {
            return Ok(());
        }
        for (i, q) in sqls.iter().enumerate() {
            let f = &mut files.writers[at];
            f.rows[i] += self.append(ctx, &mut f.writer, q, &mut map).await?;
        }
        Ok(())
    }

    /// Run `sql` over this entity's diff file of `kind`, which it names `{{file}}`.
    async fn query_diff_file(&self, kind: &str, sql: &str) -> Result<Vec<RecordBatch>> {
        let path = self.diff_dir().join(format!("{kind}.parquet"));
        let table = format!("__sd_diff_{}_{kind}", self.def.name);
        let df = diff_files::read(self.local, &path).await?;
        self.local
            .register_table(&table, df.into_view())
            .map_err(|e| Error::internal(format!("cannot register {table}: {e}")))?;
        let out = self
            .query_in(self.local, &sql.replace("{{file}}", &ident(&table)))
            .await;
        let _ = self.local.deregister_table(&table);
        out
    }

    /// The first `n` rows of a diff file in key order (`filter`: an SQL predicate).
    async fn diff_sample(&self, kind: &str, filter: &str, n: usize) -> Result<Vec<RecordBatch>> {
        let q = format!(
            "SELECT * FROM {{{{file}}}} WHERE {filter} ORDER BY {} LIMIT {n}",
            self.keys_list("")
        );
        self.query_diff_file(kind, &q).await
    }

    /// Rows per partition of a diff file (`__partition`), when the entity is partitioned.
    async fn per_partition(&self, kind: &str) -> Result<Vec<(Option<String>, u64)>> {
        if !self.partitioned() {
            return Ok(Vec::new());
        }
        let batches = self
            .query_diff_file(
                kind,
                "SELECT __partition, count(*) AS n FROM {{file}} GROUP BY __partition",
            )
            .await?;
        let mut out = Vec::new();
        for b in &batches {
            for r in 0..b.num_rows() {
                out.push((cell(b, 0, r), u64_cell(b, "n", r)));
            }
        }
        Ok(out)
    }

    /// Add a diff file's per-partition counts to the partition rows.
    async fn count_per_partition(&mut self, kind: &str) -> Result<()> {
        let counts = self.per_partition(kind).await?;
        let Some(parts) = self.report.partitions.as_mut() else {
            return Ok(());
        };
        let mut index: std::collections::HashMap<Option<String>, usize> = parts
            .rows
            .iter()
            .enumerate()
            .map(|(i, r)| (r.partition.clone(), i))
            .collect();
        for (p, n) in counts {
            let i = *index.entry(p.clone()).or_insert_with(|| {
                parts.rows.push(PartitionRow {
                    partition: p,
                    ..Default::default()
                });
                parts.rows.len() - 1
            });
            let row = &mut parts.rows[i];
            match kind {
                "missing" => row.missing = n,
                "extra" => row.extra = n,
                _ => row.changed = n,
            }
        }
        Ok(())
    }

    /// The diff's first pass over the rows `scope` selects: both sides' digests, and
    /// which key buckets differ. The matching pass ([`matching`]) runs where its table
    /// fits the budget: it also holds the differing target rows and lists the differing
    /// legacy keys, so that only those are read again. Otherwise, or when it gives up,
    /// the narrow pass ([`buckets`]) runs.
    async fn bucket_pass(&mut self, scope: &str) -> Result<BucketPass> {
        if !self.totals_known {
            self.count_totals().await?;
        }
        let rows = self.report.legacy_rows.max(self.report.target_rows);
        let bits = buckets::choose_bits(rows, self.opts.memory_limit / 4);
        let keys = self.keys_list("");
        // SNAPDIFF_FIRST_PASS=table|narrow starts with that pass (to compare them).
        let first = std::env::var("SNAPDIFF_FIRST_PASS").unwrap_or_default();
        let pairs = self.report.legacy_rows.min(self.report.target_rows);
        if (first.is_empty() || first == "stream")
            && pairs * stream::LOG_BYTES_PER_ROW <= self.opts.memory_limit / 8
        {
            if let Some(pass) = self.streaming_pass(scope, bits).await? {
                return Ok(pass);
            }
        }
        let clock = Instant::now();
        let matching_fits =
            matching::table_bytes(self.report.legacy_rows) <= self.opts.memory_limit / 8 * 3;
        if matching_fits && first != "narrow" {
            let l = self
                .frame(&format!(
                    "SELECT sd_row_hash({keys}) AS __sd_kh, __h FROM {} WHERE {scope}",
                    ident(&self.legacy_view)
                ))
                .await?;
            let t = self
                .frame(&format!(
                    "SELECT *, sd_row_hash({keys}) AS __sd_kh FROM {} WHERE {scope}",
                    ident(&self.target_view)
                ))
                .await?;
            let limits = matching::Limits {
                legacy_rows: self.report.legacy_rows,
                hold_bytes: self.opts.memory_limit / 8,
                candidate_bytes: self.opts.memory_limit / 4,
                row_bytes: self.row_bytes,
                bits,
            };
            match matching::run(l, t, limits).await {
                Ok(Some(m)) => {
                    self.debug(&format!(
                        "-- matching pass: {} of {} key buckets differ, {} legacy and {} target rows unpaired, {} ({:.2}s)",
                        m.differing_buckets,
                        1u64 << bits,
                        m.unpaired[0],
                        m.unpaired[1],
                        if m.held.is_some() {
                            "the target's held"
                        } else {
                            "too many to hold"
                        },
                        clock.elapsed().as_secs_f64()
                    ));
                    return Ok(m.into_pass(bits));
                }
                Ok(None) => self.debug(&format!(
                    "-- matching pass gave up: a shard of its table filled up, or a key hash is on thousands of rows ({:.2}s)",
                    clock.elapsed().as_secs_f64()
                )),
                Err(e) => return Err(self.explain(e).await),
            }
        }
        let q = |v: &str| {
            format!(
                "SELECT sd_row_hash({keys}) AS __kh, __h FROM {} WHERE {scope}",
                ident(v)
            )
        };
        let l = self.frame(&q(&self.legacy_view)).await?;
        let t = self.frame(&q(&self.target_view)).await?;
        let clock = Instant::now();
        let pass = match buckets::run(l, t, bits).await {
            Ok(p) => p,
            Err(e) => return Err(self.explain(e).await),
        };
        self.debug(&format!(
            "-- narrow pass: {} of {} key buckets differ ({:.2}s)",
            pass.differing_buckets,
            pass.buckets(),
            clock.elapsed().as_secs_f64()
        ));
        Ok(pass)
    }

    /// The streaming pass ([`stream`]) over both views, each scan in key order
    /// ([`key_order`]); `None` when a view is not a plain Parquet scan or the pass gave
    /// up (then the matching pass runs).
    async fn streaming_pass(&self, scope: &str, bits: u32) -> Result<Option<BucketPass>> {
        let keys = self.keys_list("");
        let clock = Instant::now();
        let mut sides = Vec::new();
        for view in [&self.legacy_view, &self.target_view] {
            let df = self
                .frame(&format!(
                    "SELECT *, sd_row_hash({keys}) AS __sd_kh FROM {} WHERE {scope}",
                    ident(view)
                ))
                .await?;
            let task_ctx = Arc::new(df.task_ctx());
            let plan = match df.create_physical_plan().await {
                Ok(p) => p,
                Err(e) => return Err(self.explain(e).await),
            };
            let layout = match key_order::layout(&plan, &self.key[0], &task_ctx).await {
                Ok(Some(l)) => l,
                Ok(None) => {
                    self.debug(
                        "-- streaming pass skipped: a side is not a plain scan of Parquet files",
                    );
                    return Ok(None);
                }
                Err(e) => return Err(self.explain(e).await),
            };
            sides.push((plan, layout, task_ctx));
        }
        let partitions = self
            .ctx
            .state()
            .config()
            .target_partitions()
            .min(sides[0].1.row_groups())
            .min(sides[1].1.row_groups());
        if partitions == 0 {
            return Ok(None);
        }
        let mut plans = Vec::new();
        let mut expected = Vec::new();
        for (plan, layout, _) in &sides {
            match key_order::rewrite(plan, layout, partitions) {
                Ok(Some((p, rows))) => {
                    plans.push(p);
                    expected.push(rows);
                }
                Ok(None) => return Ok(None),
                Err(e) => return Err(self.explain(e).await),
            }
        }
        let limits = stream::Limits {
            table_bytes: self.opts.memory_limit / 8,
            hold_bytes: self.opts.memory_limit / 4,
            candidate_bytes: self.opts.memory_limit / 4,
            row_bytes: self.row_bytes,
            bits,
        };
        let ordered = if sides.iter().all(|s| s.1.by_statistics) {
            "by key statistics"
        } else {
            "by path"
        };
        let [pl, pt]: [_; 2] = plans.try_into().expect("two sides");
        let [el, et]: [_; 2] = expected.try_into().expect("two sides");
        let task_ctx = sides[1].2.clone();
        match stream::run([pl, pt], [el, et], &self.key[0], task_ctx, limits).await {
            Ok(stream::Outcome::Done(m, stats)) => {
                self.debug(&format!(
                    "-- streaming pass: {} of {} key buckets differ, {} legacy and {} target rows unpaired, {}, {partitions} partition(s) ordered {ordered}; hot table up to {} entries, {} rows copied out of batches held too long, {} paired when let go, pairing {:.2}s (probing {:.2}s) ({:.2}s)",
                    m.differing_buckets,
                    1u64 << bits,
                    m.unpaired[0],
                    m.unpaired[1],
                    if m.held.is_some() { "held" } else { "too many to hold" },
                    stats.hot_slots,
                    stats.copied,
                    stats.copied_paired,
                    stats.pairing.as_secs_f64(),
                    stats.probing.as_secs_f64(),
                    clock.elapsed().as_secs_f64()
                ));
                Ok(Some(m.into_pass(bits)))
            }
            Ok(stream::Outcome::GaveUp(why)) => {
                self.debug(&format!(
                    "-- streaming pass gave up: {why} ({:.2}s)",
                    clock.elapsed().as_secs_f64()
                ));
                Ok(None)
            }
            Err(e) => Err(self.explain(e).await),
        }
    }

    /// Whether the diff starts with the narrow pass: it needs a key, digests that cover
    /// every compared column (a tolerance column is left out of them), and the checks
    /// running in this process.
    fn narrow_pass_applies(&self) -> bool {
        // On a cluster, its bucket test and candidate tables would have to leave this
        // process: the diff is the plain SQL one there, with the same findings.
        self.diff_follows
            && !self.key.is_empty()
            && self.tolerance.is_empty()
            && !self.opts.engine.is_distributed()
    }

    /// Whether the diff leaves out, in SQL, the key hashes whose rows are equal on both
    /// sides, as the narrow pass does in one process: on a cluster, where the narrow
    /// pass does not apply but would otherwise.
    fn prunes_in_sql(&self) -> bool {
        self.diff_follows
            && !self.key.is_empty()
            && self.tolerance.is_empty()
            && self.opts.engine.is_distributed()
    }

    /// Views over the two sides' rows whose key hash differs (differing_keys.sql);
    /// returns their quoted names. The differing key hashes are fetched once: up to
    /// [`LISTED_KEY_HASHES`] of them are written into the views as a list, which each
    /// scan filters by; beyond that, each diff query computes them again (the views are
    /// not materialised on the cluster).
    async fn differing_key_views(&self) -> Result<(String, String)> {
        let key_hash = format!("sd_row_hash({})", self.keys_list(""));
        let differing = sql::render(
            sql::DIFFERING_KEYS,
            &[
                ("legacy", &ident(&self.legacy_view)),
                ("target", &ident(&self.target_view)),
                ("key_hash", &key_hash),
                ("scope", &self.scope("")),
            ],
        )?;
        let listed = self
            .query(&format!(
                "SELECT kh FROM ({differing}) AS d LIMIT {}",
                LISTED_KEY_HASHES + 1
            ))
            .await?;
        let hashes: Vec<u64> = listed
            .iter()
            .flat_map(|b| {
                let a = b.column(0).as_primitive::<arrow::datatypes::UInt64Type>();
                a.iter().flatten().collect::<Vec<u64>>()
            })
            .collect();
        let filter = if hashes.is_empty() {
            "false".to_string()
        } else if hashes.len() <= LISTED_KEY_HASHES {
            let list: Vec<String> = hashes
                .iter()
                .map(|h| format!("arrow_cast({h}, 'UInt64')"))
                .collect();
            format!("{key_hash} IN ({})", list.join(", "))
        } else {
            format!("{key_hash} IN ({differing})")
        };
        self.debug(&format!(
            "-- {} differing key hashes{}",
            hashes.len().min(LISTED_KEY_HASHES + 1),
            if hashes.len() > LISTED_KEY_HASHES {
                " or more"
            } else {
                ""
            }
        ));
        let mut out = Vec::new();
        for view in [&self.legacy_view, &self.target_view] {
            let name = format!("{view}_differing");
            let q = format!(
                "CREATE OR REPLACE VIEW {} AS SELECT * FROM {} WHERE {filter}",
                ident(&name),
                ident(view)
            );
            self.frame(&q).await?;
            out.push(ident(&name));
        }
        Ok((out[0].clone(), out[1].clone()))
    }

    /// How many chunks the candidate rows of `pass` are fetched in, so that one chunk's
    /// rows (both sides) fit a quarter of the memory budget.
    fn chunks_for(&self, pass: &BucketPass, rows_in_scope: u64) -> u64 {
        // A differing bucket holds a differing key's row or two (a changed key has one a
        // side) and, like any bucket, rows_in_scope / buckets others.
        let per_bucket = 2.0 + rows_in_scope as f64 / pass.buckets() as f64;
        let rows = ((pass.differing_buckets as f64 * per_bucket).ceil() as u64).min(rows_in_scope);
        let bytes = rows.saturating_mul(self.row_bytes);
        bytes.div_ceil((self.opts.memory_limit / 4).max(1)).max(1)
    }

    /// Fetch one chunk of candidate rows of both sides into memory tables; returns their
    /// names, the rows fetched (both sides) and the rows held once the rows equal on both
    /// sides are dropped ([`buckets::prune_equal`]).
    async fn fetch_candidates(
        &self,
        pass: &BucketPass,
        chunks: u64,
        chunk: u64,
        scope: &str,
    ) -> Result<(String, String, u64, u64)> {
        let share = pass.differing_buckets as f64 / pass.buckets() as f64;
        let test = InBuckets::new("__sd_in_differing_buckets", pass, chunks, chunk);
        let (schemas, sides) = self.fetch_sides(test, share, scope).await?;
        self.hold_candidates(schemas, sides)
    }

    /// The rows of the matching or streaming pass as candidate tables (see
    /// [`Self::fetch_candidates`]): the held rows, and (matching pass) the unpaired
    /// legacy rows read again by their key hashes. The buckets of key hashes that also
    /// paired are read again from both sides, their held rows dropped first.
    async fn take_held(
        &self,
        pass: &BucketPass,
        held: matching::Held,
        scope: &str,
    ) -> Result<(String, String, u64, u64)> {
        let none = Arc::new(vec![0u64; pass.differing.len()]);
        let refetch = held.refetch.clone().unwrap_or(none);
        let drop_refetched = |parts: &mut Vec<Vec<RecordBatch>>| -> Result<()> {
            if held.refetch.is_none() {
                return Ok(());
            }
            for b in parts.iter_mut().flatten() {
                let kh =
                    b.column(b.schema().index_of("__sd_kh").map_err(|e| {
                        Error::internal(format!("held rows have no key hash: {e}"))
                    })?)
                    .as_primitive::<arrow::datatypes::UInt64Type>();
                let keep: arrow::array::BooleanArray = kh
                    .values()
                    .iter()
                    .map(|k| Some(!buckets::in_bitmap(&refetch, *k, pass.bits)))
                    .collect();
                *b = arrow::compute::filter_record_batch(b, &keep)
                    .map_err(|e| Error::internal(format!("cannot drop held rows: {e}")))?;
            }
            Ok(())
        };
        let mut target = held.target;
        drop_refetched(&mut target)?;
        let again = || InBuckets::over("__sd_in_refetched", pass.bits, refetch.clone(), 1, 0);
        let (legacy_schema, legacy) = match held.legacy {
            Some((schema, mut legacy)) => {
                drop_refetched(&mut legacy)?;
                if held.refetch.is_some() {
                    let share = refetch.iter().map(|w| w.count_ones() as f64).sum::<f64>()
                        / pass.buckets() as f64;
                    legacy.extend(self.fetch_side(0, again(), share, scope).await?.1);
                }
                (schema, legacy)
            }
            None => {
                let share = (held.legacy_keys.len() as f64
                    + refetch.iter().map(|w| w.count_ones() as f64).sum::<f64>())
                    / pass.buckets() as f64;
                let unpaired =
                    InBuckets::over("__sd_in_unpaired", pass.bits, refetch.clone(), 1, 0)
                        .or_keys(held.legacy_keys);
                self.fetch_side(0, unpaired, share, scope).await?
            }
        };
        if held.refetch.is_some() {
            let share =
                refetch.iter().map(|w| w.count_ones() as f64).sum::<f64>() / pass.buckets() as f64;
            target.extend(self.fetch_side(1, again(), share, scope).await?.1);
        }
        self.hold_candidates(vec![legacy_schema, held.target_schema], [legacy, target])
    }

    /// Both sides' rows that `test` selects (see [`Self::fetch_side`]).
    async fn fetch_sides(
        &self,
        test: InBuckets,
        share: f64,
        scope: &str,
    ) -> Result<(Vec<arrow::datatypes::SchemaRef>, [Vec<Vec<RecordBatch>>; 2])> {
        let (ls, l) = self.fetch_side(0, test.clone(), share, scope).await?;
        let (ts, t) = self.fetch_side(1, test, share, scope).await?;
        Ok((vec![ls, ts], [l, t]))
    }

    /// The rows of side `side` (0 legacy, 1 target) that `test` selects (the key columns
    /// its arguments), with their key hash `__sd_kh`, text as plain arrays. While the
    /// share of buckets selected is small, the filter is pushed into the Parquet scan,
    /// which decodes the other columns only for rows whose key it selects.
    async fn fetch_side(
        &self,
        side: usize,
        test: InBuckets,
        share: f64,
        scope: &str,
    ) -> Result<(arrow::datatypes::SchemaRef, Vec<Vec<RecordBatch>>)> {
        use datafusion::execution::SessionStateBuilder;
        use datafusion::logical_expr::ScalarUDFImpl;
        let func = test.name().to_string();
        let nothing = test.selects_nothing();
        self.ctx
            .register_udf(datafusion::logical_expr::ScalarUDF::new_from_impl(test));
        let mut config = self.ctx.state().config().clone();
        // The bucket test runs inside the Parquet scan, which then decodes the other
        // columns only for the rows it selects, while few rows are selected; with many,
        // the scan's row selections cost more than decoding every row and filtering
        // after (measured on TPC-H SF10: pushdown 2-4 s faster with 1% of the rows
        // selected, 0.5 s slower with 3%, 4 s slower with 7%).
        config.options_mut().execution.parquet.pushdown_filters = share <= PUSHDOWN_MAX_SHARE;
        // The catalog is shared with the entity's session: never replace it.
        config
            .options_mut()
            .catalog
            .create_default_catalog_and_schema = false;
        let pushdown = SessionContext::new_with_state(
            SessionStateBuilder::new_from_existing(self.ctx.state())
                .with_config(config)
                .build(),
        );
        let keys = self.keys_list("");
        let view = if side == 0 {
            &self.legacy_view
        } else {
            &self.target_view
        };
        let sql = format!(
            "SELECT *, sd_row_hash({keys}) AS __sd_kh FROM {} WHERE {func}({keys}) AND {scope}",
            ident(view),
        );
        self.debug(&sql);
        let df = match crate::query::sql(&pushdown, &sql).await {
            Ok(df) => df,
            Err(e) => return Err(self.explain(e).await),
        };
        if nothing {
            return Ok((plain_schema(df.schema().as_arrow()), Vec::new()));
        }
        self.collect_plain(df).await
    }

    /// Drop the candidate rows equal on both sides ([`buckets::prune_equal`]) and hold
    /// the rest as the entity's two candidate tables; returns their names, the rows
    /// before pruning (both sides) and the rows held.
    fn hold_candidates(
        &self,
        schemas: Vec<arrow::datatypes::SchemaRef>,
        mut sides: [Vec<Vec<RecordBatch>>; 2],
    ) -> Result<(String, String, u64, u64)> {
        let fetched: usize = sides.iter().flatten().flatten().map(|b| b.num_rows()).sum();
        let prune_clock = Instant::now();
        buckets::prune_equal(&mut sides, "__sd_kh", "__h")
            .map_err(|e| Error::internal(format!("cannot prune the candidate rows: {e}")))?;
        self.debug(&format!(
            "-- pruned in {:.2}s",
            prune_clock.elapsed().as_secs_f64()
        ));
        let (mut names, mut held) = (Vec::new(), 0);
        for ((side, parts), schema) in ["legacy", "target"].into_iter().zip(sides).zip(schemas) {
            let kept: Vec<usize> = (0..schema.fields().len())
                .filter(|i| schema.field(*i).name() != "__sd_kh")
                .collect();
            let schema = schema
                .project(&kept)
                .map_err(|e| Error::internal(format!("cannot drop the key hash column: {e}")))?;
            let name = format!("__sd_{}_{side}_candidates", self.def.name);
            held += self.register_held(&name, Arc::new(schema), parts)?;
            names.push(name);
        }
        Ok((names[0].clone(), names[1].clone(), fetched as u64, held))
    }

    /// Run `df` and hold its rows as the memory table `name` (through a [`Compactor`], text and
    /// binary as plain arrays), replacing any table of that name. Returns the rows held.
    async fn hold(&self, df: datafusion::prelude::DataFrame, name: &str) -> Result<u64> {
        let (schema, parts) = self.collect_plain(df).await?;
        self.register_held(name, schema, parts)
    }

    /// Run `df`, each partition's batches through a [`Compactor`] (text and binary as plain
    /// arrays, cast as they arrive).
    async fn collect_plain(
        &self,
        df: datafusion::prelude::DataFrame,
    ) -> Result<(arrow::datatypes::SchemaRef, Vec<Vec<RecordBatch>>)> {
        let schema = plain_schema(df.schema().as_arrow());
        let parts = async {
            let tasks: Vec<_> = df
                .execute_stream_partitioned()
                .await?
                .into_iter()
                .map(|mut stream| {
                    let mut c = Compactor::new(schema.clone());
                    tokio::spawn(async move {
                        while let Some(b) = futures::StreamExt::next(&mut stream).await {
                            c.push(&b?)?;
                        }
                        Ok::<_, datafusion::error::DataFusionError>(c.finish()?)
                    })
                })
                .collect();
            let mut parts = Vec::with_capacity(tasks.len());
            for t in tasks {
                parts
                    .push(t.await.map_err(|e| {
                        datafusion::error::DataFusionError::External(Box::new(e))
                    })??);
            }
            Ok::<_, datafusion::error::DataFusionError>(parts)
        };
        match parts.await {
            Ok(p) => Ok((schema, p)),
            Err(e) => Err(self.explain(e).await),
        }
    }

    /// Register `parts` as the memory table `name`, replacing any table of that name.
    /// Returns its rows.
    fn register_held(
        &self,
        name: &str,
        schema: arrow::datatypes::SchemaRef,
        parts: Vec<Vec<RecordBatch>>,
    ) -> Result<u64> {
        let rows: usize = parts.iter().flatten().map(|b| b.num_rows()).sum();
        // A memory table needs a partition, if an empty one.
        let parts = if parts.is_empty() {
            vec![Vec::new()]
        } else {
            parts
        };
        let table = datafusion::datasource::MemTable::try_new(schema, parts)
            .map_err(|e| Error::internal(format!("cannot hold {name}: {e}")))?;
        let _ = self.ctx.deregister_table(name);
        self.ctx
            .register_table(name, Arc::new(table))
            .map_err(|e| Error::internal(format!("cannot register {name}: {e}")))?;
        Ok(rows as u64)
    }

    /// Views over the candidate tables `lc` and `tc` holding the rows whose key bucket
    /// is `round` modulo `rounds`; returns their quoted names.
    async fn round_views(
        &self,
        pass: &BucketPass,
        rounds: u64,
        round: u64,
        lc: &str,
        tc: &str,
    ) -> Result<(String, String)> {
        let func = "__sd_in_round";
        self.ctx
            .register_udf(datafusion::logical_expr::ScalarUDF::new_from_impl(
                InBuckets::new(func, pass, rounds, round),
            ));
        let mut out = Vec::new();
        for table in [lc, tc] {
            let name = format!("{table}_round");
            let df = self
                .frame(&format!(
                    "SELECT * FROM {} WHERE {func}({})",
                    ident(table),
                    self.keys_list("")
                ))
                .await?;
            let _ = self.ctx.deregister_table(name.as_str());
            self.ctx
                .register_table(name.as_str(), df.into_view())
                .map_err(|e| Error::internal(format!("cannot register {name}: {e}")))?;
            out.push(ident(&name));
        }
        Ok((out[0].clone(), out[1].clone()))
    }

    /// The diff check. Rows are diffed in rounds: with the narrow pass, one round per
    /// chunk of candidate rows (those whose key lies in a differing bucket, fetched into
    /// memory); without it (a tolerance column), one round over the views, in the
    /// partitions being diffed. Every differing row goes to the entity's diff files;
    /// counts and samples are read back from them.
    async fn check_diff(&mut self, diff_needed: bool, clock: Instant) -> Result<()> {
        let n = self.opts.sample_rows;
        let (lv, tv) = (ident(&self.legacy_view), ident(&self.target_view));
        let mut files = DiffFiles::default();
        let mut per_column = vec![0u64; self.compared.len()];
        if !diff_needed {
            // Every digest is equal: the files are created empty, nothing runs.
            self.diff_round(
                &mut files,
                &lv,
                &tv,
                &|_| "false".into(),
                Round::Plan,
                &mut per_column,
            )
            .await?;
        } else if !self.narrow_pass_applies() {
            let scope = |p: &str| self.scope(p);
            let (l, t) = if self.prunes_in_sql() {
                self.differing_key_views().await?
            } else {
                (lv.clone(), tv.clone())
            };
            self.diff_round(&mut files, &l, &t, &scope, Round::Views, &mut per_column)
                .await?;
        } else {
            let scope = self.scope("");
            let mut pass = match self.buckets.take() {
                Some(p) => p,
                None => self.bucket_pass(&scope).await?,
            };
            let mut held_rows = pass.held.take();
            let rows_in_scope = match &self.report.partitions {
                Some(p) if self.scope_parts.is_some() => p
                    .rows
                    .iter()
                    .filter(|r| r.digest_equal != Some(true))
                    .map(|r| r.legacy_rows + r.target_rows)
                    .sum(),
                _ => self.report.legacy_rows + self.report.target_rows,
            };
            let chunks = if held_rows.is_some() {
                1
            } else {
                self.chunks_for(&pass, rows_in_scope)
            };
            let (mut candidates, mut diffed) = (0u64, 0u64);
            let mut rounds_done = 1;
            let fetch_clock = Instant::now();
            for chunk in 0..chunks {
                let (lc, tc, fetched, held) = match held_rows.take() {
                    Some(h) => self.take_held(&pass, h, &scope).await?,
                    None => self.fetch_candidates(&pass, chunks, chunk, &scope).await?,
                };
                candidates += fetched;
                diffed += held;
                // The diff's joins hold about four times their rows: rounds of candidate
                // buckets whose joins fit half of the memory budget.
                let round_bytes = (self.opts.memory_limit / 8).max(1);
                let rounds = held
                    .saturating_mul(self.row_bytes)
                    .div_ceil(round_bytes)
                    .max(1);
                rounds_done = rounds_done.max(rounds);
                self.debug(&format!(
                    "-- chunk {chunk}: {fetched} candidate rows, {held} not equal on both sides, {rounds} round(s) ({:.2}s)",
                    fetch_clock.elapsed().as_secs_f64()
                ));
                let all = |_: &str| "true".to_string();
                let mut r = Ok(());
                for round in 0..rounds {
                    let (l, t) = if rounds == 1 {
                        (ident(&lc), ident(&tc))
                    } else {
                        match self
                            .round_views(&pass, chunks * rounds, chunk + chunks * round, &lc, &tc)
                            .await
                        {
                            Ok(v) => v,
                            Err(e) => {
                                r = Err(e);
                                break;
                            }
                        }
                    };
                    r = self
                        .diff_round(
                            &mut files,
                            &l,
                            &t,
                            &all,
                            if held > 0 { Round::Held } else { Round::Plan },
                            &mut per_column,
                        )
                        .await;
                    if r.is_err() {
                        break;
                    }
                }
                for name in [&lc, &tc] {
                    let _ = self.ctx.deregister_table(name.as_str());
                    let _ = self.ctx.deregister_table(format!("{name}_round").as_str());
                }
                for side in ["legacy", "target"] {
                    let _ = self
                        .ctx
                        .deregister_table(format!("__sd_{}_{side}_keys", self.def.name).as_str());
                }
                r?;
            }
            self.debug(&format!(
                "-- candidates: {candidates} rows in {chunks} chunk(s), {diffed} diffed in up to {rounds_done} round(s), in {:.2}s",
                fetch_clock.elapsed().as_secs_f64()
            ));
        }
        let counts = self.finish_files(files)?;
        let count = |kind: &str, i: usize| counts.get(kind).map(|c| c[i]).unwrap_or(0);

        let mut diff = Diff {
            duplicate_keys_legacy: count("duplicates", 0),
            duplicate_keys_target: count("duplicates", 1),
            null_keys_legacy: count("null_keys", 0),
            null_keys_target: count("null_keys", 1),
            missing: count("missing", 0),
            extra: count("extra", 0),
            changed: count("changed", 0),
            ..Default::default()
        };
        for (side, c) in [
            ("legacy", diff.duplicate_keys_legacy),
            ("target", diff.duplicate_keys_target),
        ] {
            if c == 0 {
                continue;
            }
            for b in &self
                .diff_sample("duplicates", &format!("__side = '{side}'"), n)
                .await?
            {
                for r in 0..b.num_rows() {
                    let key: Row = self
                        .key
                        .iter()
                        .map(|k| {
                            let i = b.schema().index_of(k).expect("key column");
                            (k.clone(), cell(b, i, r))
                        })
                        .collect();
                    diff.duplicates.push(DuplicateKey {
                        side: side.into(),
                        key,
                        rows: u64_cell(b, "__rows", r),
                    });
                }
            }
        }
        for (side, c) in [
            ("legacy", diff.null_keys_legacy),
            ("target", diff.null_keys_target),
        ] {
            if c == 0 {
                continue;
            }
            let sample = self
                .diff_sample("null_keys", &format!("__side = '{side}'"), n)
                .await?;
            diff.null_key_rows.extend(
                Self::rows(&sample)
                    .into_iter()
                    .map(|r| (side.to_string(), r)),
            );
        }
        for kind in ["missing", "extra"] {
            let c = count(kind, 0);
            if c == 0 {
                continue;
            }
            let sample = Self::rows(&self.diff_sample(kind, "true", n).await?);
            if kind == "missing" {
                diff.missing_rows = sample;
            } else {
                diff.extra_rows = sample;
            }
            self.count_per_partition(kind).await?;
        }
        if diff.changed > 0 {
            for (c, v) in self.compared.iter().zip(&per_column) {
                if *v > 0 {
                    diff.changed_by_column.insert(c.clone(), *v);
                }
            }
            self.changed_sample(&mut diff).await?;
            self.count_per_partition("changed").await?;
        }
        self.judge_diff(diff, clock, diff_needed);
        Ok(())
    }

    /// Close the diff files and list them in the report; the rows each query added.
    fn finish_files(
        &mut self,
        files: DiffFiles,
    ) -> Result<std::collections::HashMap<&'static str, Vec<u64>>> {
        let mut counts = std::collections::HashMap::new();
        for f in files.writers {
            f.writer.finish()?;
            self.report
                .diff_files
                .push(format!("{}/{}.parquet", self.def.name, f.kind));
            counts.insert(f.kind, f.rows);
        }
        Ok(counts)
    }

    /// One round of the diff over `lv` and `tv` (views or candidate tables), `scope(p)`
    /// selecting the rows of table `p` to diff: key multiplicities, duplicate keys, rows
    /// with NULL keys, missing, extra and changed rows, each appended to its file.
    async fn diff_round(
        &self,
        files: &mut DiffFiles,
        lv: &str,
        tv: &str,
        scope: &dyn Fn(&str) -> String,
        mode: Round,
        per_column: &mut [u64],
    ) -> Result<()> {
        let execute = mode != Round::Plan;
        let hold_keys = mode == Round::Held;
        let keys = self.keys_list("");
        let not_null = self
            .key
            .iter()
            .map(|k| format!("{} IS NOT NULL", ident(k)))
            .collect::<Vec<_>>()
            .join(" AND ");
        let any_null = format!(
            "({})",
            self.key
                .iter()
                .map(|k| format!("{} IS NULL", ident(k)))
                .collect::<Vec<_>>()
                .join(" OR ")
        );
        let key_view = |side_view: &str| {
            sql::render(
                sql::KEYS,
                &[
                    ("side", side_view),
                    ("keys", &keys),
                    ("keys_not_null", &not_null),
                    ("scope", &scope("")),
                ],
            )
        };
        // Over candidate rows, each side's key counts are computed once and held (their
        // batches compacted), rather than re-aggregated inside every query: the joins'
        // memory accounting counts the slices of an aggregate's output whole, once each.
        let (lk, tk) = if hold_keys && execute {
            let mut names = Vec::new();
            for (side, v) in [("legacy", lv), ("target", tv)] {
                let name = format!("__sd_{}_{side}_keys", self.def.name);
                let df = self.frame(&key_view(v)?).await?;
                self.hold(df, &name).await?;
                names.push(ident(&name));
            }
            (names[0].clone(), names[1].clone())
        } else {
            (
                format!("({})", key_view(lv)?),
                format!("({})", key_view(tv)?),
            )
        };

        // Duplicate keys.
        let dups = |side: &str, side_keys: &str| -> Result<String> {
            let q = sql::render(
                sql::DUPLICATES,
                &[("side_keys", side_keys), ("keys", &keys)],
            )?;
            Ok(format!("SELECT '{side}' AS __side, d.* FROM ({q}) AS d"))
        };
        let q = [dups("legacy", &lk)?, dups("target", &tk)?];
        self.write_diff(files, "duplicates", &q, execute, Ok)
            .await?;

        // Rows with a NULL in their key.
        let columns = self
            .key
            .iter()
            .chain(&self.compared)
            .map(|c| ident(c))
            .collect::<Vec<_>>()
            .join(", ");
        let mut nulls = Vec::new();
        for (side, view) in [("legacy", lv), ("target", tv)] {
            let q = sql::render(
                sql::NULL_KEYS,
                &[
                    ("side", view),
                    ("any_key_null", &any_null),
                    ("scope", &scope("")),
                ],
            )?;
            nulls.push(format!(
                "SELECT '{side}' AS __side, {columns} FROM ({q}) AS z"
            ));
        }
        self.write_diff(files, "null_keys", &nulls, execute, Ok)
            .await?;

        // Missing and extra rows.
        let part = if self.partitioned() {
            ", CAST(__part AS VARCHAR) AS __partition"
        } else {
            ""
        };
        for (kind, this, this_keys, other_keys) in
            [("missing", lv, &lk, &tk), ("extra", tv, &tk, &lk)]
        {
            let q = sql::render(
                sql::MISSING,
                &[
                    ("this", this),
                    ("this_keys", this_keys),
                    ("other_keys", other_keys),
                    ("key_match_this", &key_match("r", "k", &self.key)),
                    ("key_match_other", &key_match("r", "o", &self.key)),
                    ("scope", &scope("r.")),
                ],
            )?;
            let q = format!("SELECT {columns}{part} FROM ({q}) AS m");
            self.write_diff(files, kind, &[q], execute, Ok).await?;
        }
        if !self.compared.is_empty() {
            let q = self.changed_query(lv, tv, &lk, &tk, &scope("l."))?;
            let keep_partition = self.partitioned();
            let nkeys = self.key.len();
            let names = self.compared.clone();
            let map = |b: RecordBatch| changed_batch(b, nkeys, &names, keep_partition, per_column);
            self.write_diff(files, "changed", &[q], execute, map)
                .await?;
        }
        Ok(())
    }

    /// The SQL that says whether column `c` differs between `l` and `t`: NULL equals
    /// only NULL; a tolerance column is equal within its tolerance (computed in Float64,
    /// so no integer subtraction wraps, and allowing a few ulps of the values' own
    /// rounding), and a NaN or infinite value equals only itself; a nested column
    /// compares by its row hash, which normalises its elements as the digests do.
    fn differs(&self, c: &str) -> String {
        let q = ident(c);
        if let Some((_, tol)) = self.tolerance.iter().find(|(t, _)| t == c) {
            let (lf, tf) = (
                format!("arrow_cast(l.{q}, 'Float64')"),
                format!("arrow_cast(t.{q}, 'Float64')"),
            );
            let inf = "arrow_cast('inf', 'Float64')";
            let big = format!("greatest(abs({lf}), abs({tf}))");
            // 8 ulps of the larger value: 1.01 - 1.00 is 0.010000000000000009.
            let slack = format!("1.7763568394002505e-15 * {big}");
            let mut within = Vec::new();
            if let Some(a) = tol.abs {
                within.push(format!("abs({lf} - {tf}) <= {a:?} + {slack}"));
            }
            if let Some(r) = tol.rel {
                within.push(format!("abs({lf} - {tf}) <= {r:?} * {big} + {slack}"));
            }
            return format!(
                "(CASE WHEN l.{q} IS NOT DISTINCT FROM t.{q} THEN false \
                 WHEN l.{q} IS NULL OR t.{q} IS NULL THEN true \
                 WHEN NOT (abs({lf}) < {inf} AND abs({tf}) < {inf}) THEN true \
                 ELSE NOT ({}) END)",
                within.join(" OR ")
            );
        }
        if self.nested.contains(c) {
            return format!("(sd_row_hash(l.{q}) IS DISTINCT FROM sd_row_hash(t.{q}))");
        }
        format!("(l.{q} IS DISTINCT FROM t.{q})")
    }

    /// The changed rows' query. It names its columns by position (`__c0_l`, `__c0_t`,
    /// `__c0_d`), so no user column can collide with them; the file names them
    /// `legacy__<column>` and `target__<column>`, with `__differs` listing the columns
    /// that differ.
    fn changed_query(&self, lv: &str, tv: &str, lk: &str, tk: &str, scope: &str) -> Result<String> {
        let compared = &self.compared;
        for c in compared {
            for name in [format!("legacy__{c}"), format!("target__{c}")] {
                if self.key.contains(&name) {
                    return Err(self
                        .fail(format!(
                            "key column {name} has the name the diff file gives column {c}'s values"
                        ))
                        .with_hint("rename the key column in the entity's SQL (`AS`)"));
                }
            }
        }
        let pairs = compared
            .iter()
            .enumerate()
            .map(|(i, c)| format!("l.{q} AS __c{i}_l, t.{q} AS __c{i}_t", q = ident(c)))
            .collect::<Vec<_>>()
            .join(", ");
        let flags = compared
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{} AS __c{i}_d", self.differs(c)))
            .collect::<Vec<_>>()
            .join(", ");
        let any = compared
            .iter()
            .map(|c| format!("({})", self.differs(c)))
            .collect::<Vec<_>>()
            .join(" OR ");
        sql::render(
            sql::CHANGED,
            &[
                ("legacy", lv),
                ("target", tv),
                ("legacy_keys", lk),
                ("target_keys", tk),
                ("key_match", &key_match("l", "t", &self.key)),
                ("key_match_lk", &key_match("l", "lk", &self.key)),
                ("key_match_tk", &key_match("t", "tk", &self.key)),
                ("key_select", &self.keys_list("l.")),
                ("pairs", &pairs),
                ("flags", &flags),
                ("any_differs", &any),
                ("scope", scope),
            ],
        )
    }

    /// The first changed rows, in key order, from the changed file.
    async fn changed_sample(&self, diff: &mut Diff) -> Result<()> {
        let n = self.opts.sample_rows;
        let compared = &self.compared;
        for b in &self.diff_sample("changed", "true", n).await? {
            let differs = b
                .column_by_name("__differs")
                .expect("changed file has __differs")
                .as_list::<i32>()
                .clone();
            for r in 0..b.num_rows() {
                let key: Row = self
                    .key
                    .iter()
                    .enumerate()
                    .map(|(i, k)| (k.clone(), cell(b, i, r)))
                    .collect();
                let listed = differs.value(r);
                let listed = listed.as_string::<i32>();
                let cells = compared
                    .iter()
                    .map(|c| {
                        let col = |side: &str| {
                            b.schema()
                                .index_of(&format!("{side}__{c}"))
                                .ok()
                                .and_then(|i| cell(b, i, r))
                        };
                        Cell {
                            column: c.clone(),
                            legacy: col("legacy"),
                            target: col("target"),
                            differs: listed.iter().any(|x| x == Some(c.as_str())),
                        }
                    })
                    .collect();
                diff.changed_rows.push(ChangedRow { key, cells });
            }
        }
        Ok(())
    }

    /// Apply the diff thresholds. An absolute and a ratio limit of one kind both apply
    /// when both are set; with neither, the limit is 0.
    fn judge_diff(&mut self, diff: Diff, clock: Instant, diffed: bool) {
        let th = self.thresholds();
        let (lrows, trows) = (self.report.legacy_rows, self.report.target_rows);
        let exceeds = |n: u64, base: u64, max: Option<u64>, ratio: Option<f64>| match (max, ratio) {
            (None, None) => n > 0,
            (Some(m), None) => n > m,
            (None, Some(r)) => n as f64 > r * base as f64,
            (Some(m), Some(r)) => n > m || n as f64 > r * base as f64,
        };
        let failing = [
            exceeds(diff.missing, lrows, th.max_missing, th.max_missing_ratio),
            exceeds(diff.extra, trows, th.max_extra, th.max_extra_ratio),
            exceeds(diff.changed, lrows, th.max_changed, th.max_changed_ratio),
            diff.duplicate_keys_legacy + diff.duplicate_keys_target
                > th.max_duplicates.unwrap_or(0),
            diff.null_keys_legacy + diff.null_keys_target > th.max_null_keys.unwrap_or(0),
        ];
        let status = if failing.iter().any(|f| *f) {
            Status::Fail
        } else {
            Status::Pass
        };
        let mut summary = if diffed {
            format!(
                "missing {}, extra {}, changed {}",
                diff.missing, diff.extra, diff.changed
            )
        } else {
            "every partition's digest is equal: no row differs".to_string()
        };
        if !diff.changed_by_column.is_empty() {
            let cols: Vec<String> = diff
                .changed_by_column
                .iter()
                .map(|(c, n)| format!("{c} {n}"))
                .collect();
            summary.push_str(&format!(" ({})", cols.join(", ")));
        }
        let dups = diff.duplicate_keys_legacy + diff.duplicate_keys_target;
        if dups > 0 {
            summary.push_str(&format!(
                ", duplicate keys {} (legacy {}, target {})",
                dups, diff.duplicate_keys_legacy, diff.duplicate_keys_target
            ));
        }
        let nulls = diff.null_keys_legacy + diff.null_keys_target;
        if nulls > 0 {
            summary.push_str(&format!(", rows with NULL keys {nulls}"));
        }
        self.report.diff = Some(diff);
        self.push("diff", status, summary, clock);
    }

    async fn check_multiset(&mut self, clock: Instant) -> Result<()> {
        let cols = self.compared.iter().map(|c| ident(c)).collect::<Vec<_>>();
        if cols.is_empty() {
            self.push(
                "multiset",
                Status::Fail,
                "no columns to compare".into(),
                clock,
            );
            return Ok(());
        }
        let q = sql::render(
            sql::MULTISET,
            &[
                ("legacy", &ident(&self.legacy_view)),
                ("target", &ident(&self.target_view)),
                ("cols", &cols.join(", ")),
            ],
        )?;
        let df = self.frame(&q).await?;
        let schema = Arc::new(df.schema().as_arrow().clone());
        let batches = match df.collect().await {
            Ok(b) => b,
            Err(e) => return Err(self.explain(e).await),
        };
        // Every differing row to the diff files: the rows only in legacy (missing) and
        // only in target (extra), with how many copies one side has beyond the other.
        let table = format!("__sd_multiset_{}", self.def.name);
        let mem = datafusion::datasource::MemTable::try_new(schema.clone(), vec![batches])
            .map_err(|e| Error::internal(format!("cannot hold the multiset result: {e}")))?;
        // Held here, so queried here whatever the engine.
        self.local
            .register_table(&table, Arc::new(mem))
            .map_err(|e| Error::internal(format!("cannot register {table}: {e}")))?;
        let mut files = DiffFiles::default();
        for (kind, more, less) in [
            ("missing", "__legacy_copies", "__target_copies"),
            ("extra", "__target_copies", "__legacy_copies"),
        ] {
            let q = format!(
                "SELECT {}, {more} - {less} AS __copies FROM {} WHERE {more} > {less}",
                cols.join(", "),
                ident(&table)
            );
            self.write_diff_in(self.local, &mut files, kind, &[q], true, Ok)
                .await?;
        }
        self.finish_files(files)?;
        // Samples in the order of the values, whatever order the rows arrived in. A column
        // of NULLs alone (type Null, or lists of it) has no order, and needs none.
        let order: Vec<String> = schema
            .fields()
            .iter()
            .take(cols.len())
            .enumerate()
            .filter(|(_, f)| !matches!(
                f.data_type(),
                DataType::Null
            ) && !matches!(
                f.data_type(),
                DataType::List(i) | DataType::LargeList(i) | DataType::ListView(i) | DataType::LargeListView(i) | DataType::FixedSizeList(i, _)
                    if i.data_type() == &DataType::Null
            ))
            .map(|(i, _)| (i + 1).to_string())
            .collect();
        let order = if order.is_empty() {
            String::new()
        } else {
            format!(" ORDER BY {}", order.join(", "))
        };
        let batches = self
            .query_in(
                self.local,
                &format!("SELECT * FROM {}{order}", ident(&table)),
            )
            .await?;
        let _ = self.local.deregister_table(&table);
        let mut diff = Diff::default();
        for b in &batches {
            for (r, values) in Self::rows(std::slice::from_ref(b)).into_iter().enumerate() {
                let (lc, tc) = (
                    u64_cell(b, "__legacy_copies", r),
                    u64_cell(b, "__target_copies", r),
                );
                if lc > tc {
                    diff.missing += lc - tc;
                    if diff.missing_rows.len() < self.opts.sample_rows {
                        diff.missing_rows.push(values);
                    }
                } else {
                    diff.extra += tc - lc;
                    if diff.extra_rows.len() < self.opts.sample_rows {
                        diff.extra_rows.push(values);
                    }
                }
            }
        }
        let th = self.thresholds();
        let status = if diff.missing > th.max_missing.unwrap_or(0)
            || diff.extra > th.max_extra.unwrap_or(0)
        {
            Status::Fail
        } else {
            Status::Pass
        };
        let summary = format!(
            "rows only in legacy {}, rows only in target {}",
            diff.missing, diff.extra
        );
        self.report.diff = Some(diff);
        self.push("multiset", status, summary, clock);
        Ok(())
    }

    async fn check_aggregate(&mut self, clock: Instant) -> Result<()> {
        // Equal digests prove the two sides hold the same rows of every hashed column,
        // so those columns' profiles are equal too: only tolerance columns (not hashed)
        // are profiled then. This spares a full scan per column and side.
        let profiled: Vec<String> = self
            .compared
            .iter()
            .filter(|c| !self.digests_equal || self.tolerance.iter().any(|(t, _)| t == *c))
            .cloned()
            .collect();
        let mut diffs = Vec::new();
        for c in profiled.clone() {
            let q = ident(&c);
            let as_text = |agg: &str| {
                if self.binary.contains(&c) {
                    format!("encode({agg}({q}), 'hex')")
                } else if self.temporal.contains(&c) {
                    format!("sd_text({agg}({q}))")
                } else {
                    format!("CAST({agg}({q}) AS VARCHAR)")
                }
            };
            let sum = if self.numeric.contains(&c) {
                format!("CAST(sum({q}) AS VARCHAR)")
            } else {
                "CAST(NULL AS VARCHAR)".to_string()
            };
            // A float sum depends on the order of the additions; the sum of magnitudes
            // bounds how far two orders can drift apart.
            let float = self.floats.contains(&c);
            let sum_abs = if float {
                format!("CAST(sum(abs({q})) AS VARCHAR)")
            } else {
                "CAST(NULL AS VARCHAR)".to_string()
            };
            let mut stats = Vec::new();
            for view in [&self.legacy_view, &self.target_view] {
                let sql = sql::render(
                    sql::AGGREGATE,
                    &[
                        ("side", &ident(view)),
                        ("col", &q),
                        ("min", &as_text("min")),
                        ("max", &as_text("max")),
                        ("sum", &sum),
                        ("sum_abs", &sum_abs),
                    ],
                )?;
                let b = self.query(&sql).await?;
                stats.push(Self::rows(&b).into_iter().next().unwrap_or_default());
            }
            let tol = self
                .tolerance
                .iter()
                .find(|(t, _)| *t == c)
                .map(|(_, t)| *t);
            let rows = self.report.legacy_rows.max(self.report.target_rows).max(1) as f64;
            let number = |v: &Option<String>| v.as_deref().and_then(|v| v.parse::<f64>().ok());
            let stat_of = |side: usize, name: &str| {
                stats[side]
                    .iter()
                    .find(|(k, _)| k == name)
                    .and_then(|(_, v)| number(v))
            };
            // Recursive summation errs by at most (n-1)·ε·Σ|x| on each side.
            let drift = match (stat_of(0, "sum_abs"), stat_of(1, "sum_abs")) {
                (Some(a), Some(b)) => 2.0 * rows * f64::EPSILON * a.max(b),
                _ => 0.0,
            };
            for ((stat, lv), (_, tv)) in stats[0].iter().zip(stats[1].iter()) {
                // sum_abs only bounds the drift; values within a tolerance may be more
                // or fewer distinct ones.
                if stat == "sum_abs" || (tol.is_some() && stat == "distinct_values") {
                    continue;
                }
                let equal = lv == tv
                    || match (number(lv), number(tv)) {
                        (Some(x), Some(y)) if x.is_finite() && y.is_finite() => {
                            let d = (x - y).abs();
                            let slack = 8.0 * f64::EPSILON * x.abs().max(y.abs());
                            let float_sum = float && stat == "sum" && d <= drift + slack;
                            // A sum may differ by the tolerance of every row.
                            let scale = if stat == "sum" { rows } else { 1.0 };
                            let within = matches!(stat.as_str(), "min" | "max" | "sum")
                                && tol.is_some_and(|t| {
                                    t.abs.is_some_and(|m| d <= m * scale + slack)
                                        || t.rel
                                            .is_some_and(|r| d <= r * x.abs().max(y.abs()) + slack)
                                });
                            float_sum || within
                        }
                        _ => false,
                    };
                if !equal {
                    diffs.push(AggregateDifference {
                        column: c.clone(),
                        statistic: stat.clone(),
                        legacy: lv.clone(),
                        target: tv.clone(),
                    });
                }
            }
        }
        let max = self.thresholds().max_aggregate_diffs.unwrap_or(0);
        let status = if diffs.len() as u64 <= max {
            Status::Pass
        } else {
            Status::Fail
        };
        let proven = self.compared.len() - profiled.len();
        let summary = if diffs.is_empty() && proven > 0 {
            format!(
                "{} column profiles equal ({proven} proven by the equal digests)",
                self.compared.len()
            )
        } else if diffs.is_empty() {
            format!("{} column profiles equal", self.compared.len())
        } else {
            let mut cols: Vec<&str> = diffs.iter().map(|d| d.column.as_str()).collect();
            cols.dedup();
            format!(
                "{} statistics differ (columns: {})",
                diffs.len(),
                cols.join(", ")
            )
        };
        self.report.aggregate_differences = diffs;
        self.push("aggregate", status, summary, clock);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_harmonize_exactly_or_say_how_to_fix_them() {
        use DataType::*;
        assert_eq!(harmonize(&Utf8, &Utf8View), Harmony::Cast(Utf8));
        assert_eq!(harmonize(&Int64, &Int32), Harmony::Cast(Int64));
        assert_eq!(harmonize(&Int64, &UInt64), Harmony::Cast(Decimal128(38, 0)));
        assert_eq!(
            harmonize(&Decimal128(36, 18), &Decimal128(38, 12)),
            Harmony::Cast(Decimal128(38, 18))
        );
        assert_eq!(
            harmonize(&Int64, &Decimal128(5, 2)),
            Harmony::Cast(Decimal128(38, 2))
        );
        assert_eq!(harmonize(&Float64, &Decimal128(5, 2)), Harmony::Numeric);
        assert_eq!(harmonize(&Float32, &Float64), Harmony::Float);
        assert_eq!(harmonize(&Float16, &Float64), Harmony::Numeric);
        assert_eq!(harmonize(&Float64, &Float64), Harmony::Float);
        assert_eq!(
            harmonize(
                &Timestamp(TimeUnit::Nanosecond, None),
                &Timestamp(TimeUnit::Second, None)
            ),
            Harmony::Cast(Timestamp(TimeUnit::Microsecond, None))
        );
        assert_eq!(
            harmonize(
                &Timestamp(TimeUnit::Second, Some("+02:00".into())),
                &Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
            ),
            Harmony::Cast(Timestamp(TimeUnit::Microsecond, Some("UTC".into())))
        );
        assert_eq!(
            harmonize(&Time32(TimeUnit::Second), &Time64(TimeUnit::Nanosecond)),
            Harmony::Cast(Time64(TimeUnit::Microsecond))
        );
        assert!(matches!(
            harmonize(&Timestamp(TimeUnit::Microsecond, None), &Timestamp(TimeUnit::Microsecond, Some("UTC".into()))),
            Harmony::Incomparable(w) if w.contains("give legacy a `timezone` rule")
        ));
        assert!(
            matches!(harmonize(&Int64, &Boolean), Harmony::Incomparable(w) if w.contains("`bool` rule"))
        );
        assert!(
            matches!(harmonize(&Utf8, &Float64), Harmony::Incomparable(w) if w.contains("`numeric` rule"))
        );
    }

    #[test]
    fn user_sql_is_embedded_safely() {
        assert_eq!(subquery("SELECT 1; "), "(SELECT 1\n)");
        assert_eq!(subquery("SELECT 1; -- done"), "(SELECT 1\n)");
        assert_eq!(subquery("SELECT 'é;'\n  ;; /* x */\n"), "(SELECT 'é;'\n)");
        assert_eq!(subquery("SELECT ';' -- ;"), "(SELECT ';' -- ;\n)");
        assert_eq!(subquery("SELECT 1 -- the end"), "(SELECT 1 -- the end\n)");
    }
}
