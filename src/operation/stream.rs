//! The streamed path: a prepared document's root fields planned and compiled once per binding
//! (variables and session), then run, their JSON written into the body as the database built it.
//!
//! `{"data":{"k1":…,"k2":…}}` is assembled from the statements' text in document order, with no
//! parse and no serialization. When a field fails, the request is answered by async-graphql's
//! path instead, so errors and partial results are exactly what they always are.

use super::{Binding, OperationCache, Prepared};
use crate::auth::Session;
use crate::error::GatewayError;
use crate::metadata::ScalarKind;
use crate::plan::{self, DocumentField, Root, Selection};
use crate::schema::Engine;
use async_graphql::parser::types::{BaseType, Type};
use async_graphql::{Name, Value, Variables};
use sea_orm::{DatabaseConnection, Statement};
use std::sync::Arc;

/// One root field of a compiled operation.
enum Field {
    Typename {
        key: String,
    },
    Generated {
        key: String,
        statement: Statement,
        /// Where its slots' values go.
        parameters: Vec<Parameter>,
    },
}

/// A bind parameter a slot fills: the statement's value at `position` is slot `slot`'s value
/// for a column of `kind`.
struct Parameter {
    position: usize,
    slot: usize,
    kind: ScalarKind,
}

/// A prepared document's root fields compiled for one binding: every variable but its slots,
/// and the session.
pub struct Compiled {
    fields: Vec<Field>,
    /// The variables its statements have placeholders for (see [`plan::slot`]).
    slots: Vec<Name>,
    /// The binding it was compiled for (compared on every hit).
    pub(super) binding: String,
}

impl Compiled {
    /// Roughly what it holds in memory.
    pub(super) fn bytes(&self) -> usize {
        let fields: usize = self
            .fields
            .iter()
            .map(|field| match field {
                Field::Typename { key } => key.len(),
                Field::Generated {
                    key,
                    statement,
                    parameters,
                } => {
                    key.len()
                        + statement.sql.len()
                        + statement.values.as_ref().map_or(0, |values| values.0.len() * 48)
                        + parameters.len() * 64
                }
            })
            .sum();
        fields + self.binding.len() + 64
    }

    /// The statements with this request's slot values; `None` when one is a value the planner
    /// refuses (planned with it, the request gets the planner's error on async-graphql's path).
    fn bind(self: Arc<Self>, prepared: &Prepared, variables: &Variables) -> Option<Bound> {
        let mut statements = Vec::with_capacity(self.fields.len());
        for field in &self.fields {
            let Field::Generated {
                statement, parameters, ..
            } = field
            else {
                statements.push(None);
                continue;
            };
            if parameters.is_empty() {
                statements.push(None);
                continue;
            }
            let mut statement = statement.clone();
            let values = &mut statement.values.as_mut()?.0;
            for parameter in parameters {
                let name = &self.slots[parameter.slot];
                let value = variable(prepared, variables, name)?;
                *values.get_mut(parameter.position)? = plan::parse_scalar(&parameter.kind, value, name).ok()?;
            }
            statements.push(Some(statement));
        }
        Some(Bound {
            compiled: self,
            statements,
        })
    }
}

/// A compiled operation with one request's values: what [`run`] runs.
pub struct Bound {
    compiled: Arc<Compiled>,
    /// Per field, its statement when slots filled it (else the compiled one runs as it is).
    statements: Vec<Option<Statement>>,
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
    ) -> Option<Bound> {
        if !variables_fit(prepared, variables) {
            return None;
        }
        let compiler = Compiler {
            engine,
            backend,
            prepared,
            variables,
            session,
        };
        let slots = match prepared.slots.get() {
            Some(slots) => slots,
            None => prepared.slots.get_or_init(|| compiler.discover()),
        };
        // Planned once for every value of its slots…
        if !slots.is_empty()
            && slots.iter().all(|slot| variable(prepared, variables, slot).is_some())
            && let Some(compiled) = self.compiled(&compiler, slots)
            && let Some(bound) = compiled.bind(prepared, variables)
        {
            return Some(bound);
        }
        // …or for these very values.
        self.compiled(&compiler, &[])?.bind(prepared, variables)
    }

    /// The operation compiled with `slots`, found or compiled now.
    fn compiled(&self, compiler: &Compiler<'_>, slots: &[Name]) -> Option<Arc<Compiled>> {
        let binding = Binding::new(self, compiler.variables, slots, compiler.session);
        if let Some(compiled) = self.bound(compiler.prepared, &binding) {
            return Some(compiled);
        }
        let fields = compiler.compile(slots).ok()?;
        crate::server::metrics::compilation();
        let compiled = Arc::new(Compiled {
            fields,
            slots: slots.to_vec(),
            binding: binding.text.clone(),
        });
        self.keep(compiler.prepared, &binding, compiled.clone());
        Some(compiled)
    }
}

/// The value of variable `name` in this request (its default when not given); `None` when it is
/// null: a slot holds values, and null means something else to the planner.
fn variable<'v>(prepared: &'v Prepared, variables: &'v Variables, name: &Name) -> Option<&'v Value> {
    let value = match variables.get(name) {
        Some(value) => value,
        None => crate::server::http::selected_operation(&prepared.document, prepared.operation.as_deref())?
            .variable_definitions
            .iter()
            .find(|definition| definition.node.name.node == *name)?
            .node
            .default_value()?,
    };
    (!matches!(value, Value::Null)).then_some(value)
}

/// Plans and compiles one prepared document for one request.
struct Compiler<'a> {
    engine: &'a Engine,
    backend: sea_orm::DbBackend,
    prepared: &'a Prepared,
    variables: &'a Variables,
    session: Option<&'a Session>,
}

impl Compiler<'_> {
    /// The variables to plan as slots, decided by the document's first binding: of those with a
    /// scalar value, every one the planner takes as a slot, together or else each alone
    /// (`first: $n` or `after: $cursor` change the SQL, so they are never slots).
    fn discover(&self) -> Vec<Name> {
        let Some(operation) =
            crate::server::http::selected_operation(&self.prepared.document, self.prepared.operation.as_deref())
        else {
            return Vec::new();
        };
        let candidates: Vec<Name> = operation
            .variable_definitions
            .iter()
            .map(|definition| &definition.node.name.node)
            .filter(|name| {
                matches!(
                    variable(self.prepared, self.variables, name),
                    Some(Value::Number(_) | Value::String(_) | Value::Boolean(_) | Value::Enum(_))
                )
            })
            .cloned()
            .collect();
        if candidates.is_empty() || self.compile(&candidates).is_ok() {
            return candidates;
        }
        let alone: Vec<Name> = candidates
            .into_iter()
            .filter(|candidate| self.compile(std::slice::from_ref(candidate)).is_ok())
            .collect();
        if alone.len() > 1 && self.compile(&alone).is_err() {
            return Vec::new();
        }
        alone
    }

    /// Plans and compiles every root field the variables keep, in document order, the variables
    /// `slots` as placeholders; checked against the statements planned with the request's own
    /// values (with them in the placeholders' positions, the two must be the same).
    fn compile(&self, slots: &[Name]) -> Result<Vec<Field>, GatewayError> {
        let fields = self.plan(slots)?;
        if slots.is_empty() {
            return Ok(fields);
        }
        let plain = self.plan(&[])?;
        if fields.len() != plain.len() {
            return Err(GatewayError::Internal);
        }
        for (field, plain) in fields.iter().zip(&plain) {
            match (field, plain) {
                (Field::Typename { .. }, Field::Typename { .. }) => {}
                (
                    Field::Generated {
                        statement, parameters, ..
                    },
                    Field::Generated { statement: plain, .. },
                ) => {
                    let mut values = statement.values.clone().ok_or(GatewayError::Internal)?.0;
                    for parameter in parameters {
                        let name = &slots[parameter.slot];
                        let value = variable(self.prepared, self.variables, name).ok_or(GatewayError::Internal)?;
                        values[parameter.position] = plan::parse_scalar(&parameter.kind, value, name)?;
                    }
                    if statement.sql != plain.sql
                        || Some(values) != plain.values.as_ref().map(|values| values.0.clone())
                    {
                        return Err(GatewayError::Internal);
                    }
                }
                _ => return Err(GatewayError::Internal),
            }
        }
        Ok(fields)
    }

    fn plan(&self, slots: &[Name]) -> Result<Vec<Field>, GatewayError> {
        let registry = &self.engine.registry;
        let access = self.engine.access(self.session)?;
        // The whole operation's text matching, all root fields together.
        let spent = plan::text_cost::TextSpent::default();
        let prepared = self.prepared;
        let mut fields = Vec::new();
        let roots =
            DocumentField::roots_with_slots(&prepared.document, prepared.operation.as_deref(), self.variables, slots)?;
        for field in roots {
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
            self.engine.authorize(&access, &mut plan, Some(&spent))?;
            let kinds = plan::slot::kinds(registry, &plan);
            let statement = crate::sql::statement(self.backend, registry, &access, &plan);
            let mut parameters = Vec::new();
            for (position, value) in statement.values.iter().flat_map(|values| values.0.iter()).enumerate() {
                if let Some(slot) = plan::slot::slot_of(value) {
                    let kind = kinds.get(&slot).cloned().flatten().ok_or(GatewayError::Internal)?;
                    parameters.push(Parameter { position, slot, kind });
                }
            }
            fields.push(Field::Generated {
                key,
                statement,
                parameters,
            });
        }
        Ok(fields)
    }
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
    let fields = &bound.compiled.fields;
    let mut texts = Vec::with_capacity(fields.len());
    for (field, bound) in fields.iter().zip(&bound.statements) {
        texts.push(match field {
            Field::Typename { .. } => Some(r#""Query""#.to_owned()),
            Field::Generated { statement, .. } => {
                let statement = bound.as_ref().unwrap_or(statement);
                crate::database::route::read(context.primary, context.routing, statement, Some(context.budget))
                    .await
                    .ok()?
            }
        });
    }
    let length: usize = texts.iter().flatten().map(String::len).sum();
    let mut body = String::with_capacity(length + 16 * fields.len() + 12);
    body.push_str(r#"{"data":{"#);
    for (index, (field, text)) in fields.iter().zip(texts).enumerate() {
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
