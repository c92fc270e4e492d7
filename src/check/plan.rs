//! `snapdiff plan` against the data's schemas: every entity, query check and invariant
//! planned over two complete runs, reading no row (the manifests and the Parquet
//! footers only), so that a missing table or column, a rule on a column of the wrong
//! type or a partition expression that does not plan is found before a night's
//! extraction, not after it.

use crate::check::{entity, VerifyOptions};
use crate::engine::runtime::{runtime, Flavor};
use crate::engine::session::{peek_run, register_run, session_with_budget};
use crate::error::Result;
use crate::report::Failure;
use crate::snapshot::Side;
use crate::spec::{EntityKind, Spec};

/// What planning found for one entity, query check or invariant.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    pub name: String,
    /// `None` for an invariant.
    pub kind: Option<EntityKind>,
    /// Its schema findings (columns that cannot be compared), or why it does not plan.
    pub result: std::result::Result<Vec<String>, Failure>,
}

/// The runs planned against and what each part of the spec gave.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanOutcome {
    pub legacy_run: String,
    pub target_run: String,
    pub planned: Vec<Planned>,
}

impl PlanOutcome {
    /// How many parts of the spec do not plan.
    pub fn errors(&self) -> usize {
        self.planned.iter().filter(|p| p.result.is_err()).count()
    }
}

/// Plan `spec` over the runs `opts` names (or the newest complete ones).
pub fn plan(spec: &Spec, opts: &VerifyOptions) -> Result<PlanOutcome> {
    let legacy = peek_run(
        &opts.snapshot_root,
        Side::Legacy,
        opts.legacy_run.as_deref(),
    )?;
    let target = peek_run(
        &opts.snapshot_root,
        Side::Target,
        opts.target_run.as_deref(),
    )?;
    runtime(Flavor::Queries)?.block_on(async {
        let ctx = session_with_budget(&opts.budget);
        register_run(&ctx, &legacy).await?;
        register_run(&ctx, &target).await?;
        let mut planned = Vec::new();
        for def in spec.entity_defs() {
            let result = entity::plan_entity(&ctx, &def, opts)
                .await
                .map_err(|e| Failure::of(&e));
            planned.push(Planned {
                name: def.name.clone(),
                kind: Some(def.kind),
                result,
            });
        }
        for inv in &spec.file.invariant {
            let q = crate::check::invariant_query(inv)?;
            let result = match crate::engine::sql::sql(&ctx, &q).await {
                Ok(_) => Ok(Vec::new()),
                Err(e) => {
                    let mut err = crate::check::invariant_error(inv, &e);
                    if let Some(h) = crate::engine::sql::quote_hint(&e) {
                        err = err.with_hint(h);
                    }
                    Err(Failure::of(&err))
                }
            };
            planned.push(Planned {
                name: inv.name.clone(),
                kind: None,
                result,
            });
        }
        Ok(PlanOutcome {
            legacy_run: legacy.run_id.clone(),
            target_run: target.run_id.clone(),
            planned,
        })
    })
}
