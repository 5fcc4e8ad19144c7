//! A `SELECT … WHERE` built from optional filters, with its parameters: what the stores'
//! list queries share (alarm journal, consumption alerts, incidents).

use rusqlite::types::Value;

/// A query under construction: `SELECT … WHERE 1=1 AND … ORDER BY … LIMIT n`.
pub struct Filter {
    sql: String,
    args: Vec<Value>,
}

impl Filter {
    /// `select` is the query up to its table, e.g. `SELECT a, b FROM t`.
    pub fn new(select: &str) -> Filter {
        Filter {
            sql: format!("{select} WHERE 1=1"),
            args: Vec::new(),
        }
    }

    /// Adds `AND {column_op} ?n`, e.g. `and("zone =", zone)`, when `value` is Some.
    pub fn and<V: Into<Value>>(&mut self, column_op: &str, value: Option<V>) {
        if let Some(v) = value {
            self.args.push(v.into());
            self.sql
                .push_str(&format!(" AND {column_op} ?{}", self.args.len()));
        }
    }

    /// Adds `AND ({template})` where each `?` of `template` takes the next of `values`, e.g.
    /// `and_expr("zone IN (?, ?)", vec![a, b])`. `values` must hold one value per `?`.
    /// A count that does not match is a programming error: the condition is replaced by
    /// one that matches nothing (`0`), and logged, rather than bound to the wrong value.
    pub fn and_expr<V: Into<Value>>(&mut self, template: &str, values: Vec<V>) {
        let marks = template.matches('?').count();
        if marks != values.len() {
            tracing::error!(
                template,
                marks,
                values = values.len(),
                "SQL filter: one value per '?'"
            );
            self.sql.push_str(" AND 0");
            return;
        }
        let mut parts = template.split('?');
        let mut sql = parts.next().unwrap_or_default().to_string();
        let mut values = values.into_iter();
        for part in parts {
            if let Some(v) = values.next() {
                self.args.push(v.into());
            }
            sql.push_str(&format!("?{}{part}", self.args.len()));
        }
        self.sql.push_str(&format!(" AND ({sql})"));
    }

    /// The query with `ORDER BY {order} LIMIT {limit}`, and its parameters.
    pub fn finish(mut self, order: &str, limit: usize) -> (String, Vec<Value>) {
        self.sql
            .push_str(&format!(" ORDER BY {order} LIMIT {limit}"));
        (self.sql, self.args)
    }
}
