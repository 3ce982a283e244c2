//! Checks of the cleaning rules: keys, field names, formats, timezones, regexes, ranges,
//! defaults and which rules make sense for which type.

use chrono::format::{Item, StrftimeItems};

use super::{Ctx, names, ptr};
use crate::spec::dataset::{Field, FieldType};
use crate::spec::types::Scalar;
use crate::suggest::did_you_mean;

/// Checks every dataset.
pub(super) fn check_datasets(ctx: &mut Ctx<'_>) {
    for (name, dataset) in &ctx.pipeline.datasets {
        for (i, key) in dataset.key.iter().enumerate() {
            let at = ptr(&["datasets", name, "key", &i.to_string()]);
            match dataset.fields.get(key) {
                None => {
                    let hint = did_you_mean(key, dataset.fields.keys().map(String::as_str));
                    ctx.error(
                        &at,
                        false,
                        format!("key field '{key}' is not a field of dataset '{name}'"),
                    )
                    .hint = hint;
                }
                Some(field) if field.kind == FieldType::GeoPoint => {
                    ctx.error(&at, false, format!("key field '{key}' is a geo_point; keys are text, numbers, booleans, dates or timestamps"));
                }
                Some(field) if !field.required => {
                    ctx.warning(
                        &at,
                        false,
                        format!("key field '{key}' is not `required: true`"),
                    )
                    .hint = Some(
                        "rows with a null key cannot be deduplicated or keyed in Kafka".into(),
                    );
                }
                Some(_) => {}
            }
        }
        for (field_name, field) in &dataset.fields {
            let at = ptr(&["datasets", name, "fields", field_name]);
            ctx.rule(&at, true, names::glue("column", field_name));
            check_field(ctx, &at, field);
        }
    }
}

/// Checks one field's rules against its type.
fn check_field(ctx: &mut Ctx<'_>, at: &str, field: &Field) {
    let kind = field.kind;
    let type_name = kind.as_str();
    if !field.formats.is_empty() && !kind.is_temporal() {
        ctx.error(
            &format!("{at}/formats"),
            true,
            format!("`formats` applies to date and timestamp fields, not {type_name}"),
        );
    }
    for (i, format) in field.formats.iter().enumerate() {
        if let Err(message) = strftime(format) {
            ctx.error(&format!("{at}/formats/{i}"), false, message).hint = Some(
                "use chrono strftime syntax, e.g. %Y-%m-%d %H:%M:%S or %m/%d/%Y %I:%M:%S %p".into(),
            );
        }
    }
    if let Some(tz) = &field.timezone {
        if kind != FieldType::Timestamp {
            ctx.error(
                &format!("{at}/timezone"),
                true,
                format!("`timezone` applies to timestamp fields, not {type_name}"),
            );
        } else if tz.parse::<chrono_tz::Tz>().is_err() {
            let hint = did_you_mean(tz, chrono_tz::TZ_VARIANTS.iter().map(|t| t.name()));
            ctx.error(
                &format!("{at}/timezone"),
                false,
                format!("unknown timezone '{tz}'"),
            )
            .hint = hint.or_else(|| Some("use an IANA name such as America/Los_Angeles".into()));
        }
    }
    if field.case.is_some() && kind != FieldType::String {
        ctx.error(
            &format!("{at}/case"),
            true,
            format!("`case` applies to string fields, not {type_name}"),
        );
    }
    if let Some(pattern) = &field.pattern
        && let Err(e) = regex::Regex::new(pattern)
    {
        let first_line = e
            .to_string()
            .lines()
            .last()
            .unwrap_or_default()
            .trim_start_matches("error: ")
            .to_owned();
        ctx.error(
            &format!("{at}/pattern"),
            false,
            format!("invalid regular expression: {first_line}"),
        );
    }
    if let Some([min, max]) = field.range {
        if !matches!(kind, FieldType::Int | FieldType::Double) {
            ctx.error(
                &format!("{at}/range"),
                true,
                format!("`range` applies to int and double fields, not {type_name}"),
            );
        } else if min > max {
            ctx.error(
                &format!("{at}/range"),
                false,
                format!("range [{min}, {max}] is empty: the minimum is above the maximum"),
            );
        }
    }
    if let Some(default) = &field.default
        && let Err(message) = default_fits(kind, default)
    {
        ctx.error(&format!("{at}/default"), false, message);
    }
    if let Some(from) = &field.from {
        use crate::spec::dataset::ColumnName;
        let empty = match from {
            ColumnName::Same(name) => name.trim().is_empty(),
            ColumnName::PerKind(per) => [&per.csv, &per.socrata]
                .iter()
                .any(|c| c.as_deref().is_some_and(|n| n.trim().is_empty())),
        };
        if empty {
            ctx.error(
                &format!("{at}/from"),
                false,
                "source column names may not be empty",
            );
        }
    }
}

/// Whether a strftime format compiles.
fn strftime(format: &str) -> Result<(), String> {
    if format.trim().is_empty() {
        return Err("empty date format".into());
    }
    if StrftimeItems::new(format).any(|item| matches!(item, Item::Error)) {
        return Err(format!("'{format}' is not a valid date format"));
    }
    Ok(())
}

/// Whether a default value can be a value of `kind`.
fn default_fits(kind: FieldType, default: &Scalar) -> Result<(), String> {
    let fits = matches!(
        (kind, default),
        (FieldType::String, _)
            | (FieldType::Int, Scalar::Int(_))
            | (FieldType::Double, Scalar::Int(_) | Scalar::Float(_))
            | (FieldType::Bool, Scalar::Bool(_))
            | (
                FieldType::Date | FieldType::Timestamp | FieldType::GeoPoint,
                Scalar::Text(_)
            )
    );
    if fits {
        Ok(())
    } else {
        Err(format!(
            "default {default} is not a {} value",
            kind.as_str()
        ))
    }
}
