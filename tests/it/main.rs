//! snapdiff's integration tests: one binary, with fixture helpers in `common`.
//!
//! The PostgreSQL and MariaDB tests use the real servers on 127.0.0.1:5432 and :3306.
//! Where a server is unreachable they print a SKIPPED line and pass, unless
//! `SNAPDIFF_REQUIRE_SERVICES=1` is set (as CI does), which makes that a failure. The
//! S3 tests start their own moto server (the same rule applies when it is not
//! installed); the cluster tests start their own Ballista scheduler and executors.

mod common;

mod adhoc;
mod atomic;
mod cli;
mod cluster;
mod extract_files;
mod extract_mysql;
mod extract_postgres;
mod extract_sqlite;
mod faults;
mod hostile;
mod layers;
mod live;
mod load;
mod masking;
mod migration;
mod mutation;
mod properties;
mod publish;
mod reports;
mod s3;
mod scale;
mod school;
mod secrets;
mod slt;
mod types;
mod verify_errors;
mod verify_sampling;
mod verify_semantics;
