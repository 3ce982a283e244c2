//! Trino's aggregates: `arbitrary` and `approx_percentile` are DataFusion's `any_value`
//! and `approx_percentile_cont` renamed; `count_if`, `max_by` and `min_by` are written
//! here. `approx_distinct` is DataFusion's own.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, Int64Array};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result};
use datafusion::functions_aggregate::any_value::any_value_udaf;
use datafusion::functions_aggregate::approx_percentile_cont::approx_percentile_cont_udaf;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility,
};

/// Every aggregate of this module.
pub(super) fn all() -> Vec<AggregateUDF> {
    vec![
        (*any_value_udaf()).clone().with_aliases(["arbitrary"]),
        (*approx_percentile_cont_udaf())
            .clone()
            .with_aliases(["approx_percentile"]),
        AggregateUDF::new_from_impl(CountIf::new()),
        AggregateUDF::new_from_impl(By::new("max_by", std::cmp::Ordering::Greater)),
        AggregateUDF::new_from_impl(By::new("min_by", std::cmp::Ordering::Less)),
    ]
}

/// `count_if(condition)`: how many rows the condition holds for (0 for none).
#[derive(Debug, PartialEq, Eq, Hash)]
struct CountIf {
    signature: Signature,
}

impl CountIf {
    fn new() -> Self {
        CountIf {
            signature: Signature::exact(vec![DataType::Boolean], Volatility::Immutable),
        }
    }
}

impl AggregateUDFImpl for CountIf {
    fn name(&self) -> &str {
        "count_if"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }

    fn is_nullable(&self) -> bool {
        false
    }

    fn accumulator(&self, _: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(Count(0)))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format!("{}[count]", args.name),
            DataType::Int64,
            false,
        ))])
    }

    fn default_value(&self, _: &DataType) -> Result<ScalarValue> {
        Ok(ScalarValue::Int64(Some(0)))
    }
}

/// The running count of `count_if`.
#[derive(Debug)]
struct Count(i64);

impl Accumulator for Count {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let conditions = values[0]
            .as_any()
            .downcast_ref::<BooleanArray>()
            .ok_or_else(|| DataFusionError::Internal("count_if: not a boolean".into()))?;
        self.0 += conditions.true_count() as i64;
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let counts = states[0]
            .as_any()
            .downcast_ref::<Int64Array>()
            .ok_or_else(|| DataFusionError::Internal("count_if: not a count".into()))?;
        self.0 += counts.iter().flatten().sum::<i64>();
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![ScalarValue::Int64(Some(self.0))])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Int64(Some(self.0)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
    }
}

/// `max_by(x, y)` / `min_by(x, y)`: the `x` of the row with the largest (smallest) `y`;
/// rows whose `y` is NULL are skipped, and NULL when every `y` is.
#[derive(Debug, PartialEq, Eq, Hash)]
struct By {
    name: &'static str,
    /// How `y` must compare with the best so far to take its place.
    wins: std::cmp::Ordering,
    signature: Signature,
}

impl By {
    fn new(name: &'static str, wins: std::cmp::Ordering) -> Self {
        By {
            name,
            wins,
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

impl AggregateUDFImpl for By {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(arg_types[0].clone())
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let kinds = args
            .exprs
            .iter()
            .map(|e| e.data_type(args.schema))
            .collect::<Result<Vec<_>>>()?;
        Ok(Box::new(Best {
            wins: self.wins,
            x: ScalarValue::try_from(&kinds[0])?,
            y: ScalarValue::try_from(&kinds[1])?,
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![
            Arc::new(Field::new(
                format!("{}[x]", args.name),
                args.input_fields[0].data_type().clone(),
                true,
            )),
            Arc::new(Field::new(
                format!("{}[y]", args.name),
                args.input_fields[1].data_type().clone(),
                true,
            )),
        ])
    }
}

/// The best row so far of `max_by` or `min_by`: its `x` and `y` (NULL before any row).
#[derive(Debug)]
struct Best {
    wins: std::cmp::Ordering,
    x: ScalarValue,
    y: ScalarValue,
}

impl Best {
    /// Takes each row of `xs` and `ys` whose `y` beats the best so far.
    fn take(&mut self, xs: &ArrayRef, ys: &ArrayRef) -> Result<()> {
        for i in 0..ys.len() {
            if ys.is_null(i) {
                continue;
            }
            let y = ScalarValue::try_from_array(ys, i)?;
            if self.y.is_null() || y.partial_cmp(&self.y) == Some(self.wins) {
                self.x = ScalarValue::try_from_array(xs, i)?;
                self.y = y;
            }
        }
        Ok(())
    }
}

impl Accumulator for Best {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.take(&values[0], &values[1])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.take(&states[0], &states[1])
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![self.x.clone(), self.y.clone()])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(self.x.clone())
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.x.size() + self.y.size()
    }
}

#[cfg(test)]
mod tests {
    use datafusion::prelude::SessionContext;

    use super::super::tests::answer;

    /// The first value of `aggregate` over `rows` (a VALUES list of `(x, y)`).
    async fn over(aggregate: &str, rows: &str) -> String {
        let context = SessionContext::new();
        super::super::register(&context);
        answer(
            &context,
            &format!("SELECT {aggregate} FROM (VALUES {rows}) AS t(x, y)"),
        )
        .await
    }

    #[tokio::test]
    async fn aggregates_answer_as_trinos_tests_state() {
        // TestMinMaxByAggregation: rows whose y is NULL are skipped.
        let rows =
            "(8.0, -2.0), (9.0, CAST(NULL AS DOUBLE)), (10.0, -1.0), (11.0, CAST(NULL AS DOUBLE))";
        assert_eq!(over("max_by(x, y)", rows).await, "10.0");
        let rows =
            "(10.0, 1.0), (9.0, CAST(NULL AS DOUBLE)), (8.0, 2.0), (11.0, CAST(NULL AS DOUBLE))";
        assert_eq!(over("min_by(x, y)", rows).await, "10.0");
        let rows = "(1.0, 1.0), (CAST(NULL AS DOUBLE), 2.0)";
        assert_eq!(over("max_by(x, y)", rows).await, "NULL");
        assert_eq!(over("min_by(x, y)", rows).await, "1.0");
        // TestCountIfAggregation: true rows only; 0 for none.
        let rows = "(true, 1), (false, 2), (CAST(NULL AS BOOLEAN), 3), (true, 4)";
        assert_eq!(over("count_if(x)", rows).await, "2");
        assert_eq!(over("count_if(x)", "(false, 1)").await, "0");
        assert_eq!(over("count_if(y > 2)", rows).await, "2");
        assert_eq!(over("arbitrary(y)", "(1, 7)").await, "7");
        // TestApproximatePercentileAggregation: the median of a few values is one of them.
        assert_eq!(
            over("approx_percentile(x, 0.5)", "(1.0, 0), (2.0, 0), (3.0, 0)").await,
            "2.0"
        );
        assert_eq!(
            over("approx_distinct(x)", "(1, 0), (2, 0), (2, 0)").await,
            "2"
        );
    }
}
