//! Stored files (uploads, attachments) as one table: path, size, SHA-256, xxh3.
//!
//! A migration that moves blobs from a local folder to object storage, or re-packs them
//! into an archive, is verified with the same checks as rows: each side is snapshotted
//! as a table keyed by path, and a diff shows missing, extra and changed files.
//! `files://DIR` walks a folder (symbolic links are not followed, and reported);
//! `files://ARCHIVE.tar`, `.tar.gz` or `.tgz` reads the archive's regular files.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Builder, RecordBatch, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use sha2::{Digest, Sha256};

use super::pipeline::{BatchSender, TableOutput};
use super::ranges;
use super::{ReadContext, Source, SourceReader, TableFrom, TableMeta, TableRequest};
use crate::error::{Error, Result};
use crate::snapshot::manifest::{ColumnSchema, TableSchema};

/// Files per batch.
const BATCH_FILES: usize = 1024;

pub struct BlobsReader {
    path: PathBuf,
}

/// The schema of a blob table.
pub fn blob_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("path", DataType::Utf8, true),
        Field::new("size", DataType::Int64, true),
        Field::new("sha256", DataType::Utf8, true),
        Field::new("xxh3", DataType::Utf8, true),
    ]))
}

/// One file's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobRow {
    pub path: String,
    pub size: i64,
    pub sha256: String,
    pub xxh3: String,
}

/// Hash everything `r` yields: (bytes, SHA-256 hex, xxh3-64 hex).
pub fn hash_reader(mut r: impl Read) -> std::io::Result<(u64, String, String)> {
    let mut sha = Sha256::new();
    let mut xx = xxhash_rust::xxh3::Xxh3::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut n_total = 0u64;
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        sha.update(&buf[..n]);
        xx.update(&buf[..n]);
        n_total += n as u64;
    }
    Ok((
        n_total,
        hex::encode(sha.finalize()),
        format!("{:016x}", xx.digest()),
    ))
}

fn is_archive(path: &Path) -> bool {
    let n = path.to_string_lossy().to_ascii_lowercase();
    n.ends_with(".tar") || n.ends_with(".tar.gz") || n.ends_with(".tgz")
}

fn send_rows(rows: &[BlobRow], schema: &SchemaRef, sender: &BatchSender) -> Result<()> {
    let mut p = StringBuilder::new();
    let mut s = Int64Builder::new();
    let mut h = StringBuilder::new();
    let mut x = StringBuilder::new();
    for r in rows {
        p.append_value(&r.path);
        s.append_value(r.size);
        h.append_value(&r.sha256);
        x.append_value(&r.xxh3);
    }
    let cols: Vec<ArrayRef> = vec![
        Arc::new(p.finish()),
        Arc::new(s.finish()),
        Arc::new(h.finish()),
        Arc::new(x.finish()),
    ];
    sender.send(RecordBatch::try_new(schema.clone(), cols)?)
}

/// A relative path as text with `/` separators. Bytes that are not UTF-8 (possible in
/// Unix file names) are written `%XX`, so distinct names stay distinct.
fn path_text(rel: &Path) -> (String, bool) {
    use std::os::unix::ffi::OsStrExt;
    let bytes = rel.as_os_str().as_bytes();
    let mut out = String::with_capacity(bytes.len());
    let mut encoded = false;
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push_str(&format!("%{b:02X}"));
            encoded = true;
        }
    }
    (out, encoded)
}

/// A file's path and its relative, `/`-separated name.
type Found = (PathBuf, String);

/// Every regular file under `root` (relative, `/`-separated, sorted), how many symbolic
/// links and other non-regular entries were skipped, and how many names were not UTF-8.
fn walk(root: &Path) -> Result<(Vec<Found>, usize, usize)> {
    let mut files = Vec::new();
    let (mut skipped, mut encoded) = (0, 0);
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let dir = root.join(&rel);
        for e in std::fs::read_dir(&dir).map_err(|e| Error::io("list", &dir, e))? {
            let e = e.map_err(|e| Error::io("list", &dir, e))?;
            let ft = e
                .file_type()
                .map_err(|err| Error::io("inspect", &e.path(), err))?;
            let child = rel.join(e.file_name());
            if ft.is_dir() {
                stack.push(child);
            } else if ft.is_file() {
                let (text, enc) = path_text(&child);
                encoded += usize::from(enc);
                files.push((child, text));
            } else {
                skipped += 1;
            }
        }
    }
    files.sort_by(|a, b| a.1.cmp(&b.1));
    Ok((files, skipped, encoded))
}

impl BlobsReader {
    pub fn open(source: &Source) -> Result<BlobsReader> {
        let path = source.local_path()?.to_path_buf();
        if !path.exists() {
            return Err(Error::connect("no such folder or archive").with_file(&path));
        }
        if path.is_file() && !is_archive(&path) {
            return Err(Error::source(
                "a files:// source must be a folder or a .tar, .tar.gz or .tgz archive",
            )
            .with_file(&path));
        }
        Ok(BlobsReader { path })
    }

    fn read_folder(
        &self,
        schema: &SchemaRef,
        sender: &BatchSender,
        ctx: &ReadContext<'_>,
        table: &str,
    ) -> Result<()> {
        let (files, skipped, encoded) = walk(&self.path)?;
        if skipped > 0 {
            ctx.progress.warn(&format!(
                "{}.{table}: {skipped} symbolic links or special files were not followed",
                ctx.side
            ));
        }
        if encoded > 0 {
            ctx.progress.warn(&format!(
                "{}.{table}: {encoded} file names are not UTF-8; their other bytes are written %XX",
                ctx.side
            ));
        }
        let batches: Vec<&[(PathBuf, String)]> = files.chunks(BATCH_FILES).collect();
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        ranges::run_concurrently(&batches, threads, |batch| {
            let mut rows = Vec::with_capacity(batch.len());
            for (rel, text) in batch.iter() {
                let p = self.path.join(rel);
                let f = std::fs::File::open(&p).map_err(|e| Error::io("open", &p, e))?;
                let (size, sha256, xxh3) = hash_reader(f).map_err(|e| Error::io("read", &p, e))?;
                rows.push(BlobRow {
                    path: text.clone(),
                    size: size as i64,
                    sha256,
                    xxh3,
                });
            }
            send_rows(&rows, schema, sender)
        })
    }

    fn read_archive(
        &self,
        schema: &SchemaRef,
        sender: &BatchSender,
        ctx: &ReadContext<'_>,
        table: &str,
    ) -> Result<()> {
        let f = std::fs::File::open(&self.path).map_err(|e| Error::io("open", &self.path, e))?;
        let name = self.path.to_string_lossy().to_ascii_lowercase();
        let reader: Box<dyn Read> = if name.ends_with(".gz") || name.ends_with(".tgz") {
            Box::new(flate2::read::GzDecoder::new(std::io::BufReader::new(f)))
        } else {
            Box::new(std::io::BufReader::new(f))
        };
        let mut archive = tar::Archive::new(reader);
        let bad = |e: std::io::Error| {
            Error::source(format!("the archive cannot be read: {e}"))
                .with_file(&self.path)
                .with_hint("is it a complete .tar or .tar.gz file?")
        };
        let mut rows = Vec::new();
        let mut skipped = 0usize;
        for entry in archive.entries().map_err(bad)? {
            let entry = entry.map_err(bad)?;
            let kind = entry.header().entry_type();
            if !kind.is_file() {
                // Folders are implied by paths; links and devices are not stored files.
                skipped += usize::from(!kind.is_dir());
                continue;
            }
            let path = path_text(&entry.path().map_err(bad)?).0.replace('\\', "/");
            let path = path
                .trim_start_matches("./")
                .trim_start_matches('/')
                .to_string();
            let (size, sha256, xxh3) = hash_reader(entry).map_err(bad)?;
            rows.push(BlobRow {
                path,
                size: size as i64,
                sha256,
                xxh3,
            });
            if rows.len() >= BATCH_FILES {
                send_rows(&rows, schema, sender)?;
                rows.clear();
            }
        }
        if !rows.is_empty() {
            send_rows(&rows, schema, sender)?;
        }
        if skipped > 0 {
            ctx.progress.warn(&format!(
                "{}.{table}: {skipped} links or special entries of the archive are not stored files and were skipped",
                ctx.side
            ));
        }
        Ok(())
    }
}

impl SourceReader for BlobsReader {
    fn list_tables(&mut self) -> Result<Vec<String>> {
        Ok(vec!["files".to_string()])
    }

    fn consistency(&self) -> String {
        "the stored files as they were when they were hashed".to_string()
    }

    fn read_table(
        &mut self,
        req: &TableRequest,
        out: &mut TableOutput,
        ctx: &ReadContext<'_>,
    ) -> Result<TableMeta> {
        if let TableFrom::Query(_) = req.from {
            return Err(
                Error::spec("a files:// source is one table of files and takes no query")
                    .with_hint("give table = \"files\" (or any name) instead of query"),
            );
        }
        if !req.casts.is_empty() || req.partition_on.is_some() {
            return Err(Error::spec(
                "a files:// source takes no cast or partition_on",
            ));
        }
        let schema = blob_schema();
        let sender = out.start(schema.clone(), None)?;
        if self.path.is_dir() {
            self.read_folder(&schema, &sender, ctx, &req.name)?;
        } else {
            self.read_archive(&schema, &sender, ctx, &req.name)?;
        }
        let column = |name: &str, t: &str, dt: DataType| ColumnSchema {
            name: name.to_string(),
            source_type: t.to_string(),
            arrow_type: crate::snapshot::manifest::type_name(&dt),
            nullable: false,
            ..Default::default()
        };
        Ok(TableMeta {
            source_object: Some(self.path.to_string_lossy().to_string()),
            query: "path, size, sha256, xxh3 of every regular file".to_string(),
            partitioning: None,
            schema: TableSchema {
                source_object: Some(self.path.to_string_lossy().to_string()),
                columns: vec![
                    column("path", "relative path", DataType::Utf8),
                    column("size", "bytes", DataType::Int64),
                    column("sha256", "SHA-256, hex", DataType::Utf8),
                    column("xxh3", "xxh3-64, hex", DataType::Utf8),
                ],
                primary_key: vec!["path".to_string()],
                indexes: Vec::new(),
            },
        })
    }
}
