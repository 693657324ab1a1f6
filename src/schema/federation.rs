//! Apollo Federation v2 (opt-in, `GATEWAY_FEDERATION`): the schema becomes a subgraph a router
//! composes with others. Every object with a primary key the view shows is an entity
//! (`@key(fields: "…")`), `_service { sdl }` returns the view's SDL with the federation
//! directives (async-graphql's SDL export writes them), and `_entities(representations:)`
//! resolves references from other subgraphs.
//!
//! `_entities` is planned like any root field: the representations of one type become one
//! statement (rows whose key is among theirs, `plan::plan_references`) under the caller's
//! `Access`, so a router forwarding the client's token gets exactly the rows that client may
//! read; a row it may not read, or that does not exist, is `null` in its representation's
//! place, as the federation spec asks.

use crate::auth::Session;
use crate::error::GatewayError;
use crate::metadata::{EntityId, Registry};
use crate::permission::View;
use crate::plan::{self, DocumentField};
use crate::schema::Engine;
use crate::schema::SchemaOptions;
use async_graphql::dynamic::{
    Directive, Field, FieldFuture, FieldValue, InputValue, Object, ResolverContext, Scalar, SchemaBuilder, TypeRef,
    Union,
};
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest, NextResolve, ResolveInfo,
};
use async_graphql::{ErrorExtensions, QueryPathSegment, Request, ServerResult, Value as GqlValue};
use futures_util::{StreamExt, TryStreamExt};
use sea_orm::Value;
use serde_json::Value as Json;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};

/// The names the federation spec gives its types and fields.
const ENTITY_UNION: &str = "_Entity";
const ENTITY_LIST: &str = "[_Entity]";
const ANY_SCALAR: &str = "_Any";
const SERVICE_TYPE: &str = "_Service";
const SERVICE_FIELD: &str = "_service";
const ENTITIES_FIELD: &str = "_entities";

/// Most representations one `_entities` field may resolve (each is a key the statement binds).
pub const MAX_REPRESENTATIONS: usize = plan::MAX_IN_VALUES;

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
/// `_entities` list (async-graphql#1577) — [`NullEntities`] does that here.
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
        builder = builder.extension(NullEntities);
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

/// Answers `null` for the `_entities` positions the resolver found nothing for (async-graphql's
/// union resolution cannot return `null` items). The resolver records them in this request's
/// [`Unresolved`], which `prepare_request` puts into the request's data.
pub struct NullEntities;

impl ExtensionFactory for NullEntities {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(NullEntitiesExtension(Arc::new(Unresolved::default())))
    }
}

/// The `_entities` positions (response key, index) without a row, for one request.
#[derive(Default)]
struct Unresolved(Mutex<HashSet<(String, usize)>>);

struct NullEntitiesExtension(Arc<Unresolved>);

#[async_trait::async_trait]
impl Extension for NullEntitiesExtension {
    async fn prepare_request(
        &self,
        context: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        next.run(context, request.data(self.0.clone())).await
    }

    async fn resolve(
        &self,
        context: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<GqlValue>> {
        if info.parent_type == ENTITY_LIST
            && let QueryPathSegment::Index(index) = info.path_node.segment
            && let Some(parent) = info.path_node.parent
            && let QueryPathSegment::Name(key) = parent.segment
            && self
                .0
                .0
                .lock()
                .is_ok_and(|unresolved| unresolved.contains(&(key.to_owned(), index)))
        {
            return Ok(None);
        }
        next.run(context, info).await
    }
}

/// The representations of one entity type: its distinct keys, where each representation's key is
/// among them, and the row read for each key (None: missing, or not the caller's to read).
struct Wanted {
    entity: EntityId,
    keys: Vec<Vec<Value>>,
    /// Key (its canonical form, as `sea_orm::Value` has no `Hash`) → index into `keys`.
    index: HashMap<String, usize>,
    rows: Vec<Option<Json>>,
}

impl Wanted {
    fn new(entity: EntityId) -> Self {
        Self {
            entity,
            keys: Vec::new(),
            index: HashMap::new(),
            rows: Vec::new(),
        }
    }

    /// The slot of `key`, added if it is new.
    fn slot(&mut self, key: Vec<Value>) -> usize {
        let next = self.keys.len();
        let slot = *self.index.entry(identity(&key)).or_insert(next);
        if slot == next {
            self.keys.push(key);
            self.rows.push(None);
        }
        slot
    }

    /// Puts a row the database read into the slot of its key (read from its reference columns).
    fn place(&mut self, meta: &crate::metadata::Entity, mut row: Json) -> Result<(), GatewayError> {
        let key = meta
            .primary_key
            .iter()
            .map(|column| {
                let value = row
                    .as_object_mut()
                    .and_then(|row| row.remove(&plan::reference_key(column)))
                    .and_then(|value| GqlValue::from_json(value).ok())
                    .ok_or(GatewayError::Internal)?;
                // The database's own rendering of its key: failing to read it back is a bug.
                plan::parse_key_value(meta, column, &value).map_err(|_| GatewayError::Internal)
            })
            .collect::<Result<Vec<Value>, GatewayError>>()?;
        match self.index.get(&identity(&key)) {
            Some(slot) => self.rows[*slot] = Some(row),
            None => tracing::warn!(
                entity = %meta.type_name,
                ?key,
                "a row `_entities` read matches none of the keys asked for (key forms differ)"
            ),
        }
        Ok(())
    }
}

/// Where one representation's row is: (index into the groups, slot in its group).
type Place = (usize, usize);

/// The representations grouped by type, in first-seen order, and each one's place.
fn group(
    registry: &Registry,
    types: &HashMap<String, EntityId>,
    representations: &async_graphql::dynamic::ListAccessor<'_>,
) -> Result<(Vec<Wanted>, Vec<Place>), GatewayError> {
    let mut wanted: Vec<Wanted> = Vec::new();
    let mut places = Vec::with_capacity(representations.len());
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
        let group = match wanted.iter().position(|group| group.entity == entity) {
            Some(group) => group,
            None => {
                wanted.push(Wanted::new(entity));
                wanted.len() - 1
            }
        };
        places.push((group, wanted[group].slot(key)));
    }
    Ok((wanted, places))
}

/// Statements `_entities` runs at once.
const CONCURRENT_STATEMENTS: usize = 4;

/// Identifies a key among others of the same entity, the same for every form of one value the
/// database compares equal: decimals without trailing zeros, timestamps in UTC.
fn identity(key: &[Value]) -> String {
    let canonical: Vec<String> = key
        .iter()
        .map(|value| match value {
            Value::Decimal(Some(decimal)) => format!("decimal {}", decimal.normalize()),
            Value::ChronoDateTimeWithTimeZone(Some(time)) => format!(
                "time {}",
                time.with_timezone(&chrono::Utc)
                    .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
            ),
            other => format!("{other:?}"),
        })
        .collect();
    canonical.join("\u{1f}")
}

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
    let (mut wanted, places) = group(registry, types, &representations)?;
    let access = engine.access(context.data_opt::<Session>())?;
    let reader = super::resolve::PlanReader::of(&context, engine, &access).map_err(|_| GatewayError::Internal)?;
    // Each type's keys in chunks no larger than a page the role may read (GATEWAY_MAX_PAGE_SIZE,
    // the policy's `limit`): a reference lookup is by key, so no readable row is cut off.
    let mut chunks = Vec::new();
    for (group, wanted) in wanted.iter().enumerate() {
        let limit = access.row_limit(wanted.entity);
        // The role's `limit` bounds the rows of a type one request reads, here as in lists.
        if let Some(limit) = limit
            && wanted.keys.len() as u64 > limit
        {
            return Err(GatewayError::LimitExceeded(format!(
                "`_entities` asks for {} {} rows; this role reads at most {limit} per list (its policy's limit)",
                wanted.keys.len(),
                registry.entity(wanted.entity).type_name
            )));
        }
        let size = limit
            .map_or(engine.max_page_size, |limit| limit.min(engine.max_page_size))
            .max(1) as usize;
        for keys in wanted.keys.chunks(size) {
            let meta = registry.entity(wanted.entity);
            let field = DocumentField::member_of(context.ctx, ENTITY_UNION, &meta.type_name);
            chunks.push((
                group,
                plan::plan_references(registry, wanted.entity, keys.to_vec(), &[field])?,
            ));
        }
    }
    let answers: Vec<(usize, Vec<Json>)> = futures_util::stream::iter(chunks)
        .map(|(group, mut plan)| async move {
            reader.authorize(&mut plan)?;
            let Json::Object(mut answer) = reader.read(&plan, ENTITIES_FIELD).await? else {
                return Err(GatewayError::Internal);
            };
            match answer.remove(<&str>::from(plan::vocabulary::ConnectionField::Nodes)) {
                Some(Json::Array(rows)) => Ok((group, rows)),
                _ => Err(GatewayError::Internal),
            }
        })
        .buffered(CONCURRENT_STATEMENTS)
        .try_collect()
        .await?;
    for (group, rows) in answers {
        let meta = registry.entity(wanted[group].entity);
        for row in rows {
            wanted[group].place(meta, row)?;
        }
    }
    let unresolved = context.data::<Arc<Unresolved>>().map_err(|_| GatewayError::Internal)?;
    let field = context.field();
    let response_key = field.alias().unwrap_or(field.name());
    let mut unresolved = unresolved.0.lock().map_err(|_| GatewayError::Internal)?;
    let mut items = Vec::with_capacity(places.len());
    // A row read once is placed once per representation of it: every copy after the first is
    // answer the statement did not build, charged to the budget before it is made (its size
    // measured on its first repetition, so rows asked for once cost nothing more).
    let mut placed: HashMap<(usize, usize), Option<usize>> = HashMap::new();
    for (position, (group, slot)) in places.into_iter().enumerate() {
        let wanted = &wanted[group];
        items.push(match &wanted.rows[slot] {
            Some(row) => {
                match placed.entry((group, slot)) {
                    std::collections::hash_map::Entry::Occupied(mut size) => {
                        let size = size
                            .get_mut()
                            .get_or_insert_with(|| serde_json::to_string(row).map_or(0, |text| text.len()));
                        reader.charge(*size)?;
                    }
                    std::collections::hash_map::Entry::Vacant(entry) => {
                        entry.insert(None);
                    }
                }
                FieldValue::owned_any(row.clone()).with_type(registry.entity(wanted.entity).type_name.clone())
            }
            None => {
                unresolved.insert((response_key.to_owned(), position));
                FieldValue::NULL
            }
        });
    }
    Ok(Some(FieldValue::list(items)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::ScalarKind;

    fn parsed(kind: &ScalarKind, text: &str) -> Value {
        plan::parse_scalar(kind, &GqlValue::String(text.into()), "key").expect("a valid key")
    }

    /// One key written two ways the database compares equal is one identity: a representation
    /// matches the row the database renders in its own form.
    #[test]
    fn equal_keys_in_other_forms_have_one_identity() {
        let decimal = ScalarKind::Decimal {
            precision: Some(10),
            scale: Some(2),
        };
        assert_eq!(
            identity(&[parsed(&decimal, "1.5")]),
            identity(&[parsed(&decimal, "1.50")])
        );
        assert_ne!(
            identity(&[parsed(&decimal, "1.5")]),
            identity(&[parsed(&decimal, "1.05")])
        );
        let time = ScalarKind::DateTime;
        assert_eq!(
            identity(&[parsed(&time, "2026-12-01T10:00:00+02:00")]),
            identity(&[parsed(&time, "2026-12-01T08:00:00Z")])
        );
        assert_eq!(
            identity(&[parsed(&ScalarKind::BigInt, "7")]),
            identity(&[plan::parse_scalar(&ScalarKind::BigInt, &GqlValue::from(7), "key").expect("a key")])
        );
        // Column boundaries stay: ("a", "bc") is not ("ab", "c").
        let text = ScalarKind::String;
        assert_ne!(
            identity(&[parsed(&text, "a"), parsed(&text, "bc")]),
            identity(&[parsed(&text, "ab"), parsed(&text, "c")])
        );
    }
}
