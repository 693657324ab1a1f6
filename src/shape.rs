//! The shaper: JSON built by the database becomes GraphQL values with as little work as possible.
//!
//! The database already returns the response's shape (keys are response keys); what is left is
//! per-scalar presentation: 64-bit integers as strings (JavaScript loses digits above 2^53),
//! enum labels as GraphQL enum names, SQLite's 0/1 booleans and `YYYY-MM-DD HH:MM:SS` timestamps
//! as the API promises, and opaque cursors.

use crate::metadata::{ScalarKind, enum_value_name};
use async_graphql::{Name, Value};
use serde_json::Value as Json;

/// A column (or aggregate) value of `kind` as the API presents it.
pub fn scalar(kind: &ScalarKind, value: &Json) -> Value {
    match (kind, value) {
        (_, Json::Null) => Value::Null,
        (ScalarKind::BigInt | ScalarKind::Decimal { .. }, Json::Number(number)) => Value::String(number.to_string()),
        (ScalarKind::Boolean, Json::Number(number)) => Value::Boolean(number.as_i64() == Some(1)),
        (ScalarKind::DateTime, Json::String(text)) => Value::String(iso8601(text)),
        (ScalarKind::Enum { .. }, Json::String(label)) => Value::Enum(Name::new(enum_value_name(label))),
        (ScalarKind::Json, json) => Value::from_json(json.clone()).unwrap_or(Value::Null),
        (_, json) => Value::from_json(json.clone()).unwrap_or(Value::Null),
    }
}

/// `2026-01-01 10:00:00+00:00` (SQLite's text form) → `2026-01-01T10:00:00+00:00`; a time
/// without offset (SQLite's `CURRENT_TIMESTAMP`, which is UTC) gets `+00:00`.
fn iso8601(text: &str) -> String {
    let mut iso = text.to_owned();
    if iso.len() > 10 && iso.as_bytes()[10] == b' ' {
        iso.replace_range(10..11, "T");
    }
    let time = iso.get(11..).unwrap_or_default();
    if !time.is_empty() && !time.ends_with('Z') && !time.contains('+') && !time.contains('-') {
        iso.push_str("+00:00");
    }
    iso
}

/// A row's cursor, from the `[signature, values…]` array the database built.
pub fn cursor(keys: &Json) -> Value {
    match keys {
        Json::Null => Value::Null,
        keys => Value::String(crate::plan::cursor::encode(keys)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn big_integers_become_exact_strings() {
        assert_eq!(
            scalar(&ScalarKind::BigInt, &json!(9_007_199_254_740_993_i64)),
            Value::String("9007199254740993".into())
        );
    }

    #[test]
    fn sqlite_forms_are_normalised() {
        assert_eq!(scalar(&ScalarKind::Boolean, &json!(1)), Value::Boolean(true));
        assert_eq!(
            scalar(&ScalarKind::DateTime, &json!("2026-01-01 10:00:00+00:00")),
            Value::String("2026-01-01T10:00:00+00:00".into())
        );
        assert_eq!(
            scalar(&ScalarKind::DateTime, &json!("2026-01-01 10:00:00")),
            Value::String("2026-01-01T10:00:00+00:00".into())
        );
        let status = ScalarKind::Enum {
            name: "task_status".into(),
            values: vec!["in_progress".into()],
        };
        assert_eq!(
            scalar(&status, &json!("in_progress")),
            Value::Enum(Name::new("IN_PROGRESS"))
        );
    }
}
