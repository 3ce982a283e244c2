//! Athena's SQL dialect (Trino's) on the embedded engine: the functions analysts use on
//! this kind of data, registered in DataFusion with Trino's names and semantics (argument
//! order, units, 1-based indexes, NULL where Trino answers NULL), so one query runs the same
//! on Athena and on a laptop. DataFusion's own functions serve where they already agree
//! with Trino (`regexp_like`, `strpos`, `length`, `lpad`, `rpad`, `cardinality`,
//! `array_join`, `approx_distinct`, `date_part`); the others are here. The list, and the known
//! differences, are in docs/query.md.

mod aggregates;
mod arrays;
mod datetime;
mod json;
mod text;
pub mod unnest;

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef};
use datafusion::arrow::datatypes::DataType;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;

/// Registers the Trino functions in `context`, over DataFusion's where names clash
/// (`contains`, `element_at`, `split_part`, `regexp_replace`, `date_trunc`, `to_unixtime`,
/// `from_unixtime` follow Trino here).
pub fn register(context: &SessionContext) {
    for function in datetime::FUNCTIONS
        .iter()
        .chain(text::FUNCTIONS)
        .chain(arrays::FUNCTIONS)
        .chain(json::FUNCTIONS)
    {
        context.register_udf(ScalarUDF::from(*function));
    }
    for udf in arrays::aliases() {
        context.register_udf(udf);
    }
    for udaf in aggregates::all() {
        context.register_udaf(udaf);
    }
}

/// A scalar function: its name, the return type its argument types give (or Trino's kind
/// of error: `Unexpected parameters (varchar) for function year`), and its body over the
/// arguments as arrays of one length.
#[derive(Clone, Debug)]
pub(super) struct Function {
    /// The name SQL calls it by.
    name: &'static str,
    /// The return type for the argument types, or why they do not fit.
    returns: fn(&[DataType]) -> std::result::Result<DataType, ()>,
    /// The values for the arguments, given the return type.
    body: fn(&[ArrayRef], &DataType) -> Result<ArrayRef>,
    /// Any argument types: the function checks them itself in `returns`.
    signature: Signature,
    /// Further names (`dow` for `day_of_week`), as DataFusion hands them out.
    alias_names: Vec<String>,
}

/// A function called `name` (and `aliases`), whose argument types give its return type
/// through `returns`, and whose values `body` computes.
pub(super) const fn function(
    name: &'static str,
    aliases: &'static [&'static str],
    returns: fn(&[DataType]) -> std::result::Result<DataType, ()>,
    body: fn(&[ArrayRef], &DataType) -> Result<ArrayRef>,
) -> FunctionSpec {
    FunctionSpec {
        name,
        aliases,
        returns,
        body,
    }
}

/// What a [`Function`] is made from, as a constant.
#[derive(Clone, Copy, Debug)]
pub(super) struct FunctionSpec {
    name: &'static str,
    aliases: &'static [&'static str],
    returns: fn(&[DataType]) -> std::result::Result<DataType, ()>,
    body: fn(&[ArrayRef], &DataType) -> Result<ArrayRef>,
}

impl From<FunctionSpec> for ScalarUDF {
    fn from(spec: FunctionSpec) -> Self {
        ScalarUDF::new_from_impl(Function {
            name: spec.name,
            returns: spec.returns,
            body: spec.body,
            signature: Signature::user_defined(Volatility::Immutable),
            alias_names: spec.aliases.iter().map(|a| (*a).to_owned()).collect(),
        })
    }
}

impl PartialEq for Function {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for Function {}

impl std::hash::Hash for Function {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl ScalarUDFImpl for Function {
    fn name(&self) -> &str {
        self.name
    }

    fn aliases(&self) -> &[String] {
        &self.alias_names
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.return_type(arg_types)?;
        Ok(arg_types.to_vec())
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        (self.returns)(arg_types).map_err(|()| {
            let types: Vec<String> = arg_types.iter().map(sql_type).collect();
            DataFusionError::Plan(format!(
                "Unexpected parameters ({}) for function {}",
                types.join(", "),
                self.name
            ))
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let arrays: Vec<ArrayRef> = args
            .args
            .iter()
            .map(|a| a.to_array(rows))
            .collect::<Result<_>>()?;
        let returns = args.return_field.data_type().clone();
        Ok(ColumnarValue::Array((self.body)(&arrays, &returns)?))
    }
}

/// A type as Trino names it in its messages.
fn sql_type(kind: &DataType) -> String {
    match kind {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "varchar".into(),
        DataType::Int8 | DataType::Int16 | DataType::Int32 => "integer".into(),
        DataType::Int64 | DataType::UInt64 | DataType::UInt32 => "bigint".into(),
        DataType::Float32 | DataType::Float64 => "double".into(),
        DataType::Boolean => "boolean".into(),
        DataType::Date32 | DataType::Date64 => "date".into(),
        DataType::Timestamp(_, None) => "timestamp".into(),
        DataType::Timestamp(_, Some(_)) => "timestamp with time zone".into(),
        DataType::Null => "unknown".into(),
        DataType::List(f) | DataType::LargeList(f) => format!("array({})", sql_type(f.data_type())),
        other => other.to_string().to_lowercase(),
    }
}

/// Whether `kind` is text.
fn is_text(kind: &DataType) -> bool {
    matches!(
        kind,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null
    )
}

/// Whether `kind` is a whole number.
fn is_integer(kind: &DataType) -> bool {
    kind.is_integer() || kind == &DataType::Null
}

/// `array` as UTF-8 text (a cast from large or view strings; NULLs stay NULL).
fn strings(array: &ArrayRef) -> Result<Arc<datafusion::arrow::array::StringArray>> {
    let cast = datafusion::arrow::compute::cast(array, &DataType::Utf8)?;
    Ok(Arc::new(
        cast.as_any()
            .downcast_ref::<datafusion::arrow::array::StringArray>()
            .ok_or_else(|| DataFusionError::Internal("not text".into()))?
            .clone(),
    ))
}

/// `array` as 64-bit integers (NULLs stay NULL).
fn integers(array: &ArrayRef) -> Result<datafusion::arrow::array::Int64Array> {
    let cast = datafusion::arrow::compute::cast(array, &DataType::Int64)?;
    Ok(cast
        .as_any()
        .downcast_ref::<datafusion::arrow::array::Int64Array>()
        .ok_or_else(|| DataFusionError::Internal("not an integer".into()))?
        .clone())
}

/// Values made once per distinct text, for the arguments that are the same on most rows
/// (a format, a pattern, a path, a unit): a query's rows share a few.
pub(super) struct Memo<T> {
    made: Vec<(String, T)>,
}

impl<T> Memo<T> {
    /// An empty memo.
    pub(super) fn new() -> Self {
        Memo { made: Vec::new() }
    }

    /// The value for `key`, made by `make` the first time.
    pub(super) fn get(&mut self, key: &str, make: impl FnOnce(&str) -> Result<T>) -> Result<&T> {
        let at = match self.made.iter().position(|(k, _)| k == key) {
            Some(at) => at,
            None => {
                self.made.push((key.to_owned(), make(key)?));
                self.made.len() - 1
            }
        };
        Ok(&self.made[at].1)
    }
}

/// An error of a function's value, as Trino words it (`INVALID_FUNCTION_ARGUMENT`).
fn invalid(message: impl Into<String>) -> DataFusionError {
    DataFusionError::Execution(message.into())
}

#[cfg(test)]
pub(super) mod tests {
    use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
    use datafusion::prelude::SessionContext;

    /// The first value of `SELECT expr` with the Trino functions registered, as text, or
    /// the error.
    pub async fn value(expr: &str) -> String {
        let context = SessionContext::new();
        super::register(&context);
        answer(&context, &format!("SELECT {expr}")).await
    }

    /// The first value of `sql`'s answer as text, or `ERR` and the error.
    pub async fn answer(context: &SessionContext, sql: &str) -> String {
        let frame = match context.sql(sql).await {
            Ok(f) => f,
            Err(e) => return format!("ERR {e}"),
        };
        let batches = match frame.collect().await {
            Ok(b) => b,
            Err(e) => return format!("ERR {e}"),
        };
        let column = batches[0].column(0);
        let options = FormatOptions::default().with_null("NULL");
        let formatter = ArrayFormatter::try_new(column.as_ref(), &options).expect("formatter");
        formatter.value(0).to_string()
    }

    #[tokio::test]
    async fn a_wrong_argument_type_is_a_planning_error_named_as_trino_names_it() {
        let error = value("year('2020-01-01')").await;
        assert!(
            error.contains("Unexpected parameters (varchar) for function year"),
            "{error}"
        );
    }
}
