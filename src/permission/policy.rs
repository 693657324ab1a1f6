//! Reading and validating `policy.toml`, and resolving it for a session.
//!
//! ```toml
//! [roles.member.tasks.select]
//! filter = { project = { organizationId = { eq = "$org_id" } } }
//!
//! [roles.member.users.select]
//! filter = { organizationId = { eq = "$org_id" } }
//! columns = ["id", "organizationId", "displayName", "role", "externalId", "createdAt"]
//! ```
//!
//! Tables are named as in the database; columns and filters use the API's field names. A string
//! `"$name"` in a filter is the session's claim `name` (`"$user_id"` is the user id).

use super::{Access, EntityAccess};
use crate::auth::Session;
use crate::metadata::{EntityId, Registry, ScalarKind};
use crate::plan::parse_policy_filter;
use async_graphql::{Name, Value as GqlValue};
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// A loaded, validated policy.
#[derive(Debug, Clone)]
pub struct Policy {
    roles: HashMap<String, HashMap<EntityId, Rule>>,
}

#[derive(Debug, Clone)]
struct Rule {
    filter: Option<GqlValue>,
    columns: Option<HashSet<String>>,
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

/// A value of `kind` used to check a policy filter's shape at start-up.
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

impl Policy {
    /// Loads `path` and checks every role, table, column and claim against `registry`.
    pub fn load(path: &Path, registry: &Registry, session_claims: &[String]) -> Result<Self, PolicyError> {
        let file = path.display().to_string();
        let error = |location: String, reason: String| PolicyError {
            file: file.clone(),
            location,
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|io| error("file".into(), io.to_string()))?;
        let document: toml::Table = toml::from_str(&text).map_err(|parse| error("syntax".into(), parse.to_string()))?;
        let mut roles = HashMap::new();
        let Some(toml::Value::Table(role_tables)) = document.get("roles") else {
            return Err(error(
                "roles".into(),
                "the policy needs a [roles.<role>.<table>.select] section".into(),
            ));
        };
        for (role, tables) in role_tables {
            let toml::Value::Table(tables) = tables else {
                return Err(error(format!("role `{role}`"), "expected a table of tables".into()));
            };
            let mut rules = HashMap::new();
            for (table, rule) in tables {
                let location = format!("role `{role}`, table `{table}`");
                let entity = registry
                    .entities()
                    .iter()
                    .position(|entity| entity.table == *table)
                    .ok_or_else(|| error(location.clone(), "no such table is served".into()))?;
                let meta = registry.entity(entity);
                let Some(select) = rule.get("select") else { continue };
                let filter = select.get("filter").map(to_graphql);
                if let Some(filter) = &filter {
                    let check = |name: &str, kind: &ScalarKind| {
                        if name == "user_id" || session_claims.iter().any(|claim| claim == name) {
                            Ok(sample(kind))
                        } else {
                            Err(format!(
                                "`${name}` is not a session claim (GATEWAY_JWT_SESSION_CLAIMS) nor $user_id"
                            ))
                        }
                    };
                    parse_policy_filter(registry, entity, filter, &check)
                        .map_err(|problem| error(format!("{location}, select.filter"), problem.to_string()))?;
                }
                let columns = match select.get("columns") {
                    None => None,
                    Some(toml::Value::Array(items)) => {
                        let mut columns = HashSet::new();
                        for item in items {
                            let field = item.as_str().unwrap_or_default();
                            let column = meta.column_by_field(field).ok_or_else(|| {
                                error(
                                    format!("{location}, select.columns"),
                                    format!("`{field}` is not a field of {}", meta.type_name),
                                )
                            })?;
                            columns.insert(column.name.clone());
                        }
                        Some(columns)
                    }
                    Some(_) => {
                        return Err(error(
                            format!("{location}, select.columns"),
                            "expected a list of fields".into(),
                        ));
                    }
                };
                rules.insert(entity, Rule { filter, columns });
            }
            roles.insert(role.clone(), rules);
        }
        Ok(Self { roles })
    }

    /// What `session` may read; a role the policy does not name may read nothing.
    pub fn access(&self, registry: &Registry, session: &Session) -> Result<Access, crate::error::GatewayError> {
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
        let mut entities = HashMap::new();
        for (entity, rule) in rules {
            let filter = match &rule.filter {
                Some(template) => parse_policy_filter(registry, entity, template, &claim)
                    .map_err(|error| crate::error::GatewayError::Forbidden(error.to_string()))?,
                None => None,
            };
            entities.insert(
                entity,
                EntityAccess {
                    filter,
                    columns: rule.columns,
                },
            );
        }
        Ok(Access::Restricted {
            role: session.role.clone(),
            entities,
        })
    }
}
