//! What a change of cleaning rules does to rows: a sample of a source cleaned by the rules
//! last applied and by the rules in the file, compared row by row and field by field
//! (`runner plan --sample N`). Nothing is written.

use std::collections::BTreeMap;

use arrow_array::RecordBatch;
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use serde::Serialize;

use crate::clean::Program;
use crate::spec::{Dataset, SourceKind};

/// Example rows shown per change.
const EXAMPLES: usize = 3;

/// The data effect of the rules of one dataset on one sample.
#[derive(Debug, Default, Serialize)]
pub struct DataEffect {
    /// The flow whose source gave the sample.
    pub flow: String,
    /// The dataset.
    pub dataset: String,
    /// Rows in the sample.
    pub rows: usize,
    /// Rows the applied rules kept and rejected (`None` when none were applied).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<Counts>,
    /// Rows the rules in the file keep and reject.
    pub after: Counts,
    /// The share the new rules reject, and the dataset's `max_reject_ratio`.
    pub reject_ratio: f64,
    /// The dataset's `max_reject_ratio`.
    pub max_reject_ratio: f64,
    /// Per field, what the change does to rows both rule sets keep or the new ones reject.
    pub fields: BTreeMap<String, FieldEffect>,
}

/// Rows kept and rejected.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Counts {
    /// Rows kept.
    pub kept: usize,
    /// Rows rejected.
    pub rejected: usize,
}

/// What a rule change does to one field.
#[derive(Debug, Default, Serialize)]
pub struct FieldEffect {
    /// Values that change (both rule sets keep the row, and the value differs).
    pub changed: usize,
    /// Values that become NULL.
    pub became_null: usize,
    /// Rows the field's rules start to reject.
    pub newly_rejected: usize,
    /// Up to three rows of each kind: the sample's row (from 1), the value before and after.
    pub examples: Vec<Example>,
}

/// One row a change touches.
#[derive(Debug, Serialize)]
pub struct Example {
    /// The row in the sample, from 1.
    pub row: usize,
    /// The value before (`null` for NULL).
    pub before: String,
    /// The value after, or the rejection.
    pub after: String,
}

/// One rule set's outcome on the sample: each row's values by field, or its rejection.
struct Outcome {
    rows: Vec<Result<BTreeMap<String, String>, (String, String)>>,
}

/// Cleans `batch` (text columns of a `kind` source) with `dataset`'s rules.
fn outcome(dataset: &Dataset, kind: SourceKind, batch: &RecordBatch) -> Result<Outcome, String> {
    let columns: Vec<String> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let program = Program::compile(dataset, kind, &columns).map_err(|e| e.to_string())?;
    let cleaned = program.apply(batch).map_err(|e| e.to_string())?;
    let mut rows: Vec<Result<BTreeMap<String, String>, (String, String)>> =
        vec![Ok(BTreeMap::new()); batch.num_rows()];
    for reject in &cleaned.rejects {
        rows[reject.row] = Err((reject.field.clone(), reject.reason.clone()));
    }
    let options = FormatOptions::default().with_null("null");
    for (i, field) in cleaned.batch.schema().fields().iter().enumerate() {
        let formatter = ArrayFormatter::try_new(cleaned.batch.column(i).as_ref(), &options)
            .map_err(|e| e.to_string())?;
        for (out_row, input_row) in cleaned.rows.iter().enumerate() {
            if let Ok(values) = &mut rows[*input_row as usize] {
                values.insert(field.name().clone(), formatter.value(out_row).to_string());
            }
        }
    }
    Ok(Outcome { rows })
}

/// The effect on `batch` (the first rows of `flow`'s source) of cleaning it with `new`
/// instead of `old` (the applied rules, if any).
pub fn effect(
    flow: &str,
    name: &str,
    old: Option<&Dataset>,
    new: &Dataset,
    kind: SourceKind,
    batch: &RecordBatch,
) -> Result<DataEffect, String> {
    let after = outcome(new, kind, batch)?;
    let counts = |o: &Outcome| Counts {
        kept: o.rows.iter().filter(|r| r.is_ok()).count(),
        rejected: o.rows.iter().filter(|r| r.is_err()).count(),
    };
    let mut effect = DataEffect {
        flow: flow.to_owned(),
        dataset: name.to_owned(),
        rows: batch.num_rows(),
        after: counts(&after),
        max_reject_ratio: new.max_reject_ratio,
        ..DataEffect::default()
    };
    effect.reject_ratio =
        crate::flow::reject_ratio(effect.after.rejected as u64, effect.rows as u64);
    let Some(old) = old else {
        return Ok(effect);
    };
    let before = outcome(old, kind, batch)
        .map_err(|e| format!("the applied rules no longer fit the source: {e}"))?;
    effect.before = Some(counts(&before));
    for (i, (was, is)) in before.rows.iter().zip(&after.rows).enumerate() {
        match (was, is) {
            (Ok(old_values), Ok(new_values)) => {
                for (field, value) in new_values {
                    let old_value = old_values.get(field).map_or("null", String::as_str);
                    if old_value == value {
                        continue;
                    }
                    let entry = effect.fields.entry(field.clone()).or_default();
                    if value == "null" {
                        entry.became_null += 1;
                    } else {
                        entry.changed += 1;
                    }
                    if entry.examples.len() < EXAMPLES {
                        entry.examples.push(Example {
                            row: i + 1,
                            before: old_value.to_owned(),
                            after: value.clone(),
                        });
                    }
                }
            }
            (Ok(old_values), Err((field, reason))) => {
                let entry = effect.fields.entry(field.clone()).or_default();
                entry.newly_rejected += 1;
                if entry.examples.len() < EXAMPLES {
                    entry.examples.push(Example {
                        row: i + 1,
                        before: old_values
                            .get(field)
                            .cloned()
                            .unwrap_or_else(|| "null".into()),
                        after: format!("rejected: {reason}"),
                    });
                }
            }
            _ => {}
        }
    }
    Ok(effect)
}
