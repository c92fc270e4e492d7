//! `sd_wrapping_sum(hash)`: the sum of row hashes modulo 2^64, one part of a partition's
//! digest (count, wrapping sum, xor). Addition modulo 2^64 is commutative and associative,
//! so the digest does not depend on row order or on how rows are split into files, and
//! partial digests from several files or machines merge exactly.

use std::any::Any;
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray};
use arrow::datatypes::{DataType, Field, FieldRef, UInt64Type};
use datafusion::common::{exec_err, Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{Accumulator, AggregateUDFImpl, Signature, Volatility};

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct WrappingSum {
    signature: Signature,
}

impl Default for WrappingSum {
    fn default() -> Self {
        WrappingSum {
            signature: Signature::exact(vec![DataType::UInt64], Volatility::Immutable),
        }
    }
}

impl AggregateUDFImpl for WrappingSum {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn name(&self) -> &str {
        "sd_wrapping_sum"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        match args {
            [DataType::UInt64] => Ok(DataType::UInt64),
            other => exec_err!("sd_wrapping_sum takes a UInt64 hash, not {other:?}"),
        }
    }
    fn accumulator(&self, _: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(Acc(0)))
    }
    fn state_fields(&self, _: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new("sum", DataType::UInt64, true))])
    }
}

#[derive(Debug)]
struct Acc(u64);

impl Acc {
    fn add(&mut self, a: &ArrayRef) {
        for v in a.as_primitive::<UInt64Type>().iter().flatten() {
            self.0 = self.0.wrapping_add(v);
        }
    }
}

impl Accumulator for Acc {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.add(&values[0]);
        Ok(())
    }
    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.add(&states[0]);
        Ok(())
    }
    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![ScalarValue::UInt64(Some(self.0))])
    }
    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::UInt64(Some(self.0)))
    }
    fn size(&self) -> usize {
        std::mem::size_of::<Self>()
    }
}
