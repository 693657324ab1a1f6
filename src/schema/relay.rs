//! Relay global object identification: every row type with a primary key the role can read
//! implements `Node { nodeId: ID! }`, and `node(nodeId:)` / `nodes(nodeIds:)` fetch rows by id
//! through the same by-key lookup as federation's `_entities` ([`super::lookup`]): one statement
//! per type, the caller's row filters applied. An id of a row the caller may not read, or of a
//! type its role does not see, answers `null` exactly like an id of a row that does not exist.
//! Relay's and Apollo Client's caches key objects by it (Relay: `nodeInterfaceIdField: "nodeId"`;
//! Apollo: `keyFields: ["nodeId"]`).

use super::lookup::{MAX_KEYS, Requested};
use crate::error::GatewayError;
use crate::metadata::{EntityId, NODE_ID_FIELD, Registry};
use crate::permission::View;
use crate::plan::node_id;
use async_graphql::ErrorExtensions;
use async_graphql::dynamic::{
    Field, FieldFuture, FieldValue, InputValue, Interface, InterfaceField, Object, ResolverContext, SchemaBuilder,
    TypeRef,
};
use std::collections::HashSet;
use std::sync::Arc;

/// The interface every row type with a global id implements.
pub const NODE_INTERFACE: &str = "Node";
const NODE_FIELD: &str = "node";
const NODES_FIELD: &str = "nodes";

/// Whether rows of `id` show their global id in `view`: it spells out the key, so the view must
/// show every key column.
pub fn shows_node_id(registry: &Registry, id: EntityId, view: &View) -> bool {
    let entity = registry.entity(id);
    entity.has_node_id() && entity.primary_key.iter().all(|column| view.column(id, column))
}

/// The `nodeId` field of an object type.
pub fn node_id_field() -> Field {
    Field::new(
        NODE_ID_FIELD,
        TypeRef::named_nn(TypeRef::ID),
        super::resolve::scalar(crate::metadata::ScalarKind::String),
    )
    .description("A globally unique, opaque id of this row (Relay's object identification).")
}

/// Adds `Node`, `node` and `nodes` when some type in `view` has a global id.
pub fn register(
    builder: SchemaBuilder,
    query: Object,
    registry: &Arc<Registry>,
    view: &View,
) -> (SchemaBuilder, Object) {
    let types: Arc<HashSet<EntityId>> = Arc::new(
        (0..registry.entities().len())
            .filter(|id| view.entity(*id) && shows_node_id(registry, *id, view))
            .collect(),
    );
    // A table whose own root fields are named `node` or `nodes` keeps them.
    let taken = registry.entities().iter().any(|entity| {
        crate::plan::Root::ALL
            .iter()
            .any(|root| matches!(root.field_name(entity).as_str(), NODE_FIELD | NODES_FIELD))
    });
    if types.is_empty() || taken {
        return (builder, query);
    }
    let interface = Interface::new(NODE_INTERFACE)
        .description("A row with a global id: fetch it again with `node(nodeId:)`.")
        .field(InterfaceField::new(NODE_ID_FIELD, TypeRef::named_nn(TypeRef::ID)));
    let one = {
        let types = types.clone();
        Field::new(NODE_FIELD, TypeRef::named(NODE_INTERFACE), move |context| {
            let types = types.clone();
            FieldFuture::new(async move { node(context, &types).await.map_err(|error| error.extend()) })
        })
        .argument(InputValue::new("nodeId", TypeRef::named_nn(TypeRef::ID)))
        .description("The row with this global id, or null (none, or not yours to read).")
    };
    let many = Field::new(NODES_FIELD, TypeRef::named_list_nn(NODE_INTERFACE), move |context| {
        let types = types.clone();
        FieldFuture::new(async move { nodes(context, &types).await.map_err(|error| error.extend()) })
    })
    .argument(InputValue::new("nodeIds", TypeRef::named_nn_list_nn(TypeRef::ID)))
    .description(
        "The rows with these global ids, in their order; null where there is none or it is not yours to read.",
    );
    (builder.register(interface), query.field(one).field(many))
}

/// A row's type and primary key.
type RowKey = (EntityId, Vec<sea_orm::Value>);

/// The ids of a `nodes` or `node` argument, decoded; ids of types the role does not see are kept
/// as `None` (answered `null`, like a missing row).
fn decode(
    registry: &Registry,
    types: &HashSet<EntityId>,
    ids: &[String],
    field: &str,
) -> Result<Vec<Option<RowKey>>, GatewayError> {
    ids.iter()
        .enumerate()
        .map(|(position, id)| {
            let at = if field == NODE_FIELD {
                "nodeId".to_owned()
            } else {
                format!("nodeIds[{position}]")
            };
            let (entity, key) = node_id::decode(registry, id, &at)?;
            Ok(types.contains(&entity).then_some((entity, key)))
        })
        .collect()
}

async fn read<'a>(
    context: &ResolverContext<'a>,
    types: &HashSet<EntityId>,
    ids: &[String],
    field: &str,
) -> Result<Vec<Option<(EntityId, serde_json::Value)>>, GatewayError> {
    if ids.len() > MAX_KEYS {
        return Err(GatewayError::bad_input(format!(
            "`{field}` takes at most {MAX_KEYS} ids, not {}",
            ids.len()
        )));
    }
    let engine = context.data::<super::Engine>().map_err(|_| GatewayError::Internal)?;
    let decoded = decode(&engine.registry, types, ids, field)?;
    let mut requested = Requested::default();
    for (entity, key) in decoded.iter().flatten() {
        requested.add(*entity, key.clone());
    }
    let mut rows = requested.read(context, NODE_INTERFACE, field).await?.into_iter();
    Ok(decoded
        .iter()
        .map(|wanted| wanted.as_ref().and_then(|_| rows.next().flatten()))
        .collect())
}

async fn node<'a>(
    context: ResolverContext<'a>,
    types: &HashSet<EntityId>,
) -> Result<Option<FieldValue<'a>>, GatewayError> {
    let id = context
        .args
        .try_get("nodeId")
        .and_then(|value| value.string().map(str::to_owned))
        .map_err(|error| GatewayError::bad_input(error.message))?;
    let engine = context.data::<super::Engine>().map_err(|_| GatewayError::Internal)?;
    let registry = engine.registry.clone();
    let row = read(&context, types, &[id], NODE_FIELD).await?.pop().flatten();
    Ok(row.map(|(entity, row)| FieldValue::owned_any(row).with_type(registry.entity(entity).type_name.clone())))
}

async fn nodes<'a>(
    context: ResolverContext<'a>,
    types: &HashSet<EntityId>,
) -> Result<Option<FieldValue<'a>>, GatewayError> {
    let ids = context
        .args
        .try_get("nodeIds")
        .and_then(|value| value.list())
        .map_err(|error| GatewayError::bad_input(error.message))?;
    let ids = ids
        .iter()
        .map(|id| id.string().map(str::to_owned))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| GatewayError::bad_input(error.message))?;
    let engine = context.data::<super::Engine>().map_err(|_| GatewayError::Internal)?;
    let registry = engine.registry.clone();
    let rows = read(&context, types, &ids, NODES_FIELD).await?;
    super::lookup::list(&context, &registry, rows).map(Some)
}
