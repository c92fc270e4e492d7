//! The error a rule raises: a value it cannot read, or a column of a type it does not
//! take.
//!
//! The rules run inside DataFusion's queries, so their errors come back to the checks
//! wrapped in DataFusion's; a [`RuleError`] in the chain is how a check knows that a
//! rule failed (rather than the SQL, or the engine) and attributes it to a column.

use datafusion::error::DataFusionError;

/// A value or a column a rule cannot read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    /// What failed, starting with the rule's name as the spec writes it
    /// (`json: {"a": is not JSON`).
    pub message: String,
}

impl std::fmt::Display for RuleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RuleError {}

impl RuleError {
    /// The error a rule's function returns.
    pub fn error(message: impl Into<String>) -> DataFusionError {
        DataFusionError::External(Box::new(RuleError {
            message: message.into(),
        }))
    }

    /// The rule error that caused `e`, if one did.
    pub fn find<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a RuleError> {
        let mut next = Some(e);
        while let Some(e) = next {
            if let Some(r) = e.downcast_ref::<RuleError>() {
                return Some(r);
            }
            next = e.source();
        }
        None
    }
}

/// What a rule does with a value it cannot read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum OnInvalid {
    /// Fail the query with a [`RuleError`] naming the value (`sd_parse_timestamp`, ...):
    /// what a user's SQL and the tests of a rule meet.
    #[default]
    Error,
    /// Give NULL (`sd_try_parse_timestamp`, ...): the entity views use these, and count
    /// such values as invalid findings of their own.
    Null,
}

impl OnInvalid {
    /// A value the rule cannot read: `error`, or with [`OnInvalid::Null`] `null()`
    /// appends a NULL in its place.
    pub fn value(
        self,
        null: impl FnOnce(),
        error: DataFusionError,
    ) -> datafusion::common::Result<()> {
        match self {
            OnInvalid::Error => Err(error),
            OnInvalid::Null => {
                null();
                Ok(())
            }
        }
    }

    /// The function's name: `sd_<rule>`, or `sd_try_<rule>` for [`OnInvalid::Null`].
    pub fn name(self, strict: &'static str, lenient: &'static str) -> &'static str {
        match self {
            OnInvalid::Error => strict,
            OnInvalid::Null => lenient,
        }
    }
}

/// `Err` of a [`RuleError`] with a formatted message, as `exec_err!` for rules.
macro_rules! rule_err {
    ($($arg:tt)*) => {
        Err($crate::normalize::RuleError::error(format!($($arg)*)))
    };
}
pub(crate) use rule_err;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn found_through_the_wrappers() {
        let e = DataFusionError::Context(
            "while reading".into(),
            Box::new(DataFusionError::ArrowError(
                Box::new(arrow::error::ArrowError::ExternalError(Box::new(
                    DataFusionError::Shared(std::sync::Arc::new(RuleError::error(
                        "bool: `maybe` is not a boolean",
                    ))),
                ))),
                None,
            )),
        );
        assert_eq!(
            RuleError::find(&e).map(|r| r.message.as_str()),
            Some("bool: `maybe` is not a boolean")
        );
        assert_eq!(
            RuleError::find(&DataFusionError::Execution("x".into())),
            None
        );
    }
}
