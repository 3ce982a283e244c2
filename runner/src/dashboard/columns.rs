//! A query answer's columns as the charts need them: display text, and numbers where the
//! column is numeric or temporal (dates and instants as epoch microseconds).

use datafusion::arrow::array::{Array, ArrayRef, Float64Array};
use datafusion::arrow::compute::{cast, concat};
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};

use crate::backend::Answer;

/// One column of an answer, every batch joined.
pub struct Column {
    /// The column's name.
    pub name: String,
    /// Each value as displayed (`""` for null).
    pub text: Vec<String>,
    /// Each value as a number, when the column is numeric or temporal.
    pub number: Option<Vec<Option<f64>>>,
    /// Whether the numbers are instants (epoch microseconds).
    pub temporal: bool,
}

/// The columns of `answer`, in order.
pub fn columns(answer: &Answer) -> Result<Vec<Column>, String> {
    let mut out = Vec::new();
    for (i, field) in answer.schema.fields().iter().enumerate() {
        let parts: Vec<&dyn Array> = answer
            .batches
            .iter()
            .map(|b| b.column(i).as_ref())
            .collect();
        let array: ArrayRef = if parts.is_empty() {
            datafusion::arrow::array::new_empty_array(field.data_type())
        } else {
            concat(&parts).map_err(|e| e.to_string())?
        };
        let options = FormatOptions::default().with_null("");
        let formatter =
            ArrayFormatter::try_new(array.as_ref(), &options).map_err(|e| e.to_string())?;
        let text = (0..array.len())
            .map(|row| tidy(&formatter.value(row).to_string()))
            .collect();
        let kind = field.data_type();
        let temporal = matches!(
            kind,
            DataType::Date32 | DataType::Date64 | DataType::Timestamp(..)
        );
        let number = if temporal {
            let micros = cast(&array, &DataType::Timestamp(TimeUnit::Microsecond, None))
                .and_then(|a| cast(&a, &DataType::Int64))
                .and_then(|a| cast(&a, &DataType::Float64))
                .map_err(|e| e.to_string())?;
            Some(values(&micros))
        } else if kind.is_numeric() {
            let floats = cast(&array, &DataType::Float64).map_err(|e| e.to_string())?;
            Some(values(&floats))
        } else {
            None
        };
        out.push(Column {
            name: field.name().clone(),
            text,
            number,
            temporal,
        });
    }
    Ok(out)
}

fn values(array: &ArrayRef) -> Vec<Option<f64>> {
    let floats = array
        .as_any()
        .downcast_ref::<Float64Array>()
        .expect("cast to Float64 gives a Float64Array");
    floats.iter().collect()
}

/// Display text without a midnight time part (`2024-03-01T00:00:00Z` shows as `2024-03-01`).
fn tidy(text: &str) -> String {
    for midnight in ["T00:00:00Z", "T00:00:00", " 00:00:00.000", " 00:00:00"] {
        if let Some(day) = text.strip_suffix(midnight) {
            return day.to_owned();
        }
    }
    text.to_owned()
}

/// The column named `name`, or the `fallback`-th one.
pub fn pick<'a>(
    columns: &'a [Column],
    name: Option<&str>,
    fallback: usize,
) -> Result<&'a Column, String> {
    match name {
        Some(name) => columns.iter().find(|c| c.name == name).ok_or_else(|| {
            let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
            format!(
                "the answer has no column '{name}'; it has {}",
                names.join(", ")
            )
        }),
        None => columns
            .get(fallback)
            .ok_or_else(|| format!("the answer has fewer than {} columns", fallback + 1)),
    }
}

/// `value` with thousands separators and at most two decimals.
pub fn format_number(value: f64) -> String {
    let rounded = (value * 100.0).round() / 100.0;
    let whole = rounded.trunc().abs() as u64;
    let digits = whole.to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if rounded < 0.0 { "-" } else { "" };
    let fraction = (rounded.fract().abs() * 100.0).round() as u64;
    if fraction == 0 {
        format!("{sign}{grouped}")
    } else {
        format!("{sign}{grouped}.{fraction:02}")
            .trim_end_matches('0')
            .to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped_and_rounded() {
        assert_eq!(format_number(0.0), "0");
        assert_eq!(format_number(1234567.0), "1,234,567");
        assert_eq!(format_number(-1234.5), "-1,234.5");
        assert_eq!(format_number(999.999), "1,000");
        assert_eq!(format_number(12.34), "12.34");
    }

    #[test]
    fn midnight_is_left_out_of_dates() {
        assert_eq!(tidy("2024-03-01T00:00:00Z"), "2024-03-01");
        assert_eq!(tidy("2024-03-01T08:30:00Z"), "2024-03-01T08:30:00Z");
    }
}
