//! JSON column tests and paths as SQL. PostgreSQL reads the value as `jsonb` (a `json` column is
//! cast) and uses its operators' functions; SQLite uses JSON1 (`json_type`, `json_extract`,
//! `json_each`) with a `$."key"[0]` path built from the parsed segments. Every key, path segment
//! and operand is a bind parameter.

use super::Compiler;
use crate::plan::json::{JsonTest, Segment};
use sea_orm::Value;
use sea_orm::sea_query::{Alias, Expr, ExprTrait};

/// A SQLite JSON path (`$."size"."width"`, `$."labels"[0]`); segments never hold a quote.
fn sqlite_path(segments: &[Segment]) -> String {
    let mut path = String::from("$");
    for segment in segments {
        match segment {
            Segment::Key(key) => {
                path.push_str(".\"");
                path.push_str(key);
                path.push('"');
            }
            Segment::Index(index) => {
                path.push('[');
                path.push_str(&index.to_string());
                path.push(']');
            }
        }
    }
    path
}

/// The SQLite `json_type` names of a JSON scalar's type, and its value as SQLite reads it.
fn sqlite_scalar(value: &serde_json::Value) -> (&'static str, Value) {
    match value {
        serde_json::Value::Bool(flag) => ("'true', 'false'", Value::BigInt(Some(i64::from(*flag)))),
        serde_json::Value::Number(number) => (
            "'integer', 'real'",
            number.as_i64().map_or_else(
                || Value::Double(number.as_f64()),
                |integer| Value::BigInt(Some(integer)),
            ),
        ),
        serde_json::Value::String(text) => ("'text'", Value::String(Some(text.clone()))),
        _ => ("'null'", Value::String(None)),
    }
}

fn postgres_type(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
        serde_json::Value::Null => "null",
    }
}

impl Compiler<'_> {
    /// `value` (a JSON column) at `path`, as PostgreSQL `jsonb` or SQLite JSON text.
    pub(super) fn json_at(&self, value: Expr, path: &[Segment]) -> Expr {
        if self.dialect.postgres() {
            let document = self.dialect.template("CAST({} AS jsonb)", vec![value]);
            return self.json_at_document(document, path);
        }
        self.dialect
            .template("json({} -> {})", vec![value, Expr::val(sqlite_path(path))])
    }

    /// One test on the JSON column `value`.
    pub(super) fn json_test(&mut self, value: Expr, test: &JsonTest) -> Expr {
        if self.dialect.postgres() {
            let document = self.json_at(value, &[]);
            return match test {
                JsonTest::Contains(operand) => self.dialect.template(
                    "({} @> CAST({} AS jsonb))",
                    vec![document, Expr::val(operand.to_string())],
                ),
                JsonTest::ContainedIn(operand) => self.dialect.template(
                    "({} <@ CAST({} AS jsonb))",
                    vec![document, Expr::val(operand.to_string())],
                ),
                // `jsonb_exists` is the function behind `?` (which sea-query would read as a
                // placeholder); one call per key, joined.
                JsonTest::HasKeys { keys, all } => {
                    let parts = keys
                        .iter()
                        .map(|key| {
                            self.dialect
                                .template("jsonb_exists({}, {})", vec![document.clone(), Expr::val(key.as_str())])
                        })
                        .collect();
                    self.dialect.join(*all, parts)
                }
                JsonTest::Compare {
                    path,
                    operator,
                    value: operand,
                } => {
                    let at = self.json_at_document(document, path);
                    let typed = self.dialect.template(
                        &format!(
                            "CASE WHEN jsonb_typeof({{}}) = '{}' THEN {{}} END",
                            postgres_type(operand)
                        ),
                        vec![at.clone(), at],
                    );
                    let operand = self
                        .dialect
                        .template("CAST({} AS jsonb)", vec![Expr::val(operand.to_string())]);
                    super::filter::compare(typed, *operator, operand)
                }
            };
        }
        match test {
            JsonTest::Contains(operand) => self.sqlite_contains(value, "$".to_owned(), operand),
            // Refused before compiling (`plan::sqlite`): SQLite has no containment test.
            JsonTest::ContainedIn(_) => Expr::cust("FALSE"),
            JsonTest::HasKeys { keys, all } => {
                let parts = keys
                    .iter()
                    .map(|key| {
                        let path = sqlite_path(&[Segment::Key(key.clone())]);
                        self.dialect
                            .template("json_type({}, {}) IS NOT NULL", vec![value.clone(), Expr::val(path)])
                    })
                    .collect();
                let object = self.dialect.template("json_type({}) = 'object'", vec![value.clone()]);
                object.and(self.dialect.join(*all, parts))
            }
            JsonTest::Compare {
                path,
                operator,
                value: operand,
            } => {
                let (types, operand) = sqlite_scalar(operand);
                let path = Expr::val(sqlite_path(path));
                let typed = self.dialect.template(
                    &format!("CASE WHEN json_type({{}}, {{}}) IN ({types}) THEN json_extract({{}}, {{}}) END"),
                    vec![value.clone(), path.clone(), value, path],
                );
                super::filter::compare(typed, *operator, Expr::val(operand))
            }
        }
    }

    /// `document` (already `jsonb`) at `path`.
    fn json_at_document(&self, document: Expr, path: &[Segment]) -> Expr {
        if path.is_empty() {
            return document;
        }
        let mut arguments = vec![document];
        arguments.extend(path.iter().map(|segment| {
            Expr::val(match segment {
                Segment::Key(key) => key.clone(),
                Segment::Index(index) => index.to_string(),
            })
        }));
        let template = format!("jsonb_extract_path({})", vec!["{}"; arguments.len()].join(", "));
        self.dialect.template(&template, arguments)
    }

    /// SQLite's reading of `@>`: the JSON `document` holds, at `path`, a value containing
    /// `operand` (objects: each key's value contained; arrays: each element contained in some
    /// element; scalars: equal).
    fn sqlite_contains(&mut self, document: Expr, path: String, operand: &serde_json::Value) -> Expr {
        let type_is = |this: &Self, types: &str| {
            this.dialect.template(
                &format!("json_type({{}}, {{}}) IN ({types})"),
                vec![document.clone(), Expr::val(path.clone())],
            )
        };
        match operand {
            serde_json::Value::Object(fields) => {
                let mut parts = vec![type_is(self, "'object'")];
                for (key, inner) in fields {
                    let mut deeper = path.clone();
                    deeper.push_str(&sqlite_path(&[Segment::Key(key.clone())])[1..]);
                    parts.push(self.sqlite_contains(document.clone(), deeper, inner));
                }
                self.dialect.join(true, parts)
            }
            serde_json::Value::Array(elements) => {
                let mut parts = vec![type_is(self, "'array'")];
                for element in elements {
                    let each = self.alias();
                    let item = Expr::col((Alias::new(&each), Alias::new("value")));
                    let item_type = Expr::col((Alias::new(&each), Alias::new("type")));
                    let matches = match element {
                        serde_json::Value::Object(_) | serde_json::Value::Array(_) => {
                            let containers = item_type.is_in(["object", "array"]);
                            containers.and(self.sqlite_contains(item, "$".to_owned(), element))
                        }
                        scalar => {
                            let (types, value) = sqlite_scalar(scalar);
                            let typed = self.dialect.template(&format!("{{}} IN ({types})"), vec![item_type]);
                            if scalar.is_null() {
                                typed
                            } else {
                                typed.and(item.eq(Expr::val(value)))
                            }
                        }
                    };
                    parts.push(self.dialect.template(
                        &format!("EXISTS (SELECT 1 FROM json_each({{}}, {{}}) AS \"{each}\" WHERE {{}})"),
                        vec![document.clone(), Expr::val(path.clone()), matches],
                    ));
                }
                self.dialect.join(true, parts)
            }
            scalar => {
                let (types, value) = sqlite_scalar(scalar);
                let typed = type_is(self, types);
                if scalar.is_null() {
                    return typed;
                }
                let extracted = self
                    .dialect
                    .template("json_extract({}, {})", vec![document.clone(), Expr::val(path.clone())]);
                typed.and(extracted.eq(Expr::val(value)))
            }
        }
    }
}
