//! The entity's two views: both sides' SQL resolved to the key and compared columns,
//! normalised by the spec's rules, brought to one type, with `__part` and the row hash
//! `__h`; registered as `__sd_<entity>_legacy` and `__sd_<entity>_target`.

use std::collections::{BTreeMap, BTreeSet};

use arrow::datatypes::{DataType, Schema};

use crate::check::entity::harmonize::{
    harmonize, is_binary, is_date_or_timestamp, is_number, is_text, type_words, wrap, Harmony,
};
use crate::check::entity::held::{invalid_columns, HoldSql};
use crate::check::entity::{side_rules, tables_of, EntityRun};
use crate::engine::templates::{self as sql, ident};
use crate::error::Result;
use crate::normalize::rules::lit;
use crate::normalize::{OnInvalid, RuleError};
use crate::snapshot::Side;
use crate::spec::EntityKind;

impl EntityRun<'_> {
    /// The columns a side's SQL returns; an error names the side's tables.
    pub(crate) async fn side_schema(&self, side: Side, sql: &str) -> Result<Schema> {
        self.debug(sql);
        match crate::engine::sql::sql(self.ctx, sql).await {
            Ok(df) => Ok(df.schema().as_arrow().clone()),
            Err(e) => {
                if let Some(hint) = crate::engine::sql::quote_hint(&e) {
                    return Err(self
                        .fail(format!("the {side} SQL fails: {e}"))
                        .with_hint(hint));
                }
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
    pub(crate) async fn build_views(&mut self) -> Result<()> {
        let def = self.def;
        let (lsrc, tsrc) = (self.sources[0].1.clone(), self.sources[1].1.clone());
        let ls: Schema = self.side_schema(Side::Legacy, &lsrc).await?;
        let ts: Schema = self.side_schema(Side::Target, &tsrc).await?;
        let names = |s: &Schema| {
            s.fields()
                .iter()
                .map(|f| f.name().clone())
                .collect::<Vec<String>>()
        };
        let mut compared = self.resolve_columns(&names(&ls), &names(&ts))?;
        let all: Vec<String> = def.key.iter().chain(compared.iter()).cloned().collect();
        let types = self.normalised_types(&all, [&lsrc, &tsrc]).await?;
        let first_texts = if self.plan_only {
            BTreeMap::new()
        } else {
            self.first_texts(&all, &types, [&lsrc, &tsrc]).await
        };
        let harmony = self.bring_together(&all, &types, &first_texts)?;
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
                if def.kind == EntityKind::Query && def.key.is_empty() {
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

        self.register_views(&all, &harmony, &types, [&lsrc, &tsrc])
            .await
    }

    /// The compared columns, from both sides' columns (`lnames`, `tnames`): the
    /// entity's `columns`, or every non-key column of both sides less `ignore`. Columns
    /// of one side only are recorded; a key column missing on a side is an error.
    fn resolve_columns(&mut self, lnames: &[String], tnames: &[String]) -> Result<Vec<String>> {
        let def = self.def;
        for (side, cols) in [(Side::Legacy, lnames), (Side::Target, tnames)] {
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
                        .with_hint(written_as(k, cols).unwrap_or_else(|| {
                            "the key names columns of both sides' SQL; rename them there (AS)"
                                .to_string()
                        })));
                }
            }
        }
        for c in def.normalize.keys() {
            if !lnames.contains(c) && !tnames.contains(c) {
                return Err(self
                    .fail(format!(
                        "`normalize` names column `{c}`, which neither side has"
                    ))
                    .with_hint(
                        written_as(c, lnames)
                            .or_else(|| written_as(c, tnames))
                            .unwrap_or_else(|| {
                                format!("the legacy columns are {}", lnames.join(", "))
                            }),
                    ));
            }
        }
        let nonkey = |cols: &[String]| {
            cols.iter()
                .filter(|c| !def.key.contains(c))
                .cloned()
                .collect::<Vec<String>>()
        };
        let (lnk, tnk) = (nonkey(lnames), nonkey(tnames));
        let compared: Vec<String> = match &def.columns {
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

        Ok(compared)
    }

    /// Column `c` of `side` with its rules applied; a value a rule cannot read is NULL
    /// (the invalid check counts it).
    pub(super) fn normalised(&self, side: Side, c: &str) -> String {
        match self.def.normalize.get(c) {
            Some(r) => side_rules(r, side).apply_with(&ident(c), OnInvalid::Null),
            None => ident(c),
        }
    }

    /// The type each of `all` has on each side once normalised (planned, no data read);
    /// a rule that cannot apply to its column is an error that names it.
    async fn normalised_types(
        &self,
        all: &[String],
        sources: [&String; 2],
    ) -> Result<[Vec<DataType>; 2]> {
        let def = self.def;
        let mut types: [Vec<DataType>; 2] = [Vec::new(), Vec::new()];
        for c in all {
            for (i, (side, source)) in Side::ALL.into_iter().zip(sources).enumerate() {
                let e = self.normalised(side, c);
                let sql = format!("SELECT {e} AS {} FROM ({source}) AS s", ident(c));
                let t = match crate::engine::sql::sql(self.ctx, &sql).await {
                    Ok(df) => df.schema().field(0).data_type().clone(),
                    Err(err) => {
                        let why = RuleError::find(&err)
                            .map_or_else(|| err.to_string(), RuleError::to_string);
                        let rules = def.normalize.get(c).map(|r| side_rules(r, side).describe());
                        return Err(self
                            .fail(format!(
                                "the normalisation of {side} column {c} ({}) cannot apply: {why}",
                                rules.unwrap_or_default()
                            ))
                            .with_column(c.clone()));
                    }
                };
                types[i].push(t);
            }
        }
        Ok(types)
    }

    /// The first value of each column that is text on one side and dates or timestamps
    /// on the other, as normalised on its text side: the schema finding guesses the
    /// format to parse it with from it. A value that cannot be read is left out.
    async fn first_texts(
        &self,
        all: &[String],
        types: &[Vec<DataType>; 2],
        sources: [&String; 2],
    ) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for (i, c) in all.iter().enumerate() {
            // A finding never shows a value of a masked column.
            if self.def.masked(c) {
                continue;
            }
            let text_side = match (&types[0][i], &types[1][i]) {
                (l, t) if is_text(l) && is_date_or_timestamp(t) => 0,
                (l, t) if is_date_or_timestamp(l) && is_text(t) => 1,
                _ => continue,
            };
            let e = self.normalised(Side::ALL[text_side], c);
            let sql = format!(
                "SELECT CAST({e} AS VARCHAR) AS v FROM ({}) AS s WHERE {e} IS NOT NULL LIMIT 1",
                sources[text_side]
            );
            let first = match crate::engine::sql::sql(self.ctx, &sql).await {
                Ok(df) => df.collect().await.ok(),
                Err(_) => None,
            };
            if let Some(v) = first
                .as_deref()
                .and_then(|bs| bs.iter().find(|b| b.num_rows() > 0))
                .and_then(|b| super::cell(b, 0, 0))
            {
                out.insert(c.clone(), v);
            }
        }
        out
    }

    /// How each of `all` is brought to one type on both sides; a column that cannot be
    /// is a schema finding (an error for a key column). Records which columns end up
    /// numeric, binary, temporal, float or nested.
    fn bring_together(
        &mut self,
        all: &[String],
        types: &[Vec<DataType>; 2],
        first_texts: &BTreeMap<String, String>,
    ) -> Result<Vec<Harmony>> {
        let def = self.def;
        let mut harmony = Vec::new();
        for (i, c) in all.iter().enumerate() {
            let (lt, tt) = (&types[0][i], &types[1][i]);
            let mut h = harmonize(lt, tt, first_texts.get(c).map(String::as_str));
            // What is hashed is the column brought to its one type.
            let hashable = match &h {
                Harmony::Keep => crate::normalize::row_hash::hashable(lt),
                Harmony::Cast(t) => crate::normalize::row_hash::hashable(t),
                Harmony::Float | Harmony::Numeric | Harmony::Incomparable(_) => true,
            };
            if !hashable {
                h = Harmony::Incomparable(format!(
                    "its values ({}) cannot be compared; normalise the column (for example cast it to text when extracting)",
                    type_words(lt)
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
                // A kept column is never fixed-width bytes (those are cast to Binary).
                Harmony::Keep => is_binary(lt),
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
        Ok(harmony)
    }

    /// Register the two views of the normalised key and compared columns of `all`,
    /// with `__part` and the row hash `__h`, filtered by `keys_file` and `sample`; then
    /// estimate a row's size.
    async fn register_views(
        &mut self,
        all: &[String],
        harmony: &[Harmony],
        types: &[Vec<DataType>; 2],
        sources: [&String; 2],
    ) -> Result<()> {
        let def = self.def;
        let compared = self.compared.clone();
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
        // Live systems: the keys too young to judge are left out of both views.
        let settle_join = self.settle_join(all, harmony, types, sources).await?;
        let keys_join = format!("{keys_join} {settle_join}");
        let views = [self.legacy_view.clone(), self.target_view.clone()];
        for (s, ((side, source), view)) in
            Side::ALL.into_iter().zip(sources).zip(&views).enumerate()
        {
            let select = in_view
                .iter()
                .map(|(i, c)| {
                    let e = wrap(&self.normalised(side, c), &harmony[*i], &types[s][*i]);
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
            // Holding the view (held.rs) also catches the values its rules cannot read,
            // unless a keys file, `settle` or a sample leaves rows out of it.
            let fallible: Vec<(String, String, String)> =
                if def.keys_file.is_none() && settle_join.is_empty() && sample.is_empty() {
                    in_view
                        .iter()
                        .filter_map(|(_, c)| {
                            let r = side_rules(def.normalize.get(*c)?, side);
                            r.fallible().then(|| {
                                (
                                    (*c).clone(),
                                    r.apply_infallible(&ident(c)),
                                    r.apply_with(&ident(c), OnInvalid::Null),
                                )
                            })
                        })
                        .collect()
                } else {
                    Vec::new()
                };
            let (inner, outer) = invalid_columns(&fallible, &def.key);
            let more =
                |items: &[String]| items.iter().map(|x| format!(", {x}")).collect::<String>();
            let columns = in_view
                .iter()
                .map(|(_, c)| format!("n.{}", ident(c)))
                .collect::<Vec<_>>()
                .join(", ");
            self.hold_sql[s] = HoldSql {
                sql: format!(
                    "SELECT {columns}, {part} AS __part, sd_row_hash({h}) AS __h{} \
                     FROM (SELECT {select}{} FROM ({source}) AS s) AS n {keys_join} {sample}",
                    more(&outer),
                    more(&inner),
                    h = hashed.join(", ")
                ),
                fallible: fallible.into_iter().map(|f| f.0).collect(),
            };
            self.debug(&view_sql);
            crate::engine::sql::sql(self.ctx, &view_sql).await.map_err(|e| {
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

    pub(crate) async fn register_keys_file(
        &self,
        table: &str,
        path: &std::path::Path,
    ) -> Result<()> {
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

    /// A per-partition template (count.sql, digest.sql) over the two views.
    pub(crate) fn render_views(&self, template: &str) -> Result<String> {
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
}

/// For a name a spec wrote in another case than the column (`genreid` for `GenreId`), or
/// in snake_case (`genre_id`): the hint to write it as the column does.
fn written_as(name: &str, columns: &[String]) -> Option<String> {
    let lower = name.to_lowercase();
    if let Some(c) = columns.iter().find(|c| c.to_lowercase() == lower) {
        return Some(format!(
            "did you mean `{c}`? names are taken exactly as written"
        ));
    }
    let snake = crate::snapshot::names::snake_case;
    columns.iter().find(|c| snake(c) == name).map(|c| {
        format!(
            "did you mean `{c}`? names are taken exactly as written; to name such columns \
             `{name}`, extract with names = \"snake_case\" (snapdiff diff: --names snake_case)"
        )
    })
}
