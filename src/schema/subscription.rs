//! The Subscription root: per entity, change events (`taskChanged`) and a live list
//! (`tasksLive`), both served by the change feed with the session's permissions.

use super::Engine;
use super::entity::{Names, connection_inputs};
use super::resolve;
use super::scalars::type_name;
use crate::auth::Session;
use crate::changes::{ChangeFeed, Channel, Item, Registration, SubscriptionCost, Watch};
use crate::error::GatewayError;
use crate::metadata::{EntityId, Registry};
use crate::permission::View;
use crate::plan::{self, Feed, Plan};
use async_graphql::dynamic::{
    Enum, EnumItem, Field, FieldFuture, FieldValue, InputValue, Object, ResolverContext, SchemaBuilder,
    SubscriptionField, SubscriptionFieldFuture, TypeRef,
};
use async_graphql::{ErrorExtensions, Name, Value as GqlValue};
use futures_util::Stream;
use serde_json::Value as Json;
use std::sync::Arc;
use tokio::sync::mpsc;

/// The enum of change operations (and `RESYNC`).
pub const OPERATION: &str = "ChangeOperation";

/// Registers the types shared by every entity's subscriptions.
pub fn register_common(builder: SchemaBuilder) -> SchemaBuilder {
    builder.register(
        Enum::new(OPERATION)
            .description("What happened to a row, as the subscriber sees it.")
            .item(
                EnumItem::new("INSERT")
                    .description("The row appeared: inserted, or changed into the subscriber's view."),
            )
            .item(EnumItem::new("UPDATE").description("A row the subscriber sees changed and is still seen."))
            .item(
                EnumItem::new("DELETE")
                    .description("The row went away: deleted, or changed out of the subscriber's view."),
            )
            .item(EnumItem::new("RESYNC").description(
                "Changes may have been missed (the gateway lost its database connection); re-read what you hold.",
            )),
    )
}

/// Registers the subscription types of one entity and returns its subscription fields.
pub fn register(
    mut builder: SchemaBuilder,
    registry: &Registry,
    id: EntityId,
    view: &View,
) -> (SchemaBuilder, Vec<SubscriptionField>) {
    let entity = registry.entity(id);
    // A read-only entity (a view) has no triggers to announce its changes.
    if !view.entity(id) || entity.read_only.is_some() {
        return (builder, Vec::new());
    }
    let names = Names::of(entity);
    let key_type = format!("{}Key", names.object);
    let change_type = format!("{}Change", names.object);
    let key_columns: Vec<_> = entity
        .primary_key
        .iter()
        .filter_map(|name| entity.column(name))
        .filter(|column| view.column(id, &column.name))
        .collect();
    let mut change = Object::new(&change_type)
        .description(format!("A change of a {} row.", names.object))
        .field(Field::new("op", TypeRef::named_nn(OPERATION), operation))
        .field(
            Field::new("row", TypeRef::named(&names.object), resolve::object)
                .description("The row as it is now (null for DELETE and RESYNC)."),
        );
    if !key_columns.is_empty() {
        let mut key = Object::new(&key_type).description(format!("The primary key of a {} row.", names.object));
        for column in &key_columns {
            key = key.field(Field::new(
                &column.field,
                TypeRef::named_nn(type_name(&column.kind)),
                resolve::scalar(column.kind.clone()),
            ));
        }
        builder = builder.register(key);
        change = change.field(
            Field::new("oldKey", TypeRef::named(&key_type), resolve::object)
                .description("The key the row had before (UPDATE and DELETE)."),
        );
    }
    builder = builder.register(change);
    let events = SubscriptionField::new(
        Feed::Changed.field_name(entity),
        TypeRef::named_nn(&change_type),
        move |context| SubscriptionFieldFuture::new(subscribe(context, id, Feed::Changed)),
    )
    .description(format!(
        "Inserts, updates and deletes of {} rows the session may read, as they commit.",
        names.object
    ))
    .argument(
        InputValue::new("filter", TypeRef::named(&names.filter)).description("Only rows matching this condition."),
    )
    .argument(
        InputValue::new("ops", TypeRef::named_nn_list(OPERATION))
            .description("Only these operations (default: INSERT, UPDATE and DELETE; RESYNC is always sent)."),
    );
    let live = connection_inputs(&names)
        .into_iter()
        .fold(
            SubscriptionField::new(
                Feed::Live.field_name(entity),
                TypeRef::named_nn(&names.connection),
                move |context| SubscriptionFieldFuture::new(subscribe(context, id, Feed::Live)),
            ),
            |field, input| field.argument(input),
        )
        .description(format!(
            "The `{}` list, sent at once and again whenever a change alters it.",
            entity.list_field
        ));
    (builder, vec![events, live])
}

/// The `op` field: an enum value from the event's JSON.
fn operation(context: ResolverContext<'_>) -> FieldFuture<'_> {
    FieldFuture::new(async move {
        let parent = context.parent_value.try_downcast_ref::<Json>()?;
        let field = context.field();
        let name = parent
            .get(field.alias().unwrap_or(field.name()))
            .and_then(Json::as_str)
            .unwrap_or_default();
        Ok(Some(FieldValue::value(GqlValue::Enum(Name::new(name)))))
    })
}

async fn subscribe<'a>(
    context: ResolverContext<'a>,
    entity: EntityId,
    kind: Feed,
) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<FieldValue<'a>>> + use<'a>> {
    let engine = context.data::<Engine>()?;
    let feed = context.data::<ChangeFeed>()?;
    let registry = &engine.registry;
    feed.check_tracked(&registry.entity(entity).table)
        .map_err(|error| error.extend())?;
    let access = engine
        .access(context.data_opt::<Session>())
        .map_err(|error| error.extend())?;
    let field = context.field();
    let watch = match kind {
        Feed::Changed => {
            let mut events = plan::plan_events(registry, entity, field).map_err(|error| error.extend())?;
            access
                .authorize_events(registry, &mut events, engine.max_page_size)
                .map_err(|error| error.extend())?;
            let rows: Vec<&plan::NodePlan> = events.rows.iter().map(|(_, row)| row).collect();
            plan::text_cost::check_parts(
                registry,
                entity,
                &events.filter.iter().collect::<Vec<_>>(),
                &rows,
                engine.text,
                &|entity| engine.table_rows(entity),
                None,
            )
            .map_err(|error| error.extend())?;
            Watch::Events(events)
        }
        Feed::Live => {
            let mut live =
                Plan::Connection(plan::plan_connection(registry, entity, &[field]).map_err(|error| error.extend())?);
            engine
                .authorize(&access, &mut live, None)
                .map_err(|error| error.extend())?;
            Watch::live(registry, live, &access)
        }
    };
    let channel = context.data_opt::<Arc<Channel>>();
    let (registration, receiver) = feed
        .subscribe(
            watch,
            access,
            context.data_opt::<Session>().map(|session| session.role.as_str()),
            channel,
            context.data_opt::<SubscriptionCost>().copied().unwrap_or_default(),
        )
        .await
        .map_err(|error: GatewayError| error.extend())?;
    Ok(events(registration, receiver))
}

/// The subscriber's queue as a GraphQL stream, one message per event; it stays registered while
/// the stream lives, and ends after the error the feed ended it with.
fn events<'a>(
    registration: Registration,
    receiver: mpsc::Receiver<Item>,
) -> impl Stream<Item = async_graphql::Result<FieldValue<'a>>> {
    let state = (Some(registration), receiver, std::collections::VecDeque::<Json>::new());
    futures_util::stream::unfold(state, |(registration, mut receiver, mut pending)| async move {
        let registration = registration?;
        loop {
            if let Some(event) = pending.pop_front() {
                return Some((
                    Ok(FieldValue::owned_any(event)),
                    (Some(registration), receiver, pending),
                ));
            }
            match receiver.recv().await? {
                Ok(batch) => pending.extend(batch.events),
                Err(ended) => {
                    let error = ended.code.error(ended.message);
                    return Some((Err(error), (None, receiver, pending)));
                }
            }
        }
    })
}
