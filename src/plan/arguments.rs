//! Field arguments (filters, orderings, pages, keys) parsed into typed plan parts.
//!
//! Values arrive as GraphQL values already checked against the schema's input types; here they
//! become typed SQL values for their column (`BigInt` strings to `i64`, enum names to database
//! labels, ...), and anything that still makes no sense is a `BAD_USER_INPUT` error that names
//! the offending argument.

use super::vocabulary::{Combinator, Direction, ListQuantifier, Operator, TextOrder};
use super::{AggregateFunction, Measure, OrderKey, OrderValue, Predicate, Quantifier, RelatedAggregate, TextMatch};
use crate::error::GatewayError;
use crate::metadata::{Entity, EntityId, Registry, RelationKind, ScalarKind};
use async_graphql::{Name, Value as GqlValue};
use chrono::Datelike;
use sea_orm::Value;
use sea_orm::prelude::{ChronoDate, ChronoDateTimeWithTimeZone, Decimal, Uuid};

/// Converts one GraphQL (or cursor) value to a typed SQL value for a column of `kind`.
pub fn parse_scalar(kind: &ScalarKind, value: &GqlValue, path: &str) -> Result<Value, GatewayError> {
    let wrong = |expected: &str| GatewayError::bad_input(format!("{path}: expected {expected}, got {value}"));
    Ok(match (kind, value) {
        (ScalarKind::Int, GqlValue::Number(number)) => Value::BigInt(Some(
            number
                .as_i64()
                .filter(|n| i32::try_from(*n).is_ok())
                .ok_or_else(|| wrong("a 32-bit integer"))?,
        )),
        (ScalarKind::BigInt, GqlValue::Number(number)) => {
            Value::BigInt(Some(number.as_i64().ok_or_else(|| wrong("a 64-bit integer"))?))
        }
        (ScalarKind::BigInt, GqlValue::String(text)) => {
            Value::BigInt(Some(text.parse::<i64>().map_err(|_| wrong("a 64-bit integer"))?))
        }
        (ScalarKind::Float, GqlValue::Number(number)) => {
            Value::Double(Some(number.as_f64().ok_or_else(|| wrong("a number"))?))
        }
        (ScalarKind::Decimal { precision, scale }, GqlValue::String(text)) => {
            let number = text.parse::<Decimal>().map_err(|_| wrong("a decimal number"))?;
            Value::Decimal(Some(
                fitting_decimal(number, *precision, *scale).ok_or_else(|| wrong(&digits(*precision, *scale)))?,
            ))
        }
        (ScalarKind::Decimal { precision, scale }, GqlValue::Number(number)) => {
            let number = number
                .to_string()
                .parse::<Decimal>()
                .map_err(|_| wrong("a decimal number"))?;
            Value::Decimal(Some(
                fitting_decimal(number, *precision, *scale).ok_or_else(|| wrong(&digits(*precision, *scale)))?,
            ))
        }
        (ScalarKind::Boolean, GqlValue::Boolean(flag)) => Value::Bool(Some(*flag)),
        // SQLite stores booleans as 0/1; cursors carry what the database returned.
        (ScalarKind::Boolean, GqlValue::Number(number)) if matches!(number.as_i64(), Some(0 | 1)) => {
            Value::Bool(Some(number.as_i64() == Some(1)))
        }
        (ScalarKind::String | ScalarKind::Textual { .. }, GqlValue::String(text)) => {
            Value::String(Some(text_value(text, path)?))
        }
        (ScalarKind::Uuid, GqlValue::String(text)) => {
            Value::Uuid(Some(Uuid::parse_str(text).map_err(|_| wrong("a UUID"))?))
        }
        (ScalarKind::Date, GqlValue::String(text)) => Value::ChronoDate(Some(
            text.parse::<ChronoDate>()
                .ok()
                .filter(|date| CALENDAR.contains(&date.year()))
                .ok_or_else(|| wrong("a date (YYYY-MM-DD) in the years 1 to 9999"))?,
        )),
        (ScalarKind::DateTime, GqlValue::String(text)) => Value::ChronoDateTimeWithTimeZone(Some(
            parse_datetime(text)
                .filter(|at| CALENDAR.contains(&at.naive_utc().year()) && CALENDAR.contains(&at.year()))
                .ok_or_else(|| wrong("an ISO 8601 timestamp with offset in the years 1 to 9999"))?,
        )),
        (ScalarKind::Json, value) => {
            let json = value.clone().into_json().map_err(|_| wrong("JSON"))?;
            // PostgreSQL's jsonb cannot store a NUL character.
            if json.to_string().contains("\\u0000") {
                return Err(GatewayError::bad_input(format!(
                    "{path}: JSON text may not contain a NUL character"
                )));
            }
            Value::Json(Some(Box::new(json)))
        }
        (ScalarKind::Array { element, .. }, GqlValue::List(items)) => {
            if items.len() > MAX_IN_VALUES {
                return Err(GatewayError::bad_input(format!(
                    "{path}: a list may have at most {MAX_IN_VALUES} values, got {}",
                    items.len()
                )));
            }
            let values = items
                .iter()
                .enumerate()
                .map(|(index, item)| match item {
                    GqlValue::Null => Err(GatewayError::bad_input(format!(
                        "{path}[{index}]: null is not allowed in a list"
                    ))),
                    item => parse_scalar(element, item, &format!("{path}[{index}]")),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Value::Array(array_type(element), Some(Box::new(values)))
        }
        (ScalarKind::Bytes, GqlValue::String(text)) => Value::Bytes(Some(
            decode_base64(text).ok_or_else(|| wrong("base64 (RFC 4648, with padding)"))?,
        )),
        (ScalarKind::Enum { values, .. }, GqlValue::Enum(name)) => {
            enum_label(values, name.as_str()).ok_or_else(|| wrong("an enum value"))?
        }
        (ScalarKind::Enum { values, .. }, GqlValue::String(name)) => {
            enum_label(values, name).ok_or_else(|| wrong("an enum value"))?
        }
        _ => return Err(wrong(expected_name(kind))),
    })
}

/// The array type of lists of `element` values, as [`parse_scalar`] makes them.
fn array_type(element: &ScalarKind) -> sea_orm::sea_query::ArrayType {
    use sea_orm::sea_query::ArrayType;
    match element {
        ScalarKind::Int | ScalarKind::BigInt => ArrayType::BigInt,
        ScalarKind::Float => ArrayType::Double,
        ScalarKind::Decimal { .. } => ArrayType::Decimal,
        ScalarKind::Boolean => ArrayType::Bool,
        ScalarKind::Uuid => ArrayType::Uuid,
        ScalarKind::Date => ArrayType::ChronoDate,
        ScalarKind::DateTime => ArrayType::ChronoDateTimeWithTimeZone,
        ScalarKind::Json => ArrayType::Json,
        ScalarKind::Bytes => ArrayType::Bytes,
        ScalarKind::String | ScalarKind::Enum { .. } | ScalarKind::Array { .. } | ScalarKind::Textual { .. } => {
            ArrayType::String
        }
    }
}

/// Standard base64 with padding, as `Base64` values are written.
pub fn decode_base64(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

/// The years every backend stores and reads back as dates (PostgreSQL allows more, SQLite and
/// RFC 3339 do not).
const CALENDAR: std::ops::RangeInclusive<i32> = 1..=9999;

/// A string value; the NUL character is refused (PostgreSQL's text cannot store it).
pub fn text_value(text: &str, path: &str) -> Result<String, GatewayError> {
    if text.contains('\0') {
        return Err(GatewayError::bad_input(format!(
            "{path}: text may not contain a NUL character"
        )));
    }
    Ok(text.to_owned())
}

/// Refuses a `like`/`ilike` pattern that ends in an unfinished escape (`\` escapes the next
/// character; a last one escapes nothing), which the database would fail on.
fn check_pattern(pattern: &str, path: &str) -> Result<(), GatewayError> {
    let trailing = pattern.bytes().rev().take_while(|byte| *byte == b'\\').count();
    if trailing % 2 == 1 {
        return Err(GatewayError::bad_input(format!(
            "{path}: the pattern ends in an escape character (`\\`) with nothing to escape; write `\\\\` for a backslash"
        )));
    }
    Ok(())
}

/// `number` when it fits a column of `precision` digits, `scale` after the point (rounded to the
/// scale, as the database would).
fn fitting_decimal(number: Decimal, precision: Option<u32>, scale: Option<u32>) -> Option<Decimal> {
    let number = match scale {
        Some(scale) => number.round_dp(scale),
        None => number,
    };
    if let Some(precision) = precision {
        let integer_digits = number.trunc().abs().to_string().trim_start_matches('0').len() as u32;
        if integer_digits > precision.saturating_sub(scale.unwrap_or(0)) {
            return None;
        }
    }
    Some(number)
}

fn digits(precision: Option<u32>, scale: Option<u32>) -> String {
    match (precision, scale) {
        (Some(precision), Some(scale)) => format!(
            "a decimal number with at most {} digits before the point",
            precision.saturating_sub(scale)
        ),
        _ => "a decimal number".into(),
    }
}

fn expected_name(kind: &ScalarKind) -> &'static str {
    match kind {
        ScalarKind::Int => "an integer",
        ScalarKind::BigInt => "a 64-bit integer",
        ScalarKind::Float => "a number",
        ScalarKind::Decimal { .. } => "a decimal number",
        ScalarKind::Boolean => "a boolean",
        ScalarKind::String => "a string",
        ScalarKind::Uuid => "a UUID",
        ScalarKind::Date => "a date",
        ScalarKind::DateTime => "a timestamp",
        ScalarKind::Json => "JSON",
        ScalarKind::Bytes => "base64",
        ScalarKind::Enum { .. } => "an enum value",
        ScalarKind::Array { .. } => "a list",
        ScalarKind::Textual { .. } => "a string",
    }
}

/// A typed SQL NULL for a column of `kind`.
pub fn null_value(kind: &ScalarKind) -> Value {
    match kind {
        ScalarKind::Int | ScalarKind::BigInt => Value::BigInt(None),
        ScalarKind::Float => Value::Double(None),
        ScalarKind::Decimal { .. } => Value::Decimal(None),
        ScalarKind::Boolean => Value::Bool(None),
        ScalarKind::String | ScalarKind::Enum { .. } | ScalarKind::Textual { .. } => Value::String(None),
        ScalarKind::Uuid => Value::Uuid(None),
        ScalarKind::Date => Value::ChronoDate(None),
        ScalarKind::DateTime => Value::ChronoDateTimeWithTimeZone(None),
        ScalarKind::Json => Value::Json(None),
        ScalarKind::Bytes => Value::Bytes(None),
        ScalarKind::Array { element, .. } => Value::Array(array_type(element), None),
    }
}

/// Accepts RFC 3339 and the `YYYY-MM-DD HH:MM:SS+HH:MM` form SQLite stores.
pub fn parse_datetime(text: &str) -> Option<ChronoDateTimeWithTimeZone> {
    ChronoDateTimeWithTimeZone::parse_from_rfc3339(text)
        .or_else(|_| ChronoDateTimeWithTimeZone::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%:z"))
        .ok()
}

/// The database label of a GraphQL enum value (`IN_PROGRESS` → `in_progress`), or of a label.
fn enum_label(labels: &[String], name: &str) -> Option<Value> {
    labels
        .iter()
        .find(|label| label.as_str() == name || crate::metadata::enum_value_name(label) == name)
        .map(|label| Value::String(Some(label.clone())))
}

/// The database label of a GraphQL enum value's name only (`IN_PROGRESS` → `in_progress`).
fn enum_label_of_name(labels: &[String], name: &str) -> Option<Value> {
    labels
        .iter()
        .find(|label| crate::metadata::enum_value_name(label) == name)
        .map(|label| Value::String(Some(label.clone())))
}

/// The column a `…Column`/`…GroupColumn` enum value names (`ESTIMATE_HOURS` → `estimate_hours`).
pub fn column_of_enum(meta: &Entity, value: &GqlValue, path: &str) -> Result<String, GatewayError> {
    let name = match value {
        GqlValue::Enum(name) => name.as_str(),
        GqlValue::String(name) => name.as_str(),
        _ => "",
    };
    meta.columns
        .iter()
        .find(|column| crate::metadata::enum_value_name(&column.name) == name)
        .map(|column| column.name.clone())
        .ok_or_else(|| GatewayError::bad_input(format!("{path}: `{value}` is not a column of {}", meta.type_name)))
}

/// The value of argument `name` (null when absent).
pub fn argument_value<'v>(arguments: &'v [(String, GqlValue)], name: &str) -> &'v GqlValue {
    arguments
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value)
        .unwrap_or(&GqlValue::Null)
}

/// Converts a key argument of the lookup field.
pub fn parse_key_value(entity: &Entity, column: &str, value: &GqlValue) -> Result<Value, GatewayError> {
    let column = entity.column(column).ok_or(GatewayError::Internal)?;
    if let Some(placeholder) = super::slot::placeholder(value) {
        return Ok(placeholder);
    }
    parse_input(&column.kind, value, &column.field)
}

/// [`parse_scalar`] for a request's value, coerced as GraphQL coerces it: an enum is one of its
/// type's names (`IN_PROGRESS`), never the database label (`in_progress`) that policies, cursors
/// and imported files may hold. async-graphql's path refuses a label before the planner sees it;
/// the streamed path hands the planner the variables as sent, so the rule is the planner's.
pub fn parse_input(kind: &ScalarKind, value: &GqlValue, path: &str) -> Result<Value, GatewayError> {
    let name = match value {
        GqlValue::Enum(name) => Some(name.as_str()),
        GqlValue::String(name) => Some(name.as_str()),
        _ => None,
    };
    if let (ScalarKind::Enum { values, .. }, Some(name)) = (kind, name) {
        return enum_label_of_name(values, name)
            .ok_or_else(|| GatewayError::bad_input(format!("{path}: expected an enum value, got `{name}`")));
    }
    parse_scalar(kind, value, path)
}

fn object<'v>(
    value: &'v GqlValue,
    path: &str,
) -> Result<&'v async_graphql::indexmap::IndexMap<Name, GqlValue>, GatewayError> {
    match value {
        GqlValue::Object(map) => Ok(map),
        other => Err(GatewayError::bad_input(format!(
            "{path}: expected an object, got {other}"
        ))),
    }
}

fn list(value: &GqlValue) -> Vec<&GqlValue> {
    match value {
        GqlValue::List(items) => items.iter().collect(),
        GqlValue::Null => Vec::new(),
        single => vec![single],
    }
}

/// How the filter parser turns an operand into what a [`Predicate`] compares with: request filters
/// take literals only ([`Literals`]); a policy also takes claim references (`"$org_id"`).
pub trait Operands {
    type Operand;
    /// The operand `value` for a column of `kind`, at `path` of the filter.
    fn operand(&self, kind: &ScalarKind, value: &GqlValue, path: &str) -> Result<Self::Operand, GatewayError>;
}

/// Operands of a request's filter: typed literals.
pub struct Literals;

impl Operands for Literals {
    type Operand = Value;
    fn operand(&self, kind: &ScalarKind, value: &GqlValue, path: &str) -> Result<Value, GatewayError> {
        // A variable planned as a slot (see `super::slot`).
        if let Some(placeholder) = super::slot::placeholder(value) {
            return Ok(placeholder);
        }
        parse_input(kind, value, path)
    }
}

/// Most values one `in`/`notIn` list may hold: far below PostgreSQL's 65,535 bind parameters per
/// statement, so a long list is a clear `BAD_USER_INPUT` instead of a driver failure.
pub const MAX_IN_VALUES: usize = 5_000;

/// Most conditions one `filter` argument may hold: the database plans (and, with JIT, compiles)
/// every one, so a flat `or` of thousands costs seconds of CPU that no statement timeout stops.
pub const MAX_FILTER_CONDITIONS: usize = 5_000;

/// Parses a `filter` argument; `None` when it constrains nothing.
pub fn parse_filter(
    registry: &Registry,
    entity: EntityId,
    value: &GqlValue,
    path: &str,
) -> Result<Option<Predicate>, GatewayError> {
    let filter = parse_filter_with(registry, entity, value, path, &Literals)?;
    let conditions = filter.as_ref().map_or(0, Predicate::conditions);
    if conditions > MAX_FILTER_CONDITIONS {
        return Err(GatewayError::bad_input(format!(
            "{path}: a filter may have at most {MAX_FILTER_CONDITIONS} conditions (and/or/not included), got {conditions}; \
             compare with an `in` list instead of `or`"
        )));
    }
    Ok(filter)
}

/// Parses a filter whose operands `operands` reads (literals for requests, claim references too
/// for a policy).
pub fn parse_filter_with<O: Operands>(
    registry: &Registry,
    entity: EntityId,
    value: &GqlValue,
    path: &str,
    operands: &O,
) -> Result<Option<Predicate<O::Operand>>, GatewayError> {
    if matches!(value, GqlValue::Null) {
        return Ok(None);
    }
    let meta = registry.entity(entity);
    let mut parts = Vec::new();
    for (key, value) in object(value, path)? {
        let key = key.as_str();
        let here = format!("{path}.{key}");
        if matches!(value, GqlValue::Null) {
            continue;
        }
        match key {
            "and" | "or" => {
                let combinator: Combinator = key.parse().map_err(|_| GatewayError::Internal)?;
                let children = list(value)
                    .into_iter()
                    .enumerate()
                    .map(|(index, child)| {
                        parse_filter_with(registry, entity, child, &format!("{here}[{index}]"), operands)
                    })
                    .collect::<Result<Vec<_>, _>>()?
                    .into_iter()
                    .map(|child| child.unwrap_or(Predicate::And(Vec::new())))
                    .collect();
                parts.push(match combinator {
                    Combinator::And => Predicate::And(children),
                    _ => Predicate::Or(children),
                });
            }
            "not" => {
                if let Some(inner) = parse_filter_with(registry, entity, value, &here, operands)? {
                    parts.push(Predicate::Not(Box::new(inner)));
                }
            }
            _ => {
                if let Some(column) = meta.column_by_field(key)
                    && matches!(column.kind, ScalarKind::Json)
                {
                    let fields = object(value, &here)?;
                    if let Some(is_null) = fields.get("isNull").filter(|value| !matches!(value, GqlValue::Null)) {
                        let GqlValue::Boolean(is_null) = is_null else {
                            return Err(GatewayError::bad_input(format!("{here}.isNull: expected a boolean")));
                        };
                        parts.push(Predicate::IsNull {
                            column: column.name.clone(),
                            is_null: *is_null,
                        });
                    }
                    for test in super::json::parse_filter(fields, &here)? {
                        parts.push(Predicate::Json {
                            column: column.name.clone(),
                            test,
                        });
                    }
                } else if let Some(column) = meta.column_by_field(key) {
                    parse_column_filter(column, value, &here, &mut parts, operands)?;
                } else if let Some(index) = meta.relations.iter().position(|relation| relation.field == key) {
                    let relation = &meta.relations[index];
                    if relation.kind == RelationKind::ManyToOne {
                        if let Some(inner) = parse_filter_with(registry, relation.target, value, &here, operands)? {
                            parts.push(Predicate::Related {
                                relation: index,
                                quantifier: Quantifier::One,
                                predicate: Box::new(inner),
                            });
                        }
                    } else {
                        for (quantifier_name, inner) in object(value, &here)? {
                            let quantifier = quantifier_name
                                .as_str()
                                .parse::<ListQuantifier>()
                                .map_err(|_| {
                                    GatewayError::bad_input(format!("{here}: unknown quantifier `{quantifier_name}`"))
                                })?
                                .quantifier();
                            if matches!(inner, GqlValue::Null) {
                                continue;
                            }
                            let predicate = parse_filter_with(
                                registry,
                                relation.target,
                                inner,
                                &format!("{here}.{quantifier_name}"),
                                operands,
                            )?
                            .unwrap_or(Predicate::And(Vec::new()));
                            parts.push(Predicate::Related {
                                relation: index,
                                quantifier,
                                predicate: Box::new(predicate),
                            });
                        }
                    }
                } else {
                    return Err(GatewayError::bad_input(format!(
                        "{here}: `{key}` is not a field of {}",
                        meta.type_name
                    )));
                }
            }
        }
    }
    Ok(match parts.len() {
        0 => None,
        1 => parts.pop(),
        _ => Some(Predicate::And(parts)),
    })
}

fn parse_column_filter<O: Operands>(
    meta: &crate::metadata::Column,
    value: &GqlValue,
    path: &str,
    parts: &mut Vec<Predicate<O::Operand>>,
    operands: &O,
) -> Result<(), GatewayError> {
    let (column, kind) = (meta.name.as_str(), &meta.kind);
    for (operator, operand) in object(value, path)? {
        let operator = operator.as_str();
        let here = format!("{path}.{operator}");
        if matches!(operand, GqlValue::Null) {
            return Err(GatewayError::bad_input(format!(
                "{here}: null is not a value to compare with; use isNull"
            )));
        }
        let operator: Operator = operator
            .parse()
            .map_err(|_| GatewayError::bad_input(format!("{path}: unknown operator `{operator}`")))?;
        if !operator.applies_to(kind, meta.searchable) {
            return Err(GatewayError::bad_input(format!(
                "{here}: not an operator of `{}`{}",
                meta.field,
                if operator == Operator::Search {
                    " (only columns named in GATEWAY_SEARCH_COLUMNS are searchable)"
                } else {
                    ""
                }
            )));
        }
        if let Some(comparison) = operator.comparison(kind) {
            let value = operands.operand(kind, operand, &here)?;
            parts.push(Predicate::Compare {
                column: column.to_owned(),
                operator: comparison,
                value,
            });
            continue;
        }
        if let Some(text) = operator.text() {
            let GqlValue::String(value) = operand else {
                return Err(GatewayError::bad_input(format!("{here}: expected a string")));
            };
            // Its length, and its cost per root field or write, are bounded where the request's
            // plans are authorized (`super::text_cost`).
            if matches!(text, TextMatch::Like | TextMatch::ILike) {
                check_pattern(value, &here)?;
            }
            parts.push(Predicate::Text {
                column: column.to_owned(),
                operator: text,
                value: text_value(value, &here)?,
            });
            continue;
        }
        match operator {
            Operator::In | Operator::NotIn => {
                let items = list(operand);
                if items.len() > MAX_IN_VALUES {
                    return Err(GatewayError::bad_input(format!(
                        "{here}: at most {MAX_IN_VALUES} values, got {}",
                        items.len()
                    )));
                }
                let values = items
                    .into_iter()
                    .enumerate()
                    .map(|(index, item)| {
                        let here = format!("{here}[{index}]");
                        operands.operand(kind, item, &here)
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                parts.push(Predicate::In {
                    column: column.to_owned(),
                    values,
                    negated: operator == Operator::NotIn,
                });
            }
            Operator::IsNull => {
                let GqlValue::Boolean(is_null) = operand else {
                    return Err(GatewayError::bad_input(format!("{here}: expected a boolean")));
                };
                parts.push(Predicate::IsNull {
                    column: column.to_owned(),
                    is_null: *is_null,
                });
            }
            _ => return Err(GatewayError::Internal),
        }
    }
    Ok(())
}

/// Parses an `orderBy` argument and appends the primary key so the order is total.
pub fn parse_order(registry: &Registry, entity: EntityId, value: &GqlValue) -> Result<Vec<OrderKey>, GatewayError> {
    let mut keys = Vec::new();
    for (index, item) in list(value).into_iter().enumerate() {
        let path = format!("orderBy[{index}]");
        keys.push(parse_order_key(registry, entity, item, &path, Vec::new())?);
    }
    for column in &registry.entity(entity).primary_key {
        let present = keys
            .iter()
            .any(|key| key.path.is_empty() && matches!(&key.value, OrderValue::Column(name) if name == column));
        if !present {
            keys.push(OrderKey::column(column));
        }
    }
    Ok(keys)
}

/// Gives each `RELEVANCE` key the text of the list's `search` filter on its column (one that
/// every row must match: the filter itself or a part of its top-level `and`), or refuses it.
pub fn attach_relevance(
    registry: &Registry,
    entity: EntityId,
    order: &mut [OrderKey],
    filter: Option<&Predicate>,
) -> Result<(), GatewayError> {
    for key in order {
        let OrderValue::Relevance { column, query } = &mut key.value else {
            continue;
        };
        let mut pending: Vec<&Predicate> = filter.into_iter().collect();
        let mut found = None;
        while let Some(predicate) = pending.pop() {
            match predicate {
                Predicate::And(parts) => pending.extend(parts),
                Predicate::Text {
                    column: searched,
                    operator: TextMatch::Search,
                    value,
                } if searched == column => found = Some(value.clone()),
                _ => {}
            }
        }
        *query = found.ok_or_else(|| {
            let field = registry
                .entity(entity)
                .column(column)
                .map_or(column.as_str(), |column| column.field.as_str());
            GatewayError::bad_input(format!(
                "orderBy: RELEVANCE on `{field}` needs a `search` filter on `{field}` (`filter: {{{field}: {{search: \"…\"}}}}`)"
            ))
        })?;
    }
    Ok(())
}

/// The one entry of an ordering object that is set (`{priority: DESC}`), or an error.
fn single_entry<'v>(value: &'v GqlValue, path: &str) -> Result<(&'v str, &'v GqlValue), GatewayError> {
    let map = object(value, path)?;
    let mut entries = map.iter().filter(|(_, value)| !matches!(value, GqlValue::Null));
    match (entries.next(), entries.next()) {
        (Some((key, value)), None) => Ok((key.as_str(), value)),
        _ => Err(GatewayError::bad_input(format!(
            "{path}: give exactly one field per orderBy entry (use a list for several)"
        ))),
    }
}

pub(super) fn parse_direction(value: &GqlValue, path: &str) -> Result<Direction, GatewayError> {
    let direction = match value {
        GqlValue::Enum(name) => name.as_str(),
        GqlValue::String(name) => name.as_str(),
        other => {
            return Err(GatewayError::bad_input(format!(
                "{path}: expected an order direction, got {other}"
            )));
        }
    };
    direction
        .parse()
        .map_err(|_| GatewayError::bad_input(format!("{path}: unknown order direction `{direction}`")))
}

fn parse_order_key(
    registry: &Registry,
    entity: EntityId,
    value: &GqlValue,
    path: &str,
    mut relations: Vec<usize>,
) -> Result<OrderKey, GatewayError> {
    let (key, direction) = single_entry(value, path)?;
    let meta = registry.entity(entity);
    let here = format!("{path}.{key}");
    if let Some(column) = meta.column_by_field(key)
        && column.kind == ScalarKind::Json
    {
        // `{metadata: {path: "points", direction: DESC}}`
        let fields = object(direction, &here)?;
        let path = match fields.get("path") {
            Some(GqlValue::String(path)) => super::json::parse_path(path, &format!("{here}.path"))?,
            _ => return Err(GatewayError::bad_input(format!("{here}.path: a JSON path is required"))),
        };
        let direction = match fields.get("direction") {
            None | Some(GqlValue::Null) => Direction::Asc,
            Some(value) => parse_direction(value, &format!("{here}.direction"))?,
        };
        return Ok(OrderKey {
            path: relations,
            value: OrderValue::JsonPath {
                column: column.name.clone(),
                path,
            },
            descending: direction.descending(),
            nulls_first: direction.nulls_first(),
        });
    }
    if let Some(column) = meta.column_by_field(key) {
        let text_order = match direction {
            GqlValue::Enum(name) => name.as_str().parse::<TextOrder>().ok(),
            GqlValue::String(name) => name.as_str().parse::<TextOrder>().ok(),
            _ => None,
        };
        let (value, descending, nulls_first) = match text_order {
            None => {
                let direction = parse_direction(direction, &here)?;
                let value = OrderValue::Column(column.name.clone());
                (value, direction.descending(), direction.nulls_first())
            }
            Some(_) if column.kind != ScalarKind::String => {
                return Err(GatewayError::bad_input(format!(
                    "{here}: only text columns order ignoring case or by relevance"
                )));
            }
            Some(TextOrder::AscCi) => (OrderValue::Lower(column.name.clone()), false, false),
            Some(TextOrder::DescCi) => (OrderValue::Lower(column.name.clone()), true, true),
            Some(TextOrder::Relevance) if !column.searchable || !relations.is_empty() => {
                return Err(GatewayError::bad_input(format!(
                    "{here}: RELEVANCE orders by the list's own `search` filter on a searchable column"
                )));
            }
            // The query is the list's `search` filter on the column (`attach_relevance`).
            Some(TextOrder::Relevance) => (
                OrderValue::Relevance {
                    column: column.name.clone(),
                    query: String::new(),
                },
                true,
                false,
            ),
        };
        return Ok(OrderKey {
            path: relations,
            value,
            descending,
            nulls_first,
        });
    }
    if let Some(relation) = meta.relation_by_aggregate_field(key) {
        return parse_aggregate_key(registry, entity, relation, direction, &here, relations);
    }
    match meta.relations.iter().position(|relation| relation.field == key) {
        Some(index) if meta.relations[index].kind == RelationKind::ManyToOne => {
            relations.push(index);
            parse_order_key(registry, meta.relations[index].target, direction, &here, relations)
        }
        _ => Err(GatewayError::bad_input(format!(
            "{here}: cannot order {} by `{key}`",
            meta.type_name
        ))),
    }
}

/// `{count: DESC}`, `{max: {dueOn: DESC}}`, either with a `filter` on the related rows.
fn parse_aggregate_key(
    registry: &Registry,
    entity: EntityId,
    relation: usize,
    value: &GqlValue,
    path: &str,
    relations: Vec<usize>,
) -> Result<OrderKey, GatewayError> {
    let target = registry.entity(entity).relations[relation].target;
    let mut fields = object(value, path)?.clone();
    let filter = match fields.shift_remove("filter") {
        Some(filter) => parse_filter(registry, target, &filter, &format!("{path}.filter"))?,
        None => None,
    };
    let rest = GqlValue::Object(fields);
    let (name, inner) = single_entry(&rest, path)?;
    let here = format!("{path}.{name}");
    let (measure, direction) = if name == "count" {
        (Measure::Count, parse_direction(inner, &here)?)
    } else {
        let function = AggregateFunction::from_field(name).ok_or_else(|| {
            GatewayError::bad_input(format!(
                "{here}: not an aggregate (count, sum, avg, min, max, countDistinct)"
            ))
        })?;
        let (field, direction) = single_entry(inner, &here)?;
        let target_meta = registry.entity(target);
        let column = target_meta
            .column_by_field(field)
            .filter(|column| function.result_kind(&column.kind).is_some())
            .ok_or_else(|| {
                GatewayError::bad_input(format!(
                    "{here}.{field}: {} of `{field}` is not an aggregate of {}",
                    function.field(),
                    target_meta.type_name
                ))
            })?;
        (
            Measure::Of(function, column.name.clone()),
            parse_direction(direction, &format!("{here}.{field}"))?,
        )
    };
    Ok(OrderKey {
        path: relations,
        value: OrderValue::Aggregate(Box::new(RelatedAggregate {
            relation,
            filter,
            measure,
        })),
        descending: direction.descending(),
        nulls_first: direction.nulls_first(),
    })
}

/// A non-negative integer argument.
pub fn parse_count(value: &GqlValue, name: &str) -> Result<Option<u64>, GatewayError> {
    match value {
        GqlValue::Null => Ok(None),
        // `Int` is 32 bits (GraphQL's own rule): a larger page or offset is a mistake, not a request.
        GqlValue::Number(number) => number
            .as_u64()
            .filter(|count| *count <= i32::MAX as u64)
            .map(Some)
            .ok_or_else(|| {
                GatewayError::bad_input(format!(
                    "`{name}` must be an integer from 0 to 2147483647, got {number}"
                ))
            }),
        other => Err(GatewayError::bad_input(format!(
            "`{name}` must be an integer, got {other}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Comparison;

    fn registry() -> Registry {
        crate::entities::registry().expect("the sample registry")
    }

    fn tasks(registry: &Registry) -> EntityId {
        registry
            .entities()
            .iter()
            .position(|entity| entity.table == "tasks")
            .unwrap()
    }

    fn value(text: &str) -> GqlValue {
        let json: serde_json::Value = serde_json::from_str(text).unwrap();
        GqlValue::from_json(json).unwrap()
    }

    #[test]
    fn scalars_accept_only_what_their_column_holds() {
        let int = parse_scalar(&ScalarKind::Int, &value("2147483648"), "first");
        assert!(
            int.unwrap_err()
                .to_string()
                .contains("first: expected a 32-bit integer")
        );
        assert_eq!(
            parse_scalar(&ScalarKind::BigInt, &value("\"9007199254740993\""), "id").unwrap(),
            Value::BigInt(Some(9_007_199_254_740_993))
        );
        let decimal = ScalarKind::Decimal {
            precision: Some(6),
            scale: Some(2),
        };
        assert!(parse_scalar(&decimal, &value("\"1234.5\""), "estimate").is_ok());
        assert!(parse_scalar(&decimal, &value("\"12345.5\""), "estimate").is_err());
        assert!(parse_scalar(&ScalarKind::Date, &value("\"0000-01-01\""), "dueOn").is_err());
        assert!(parse_scalar(&ScalarKind::Date, &value("\"9999-12-31\""), "dueOn").is_ok());
        assert!(parse_scalar(&ScalarKind::String, &value("\"a\\u0000b\""), "title").is_err());
        assert!(parse_scalar(&ScalarKind::Uuid, &value("\"not-a-uuid\""), "key").is_err());
    }

    #[test]
    fn filters_become_predicates_and_unknown_names_are_refused_with_their_path() {
        let registry = registry();
        let tasks = tasks(&registry);
        let filter = value(r#"{"priority": {"gte": 2, "lt": 5}, "project": {"isPublic": {"eq": true}}}"#);
        let Some(Predicate::And(parts)) = parse_filter(&registry, tasks, &filter, "filter").unwrap() else {
            panic!("two conditions and a relation are one conjunction");
        };
        assert!(matches!(
            parts[0],
            Predicate::Compare {
                operator: Comparison::Gte,
                ..
            }
        ));
        assert!(matches!(
            parts[1],
            Predicate::Compare {
                operator: Comparison::Lt,
                ..
            }
        ));
        assert!(matches!(
            parts[2],
            Predicate::Related {
                quantifier: Quantifier::One,
                ..
            }
        ));
        assert!(
            parse_filter(&registry, tasks, &value("{}"), "filter")
                .unwrap()
                .is_none()
        );
        for (filter, expected) in [
            (
                r#"{"colour": {"eq": 1}}"#,
                "filter.colour: `colour` is not a field of Task",
            ),
            (
                r#"{"priority": {"near": 1}}"#,
                "filter.priority: unknown operator `near`",
            ),
            (
                r#"{"comments": {"most": {}}}"#,
                "filter.comments: unknown quantifier `most`",
            ),
            (r#"{"priority": {"eq": null}}"#, "use isNull"),
            (r#"{"and": [{"priority": {"eq": "x"}}]}"#, "filter.and[0].priority.eq"),
        ] {
            let error = parse_filter(&registry, tasks, &value(filter), "filter").unwrap_err();
            assert!(error.to_string().contains(expected), "{filter}: {error}");
        }
    }

    #[test]
    fn orderings_end_with_the_primary_key_once() {
        let registry = registry();
        let tasks = tasks(&registry);
        let order = parse_order(
            &registry,
            tasks,
            &value(r#"[{"priority": "DESC"}, {"project": {"name": "ASC"}}]"#),
        )
        .unwrap();
        let columns: Vec<_> = order
            .iter()
            .map(|key| match &key.value {
                OrderValue::Column(column) => (column.as_str(), key.descending),
                other => panic!("a column key, not {other:?}"),
            })
            .collect();
        assert_eq!(columns, [("priority", true), ("name", false), ("id", false)]);
        assert_eq!(order[1].path.len(), 1);
        let by_key = parse_order(&registry, tasks, &value(r#"[{"id": "DESC"}]"#)).unwrap();
        assert_eq!(by_key.len(), 1, "the key is not appended twice");
    }

    #[test]
    fn counts_are_non_negative_integers() {
        assert_eq!(parse_count(&value("3"), "first").unwrap(), Some(3));
        assert_eq!(parse_count(&GqlValue::Null, "first").unwrap(), None);
        assert!(parse_count(&value("-1"), "first").is_err());
    }
}
