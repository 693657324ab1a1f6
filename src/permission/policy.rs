//! Reading and validating `policy.toml`, and resolving it for a session.
//!
//! ```toml
//! [roles.member.tasks.select]
//! filter = { project = { organizationId = { eq = "$org_id" } } }
//!
//! [roles.member.users.select]
//! filter = { organizationId = { eq = "$org_id" } }
//! columns = ["id", "organizationId", "displayName", "role", "externalId", "createdAt"]
//!
//! [roles.member.comments.insert]
//! check = { task = { project = { organizationId = { eq = "$org_id" } } } }
//! presets = { authorId = "$user_id" }
//! ```
//!
//! Tables are named as in the database; columns, filters and presets use the API's field names. A
//! string `"$name"` is the session's claim `name` (`"$user_id"` is the user id). Each operation
//! (`select`, `insert`, `update`, `delete`) the role may perform on a table has a section; without
//! one the operation is refused.

use super::{Access, EntityAccess, View, WriteAccess, WriteKind};
use crate::auth::Session;
use crate::error::GatewayError;
use crate::metadata::{Entity, EntityId, Registry, ScalarKind};
use crate::plan::{ClaimResolver, Predicate, parse_policy_filter, parse_scalar};
use async_graphql::{Name, Value as GqlValue};
use sea_orm::Value;
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// A loaded, validated policy.
#[derive(Debug, Clone)]
pub struct Policy {
    roles: HashMap<String, HashMap<EntityId, Rules>>,
}

/// The operations a role may perform on one table.
#[derive(Debug, Clone, Default)]
struct Rules {
    select: Option<Operation>,
    insert: Option<Operation>,
    update: Option<Operation>,
    delete: Option<Operation>,
}

/// One operation's rule, with claim references still unresolved.
#[derive(Debug, Clone, Default)]
struct Operation {
    /// Which existing rows it applies to (`select`, `update`, `delete`).
    filter: Option<GqlValue>,
    /// What written rows must satisfy (`insert`, `update`).
    check: Option<GqlValue>,
    /// Columns (database names) it may read or write; `None` is all.
    columns: Option<HashSet<String>>,
    /// Values written whatever the client sends: (column, value or "$claim").
    presets: Vec<(String, GqlValue)>,
    /// Foreign-key columns whose references are not checked for visibility (`insert`, `update`).
    unchecked_references: HashSet<String>,
    /// Most rows one list may return (`select`).
    limit: Option<u64>,
    /// Whether aggregates and groups are allowed (`select`; default true).
    aggregates: bool,
}

/// A policy that cannot be served, naming the file, the role and the path.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {location}: {reason}")]
pub struct PolicyError {
    file: String,
    location: String,
    reason: String,
}

fn to_graphql(value: &toml::Value) -> GqlValue {
    match value {
        toml::Value::String(text) => GqlValue::String(text.clone()),
        toml::Value::Integer(number) => GqlValue::from(*number),
        toml::Value::Float(number) => GqlValue::from(*number),
        toml::Value::Boolean(flag) => GqlValue::Boolean(*flag),
        toml::Value::Datetime(datetime) => GqlValue::String(datetime.to_string()),
        toml::Value::Array(items) => GqlValue::List(items.iter().map(to_graphql).collect()),
        toml::Value::Table(table) => GqlValue::Object(
            table
                .iter()
                .map(|(key, value)| (Name::new(key), to_graphql(value)))
                .collect(),
        ),
    }
}

/// A value of `kind` used to check a policy's shape at start-up.
fn sample(kind: &ScalarKind) -> GqlValue {
    match kind {
        ScalarKind::Int | ScalarKind::Float => GqlValue::from(0),
        ScalarKind::BigInt | ScalarKind::Decimal { .. } => GqlValue::String("0".into()),
        ScalarKind::Boolean => GqlValue::Boolean(false),
        ScalarKind::String => GqlValue::String(String::new()),
        ScalarKind::Uuid => GqlValue::String("00000000-0000-0000-0000-000000000000".into()),
        ScalarKind::Date => GqlValue::String("2000-01-01".into()),
        ScalarKind::DateTime => GqlValue::String("2000-01-01T00:00:00+00:00".into()),
        ScalarKind::Json => GqlValue::Null,
        ScalarKind::Enum { values, .. } => GqlValue::String(values.first().cloned().unwrap_or_default()),
    }
}

/// A preset's typed value: a constant, or a claim resolved through `claims`.
fn preset_value(kind: &ScalarKind, value: &GqlValue, path: &str, claims: ClaimResolver<'_>) -> Result<Value, String> {
    let value = match value {
        GqlValue::String(text) if text.starts_with('$') => claims(&text[1..], kind)?,
        other => other.clone(),
    };
    parse_scalar(kind, &value, path).map_err(|error| error.to_string())
}

impl Policy {
    /// Loads `path` and checks every role, table, column, relation and claim against `registry`.
    pub fn load(path: &Path, registry: &Registry, session_claims: &[String]) -> Result<Self, PolicyError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|io| PolicyError {
            file: file.clone(),
            location: "file".into(),
            reason: io.to_string(),
        })?;
        Self::parse(&text, &file, registry, session_claims)
    }

    /// The sample policy shipped in the binary (the repository's `policy.toml`), which the
    /// zero-configuration SQLite default serves.
    pub fn sample(registry: &Registry, session_claims: &[String]) -> Result<Self, PolicyError> {
        Self::parse(
            include_str!("../../policy.toml"),
            "built-in policy.toml",
            registry,
            session_claims,
        )
    }

    /// Parses and checks a policy; `file` names it in errors.
    pub fn parse(text: &str, file: &str, registry: &Registry, session_claims: &[String]) -> Result<Self, PolicyError> {
        let error = |location: String, reason: String| PolicyError {
            file: file.to_owned(),
            location,
            reason,
        };
        let document: toml::Table = toml::from_str(text).map_err(|parse| error("syntax".into(), parse.to_string()))?;
        let Some(toml::Value::Table(role_tables)) = document.get("roles") else {
            return Err(error(
                "roles".into(),
                "the policy needs [roles.<role>.<table>.<operation>] sections".into(),
            ));
        };
        let check_claim = |name: &str, kind: &ScalarKind| {
            if name == "user_id" || session_claims.iter().any(|claim| claim == name) {
                Ok(sample(kind))
            } else {
                Err(format!(
                    "`${name}` is not a session claim (GATEWAY_JWT_SESSION_CLAIMS) nor $user_id"
                ))
            }
        };
        let mut roles = HashMap::new();
        for (role, tables) in role_tables {
            let toml::Value::Table(tables) = tables else {
                return Err(error(
                    format!("role `{role}`"),
                    "expected a table per table name".into(),
                ));
            };
            let mut rules = HashMap::new();
            for (table, operations) in tables {
                let location = format!("role `{role}`, table `{table}`");
                let entity = registry
                    .entities()
                    .iter()
                    .position(|entity| entity.table == *table)
                    .ok_or_else(|| error(location.clone(), "no such table is served".into()))?;
                let meta = registry.entity(entity);
                let toml::Value::Table(operations) = operations else {
                    return Err(error(location, "expected select/insert/update/delete sections".into()));
                };
                let mut table_rules = Rules::default();
                for (name, section) in operations {
                    let here = format!("{location}, {name}");
                    let operation = Self::operation(registry, entity, meta, section, &here, &check_claim)
                        .map_err(|(path, reason)| error(path, reason))?;
                    let slot = match name.as_str() {
                        "select" => &mut table_rules.select,
                        "insert" => &mut table_rules.insert,
                        "update" => &mut table_rules.update,
                        "delete" => &mut table_rules.delete,
                        other => {
                            return Err(error(
                                here,
                                format!("`{other}` is not an operation (select, insert, update, delete)"),
                            ));
                        }
                    };
                    *slot = Some(operation);
                }
                rules.insert(entity, table_rules);
            }
            roles.insert(role.clone(), rules);
        }
        Ok(Self { roles })
    }

    fn operation(
        registry: &Registry,
        entity: EntityId,
        meta: &Entity,
        section: &toml::Value,
        location: &str,
        claims: ClaimResolver<'_>,
    ) -> Result<Operation, (String, String)> {
        let mut operation = Operation {
            aggregates: true,
            ..Operation::default()
        };
        match section.get("limit") {
            None => {}
            Some(toml::Value::Integer(limit)) if *limit > 0 => operation.limit = Some(*limit as u64),
            Some(_) => return Err((format!("{location}.limit"), "expected a positive number of rows".into())),
        }
        match section.get("aggregates") {
            None => {}
            Some(toml::Value::Boolean(allowed)) => operation.aggregates = *allowed,
            Some(_) => return Err((format!("{location}.aggregates"), "expected true or false".into())),
        }
        for (key, slot) in [("filter", &mut operation.filter), ("check", &mut operation.check)] {
            if let Some(value) = section.get(key).map(to_graphql) {
                parse_policy_filter(registry, entity, &value, claims)
                    .map_err(|problem| (format!("{location}.{key}"), problem.to_string()))?;
                *slot = Some(value);
            }
        }
        match section.get("columns") {
            None => {}
            Some(toml::Value::Array(items)) => {
                let mut columns = HashSet::new();
                for item in items {
                    let field = item.as_str().unwrap_or_default();
                    let column = meta.column_by_field(field).ok_or_else(|| {
                        (
                            format!("{location}.columns"),
                            format!("`{field}` is not a field of {}", meta.type_name),
                        )
                    })?;
                    columns.insert(column.name.clone());
                }
                operation.columns = Some(columns);
            }
            Some(_) => return Err((format!("{location}.columns"), "expected a list of fields".into())),
        }
        match section.get("unchecked_references") {
            None => {}
            Some(toml::Value::Array(items)) => {
                for item in items {
                    let field = item.as_str().unwrap_or_default();
                    let column = meta
                        .column_by_field(field)
                        .filter(|column| {
                            meta.relations.iter().any(|relation| {
                                relation.kind == crate::metadata::RelationKind::ManyToOne
                                    && relation.from_columns.contains(&column.name)
                            })
                        })
                        .ok_or_else(|| {
                            (
                                format!("{location}.unchecked_references"),
                                format!("`{field}` is not a foreign-key field of {}", meta.type_name),
                            )
                        })?;
                    operation.unchecked_references.insert(column.name.clone());
                }
            }
            Some(_) => {
                return Err((
                    format!("{location}.unchecked_references"),
                    "expected a list of foreign-key fields".into(),
                ));
            }
        }
        if let Some(presets) = section.get("presets") {
            let toml::Value::Table(presets) = presets else {
                return Err((
                    format!("{location}.presets"),
                    "expected a table of field = value".into(),
                ));
            };
            for (field, value) in presets {
                let path = format!("{location}.presets.{field}");
                let column = meta
                    .column_by_field(field)
                    .ok_or_else(|| (path.clone(), format!("`{field}` is not a field of {}", meta.type_name)))?;
                let value = to_graphql(value);
                preset_value(&column.kind, &value, &path, claims).map_err(|reason| (path.clone(), reason))?;
                operation.presets.push((column.name.clone(), value));
            }
        }
        Ok(operation)
    }

    /// The roles the policy names.
    pub fn roles(&self) -> impl Iterator<Item = &str> {
        self.roles.keys().map(String::as_str)
    }

    /// What the schema shows `role` (a role the policy does not name sees nothing).
    pub fn view(&self, role: &str) -> View {
        let mut readable = HashMap::new();
        let mut writes = HashMap::new();
        let mut presets = HashSet::new();
        let mut no_aggregates = HashSet::new();
        for (entity, rules) in self.roles.get(role).into_iter().flatten() {
            if let Some(select) = &rules.select {
                readable.insert(*entity, select.columns.clone());
                if !select.aggregates {
                    no_aggregates.insert(*entity);
                }
            }
            for (kind, operation) in [
                (WriteKind::Insert, &rules.insert),
                (WriteKind::Update, &rules.update),
                (WriteKind::Delete, &rules.delete),
            ] {
                if let Some(operation) = operation {
                    writes.insert((*entity, kind), operation.columns.clone());
                    if kind == WriteKind::Insert {
                        presets.extend(operation.presets.iter().map(|(column, _)| (*entity, column.clone())));
                    }
                }
            }
        }
        View::restricted(readable, writes, presets, no_aggregates)
    }

    /// What `session` may do; a role the policy does not name may do nothing.
    pub fn access(&self, registry: &Registry, session: &Session) -> Result<Access, GatewayError> {
        let rules = self.roles.get(&session.role).cloned().unwrap_or_default();
        let claim = |name: &str, _: &ScalarKind| -> Result<GqlValue, String> {
            let value = if name == "user_id" {
                session.user_id.clone().map(serde_json::Value::String)
            } else {
                session.claims.get(name).cloned()
            };
            value
                .and_then(|value| GqlValue::from_json(value).ok())
                .ok_or_else(|| format!("the token lacks the `{name}` claim this role's permissions need"))
        };
        let filter = |entity: EntityId, template: &Option<GqlValue>| -> Result<Option<Predicate>, GatewayError> {
            match template {
                Some(template) => parse_policy_filter(registry, entity, template, &claim)
                    .map_err(|error| GatewayError::Forbidden(error.to_string())),
                None => Ok(None),
            }
        };
        let write = |entity: EntityId, operation: &Option<Operation>| -> Result<Option<WriteAccess>, GatewayError> {
            let Some(operation) = operation else { return Ok(None) };
            let meta = registry.entity(entity);
            let presets = operation
                .presets
                .iter()
                .map(|(column, value)| {
                    let kind = &meta.column(column).ok_or(GatewayError::Internal)?.kind;
                    preset_value(kind, value, column, &claim)
                        .map(|value| (column.clone(), value))
                        .map_err(GatewayError::Forbidden)
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Some(WriteAccess {
                filter: filter(entity, &operation.filter)?,
                check: filter(entity, &operation.check)?,
                columns: operation.columns.clone(),
                presets,
                unchecked_references: operation.unchecked_references.clone(),
            }))
        };
        let mut entities = HashMap::new();
        for (entity, rules) in &rules {
            let select = match &rules.select {
                Some(operation) => Some((filter(*entity, &operation.filter)?, operation.columns.clone())),
                None => None,
            };
            let limit = rules.select.as_ref().and_then(|operation| operation.limit);
            let aggregates = rules.select.as_ref().is_some_and(|operation| operation.aggregates);
            entities.insert(
                *entity,
                EntityAccess {
                    readable: select.is_some(),
                    limit,
                    aggregates,
                    filter: select.as_ref().and_then(|(filter, _)| filter.clone()),
                    columns: select.and_then(|(_, columns)| columns),
                    insert: write(*entity, &rules.insert)?,
                    update: write(*entity, &rules.update)?,
                    delete: write(*entity, &rules.delete)?,
                },
            );
        }
        Ok(Access::Restricted {
            role: session.role.clone(),
            entities,
        })
    }
}
