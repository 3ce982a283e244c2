//! Trino's lateral unnest on the embedded engine. Athena users split a column and unnest it
//! beside its row: `FROM t CROSS JOIN UNNEST(split(t.address, ' ')) AS u(word)`. DataFusion
//! cannot unnest a column of the table it joins, but it unnests in a select list, which
//! gives the same rows: the query is rewritten to
//! `FROM (SELECT t.*, unnest(split(t.address, ' ')) AS word FROM t) AS t`, with `u.word`
//! read as `t.word`. Several arrays in one `UNNEST` are zipped, as in Trino. Queries without
//! such a join are left exactly as written.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Expr, Ident, JoinOperator, Select, SetExpr, Statement, TableFactor, VisitMut, VisitorMut,
    visit_expressions_mut,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;

/// `sql` with each lateral `CROSS JOIN UNNEST` written as a select-list unnest; `sql` itself
/// when it has none (or does not parse: the engine then reports why).
pub fn lateral(sql: &str) -> String {
    if !sql.to_ascii_uppercase().contains("UNNEST") {
        return sql.to_owned();
    }
    let Ok(mut statements) = Parser::parse_sql(&GenericDialect {}, sql) else {
        return sql.to_owned();
    };
    let mut rewriter = Rewriter { changed: false };
    let _ = statements.visit(&mut rewriter);
    if !rewriter.changed {
        return sql.to_owned();
    }
    statements
        .iter()
        .map(Statement::to_string)
        .collect::<Vec<_>>()
        .join(";\n")
}

/// Rewrites the selects it visits.
struct Rewriter {
    changed: bool,
}

impl VisitorMut for Rewriter {
    type Break = ();

    fn post_visit_select(&mut self, select: &mut Select) -> ControlFlow<()> {
        let renames = rewrite(select);
        if !renames.is_empty() {
            self.changed = true;
            let _ = visit_expressions_mut(select, |expr| {
                if let Expr::CompoundIdentifier(parts) = expr
                    && let [table, _] = parts.as_mut_slice()
                    && let Some((_, to)) = renames
                        .iter()
                        .find(|(from, _)| from.value.eq_ignore_ascii_case(&table.value))
                {
                    *table = to.clone();
                }
                ControlFlow::<()>::Continue(())
            });
        }
        ControlFlow::Continue(())
    }
}

/// Rewrites the lateral unnests of `select`'s `FROM`; the unnest aliases renamed to the
/// alias of the table they were joined to.
fn rewrite(select: &mut Select) -> Vec<(Ident, Ident)> {
    let mut renames = Vec::new();
    for from in &mut select.from {
        let unnests: Option<Vec<(Ident, Vec<String>)>> = (!from.joins.is_empty())
            .then(|| from.joins.iter().map(lateral_unnest).collect())
            .flatten();
        let Some(unnests) = unnests else { continue };
        let alias = match &from.relation {
            TableFactor::Table { alias: Some(a), .. }
            | TableFactor::Derived { alias: Some(a), .. } => a.name.clone(),
            TableFactor::Table { name, .. } => match name.0.last().and_then(|p| p.as_ident()) {
                Some(ident) => ident.clone(),
                None => continue,
            },
            _ => continue,
        };
        let columns: Vec<String> = unnests.iter().flat_map(|(_, c)| c.clone()).collect();
        let derived = format!(
            "SELECT * FROM (SELECT {alias}.*, {} FROM {}) AS {alias}",
            columns.join(", "),
            from.relation
        );
        let Some(relation) = first_relation(&derived) else {
            continue;
        };
        from.relation = relation;
        from.joins.clear();
        renames.extend(unnests.into_iter().map(|(u, _)| (u, alias.clone())));
    }
    renames
}

/// A `CROSS JOIN UNNEST(a, ...) AS u(x, ...)` join: the alias and each `unnest(a) AS x`;
/// `None` for any other join (and for `WITH ORDINALITY` or `WITH OFFSET`).
fn lateral_unnest(join: &datafusion::sql::sqlparser::ast::Join) -> Option<(Ident, Vec<String>)> {
    if !matches!(join.join_operator, JoinOperator::CrossJoin(_)) {
        return None;
    }
    let TableFactor::UNNEST {
        alias: Some(alias),
        array_exprs,
        with_offset: false,
        with_ordinality: false,
        ..
    } = &join.relation
    else {
        return None;
    };
    if alias.columns.len() != array_exprs.len() {
        return None;
    }
    let columns = array_exprs
        .iter()
        .zip(&alias.columns)
        .map(|(array, column)| format!("unnest({array}) AS {}", column.name))
        .collect();
    Some((alias.name.clone(), columns))
}

/// The first relation of `SELECT * FROM <relation>`.
fn first_relation(sql: &str) -> Option<TableFactor> {
    let mut statements = Parser::parse_sql(&GenericDialect {}, sql).ok()?;
    let Statement::Query(query) = statements.pop()? else {
        return None;
    };
    let SetExpr::Select(select) = *query.body else {
        return None;
    };
    select.from.into_iter().next().map(|f| f.relation)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lateral_unnest_becomes_a_select_list_unnest_and_other_sql_is_untouched() {
        assert_eq!(
            lateral(
                "SELECT u.word, count(*) FROM offenses CROSS JOIN UNNEST(split(block_address, ' ')) AS u(word) GROUP BY 1"
            ),
            "SELECT offenses.word, count(*) FROM (SELECT offenses.*, unnest(split(block_address, ' ')) AS word FROM offenses) AS offenses GROUP BY 1"
        );
        let plain = "SELECT count(*)  FROM offenses -- as written";
        assert_eq!(lateral(plain), plain);
    }
}
