//! Where snapshots live: a local folder, or `s3://bucket/prefix` on S3-compatible object
//! storage.
//!
//! Every place snapdiff keeps snapshots is named by a path. A path that starts with
//! `s3://` names an object: these functions read and write it through the `object_store`
//! crate (the version DataFusion 50.3 reads with), and a local path through `std::fs`.
//! The snapshot code calls these and stays one code path for both.
//!
//! Object storage has no rename and no folders, so its layout keeps completeness the
//! same way with other means: a part is uploaded whole (multipart upload, completed only
//! when the file is closed), a table is complete once its `_table.json` is written
//! (after its parts), and a run once its `manifest.json` is written, last. A single PUT
//! is atomic on S3: an object is there whole or not at all.
//!
//! Credentials come from the usual AWS environment variables (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`, and `AWS_ENDPOINT_URL`
//! for an S3-compatible store; an `http://` endpoint is allowed). The secret key is
//! registered with [`crate::secrets`], so it never reaches output. A spec's `[storage]`
//! ([`S3Settings`], given to [`configure`]) wins over the environment.

use std::collections::HashMap;
use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures::StreamExt;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path as ObjectPath;
use object_store::{ClientOptions, ObjectStore, PutPayload, RetryConfig, WriteMultipart};

use crate::error::{Error, ErrorKind, Result};

/// The scheme of object-storage locations.
pub const S3: &str = "s3://";

/// MiB of one part of a multipart upload unless [`S3Settings::part_mib`] says otherwise.
pub const DEFAULT_PART_MIB: usize = 16;

/// Bytes of one part of a multipart upload (S3 needs at least 5 MiB but for the last).
fn part_bytes() -> usize {
    let mib = settings()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .part_mib
        .unwrap_or(DEFAULT_PART_MIB);
    mib.max(5) << 20
}

/// Parts of one upload in flight at a time.
const PARTS_IN_FLIGHT: usize = 2;

/// How `s3://` locations are reached; each setting given wins over the AWS environment
/// variable it stands for (`AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct S3Settings {
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// MiB of one part of a multipart upload (at least 5; default [`DEFAULT_PART_MIB`];
    /// the binary reads `SNAPDIFF_S3_PART_MIB`).
    pub part_mib: Option<usize>,
}

fn settings() -> &'static Mutex<S3Settings> {
    static SETTINGS: OnceLock<Mutex<S3Settings>> = OnceLock::new();
    SETTINGS.get_or_init(Default::default)
}

fn stores() -> &'static Mutex<HashMap<String, Arc<dyn ObjectStore>>> {
    static STORES: OnceLock<Mutex<HashMap<String, Arc<dyn ObjectStore>>>> = OnceLock::new();
    STORES.get_or_init(Default::default)
}

/// Use `s` for the object stores built from now on (the secret key is registered as a
/// secret at once).
pub fn configure(s: S3Settings) {
    if let Some(secret) = &s.secret_access_key {
        crate::secrets::register(secret);
    }
    *settings().lock().unwrap_or_else(|p| p.into_inner()) = s;
    stores().lock().unwrap_or_else(|p| p.into_inner()).clear();
}

/// Whether `path` names an object (`s3://...`) rather than a local file.
pub fn is_object(path: &Path) -> bool {
    path.to_str().is_some_and(|s| s.starts_with(S3))
}

/// An object location: its store, bucket URL and key.
struct Object {
    store: Arc<dyn ObjectStore>,
    key: ObjectPath,
}

/// Bucket and key of `s3://bucket/key`.
fn split(path: &Path) -> Result<(String, String)> {
    let s = path.to_str().unwrap_or_default();
    let rest = &s[S3.len()..];
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(Error::spec(format!("`{s}` names no bucket"))
            .with_hint("write object locations as s3://BUCKET/PREFIX"));
    }
    Ok((bucket.to_string(), key.trim_matches('/').to_string()))
}

fn object(path: &Path) -> Result<Object> {
    let (bucket, key) = split(path)?;
    if key.is_empty() {
        return Err(Error::spec(format!(
            "`{}` names a whole bucket; give a prefix (s3://BUCKET/PREFIX)",
            path.display()
        )));
    }
    let key = ObjectPath::parse(&key).map_err(|e| {
        Error::spec(format!(
            "`{}` is not a valid object key: {e}",
            path.display()
        ))
    })?;
    Ok(Object {
        store: store(&bucket)?,
        key,
    })
}

/// The store of a bucket (`s3://bucket`), built once per process from the environment.
pub fn store(bucket: &str) -> Result<Arc<dyn ObjectStore>> {
    let mut stores = stores().lock().unwrap_or_else(|p| p.into_inner());
    if let Some(s) = stores.get(bucket) {
        return Ok(s.clone());
    }
    let s = build_store(bucket)?;
    stores.insert(bucket.to_string(), s.clone());
    Ok(s)
}

fn build_store(bucket: &str) -> Result<Arc<dyn ObjectStore>> {
    let spec = settings().lock().unwrap_or_else(|p| p.into_inner()).clone();
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let keys = spec
        .access_key_id
        .clone()
        .or_else(|| env("AWS_ACCESS_KEY_ID"))
        .is_some()
        && spec
            .secret_access_key
            .clone()
            .or_else(|| env("AWS_SECRET_ACCESS_KEY"))
            .is_some();
    let other_credentials = [
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ]
    .iter()
    .any(|k| env(k).is_some());
    let instance = env("SNAPDIFF_S3_INSTANCE_CREDENTIALS").as_deref() == Some("1");
    if !keys && !other_credentials && !instance {
        return Err(Error::connect(format!(
            "no object-storage credentials for s3://{bucket}: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set"
        ))
        .with_hint(
            "export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_ENDPOINT_URL for an S3-compatible store), \
             or set them in the spec's [storage]; on a cloud machine with an instance role, set SNAPDIFF_S3_INSTANCE_CREDENTIALS=1",
        ));
    }
    if let Some(secret) = env("AWS_SECRET_ACCESS_KEY") {
        crate::secrets::register(&secret);
    }
    if let Some(token) = env("AWS_SESSION_TOKEN") {
        crate::secrets::register(&token);
    }
    // A store that does not answer fails within seconds, not after minutes of retries.
    let retry = RetryConfig {
        max_retries: 3,
        retry_timeout: Duration::from_secs(30),
        ..Default::default()
    };
    let client = ClientOptions::new()
        .with_connect_timeout(Duration::from_secs(5))
        .with_timeout(Duration::from_secs(300));
    // The client options first: the environment's (`AWS_ALLOW_HTTP`...) then apply on top.
    let mut b = AmazonS3Builder::new()
        .with_retry(retry)
        .with_client_options(client)
        // Connections live on this module's runtime, whichever runtime makes a request
        // (DataFusion's scans run on the checks' runtime, which ends before the report
        // is uploaded): a pooled connection never outlives the runtime driving it.
        .with_http_connector(object_store::client::SpawnedReqwestConnector::new(
            runtime().handle().clone(),
        ));
    // The spec's keys come without the environment's session token, which belongs to
    // the environment's keys.
    let spec_keys = spec.access_key_id.is_some() || spec.secret_access_key.is_some();
    for (k, v) in std::env::vars_os() {
        let (Some(k), Some(v)) = (k.to_str(), v.to_str()) else {
            continue;
        };
        if spec_keys && matches!(k, "AWS_SESSION_TOKEN" | "AWS_TOKEN") {
            continue;
        }
        if let Some(key) = k
            .starts_with("AWS_")
            .then(|| k.to_ascii_lowercase().parse::<AmazonS3ConfigKey>().ok())
            .flatten()
        {
            b = b.with_config(key, v);
        }
    }
    b = b.with_bucket_name(bucket);
    if let Some(e) = &spec.endpoint {
        b = b.with_endpoint(e);
    }
    if let Some(r) = &spec.region {
        b = b.with_region(r);
    }
    if let Some(k) = &spec.access_key_id {
        b = b.with_access_key_id(k);
    }
    if let Some(k) = &spec.secret_access_key {
        b = b.with_secret_access_key(k);
    }
    let endpoint = spec
        .endpoint
        .clone()
        .or_else(|| env("AWS_ENDPOINT_URL"))
        .or_else(|| env("AWS_ENDPOINT"));
    if endpoint
        .as_deref()
        .is_some_and(|e| e.starts_with("http://"))
    {
        b = b.with_allow_http(true);
    }
    if spec.region.is_none() && env("AWS_REGION").is_none() && env("AWS_DEFAULT_REGION").is_none() {
        b = b.with_region("us-east-1");
    }
    let store = b.build().map_err(|e| {
        Error::connect(format!(
            "cannot set up object storage for s3://{bucket}: {e}"
        ))
        .with_hint("check AWS_REGION, AWS_ENDPOINT_URL and the credentials")
    })?;
    Ok(Arc::new(store))
}

/// The runtime object-storage calls run on; never dropped.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("snapdiff-objects")
            .enable_all()
            .build()
            .expect("a runtime for object storage")
    })
}

/// Run `f` to completion from synchronous code, whether or not the caller is itself on
/// a runtime (then on a helper thread, since a runtime's thread may not block).
fn block_on<F>(f: F) -> F::Output
where
    F: Future + Send,
    F::Output: Send,
{
    if tokio::runtime::Handle::try_current().is_ok() {
        std::thread::scope(|s| {
            s.spawn(|| runtime().block_on(f))
                .join()
                .expect("an object-storage call panicked")
        })
    } else {
        runtime().block_on(f)
    }
}

/// An object-storage failure as snapdiff's error, naming the object.
fn object_error(op: &str, path: &Path, e: object_store::Error) -> Error {
    let kind = match &e {
        object_store::Error::NotFound { .. } => ErrorKind::Snapshot,
        object_store::Error::Unauthenticated { .. }
        | object_store::Error::PermissionDenied { .. } => ErrorKind::Connect,
        _ => ErrorKind::Io,
    };
    let text = crate::secrets::scrub(&e.to_string());
    let mut err = Error::new(kind, format!("cannot {op}: {text}")).with_file(path);
    err = match kind {
        ErrorKind::Connect => err.with_hint("check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"),
        ErrorKind::Io => err.with_hint(
            "check that the object store is reachable (AWS_ENDPOINT_URL) and the bucket exists",
        ),
        _ => err,
    };
    err
}

/// The bytes of a file or object; `None` if it does not exist.
pub fn read(path: &Path) -> Result<Option<Vec<u8>>> {
    if !is_object(path) {
        return match std::fs::read(path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("read", path, e)),
        };
    }
    let o = object(path)?;
    block_on(async {
        match o.store.get(&o.key).await {
            Ok(r) => r.bytes().await.map(|b| Some(b.to_vec())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    })
    .map_err(|e| object_error("read", path, e))
}

/// The size of a file or object; `None` if it does not exist.
pub fn size(path: &Path) -> Result<Option<u64>> {
    if !is_object(path) {
        return match std::fs::metadata(path) {
            Ok(m) if m.is_file() => Ok(Some(m.len())),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("read the size of", path, e)),
        };
    }
    let o = object(path)?;
    match block_on(o.store.head(&o.key)) {
        Ok(m) => Ok(Some(m.size)),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(object_error("look up", path, e)),
    }
}

/// Whether a file or object exists.
pub fn is_file(path: &Path) -> Result<bool> {
    Ok(size(path)?.is_some())
}

/// Whether a folder exists; for object storage, whether any object lies under it.
pub fn is_dir(path: &Path) -> Result<bool> {
    if !is_object(path) {
        return Ok(path.is_dir());
    }
    let o = object(path)?;
    let first = block_on(async { o.store.list(Some(&o.key)).next().await.transpose() });
    first
        .map(|m| m.is_some())
        .map_err(|e| object_error("list", path, e))
}

/// The names of the folders directly under `path` (for object storage, the common
/// prefixes), in no particular order. A folder that does not exist has none.
pub fn list_dirs(path: &Path) -> Result<Vec<String>> {
    list(path, true)
}

/// The names of the files directly under `path` (for object storage, the objects),
/// in no particular order. A folder that does not exist has none.
pub fn list_files(path: &Path) -> Result<Vec<String>> {
    list(path, false)
}

/// The folders (`dirs`) or the files directly under `path`.
fn list(path: &Path, dirs: bool) -> Result<Vec<String>> {
    if !is_object(path) {
        let entries = match std::fs::read_dir(path) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io("list", path, e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| Error::io("list", path, e))?;
            let p = entry.path();
            if (dirs && p.is_dir()) || (!dirs && p.is_file()) {
                if let Some(n) = entry.file_name().to_str() {
                    out.push(n.to_string());
                }
            }
        }
        return Ok(out);
    }
    let o = object(path)?;
    let listed = block_on(o.store.list_with_delimiter(Some(&o.key)))
        .map_err(|e| object_error("list", path, e))?;
    let names = if dirs {
        listed.common_prefixes
    } else {
        listed.objects.into_iter().map(|m| m.location).collect()
    };
    Ok(names
        .iter()
        .filter_map(|p| p.filename().map(str::to_string))
        .collect())
}

/// Copy the local file `from` to `to` (a file or an object: one PUT when small, a
/// multipart upload when large).
pub fn copy_from_local(from: &Path, to: &Path) -> Result<()> {
    let len = std::fs::metadata(from)
        .map_err(|e| Error::io("read", from, e))?
        .len();
    if len <= part_bytes() as u64 || !is_object(to) {
        let bytes = std::fs::read(from).map_err(|e| Error::io("read", from, e))?;
        return write_atomic(to, &bytes);
    }
    let mut src = std::fs::File::open(from).map_err(|e| Error::io("open", from, e))?;
    let mut sink = Sink::create(to)?;
    std::io::copy(&mut src, &mut sink).map_err(|e| Error::io("upload", to, e))?;
    sink.finish().map_err(|e| Error::io("upload", to, e))
}

/// Write `bytes` to `path` whole: a local file through a temporary file, fsync and
/// rename; an object with one PUT, which S3 makes visible whole or not at all.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    if !is_object(path) {
        return write_local_atomic(path, bytes);
    }
    let o = object(path)?;
    let payload = PutPayload::from(bytes.to_vec());
    block_on(o.store.put(&o.key, payload))
        .map(|_| ())
        .map_err(|e| object_error("write", path, e))
}

/// Create the object `path` with `bytes` only if no object of that name exists (a
/// conditional PUT, `If-None-Match: *`): whether this call created it. Two writers
/// racing for one name cannot both win. Object storage only.
pub fn create_new_object(path: &Path, bytes: &[u8]) -> Result<bool> {
    let o = object(path)?;
    let opts = object_store::PutOptions::from(object_store::PutMode::Create);
    match block_on(
        o.store
            .put_opts(&o.key, PutPayload::from(bytes.to_vec()), opts),
    ) {
        Ok(_) => Ok(true),
        Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
        Err(e) => Err(object_error("write", path, e)),
    }
}

fn write_local_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(match path.extension() {
        Some(e) => format!("{}.tmp", e.to_string_lossy()),
        None => "tmp".to_string(),
    });
    let result = (|| {
        let mut f = std::fs::File::create(&tmp).map_err(|e| Error::io("create", &tmp, e))?;
        f.write_all(bytes)
            .map_err(|e| Error::io("write", &tmp, e))?;
        f.sync_all().map_err(|e| Error::io("sync", &tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| Error::io("rename into place", path, e))?;
        sync_dir(path.parent().unwrap_or(Path::new(".")))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// fsync a local folder, so that a rename into it survives a crash.
pub fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("sync folder", dir, e))
}

/// Remove a file or folder and everything under it (for object storage, every object
/// under the prefix). Nothing there is not an error.
pub fn remove_all(path: &Path) -> Result<()> {
    if !is_object(path) {
        let r = if path.is_dir() {
            std::fs::remove_dir_all(path)
        } else {
            std::fs::remove_file(path)
        };
        return match r {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("remove", path, e)),
        };
    }
    let o = object(path)?;
    // The object itself, then everything under it as a folder (`a/b/`, never `a/bc`).
    let r = block_on(async {
        match o.store.delete(&o.key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
        let listed = o.store.list(Some(&o.key)).map(|m| m.map(|m| m.location));
        let mut deleted = o.store.delete_stream(listed.boxed());
        while let Some(d) = deleted.next().await {
            match d {
                Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    });
    r.map_err(|e| object_error("remove", path, e))
}

/// xxh3-64 of a file's or object's bytes as 16 hex digits, and its size, read as a
/// stream.
pub fn xxh3(path: &Path) -> Result<(u64, String)> {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    let mut bytes = 0u64;
    if !is_object(path) {
        use std::io::Read;
        let mut f = std::fs::File::open(path).map_err(|e| Error::io("open", path, e))?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = f.read(&mut buf).map_err(|e| Error::io("read", path, e))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            bytes += n as u64;
        }
    } else {
        let o = object(path)?;
        block_on(async {
            let mut s = o.store.get(&o.key).await?.into_stream();
            while let Some(chunk) = s.next().await {
                let chunk = chunk?;
                hasher.update(&chunk);
                bytes += chunk.len() as u64;
            }
            Ok::<_, object_store::Error>(())
        })
        .map_err(|e| object_error("read", path, e))?;
    }
    Ok((bytes, format!("{:016x}", hasher.digest())))
}

/// A file being written: a local file, or an object uploaded in parts as it is written
/// (multipart upload, completed by [`Sink::finish`]; dropped unfinished, the upload is
/// aborted and no object appears).
pub enum Sink {
    File(std::fs::File),
    Object {
        upload: Option<WriteMultipart>,
        path: PathBuf,
    },
}

impl Sink {
    /// Create (or replace) the file or object at `path`.
    pub fn create(path: &Path) -> Result<Sink> {
        if !is_object(path) {
            let f = std::fs::File::create(path).map_err(|e| Error::io("create", path, e))?;
            return Ok(Sink::File(f));
        }
        let o = object(path)?;
        let upload = block_on(o.store.put_multipart(&o.key))
            .map_err(|e| object_error("start an upload to", path, e))?;
        Ok(Sink::Object {
            upload: Some(WriteMultipart::new_with_chunk_size(upload, part_bytes())),
            path: path.to_path_buf(),
        })
    }

    /// Make the bytes durable: fsync a file; complete an upload.
    pub fn finish(&mut self) -> std::io::Result<()> {
        match self {
            Sink::File(f) => f.sync_all(),
            Sink::Object { upload, .. } => {
                // Every part sent first, the upload still held: if one fails, dropping the
                // sink aborts the upload (no orphaned parts).
                if let Some(u) = upload.as_mut() {
                    block_on(u.wait_for_capacity(0)).map_err(std::io::Error::other)?;
                }
                match upload.take() {
                    Some(u) => block_on(u.finish())
                        .map(|_| ())
                        .map_err(std::io::Error::other),
                    None => Ok(()),
                }
            }
        }
    }

    /// Where the bytes go, for errors.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Sink::File(_) => None,
            Sink::Object { path, .. } => Some(path),
        }
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Sink::File(f) => f.write(buf),
            Sink::Object { upload, .. } => {
                let u = upload
                    .as_mut()
                    .ok_or_else(|| std::io::Error::other("the upload is already finished"))?;
                {
                    // A full part starts its upload on the runtime.
                    let _on_runtime = runtime().enter();
                    u.write(buf);
                }
                block_on(u.wait_for_capacity(PARTS_IN_FLIGHT)).map_err(std::io::Error::other)?;
                Ok(buf.len())
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Sink::File(f) => f.flush(),
            Sink::Object { .. } => Ok(()),
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        if let Sink::Object { upload, .. } = self {
            if let Some(u) = upload.take() {
                let _ = block_on(u.abort());
            }
        }
    }
}

/// Register the object store of `path`, if it is an `s3://` location, with DataFusion, so
/// that `s3://bucket/...` URLs read through it.
pub fn register_with(ctx: &datafusion::prelude::SessionContext, path: &Path) -> Result<()> {
    if !is_object(path) {
        return Ok(());
    }
    let (bucket, _) = split(path)?;
    let url = url::Url::parse(&format!("{S3}{bucket}")).map_err(|e| {
        Error::spec(format!("`s3://{bucket}` is not a valid URL: {e}")).with_source(e)
    })?;
    ctx.register_object_store(&url, store(&bucket)?);
    Ok(())
}
