//! The spec: a verification plan as a TOML file.
//!
//! A spec names the sources (`[sources.legacy]`, `[sources.target]`), what to extract
//! from them (`[[extract]]`) and where snapshots live (`[snapshots]`). Parsing is strict:
//! an unknown key is an error that names the nearest valid key, and every error points
//! at the file, line and column. `${VAR}` in a string value is read from the environment.
//! docs/spec.md documents every key.

pub mod checks;
pub mod duration;
mod env;
pub mod reports;

use crate::snapshot::names::Names;
use crate::snapshot::Side;
use crate::suggest::{self, nearest};
pub use checks::{
    CheckKind, EntityDef, EntityKind, EntitySection, InvariantSection, QuerySection, Settle,
    Thresholds,
};
pub use reports::{MaskKind, MaskPlan, ReportsSection, MASK_KEY_VAR};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::extract::{self, CastType, ExtractRequest, Source, TableFrom, TableRequest};

/// `[snapshots]`.
#[derive(Debug, Clone, Deserialize, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SnapshotsSection {
    /// The snapshot root, relative to the spec's folder (default `snapshots`).
    pub root: Option<String>,
}

/// `[storage]`: how `s3://` roots are reached; each key set here wins over the AWS
/// environment variable it stands for.
#[derive(Debug, Clone, Deserialize, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StorageSection {
    /// An S3-compatible endpoint (`http://` allowed), for `AWS_ENDPOINT_URL`.
    pub endpoint: Option<String>,
    /// For `AWS_REGION`.
    pub region: Option<String>,
    /// For `AWS_ACCESS_KEY_ID`.
    pub access_key_id: Option<String>,
    /// For `AWS_SECRET_ACCESS_KEY`; write it as `${VAR}`, and it is hidden from output.
    pub secret_access_key: Option<String>,
}

/// `[engine]`: where the checks run.
#[derive(Debug, Clone, Deserialize, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EngineSection {
    /// `df://HOST:PORT` for a Ballista scheduler, or `local` (the default).
    pub url: Option<String>,
}

/// `[sources.<side>]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SourceSection {
    pub url: String,
    /// How the snapshot names this side's tables and columns: `as_is` (default),
    /// `lower` or `snake_case`.
    pub names: Option<String>,
}

/// `[sources]`: the two sides.
#[derive(Debug, Clone, Deserialize, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SourcesSection {
    pub legacy: Option<SourceSection>,
    pub target: Option<SourceSection>,
}

/// One `[[extract]]` entry.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ExtractEntry {
    pub side: String,
    pub table: Option<String>,
    pub query: Option<String>,
    pub name: Option<String>,
    pub partition_on: Option<String>,
    pub partitions: Option<usize>,
    #[serde(default)]
    pub cast: BTreeMap<String, CastType>,
}

/// The spec file as written.
#[derive(Debug, Clone, Deserialize, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SpecFile {
    #[serde(default)]
    pub snapshots: SnapshotsSection,
    #[serde(default)]
    pub reports: ReportsSection,
    #[serde(default)]
    pub storage: StorageSection,
    #[serde(default)]
    pub engine: EngineSection,
    #[serde(default)]
    pub sources: SourcesSection,
    #[serde(default)]
    pub extract: Vec<ExtractEntry>,
    #[serde(default)]
    pub entity: Vec<EntitySection>,
    #[serde(default)]
    pub invariant: Vec<InvariantSection>,
    #[serde(default)]
    pub query: Vec<QuerySection>,
    /// Defaults for every check; an entity's own `[entity.thresholds]` win.
    #[serde(default)]
    pub thresholds: Thresholds,
}

/// A loaded spec: the file's content with `${VAR}` expanded, and where it came from.
#[derive(Debug, Clone)]
pub struct Spec {
    pub path: PathBuf,
    pub base_dir: PathBuf,
    pub file: SpecFile,
    text: String,
}

impl Spec {
    /// Read and check the spec at `path`.
    pub fn load(path: &Path) -> Result<Spec> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::spec("the spec file does not exist").with_file(path)
            } else {
                Error::io("read the spec", path, e)
            }
        })?;
        Self::parse(&text, path)
    }

    /// Check spec `text` that came from `path`.
    pub fn parse(text: &str, path: &Path) -> Result<Spec> {
        let mut file: SpecFile = toml::from_str(text).map_err(|e| toml_error(&e, text, path))?;
        env::expand_spec(&mut file, text, path)?;
        // A spec named without a folder (`verify.toml`) has base "" so that paths print
        // as `snapshots/...`, not `./snapshots/...`.
        let base_dir = path.parent().unwrap_or(Path::new("")).to_path_buf();
        let spec = Spec {
            path: path.to_path_buf(),
            base_dir,
            file,
            text: text.to_string(),
        };
        spec.check()?;
        Ok(spec)
    }

    /// An error about the `index`-th entry of `[[section]]`, at the line of `key` in it.
    pub fn entry_error(
        &self,
        section: &str,
        index: usize,
        key: Option<&str>,
        message: impl Into<String>,
    ) -> Error {
        let line = locate(&self.text, section, index, key);
        spec_error(&self.path, line, None, message.into())
    }

    /// An error about `key` of the table `[header]`.
    pub fn table_error(
        &self,
        header: &str,
        key: Option<&str>,
        message: impl Into<String>,
    ) -> Error {
        let line = locate_table(&self.text, header, key);
        spec_error(&self.path, line, None, message.into())
    }

    fn check(&self) -> Result<()> {
        self.engine()?;
        self.mask_plan()?;
        self.check_extract()?;
        self.check_thresholds()?;
        self.check_checks()
    }

    /// Every ratio limit is a finite number from 0 up.
    fn check_thresholds(&self) -> Result<()> {
        let all = std::iter::once(("thresholds".to_string(), &self.file.thresholds))
            .chain(
                self.file
                    .entity
                    .iter()
                    .map(|e| (format!("entity {}", e.name), &e.thresholds)),
            )
            .chain(
                self.file
                    .query
                    .iter()
                    .map(|q| (format!("query {}", q.name), &q.thresholds)),
            );
        for (owner, t) in all {
            for (key, r) in [
                ("max_missing_ratio", t.max_missing_ratio),
                ("max_extra_ratio", t.max_extra_ratio),
                ("max_changed_ratio", t.max_changed_ratio),
            ] {
                if let Some(r) = r {
                    if !(r.is_finite() && r >= 0.0) {
                        return Err(Error::spec(format!(
                            "{owner}: {key} = {r} is not a ratio: give a number from 0 (none allowed) up, 0.01 for 1%"
                        ))
                        .with_file(&self.path));
                    }
                }
            }
        }
        Ok(())
    }

    /// Validate entities, invariants and queries without touching any data: names, keys,
    /// sides, rules, and that every SQL text and partition expression parses.
    fn check_checks(&self) -> Result<()> {
        let mut names = std::collections::BTreeSet::new();
        let name_ok = |n: &str| {
            n.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
                && n.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        };
        for (i, e) in self.file.entity.iter().enumerate() {
            let err = |key: Option<&str>, msg: String| self.entry_error("entity", i, key, msg);
            if !name_ok(&e.name) {
                return Err(err(
                    Some("name"),
                    format!(
                        "entity name `{}` must be lowercase letters, digits and `_`",
                        e.name
                    ),
                ));
            }
            if !names.insert(e.name.clone()) {
                return Err(err(
                    Some("name"),
                    format!("two checks are named `{}`", e.name),
                ));
            }
            if e.key.is_empty() {
                return Err(err(
                    Some("key"),
                    "an entity needs at least one key column".into(),
                ));
            }
            match (&e.table, &e.legacy, &e.target) {
                (Some(_), None, None) | (None, Some(_), Some(_)) => {}
                (Some(_), _, _) => {
                    return Err(err(
                        Some("table"),
                        "give either `table` or `legacy` and `target`, not both".into(),
                    ))
                }
                (None, _, _) => return Err(err(
                    None,
                    "give `table` (the same table on both sides) or both `legacy` and `target` SQL"
                        .into(),
                )),
            }
            // `table` is pasted into `SELECT * FROM legacy.<table>`: a snapshot table name
            // (SQL folds it to lower case, so `Orders` names `orders`).
            if let Some(t) = &e.table {
                if extract::check_table_name(&t.to_ascii_lowercase()).is_err() {
                    return Err(err(
                        Some("table"),
                        format!(
                            "snapshot table name `{t}` must be letters, digits and `_`, starting with a letter or `_` (SQL reads it in lower case)"
                        ),
                    ));
                }
            }
            for (key, sql) in [("legacy", &e.legacy), ("target", &e.target)] {
                if let Some(sql) = sql {
                    parse_sql(sql).map_err(|m| err(Some(key), format!("the {key} SQL {m}")))?;
                }
            }
            for (key, expr) in [
                ("partition_by", &e.partition_by),
                ("filter", &e.filter),
                ("legacy_filter", &e.legacy_filter),
                ("target_filter", &e.target_filter),
            ] {
                if let Some(x) = expr {
                    parse_expr(x)
                        .map_err(|m| err(Some(key), format!("`{key}` does not parse: {m}")))?;
                }
            }
            if let Some(r) = &e.recheck {
                for (key, t) in [("legacy", &r.legacy), ("target", &r.target)] {
                    if t.as_ref().is_some_and(|t| !t.contains("{keys}")) {
                        return Err(err(
                            Some(key),
                            format!("the recheck {key} query has no {{keys}}: write it where the keys go, `WHERE id IN ({{keys}})`"),
                        ));
                    }
                }
            }
            if let Some(s) = &e.settle {
                duration::parse_duration(&s.within)
                    .map_err(|m| err(Some("settle"), format!("settle: {m}")))?;
                if s.column.is_empty() {
                    return Err(err(
                        Some("settle"),
                        "settle needs a column: settle = { column = \"updated_at\", within = \"10m\" }".into(),
                    ));
                }
            }
            if let Some(s) = e.sample {
                // Keys are sampled in millionths.
                if !(0.000_001..=1.0).contains(&s) {
                    return Err(err(
                        Some("sample"),
                        format!("sample is a fraction of keys from 0.000001 to 1, not {s}"),
                    ));
                }
            }
            if let Some(k) = &e.keys_file {
                let p = self.base_dir.join(k);
                if !p.is_file() {
                    return Err(err(
                        Some("keys_file"),
                        format!("the keys file {} does not exist", p.display()),
                    ));
                }
            }
            if let Some(cs) = &e.checks {
                for c in cs {
                    if CheckKind::entity_check(c).is_none() {
                        let all = CheckKind::entity_names();
                        let hint = nearest(c, &all)
                            .map(|n| format!("; did you mean `{n}`?"))
                            .unwrap_or_default();
                        return Err(err(
                            Some("checks"),
                            format!("unknown check `{c}`{hint} (checks: {})", all.join(", ")),
                        ));
                    }
                }
            }
            checks::parse_normalize(&e.normalize).map_err(|(col, m)| {
                let line = locate_sub(&self.text, "entity", i, "entity.normalize", &col);
                spec_error(
                    &self.path,
                    line,
                    None,
                    format!("entity {}, column {col}: {m}", e.name),
                )
            })?;
        }
        for (i, q) in self.file.query.iter().enumerate() {
            let err = |key: Option<&str>, msg: String| self.entry_error("query", i, key, msg);
            if !name_ok(&q.name) {
                return Err(err(
                    Some("name"),
                    format!(
                        "query check name `{}` must be lowercase letters, digits and `_`",
                        q.name
                    ),
                ));
            }
            if !names.insert(q.name.clone()) {
                return Err(err(
                    Some("name"),
                    format!("two checks are named `{}`", q.name),
                ));
            }
            match (&q.sql, &q.legacy, &q.target) {
                (Some(sql), None, None) => {
                    if !sql.contains("{side}") {
                        return Err(err(
                            Some("sql"),
                            "`sql` runs on both sides: name the tables as {side}.table".into(),
                        ));
                    }
                    parse_sql(&sql.replace("{side}", "legacy"))
                        .map_err(|m| err(Some("sql"), format!("the SQL {m}")))?;
                }
                (None, Some(l), Some(t)) => {
                    parse_sql(l).map_err(|m| err(Some("legacy"), format!("the legacy SQL {m}")))?;
                    parse_sql(t).map_err(|m| err(Some("target"), format!("the target SQL {m}")))?;
                }
                _ => {
                    return Err(err(
                        None,
                        "give `sql` (run on both sides with {side}) or both `legacy` and `target`"
                            .into(),
                    ))
                }
            }
            if q.key.as_ref().is_some_and(|k| k.is_empty()) {
                return Err(err(
                    Some("key"),
                    "`key` names at least one column (or leave it out to compare whole rows)"
                        .into(),
                ));
            }
            checks::parse_normalize(&q.normalize).map_err(|(col, m)| {
                err(Some(&col), format!("query {}, column {col}: {m}", q.name))
            })?;
        }
        for (i, v) in self.file.invariant.iter().enumerate() {
            let err = |key: Option<&str>, msg: String| self.entry_error("invariant", i, key, msg);
            if !names.insert(v.name.clone()) {
                return Err(err(
                    Some("name"),
                    format!("two checks are named `{}`", v.name),
                ));
            }
            parse_sql(&v.sql).map_err(|m| err(Some("sql"), format!("the SQL {m}")))?;
        }
        Ok(())
    }

    /// The entities and query checks, resolved: both sides' SQL and every column's rules.
    pub fn entity_defs(&self) -> Vec<EntityDef> {
        let mut out = Vec::new();
        let masks = self.mask_plan().expect("checked when the spec was parsed");
        for e in &self.file.entity {
            let (legacy_sql, target_sql) = match &e.table {
                Some(t) => (
                    format!("SELECT * FROM legacy.{t}"),
                    format!("SELECT * FROM target.{t}"),
                ),
                None => (
                    e.legacy.clone().unwrap_or_default(),
                    e.target.clone().unwrap_or_default(),
                ),
            };
            out.push(EntityDef {
                name: e.name.clone(),
                kind: EntityKind::Entity,
                key: e.key.clone(),
                legacy_sql,
                target_sql,
                columns: e.columns.clone(),
                ignore: e.ignore.clone(),
                partition_by: e.partition_by.clone(),
                legacy_filter: checks::and(e.filter.as_deref(), e.legacy_filter.as_deref()),
                target_filter: checks::and(e.filter.as_deref(), e.target_filter.as_deref()),
                sample: e.sample,
                keys_file: e.keys_file.as_ref().map(|k| self.base_dir.join(k)),
                // The schema check runs whatever the list says: name it, so `plan`
                // shows what will run.
                checks: match &e.checks {
                    Some(cs) => std::iter::once(CheckKind::Schema)
                        .chain(
                            cs.iter()
                                .filter_map(|c| CheckKind::entity_check(c))
                                .filter(|c| *c != CheckKind::Schema),
                        )
                        .collect(),
                    None => CheckKind::ENTITY.to_vec(),
                },
                normalize: checks::parse_normalize(&e.normalize)
                    .expect("checked when the spec was parsed"),
                thresholds: e.thresholds.over(&self.file.thresholds),
                masks: masks.clone(),
                settle: e.settle.as_ref().map(|s| Settle {
                    column: s.column.clone(),
                    within: duration::parse_duration(&s.within)
                        .expect("checked when the spec was parsed"),
                    cutoff: None,
                }),
            });
        }
        for q in &self.file.query {
            let (legacy_sql, target_sql) = match &q.sql {
                Some(sql) => (
                    sql.replace("{side}", "legacy"),
                    sql.replace("{side}", "target"),
                ),
                None => (
                    q.legacy.clone().unwrap_or_default(),
                    q.target.clone().unwrap_or_default(),
                ),
            };
            out.push(EntityDef {
                name: q.name.clone(),
                kind: EntityKind::Query,
                key: q.key.clone().unwrap_or_default(),
                legacy_sql,
                target_sql,
                columns: None,
                ignore: Vec::new(),
                partition_by: None,
                legacy_filter: None,
                target_filter: None,
                sample: None,
                keys_file: None,
                checks: vec![CheckKind::Schema, CheckKind::Count, CheckKind::Diff],
                normalize: checks::parse_normalize(&q.normalize)
                    .expect("checked when the spec was parsed"),
                thresholds: q.thresholds.over(&self.file.thresholds),
                masks: masks.clone(),
                settle: None,
            });
        }
        out
    }

    fn check_extract(&self) -> Result<()> {
        for side in Side::ALL {
            self.names(side)?;
        }
        for (i, e) in self.file.extract.iter().enumerate() {
            if Side::parse(&e.side).is_err() {
                return Err(self.entry_error(
                    "extract",
                    i,
                    Some("side"),
                    format!("side `{}` is not a side; use `legacy` or `target`", e.side),
                ));
            }
            if self.source_section(&e.side).is_none() {
                return Err(self.entry_error(
                    "extract",
                    i,
                    Some("side"),
                    format!("there is no [sources.{}] to extract from", e.side),
                ));
            }
            match (&e.table, &e.query) {
                (Some(_), Some(_)) => {
                    return Err(self.entry_error(
                        "extract",
                        i,
                        Some("query"),
                        "give either `table` or `query`, not both",
                    ))
                }
                (None, None) => {
                    return Err(self.entry_error("extract", i, None, "give `table` or `query`"))
                }
                (None, Some(_)) if e.name.is_none() => {
                    return Err(self.entry_error(
                        "extract",
                        i,
                        Some("query"),
                        "an extract with `query` needs `name`, the snapshot table to store it as",
                    ))
                }
                _ => {}
            }
            if let Some(name) = &e.name {
                extract::check_table_name(name).map_err(|err| {
                    self.entry_error("extract", i, Some("name"), err.message.clone())
                })?;
            }
            if e.partitions == Some(0) {
                return Err(self.entry_error(
                    "extract",
                    i,
                    Some("partitions"),
                    "partitions must be at least 1",
                ));
            }
        }
        Ok(())
    }

    fn source_section(&self, side: &str) -> Option<&SourceSection> {
        match side {
            "legacy" => self.file.sources.legacy.as_ref(),
            "target" => self.file.sources.target.as_ref(),
            _ => None,
        }
    }

    /// The source of `side`.
    pub fn source(&self, side: Side) -> Result<Source> {
        let s = self.source_section(side.as_str()).ok_or_else(|| {
            Error::spec(format!("the spec has no [sources.{side}]")).with_file(&self.path)
        })?;
        Source::parse(&s.url, &self.base_dir)
            .map_err(|e| self.table_error(&format!("sources.{side}"), Some("url"), e.to_string()))
    }

    /// How `side`'s snapshot names tables and columns: `[sources.<side>] names`.
    pub fn names(&self, side: Side) -> Result<Names> {
        match self
            .source_section(side.as_str())
            .and_then(|s| s.names.as_deref())
        {
            None => Ok(Names::AsIs),
            Some(n) => Names::parse(n).map_err(|e| {
                let err =
                    self.table_error(&format!("sources.{side}"), Some("names"), e.message.clone());
                match e.hint {
                    Some(h) => err.with_hint(h),
                    None => err,
                }
            }),
        }
    }

    /// The snapshot root: `[snapshots] root`, relative to the spec's folder, or an
    /// `s3://bucket/prefix` location.
    pub fn snapshot_root(&self) -> PathBuf {
        self.relative(self.file.snapshots.root.as_deref().unwrap_or("snapshots"))
    }

    /// Where the checks run: `[engine] url`, in this process by default.
    pub fn engine(&self) -> Result<crate::engine::Engine> {
        match &self.file.engine.url {
            Some(u) => crate::engine::Engine::parse(u).map_err(|e| e.with_file(&self.path)),
            None => Ok(crate::engine::Engine::InProcess),
        }
    }

    /// The spec's `[storage]` settings, for [`crate::storage::configure`].
    pub fn storage_settings(&self) -> crate::storage::S3Settings {
        let s = &self.file.storage;
        crate::storage::S3Settings {
            endpoint: s.endpoint.clone(),
            region: s.region.clone(),
            access_key_id: s.access_key_id.clone(),
            secret_access_key: s.secret_access_key.clone(),
            part_mib: None,
        }
    }

    /// Where reports are written: `[reports] root`, relative to the spec's folder
    /// (default `reports`).
    pub fn reports_root(&self) -> PathBuf {
        self.relative(self.file.reports.root.as_deref().unwrap_or("reports"))
    }

    /// Which columns the reports mask: `[reports] mask` and each entity's and query
    /// check's own `mask`.
    pub fn mask_plan(&self) -> Result<MaskPlan> {
        let own = self
            .file
            .entity
            .iter()
            .map(|e| (e.name.clone(), e.mask.clone()))
            .chain(
                self.file
                    .query
                    .iter()
                    .map(|q| (q.name.clone(), q.mask.clone())),
            )
            .filter(|(_, m)| !m.is_empty())
            .collect();
        let r = &self.file.reports;
        let partitions = self
            .file
            .entity
            .iter()
            .filter_map(|e| Some((e.name.clone(), e.partition_by.clone()?)))
            .collect();
        MaskPlan::new(&r.mask, own, r.mask_diffs)
            .map(|p| p.with_partitions(partitions))
            .map_err(|m| self.table_error("reports", Some("mask"), m))
    }

    /// The key of `hash` masks: `[reports] mask_key`, else the environment's
    /// `SNAPDIFF_MASK_KEY` (registered as a secret either way); `None` when neither is
    /// set.
    pub fn mask_key(&self) -> Option<String> {
        let key = self
            .file
            .reports
            .mask_key
            .clone()
            .or_else(|| std::env::var(MASK_KEY_VAR).ok())
            .filter(|k| !k.is_empty())?;
        crate::secrets::register(&key);
        Some(key)
    }

    /// The spec's name: its file name without `.toml`. Reports of one spec share it.
    pub fn name(&self) -> String {
        self.path
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_else(|| "spec".into())
    }

    /// SHA-256 of the spec's text as written (before `${VAR}` expansion), in hex.
    pub fn sha256(&self) -> String {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(self.text.as_bytes()))
    }

    fn relative(&self, path: &str) -> PathBuf {
        let p = Path::new(path);
        if p.is_absolute() || crate::storage::is_object(p) {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        }
    }

    /// The sides that have a source, in order (legacy, target).
    pub fn sides(&self) -> Vec<Side> {
        Side::ALL
            .into_iter()
            .filter(|s| self.source_section(s.as_str()).is_some())
            .collect()
    }

    /// What to extract for `side`: its `[[extract]]` entries, or every table of the
    /// source when it has none.
    pub fn extract_request(&self, side: Side) -> Result<ExtractRequest> {
        self.extract_request_named(side, self.names(side)?)
    }

    /// [`Spec::extract_request`] with the snapshot's names as `names` says, whatever
    /// the spec does (`snapdiff extract --names`).
    pub fn extract_request_named(&self, side: Side, names: Names) -> Result<ExtractRequest> {
        let source = self.source(side)?;
        let tables = self
            .file
            .extract
            .iter()
            .filter(|e| e.side == side.as_str())
            .map(|e| {
                let from = match (&e.table, &e.query) {
                    (Some(t), _) => TableFrom::Table(t.clone()),
                    (None, Some(q)) => TableFrom::Query(q.clone()),
                    (None, None) => unreachable!("checked when the spec was parsed"),
                };
                let name = e.name.clone().unwrap_or_else(|| {
                    extract::snapshot_name_with(e.table.as_deref().unwrap_or_default(), names)
                });
                TableRequest {
                    name,
                    from,
                    partition_on: e.partition_on.clone(),
                    partitions: e.partitions,
                    casts: e.cast.clone(),
                }
            })
            .collect();
        Ok(ExtractRequest {
            side: side.to_string(),
            source,
            tables,
            names,
        })
    }
}

/// Whether `sql` parses as DataFusion SQL (a syntax check: no table is looked up).
/// It must be one query (SELECT, WITH or VALUES): it is embedded as a subquery.
pub fn parse_sql(sql: &str) -> std::result::Result<(), String> {
    use datafusion::sql::parser::Statement as DfStatement;
    use datafusion::sql::sqlparser::ast::Statement;
    let statements = datafusion::sql::parser::DFParser::parse_sql(sql)
        .map_err(|e| format!("does not parse: {e}"))?;
    match statements.len() {
        0 => return Err("is empty: write one query (SELECT ...)".into()),
        1 => {}
        n => {
            return Err(format!(
                "holds {n} statements; write one query (SELECT ...)"
            ))
        }
    }
    match &statements[0] {
        DfStatement::Statement(s) if matches!(**s, Statement::Query(_)) => Ok(()),
        _ => Err("is not a query; write one SELECT (or WITH ... SELECT, or VALUES)".into()),
    }
}

/// Whether `expr` parses as a DataFusion SQL expression.
pub fn parse_expr(expr: &str) -> std::result::Result<(), String> {
    let dialect = datafusion::sql::sqlparser::dialect::GenericDialect {};
    let mut p = datafusion::sql::sqlparser::parser::Parser::new(&dialect)
        .try_with_sql(expr)
        .map_err(|e| e.to_string())?;
    p.parse_expr().map_err(|e| e.to_string())?;
    match p.peek_token().token {
        datafusion::sql::sqlparser::tokenizer::Token::EOF => Ok(()),
        t => Err(format!("unexpected `{t}` after the expression")),
    }
}

/// A spec error at `line` (1-based) and `column`.
fn spec_error(path: &Path, line: Option<usize>, column: Option<usize>, message: String) -> Error {
    let place = match (line, column) {
        (Some(l), Some(c)) => format!("{}:{l}:{c}", path.display()),
        (Some(l), None) => format!("{}:{l}", path.display()),
        _ => path.display().to_string(),
    };
    Error::spec(format!("{place}: {message}"))
}

/// A TOML or serde error as a spec error with line, column and a suggestion.
fn toml_error(e: &toml::de::Error, text: &str, path: &Path) -> Error {
    let (line, col) = match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let col = before.len() - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
            (Some(line), Some(col))
        }
        None => (None, None),
    };
    let msg = e.message().trim().to_string();
    let section = line.and_then(|l| enclosing_header(text, l));
    let message = match suggest::unknown_field(&msg) {
        Some((unknown, expected)) => {
            let mut m = format!("unknown key `{unknown}`");
            if let Some(s) = &section {
                m.push_str(&format!(" in {s}"));
            }
            match suggest::nearest(&unknown, &expected) {
                Some(best) => m.push_str(&format!("; did you mean `{best}`?")),
                None => m.push_str(&format!("; valid keys are {}", expected.join(", "))),
            }
            m
        }
        None => msg,
    };
    spec_error(path, line, col, message)
}

/// The `[table]` or `[[array]]` header above line `line`.
fn enclosing_header(text: &str, line: usize) -> Option<String> {
    text.lines()
        .take(line)
        .filter(|l| l.trim_start().starts_with('['))
        .last()
        .map(|l| l.trim().split('#').next().unwrap_or("").trim().to_string())
}

/// The line of `key` within the `index`-th `[[section]]` (or of its header).
fn locate(text: &str, section: &str, index: usize, key: Option<&str>) -> Option<usize> {
    let header = format!("[[{section}]]");
    let mut seen = 0;
    let mut start = None;
    for (i, l) in text.lines().enumerate() {
        if l.trim_start().starts_with(&header) {
            if seen == index {
                start = Some(i);
                break;
            }
            seen += 1;
        }
    }
    let start = start?;
    find_key(text, start, key)
}

/// The line of `key` in the `[sub]` table that belongs to the `index`-th `[[section]]`
/// (or of the entry's header when it is not found).
fn locate_sub(text: &str, section: &str, index: usize, sub: &str, key: &str) -> Option<usize> {
    let entry = locate(text, section, index, None)?;
    let sub_header = format!("[{sub}]");
    for (i, l) in text.lines().enumerate().skip(entry) {
        let t = l.trim_start();
        if t.starts_with("[[") {
            break;
        }
        if t.starts_with(&sub_header) {
            return find_key(text, i, Some(key));
        }
    }
    Some(entry)
}

fn locate_table(text: &str, header: &str, key: Option<&str>) -> Option<usize> {
    let h = format!("[{header}]");
    let start = text.lines().position(|l| l.trim_start().starts_with(&h))?;
    find_key(text, start, key)
}

fn find_key(text: &str, start: usize, key: Option<&str>) -> Option<usize> {
    let Some(key) = key else {
        return Some(start + 1);
    };
    for (i, l) in text.lines().enumerate().skip(start + 1) {
        let t = l.trim_start();
        if t.starts_with('[') {
            break;
        }
        if t.starts_with(key) && t[key.len()..].trim_start().starts_with('=') {
            return Some(i + 1);
        }
    }
    Some(start + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Spec> {
        Spec::parse(text, Path::new("/specs/verify.toml"))
    }

    #[test]
    fn unknown_key_names_line_section_and_nearest_key() {
        let e = parse(
            "[sources.legacy]\nurl = \"sqlite://a.db\"\n\n[[extract]]\nside = \"legacy\"\ntable = \"users\"\npartiton_on = \"id\"\n",
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "/specs/verify.toml:7:1: unknown key `partiton_on` in [[extract]]; did you mean `partition_on`?"
        );
    }

    #[test]
    fn storage_engine_and_report_root_expand_variables() {
        std::env::set_var("SNAPDIFF_TEST_S3_SECRET", "s3cr3t-value");
        std::env::set_var("SNAPDIFF_TEST_S3_HOST", "minio.internal");
        let spec = parse(
            "[reports]\nroot = \"s3://${SNAPDIFF_TEST_S3_HOST}-reports/x\"\n\
             [engine]\nurl = \"df://${SNAPDIFF_TEST_S3_HOST}:50050\"\n\
             [storage]\nendpoint = \"http://${SNAPDIFF_TEST_S3_HOST}:9000\"\n\
             region = \"eu-${SNAPDIFF_TEST_S3_HOST}\"\n\
             access_key_id = \"id-${SNAPDIFF_TEST_S3_HOST}\"\n\
             secret_access_key = \"${SNAPDIFF_TEST_S3_SECRET}\"\n",
        )
        .unwrap();
        assert_eq!(
            spec.storage_settings(),
            crate::storage::S3Settings {
                endpoint: Some("http://minio.internal:9000".into()),
                region: Some("eu-minio.internal".into()),
                access_key_id: Some("id-minio.internal".into()),
                secret_access_key: Some("s3cr3t-value".into()),
                part_mib: None,
            }
        );
        assert_eq!(
            spec.reports_root(),
            PathBuf::from("s3://minio.internal-reports/x")
        );
        assert_eq!(
            spec.engine().unwrap(),
            crate::engine::Engine::parse("df://minio.internal:50050").unwrap()
        );
        // A secret read from a variable never reaches output.
        assert!(!crate::secrets::scrub("key s3cr3t-value").contains("s3cr3t-value"));
    }

    #[test]
    fn ratio_limits_are_numbers_from_zero_up() {
        let e = parse("[[entity]]\nname = \"a\"\nkey = \"id\"\ntable = \"t\"\n[entity.thresholds]\nmax_missing_ratio = -0.5\n")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "file /specs/verify.toml: entity a: max_missing_ratio = -0.5 is not a ratio: give a number from 0 (none allowed) up, 0.01 for 1%"
        );
        let e = parse("[thresholds]\nmax_changed_ratio = nan\n").unwrap_err();
        assert!(
            e.to_string().starts_with(
                "file /specs/verify.toml: thresholds: max_changed_ratio = NaN is not a ratio"
            ),
            "{e}"
        );
        assert!(parse("[thresholds]\nmax_changed_ratio = 0.01\n").is_ok());
    }

    #[test]
    fn unknown_side_table_is_suggested_too() {
        let e = parse("[sources.legcy]\nurl = \"sqlite://a.db\"\n").unwrap_err();
        assert_eq!(e.to_string(), "/specs/verify.toml:1:10: unknown key `legcy` in [sources.legcy]; did you mean `legacy`?");
    }

    #[test]
    fn semantic_errors_point_at_the_key() {
        let e = parse("[sources.legacy]\nurl = \"sqlite://a.db\"\n[[extract]]\nside = \"legacy\"\nquery = \"SELECT 1\"\n")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "/specs/verify.toml:5: an extract with `query` needs `name`, the snapshot table to store it as"
        );
        let e = parse("[[extract]]\nside = \"target\"\ntable = \"t\"\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "/specs/verify.toml:2: there is no [sources.target] to extract from"
        );
    }

    #[test]
    fn requests_resolve_relative_to_the_spec() {
        let s = parse(
            "[sources.legacy]\nurl = \"sqlite://data/legacy.db\"\n[[extract]]\nside = \"legacy\"\ntable = \"main.Users\"\ncast = { age = \"text\" }\n",
        )
        .unwrap();
        let r = s.extract_request(Side::Legacy).unwrap();
        assert_eq!(
            r.source.path.as_deref(),
            Some(Path::new("/specs/data/legacy.db"))
        );
        assert_eq!(r.tables[0].name, "users");
        assert_eq!(r.tables[0].casts.get("age"), Some(&CastType::Text));
        assert_eq!(s.snapshot_root(), PathBuf::from("/specs/snapshots"));
    }

    #[test]
    fn entity_rule_errors_point_at_their_entity_and_variables_expand_in_sql() {
        let text = "[[entity]]\nname = \"a\"\nkey = \"id\"\ntable = \"t\"\n[entity.normalize]\nx = [\"trim\"]\n\n\
                    [[entity]]\nname = \"b\"\nkey = \"id\"\ntable = \"t\"\n[entity.normalize]\ny = { rnd = 1 }\n";
        let e = parse(text).unwrap_err().to_string();
        assert_eq!(
            e,
            "/specs/verify.toml:13: entity b, column y: unknown rule `rnd`; did you mean `round`?"
        );
        std::env::set_var("SNAPDIFF_TEST_SCHEMA", "public");
        let s = parse("[[entity]]\nname = \"a\"\nkey = \"id\"\nlegacy = \"SELECT * FROM legacy.${SNAPDIFF_TEST_SCHEMA}\"\ntarget = \"SELECT 1\"\n").unwrap();
        assert_eq!(s.entity_defs()[0].legacy_sql, "SELECT * FROM legacy.public");
    }

    #[test]
    fn bad_cast_type_is_reported_with_its_line() {
        let e = parse("[sources.legacy]\nurl = \"sqlite://a.db\"\n[[extract]]\nside = \"legacy\"\ntable = \"t\"\ncast = { a = \"point\" }\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("/specs/verify.toml:6:"), "{e}");
        assert!(e.contains("unknown cast type `point`"), "{e}");
    }
}
