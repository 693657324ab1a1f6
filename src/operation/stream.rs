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
use async_graphql::{ErrorExtensions, Name, Value, Variables};
use sea_orm::{DatabaseConnection, Statement};
use std::sync::Arc;

/// One root field of a compiled operation.
enum Field {
    Typename {
        key: String,
    },
    Generated {
        key: String,
        /// Where the field is in the document, for an error's location.
        position: async_graphql::Pos,
        statement: Statement,
        /// Where its slots' values go.
        parameters: Vec<Parameter>,
    },
}

/// A bind parameter a slot fills: the statement's value at `position` is `slot`'s value for a
/// column of `kind`.
struct Parameter {
    position: usize,
    slot: plan::slot::Slot,
    kind: ScalarKind,
}

/// What a compilation leaves to each request (see [`plan::slot`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shape {
    /// The variables planned as slots.
    variables: Vec<Name>,
    /// Whether the policy's claims are slots (else the statements hold one session's values).
    claims: bool,
}

impl Shape {
    /// Every value bound at compilation: nothing is a slot.
    fn fixed() -> Self {
        Self::default()
    }

    pub(super) fn variables(&self) -> &[Name] {
        &self.variables
    }

    pub(super) fn claims(&self) -> bool {
        self.claims
    }
}

/// A prepared document's root fields compiled for one binding: the variables that are not
/// slots, and the session (its role only when claims are slots).
pub struct Compiled {
    fields: Vec<Field>,
    shape: Shape,
    /// The claim and column kind of each claim slot.
    claims: Vec<(String, ScalarKind)>,
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
                    ..
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

    /// Slot `slot`'s value for this request, as the planner (or the policy) would have bound it
    /// (a slot meets columns of one kind only, so each is converted once per request: `known`).
    fn value(
        &self,
        slot: plan::slot::Slot,
        kind: &ScalarKind,
        request: &Request<'_>,
        known: &mut Vec<(plan::slot::Slot, sea_orm::Value)>,
    ) -> Result<sea_orm::Value, GatewayError> {
        if let Some((_, value)) = known.iter().find(|(seen, _)| *seen == slot) {
            return Ok(value.clone());
        }
        let value = match slot {
            plan::slot::Slot::Variable(index) => {
                let name = self.shape.variables.get(index).ok_or(GatewayError::Internal)?;
                let value = variable(request.prepared, request.variables, name).ok_or(GatewayError::Internal)?;
                plan::parse_input(kind, value, name)?
            }
            plan::slot::Slot::Claim(index) => {
                let (name, _) = self.claims.get(index).ok_or(GatewayError::Internal)?;
                let session = request.session.ok_or(GatewayError::Internal)?;
                crate::permission::claim_value(session, name, kind)?
            }
        };
        known.push((slot, value.clone()));
        Ok(value)
    }

    /// The statements with this request's slot values; `None` when one is a value the planner
    /// refuses (planned with it, the request gets the planner's error on async-graphql's path).
    fn bind(self: Arc<Self>, request: &Request<'_>) -> Option<Bound> {
        let mut statements = Vec::with_capacity(self.fields.len());
        let mut known = Vec::new();
        for field in &self.fields {
            statements.push(match field {
                Field::Generated {
                    statement, parameters, ..
                } if !parameters.is_empty() => Some(self.fill(statement, parameters, request, &mut known).ok()?),
                _ => None,
            });
        }
        Some(Bound {
            compiled: self,
            statements,
        })
    }

    fn fill(
        &self,
        statement: &Statement,
        parameters: &[Parameter],
        request: &Request<'_>,
        known: &mut Vec<(plan::slot::Slot, sea_orm::Value)>,
    ) -> Result<Statement, GatewayError> {
        let mut statement = statement.clone();
        let values = &mut statement.values.as_mut().ok_or(GatewayError::Internal)?.0;
        for parameter in parameters {
            *values.get_mut(parameter.position).ok_or(GatewayError::Internal)? =
                self.value(parameter.slot, &parameter.kind, request, known)?;
        }
        Ok(statement)
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
    pub budget: &'a crate::database::budget::ResponseBudget,
}

/// One request for a prepared document.
#[derive(Clone, Copy)]
struct Request<'a> {
    prepared: &'a Prepared,
    variables: &'a Variables,
    session: Option<&'a Session>,
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
        let request = Request {
            prepared,
            variables,
            session,
        };
        let compiler = RequestPlanner {
            engine,
            backend,
            request,
            fixed: std::cell::OnceCell::new(),
        };
        let shape = match prepared.shape.get() {
            Some(shape) => Some(shape),
            None => compiler.discover().map(|shape| prepared.shape.get_or_init(|| shape)),
        };
        // Planned once for every value of its slots…
        if let Some(shape) = shape.filter(|shape| **shape != Shape::fixed())
            && shape
                .variables
                .iter()
                .all(|slot| variable(prepared, variables, slot).is_some())
            && let Some(compiled) = self.compiled(&compiler, shape)
            && let Some(bound) = compiled.bind(&request)
        {
            return Some(bound);
        }
        // …or for these very values.
        self.compiled(&compiler, &Shape::fixed())?.bind(&request)
    }

    /// The operation compiled in `shape`, found or compiled now.
    fn compiled(&self, compiler: &RequestPlanner<'_>, shape: &Shape) -> Option<Arc<Compiled>> {
        let request = &compiler.request;
        let binding = Binding::new(self, request.variables, shape, request.session);
        if let Some(compiled) = self.bound(request.prepared, &binding) {
            return Some(compiled);
        }
        let (fields, claims) = compiler.compile(shape).ok()?;
        crate::telemetry::record::compilation();
        let compiled = Arc::new(Compiled {
            fields,
            shape: shape.clone(),
            claims,
            binding: binding.text.clone(),
        });
        self.keep(request.prepared, &binding, compiled.clone());
        Some(compiled)
    }
}

/// The value of variable `name` in this request (its default when not given); `None` when it is
/// null: a slot holds values, and null means something else to the planner.
fn variable<'v>(prepared: &'v Prepared, variables: &'v Variables, name: &Name) -> Option<&'v Value> {
    let value = match variables.get(name) {
        Some(value) => value,
        None => crate::plan::selected_operation(&prepared.document, prepared.operation.as_deref())?
            .variable_definitions
            .iter()
            .find(|definition| definition.node.name.node == *name)?
            .node
            .default_value()?,
    };
    (!matches!(value, Value::Null)).then_some(value)
}

/// Most variables a document's first binding tries one by one as slots.
const MAX_SLOT_TRIALS: usize = 8;

/// Plans and compiles one prepared document for one request.
struct RequestPlanner<'a> {
    engine: &'a Engine,
    backend: sea_orm::DbBackend,
    request: Request<'a>,
    /// The fields planned with the request's own values (`None`: they do not plan), which every
    /// compilation with slots is checked against: planned once per request.
    fixed: std::cell::OnceCell<Option<Vec<Field>>>,
}

/// A compilation: the fields, and the claim slots their statements have.
type Compilation = (Vec<Field>, Vec<(String, ScalarKind)>);

impl RequestPlanner<'_> {
    fn fixed(&self) -> Option<&[Field]> {
        self.fixed
            .get_or_init(|| self.plan(&Shape::fixed()).ok().map(|(fields, _)| fields))
            .as_deref()
    }

    /// What to leave to each request, decided by the document's first binding: the claims, when
    /// the session has a policy's; of the variables with a scalar value, every one the planner
    /// takes as a slot, together or else each alone (`first: $n` or `after: $cursor` change the
    /// SQL, so they are never slots).
    /// `None` when this request's own values do not plan: they decide nothing then.
    fn discover(&self) -> Option<Shape> {
        let request = &self.request;
        self.fixed()?;
        let claims = self.engine.policy.is_some()
            && request.session.is_some()
            && self
                .compile(&Shape {
                    variables: Vec::new(),
                    claims: true,
                })
                .is_ok();
        let shape = |variables: Vec<Name>| Shape { variables, claims };
        let Some(operation) =
            crate::plan::selected_operation(&request.prepared.document, request.prepared.operation.as_deref())
        else {
            return Some(shape(Vec::new()));
        };
        let candidates: Vec<Name> = operation
            .variable_definitions
            .iter()
            .map(|definition| &definition.node.name.node)
            .filter(|name| {
                matches!(
                    variable(request.prepared, request.variables, name),
                    Some(Value::Number(_) | Value::String(_) | Value::Boolean(_) | Value::Enum(_))
                )
            })
            .cloned()
            .collect();
        if candidates.is_empty() || self.compile(&shape(candidates.clone())).is_ok() {
            return Some(shape(candidates));
        }
        // Each trial plans the whole document: a document with many variables is not tried
        // variable by variable (its first request would cost that many plannings).
        if candidates.len() > MAX_SLOT_TRIALS {
            return Some(shape(Vec::new()));
        }
        let alone: Vec<Name> = candidates
            .into_iter()
            .filter(|candidate| self.compile(&shape(vec![candidate.clone()])).is_ok())
            .collect();
        if alone.len() > 1 && self.compile(&shape(alone.clone())).is_err() {
            return Some(shape(Vec::new()));
        }
        Some(shape(alone))
    }

    /// Plans and compiles every root field the variables keep, in document order, the slots of
    /// `shape` as placeholders; checked against the statements planned with the request's own
    /// values (with them in the placeholders' positions, the two must be the same).
    fn compile(&self, shape: &Shape) -> Result<Compilation, GatewayError> {
        let (fields, claims) = self.plan(shape)?;
        if *shape == Shape::fixed() {
            return Ok((fields, claims));
        }
        let fixed = self.fixed().ok_or(GatewayError::Internal)?;
        let mut known = Vec::new();
        let compiled = Compiled {
            fields,
            shape: shape.clone(),
            claims,
            binding: String::new(),
        };
        if compiled.fields.len() != fixed.len() {
            return Err(GatewayError::Internal);
        }
        for (field, fixed) in compiled.fields.iter().zip(fixed) {
            match (field, fixed) {
                (Field::Typename { .. }, Field::Typename { .. }) => {}
                (
                    Field::Generated {
                        statement, parameters, ..
                    },
                    Field::Generated { statement: fixed, .. },
                ) => {
                    let filled = compiled.fill(statement, parameters, &self.request, &mut known)?;
                    if filled.sql != fixed.sql || filled.values != fixed.values {
                        return Err(GatewayError::Internal);
                    }
                }
                _ => return Err(GatewayError::Internal),
            }
        }
        Ok((compiled.fields, compiled.claims))
    }

    fn plan(&self, shape: &Shape) -> Result<Compilation, GatewayError> {
        let registry = &self.engine.registry;
        let request = &self.request;
        let (access, claims) = match (&self.engine.policy, request.session) {
            (Some(policy), Some(session)) if shape.claims => policy.template(&session.role)?,
            _ => (self.engine.access(request.session)?, Vec::new()),
        };
        // The whole operation's text matching, all root fields together.
        let spent = plan::text_cost::TextSpent::default();
        let prepared = request.prepared;
        let mut fields = Vec::new();
        let roots = DocumentField::roots_with_slots(
            &prepared.document,
            prepared.operation.as_deref(),
            request.variables,
            &shape.variables,
        )?;
        for field in roots {
            if !field.included()? {
                continue;
            }
            let key = field.alias().unwrap_or(field.name()).to_owned();
            let position = field.position();
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
                let Some(slot) = plan::slot::slot_of(value) else {
                    continue;
                };
                let kind = match slot {
                    plan::slot::Slot::Variable(index) => kinds.get(&index).cloned().flatten(),
                    plan::slot::Slot::Claim(index) => claims.get(index).map(|(_, kind)| kind.clone()),
                };
                parameters.push(Parameter {
                    position,
                    slot,
                    kind: kind.ok_or(GatewayError::Internal)?,
                });
            }
            fields.push(Field::Generated {
                key,
                position,
                statement,
                parameters,
            });
        }
        Ok((fields, claims))
    }
}

/// Whether every variable the operation declares non-null without a default has a value, and the
/// built-in scalars have values of their kind: the cases the planner does not see for itself.
fn variables_fit(prepared: &Prepared, variables: &Variables) -> bool {
    let Some(operation) = plan::selected_operation(&prepared.document, prepared.operation.as_deref()) else {
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

/// Runs the bound fields, concurrently as async-graphql runs root query fields, and writes the
/// answer. A field that fails is answered, not run again elsewhere: the document was validated
/// before it was cached and its values bound, so what is left to fail is the statement (a bound,
/// the database), and the error is the operation's answer (with the field's path).
pub async fn run(context: &Context<'_>, bound: &Bound) -> Result<String, async_graphql::ServerError> {
    let fields = &bound.compiled.fields;
    let reads = fields.iter().zip(&bound.statements).map(|(field, bound)| async move {
        match field {
            Field::Typename { .. } => Ok(Some(r#""Query""#.to_owned())),
            Field::Generated {
                statement, position, ..
            } => {
                let statement = bound.as_ref().unwrap_or(statement);
                crate::database::route::read(context.primary, context.routing, statement, Some(context.budget))
                    .await
                    .map_err(|error| error.extend().into_server_error(*position))
            }
        }
    });
    let texts = futures_util::future::try_join_all(reads).await?;
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
    Ok(body)
}
