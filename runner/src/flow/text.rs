//! Raw text batches: a source's rows as nullable Utf8 columns, the input of the cleaning
//! program whatever the source (CSV, the Socrata API, ...).

use std::sync::Arc;

use crate::flow::error::FlowError;
use arrow_array::builder::StringBuilder;
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};

/// The schema of text columns named `columns`.
pub fn schema(columns: &[String]) -> SchemaRef {
    Arc::new(Schema::new(
        columns
            .iter()
            .map(|c| Field::new(c, DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ))
}

/// The batch the filled `builders` make, one per column of `schema`.
pub fn finish(schema: &SchemaRef, builders: Vec<StringBuilder>) -> Result<RecordBatch, FlowError> {
    let arrays: Vec<ArrayRef> = builders
        .into_iter()
        .map(|mut b| Arc::new(b.finish()) as ArrayRef)
        .collect();
    RecordBatch::try_new(Arc::clone(schema), arrays).map_err(FlowError::from)
}
