//! `snapshot_started_at(side)`: when the snapshot run of a side started, as a UTC
//! timestamp, for entity SQL and filters on live systems
//! (`updated_at < snapshot_started_at('legacy') - INTERVAL '10 minutes'`).
//!
//! Registering a run in a session (`engine::session::register_run`) sets its side's
//! start, so it is there in every session over runs (verification, `plan`, `sql`); the
//! call is a constant, so DataFusion folds it into the plan before anything is read.

use std::any::Any;

use chrono::{DateTime, Utc};
use datafusion::common::{exec_err, Result, ScalarValue};
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;

use arrow::datatypes::{DataType, TimeUnit};

use crate::snapshot::Side;

/// The function's name in SQL.
pub const NAME: &str = "snapshot_started_at";

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct StartedAt {
    signature: Signature,
    /// Microseconds since 1970 of each side's start, where a run of it is registered:
    /// legacy, target.
    starts: [Option<i64>; 2],
}

impl StartedAt {
    fn new(starts: [Option<i64>; 2]) -> Self {
        StartedAt {
            signature: Signature::exact(vec![DataType::Utf8], Volatility::Immutable),
            starts,
        }
    }
}

/// Set the start of `side`'s run (`started`) in `ctx`'s `snapshot_started_at`, keeping
/// the other side's.
pub fn register(ctx: &SessionContext, side: Side, started: DateTime<Utc>) {
    let mut starts = ctx
        .udf(NAME)
        .ok()
        .and_then(|f| {
            f.inner()
                .as_any()
                .downcast_ref::<StartedAt>()
                .map(|s| s.starts)
        })
        .unwrap_or_default();
    starts[side as usize] = Some(started.timestamp_micros());
    ctx.register_udf(ScalarUDF::new_from_impl(StartedAt::new(starts)));
}

impl ScalarUDFImpl for StartedAt {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Timestamp(
            TimeUnit::Microsecond,
            Some("UTC".into()),
        ))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let side = match &args.args[0] {
            ColumnarValue::Scalar(ScalarValue::Utf8(Some(s))) => s.clone(),
            _ => {
                return exec_err!(
                    "{NAME} takes the side as text: {NAME}('legacy') or {NAME}('target')"
                )
            }
        };
        let start = match side.as_str() {
            "legacy" => self.starts[0],
            "target" => self.starts[1],
            other => return exec_err!("{NAME}('{other}'): the side is 'legacy' or 'target'"),
        };
        let Some(micros) = start else {
            return exec_err!("{NAME}('{side}'): no {side} run is read here");
        };
        Ok(ColumnarValue::Scalar(ScalarValue::TimestampMicrosecond(
            Some(micros),
            Some("UTC".into()),
        )))
    }
}
