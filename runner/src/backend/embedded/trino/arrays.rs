//! Trino's array functions that DataFusion has under other names: `element_at` is
//! DataFusion's `array_element` (1-based, negative from the end, NULL out of range) and
//! `contains` its `array_has`. `cardinality` and `array_join` are DataFusion's own.

use datafusion::functions_nested::array_has::array_has_udf;
use datafusion::functions_nested::extract::array_element_udf;
use datafusion::logical_expr::ScalarUDF;

use super::FunctionSpec;

/// The functions of this module written here (none: all are DataFusion's, renamed).
pub(super) const FUNCTIONS: &[FunctionSpec] = &[];

/// DataFusion's array functions under Trino's names (over DataFusion's string `contains`
/// and map `element_at`, which Trino does not have).
pub(super) fn aliases() -> Vec<ScalarUDF> {
    vec![
        (*array_element_udf()).clone().with_aliases(["element_at"]),
        (*array_has_udf()).clone().with_aliases(["contains"]),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::tests::value;

    #[tokio::test]
    async fn array_functions_answer_as_trinos_tests_state() {
        for (expr, expected) in [
            // TestArrayOperators.
            ("cardinality(ARRAY[1, 2, 3])", "3"),
            ("cardinality(ARRAY[1, NULL, 3])", "3"),
            ("element_at(ARRAY[1, 2, 3], 4)", "NULL"),
            ("element_at(ARRAY[1, 2, 3], -4)", "NULL"),
            ("element_at(ARRAY[2, 1, 3], 2)", "1"),
            ("element_at(ARRAY[2, 1, 3], -2)", "1"),
            ("element_at(ARRAY['puppies', 'kittens'], -1)", "kittens"),
            ("contains(ARRAY['puppies', 'dogs'], 'dogs')", "true"),
            ("contains(ARRAY[1, 2, 3], 5)", "false"),
            ("contains(ARRAY[1, NULL, 3], 1)", "true"),
            ("array_join(ARRAY[1, NULL, 2], ',')", "1,2"),
            ("array_join(ARRAY[1, 2, NULL], ';', 'N/A')", "1;2;N/A"),
            (
                "array_join(ARRAY['a', 'b', 'c', NULL, NULL, 'd'], '-')",
                "a-b-c-d",
            ),
        ] {
            assert_eq!(value(expr).await, expected, "{expr}");
        }
    }
}
