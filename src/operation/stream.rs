//! The streamed path: a prepared document's root fields planned and compiled once per binding
//! (variables and session), then run, their JSON written into the body as the database built it.
//!
//! `{"data":{"k1":…,"k2":…}}` is assembled from the statements' text in document order, with no
//! parse and no serialization. When a field fails, the request is answered by async-graphql's
//! path instead, so errors and partial results are exactly what they always are.

use super::{Binding, OperationCache, Prepared};
use crate::auth::Session;
use crate::error::GatewayError;
use crate::plan::{self, DocumentField, Root, Selection};
use crate::schema::Engine;
use async_graphql::parser::types::{BaseType, Type};
use async_graphql::{Value, Variables};
use sea_orm::{DatabaseConnection, Statement};

/// One root field of a bound operation.
enum Field {
    Typename { key: String },
    Generated { key: String, statement: Statement },
}

/// A prepared document's root fields compiled for one binding.
pub struct Bound {
    fields: Vec<Field>,
    /// The binding it was compiled for (compared on every hit).
    pub(super) binding: String,
}

impl Bound {
    /// Roughly what it holds in memory.
    pub(super) fn bytes(&self) -> usize {
        let fields: usize = self
            .fields
            .iter()
            .map(|field| match field {
                Field::Typename { key } => key.len(),
                Field::Generated { key, statement, .. } => {
                    key.len() + statement.sql.len() + statement.values.as_ref().map_or(0, |values| values.0.len() * 48)
                }
            })
            .sum();
        fields + self.binding.len() + 64
    }
}

/// What a streamed answer needs from the server.
pub struct Context<'a> {
    pub primary: &'a DatabaseConnection,
    pub routing: Option<&'a crate::database::Routing>,
    pub budget: &'a crate::sql::ResponseBudget,
}

impl OperationCache {
    /// Compiles (or finds compiled) the root fields of `prepared` for `variables` and `session`.
    /// `None` when this request should take async-graphql's path instead: a value the planner
    /// refuses is reported there, with async-graphql's own words.
    pub fn bind(
        &self,
        engine: &Engine,
        backend: sea_orm::DbBackend,
        prepared: &Prepared,
        variables: &Variables,
        session: Option<&Session>,
    ) -> Option<std::sync::Arc<Bound>> {
        let binding = Binding::new(self, variables, session);
        if let Some(bound) = self.bound(prepared, &binding) {
            return Some(bound);
        }
        if !variables_fit(prepared, variables) {
            return None;
        }
        let fields = compile(engine, backend, prepared, variables, session).ok()?;
        crate::server::metrics::compilation();
        let bound = std::sync::Arc::new(Bound {
            fields,
            binding: binding.text.clone(),
        });
        self.keep(prepared, &binding, bound.clone());
        Some(bound)
    }
}

/// Plans and compiles every root field the variables keep, in document order.
fn compile(
    engine: &Engine,
    backend: sea_orm::DbBackend,
    prepared: &Prepared,
    variables: &Variables,
    session: Option<&Session>,
) -> Result<Vec<Field>, GatewayError> {
    let registry = &engine.registry;
    let access = engine.access(session)?;
    // The whole operation's text matching, all root fields together.
    let spent = plan::text_cost::TextSpent::default();
    let mut fields = Vec::new();
    for field in DocumentField::roots(&prepared.document, prepared.operation.as_deref(), variables)? {
        if !field.included()? {
            continue;
        }
        let key = field.alias().unwrap_or(field.name()).to_owned();
        if field.name() == "__typename" {
            fields.push(Field::Typename { key });
            continue;
        }
        let (entity, root) = Root::find(registry, field.name()).ok_or(GatewayError::Internal)?;
        let mut plan = plan::plan_root(registry, entity, root, field)?;
        engine.authorize(&access, &mut plan, Some(&spent))?;
        fields.push(Field::Generated {
            key,
            statement: crate::sql::statement(backend, registry, &access, &plan),
        });
    }
    Ok(fields)
}

/// Whether every variable the operation declares non-null without a default has a value, and the
/// built-in scalars have values of their kind: the cases the planner does not see for itself.
fn variables_fit(prepared: &Prepared, variables: &Variables) -> bool {
    let Some(operation) = crate::server::http::selected_operation(&prepared.document, prepared.operation.as_deref())
    else {
        return false;
    };
    operation.variable_definitions.iter().all(|definition| {
        let definition = &definition.node;
        match variables.get(&definition.name.node) {
            Some(value) => fits(&definition.var_type.node, value),
            None => definition.default_value.is_some() || definition.var_type.node.nullable,
        }
    })
}

fn fits(ty: &Type, value: &Value) -> bool {
    match (&ty.base, value) {
        (_, Value::Null) => ty.nullable,
        (BaseType::List(item), Value::List(items)) => items.iter().all(|value| fits(item, value)),
        // A single value where a list is expected is a list of one.
        (BaseType::List(item), value) => fits(item, value),
        (BaseType::Named(name), value) => match (name.as_str(), value) {
            ("Int", Value::Number(number)) => number.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
            ("Float", Value::Number(_)) => true,
            ("String", Value::String(_)) | ("Boolean", Value::Boolean(_)) => true,
            ("ID", Value::String(_)) => true,
            ("ID", Value::Number(number)) => number.is_i64() || number.is_u64(),
            ("Int" | "Float" | "String" | "Boolean" | "ID", _) => false,
            // Input objects, enums and the gateway's scalars: the planner checks them.
            _ => true,
        },
    }
}

/// Runs the bound fields and writes the answer; `None` when a field failed (async-graphql's
/// path then answers the request, with its errors and partial results).
pub async fn run(context: &Context<'_>, bound: &Bound) -> Option<String> {
    let mut texts = Vec::with_capacity(bound.fields.len());
    for field in &bound.fields {
        texts.push(match field {
            Field::Typename { .. } => Some(r#""Query""#.to_owned()),
            Field::Generated { statement, .. } => {
                crate::database::route::read(context.primary, context.routing, statement, Some(context.budget))
                    .await
                    .ok()?
            }
        });
    }
    let length: usize = texts.iter().flatten().map(String::len).sum();
    let mut body = String::with_capacity(length + 16 * bound.fields.len() + 12);
    body.push_str(r#"{"data":{"#);
    for (index, (field, text)) in bound.fields.iter().zip(texts).enumerate() {
        if index > 0 {
            body.push(',');
        }
        let (Field::Typename { key } | Field::Generated { key, .. }) = field;
        body.push_str(&serde_json::to_string(key).unwrap_or_default());
        body.push(':');
        body.push_str(text.as_deref().unwrap_or("null"));
    }
    body.push_str("}}");
    Some(body)
}
