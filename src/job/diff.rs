//! `snapdiff diff` as a library call: two tables compared by key without a spec.
//!
//! Each input is a Parquet, CSV or NDJSON file, a folder of Parquet files, or
//! `SIDE.TABLE` of the newest complete snapshot run of that side. The comparison is one
//! entity, `diff`, built from the options' typed rules (the same [`ColumnRules`] a spec's
//! `[entity.normalize]` parses into) and verified by the same checks as a spec's.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Instant;

use arrow::datatypes::DataType;
use datafusion::prelude::SessionContext;

use crate::check::{self, VerifyOptions};
use crate::engine::runtime::{runtime, Flavor};
use crate::engine::templates::ident;
use crate::error::{Error, Result};
use crate::normalize::rules::{ColumnRules, Rules};
use crate::progress::Progress;
use crate::report::store::{self, Formats, PendingReport};
use crate::report::{Outcome, Report, RunSummary, SpecInfo};
use crate::snapshot::names::Names;
use crate::snapshot::Side;
use crate::spec::{CheckKind, EntityDef, EntityKind, Thresholds};

/// The entity name of a spec-less diff (its folder under `diffs/`).
pub const DIFF_ENTITY: &str = "diff";

/// A column renamed before the comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rename {
    /// The side whose column it is; `None`: whichever side has a column `from`.
    pub side: Option<Side>,
    pub from: String,
    pub to: String,
}

/// What to compare and how.
#[derive(Debug, Clone)]
pub struct DiffOptions {
    /// The legacy input: a file, a folder of Parquet files, or `SIDE.TABLE`.
    pub legacy: String,
    /// The target input, as `legacy`.
    pub target: String,
    /// The key columns (names after renaming).
    pub key: Vec<String>,
    /// Columns left out of the comparison.
    pub ignore: Vec<String>,
    /// An SQL expression that partitions the rows (per-partition counts and digests).
    pub partition_by: Option<String>,
    /// The checks besides the schema (which always runs).
    pub checks: Vec<CheckKind>,
    /// How both sides' column names are written before they are matched
    /// (`snake_case`: `InvoiceId` is compared with `invoice_id`).
    pub names: Names,
    /// Columns renamed, after `names` (a rename names the column as the input writes it
    /// or as `names` made it).
    pub renames: Vec<Rename>,
    /// Rules for every text column of either side (`trim`, `nfc`, `lower`,
    /// `empty_as_null`), on the sides where it is text.
    pub text_rules: Rules,
    /// Rules per column on the sides where it is text (`parse`, `json`): the side that
    /// already holds timestamps or typed values is left as it is.
    pub on_text: BTreeMap<String, Rules>,
    /// Rules per column, laid over the others.
    pub columns: BTreeMap<String, ColumnRules>,
    /// The verification's options: `snapshot_root` is where `SIDE.TABLE` inputs are
    /// read from; samples, budget and first pass as for `verify`.
    pub verify: VerifyOptions,
    /// Where the report is written (under a new id), with `formats`; `None`: no report.
    pub reports_root: Option<PathBuf>,
    pub formats: Formats,
}

impl DiffOptions {
    /// `legacy` against `target` by `key`, with every default check and no rules.
    pub fn new(legacy: &str, target: &str, key: Vec<String>) -> DiffOptions {
        DiffOptions {
            legacy: legacy.to_string(),
            target: target.to_string(),
            key,
            ignore: Vec::new(),
            partition_by: None,
            checks: CheckKind::ENTITY.to_vec(),
            names: Names::AsIs,
            renames: Vec::new(),
            text_rules: Rules::default(),
            on_text: BTreeMap::new(),
            columns: BTreeMap::new(),
            verify: VerifyOptions::new("snapshots"),
            reports_root: None,
            formats: Formats::all(),
        }
    }
}

/// What the diff found.
#[derive(Debug)]
pub struct DiffOutcome {
    /// Each side's input as read (`SIDE.TABLE` resolved to its run's file).
    pub legacy: String,
    pub target: String,
    /// The report written and its folder, when one was asked for.
    pub report: Option<(Report, PathBuf)>,
    /// The verification (one entity, [`DIFF_ENTITY`]).
    pub outcome: Outcome,
}

/// Compare the two inputs `opts` names.
pub fn diff(opts: &DiffOptions, progress: &dyn Progress) -> Result<DiffOutcome> {
    let rt = runtime(Flavor::Queries)?;
    let ctx = crate::engine::session_with_budget(&opts.verify.budget);
    let root = &opts.verify.snapshot_root;
    let (legacy, target, sides) = rt.block_on(async {
        let legacy = crate::query::register_input(&ctx, &opts.legacy, "legacy", root).await?;
        let target = crate::query::register_input(&ctx, &opts.target, "target", root).await?;
        let sides = [
            side_columns(&ctx, Side::Legacy, opts).await?,
            side_columns(&ctx, Side::Target, opts).await?,
        ];
        Ok::<_, crate::error::Error>((legacy, target, sides))
    })?;
    let def = entity(opts, &sides);
    let pending = match &opts.reports_root {
        Some(root) if opts.formats.any() => {
            Some(PendingReport::begin(root, &store::new_report_id())?)
        }
        _ => None,
    };
    let mut verify = opts.verify.clone();
    verify.diffs_dir = pending.as_ref().map(|p| p.diffs_dir());
    let clock = Instant::now();
    let entities = rt.block_on(check::verify_entities(&ctx, &[def], &verify, progress))?;
    let now = chrono::Utc::now();
    let input = |id: &str, what: &str| RunSummary {
        run_id: id.into(),
        source_kind: "input".into(),
        source_url: what.to_string(),
        started_at: now,
        finished_at: now,
        consistency: "as read".into(),
        tables: Vec::new(),
    };
    let mut outcome = Outcome {
        legacy: input("a", &legacy),
        target: input("b", &target),
        row_hash_version: crate::normalize::ROW_HASH_VERSION,
        entities,
        invariants: Vec::new(),
        seconds: clock.elapsed().as_secs_f64(),
    };
    // No spec, so nothing to mask: long values are cut as in every report.
    crate::report::mask::Masker::default().outcome(&mut outcome);
    let report = match pending {
        Some(p) => {
            let spec = SpecInfo {
                name: DIFF_ENTITY.into(),
                path: format!("{} {}", opts.legacy, opts.target),
                sha256: String::new(),
            };
            let mut report = Report::new(p.id(), spec, outcome.clone());
            let dir = p.commit(&mut report, opts.formats)?;
            Some((report, dir))
        }
        None => None,
    };
    Ok(DiffOutcome {
        legacy,
        target,
        report,
        outcome,
    })
}

/// One side's columns: each as the input writes it and as it is compared, and which
/// hold text.
#[derive(Debug, Clone, Default, PartialEq)]
struct SideColumns {
    /// (as written, as compared), in the input's order.
    names: Vec<(String, String)>,
    /// The compared names of the text columns.
    text: BTreeSet<String>,
}

impl SideColumns {
    /// The side's SQL: its table, its columns renamed where they are.
    fn sql(&self, side: Side) -> String {
        if self.names.iter().all(|(old, new)| old == new) {
            return format!("SELECT * FROM {side}.t");
        }
        let cols: Vec<String> = self
            .names
            .iter()
            .map(|(old, new)| format!("{} AS {}", ident(old), ident(new)))
            .collect();
        format!("SELECT {} FROM {side}.t", cols.join(", "))
    }
}

/// `side`'s columns, named as `opts` says; two that end up with one name are an error.
async fn side_columns(ctx: &SessionContext, side: Side, opts: &DiffOptions) -> Result<SideColumns> {
    let df = ctx.table(format!("{side}.t").as_str()).await?;
    let fields = df.schema().fields().clone();
    let written: Vec<String> = fields.iter().map(|f| f.name().clone()).collect();
    let input = match side {
        Side::Legacy => &opts.legacy,
        Side::Target => &opts.target,
    };
    let what = format!("the columns of {input} ({side})");
    let mut names = opts.names.rename_all(&written, &what)?;
    for r in &opts.renames {
        if r.side.is_some_and(|s| s != side) {
            continue;
        }
        // The name as the input writes it, or as `names` made it.
        match names
            .iter_mut()
            .find(|(old, new)| *old == r.from || *new == r.from)
        {
            Some((_, new)) => *new = r.to.clone(),
            None if r.side == Some(side) => {
                return Err(Error::spec(format!(
                    "--{side}-rename {}={}: {input} has no column `{}`",
                    r.from, r.to, r.from
                ))
                .with_hint(format!("its columns: {}", written.join(", "))))
            }
            None => {}
        }
    }
    let mut seen = BTreeSet::new();
    for (old, new) in &names {
        if !seen.insert(new) {
            return Err(Error::spec(format!(
                "{what}: two columns would be named `{new}` (one of them is `{old}`)"
            ))
            .with_hint("rename one of them to another name"));
        }
    }
    let text = fields
        .iter()
        .zip(&names)
        .filter(|(f, _)| {
            matches!(
                f.data_type(),
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            )
        })
        .map(|(_, (_, new))| new.clone())
        .collect();
    Ok(SideColumns { names, text })
}

/// The one entity of the diff: the options' rules on each column, each side's columns
/// renamed as asked.
fn entity(opts: &DiffOptions, sides: &[SideColumns; 2]) -> EntityDef {
    let mut normalize: BTreeMap<String, ColumnRules> = BTreeMap::new();
    let all: BTreeSet<&String> = sides.iter().flat_map(|s| s.text.iter()).collect();
    for c in all {
        let on = |i: usize, rules: &Rules| {
            if sides[i].text.contains(c) {
                rules.clone()
            } else {
                Rules::default()
            }
        };
        let mut rules = ColumnRules {
            legacy: on(0, &opts.text_rules),
            target: on(1, &opts.text_rules),
            tolerance: None,
        };
        if let Some(r) = opts.on_text.get(c) {
            rules = rules.merged(&ColumnRules {
                legacy: on(0, r),
                target: on(1, r),
                tolerance: None,
            });
        }
        if !rules.legacy.is_empty() || !rules.target.is_empty() {
            normalize.insert(c.clone(), rules);
        }
    }
    for (c, rules) in &opts.columns {
        let merged = normalize.get(c).cloned().unwrap_or_default().merged(rules);
        normalize.insert(c.clone(), merged);
    }
    EntityDef {
        name: DIFF_ENTITY.into(),
        kind: EntityKind::Entity,
        key: opts.key.clone(),
        legacy_sql: sides[0].sql(Side::Legacy),
        target_sql: sides[1].sql(Side::Target),
        columns: None,
        ignore: opts.ignore.clone(),
        partition_by: opts.partition_by.clone(),
        legacy_filter: None,
        target_filter: None,
        sample: None,
        keys_file: None,
        checks: opts.checks.clone(),
        normalize,
        thresholds: Thresholds::default(),
        masks: Default::default(),
        settle: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::rules::{Case, Tolerance};

    #[test]
    fn text_rules_apply_to_text_columns_under_the_column_rules() {
        let mut opts = DiffOptions::new("a.parquet", "b.parquet", vec!["id".into()]);
        opts.text_rules = Rules {
            trim: true,
            case: Some(Case::Lower),
            ..Rules::default()
        };
        let mut amount = ColumnRules::both(Rules {
            round: Some(2),
            ..Rules::default()
        });
        amount.tolerance = Some(Tolerance {
            abs: Some(0.5),
            rel: None,
        });
        opts.columns.insert("amount".into(), amount.clone());
        opts.columns.insert(
            "name".into(),
            ColumnRules::both(Rules {
                empty_as_null: true,
                ..Rules::default()
            }),
        );
        let both = SideColumns {
            names: Vec::new(),
            text: ["name", "note"].map(String::from).into(),
        };
        let def = entity(&opts, &[both.clone(), both]);
        assert_eq!(def.normalize["amount"], amount);
        assert_eq!(
            def.normalize["note"],
            ColumnRules::both(opts.text_rules.clone())
        );
        assert_eq!(
            def.normalize["name"],
            ColumnRules::both(Rules {
                trim: true,
                case: Some(Case::Lower),
                empty_as_null: true,
                ..Rules::default()
            })
        );
        assert_eq!(def.normalize.len(), 3);
        assert_eq!(def.checks, CheckKind::ENTITY.to_vec());
    }

    #[test]
    fn text_rules_apply_only_where_the_column_is_text_and_renames_alias() {
        let mut opts = DiffOptions::new("a.db", "b.parquet", vec!["invoice_id".into()]);
        opts.text_rules.nfc = true;
        opts.on_text.insert(
            "invoice_date".into(),
            Rules {
                parse: vec!["%Y-%m-%d %H:%M:%S".into()],
                ..Rules::default()
            },
        );
        let legacy = SideColumns {
            names: vec![
                ("InvoiceId".into(), "invoice_id".into()),
                ("InvoiceDate".into(), "invoice_date".into()),
            ],
            text: ["invoice_date".to_string()].into(),
        };
        let target = SideColumns {
            names: vec![
                ("invoice_id".into(), "invoice_id".into()),
                ("invoice_date".into(), "invoice_date".into()),
            ],
            text: BTreeSet::new(),
        };
        let def = entity(&opts, &[legacy, target]);
        assert_eq!(
            def.legacy_sql,
            "SELECT \"InvoiceId\" AS \"invoice_id\", \"InvoiceDate\" AS \"invoice_date\" FROM legacy.t"
        );
        assert_eq!(def.target_sql, "SELECT * FROM target.t");
        let rules = &def.normalize["invoice_date"];
        assert_eq!(rules.legacy.parse, ["%Y-%m-%d %H:%M:%S"]);
        assert!(rules.legacy.nfc);
        assert!(rules.target.is_empty());
        assert_eq!(def.normalize.len(), 1);
    }
}
