//! The spec: a verification plan as a TOML file.
//!
//! A spec names the sources (`[sources.legacy]`, `[sources.target]`), what to extract
//! from them (`[[extract]]`) and where snapshots live (`[snapshots]`). Parsing is strict:
//! an unknown key is an error that names the nearest valid key, and every error points
//! at the file, line and column. `${VAR}` in a string value is read from the environment.
//! docs/spec.md documents every key.

mod env;
mod suggest;

pub use suggest::nearest;

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

/// `[sources.<side>]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SourceSection {
    pub url: String,
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
    pub sources: SourcesSection,
    #[serde(default)]
    pub extract: Vec<ExtractEntry>,
}

/// A loaded spec: the file's content with `${VAR}` expanded, and where it came from.
#[derive(Debug, Clone)]
pub struct Spec {
    pub path: PathBuf,
    pub base_dir: PathBuf,
    pub file: SpecFile,
    text: String,
}

/// The sides a spec can name.
pub const SIDES: [&str; 2] = ["legacy", "target"];

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
        for (i, e) in self.file.extract.iter().enumerate() {
            if !SIDES.contains(&e.side.as_str()) {
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
    pub fn source(&self, side: &str) -> Result<Source> {
        let s = self.source_section(side).ok_or_else(|| {
            Error::spec(format!("the spec has no [sources.{side}]")).with_file(&self.path)
        })?;
        Source::parse(&s.url, &self.base_dir)
            .map_err(|e| self.table_error(&format!("sources.{side}"), Some("url"), e.to_string()))
    }

    /// The snapshot root: `[snapshots] root`, relative to the spec's folder.
    pub fn snapshot_root(&self) -> PathBuf {
        let root = self.file.snapshots.root.as_deref().unwrap_or("snapshots");
        let p = Path::new(root);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        }
    }

    /// The sides that have a source, in order (legacy, target).
    pub fn sides(&self) -> Vec<&'static str> {
        SIDES
            .iter()
            .copied()
            .filter(|s| self.source_section(s).is_some())
            .collect()
    }

    /// What to extract for `side`: its `[[extract]]` entries, or every table of the
    /// source when it has none.
    pub fn extract_request(&self, side: &str) -> Result<ExtractRequest> {
        let source = self.source(side)?;
        let tables = self
            .file
            .extract
            .iter()
            .filter(|e| e.side == side)
            .map(|e| {
                let from = match (&e.table, &e.query) {
                    (Some(t), _) => TableFrom::Table(t.clone()),
                    (None, Some(q)) => TableFrom::Query(q.clone()),
                    (None, None) => unreachable!("checked when the spec was parsed"),
                };
                let name = e.name.clone().unwrap_or_else(|| {
                    extract::snapshot_name(e.table.as_deref().unwrap_or_default())
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
        })
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
        let r = s.extract_request("legacy").unwrap();
        assert_eq!(
            r.source.path.as_deref(),
            Some(Path::new("/specs/data/legacy.db"))
        );
        assert_eq!(r.tables[0].name, "users");
        assert_eq!(r.tables[0].casts.get("age"), Some(&CastType::Text));
        assert_eq!(s.snapshot_root(), PathBuf::from("/specs/snapshots"));
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
