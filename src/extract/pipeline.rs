//! The path from a reader to the Parquet parts of one table, with bounded memory.
//!
//! Readers (one or several threads) send batches through a bounded channel to one writer
//! thread that owns the table's [`TableWriter`]. When the writer falls behind, `send`
//! blocks, so a table is never held in memory: at most the channel's few batches plus
//! what each reader has in hand. Reading and Parquet encoding overlap on separate cores.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

use crate::error::{Error, ErrorKind, Result};
use crate::progress::Progress;
use crate::snapshot::names::Names;
use crate::snapshot::{RunWriter, TableWriter};

/// Batches in flight between readers and the writer.
const CHANNEL_BATCHES: usize = 4;

enum Msg {
    /// (Re)start the table with this schema, discarding anything written before.
    Start(SchemaRef, Option<u64>, Option<String>),
    Batch(RecordBatch),
}

/// Where a reader puts a table's rows. Cloneable so that several reader threads can
/// share it.
#[derive(Clone)]
pub struct BatchSender {
    tx: SyncSender<Msg>,
}

impl BatchSender {
    /// Send a batch; blocks while the writer is behind. Fails when the writer stopped
    /// (its own error is reported by [`write_table`]).
    pub fn send(&self, batch: RecordBatch) -> Result<()> {
        self.tx.send(Msg::Batch(batch)).map_err(|_| writer_gone())
    }
}

fn writer_gone() -> Error {
    Error::new(ErrorKind::Interrupted, "the snapshot writer stopped")
}

/// Handed to a reader: it starts the table with a schema (again, if a column had to be
/// widened) and gets a [`BatchSender`].
pub struct TableOutput {
    tx: SyncSender<Msg>,
}

impl TableOutput {
    /// Start the table with `schema`; `estimated_rows` feeds the progress bar.
    pub fn start(&mut self, schema: SchemaRef, estimated_rows: Option<u64>) -> Result<BatchSender> {
        self.tx
            .send(Msg::Start(schema, estimated_rows, None))
            .map_err(|_| writer_gone())?;
        Ok(BatchSender {
            tx: self.tx.clone(),
        })
    }

    /// Start the table again from nothing with a new `schema`, saying why.
    pub fn restart(
        &mut self,
        schema: SchemaRef,
        estimated_rows: Option<u64>,
        reason: String,
    ) -> Result<BatchSender> {
        self.tx
            .send(Msg::Start(schema, estimated_rows, Some(reason)))
            .map_err(|_| writer_gone())?;
        Ok(BatchSender {
            tx: self.tx.clone(),
        })
    }
}

/// Run `read` with a [`TableOutput`] whose batches a writer thread stores as the parts
/// of `table`. Returns what `read` returned and the writer, ready to commit.
pub fn write_table<T, F>(
    run: &RunWriter,
    side: &str,
    table: &str,
    names: Names,
    progress: &dyn Progress,
    read: F,
) -> Result<(T, TableWriter)>
where
    F: FnOnce(&mut TableOutput) -> Result<T>,
{
    std::thread::scope(|scope| {
        let (tx, rx) = sync_channel::<Msg>(CHANNEL_BATCHES);
        let writer = scope.spawn(move || writer_loop(run, side, table, names, rx, progress));
        let mut out = TableOutput { tx };
        let read_result = read(&mut out);
        drop(out);
        let writer_result = writer
            .join()
            .unwrap_or_else(|_| Err(Error::internal("the snapshot writer thread panicked")));
        match (read_result, writer_result) {
            (Ok(v), Ok(Some(w))) => Ok((v, w)),
            (Ok(_), Ok(None)) => Err(Error::internal("the reader never started the table")),
            // The writer's own failure (disk full, ...) explains why sending failed.
            (Err(e), Err(w)) if e.kind == ErrorKind::Interrupted => Err(w),
            (Err(e), _) => Err(e),
            (Ok(_), Err(w)) => Err(w),
        }
    })
}

fn writer_loop(
    run: &RunWriter,
    side: &str,
    table: &str,
    names: Names,
    rx: Receiver<Msg>,
    progress: &dyn Progress,
) -> Result<Option<TableWriter>> {
    let mut writer: Option<TableWriter> = None;
    // The columns as the snapshot names them, when that is not as the source does.
    let mut renamed: Option<SchemaRef> = None;
    for msg in rx {
        match msg {
            Msg::Start(schema, estimate, restart_reason) => {
                // Dropping an uncommitted writer removes what it wrote.
                drop(writer.take());
                renamed = rename(&schema, names, side, table)?;
                let schema = renamed.clone().unwrap_or(schema);
                writer = Some(run.table_writer(table, schema)?);
                match restart_reason {
                    Some(reason) => progress.table_restarted(side, table, &reason),
                    None => progress.table_started(side, table, estimate),
                }
            }
            Msg::Batch(batch) => {
                let w = writer.as_mut().ok_or_else(|| {
                    Error::internal("a batch arrived before the table was started")
                })?;
                match &renamed {
                    Some(s) => w.write(
                        &RecordBatch::try_new(s.clone(), batch.columns().to_vec()).map_err(
                            |e| {
                                Error::internal(format!(
                                    "cannot rename the columns of {table}: {e}"
                                ))
                                .with_source(e)
                            },
                        )?,
                    )?,
                    None => w.write(&batch)?,
                }
                progress.rows(side, table, w.rows());
            }
        }
    }
    Ok(writer)
}

/// `schema` with its columns named as `names` says, or `None` when no name changes; two
/// columns that would share a name are an error naming both.
fn rename(schema: &SchemaRef, names: Names, side: &str, table: &str) -> Result<Option<SchemaRef>> {
    if names == Names::AsIs {
        return Ok(None);
    }
    let written: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    let pairs = names
        .rename_all(&written, &format!("the columns of {side}.{table}"))
        .map_err(|e| e.with_table(table))?;
    if pairs.iter().all(|(old, new)| old == new) {
        return Ok(None);
    }
    let fields: Vec<_> = schema
        .fields()
        .iter()
        .zip(&pairs)
        .map(|(f, (_, new))| f.as_ref().clone().with_name(new))
        .collect();
    Ok(Some(std::sync::Arc::new(
        arrow::datatypes::Schema::new(fields).with_metadata(schema.metadata().clone()),
    )))
}
