//! `snapshot_started_at(side)`: when the snapshot run of a side started, as a UTC
//! timestamp, for entity SQL and filters on live systems
//! (`updated_at < snapshot_started_at('legacy') - INTERVAL '10 minutes'`).
//!
//! A verification registers it with the two runs it reads; the call is a constant, so
//! DataFusion folds it into the plan before anything is read.

use std::any::Any;

use chrono::{DateTime, Utc};
use datafusion::common::{exec_err, Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;

use arrow::datatypes::{DataType, TimeUnit};

/// The function's name in SQL.
pub const NAME: &str = "snapshot_started_at";

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct StartedAt {
    signature: Signature,
    /// Microseconds since 1970 of each side's start: legacy, target.
    starts: [i64; 2],
}

impl StartedAt {
    pub fn new(legacy: DateTime<Utc>, target: DateTime<Utc>) -> Self {
        StartedAt {
            signature: Signature::exact(vec![DataType::Utf8], Volatility::Immutable),
            starts: [legacy.timestamp_micros(), target.timestamp_micros()],
        }
    }
}

/// Register `snapshot_started_at` in `ctx` for runs that started at `legacy` and
/// `target`.
pub fn register(ctx: &SessionContext, legacy: DateTime<Utc>, target: DateTime<Utc>) {
    ctx.register_udf(ScalarUDF::new_from_impl(StartedAt::new(legacy, target)));
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
        let micros = match side.as_str() {
            "legacy" => self.starts[0],
            "target" => self.starts[1],
            other => return exec_err!("{NAME}('{other}'): the side is 'legacy' or 'target'"),
        };
        Ok(ColumnarValue::Scalar(ScalarValue::TimestampMicrosecond(
            Some(micros),
            Some("UTC".into()),
        )))
    }
}
