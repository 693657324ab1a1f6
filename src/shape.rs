//! The shaper: JSON built by the database becomes GraphQL values with as little work as possible.
//!
//! The database already returns the response's shape (keys are response keys) and every scalar
//! in the API's form (`sql::Dialect::output`: 64-bit integers as strings, enum names, RFC 3339
//! timestamps, encoded cursors). That JSON is what the streamed path sends as is; here, for
//! operations async-graphql executes, only enums need a GraphQL value of their own kind.

use crate::metadata::ScalarKind;
use async_graphql::{Name, Value};
use serde_json::Value as Json;

/// A column (or aggregate) value of `kind` as async-graphql serializes it.
pub fn scalar(kind: &ScalarKind, value: &Json) -> Value {
    match (kind, value) {
        (_, Json::Null) => Value::Null,
        (ScalarKind::Enum { .. }, Json::String(name)) => Value::Enum(Name::new(name)),
        (ScalarKind::Array { element, .. }, Json::Array(items)) => {
            Value::List(items.iter().map(|item| scalar(element, item)).collect())
        }
        (_, json) => Value::from_json(json.clone()).unwrap_or(Value::Null),
    }
}

/// A value as the database stores it (the change log's keys) in the API's form, as
/// `sql::Dialect::output` would have written it.
pub fn stored(kind: &ScalarKind, value: &Json) -> Json {
    match (kind, value) {
        (ScalarKind::BigInt | ScalarKind::Decimal { .. }, Json::Number(number)) => Json::String(number.to_string()),
        (ScalarKind::Boolean, Json::Number(number)) => Json::Bool(number.as_i64() == Some(1)),
        (ScalarKind::Enum { .. }, Json::String(label)) => Json::String(crate::metadata::enum_value_name(label)),
        (_, json) => json.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_pass_through_and_enums_become_enum_values() {
        assert_eq!(
            scalar(&ScalarKind::BigInt, &json!("9007199254740993")),
            Value::String("9007199254740993".into())
        );
        let status = ScalarKind::Enum {
            name: "task_status".into(),
            values: vec!["in_progress".into()],
        };
        assert_eq!(
            scalar(&status, &json!("IN_PROGRESS")),
            Value::Enum(Name::new("IN_PROGRESS"))
        );
        assert_eq!(scalar(&ScalarKind::Int, &Json::Null), Value::Null);
    }

    #[test]
    fn stored_keys_take_the_api_form() {
        assert_eq!(
            stored(&ScalarKind::BigInt, &json!(9_007_199_254_740_993_i64)),
            json!("9007199254740993")
        );
        assert_eq!(stored(&ScalarKind::Boolean, &json!(1)), json!(true));
        assert_eq!(stored(&ScalarKind::String, &json!("a")), json!("a"));
    }
}
