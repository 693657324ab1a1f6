//! Types shared by every entity: custom scalars, per-scalar filter inputs, `PageInfo` and
//! `OrderDirection`.

use super::resolve;
use crate::metadata::{ScalarKind, enum_type_name};
use crate::plan::PageInfoField;
use crate::plan::group::TimeBucket;
use crate::plan::vocabulary::{Direction, OperandType, Operator, SEARCHABLE_FILTER, TextOrder};
use async_graphql::Value;
use async_graphql::dynamic::{Enum, EnumItem, Field, InputObject, InputValue, Object, Scalar, SchemaBuilder, TypeRef};
use strum::IntoEnumIterator;

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
        ScalarKind::Bytes => "Base64".into(),
        ScalarKind::Enum { name, .. } => enum_type_name(name),
        ScalarKind::Array { element, .. } => format!("{}List", type_name(element)),
        ScalarKind::Textual { .. } => TypeRef::STRING.into(),
    }
}

/// The GraphQL type of a column of `kind`: an array is a list (its elements nullable in answers,
/// as PostgreSQL allows; never null in inputs).
pub fn type_ref(kind: &ScalarKind, nullable: bool, input: bool) -> TypeRef {
    let inner = match kind {
        ScalarKind::Array { element, .. } if input => TypeRef::named_nn_list(type_name(element)),
        ScalarKind::Array { element, .. } => TypeRef::named_list(type_name(element)),
        other => TypeRef::named(type_name(other)),
    };
    if nullable {
        inner
    } else {
        TypeRef::NonNull(Box::new(inner))
    }
}

/// The filter input for a column of `kind`.
pub fn filter_name(kind: &ScalarKind) -> String {
    match kind {
        // Strings, but with their type's own operators: `TimeFilter`, `InetFilter`, `TsvectorFilter`.
        ScalarKind::Textual { sql_type, .. } => format!("{}Filter", cruet::to_pascal_case(sql_type)),
        other => format!("{}Filter", type_name(other)),
    }
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

/// The sort direction of text columns (`OrderDirection` and `ASC_CI`, `DESC_CI`).
pub const TEXT_ORDER_ENUM: &str = "TextOrderDirection";
/// The sort direction of searchable text columns (and `RELEVANCE`).
pub const SEARCH_ORDER_ENUM: &str = "SearchOrderDirection";

/// The ordering by the value at a JSON path: `{path, direction}`.
pub const JSON_PATH_ORDER: &str = "JSONPathOrder";

/// The enum of a non-temporal group key: `VALUE`.
pub const GROUP_VALUE_ENUM: &str = "GroupValue";
/// The enum of a date or timestamp group key: `VALUE` or a calendar unit.
pub const TIME_BUCKET_ENUM: &str = "TimeBucket";

/// Registers the custom scalars, `PageInfo`, `OrderDirection` and the filter input of each kind used.
pub fn register(mut builder: SchemaBuilder, kinds: &[ScalarKind], searchable: bool) -> SchemaBuilder {
    if searchable {
        builder = builder
            .register(scalar_filter(&ScalarKind::String, SEARCHABLE_FILTER, true))
            .register(
                Enum::new(SEARCH_ORDER_ENUM)
                    .description("Sort direction of a searchable text column: RELEVANCE puts the best matches of its `search` filter first.")
                    .items(Direction::iter().map(|direction| EnumItem::new(direction.name())))
                    .items(TextOrder::iter().map(|order| EnumItem::new(<&str>::from(order)))),
            );
    }
    // A custom scalar only where a column (or an aggregate of one) has its kind: `gateway
    // schema` prints no type the API does not use.
    let used = |name: &str| {
        kinds.iter().any(|kind| match kind {
            ScalarKind::Array { element, .. } => type_name(element) == name,
            other => type_name(other) == name,
        })
    };
    let scalars = [
        Scalar::new("BigInt")
            .description("A 64-bit integer, as a string in JSON so no digit is lost in JavaScript; accepts a string or a number.")
            .validator(is_integer_text),
        Scalar::new("Decimal")
            .description("An exact decimal number, as a string (e.g. \"12.50\"); accepts a string or a number.")
            .validator(is_decimal_text),
        Scalar::new("UUID").description("A UUID in its canonical text form.").specified_by_url("https://www.rfc-editor.org/rfc/rfc9562").validator(|value| {
            matches!(value, Value::String(text) if sea_orm::prelude::Uuid::parse_str(text).is_ok())
        }),
        Scalar::new("Date").description("A calendar date, ISO 8601 (YYYY-MM-DD).").specified_by_url("https://www.rfc-editor.org/rfc/rfc3339#section-5.6").validator(|value| {
            matches!(value, Value::String(text) if text.parse::<sea_orm::prelude::ChronoDate>().is_ok())
        }),
        Scalar::new("DateTime").description("A point in time, ISO 8601 with offset (2026-01-01T10:00:00+00:00).").specified_by_url("https://scalars.graphql.org/andimarek/date-time").validator(
            |value| matches!(value, Value::String(text) if crate::plan::parse_datetime(text).is_some()),
        ),
        Scalar::new("JSON").description("Any JSON value.").specified_by_url("https://www.rfc-editor.org/rfc/rfc8259"),
        Scalar::new("Base64").description("Binary data in standard base64 with padding (RFC 4648 section 4).").specified_by_url("https://www.rfc-editor.org/rfc/rfc4648#section-4").validator(
            |value| matches!(value, Value::String(text) if crate::plan::decode_base64(text).is_some()),
        ),
    ];
    for scalar in scalars {
        if used(scalar.type_name()) {
            builder = builder.register(scalar);
        }
    }
    builder = builder
        .register(
            PageInfoField::iter().fold(
                Object::new(crate::plan::vocabulary::PAGE_INFO)
                    .description("Where a page sits in the whole list (Relay cursor connections)."),
                |object, field| object.field(page_info_field(field)),
            ),
        )
        .register(
            Enum::new(GROUP_VALUE_ENUM)
                .description("Groups rows by the column's exact value.")
                .item(EnumItem::new(crate::plan::group::GROUP_VALUE)),
        )
        .register(
            Enum::new(TIME_BUCKET_ENUM)
                .description(
                    "Groups rows by the column's exact value, or by the calendar unit it falls in (weeks start on \
                     Monday; timestamps are cut in `groupBy(timeZone:)`, UTC by default).",
                )
                .item(EnumItem::new(crate::plan::group::GROUP_VALUE))
                .items(TimeBucket::iter().map(|bucket| EnumItem::new(<&str>::from(bucket)))),
        )
        .register(
            Enum::new("OrderDirection")
                .description("Sort direction; ASC puts NULLs last and DESC puts them first unless stated.")
                .items(Direction::iter().map(|direction| EnumItem::new(direction.name()))),
        )
        .register(
            Enum::new(TEXT_ORDER_ENUM)
                .description("Sort direction of a text column; the _CI directions ignore case.")
                .items(Direction::iter().map(|direction| EnumItem::new(direction.name())))
                .items(
                    TextOrder::iter()
                        .filter(|order| *order != TextOrder::Relevance)
                        .map(|order| EnumItem::new(<&str>::from(order))),
                ),
        );
    let mut seen = std::collections::HashSet::new();
    for kind in kinds {
        let name = filter_name(kind);
        if !seen.insert(name.clone()) {
            continue;
        }
        let element = match kind {
            ScalarKind::Array { element, .. } => element.as_ref(),
            other => other,
        };
        if let ScalarKind::Enum {
            name: enum_name,
            values,
        } = element
            && seen.insert(enum_type_name(enum_name))
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
        if matches!(kind, ScalarKind::Json) {
            builder = builder.register(
                InputObject::new(JSON_PATH_ORDER)
                    .description("Sort by the value at a path in a JSON column (jsonb's order; PostgreSQL only).")
                    .field(
                        InputValue::new("path", TypeRef::named_nn(TypeRef::STRING))
                            .description("Keys separated by dots, digits index arrays: `size.width`, `labels.0`."),
                    )
                    .field(
                        InputValue::new("direction", TypeRef::named("OrderDirection"))
                            .description("ASC when not given."),
                    ),
            );
        }
        builder = builder.register(scalar_filter(kind, &name, false));
    }
    builder
}

fn page_info_field(field: PageInfoField) -> Field {
    let name = field.name();
    match field {
        PageInfoField::HasNextPage | PageInfoField::HasPreviousPage => Field::new(
            name,
            TypeRef::named_nn(TypeRef::BOOLEAN),
            resolve::scalar(ScalarKind::Boolean),
        ),
        PageInfoField::StartCursor => Field::new(
            name,
            TypeRef::named(TypeRef::STRING),
            resolve::scalar(ScalarKind::String),
        ),
        PageInfoField::EndCursor => Field::new(
            name,
            TypeRef::named(TypeRef::STRING),
            resolve::scalar(ScalarKind::String),
        ),
    }
}

/// The filter of JSON columns: containment, keys, and comparisons of the value at a path.
fn json_filter(name: &str) -> InputObject {
    let json = || TypeRef::named("JSON");
    let mut input = InputObject::new(name)
        .description("Conditions on a JSON column; all given conditions must hold. Comparisons never match NULL: use isNull.")
        .field(InputValue::new("isNull", TypeRef::named(TypeRef::BOOLEAN)).description("true: only NULL; false: only non-NULL"))
        .field(InputValue::new("contains", json()).description("contains this JSON (objects: these keys with contained values; arrays: these elements)"))
        .field(InputValue::new("containedIn", json()).description("is contained in this JSON (PostgreSQL only)"))
        .field(InputValue::new("hasKey", TypeRef::named(TypeRef::STRING)).description("an object with this key"))
        .field(InputValue::new("hasAnyKeys", TypeRef::named_nn_list(TypeRef::STRING)).description("an object with at least one of these keys"))
        .field(InputValue::new("hasAllKeys", TypeRef::named_nn_list(TypeRef::STRING)).description("an object with every one of these keys"))
        .field(InputValue::new("path", TypeRef::named(TypeRef::STRING)).description(
            "compare the value at this path (keys separated by dots, digits index arrays: `size.width`, `labels.0`) instead of the whole value",
        ));
    for (operator, description) in [
        ("eq", "equal to this number, string or boolean"),
        ("ne", "not equal to (values of another JSON type never match)"),
        ("gt", "greater than (numbers numerically, strings as text)"),
        ("gte", "at least"),
        ("lt", "less than"),
        ("lte", "at most"),
    ] {
        input = input.field(InputValue::new(operator, json()).description(description));
    }
    input
}

fn scalar_filter(kind: &ScalarKind, name: &str, searchable: bool) -> InputObject {
    if matches!(kind, ScalarKind::Json) {
        return json_filter(name);
    }
    let value = type_name(kind);
    let mut input = InputObject::new(name).description(format!(
        "Conditions on a {value} column; all given conditions must hold. Comparisons never match NULL: use isNull."
    ));
    for operator in Operator::iter().filter(|operator| operator.applies_to(kind, searchable)) {
        let operand = match operator.operand(kind) {
            OperandType::Value => type_ref(kind, true, true),
            OperandType::Values => TypeRef::named_nn_list(&value),
            OperandType::Text => TypeRef::named(TypeRef::STRING),
            OperandType::Boolean => TypeRef::named(TypeRef::BOOLEAN),
        };
        let description = match (operator, kind) {
            (Operator::Contains, ScalarKind::Array { .. }) => "has every one of these values",
            _ => operator.description(),
        };
        input = input.field(InputValue::new(operator.name(), operand).description(description));
    }
    input
}
