//! Source URLs: what kind of system a side lives in, and how to reach it.
//!
//! A source is named by one string. Database URLs keep their password only in memory (it
//! is registered with [`crate::secrets`] and dropped from every URL we print or store);
//! paths are resolved against the folder of the spec that named them, so a spec can be run
//! from anywhere.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::secrets;

pub use crate::snapshot::SourceKind;

/// A parsed source. `Debug` and `Display` show the redacted URL only.
#[derive(Clone)]
pub struct Source {
    pub kind: SourceKind,
    /// The connection URL with its password (database kinds only). Never print this.
    url: String,
    /// What may be shown and stored: the URL without password, or the path as given.
    redacted: String,
    /// The resolved local path (SQLite, files, blobs).
    pub path: Option<PathBuf>,
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Source({})", self.redacted)
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted)
    }
}

impl Source {
    /// Parse `url`, resolving relative paths against `base_dir`.
    ///
    /// A database URL without a password takes one from `PGPASSWORD` (PostgreSQL) or
    /// `MYSQL_PWD` (MySQL/MariaDB), as the databases' own clients do.
    pub fn parse(url: &str, base_dir: &Path) -> Result<Source> {
        let url = url.trim();
        secrets::register_url_password(url);
        if url.is_empty() {
            return Err(Error::spec("the source URL is empty").with_hint(
                "give sqlite://PATH, postgresql://USER@HOST/DB, mysql://USER@HOST/DB, files://DIR or a file path",
            ));
        }
        let scheme = url.find("://").map(|i| url[..i].to_ascii_lowercase());
        match scheme.as_deref() {
            Some("sqlite") => {
                let raw = &url["sqlite://".len()..];
                let raw = raw.split('?').next().unwrap_or(raw);
                if raw.is_empty() {
                    return Err(Error::spec(format!("`{url}` names no database file"))
                        .with_hint("write sqlite://path/to/file.db"));
                }
                let path = resolve(base_dir, raw);
                Ok(Source {
                    kind: SourceKind::Sqlite,
                    url: url.to_string(),
                    redacted: url.to_string(),
                    path: Some(path),
                })
            }
            Some("postgresql") | Some("postgres") => {
                Self::database(SourceKind::Postgres, url, "PGPASSWORD")
            }
            Some("mysql") | Some("mariadb") => {
                let url = if scheme.as_deref() == Some("mariadb") {
                    format!("mysql{}", &url["mariadb".len()..])
                } else {
                    url.to_string()
                };
                Self::database(SourceKind::Mysql, &url, "MYSQL_PWD")
            }
            Some("files") => {
                let raw = &url["files://".len()..];
                if raw.is_empty() {
                    return Err(Error::spec(format!("`{url}` names no folder or archive"))
                        .with_hint("write files://path/to/uploads or files://uploads.tar.gz"));
                }
                Ok(Source {
                    kind: SourceKind::Blobs,
                    url: url.to_string(),
                    redacted: url.to_string(),
                    path: Some(resolve(base_dir, raw)),
                })
            }
            Some("file") => {
                let raw = &url["file://".len()..];
                Ok(Source {
                    kind: SourceKind::Files,
                    url: url.to_string(),
                    redacted: url.to_string(),
                    path: Some(resolve(base_dir, raw)),
                })
            }
            Some(other) => Err(Error::spec(format!("unknown source scheme `{other}://`")).with_hint(
                "snapdiff reads sqlite://, postgresql://, mysql://, files:// (blob trees) and plain file paths (Parquet, CSV, NDJSON)",
            )),
            None => Ok(Source {
                kind: SourceKind::Files,
                url: url.to_string(),
                redacted: url.to_string(),
                path: Some(resolve(base_dir, url)),
            }),
        }
    }

    fn database(kind: SourceKind, url: &str, password_env: &str) -> Result<Source> {
        let mut parsed = url::Url::parse(url).map_err(|e| {
            Error::spec(format!(
                "`{}` is not a valid URL: {e}",
                secrets::redact_url(url)
            ))
        })?;
        if let Some(pw) = parsed.password() {
            let decoded = secrets::percent_decode(pw);
            secrets::register(&decoded);
            secrets::register(pw);
        } else if let Ok(pw) = std::env::var(password_env) {
            if !pw.is_empty() {
                secrets::register(&pw);
                parsed.set_password(Some(&pw)).map_err(|_| {
                    Error::spec(format!("cannot put {password_env} into the source URL"))
                })?;
            }
        }
        if parsed.host_str().map(str::is_empty).unwrap_or(true) {
            return Err(
                Error::spec(format!("`{}` names no host", secrets::redact_url(url)))
                    .with_hint("write postgresql://USER@HOST:PORT/DATABASE"),
            );
        }
        let url = parsed.to_string();
        Ok(Source {
            kind,
            redacted: secrets::redact_url(&url),
            url,
            path: None,
        })
    }

    /// The URL with its password. Only for handing to a driver.
    pub fn connection_url(&self) -> &str {
        &self.url
    }

    /// The URL without its password: for messages, logs and manifests.
    pub fn redacted(&self) -> &str {
        &self.redacted
    }

    /// The local path of a SQLite, files or blobs source.
    pub fn local_path(&self) -> Result<&Path> {
        self.path
            .as_deref()
            .ok_or_else(|| Error::internal(format!("source {} has no local path", self.redacted)))
    }
}

fn resolve(base_dir: &Path, raw: &str) -> PathBuf {
    let p = PathBuf::from(secrets::percent_decode(raw));
    if p.is_absolute() {
        p
    } else {
        base_dir.join(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_paths() {
        let base = Path::new("/specs");
        let s = Source::parse("sqlite://data/legacy.db", base).unwrap();
        assert_eq!(s.kind, SourceKind::Sqlite);
        assert_eq!(s.path.as_deref(), Some(Path::new("/specs/data/legacy.db")));
        let s = Source::parse("sqlite:///abs/legacy.db", base).unwrap();
        assert_eq!(s.path.as_deref(), Some(Path::new("/abs/legacy.db")));
        let s = Source::parse("files://uploads.tar.gz", base).unwrap();
        assert_eq!(s.kind, SourceKind::Blobs);
        assert_eq!(s.path.as_deref(), Some(Path::new("/specs/uploads.tar.gz")));
        let s = Source::parse("target/*.parquet", base).unwrap();
        assert_eq!(s.kind, SourceKind::Files);
        assert_eq!(
            s.path.as_deref(),
            Some(Path::new("/specs/target/*.parquet"))
        );
        let s = Source::parse("mariadb://root@127.0.0.1:3306/test", base).unwrap();
        assert_eq!(s.kind, SourceKind::Mysql);
        assert_eq!(s.redacted(), "mysql://root@127.0.0.1:3306/test");
    }

    #[test]
    fn password_is_kept_for_the_driver_but_never_shown() {
        let s = Source::parse(
            "postgresql://app:hunter2-src@db:5432/school",
            Path::new("/"),
        )
        .unwrap();
        assert_eq!(s.redacted(), "postgresql://app@db:5432/school");
        assert_eq!(
            format!("{s} {s:?}"),
            "postgresql://app@db:5432/school Source(postgresql://app@db:5432/school)"
        );
        assert!(s.connection_url().contains("hunter2-src"));
        assert_eq!(crate::secrets::scrub("pw=hunter2-src"), "pw=***");
    }

    #[test]
    fn unknown_scheme_is_an_error_with_a_hint() {
        let e = Source::parse("oracle://x@y/z", Path::new("/")).unwrap_err();
        assert!(e
            .to_string()
            .starts_with("unknown source scheme `oracle://`\n  hint: snapdiff reads"));
    }
}
