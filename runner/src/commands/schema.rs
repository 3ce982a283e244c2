//! `runner schema`: prints the pipeline JSON Schema.

use std::io::Write;

/// The schema as committed in schemas/pipeline.schema.json: pretty JSON and a newline.
pub fn schema_text() -> String {
    let mut text = serde_json::to_string_pretty(&crate::spec::json_schema())
        .expect("a JSON value always serializes");
    text.push('\n');
    text
}

/// Prints the schema to `out`.
pub fn run(out: &mut dyn Write) -> std::io::Result<super::Outcome> {
    out.write_all(schema_text().as_bytes())?;
    Ok(super::Outcome::Success)
}
