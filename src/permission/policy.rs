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
//!
//! The file is read, checked and compiled once at start-up: every filter, check and preset becomes
//! a typed [`Predicate`] whose claim references are [`Operand::Claim`] slots. A request only binds
//! its session's claims into those slots ([`Policy::access`]); nothing is parsed per request.

use super::{Access, EntityAccess, View, WriteAccess};
use crate::auth::Session;
use crate::error::GatewayError;
use crate::metadata::{Entity, EntityId, Registry, ScalarKind};
use crate::plan::RowOp;
use crate::plan::{Operands, Predicate, parse_filter_with, parse_scalar};
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
    select: Option<RuleTemplate>,
    insert: Option<RuleTemplate>,
    update: Option<RuleTemplate>,
    delete: Option<RuleTemplate>,
}

/// A compiled policy's operand: a constant, or a slot the session's claim fills.
#[derive(Debug, Clone)]
pub enum Operand {
    Value(Value),
    /// `"$name"`: the claim `name` (`user_id`: the user id), typed as the column it meets.
    Claim {
        name: String,
        kind: ScalarKind,
    },
}

/// One rule of a table (`select`, `insert`, `update` or `delete`), compiled, with claim slots still
/// to bind for a session.
#[derive(Debug, Clone, Default)]
struct RuleTemplate {
    /// Which existing rows it applies to (`select`, `update`, `delete`).
    filter: Option<Predicate<Operand>>,
    /// What written rows must satisfy (`insert`, `update`).
    check: Option<Predicate<Operand>>,
    /// Columns (database names) it may read or write; `None` is all.
    columns: Option<HashSet<String>>,
    /// Values written whatever the client sends: (column, value or claim).
    presets: Vec<(String, Operand)>,
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

/// Operands of a policy: literals, and `"$name"` for a configured session claim or `$user_id`.
struct PolicyOperands<'a> {
    session_claims: &'a [String],
}

impl Operands for PolicyOperands<'_> {
    type Operand = Operand;

    fn operand(&self, kind: &ScalarKind, value: &GqlValue, path: &str) -> Result<Operand, GatewayError> {
        match value {
            GqlValue::String(text) if text.starts_with('$') => {
                let name = &text[1..];
                if name == "user_id" || self.session_claims.iter().any(|claim| claim == name) {
                    Ok(Operand::Claim {
                        name: name.to_owned(),
                        kind: kind.clone(),
                    })
                } else {
                    Err(GatewayError::bad_input(format!(
                        "{path}: `${name}` is not a session claim (GATEWAY_JWT_SESSION_CLAIMS) nor $user_id"
                    )))
                }
            }
            other => parse_scalar(kind, other, path).map(Operand::Value),
        }
    }
}

/// Fills claim slots: with one session's values, or with placeholders (a template, see
/// [`crate::plan::slot`]).
enum Claims<'a> {
    Session(&'a Session),
    /// The (claim, kind) of each placeholder handed out so far.
    Template(&'a std::cell::RefCell<Vec<(String, ScalarKind)>>),
}

/// The value of claim `name` (`user_id`: the user id) for `session`, for a column of `kind`;
/// FORBIDDEN when the token lacks the claim or its value does not fit the column.
pub fn claim_value(session: &Session, name: &str, kind: &ScalarKind) -> Result<Value, GatewayError> {
    let value = if name == "user_id" {
        session.user_id.clone().map(serde_json::Value::String)
    } else {
        session.claims.get(name).cloned()
    };
    let value = value.and_then(|value| GqlValue::from_json(value).ok()).ok_or_else(|| {
        GatewayError::Forbidden(format!(
            "the token lacks the `{name}` claim this role's permissions need"
        ))
    })?;
    parse_scalar(kind, &value, &format!("claim `{name}`")).map_err(|error| GatewayError::Forbidden(error.to_string()))
}

impl Claims<'_> {
    fn bind(&self, operand: &Operand) -> Result<Value, GatewayError> {
        let (name, kind) = match operand {
            Operand::Value(value) => return Ok(value.clone()),
            Operand::Claim { name, kind } => (name, kind),
        };
        match self {
            Self::Session(session) => claim_value(session, name, kind),
            Self::Template(slots) => {
                let mut slots = slots.borrow_mut();
                let index = match slots.iter().position(|slot| slot.0 == *name && slot.1 == *kind) {
                    Some(index) => index,
                    None => {
                        slots.push((name.clone(), kind.clone()));
                        slots.len() - 1
                    }
                };
                Ok(crate::plan::slot::claim(index))
            }
        }
    }

    fn predicate(&self, template: &Option<Predicate<Operand>>) -> Result<Option<Predicate>, GatewayError> {
        template
            .as_ref()
            .map(|template| template.try_map(&mut |operand| self.bind(operand)))
            .transpose()
    }

    fn write(&self, operation: &Option<RuleTemplate>) -> Result<Option<WriteAccess>, GatewayError> {
        let Some(operation) = operation else { return Ok(None) };
        let presets = operation
            .presets
            .iter()
            .map(|(column, operand)| Ok((column.clone(), self.bind(operand)?)))
            .collect::<Result<Vec<_>, GatewayError>>()?;
        Ok(Some(WriteAccess {
            filter: self.predicate(&operation.filter)?,
            check: self.predicate(&operation.check)?,
            columns: operation.columns.clone(),
            presets,
            unchecked_references: operation.unchecked_references.clone(),
        }))
    }
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
        let operands = PolicyOperands { session_claims };
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
                    let operation = Self::operation(registry, entity, meta, section, &here, &operands)
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
        operands: &PolicyOperands<'_>,
    ) -> Result<RuleTemplate, (String, String)> {
        let mut operation = RuleTemplate {
            aggregates: true,
            ..RuleTemplate::default()
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
                *slot = parse_filter_with(registry, entity, &value, "filter", operands)
                    .map_err(|problem| (format!("{location}.{key}"), problem.to_string()))?;
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
                let operand = operands
                    .operand(&column.kind, &to_graphql(value), &path)
                    .map_err(|problem| (path.clone(), problem.to_string()))?;
                operation.presets.push((column.name.clone(), operand));
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
                (RowOp::Insert, &rules.insert),
                (RowOp::Update, &rules.update),
                (RowOp::Delete, &rules.delete),
            ] {
                if let Some(operation) = operation {
                    writes.insert((*entity, kind), operation.columns.clone());
                    if kind == RowOp::Insert {
                        presets.extend(operation.presets.iter().map(|(column, _)| (*entity, column.clone())));
                    }
                }
            }
        }
        View::restricted(readable, writes, presets, no_aggregates)
    }

    /// What `session` may do: the role's compiled rules with the session's claims bound. A role
    /// the policy does not name may do nothing.
    pub fn access(&self, session: &Session) -> Result<Access, GatewayError> {
        self.bind(&session.role, &Claims::Session(session))
    }

    /// What any session of `role` may do, with a placeholder for each (claim, column kind) the
    /// rules compare with (see [`crate::plan::slot`]): [`claim_value`] gives a session's value
    /// for each, in the order returned.
    pub fn template(&self, role: &str) -> Result<(Access, Vec<(String, ScalarKind)>), GatewayError> {
        let slots = std::cell::RefCell::default();
        let access = self.bind(role, &Claims::Template(&slots))?;
        Ok((access, slots.into_inner()))
    }

    fn bind(&self, role: &str, claims: &Claims<'_>) -> Result<Access, GatewayError> {
        let mut entities = HashMap::new();
        for (entity, rules) in self.roles.get(role).into_iter().flatten() {
            let select = rules.select.as_ref();
            entities.insert(
                *entity,
                EntityAccess {
                    readable: select.is_some(),
                    limit: select.and_then(|operation| operation.limit),
                    aggregates: select.is_some_and(|operation| operation.aggregates),
                    filter: match select {
                        Some(operation) => claims.predicate(&operation.filter)?,
                        None => None,
                    },
                    columns: select.and_then(|operation| operation.columns.clone()),
                    insert: claims.write(&rules.insert)?,
                    update: claims.write(&rules.update)?,
                    delete: claims.write(&rules.delete)?,
                },
            );
        }
        Ok(Access::Restricted {
            role: role.to_owned(),
            entities,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Comparison;
    use std::collections::BTreeMap;

    fn registry() -> Registry {
        crate::entities::registry().expect("the sample registry")
    }

    fn entity(registry: &Registry, table: &str) -> EntityId {
        registry
            .entities()
            .iter()
            .position(|entity| entity.table == table)
            .expect("a sample table")
    }

    fn session(role: &str, claims: &[(&str, serde_json::Value)]) -> Session {
        Session {
            role: role.into(),
            user_id: Some("7".into()),
            claims: claims
                .iter()
                .map(|(name, value)| ((*name).to_owned(), value.clone()))
                .collect::<BTreeMap<_, _>>(),
            expires_at: None,
        }
    }

    fn policy(text: &str) -> Result<Policy, PolicyError> {
        Policy::parse(text, "test.toml", &registry(), &["org_id".to_owned()])
    }

    const ORGANIZATION: &str = r#"
        [roles.member.organizations.select]
        filter = { id = { eq = "$org_id" } }
        [roles.member.comments.insert]
        presets = { authorId = "$user_id" }
    "#;

    #[test]
    fn claims_are_compiled_into_slots_and_bound_per_session() {
        let registry = registry();
        let organizations = entity(&registry, "organizations");
        let comments = entity(&registry, "comments");
        let policy = policy(ORGANIZATION).unwrap();
        let Some(Predicate::Compare {
            value: Operand::Claim { name, .. },
            ..
        }) = &policy.roles["member"][&organizations].select.as_ref().unwrap().filter
        else {
            panic!("the claim is a slot of the compiled filter");
        };
        assert_eq!(name, "org_id");
        for org in [1, 2] {
            let access = policy.access(&session("member", &[("org_id", org.into())])).unwrap();
            let Some(Predicate::Compare {
                operator: Comparison::Eq,
                value: Value::BigInt(Some(bound)),
                ..
            }) = access.row_filter(organizations)
            else {
                panic!("a bound comparison");
            };
            assert_eq!(*bound, org);
            let insert = access.write(&registry, comments, RowOp::Insert).unwrap().unwrap();
            assert_eq!(insert.presets, vec![("author_id".to_owned(), Value::BigInt(Some(7)))]);
        }
    }

    #[test]
    fn a_template_has_one_placeholder_per_claim_and_kind_and_a_session_fills_them() {
        let registry = registry();
        let organizations = entity(&registry, "organizations");
        let policy = policy(ORGANIZATION).unwrap();
        let (template, claims) = policy.template("member").unwrap();
        let Some(Predicate::Compare { value, .. }) = template.row_filter(organizations) else {
            panic!("a comparison with a placeholder");
        };
        let slot = crate::plan::slot::slot_of(value).expect("a placeholder");
        let crate::plan::slot::Slot::Claim(index) = slot else {
            panic!("a claim slot");
        };
        let (name, kind) = &claims[index];
        assert_eq!(name, "org_id");
        assert_eq!(claims.iter().filter(|(claim, _)| claim == "user_id").count(), 1);
        let session = session("member", &[("org_id", 3.into())]);
        assert_eq!(claim_value(&session, name, kind).unwrap(), Value::BigInt(Some(3)));
        assert!(matches!(
            claim_value(&self::session("member", &[]), name, kind),
            Err(GatewayError::Forbidden(_))
        ));
    }

    #[test]
    fn a_missing_or_ill_typed_claim_is_forbidden_and_an_unknown_role_reads_nothing() {
        let policy = policy(ORGANIZATION).unwrap();
        for claims in [vec![], vec![("org_id", serde_json::json!("not a number"))]] {
            let error = policy.access(&session("member", &claims)).unwrap_err();
            assert!(matches!(error, GatewayError::Forbidden(_)), "{error:?}");
            assert!(error.to_string().contains("org_id"), "{error}");
        }
        let access = policy.access(&session("stranger", &[])).unwrap();
        assert!((0..registry().entities().len()).all(|entity| !access.readable(entity)));
    }

    #[test]
    fn unknown_claims_tables_fields_and_operations_are_refused_at_load() {
        for (text, expected) in [
            (
                "[roles.member.organizations.select]\nfilter = { id = { eq = \"$tenant\" } }",
                "`$tenant` is not a session claim",
            ),
            ("[roles.member.nowhere.select]", "no such table"),
            (
                "[roles.member.organizations.select]\nfilter = { colour = { eq = 1 } }",
                "not a field",
            ),
            ("[roles.member.organizations.truncate]", "not an operation"),
            (
                "[roles.member.comments.insert]\nunchecked_references = [\"body\"]",
                "not a foreign-key field",
            ),
        ] {
            let error = policy(text).unwrap_err().to_string();
            assert!(error.contains(expected), "{text}: {error}");
        }
    }
}
