//! SQL that can only read: every statement snapdiff plans, from a check's template, a
//! spec's entity or a user's prompt, goes through [`sql`], the one place where
//! [`read_only`] refuses writes. A failed query is explained with [`explain`].

use datafusion::prelude::SessionContext;

use crate::error::Error;

/// Every table of the session as `schema.table`, sorted.
pub fn tables(ctx: &SessionContext) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(c) = ctx.catalog("datafusion") {
        for s in ["legacy", "target", "diffs"] {
            if let Some(schema) = c.schema(s) {
                let mut names = schema.table_names();
                names.sort();
                out.extend(names.into_iter().map(|t| format!("{s}.{t}")));
            }
        }
    }
    out
}

/// What a statement typed into a session may do: read snapshots and reports, and name
/// views or memory tables for the session; never write. `COPY ... TO` and `INSERT`
/// (which would write the files behind an external table) are refused before they run.
pub fn read_only() -> datafusion::execution::context::SQLOptions {
    datafusion::execution::context::SQLOptions::new().with_allow_dml(false)
}

/// Plan `text` in `ctx` under [`read_only`]: how the checks run SQL, so that no spec,
/// however written, makes a verification write. On a cluster, a join Ballista would
/// run wrong is refused ([`super::remote::unsupported_join`]).
pub async fn sql(
    ctx: &SessionContext,
    text: &str,
) -> datafusion::error::Result<datafusion::dataframe::DataFrame> {
    let df = ctx.sql_with_options(text, read_only()).await?;
    if super::remote::is_remote(ctx) {
        let optimized = ctx.state().optimize(df.logical_plan())?;
        if let Some(why) = super::remote::unsupported_join(&optimized) {
            return Err(datafusion::error::DataFusionError::Plan(format!(
                "{why}; give the join an equality (=) between the two sides, or run with --engine local"
            )));
        }
    }
    Ok(df)
}

/// Explain a failed query: DataFusion's message (with the position of a syntax error),
/// and for an unknown table, the tables there are.
pub fn explain(ctx: &SessionContext, e: datafusion::error::DataFusionError) -> Error {
    let text = e.to_string();
    if text.contains("DML not supported") {
        return Error::spec(
            "the session is read-only: COPY and INSERT are refused (nothing is ever written \
             to a snapshot or report)",
        )
        .with_hint(
            "to save a result, run the query with `--out FILE` (its format from `--format`)",
        );
    }
    let mut err = Error::source(format!("the query fails: {}", text.trim()));
    if let Some(hint) = quote_hint(&e) {
        return err.with_hint(hint);
    }
    if text.contains("not found") && (text.contains("table") || text.contains("Table")) {
        let t = tables(ctx);
        err = err.with_hint(if t.is_empty() {
            "no table is registered: extract snapshots first (`snapdiff extract SPEC`)".to_string()
        } else {
            format!("the tables are: {}", t.join(", "))
        });
    }
    err
}

/// For a column that is not found only because an unquoted name was read in lower case
/// (`InvoiceId` is `invoiceid` unless quoted): the hint to quote it.
pub fn quote_hint(e: &datafusion::error::DataFusionError) -> Option<String> {
    use datafusion::common::SchemaError;
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = next {
        if let Some(SchemaError::FieldNotFound {
            field,
            valid_fields,
        }) = err.downcast_ref::<SchemaError>()
        {
            let wanted = field.name.to_lowercase();
            return valid_fields
                .iter()
                .find(|c| c.name != field.name && c.name.to_lowercase() == wanted)
                .map(|c| {
                    format!(
                        "did you mean \"{}\"? quote it: SQL reads an unquoted name in lower case",
                        c.name
                    )
                });
        }
        next = err.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unquoted_mixed_case_name_gets_the_quoted_one() {
        let ctx = SessionContext::new();
        let rt = super::super::runtime::runtime(super::super::runtime::Flavor::OneCall).unwrap();
        rt.block_on(async {
            ctx.sql("CREATE VIEW v AS SELECT 1 AS \"InvoiceId\", 2 AS total")
                .await
                .unwrap();
            let e = ctx.sql("SELECT InvoiceId FROM v").await.unwrap_err();
            assert_eq!(
                quote_hint(&e).as_deref(),
                Some("did you mean \"InvoiceId\"? quote it: SQL reads an unquoted name in lower case")
            );
            let e = ctx.sql("SELECT nope FROM v").await.unwrap_err();
            assert_eq!(quote_hint(&e), None);
        });
    }
}
