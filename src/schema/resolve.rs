//! The resolvers. Root fields plan, execute one statement and hand the JSON down; every other
//! field only reads its response key from its parent's JSON (borrowed, never copied).

use crate::auth::Session;
use crate::database::Routing;
use crate::error::GatewayError;
use crate::metadata::{EntityId, ScalarKind};
use crate::plan::{self, Root};
use crate::schema::Engine;
use async_graphql::dynamic::{FieldFuture, FieldValue, ResolverContext};
use async_graphql::{Error, ErrorExtensions};
use sea_orm::DatabaseConnection;
use serde_json::Value as Json;
use std::sync::Arc;
use tracing::Instrument;

/// Resolves a root field: plan from the look-ahead, one statement, JSON to the children.
pub fn root(entity: EntityId, root: Root) -> impl Fn(ResolverContext<'_>) -> FieldFuture<'_> + Send + Sync + 'static {
    move |context| {
        FieldFuture::new(async move {
            if context.data_opt::<super::DryRun>().is_some() {
                return Err(Error::new_with_source(super::DryRunStop));
            }
            let engine = context.data::<Engine>()?;
            let registry = &engine.registry;
            let field = context.field();
            let field_name = field.name();
            let plan_span = tracing::debug_span!("plan", field = field_name).entered();
            let mut plan = plan::plan_root(registry, entity, root, field).map_err(|error| error.extend())?;
            let access = engine
                .access(context.data_opt::<Session>())
                .map_err(|error| error.extend())?;
            let reader = PlanReader::of(&context, engine, &access)?;
            reader.authorize(&mut plan).map_err(|error| error.extend())?;
            drop(plan_span);
            let json = reader.read(&plan, field_name).await.map_err(|error| error.extend())?;
            Ok(match json {
                Json::Null => None,
                json => Some(FieldValue::owned_any(json)),
            })
        })
    }
}

/// What reading a plan takes from a resolver's context: the connections, the operation's
/// response budget and text-matching spend, under one session's access.
#[derive(Clone, Copy)]
pub(super) struct PlanReader<'a> {
    engine: &'a Engine,
    access: &'a crate::permission::Access,
    primary: &'a DatabaseConnection,
    routing: Option<&'a Routing>,
    budget: Option<&'a crate::database::budget::ResponseBudget>,
    spent: Option<&'a plan::text_cost::TextSpent>,
}

impl<'a> PlanReader<'a> {
    pub(super) fn of(
        context: &ResolverContext<'a>,
        engine: &'a Engine,
        access: &'a crate::permission::Access,
    ) -> Result<Self, Error> {
        Ok(Self {
            engine,
            access,
            primary: context.data::<DatabaseConnection>()?,
            routing: context.data_opt::<Routing>(),
            budget: context
                .data_opt::<Arc<crate::database::budget::ResponseBudget>>()
                .map(Arc::as_ref),
            spent: context.data_opt::<Arc<plan::text_cost::TextSpent>>().map(Arc::as_ref),
        })
    }

    /// [`Engine::authorize`], charging the operation's text matching.
    pub(super) fn authorize(&self, plan: &mut plan::Plan) -> Result<(), GatewayError> {
        self.engine.authorize(self.access, plan, self.spent)
    }

    /// Charges `bytes` of answer the statements did not build (copies of rows placed more than
    /// once) to the operation's budget.
    pub(super) fn charge(&self, bytes: usize) -> Result<(), GatewayError> {
        self.budget.map_or(Ok(()), |budget| budget.charge(bytes))
    }

    /// Runs `plan`'s one statement (through the replicas and the breaker, within the budget) and
    /// parses the JSON it builds; `field` names the span.
    pub(super) async fn read(&self, plan: &plan::Plan, field: &str) -> Result<Json, GatewayError> {
        let backend = sea_orm::ConnectionTrait::get_database_backend(self.primary);
        let statement = crate::sql::statement(backend, &self.engine.registry, self.access, plan);
        crate::database::route::read(self.primary, self.routing, &statement, self.budget)
            .instrument(tracing::debug_span!("sql", field))
            .await
            .and_then(crate::database::execute::parse)
    }
}

/// This field's value in the parent's JSON.
fn own<'a>(context: &ResolverContext<'a>) -> Result<&'a Json, Error> {
    let parent: &'a Json = context.parent_value.try_downcast_ref::<Json>()?;
    let field = context.field();
    Ok(parent.get(field.alias().unwrap_or(field.name())).unwrap_or(&Json::Null))
}

/// A scalar of `kind`.
pub fn scalar(kind: ScalarKind) -> impl Fn(ResolverContext<'_>) -> FieldFuture<'_> + Send + Sync + 'static {
    move |context| {
        let kind = kind.clone();
        FieldFuture::new(async move {
            let value = own(&context)?;
            Ok(match value {
                Json::Null => None,
                value => Some(FieldValue::value(crate::shape::scalar(&kind, value))),
            })
        })
    }
}

/// A nested object (a related row, `pageInfo`, an aggregate group's parts).
pub fn object(context: ResolverContext<'_>) -> FieldFuture<'_> {
    FieldFuture::new(async move {
        // Resolving a large answer is work without a database wait: it yields now and then, so
        // the request deadline can stop it.
        tokio::task::consume_budget().await;
        let value = own(&context)?;
        Ok(match value {
            Json::Null => None,
            value => Some(FieldValue::borrowed_any(value)),
        })
    })
}

/// A list of objects (`nodes`, `edges`, `groupBy`).
pub fn list(context: ResolverContext<'_>) -> FieldFuture<'_> {
    FieldFuture::new(async move {
        tokio::task::consume_budget().await;
        let items = own(&context)?.as_array().map(Vec::as_slice).unwrap_or_default();
        Ok(Some(FieldValue::list(
            items.iter().map(|item| FieldValue::borrowed_any(item)),
        )))
    })
}
