//! Reports: `groupBy` of an aggregate, planned. Groups are keyed by columns, by columns of rows
//! reached through many-to-one relations (`{project: {organizationId: VALUE}}`) and by dates and
//! timestamps truncated to a calendar unit in a time zone; `having` keeps the groups whose
//! aggregates pass, `orderBy` sorts them by keys or aggregates, `first`/`offset` page them.
//!
//! Every name here comes from the registry and every operand is a typed value; the time zone is
//! checked against the IANA database (`chrono-tz`) and reaches SQL as a bind parameter.

use super::arguments::{argument_value as argument, column_of_enum, parse_count, parse_direction, parse_scalar};
use super::field::Selection;
use super::selection::{aggregate_columns, members, unknown};
use super::vocabulary::{Derived, Operator};
use super::{AggregateFunction, Comparison, Measure, Selected};
use crate::error::GatewayError;
use crate::metadata::{EntityId, Registry, RelationKind, ScalarKind};
use async_graphql::Value as GqlValue;
use sea_orm::Value;

/// The most conditions one `having` may hold (its `and`/`or`/`not` included).
pub const MAX_HAVING_CONDITIONS: usize = 500;

/// One `groupBy` of an aggregate.
#[derive(Debug, Clone)]
pub struct GroupPlan {
    pub keys: Vec<GroupKey>,
    /// The IANA zone that timestamp buckets are cut in; `None`: UTC.
    pub time_zone: Option<String>,
    pub having: Option<Having>,
    /// The requested order; the keys (ascending, NULLs first) always follow, so it is total.
    pub order: Vec<GroupOrder>,
    pub first: Option<u64>,
    pub offset: u64,
    pub outputs: Vec<(String, GroupOutput)>,
}

/// What rows are grouped by: a column of the row or of a row reached through many-to-one
/// relations, its value or the calendar unit it falls in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupKey {
    pub path: Vec<usize>,
    pub column: String,
    pub bucket: Option<TimeBucket>,
}

/// A calendar unit a date or timestamp is truncated to (weeks start on Monday, ISO 8601).
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumIter, strum::EnumString, strum::IntoStaticStr)]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
pub enum TimeBucket {
    Hour,
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

impl TimeBucket {
    /// The unit's name in SQL (`date_trunc`).
    pub fn unit(self) -> &'static str {
        match self {
            Self::Hour => "hour",
            Self::Day => "day",
            Self::Week => "week",
            Self::Month => "month",
            Self::Quarter => "quarter",
            Self::Year => "year",
        }
    }
}

/// The enum value that groups by a column's exact value.
pub const GROUP_VALUE: &str = "VALUE";

/// A condition on a group's aggregates.
#[derive(Debug, Clone)]
pub enum Having {
    And(Vec<Having>),
    Or(Vec<Having>),
    Not(Box<Having>),
    Compare {
        measure: Measure,
        operator: Comparison,
        value: Value,
    },
    In {
        measure: Measure,
        values: Vec<Value>,
        negated: bool,
    },
    IsNull {
        measure: Measure,
        is_null: bool,
    },
}

impl Having {
    /// Every measure the condition compares.
    pub fn measures(&self) -> Vec<&Measure> {
        let mut pending = vec![self];
        let mut found = Vec::new();
        while let Some(having) = pending.pop() {
            match having {
                Self::And(parts) | Self::Or(parts) => pending.extend(parts),
                Self::Not(inner) => pending.push(inner),
                Self::Compare { measure, .. } | Self::In { measure, .. } | Self::IsNull { measure, .. } => {
                    found.push(measure);
                }
            }
        }
        found
    }
}

/// One key of a groups' order.
#[derive(Debug, Clone)]
pub struct GroupOrder {
    pub by: GroupOrderValue,
    pub descending: bool,
    pub nulls_first: bool,
}

#[derive(Debug, Clone)]
pub enum GroupOrderValue {
    /// A group key (index into [`GroupPlan::keys`]).
    Key(usize),
    Measure(Measure),
}

/// A field of a group object.
#[derive(Debug, Clone)]
pub enum GroupOutput {
    Key(Vec<(String, KeyOutput)>),
    Count,
    Function {
        function: AggregateFunction,
        columns: Vec<(String, Selected<String>)>,
    },
    Typename(String),
}

/// A field of a group's `key` object.
#[derive(Debug, Clone)]
pub enum KeyOutput {
    /// A group key (index into [`GroupPlan::keys`]).
    Key(usize),
    /// The keys reached through a many-to-one relation.
    Relation {
        relation: usize,
        fields: Vec<(String, KeyOutput)>,
    },
    Typename(String),
}

/// The entity a key path ends at.
pub fn path_target(registry: &Registry, entity: EntityId, path: &[usize]) -> EntityId {
    path.iter().fold(entity, |current, relation| {
        registry.entity(current).relations[*relation].target
    })
}

/// The kind of a group key's value.
pub fn key_kind(registry: &Registry, entity: EntityId, key: &GroupKey) -> ScalarKind {
    let target = path_target(registry, entity, &key.path);
    registry
        .entity(target)
        .column(&key.column)
        .expect("group keys are parsed from existing columns")
        .kind
        .clone()
}

/// The kind of a measure's value over rows of `entity`.
pub fn measure_kind(registry: &Registry, entity: EntityId, measure: &Measure) -> ScalarKind {
    match measure {
        Measure::Count => ScalarKind::BigInt,
        Measure::Of(function, column) => {
            let kind = &registry
                .entity(entity)
                .column(column)
                .expect("measures are parsed from existing columns")
                .kind;
            function
                .result_kind(kind)
                .expect("measures are parsed from applicable columns")
        }
    }
}

/// Plans `groupBy(columns | by, timeZone, having, orderBy, first, offset)` and its selection.
pub(super) fn plan_group_by<S: Selection>(
    registry: &Registry,
    entity: EntityId,
    occurrences: &[S],
) -> Result<GroupPlan, GatewayError> {
    let meta = registry.entity(entity);
    let args = occurrences[0].arguments()?;
    let mut keys = Vec::new();
    if let GqlValue::List(items) = argument(&args, "columns") {
        for (index, item) in items.iter().enumerate() {
            let column = column_of_enum(meta, item, &format!("groupBy.columns[{index}]"))?;
            keys.push(GroupKey {
                path: Vec::new(),
                column,
                bucket: None,
            });
        }
    }
    if let GqlValue::List(items) = argument(&args, "by") {
        for (index, item) in items.iter().enumerate() {
            keys.push(parse_key(
                registry,
                entity,
                item,
                &format!("groupBy.by[{index}]"),
                Vec::new(),
            )?);
        }
    }
    if keys.is_empty() {
        return Err(GatewayError::bad_input(
            "groupBy needs `columns` or `by`: at least one key",
        ));
    }
    for (index, key) in keys.iter().enumerate() {
        if keys[..index]
            .iter()
            .any(|earlier| earlier.path == key.path && earlier.column == key.column)
        {
            return Err(GatewayError::bad_input(format!(
                "groupBy: `{}` is a key twice; group by one value or one bucket of a column",
                registry
                    .entity(path_target(registry, entity, &key.path))
                    .column(&key.column)
                    .map_or(key.column.as_str(), |column| column.field.as_str())
            )));
        }
    }
    let time_zone = match argument(&args, "timeZone") {
        GqlValue::Null => None,
        GqlValue::String(name) => Some(parse_time_zone(name)?),
        other => {
            return Err(GatewayError::bad_input(format!(
                "groupBy.timeZone: expected a string, got {other}"
            )));
        }
    };
    let having = parse_having(registry, entity, argument(&args, "having"), "groupBy.having")?;
    let conditions = having.as_ref().map_or(0, |having| having.measures().len());
    if conditions > MAX_HAVING_CONDITIONS {
        return Err(GatewayError::bad_input(format!(
            "groupBy.having: at most {MAX_HAVING_CONDITIONS} conditions, got {conditions}"
        )));
    }
    let order = match argument(&args, "orderBy") {
        GqlValue::Null => Vec::new(),
        GqlValue::List(items) => items
            .iter()
            .enumerate()
            .map(|(index, item)| parse_group_order(registry, entity, &keys, item, &format!("groupBy.orderBy[{index}]")))
            .collect::<Result<_, _>>()?,
        single => vec![parse_group_order(
            registry,
            entity,
            &keys,
            single,
            "groupBy.orderBy[0]",
        )?],
    };
    let first = parse_count(argument(&args, "first"), "groupBy.first")?;
    let offset = parse_count(argument(&args, "offset"), "groupBy.offset")?.unwrap_or(0);
    let type_name = &meta.type_name;
    let mut outputs = Vec::new();
    for (key, fields) in members(occurrences)? {
        let name = fields[0].name();
        let output = if name == "__typename" {
            GroupOutput::Typename(Derived::Group.name(type_name))
        } else if name == "key" {
            GroupOutput::Key(plan_key_output(registry, entity, &keys, &fields, &[])?)
        } else if name == "count" {
            GroupOutput::Count
        } else if let Some(function) = AggregateFunction::from_field(name) {
            GroupOutput::Function {
                function,
                columns: aggregate_columns(registry, entity, &fields, &Derived::Function(function).name(type_name))?,
            }
        } else {
            return Err(unknown(name, "group"));
        };
        outputs.push((key, output));
    }
    Ok(GroupPlan {
        keys,
        time_zone,
        having,
        order,
        first,
        offset,
        outputs,
    })
}

/// An IANA time zone name, in its canonical spelling.
fn parse_time_zone(name: &str) -> Result<String, GatewayError> {
    name.parse::<chrono_tz::Tz>()
        .map(|zone| zone.name().to_owned())
        .map_err(|_| {
            GatewayError::bad_input(format!(
                "groupBy.timeZone: `{}` is not an IANA time zone name (such as `Europe/Paris` or `UTC`)",
                name.chars().take(64).collect::<String>()
            ))
        })
}

/// The one set field of an input object.
fn single<'v>(value: &'v GqlValue, path: &str) -> Result<(&'v str, &'v GqlValue), GatewayError> {
    let GqlValue::Object(map) = value else {
        return Err(GatewayError::bad_input(format!(
            "{path}: expected an object, got {value}"
        )));
    };
    let mut entries = map.iter().filter(|(_, value)| !matches!(value, GqlValue::Null));
    match (entries.next(), entries.next()) {
        (Some((key, value)), None) => Ok((key.as_str(), value)),
        _ => Err(GatewayError::bad_input(format!("{path}: set exactly one field"))),
    }
}

fn enum_name(value: &GqlValue) -> Option<&str> {
    match value {
        GqlValue::Enum(name) => Some(name.as_str()),
        GqlValue::String(name) => Some(name.as_str()),
        _ => None,
    }
}

/// `{status: VALUE}`, `{dueOn: MONTH}`, `{project: {organizationId: VALUE}}`.
fn parse_key(
    registry: &Registry,
    entity: EntityId,
    value: &GqlValue,
    path: &str,
    mut relations: Vec<usize>,
) -> Result<GroupKey, GatewayError> {
    let (field, inner) = single(value, path)?;
    let meta = registry.entity(entity);
    let here = format!("{path}.{field}");
    if let Some(column) = meta.column_by_field(field) {
        if column.kind.is_structured() {
            return Err(GatewayError::bad_input(format!(
                "{here}: {} values cannot be group keys",
                column.field
            )));
        }
        let name = enum_name(inner)
            .ok_or_else(|| GatewayError::bad_input(format!("{here}: expected VALUE or a time unit")))?;
        let bucket = if name == GROUP_VALUE {
            None
        } else {
            let bucket: TimeBucket = name
                .parse()
                .map_err(|_| GatewayError::bad_input(format!("{here}: unknown time unit `{name}`")))?;
            if !matches!(column.kind, ScalarKind::Date | ScalarKind::DateTime) {
                return Err(GatewayError::bad_input(format!(
                    "{here}: only dates and timestamps fall into time units; group `{field}` by VALUE"
                )));
            }
            Some(bucket)
        };
        return Ok(GroupKey {
            path: relations,
            column: column.name.clone(),
            bucket,
        });
    }
    match meta.relations.iter().position(|relation| relation.field == field) {
        Some(index) if meta.relations[index].kind == RelationKind::ManyToOne => {
            relations.push(index);
            parse_key(registry, meta.relations[index].target, inner, &here, relations)
        }
        _ => Err(GatewayError::bad_input(format!(
            "{here}: cannot group {} by `{field}`",
            meta.type_name
        ))),
    }
}

/// The `key` selection: each field a key of the groupBy, or a relation leading to keys.
fn plan_key_output<S: Selection>(
    registry: &Registry,
    entity: EntityId,
    keys: &[GroupKey],
    occurrences: &[S],
    path: &[usize],
) -> Result<Vec<(String, KeyOutput)>, GatewayError> {
    let here = path_target(registry, entity, path);
    let meta = registry.entity(here);
    members(occurrences)?
        .into_iter()
        .map(|(key, fields)| {
            let name = fields[0].name();
            if name == "__typename" {
                return Ok((key, KeyOutput::Typename(Derived::GroupKey.name(&meta.type_name))));
            }
            if let Some(column) = meta.column_by_field(name) {
                let index = keys
                    .iter()
                    .position(|key| key.path == path && key.column == column.name)
                    .ok_or_else(|| {
                        GatewayError::bad_input(format!("groupBy: `key` selects `{name}`, which is not grouped by"))
                    })?;
                return Ok((key, KeyOutput::Key(index)));
            }
            match meta.relations.iter().position(|relation| relation.field == name) {
                Some(index) if meta.relations[index].kind == RelationKind::ManyToOne => {
                    let mut deeper = path.to_vec();
                    deeper.push(index);
                    let fields = plan_key_output(registry, entity, keys, &fields, &deeper)?;
                    Ok((
                        key,
                        KeyOutput::Relation {
                            relation: index,
                            fields,
                        },
                    ))
                }
                _ => Err(unknown(name, "group key")),
            }
        })
        .collect()
}

/// `count`, or `{function: {column: …}}`: which measure an input names, with its inner value.
fn parse_measure<'v>(
    registry: &Registry,
    entity: EntityId,
    name: &str,
    value: &'v GqlValue,
    path: &str,
) -> Result<Option<(Measure, &'v GqlValue, String)>, GatewayError> {
    if name == "count" {
        return Ok(Some((Measure::Count, value, path.to_owned())));
    }
    let Some(function) = AggregateFunction::from_field(name) else {
        return Ok(None);
    };
    let (field, inner) = single(value, path)?;
    let meta = registry.entity(entity);
    let here = format!("{path}.{field}");
    let column = meta
        .column_by_field(field)
        .filter(|column| function.result_kind(&column.kind).is_some())
        .ok_or_else(|| {
            GatewayError::bad_input(format!(
                "{here}: {name} of `{field}` is not an aggregate of {}",
                meta.type_name
            ))
        })?;
    Ok(Some((Measure::Of(function, column.name.clone()), inner, here)))
}

/// `{count: {gt: 5}, avg: {priority: {gte: 2}}, or: […]}`: every given condition must hold.
fn parse_having(
    registry: &Registry,
    entity: EntityId,
    value: &GqlValue,
    path: &str,
) -> Result<Option<Having>, GatewayError> {
    let GqlValue::Object(map) = value else {
        return match value {
            GqlValue::Null => Ok(None),
            other => Err(GatewayError::bad_input(format!(
                "{path}: expected an object, got {other}"
            ))),
        };
    };
    let mut parts = Vec::new();
    for (name, inner) in map.iter().filter(|(_, value)| !matches!(value, GqlValue::Null)) {
        let name = name.as_str();
        let here = format!("{path}.{name}");
        match name {
            "and" | "or" => {
                let items = match inner {
                    GqlValue::List(items) => items.iter().collect(),
                    single => vec![single],
                };
                let children = items
                    .into_iter()
                    .enumerate()
                    .map(|(index, item)| {
                        Ok(parse_having(registry, entity, item, &format!("{here}[{index}]"))?
                            .unwrap_or(Having::And(Vec::new())))
                    })
                    .collect::<Result<Vec<_>, GatewayError>>()?;
                parts.push(if name == "and" {
                    Having::And(children)
                } else {
                    Having::Or(children)
                });
            }
            "not" => {
                if let Some(inner) = parse_having(registry, entity, inner, &here)? {
                    parts.push(Having::Not(Box::new(inner)));
                }
            }
            _ => {
                let (measure, comparisons, here) = parse_measure(registry, entity, name, inner, &here)?
                    .ok_or_else(|| GatewayError::bad_input(format!("{here}: `{name}` is not an aggregate")))?;
                let kind = measure_kind(registry, entity, &measure);
                parse_comparisons(measure, &kind, comparisons, &here, &mut parts)?;
            }
        }
    }
    Ok(match parts.len() {
        0 => None,
        1 => parts.pop(),
        _ => Some(Having::And(parts)),
    })
}

/// `{gt: 5, lte: 10}` on one measure.
fn parse_comparisons(
    measure: Measure,
    kind: &ScalarKind,
    value: &GqlValue,
    path: &str,
    parts: &mut Vec<Having>,
) -> Result<(), GatewayError> {
    let GqlValue::Object(map) = value else {
        return Err(GatewayError::bad_input(format!(
            "{path}: expected comparisons, got {value}"
        )));
    };
    for (operator, operand) in map.iter().filter(|(_, value)| !matches!(value, GqlValue::Null)) {
        let here = format!("{path}.{operator}");
        let comparison = operator
            .as_str()
            .parse::<Operator>()
            .ok()
            .and_then(Operator::scalar_comparison);
        parts.push(match (comparison, operator.as_str()) {
            (Some(operator), _) => Having::Compare {
                measure: measure.clone(),
                operator,
                value: parse_scalar(kind, operand, &here)?,
            },
            (None, "in" | "notIn") => {
                let GqlValue::List(items) = operand else {
                    return Err(GatewayError::bad_input(format!("{here}: expected a list")));
                };
                if items.len() > super::MAX_IN_VALUES {
                    return Err(GatewayError::bad_input(format!(
                        "{here}: at most {} values",
                        super::MAX_IN_VALUES
                    )));
                }
                Having::In {
                    measure: measure.clone(),
                    values: items
                        .iter()
                        .enumerate()
                        .map(|(index, item)| parse_scalar(kind, item, &format!("{here}[{index}]")))
                        .collect::<Result<_, _>>()?,
                    negated: operator.as_str() == "notIn",
                }
            }
            (None, "isNull") => Having::IsNull {
                measure: measure.clone(),
                is_null: matches!(operand, GqlValue::Boolean(true)),
            },
            (None, other) => {
                return Err(GatewayError::bad_input(format!(
                    "{here}: `having` compares aggregates with eq, ne, gt, gte, lt, lte, in, notIn and isNull, not `{other}`"
                )));
            }
        });
    }
    Ok(())
}

/// `{key: {status: DESC}}`, `{count: DESC}`, `{avg: {priority: ASC}}`.
fn parse_group_order(
    registry: &Registry,
    entity: EntityId,
    keys: &[GroupKey],
    value: &GqlValue,
    path: &str,
) -> Result<GroupOrder, GatewayError> {
    let (name, inner) = single(value, path)?;
    let here = format!("{path}.{name}");
    let (by, direction, at) = if name == "key" {
        let (index, direction, at) = parse_key_order(registry, entity, keys, inner, &here, Vec::new())?;
        (GroupOrderValue::Key(index), direction, at)
    } else {
        let (measure, direction, at) = parse_measure(registry, entity, name, inner, &here)?
            .ok_or_else(|| GatewayError::bad_input(format!("{here}: groups are ordered by `key` or an aggregate")))?;
        (GroupOrderValue::Measure(measure), direction, at)
    };
    let direction = parse_direction(direction, &at)?;
    Ok(GroupOrder {
        by,
        descending: direction.descending(),
        nulls_first: direction.nulls_first(),
    })
}

/// `{status: DESC}` or `{project: {organizationId: ASC}}` inside `key`: which key, and the
/// direction's value.
fn parse_key_order<'v>(
    registry: &Registry,
    entity: EntityId,
    keys: &[GroupKey],
    value: &'v GqlValue,
    path: &str,
    mut relations: Vec<usize>,
) -> Result<(usize, &'v GqlValue, String), GatewayError> {
    let (field, inner) = single(value, path)?;
    let meta = registry.entity(path_target(registry, entity, &relations));
    let here = format!("{path}.{field}");
    if let Some(column) = meta.column_by_field(field) {
        let index = keys
            .iter()
            .position(|key| key.path == relations && key.column == column.name)
            .ok_or_else(|| GatewayError::bad_input(format!("{here}: `{field}` is not grouped by")))?;
        return Ok((index, inner, here));
    }
    match meta.relations.iter().position(|relation| relation.field == field) {
        Some(index) if meta.relations[index].kind == RelationKind::ManyToOne => {
            relations.push(index);
            parse_key_order(registry, entity, keys, inner, &here, relations)
        }
        _ => Err(GatewayError::bad_input(format!("{here}: `{field}` is not a group key"))),
    }
}
