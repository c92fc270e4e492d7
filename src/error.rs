//! The library's one error type.
//!
//! Every failure a user can meet says *what* went wrong, *where* (the source, table,
//! column, file or spec line it concerns) and, where we know it, *how to fix it*.
//! Messages pass through [`crate::secrets::scrub`] before they are shown, so a password
//! that a driver echoes back never reaches a terminal, a log or a report.

use std::fmt;
use std::path::{Path, PathBuf};

/// Result with snapdiff's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where an error happened. Every field is optional; the ones that are set are printed
/// in a fixed order (`source`, `table`, `column`, `file`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    /// The source, as its redacted URL (never with a password).
    pub source: Option<String>,
    pub table: Option<String>,
    pub column: Option<String>,
    pub file: Option<PathBuf>,
}

impl Context {
    pub fn is_empty(&self) -> bool {
        self.source.is_none()
            && self.table.is_none()
            && self.column.is_none()
            && self.file.is_none()
    }
}

impl fmt::Display for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(s) = &self.source {
            parts.push(format!("source {s}"));
        }
        if let Some(t) = &self.table {
            parts.push(format!("table {t}"));
        }
        if let Some(c) = &self.column {
            parts.push(format!("column {c}"));
        }
        if let Some(p) = &self.file {
            parts.push(format!("file {}", p.display()));
        }
        f.write_str(&parts.join(", "))
    }
}

/// What kind of failure this is; decides nothing about exit codes (every error is exit 2)
/// but lets callers and tests tell failures apart without parsing messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The spec file or the command line is wrong.
    Spec,
    /// The source cannot be reached, refused the login, or lacks the database.
    Connect,
    /// The source answered, but a table, column or query is wrong or not allowed.
    Source,
    /// A value or a column type cannot be carried into Arrow faithfully.
    Type,
    /// A snapshot (or input file) is missing, incomplete or corrupt.
    Snapshot,
    /// Reading or writing a local file failed.
    Io,
    /// A run was stopped (Ctrl-C, lock held by another run).
    Interrupted,
    /// A bug in snapdiff: the message says what invariant broke.
    Internal,
}

/// snapdiff's error: a kind, a message, the context it happened in and an optional hint.
#[derive(Debug)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
    /// Boxed, to keep `Result`s small on the happy path.
    pub context: Box<Context>,
    pub hint: Option<String>,
    pub source_error: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            context: Box::default(),
            hint: None,
            source_error: None,
        }
    }

    pub fn spec(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Spec, message)
    }
    pub fn connect(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Connect, message)
    }
    pub fn source(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Source, message)
    }
    pub fn type_error(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Type, message)
    }
    pub fn snapshot(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Snapshot, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    /// A failure writing or reading a file that is not an `std::io::Error` (a Parquet
    /// encoder's, say), saying what we were doing.
    pub fn io_other(op: &str, path: &Path, err: &(dyn std::error::Error + 'static)) -> Self {
        let text = err.to_string();
        // The OS error among the error's causes (Parquet and Arrow wrap the writer's);
        // failing that, one passed on as text only: "... (os error 28)".
        let mut cause = Some(err);
        let mut code = None;
        while let (Some(c), None) = (cause, code) {
            code = c
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.raw_os_error());
            cause = c.source();
        }
        let code = code.or_else(|| {
            text.split("(os error ")
                .nth(1)
                .and_then(|rest| rest.split(')').next())
                .and_then(|n| n.parse::<i32>().ok())
        });
        let mut e = Self::new(ErrorKind::Io, format!("cannot {op}: {text}")).with_file(path);
        e.hint = os_error_hint(code);
        e
    }

    /// An I/O error on `path`, saying what we were doing (`op`, e.g. "create directory").
    pub fn io(op: &str, path: &Path, err: std::io::Error) -> Self {
        let hint = os_error_hint(err.raw_os_error());
        let mut e = Self::new(ErrorKind::Io, format!("cannot {op}: {err}"))
            .with_file(path)
            .with_source(err);
        e.hint = hint;
        e
    }

    pub fn with_source_url(mut self, redacted_url: impl Into<String>) -> Self {
        self.context.source.get_or_insert(redacted_url.into());
        self
    }
    pub fn with_table(mut self, table: impl Into<String>) -> Self {
        self.context.table.get_or_insert(table.into());
        self
    }
    pub fn with_column(mut self, column: impl Into<String>) -> Self {
        self.context.column.get_or_insert(column.into());
        self
    }
    pub fn with_file(mut self, file: impl Into<PathBuf>) -> Self {
        self.context.file.get_or_insert(file.into());
        self
    }
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
    pub fn with_source<E: std::error::Error + Send + Sync + 'static>(mut self, e: E) -> Self {
        self.source_error = Some(Box::new(e));
        self
    }
}

impl Error {
    /// The context and the message without the hint, secrets scrubbed: `column x:
    /// entity orders: …`.
    pub fn headline(&self) -> String {
        let mut text = String::new();
        if !self.context.is_empty() {
            text.push_str(&self.context.to_string());
            text.push_str(": ");
        }
        text.push_str(&self.message);
        crate::secrets::scrub(&text)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.headline())?;
        if let Some(h) = &self.hint {
            write!(f, "\n  hint: {}", crate::secrets::scrub(h))?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source_error
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<arrow::error::ArrowError> for Error {
    fn from(e: arrow::error::ArrowError) -> Self {
        Error::internal(format!("arrow: {e}")).with_source(e)
    }
}

impl From<parquet::errors::ParquetError> for Error {
    fn from(e: parquet::errors::ParquetError) -> Self {
        Error::snapshot(format!("parquet: {e}")).with_source(e)
    }
}

impl From<datafusion::error::DataFusionError> for Error {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        Error::source(format!("{e}")).with_source(e)
    }
}

/// What to do about an OS error, by its number, where there is a usual cause.
fn os_error_hint(code: Option<i32>) -> Option<String> {
    match code {
        Some(28) => {
            Some("the disk is full: free space there, or write to another folder".to_string())
        }
        Some(27) => Some("a file-size limit was reached (ulimit -f)".to_string()),
        Some(13) | Some(1) => Some("check the folder's permissions".to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_puts_context_first_and_hint_last() {
        let e = Error::type_error("type `point` cannot be mapped to Arrow")
            .with_source_url("postgresql://app@db/school")
            .with_table("public.places")
            .with_column("location")
            .with_hint("add cast = { location = \"text\" }");
        assert_eq!(
            e.to_string(),
            "source postgresql://app@db/school, table public.places, column location: \
             type `point` cannot be mapped to Arrow\n  hint: add cast = { location = \"text\" }"
        );
    }

    #[test]
    fn a_wrapped_error_is_kept_as_the_source() {
        use std::error::Error as _;
        let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "denied");
        let e = Error::io("create directory", Path::new("/x"), io);
        assert_eq!(e.source().map(|s| s.to_string()).as_deref(), Some("denied"));
        let df: Error = datafusion::error::DataFusionError::Plan("no table".into()).into();
        assert_eq!(df.message, "Error during planning: no table");
        assert_eq!(
            df.source().map(|s| s.to_string()).as_deref(),
            Some("Error during planning: no table")
        );
    }

    #[test]
    fn first_context_wins() {
        let e = Error::source("boom")
            .with_table("inner")
            .with_table("outer");
        assert_eq!(e.context.table.as_deref(), Some("inner"));
    }
}
