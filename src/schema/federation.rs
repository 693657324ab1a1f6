//! Apollo Federation v2 (opt-in, `GATEWAY_FEDERATION`): the schema becomes a subgraph a router
//! composes with others. Every object with a primary key the view shows is an entity
//! (`@key(fields: "…")`), `_service { sdl }` returns the view's SDL with the federation
//! directives (async-graphql's SDL export writes them), and `_entities(representations:)`
//! resolves references from other subgraphs.
//!
//! `_entities` is planned like any root field (through `super::lookup`, which Relay's `nodes`
//! shares): the representations of one type become one
//! statement (rows whose key is among theirs, `plan::plan_references`) under the caller's
//! `Access`, so a router forwarding the client's token gets exactly the rows that client may
//! read; a row it may not read, or that does not exist, is `null` in its representation's
//! place, as the federation spec asks.

use super::lookup::Requested;
use crate::error::GatewayError;
use crate::metadata::{EntityId, Registry};
use crate::permission::View;
use crate::plan;
use crate::schema::Engine;
use crate::schema::SchemaOptions;
use async_graphql::dynamic::{
    Directive, Field, FieldFuture, FieldValue, InputValue, Object, ResolverContext, Scalar, SchemaBuilder, TypeRef,
    Union,
};
use async_graphql::{ErrorExtensions, Value as GqlValue};
use sea_orm::Value;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

/// The names the federation spec gives its types and fields.
const ENTITY_UNION: &str = "_Entity";
const ANY_SCALAR: &str = "_Any";
const SERVICE_TYPE: &str = "_Service";
const SERVICE_FIELD: &str = "_service";
const ENTITIES_FIELD: &str = "_entities";

/// Most representations one `_entities` field may resolve (each is a key the statement binds).
pub const MAX_REPRESENTATIONS: usize = super::lookup::MAX_KEYS;

/// The `@key` field set of `entity` in `view`: its primary key's fields, when the view shows them
/// all.
pub fn key_fields(registry: &Registry, id: EntityId, view: &View) -> Option<String> {
    let entity = registry.entity(id);
    if entity.primary_key.is_empty() || !entity.primary_key.iter().all(|column| view.column(id, column)) {
        return None;
    }
    let fields: Option<Vec<&str>> = entity
        .primary_key
        .iter()
        .map(|column| entity.column(column).map(|column| column.field.as_str()))
        .collect();
    fields.map(|fields| fields.join(" "))
}

/// What a schema needs to be a subgraph: the `@key` directive for an entity's object.
pub fn key_directive(fields: String) -> Directive {
    Directive::new("key").argument("fields", GqlValue::String(fields))
}

/// Adds the federation types and root fields to a schema showing `view`; `options` build the
/// SDL `_service` answers with (the same view, federation on).
///
/// These are ordinary fields, not async-graphql's built-in federation: that one answers
/// `_entities` and `_service` only while introspection is on, and cannot put `null` in the
/// `_entities` list (async-graphql#1577) — [`super::lookup::NullItems`] does that here.
pub fn register(
    builder: SchemaBuilder,
    query: Object,
    registry: &Arc<Registry>,
    options: &SchemaOptions,
) -> (SchemaBuilder, Object) {
    let view = &options.view;
    let types: Arc<HashMap<String, EntityId>> = Arc::new(
        (0..registry.entities().len())
            .filter(|id| view.entity(*id) && key_fields(registry, *id, view).is_some())
            .map(|id| (registry.entity(id).type_name.clone(), id))
            .collect(),
    );
    let sdl: Arc<OnceLock<Result<String, String>>> = Arc::new(OnceLock::new());
    let (sdl_registry, sdl_options) = (registry.clone(), options.clone());
    let service = Field::new(SERVICE_FIELD, TypeRef::named_nn(SERVICE_TYPE), move |_| {
        let sdl = sdl.clone();
        let (registry, options) = (sdl_registry.clone(), sdl_options.clone());
        FieldFuture::new(async move {
            // The SDL is the schema itself: where introspection is off, so is this.
            if !options.introspection {
                return Err(GatewayError::Forbidden(
                    "introspection is off (GATEWAY_INTROSPECTION), and with it `_service`: compose the supergraph \
                     from `gateway schema --federation --role R`"
                        .into(),
                )
                .extend());
            }
            // Built once per schema, on first use: the schema's own SDL in federation form.
            let text = sdl.get_or_init(|| super::export(registry, options).map_err(|error| error.to_string()));
            match text {
                Ok(text) => Ok(Some(FieldValue::owned_any(text.clone()))),
                Err(error) => {
                    tracing::error!(%error, "the subgraph SDL could not be exported");
                    Err(GatewayError::Internal.extend())
                }
            }
        })
    })
    .description("This subgraph's schema, for a federation router (answered where introspection is on).");
    let mut builder = builder
        .register(Scalar::new(ANY_SCALAR).description("A representation: `__typename` and the type's key fields."))
        .register(
            Object::new(SERVICE_TYPE).field(Field::new("sdl", TypeRef::named_nn(TypeRef::STRING), |context| {
                FieldFuture::new(async move {
                    let text = context.parent_value.try_downcast_ref::<String>()?;
                    Ok(Some(FieldValue::value(text.clone())))
                })
            })),
        );
    let mut query = query.field(service);
    if !types.is_empty() {
        let mut names: Vec<&String> = types.keys().collect();
        names.sort();
        builder = builder.register(
            names
                .into_iter()
                .fold(Union::new(ENTITY_UNION), |union, name| union.possible_type(name)),
        );
        query = query.field(
            Field::new(ENTITIES_FIELD, TypeRef::named_list_nn(ENTITY_UNION), move |context| {
                let types = types.clone();
                FieldFuture::new(async move { entities(context, &types).await.map_err(|error| error.extend()) })
            })
            .argument(InputValue::new(
                "representations",
                TypeRef::named_nn_list_nn(ANY_SCALAR),
            ))
            .description(
                "The rows other subgraphs refer to, by key; null where there is none or the caller may not read it.",
            ),
        );
    }
    (builder, query)
}

/// Reads `_entities`: the representations, grouped by type, through [`super::lookup`].
async fn entities<'a>(
    context: ResolverContext<'a>,
    types: &HashMap<String, EntityId>,
) -> Result<Option<FieldValue<'a>>, GatewayError> {
    let engine = context.data::<Engine>().map_err(|_| GatewayError::Internal)?;
    let registry = &engine.registry;
    let representations = context
        .args
        .try_get("representations")
        .and_then(|value| value.list())
        .map_err(|error| GatewayError::bad_input(error.message))?;
    if representations.len() > MAX_REPRESENTATIONS {
        return Err(GatewayError::bad_input(format!(
            "`_entities` takes at most {MAX_REPRESENTATIONS} representations, not {}",
            representations.len()
        )));
    }
    let mut requested = Requested::default();
    for (position, item) in representations.iter().enumerate() {
        let path = format!("representations[{position}]");
        let object = item
            .object()
            .map_err(|_| GatewayError::bad_input(format!("`{path}` must be an object")))?;
        let type_name = object
            .get("__typename")
            .and_then(|value| value.string().ok())
            .ok_or_else(|| GatewayError::bad_input(format!("`{path}.__typename` must be a type name")))?;
        let entity = *types
            .get(type_name)
            .ok_or_else(|| GatewayError::bad_input(format!("`{type_name}` is not an entity type of this schema")))?;
        let meta = registry.entity(entity);
        let key = meta
            .primary_key
            .iter()
            .map(|column| {
                let column = meta.column(column).ok_or(GatewayError::Internal)?;
                let value = object
                    .get(&column.field)
                    .map(|value| value.as_value().clone())
                    .unwrap_or(GqlValue::Null);
                plan::parse_scalar(&column.kind, &value, &format!("{path}.{}", column.field))
            })
            .collect::<Result<Vec<Value>, GatewayError>>()?;
        requested.add(entity, key);
    }
    let rows = requested.read(&context, ENTITY_UNION, ENTITIES_FIELD).await?;
    super::lookup::list(&context, registry, rows).map(Some)
}
