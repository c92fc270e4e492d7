//! The layer under the checks: everything that runs SQL over snapshots, whoever asks.
//!
//! Verification (`check`), ad hoc SQL (`query`), the reports' delta (`report`), the
//! Ballista processes (`cluster`) and file extraction (`extract`) all need a DataFusion session with snapdiff's
//! functions, a memory budget, SQL that cannot write, the checks' SQL templates and the
//! diff files. They live here, below all of those modules, so that each of them depends
//! on this layer and none on another's internals: the data flows source → snapshot →
//! session → checks → report, and so do the imports.
//!
//! - [`session`]: sessions, their memory pool, snapshot runs registered as
//!   `legacy.*`/`target.*`;
//! - [`memory`]: `--memory-limit` parsed, and the default;
//! - [`remote`]: where the checks run ([`Engine`]: this process or a Ballista scheduler);
//! - [`sql`]: read-only SQL (the one place writes are refused) and failed queries
//!   explained;
//! - [`templates`]: the `queries/*.sql` templates and identifier quoting;
//! - [`diff_files`]: every differing row to Parquet, and read back;
//! - [`rows`]: query results as text rows;
//! - [`started_at`]: `snapshot_started_at(side)`, the runs' start times in SQL;
//! - [`runtime`]: the async runtimes the synchronous calls block on.
//!
//! This layer imports only the layers below it (snapshot, storage, normalize, error).

pub mod diff_files;
pub mod memory;
pub mod remote;
pub mod rows;
pub mod runtime;
pub mod session;
pub mod sql;
pub mod started_at;
pub mod templates;

pub use memory::Budget;
pub use remote::Engine;
pub use session::{choose_run, new_session, register_run, session_with_budget, LoadedRun};
