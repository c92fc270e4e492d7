//! The diff check: every missing, extra, changed and duplicated row, by key.
//!
//! A first pass ([`first_pass`]) proves most rows equal without a join and keeps or
//! finds the rest: the streaming pass ([`stream`], in key order, [`key_order`]), the
//! matching pass ([`matching`]) or the narrow pass ([`buckets`]). The candidate rows
//! ([`fetch`]) are then diffed by key in rounds, and every differing row is written to
//! the diff files ([`files`]). The passes share their types through [`pass`] and import
//! no other pass.

pub(crate) mod buckets;
pub(crate) mod fetch;
pub(crate) mod files;
pub(crate) mod first_pass;
pub(crate) mod invisible;
pub(crate) mod key_order;
pub(crate) mod matching;
pub(crate) mod pass;
pub(crate) mod stream;

use std::sync::Arc;
use std::time::Instant;

use arrow::array::{Array, AsArray, RecordBatch};

use crate::check::entity::{cell, u64_cell, EntityRun};
use crate::engine::diff_files::{DiffKind, DiffWriter};
use crate::engine::templates::{self as sql, ident, key_match};
use crate::error::{Error, Result};
use crate::report::{Cell, ChangedRow, Diff, DuplicateKey, Row, Status};
use crate::snapshot::Side;
use crate::spec::CheckKind;

/// A diff file being written, and the rows each of its queries added.
pub(crate) struct OpenDiff {
    kind: DiffKind,
    writer: DiffWriter,
    rows: Vec<u64>,
}

/// How a round of the diff runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Round {
    /// Plan the queries and create the files; run nothing.
    Plan,
    /// Run over the views, key counts as subqueries.
    Views,
    /// Run over candidate tables, each side's key counts computed once and held.
    Held,
}

/// The diff files of one entity, opened as the diff's rounds first use them.
#[derive(Default)]
pub(crate) struct DiffFiles {
    writers: Vec<OpenDiff>,
}

/// A batch of changed.sql (keys, `__c{i}_l`/`__c{i}_t` pairs, `__c{i}_d` flags,
/// `__partition`) as the changed file holds it: keys, `legacy__<c>`/`target__<c>`
/// pairs, `__differs` (the columns that differ) and, for a partitioned entity,
/// `__partition`. Counts the rows each column differs in.
pub(crate) fn changed_batch(
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
        for (j, side) in Side::ALL.iter().enumerate() {
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
        .map_err(|e| Error::internal(format!("cannot shape the changed rows: {e}")).with_source(e))
}

impl EntityRun<'_> {
    /// The diff check. Rows are diffed in rounds: with the narrow pass, one round per
    /// chunk of candidate rows (those whose key lies in a differing bucket, fetched into
    /// memory); without it (a tolerance column), one round over the views, in the
    /// partitions being diffed. Every differing row goes to the entity's diff files;
    /// counts and samples are read back from them.
    pub(crate) async fn check_diff(&mut self, diff_needed: bool, clock: Instant) -> Result<()> {
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
            self.diff_in_chunks(&mut files, &mut per_column).await?;
        }
        let counts = self.finish_files(files)?;
        let count = |kind: DiffKind, i: usize| counts.get(&kind).map(|c| c[i]).unwrap_or(0);

        let mut diff = Diff {
            duplicate_keys_legacy: count(DiffKind::Duplicates, 0),
            duplicate_keys_target: count(DiffKind::Duplicates, 1),
            null_keys_legacy: count(DiffKind::NullKeys, 0),
            null_keys_target: count(DiffKind::NullKeys, 1),
            missing: count(DiffKind::Missing, 0),
            extra: count(DiffKind::Extra, 0),
            changed: count(DiffKind::Changed, 0),
            ..Default::default()
        };
        if diff.duplicate_keys_legacy > 0 {
            let sum = self
                .query_diff_file(
                    DiffKind::Duplicates,
                    "SELECT CAST(sum(__rows) AS BIGINT) AS n FROM {{file}} WHERE __side = 'legacy'",
                )
                .await?;
            diff.duplicate_rows_legacy = sum
                .iter()
                .find(|b| b.num_rows() > 0)
                .map_or(0, |b| u64_cell(b, "n", 0));
        }
        for (side, c) in [
            (Side::Legacy, diff.duplicate_keys_legacy),
            (Side::Target, diff.duplicate_keys_target),
        ] {
            if c == 0 {
                continue;
            }
            for b in &self
                .diff_sample(DiffKind::Duplicates, &format!("__side = '{side}'"), n)
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
                        side: side.to_string(),
                        key,
                        rows: u64_cell(b, "__rows", r),
                    });
                }
            }
        }
        for (side, c) in [
            (Side::Legacy, diff.null_keys_legacy),
            (Side::Target, diff.null_keys_target),
        ] {
            if c == 0 {
                continue;
            }
            let sample = self
                .diff_sample(DiffKind::NullKeys, &format!("__side = '{side}'"), n)
                .await?;
            diff.null_key_rows.extend(
                Self::rows(&sample)
                    .into_iter()
                    .map(|r| (side.to_string(), r)),
            );
        }
        for kind in [DiffKind::Missing, DiffKind::Extra] {
            let c = count(kind, 0);
            if c == 0 {
                continue;
            }
            let sample = Self::rows(&self.diff_sample(kind, "true", n).await?);
            if kind == DiffKind::Missing {
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
            self.count_per_partition(DiffKind::Changed).await?;
            self.find_invisible(&mut diff).await;
        }
        self.judge_diff(diff, clock, diff_needed);
        Ok(())
    }

    /// The diff after a first pass: the candidate rows (held by the pass, or fetched in
    /// chunks that fit the budget) diffed by key, each chunk in rounds whose joins fit.
    async fn diff_in_chunks(
        &mut self,
        files: &mut DiffFiles,
        per_column: &mut [u64],
    ) -> Result<()> {
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
            let round_bytes = self.budget.round();
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
                        files,
                        &l,
                        &t,
                        &all,
                        if held > 0 { Round::Held } else { Round::Plan },
                        per_column,
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
            for side in Side::ALL {
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
        Ok(())
    }

    /// Close the diff files and list them in the report; the rows each query added.
    pub(crate) fn finish_files(
        &mut self,
        files: DiffFiles,
    ) -> Result<std::collections::HashMap<DiffKind, Vec<u64>>> {
        let mut counts = std::collections::HashMap::new();
        for f in files.writers {
            f.writer.finish()?;
            self.report
                .diff_files
                .push(format!("{}/{}", self.def.name, f.kind.file_name()));
            counts.insert(f.kind, f.rows);
        }
        Ok(counts)
    }

    /// One round of the diff over `lv` and `tv` (views or candidate tables), `scope(p)`
    /// selecting the rows of table `p` to diff: key multiplicities, duplicate keys, rows
    /// with NULL keys, missing, extra and changed rows, each appended to its file.
    pub(crate) async fn diff_round(
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
            for (side, v) in [(Side::Legacy, lv), (Side::Target, tv)] {
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
        let dups = |side: Side, side_keys: &str| -> Result<String> {
            let q = sql::render(
                sql::DUPLICATES,
                &[("side_keys", side_keys), ("keys", &keys)],
            )?;
            Ok(format!("SELECT '{side}' AS __side, d.* FROM ({q}) AS d"))
        };
        let q = [dups(Side::Legacy, &lk)?, dups(Side::Target, &tk)?];
        self.write_diff(files, DiffKind::Duplicates, &q, execute, Ok)
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
        for (side, view) in [(Side::Legacy, lv), (Side::Target, tv)] {
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
        self.write_diff(files, DiffKind::NullKeys, &nulls, execute, Ok)
            .await?;

        // Missing and extra rows.
        let part = if self.partitioned() {
            ", CAST(__part AS VARCHAR) AS __partition"
        } else {
            ""
        };
        for (kind, this, this_keys, other_keys) in [
            (DiffKind::Missing, lv, &lk, &tk),
            (DiffKind::Extra, tv, &tk, &lk),
        ] {
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
            self.write_diff(files, DiffKind::Changed, &[q], execute, map)
                .await?;
        }
        Ok(())
    }

    /// The SQL that says whether column `c` differs between `l` and `t`: NULL equals
    /// only NULL; a tolerance column is equal within its tolerance (computed in Float64,
    /// so no integer subtraction wraps, and allowing a few ulps of the values' own
    /// rounding), and a NaN or infinite value equals only itself; a nested column
    /// compares by its row hash, which normalises its elements as the digests do.
    pub(crate) fn differs(&self, c: &str) -> String {
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
    pub(crate) fn changed_query(
        &self,
        lv: &str,
        tv: &str,
        lk: &str,
        tk: &str,
        scope: &str,
    ) -> Result<String> {
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
    pub(crate) async fn changed_sample(&self, diff: &mut Diff) -> Result<()> {
        let n = self.opts.sample_rows;
        let compared = &self.compared;
        for b in &self.diff_sample(DiffKind::Changed, "true", n).await? {
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
                            let i = b.schema().index_of(&format!("{side}__{c}")).ok()?;
                            Some(b.column(i).as_ref())
                        };
                        // A masked column's bytes show alike wherever they are, so
                        // that its mask is the same: not from where they differ.
                        let window = !self.def.masked(c);
                        let (legacy, target) = pair_texts(col("legacy"), col("target"), r, window);
                        Cell {
                            column: c.clone(),
                            legacy,
                            target,
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
    pub(crate) fn judge_diff(&mut self, diff: Diff, clock: Instant, diffed: bool) {
        let th = self.thresholds();
        let (lrows, trows) = (self.report.legacy_rows, self.report.target_rows);
        let status = if diff.exceeds(&th, lrows, trows) {
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
        self.push(CheckKind::Diff, status, summary, clock);
    }
}

/// Row `r` of a changed row's two values as text: with `window`, two byte strings from
/// where they differ ([`binary_pair`]); anything else as [`value_text`] shows it.
fn pair_texts(
    legacy: Option<&dyn Array>,
    target: Option<&dyn Array>,
    r: usize,
    window: bool,
) -> (Option<String>, Option<String>) {
    use crate::normalize::text::{binary_pair, bytes, value_text};
    let (l, t) = (
        legacy.filter(|a| a.is_valid(r)),
        target.filter(|a| a.is_valid(r)),
    );
    if let (Some(l), Some(t), true) = (l, t, window) {
        if let (Some(lb), Some(tb)) = (bytes(l, r), bytes(t, r)) {
            let (l, t) = binary_pair(lb, tb);
            return (Some(l), Some(t));
        }
    }
    let text = |a: Option<&dyn Array>| a.and_then(|a| value_text(a, r));
    (text(legacy), text(target))
}
