//! Types shared by every entity: custom scalars, per-scalar filter inputs, `PageInfo` and
//! `OrderDirection`.

use super::resolve;
use crate::metadata::{ScalarKind, enum_type_name};
use async_graphql::Value;
use async_graphql::dynamic::{Enum, EnumItem, Field, InputObject, InputValue, Object, Scalar, SchemaBuilder, TypeRef};

/// The GraphQL type of a column of `kind`.
pub fn type_name(kind: &ScalarKind) -> String {
    match kind {
        ScalarKind::Int => TypeRef::INT.into(),
        ScalarKind::BigInt => "BigInt".into(),
        ScalarKind::Float => TypeRef::FLOAT.into(),
        ScalarKind::Decimal { .. } => "Decimal".into(),
        ScalarKind::Boolean => TypeRef::BOOLEAN.into(),
        ScalarKind::String => TypeRef::STRING.into(),
        ScalarKind::Uuid => "UUID".into(),
        ScalarKind::Date => "Date".into(),
        ScalarKind::DateTime => "DateTime".into(),
        ScalarKind::Json => "JSON".into(),
        ScalarKind::Enum { name, .. } => enum_type_name(name),
    }
}

/// The filter input for a column of `kind`.
pub fn filter_name(kind: &ScalarKind) -> String {
    format!("{}Filter", type_name(kind))
}

fn is_integer_text(value: &Value) -> bool {
    match value {
        Value::Number(number) => number.is_i64(),
        Value::String(text) => text.parse::<i64>().is_ok(),
        _ => false,
    }
}

fn is_decimal_text(value: &Value) -> bool {
    match value {
        Value::Number(_) => true,
        Value::String(text) => text.parse::<sea_orm::prelude::Decimal>().is_ok(),
        _ => false,
    }
}

/// Registers the custom scalars, `PageInfo`, `OrderDirection` and the filter input of each kind used.
pub fn register(mut builder: SchemaBuilder, kinds: &[ScalarKind]) -> SchemaBuilder {
    builder = builder
        .register(
            Scalar::new("BigInt")
                .description("A 64-bit integer, as a string in JSON so no digit is lost in JavaScript; accepts a string or a number.")
                .validator(is_integer_text),
        )
        .register(
            Scalar::new("Decimal")
                .description("An exact decimal number, as a string (e.g. \"12.50\"); accepts a string or a number.")
                .validator(is_decimal_text),
        )
        .register(Scalar::new("UUID").description("A UUID in its canonical text form.").validator(|value| {
            matches!(value, Value::String(text) if sea_orm::prelude::Uuid::parse_str(text).is_ok())
        }))
        .register(Scalar::new("Date").description("A calendar date, ISO 8601 (YYYY-MM-DD).").validator(|value| {
            matches!(value, Value::String(text) if text.parse::<sea_orm::prelude::ChronoDate>().is_ok())
        }))
        .register(Scalar::new("DateTime").description("A point in time, ISO 8601 with offset (2026-01-01T10:00:00+00:00).").validator(
            |value| matches!(value, Value::String(text) if crate::plan::parse_datetime(text).is_some()),
        ))
        .register(Scalar::new("JSON").description("Any JSON value."))
        .register(
            Object::new("PageInfo")
                .description("Where a page sits in the whole list (Relay cursor connections).")
                .field(Field::new("hasNextPage", TypeRef::named_nn(TypeRef::BOOLEAN), resolve::scalar(ScalarKind::Boolean)))
                .field(Field::new("hasPreviousPage", TypeRef::named_nn(TypeRef::BOOLEAN), resolve::scalar(ScalarKind::Boolean)))
                .field(Field::new("startCursor", TypeRef::named(TypeRef::STRING), resolve::page_cursor(false)))
                .field(Field::new("endCursor", TypeRef::named(TypeRef::STRING), resolve::page_cursor(true))),
        )
        .register(
            Enum::new("OrderDirection")
                .description("Sort direction; ASC puts NULLs last and DESC puts them first unless stated.")
                .items(["ASC", "DESC", "ASC_NULLS_FIRST", "ASC_NULLS_LAST", "DESC_NULLS_FIRST", "DESC_NULLS_LAST"].map(EnumItem::new)),
        );
    let mut seen = std::collections::HashSet::new();
    for kind in kinds {
        let name = filter_name(kind);
        if !seen.insert(name.clone()) {
            continue;
        }
        if let ScalarKind::Enum {
            name: enum_name,
            values,
        } = kind
        {
            builder = builder.register(
                Enum::new(enum_type_name(enum_name))
                    .description(format!("The values of the database enum `{enum_name}`."))
                    .items(
                        values
                            .iter()
                            .map(|label| EnumItem::new(crate::metadata::enum_value_name(label))),
                    ),
            );
        }
        builder = builder.register(scalar_filter(kind, &name));
    }
    builder
}

fn scalar_filter(kind: &ScalarKind, name: &str) -> InputObject {
    let value = type_name(kind);
    let mut input = InputObject::new(name).description(format!(
        "Conditions on a {value} column; all given conditions must hold. Comparisons never match NULL: use isNull."
    ));
    let mut operators = vec![("eq", "equal to"), ("ne", "not equal to")];
    if kind.is_ordered() {
        operators.extend([
            ("gt", "greater than"),
            ("gte", "at least"),
            ("lt", "less than"),
            ("lte", "at most"),
        ]);
    }
    if matches!(kind, ScalarKind::Json) {
        operators.clear();
    }
    for (operator, meaning) in operators {
        input = input.field(InputValue::new(operator, TypeRef::named(&value)).description(meaning));
    }
    if !matches!(kind, ScalarKind::Json | ScalarKind::Boolean) {
        input = input
            .field(InputValue::new("in", TypeRef::named_nn_list(&value)).description("one of these values"))
            .field(InputValue::new("notIn", TypeRef::named_nn_list(&value)).description("none of these values"));
    }
    if matches!(kind, ScalarKind::String) {
        input = input
            .field(
                InputValue::new("like", TypeRef::named(TypeRef::STRING))
                    .description("SQL LIKE pattern (% and _), case-sensitive"),
            )
            .field(
                InputValue::new("ilike", TypeRef::named(TypeRef::STRING))
                    .description("SQL LIKE pattern, ignoring case"),
            )
            .field(InputValue::new("startsWith", TypeRef::named(TypeRef::STRING)).description("starts with this text"))
            .field(InputValue::new("contains", TypeRef::named(TypeRef::STRING)).description("contains this text"));
    }
    input.field(
        InputValue::new("isNull", TypeRef::named(TypeRef::BOOLEAN))
            .description("true: only NULL; false: only non-NULL"),
    )
}
