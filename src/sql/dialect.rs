//! What differs between PostgreSQL and SQLite when the database builds JSON.
//!
//! PostgreSQL: `json_build_object`, `json_agg(… ORDER BY …) FILTER (WHERE …)`, exact `numeric`
//! via text. SQLite: `json_object`, `json_group_array` (ordered aggregates need 3.44+, which the
//! bundled SQLite has), nested JSON re-marked with `json()`, decimals printed at their declared
//! scale, UUID blobs formatted. Templates here are the engine's own text; every value, including
//! JSON keys taken from the query, is a bind parameter.

use crate::metadata::{ScalarKind, enum_value_name};
use crate::plan::group::TimeBucket;
use sea_orm::sea_query::{Alias, Expr, ExprTrait};
use sea_orm::{DbBackend, Value};
use std::borrow::Cow;

/// PostgreSQL caps function arguments at 100: objects are built in chunks of this many pairs.
const PAIRS_PER_OBJECT: usize = 50;

/// The backend-specific SQL building blocks.
#[derive(Debug, Clone, Copy)]
pub struct Dialect {
    pub backend: DbBackend,
}

impl Dialect {
    pub fn postgres(&self) -> bool {
        self.backend == DbBackend::Postgres
    }

    /// A custom expression from a template whose `{}` mark the arguments in order.
    pub fn template(&self, template: &str, arguments: Vec<Expr>) -> Expr {
        let mut text = String::with_capacity(template.len() + 8);
        let mut pieces = template.split("{}").peekable();
        let mut index = 0;
        while let Some(piece) = pieces.next() {
            text.push_str(piece);
            if pieces.peek().is_some() {
                index += 1;
                if self.postgres() {
                    text.push('$');
                    text.push_str(&index.to_string());
                } else {
                    text.push('?');
                }
            }
        }
        Expr::cust_with_exprs(Cow::Owned(text), arguments)
    }

    /// `parts` joined by `AND` (`all`) or `OR` in one flat expression: sea-query's binary `and`/`or`
    /// build a left-deep tree, and rendering or dropping a tree thousands of conditions deep
    /// would overflow the stack.
    pub fn join(&self, all: bool, mut parts: Vec<Expr>) -> Expr {
        match parts.len() {
            0 => Expr::cust(if all { "TRUE" } else { "FALSE" }),
            1 => parts.pop().expect("one part"),
            count => {
                let separator = if all { ") AND (" } else { ") OR (" };
                let template = format!("(({}))", vec!["{}"; count].join(separator));
                self.template(&template, parts)
            }
        }
    }

    /// A JSON object from (key, value) pairs; keys are bound, not written into the SQL.
    pub fn object(&self, pairs: Vec<(String, Expr)>) -> Expr {
        let function = if self.postgres() {
            "json_build_object"
        } else {
            "json_object"
        };
        // The values are moved, not cloned: they hold whole subqueries.
        let mut chunks: Vec<Expr> = Vec::with_capacity(pairs.len().div_ceil(PAIRS_PER_OBJECT));
        let mut pairs = pairs.into_iter().peekable();
        while pairs.peek().is_some() {
            let chunk: Vec<(String, Expr)> = pairs.by_ref().take(PAIRS_PER_OBJECT).collect();
            let placeholders = vec!["{}, {}"; chunk.len()].join(", ");
            let arguments = chunk
                .into_iter()
                .flat_map(|(key, value)| [Expr::val(key), value])
                .collect();
            chunks.push(self.template(&format!("{function}({placeholders})"), arguments));
        }
        match chunks.len() {
            0 => self.template(
                if self.postgres() {
                    "json_build_object()"
                } else {
                    "json_object()"
                },
                vec![],
            ),
            1 => chunks.into_iter().next().expect("one chunk"),
            count if self.postgres() => {
                let joined = vec!["{}::jsonb"; count].join(" || ");
                self.template(&format!("({joined})::json"), chunks)
            }
            count => {
                let mut template = "{}".to_owned();
                for _ in 1..count {
                    template = format!("json_patch({template}, {{}})");
                }
                self.template(&template, chunks)
            }
        }
    }

    /// A JSON array of the given values.
    pub fn array(&self, items: Vec<Expr>) -> Expr {
        let function = if self.postgres() {
            "json_build_array"
        } else {
            "json_array"
        };
        let placeholders = vec!["{}"; items.len()].join(", ");
        self.template(&format!("{function}({placeholders})"), items)
    }

    /// A JSON value produced by a subquery, embedded in an enclosing object or array.
    pub fn nested(&self, json: Expr) -> Expr {
        if self.postgres() {
            json
        } else {
            self.template("json({})", vec![json])
        }
    }

    /// An aggregate JSON array of `item` over the rows, ordered and optionally filtered; `[]` when
    /// no row qualifies.
    pub fn array_agg(&self, item: Expr, order: &[(Expr, bool)], filter: Option<Expr>) -> Expr {
        let mut arguments = vec![self.nested(item)];
        let mut order_text = Vec::new();
        for (expr, descending) in order {
            arguments.push(expr.clone());
            order_text.push(if *descending { "{} DESC" } else { "{} ASC" });
        }
        let order_clause = if order_text.is_empty() {
            String::new()
        } else {
            format!(" ORDER BY {}", order_text.join(", "))
        };
        let filter_clause = match filter {
            Some(condition) => {
                arguments.push(condition);
                " FILTER (WHERE {})"
            }
            None => "",
        };
        if self.postgres() {
            self.template(
                &format!("COALESCE(json_agg({{}}{order_clause}){filter_clause}, '[]'::json)"),
                arguments,
            )
        } else {
            self.template(
                &format!("json_group_array({{}}{order_clause}){filter_clause}"),
                arguments,
            )
        }
    }

    /// A column (or aggregate) value in the API's own form, so the JSON the database builds is the
    /// response as sent: 64-bit integers and decimals as strings (JavaScript loses digits above
    /// 2^53), enum labels as GraphQL enum names, timestamps in RFC 3339 with an offset, booleans as
    /// JSON booleans, SQLite's storage forms (UUID blobs, `YYYY-MM-DD HH:MM:SS` text) formatted.
    pub fn output(&self, kind: &ScalarKind, value: Expr) -> Expr {
        match (self.postgres(), kind) {
            (true, ScalarKind::BigInt | ScalarKind::Decimal { .. }) => value.cast_as("text"),
            // A timestamp without time zone is read as UTC (the session's zone, set at connect).
            (true, ScalarKind::DateTime) => value.cast_as("timestamptz"),
            (true, ScalarKind::Enum { values, .. }) => self.enum_names(values, value.cast_as("text")),
            // The type's own output (`inet` 10.0.0.7, not the `::text` cast's 10.0.0.7/32).
            (true, ScalarKind::Textual { .. }) => self.template("to_json({})", vec![value]),
            // Each element in its own API form, in the array's order; `[]` for an empty array.
            (true, ScalarKind::Array { element, .. }) => self.template(
                "CASE WHEN {} IS NULL THEN NULL ELSE COALESCE((SELECT json_agg({} ORDER BY gw_item.o) \
                 FROM unnest({}) WITH ORDINALITY AS gw_item(e, o)), '[]'::json) END",
                vec![value.clone(), self.output(element, Expr::cust("gw_item.e")), value],
            ),
            // `encode` breaks base64 lines at 76 characters.
            (true, ScalarKind::Bytes) => self.template("replace(encode({}, 'base64'), chr(10), '')", vec![value]),
            (true, _) => value,
            (false, ScalarKind::BigInt) => value.cast_as("text"),
            (false, ScalarKind::Decimal { scale: Some(scale), .. }) => self.template(
                &format!("CASE WHEN {{}} IS NULL THEN NULL ELSE printf('%.{scale}f', {{}}) END"),
                vec![value.clone(), value],
            ),
            (false, ScalarKind::Decimal { scale: None, .. }) => value.cast_as("text"),
            (false, ScalarKind::Boolean) => self.boolean(value),
            // `2026-01-01 10:00:00` (SQLite's text form, UTC) → `2026-01-01T10:00:00+00:00`.
            (false, ScalarKind::DateTime) => self.template(
                "CASE WHEN {} IS NULL THEN NULL ELSE \
                 (CASE WHEN substr({}, 11, 1) = ' ' THEN substr({}, 1, 10) || 'T' || substr({}, 12) ELSE {} END) || \
                 (CASE WHEN length({}) > 10 AND substr({}, 12) NOT GLOB '*[Z+-]*' THEN '+00:00' ELSE '' END) END",
                vec![value; 8],
            ),
            (false, ScalarKind::Enum { values, .. }) => self.enum_names(values, value),
            (false, ScalarKind::Uuid) => self.template(
                "CASE WHEN typeof({}) = 'blob' THEN lower(substr(hex({}), 1, 8) || '-' || substr(hex({}), 9, 4) || '-' || \
                 substr(hex({}), 13, 4) || '-' || substr(hex({}), 17, 4) || '-' || substr(hex({}), 21)) ELSE {} END",
                vec![value; 7],
            ),
            (false, ScalarKind::Json) => self.template("json({})", vec![value]),
            (false, ScalarKind::Bytes) => self.sqlite_base64(value),
            (false, _) => value,
        }
    }

    /// The start of the calendar `bucket` a date or timestamp falls in: a timestamp's in `zone`
    /// (UTC without one; a bind parameter, checked against the IANA names), as an instant. Weeks
    /// start on Monday. SQLite has no time zone database: its buckets are UTC (the planner's
    /// caller refuses other zones there).
    pub fn time_bucket(&self, kind: &ScalarKind, bucket: TimeBucket, zone: Option<&str>, value: Expr) -> Expr {
        let unit = bucket.unit();
        if self.postgres() {
            return match kind {
                ScalarKind::Date => self.template(&format!("CAST(date_trunc('{unit}', {{}}) AS date)"), vec![value]),
                _ => self.template(
                    &format!("date_trunc('{unit}', CAST({{}} AS timestamptz), {{}})"),
                    vec![value, Expr::val(zone.unwrap_or("UTC"))],
                ),
            };
        }
        let time = if matches!(kind, ScalarKind::Date) {
            ""
        } else {
            " 00:00:00"
        };
        let template = match bucket {
            TimeBucket::Hour if time.is_empty() => "strftime('%Y-%m-%d', {})".to_owned(),
            TimeBucket::Hour => "strftime('%Y-%m-%d %H:00:00', {})".to_owned(),
            TimeBucket::Day => format!("strftime('%Y-%m-%d{time}', {{}})"),
            TimeBucket::Week => format!("strftime('%Y-%m-%d{time}', {{}}, 'weekday 0', '-6 days')"),
            TimeBucket::Month => format!("strftime('%Y-%m-01{time}', {{}})"),
            TimeBucket::Quarter => {
                return self.template(
                    &format!(
                        "strftime('%Y-', {{}}) || printf('%02d', ((CAST(strftime('%m', {{}}) AS INTEGER) - 1) / 3) * 3 + 1) || '-01{time}'"
                    ),
                    vec![value.clone(), value],
                );
            }
            TimeBucket::Year => format!("strftime('%Y-01-01{time}', {{}})"),
        };
        self.template(&template, vec![value])
    }

    /// SQLite has no base64 function: the blob's hex digits, three bytes (six digits) at a time,
    /// become four characters of the standard alphabet, `=` padding the last group.
    fn sqlite_base64(&self, blob: Expr) -> Expr {
        const ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        // Byte `k` (0-based) of the blob, from its hex text `h`; 0 past the end.
        let byte = |k: &str| {
            format!(
                "((instr('0123456789ABCDEF', substr(h, 2 * ({k}) + 1, 1)) - 1) * 16 + \
                 (instr('0123456789ABCDEF', substr(h, 2 * ({k}) + 2, 1)) - 1))"
            )
        };
        let (b1, b2, b3) = (byte("i"), byte("i + 1"), byte("i + 2"));
        // `instr(…, '')` is 1, so a missing byte reads as 0 (and `max(…, 0)` keeps it so).
        let (b2, b3) = (format!("max({b2}, 0)"), format!("max({b3}, 0)"));
        let sql = format!(
            "CASE WHEN {{}} IS NULL THEN NULL ELSE (WITH RECURSIVE v(h, n) AS (SELECT hex({{}}), length(CAST({{}} AS BLOB))), \
             c(i, s) AS (SELECT 0, '' UNION ALL SELECT i + 3, s \
             || substr('{ALPHABET}', ({b1} >> 2) + 1, 1) \
             || substr('{ALPHABET}', ((({b1} & 3) << 4) | ({b2} >> 4)) + 1, 1) \
             || CASE WHEN i + 1 < n THEN substr('{ALPHABET}', ((({b2} & 15) << 2) | ({b3} >> 6)) + 1, 1) ELSE '=' END \
             || CASE WHEN i + 2 < n THEN substr('{ALPHABET}', ({b3} & 63) + 1, 1) ELSE '=' END \
             FROM c, v WHERE i < n) SELECT s FROM c ORDER BY i DESC LIMIT 1) END"
        );
        self.template(&sql, vec![blob; 3])
    }

    /// A bound value for a column of `kind`, typed as the column is: PostgreSQL enums cast to their
    /// type; lists (bound as `bigint[]`, `text[]`, …) and `time`, `inet`, … (bound as text) cast to
    /// the column's own type. The counterpart of [`Dialect::output`].
    pub fn input(&self, kind: &ScalarKind, value: Value) -> Expr {
        match kind {
            ScalarKind::Enum { name, .. } if self.postgres() => Expr::val(value).as_enum(Alias::new(name)),
            ScalarKind::Array { sql_type, .. } | ScalarKind::Textual { sql_type, .. } if self.postgres() => {
                self.template(&format!("CAST({{}} AS {sql_type})"), vec![Expr::val(value)])
            }
            _ => Expr::val(value),
        }
    }

    /// A condition as a JSON boolean (SQLite's conditions are the integers 0 and 1).
    pub fn boolean(&self, condition: Expr) -> Expr {
        if self.postgres() {
            condition
        } else {
            self.template(
                "CASE WHEN {} IS NULL THEN NULL WHEN {} THEN json('true') ELSE json('false') END",
                vec![condition.clone(), condition],
            )
        }
    }

    /// A database enum label (as text) turned into its GraphQL name: `upper()` when that is what
    /// the naming rule does to every label, else one `CASE` arm per label.
    fn enum_names(&self, labels: &[String], label: Expr) -> Expr {
        if labels
            .iter()
            .all(|label| label.is_ascii() && enum_value_name(label) == label.to_ascii_uppercase())
        {
            return self.template("upper({})", vec![label]);
        }
        let mut arguments = vec![label];
        for label in labels {
            arguments.push(Expr::val(label.as_str()));
            arguments.push(Expr::val(enum_value_name(label)));
        }
        let arms = " WHEN {} THEN {}".repeat(labels.len());
        self.template(&format!("CASE {{}}{arms} END"), arguments)
    }

    /// A row's cursor from the JSON array `[signature, order values…]`: the array's text in hex,
    /// which both backends can compute and URLs carry unescaped.
    pub fn cursor(&self, keys: Expr) -> Expr {
        if self.postgres() {
            self.template("encode(convert_to(({})::text, 'UTF8'), 'hex')", vec![keys])
        } else {
            // `hex(NULL)` is '' (no page, no cursor): NULL again.
            self.template("nullif(lower(hex({})), '')", vec![keys])
        }
    }

    /// The first (`last == false`) or last element of a JSON array, as JSON text (NULL when empty).
    pub fn array_end(&self, array: Expr, last: bool) -> Expr {
        match (self.postgres(), last) {
            (true, false) => self.template("(({}) ->> 0)", vec![array]),
            (true, true) => self.template("(({}) ->> -1)", vec![array]),
            (false, false) => self.template("(({}) ->> '$[0]')", vec![array]),
            (false, true) => self.template("(({}) ->> '$[#-1]')", vec![array]),
        }
    }

    /// The current time for `updated_at`-style columns: the database's clock, at sub-second
    /// precision (SQLite's `CURRENT_TIMESTAMP` has whole seconds and no offset).
    pub fn now(&self) -> Expr {
        if self.postgres() {
            Expr::current_timestamp()
        } else {
            Expr::cust("strftime('%Y-%m-%d %H:%M:%f+00:00', 'now')")
        }
    }

    /// The whole result as text, which the executor parses once.
    pub fn as_text(&self, json: Expr) -> Expr {
        if self.postgres() { json.cast_as("text") } else { json }
    }

    /// `row_number()` over the given order (expressions with their direction and null placement).
    pub fn row_number(&self, order: &[(Expr, bool, bool)]) -> Expr {
        let clauses: Vec<&str> = order
            .iter()
            .map(|(_, descending, nulls_first)| match (descending, nulls_first) {
                (false, false) => "{} ASC NULLS LAST",
                (false, true) => "{} ASC NULLS FIRST",
                (true, false) => "{} DESC NULLS LAST",
                (true, true) => "{} DESC NULLS FIRST",
            })
            .collect();
        let arguments = order.iter().map(|(expr, _, _)| expr.clone()).collect();
        self.template(
            &format!("row_number() OVER (ORDER BY {})", clauses.join(", ")),
            arguments,
        )
    }
}

/// Translates a SQL LIKE pattern (with `\` escapes) to a case-sensitive SQLite GLOB pattern.
pub fn like_to_glob(pattern: &str) -> String {
    let mut glob = String::with_capacity(pattern.len());
    let mut characters = pattern.chars();
    while let Some(character) = characters.next() {
        match character {
            '\\' => match characters.next() {
                Some(literal) => push_glob_literal(&mut glob, literal),
                None => glob.push('\\'),
            },
            '%' => glob.push('*'),
            '_' => glob.push('?'),
            literal => push_glob_literal(&mut glob, literal),
        }
    }
    glob
}

fn push_glob_literal(glob: &mut String, character: char) {
    match character {
        '*' | '?' | '[' => {
            glob.push('[');
            glob.push(character);
            glob.push(']');
        }
        other => glob.push(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_become_globs() {
        assert_eq!(like_to_glob("Fix%"), "Fix*");
        assert_eq!(like_to_glob("a_c"), "a?c");
        assert_eq!(like_to_glob(r"100\%*"), "100%[*]");
        assert_eq!(like_to_glob("[x]?"), "[[]x][?]");
    }

    #[test]
    fn templates_number_postgres_placeholders() {
        use sea_orm::sea_query::{PostgresQueryBuilder, Query, SqliteQueryBuilder};
        let postgres = Dialect {
            backend: DbBackend::Postgres,
        };
        let sqlite = Dialect {
            backend: DbBackend::Sqlite,
        };
        let query = |dialect: Dialect| {
            Query::select()
                .expr(dialect.template("strpos({}, {}) > 0", vec![Expr::val("a"), Expr::val("b")]))
                .to_owned()
        };
        assert_eq!(
            query(postgres).build(PostgresQueryBuilder).0,
            "SELECT strpos($1, $2) > 0"
        );
        assert_eq!(query(sqlite).build(SqliteQueryBuilder).0, "SELECT strpos(?, ?) > 0");
    }
}
