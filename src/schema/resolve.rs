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
                return Err(Error::new(super::DRY_RUN));
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
            let spent = context.data_opt::<Arc<plan::text_cost::TextSpent>>().map(Arc::as_ref);
            engine
                .authorize(&access, &mut plan, spent)
                .map_err(|error| error.extend())?;
            drop(plan_span);
            let primary = context.data::<DatabaseConnection>()?;
            let routing = context.data_opt::<Routing>();
            let budget = context.data_opt::<Arc<crate::sql::ResponseBudget>>().map(Arc::as_ref);
            let statement = crate::sql::statement(
                sea_orm::ConnectionTrait::get_database_backend(primary),
                registry,
                &access,
                &plan,
            );
            let text = crate::database::route::read(primary, routing, &statement, budget)
                .instrument(tracing::debug_span!("sql", field = field_name))
                .await
                .and_then(crate::sql::parse);
            let json = text.map_err(|error: GatewayError| error.extend())?;
            Ok(match json {
                Json::Null => None,
                json => Some(FieldValue::owned_any(json)),
            })
        })
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
        let items = own(&context)?.as_array().map(Vec::as_slice).unwrap_or_default();
        Ok(Some(FieldValue::list(
            items.iter().map(|item| FieldValue::borrowed_any(item)),
        )))
    })
}
